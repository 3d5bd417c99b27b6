"""Request and response schemas of the HTTP API, with Russian examples for the OpenAPI docs."""

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator

from .. import config
from ..qa.store import MAX_ID

Category = Literal[config.CATEGORIES]
Missing = Literal["subject", "outcome"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace only")
    return value


# What _not_blank asks, in the document: a character that str.strip() keeps (not one of Python's whitespace).
NOT_BLANK = {"pattern": r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"}


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Обсудили рассрочку на 12 мес, клиент ждёт договор на почту, подпишет до пятницы"},
        {"text": "НД"},
    ]})
    text: str = Field(..., description="the comment as the manager typed it", min_length=1,
                      json_schema_extra=NOT_BLANK)

    _check = field_validator("text")(_not_blank)


def _whole_number(value):
    """``1089.0`` is the integer 1089 in JSON (and JSON Schema); ``true`` is not a number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(**bounds):
    """An integer as JSON has it: not a boolean, not a string of digits; 1089.0 reads as 1089. (The bounds
    come before the conversion, or pydantic could not put them into the document.)"""
    return Annotated[int, Strict(), Field(**bounds), BeforeValidator(_whole_number)]


WholeNumber = whole_number()
CallerId = Annotated[str, Field(min_length=1, max_length=200)] | whole_number(ge=-(2**63), lt=2**63)
CommentId = whole_number(ge=1, le=MAX_ID)


class BatchItemIn(CommentIn):
    model_config = ConfigDict(extra="forbid")
    id: CallerId = Field(..., description="the caller's id, a string or an integer (Bitrix24 ids are numbers), "
                                          "echoed back as given")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comments": [
        {"id": "1", "text": "недозвон"},
        {"id": "2", "text": "Отказ: не готов к ночным сменам и выездам на линию"},
    ]}]})
    comments: list[BatchItemIn] = Field(..., min_length=1)


class RuleHitOut(BaseModel):
    rule: str
    kind: str
    phrase: str
    start: int = Field(description="offset in code points into the submitted text")
    end: int


class SpanOut(BaseModel):
    start: int = Field(description="offset in code points into the submitted text")
    end: int
    text: str


class EvidenceOut(BaseModel):
    subject: list[SpanOut] = Field(description="clauses that say what was discussed; empty when it is missing")
    outcome: list[SpanOut] = Field(description="clauses that say what was agreed; empty when it is missing")


class ExplainOut(BaseModel):
    threshold: float = Field(description="the score from which a comment counts as expanded")
    normalized: str
    lemmas: list[str]
    rule_hits: list[RuleHitOut]
    top_terms: list[dict]


class VerdictOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "expanded": False, "score": 0.0, "category": "stop", "missing": ["subject", "outcome"],
        "rule": "no_answer", "model_version": "comment-quality-20261126T120000",
        "hints": ["Статус звонка («НД», «перезвонить», «думает», «отправил КП») не считается комментарием: "
                  "если разговор состоялся, опишите его."],
    }]})
    expanded: bool
    score: float = Field(ge=0.0, le=1.0)
    category: Category
    missing: list[Missing]
    rule: str | None
    hints: list[str]
    model_version: str
    evidence: EvidenceOut | None = None
    explain: ExplainOut | None = None


class BatchItemOut(VerdictOut):
    id: str | int


class BatchOut(BaseModel):
    results: list[BatchItemOut]


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[ErrorItem] = []


class ReadyOut(BaseModel):
    status: Literal["ready"]
    model_version: str


class LoadingOut(BaseModel):
    status: Literal["loading"]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment_id: CommentId
    annotator: str = Field(min_length=1, max_length=64, json_schema_extra=NOT_BLANK)
    category: Category
    note: str = Field("", max_length=2000)
    seconds: float | None = Field(None, ge=0, le=86400)


class AnnotatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotator: str = Field(min_length=1, max_length=64, json_schema_extra=NOT_BLANK)
    comment_id: CommentId | None = Field(None, description="not read: undo takes back the latest action")


class SkipIn(AnnotatorIn):
    comment_id: CommentId = Field(description="the comment skipped")


ReviewState = Literal["unsettled", "settled", "all"]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reviewer": "Вера", "category": "outcome_only", "note": "итог без детали разговора: «Отказ, дорого»"},
    ]})
    reviewer: str = Field(min_length=1, max_length=64, description="the reviewer's name", json_schema_extra=NOT_BLANK)
    category: Category = Field(description="the final category of the comment")
    note: str = Field("", max_length=2000, description="why (kept in the export's note column)")

    _check = field_validator("reviewer")(_not_blank)


class SettlementOut(BaseModel):
    reviewer: str
    category: Category
    label: int
    note: str
    at: str = Field(description="UTC, ISO 8601")


class SettledOut(SettlementOut):
    comment_id: int
    labels_seen: dict[str, Category] = Field(description="the annotators' current categories it settles")


class ReviewLabelOut(BaseModel):
    annotator: str
    category: Category
    label: int
    note: str
    at: str


class ReviewItemOut(BaseModel):
    comment_id: int
    text: str
    source: str
    labels: list[ReviewLabelOut] = Field(description="each annotator's current label, by name")
    settlement: SettlementOut | None = Field(description="the latest settlement, while the labels it settled are "
                                                         "the current ones")
    previous_settlement: SettlementOut | None = Field(description="the latest settlement when a label has changed "
                                                                  "since it was made (the disagreement is open again)")
    stricter: Category = Field(description="the guide's stricter reading: exported while unsettled")


class ReviewsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "state": "unsettled", "total": 1, "counts": {"unsettled": 1, "settled": 0}, "reason": None,
        "items": [{"comment_id": 7, "text": "Отказ, дорого", "source": "comments.csv", "stricter": "outcome_only",
                   "labels": [{"annotator": "Анна", "category": "outcome_only", "label": 0, "note": "",
                               "at": "2026-11-20T09:00:00+00:00"},
                              {"annotator": "Борис", "category": "expanded", "label": 1, "note": "есть причина",
                               "at": "2026-11-20T09:05:00+00:00"}],
                   "settlement": None, "previous_settlement": None}],
    }]})
    state: ReviewState
    total: int = Field(description="disagreements in this state (items holds at most `limit` of them)")
    counts: dict[str, int] = Field(description="unsettled and settled disagreements")
    reason: Literal["no_disagreements", "all_settled"] | None = Field(
        description="why there is no unsettled disagreement, when there is none")
    items: list[ReviewItemOut]
