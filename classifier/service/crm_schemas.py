"""Request and response schemas of the CRM endpoints.

Bitrix24 JSON is loose (strings for numbers, ``Y``/``N``, ``[]`` for an empty object, the REST
envelope ``{"result": …}`` forwarded as it came), so records stay plain objects here:
:mod:`classifier.crm.bitrix` reads their values and names the field it could not read.
"""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from ..crm.bitrix import YEARS, to_mapping, to_rows, unwrap
from .errors import FieldError
from .schemas import WholeNumber

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_ROWS = 10_000
MAX_CONTACTS = 100_000
MAX_COMMENT_CHARS = 20_000


def _object(value):
    value = unwrap(value)
    return to_mapping(value) if value in (None, "", []) else value


def _rows(value):
    value = unwrap(value)
    return to_rows(value) if isinstance(value, (dict, type(None))) or value == "" else value


def _within_years(value: datetime | None) -> datetime | None:
    if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"a datetime in {value.year} is out of range")
    return value


# What the documents say these accept is what the validators accept: PHP's empty values (null, "", [])
# for an empty object or list, a REST envelope {"result": …}, and rows keyed by ID.
_EMPTY = [{"type": "null"}, {"const": ""}, {"type": "array", "maxItems": 0}]
_RECORD = {"type": "object", "additionalProperties": True}
Obj = Annotated[dict[str, Any], BeforeValidator(_object), WithJsonSchema({
    "anyOf": [_RECORD, *_EMPTY], "description": "a record as Bitrix24 returns it, or its REST envelope"})]


def rows(max_items: int):
    """A list of at most ``max_items`` records (``Field(max_length=…)`` would not reach the document here)."""
    return Annotated[list[dict[str, Any]], BeforeValidator(_rows), Field(max_length=max_items), WithJsonSchema({
        "anyOf": [{"type": "array", "items": _RECORD, "maxItems": max_items}, _RECORD, *_EMPTY[:2]],
        "description": "records as Bitrix24 returns them: a list, an object of ID → record, or a REST envelope"})]


Rows = rows(MAX_ROWS)
ContactItems = Annotated[list[dict[str, Any] | WholeNumber | str], BeforeValidator(_rows), WithJsonSchema({
    "anyOf": [{"type": "array", "items": {"anyOf": [_RECORD, {"type": "integer"}, {"type": "string"}]}},
              _RECORD, *_EMPTY[:2]],
    "description": "crm.deal.contact.items.get rows, or contact IDs"})]
Sessions = Annotated[dict[str, Obj], BeforeValidator(_object), WithJsonSchema({
    "anyOf": [{"type": "object", "additionalProperties": Obj.__metadata__[-1].json_schema}, *_EMPTY],
    "description": "session id → imopenlines.session.history.get result"})]


def _iso_only(value):
    """A moment must be written as ISO 8601: pydantic alone would read ``0`` or ``"0"`` as 1970."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 datetime such as 2026-11-20T12:00:00+03:00")
    return value


Moment = Annotated[datetime | None, BeforeValidator(_iso_only), AfterValidator(_within_years)]
RequiredMoment = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_within_years)]


def _record_id(value):
    """An ID as Bitrix24 spells it: ``"410"`` or ``410``; never ``true``, an object or an empty string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected an ID: a string or a whole number")
    text = str(value).strip()
    if not 0 < len(text) <= 64:
        raise ValueError("expected an ID of 1 to 64 characters")
    return text


RecordId = Annotated[str, BeforeValidator(_record_id)]

def _lone_surrogate(value, path: str) -> str | None:
    """The path of the first string (key or value) holding a lone surrogate, which no Unicode text can."""
    if isinstance(value, str):
        return path if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _lone_surrogate(key, where) or _lone_surrogate(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class BitrixIn(BaseModel):
    """A request carrying Bitrix24 records: any string in it, at any depth, must be valid Unicode."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data):
        where = _lone_surrogate(data, "")
        if where:
            raise FieldError(where, "a lone surrogate (\\ud800–\\udfff) is not valid Unicode text")
        return data


DEAL_EXAMPLE = {
    "deal": {"ID": "410", "TITLE": "Кредитная карта", "STAGE_ID": "PREPARATION", "STAGE_SEMANTIC_ID": "P",
             "UF_CRM_PRODUCT_GROUP": "45", "CONTACT_ID": "201", "LEAD_ID": "11", "OPPORTUNITY": "150000.00",
             "CURRENCY_ID": "RUB", "ASSIGNED_BY_ID": "7", "DATE_CREATE": "2026-09-01T10:00:00+03:00"},
    "contacts": [{"CONTACT_ID": 201, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"}],
    "product_rows": [{"ID": 1, "PRODUCT_NAME": "Кредитная карта Gold", "PRICE": 150000, "QUANTITY": 1}],
    "activities": [{"ID": "9001", "OWNER_TYPE_ID": "2", "OWNER_ID": "410", "TYPE_ID": "2",
                    "PROVIDER_ID": "VOXIMPLANT_CALL", "DIRECTION": "2", "ORIGIN_ID": "VI_abc",
                    "START_TIME": "2026-10-05T11:00:00+03:00", "END_TIME": "2026-10-05T11:04:10+03:00",
                    "SETTINGS": [], "DESCRIPTION": "", "DESCRIPTION_TYPE": "1"}],
    "comments": [{"ID": "501", "ENTITY_TYPE": "deal", "ENTITY_ID": "410", "CREATED": "2026-10-05T11:10:00+03:00",
                  "AUTHOR_ID": "7", "FILES": {},
                  "COMMENT": "Обсудили лимит 150 тыс. и льготный период, клиент пришлёт справку о доходах "
                             "до пятницы, созвон в понедельник в 11:00"}],
    "now": "2026-11-20T12:00:00+03:00",
}


class OtherCommentIn(BaseModel):
    """A comment the deal's manager wrote on another deal: what a comment here must not repeat."""

    model_config = ConfigDict(extra="forbid")
    deal_id: RecordId = Field(description="the deal it was written on")
    comment_id: RecordId = Field(description="its ID (crm.timeline.comment.list ID, or an activity ID for a note)")
    created: RequiredMoment = Field(description="when it was written, ISO 8601")
    text: str = Field(max_length=MAX_COMMENT_CHARS, description="COMMENT as Bitrix24 returns it (BB-code allowed)")
    author_id: RecordId | None = Field(None, description="who wrote it (default: the deal's ASSIGNED_BY_ID)")


class DealEvaluateIn(BitrixIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEAL_EXAMPLE]})
    deal: Obj = Field(description="crm.deal.get result")
    contacts: ContactItems | None = Field(None, description="crm.deal.contact.items.get result")
    product_rows: Rows = Field(description="crm.deal.productrows.get result")
    activities: Rows = Field([], description="crm.activity.list rows")
    comments: Rows = Field([], description="crm.timeline.comment.list rows")
    call_stats: Rows = Field([], description="voximplant.statistic.get rows")
    chat_history: Sessions = Field({}, description="session id → imopenlines.session.history.get result")
    other_comments: list[OtherCommentIn] = Field(
        [], max_length=MAX_ROWS, description="the manager's comments on other deals: a touch comment here that "
                                             "repeats an earlier one of them does not count (reused_comment)")
    now: Moment = Field(None, description="evaluate as of this moment (default: now)")


class DealDuplicatesIn(BitrixIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"deals": [
        {"ID": "410", "STAGE_SEMANTIC_ID": "P", "CONTACT_ID": "201", "UF_CRM_PRODUCT_GROUP": "45"},
        {"ID": "415", "STAGE_SEMANTIC_ID": "P", "CONTACT_ID": "201", "UF_CRM_PRODUCT_GROUP": "45"},
        {"ID": "420", "STAGE_SEMANTIC_ID": "P", "CONTACT_ID": "201", "UF_CRM_PRODUCT_GROUP": "46"}]}]})
    deals: rows(MAX_CONTACTS) = Field(description="crm.deal.list rows")
    contacts: Annotated[dict[str, ContactItems], BeforeValidator(_object), WithJsonSchema({"anyOf": [
        {"type": "object", "additionalProperties": ContactItems.__metadata__[-1].json_schema}, *_EMPTY]})] = Field(
        {}, description="deal id → crm.deal.contact.items.get result")


class LeadConversionIn(BitrixIn):
    model_config = ConfigDict(extra="forbid")
    lead: Obj = Field(description="crm.lead.get result")
    activities: Rows = []
    comments: Rows = []
    call_stats: Rows = []
    chat_history: Sessions = {}
    now: Moment = Field(None, description="check as of this moment (default: now)")


class ContactCheckIn(BitrixIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "contact": {"ID": "201", "NAME": "Пётр", "SECOND_NAME": "Сергеевич", "LAST_NAME": "Иванов",
                    "BIRTHDATE": "1985-03-14T00:00:00+03:00",
                    "PHONE": [{"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": "8 (916) 123-45-67", "TYPE_ID": "PHONE"}],
                    "EMAIL": [{"ID": "2", "VALUE_TYPE": "WORK", "VALUE": "o.smirnova@example-bank.ru",
                               "TYPE_ID": "EMAIL"}]},
        "corporate_domains": ["example-bank.ru"]}]})
    contact: Obj = Field(description="crm.contact.get result")
    employee_emails: list[str] = Field([], max_length=MAX_ROWS)
    corporate_domains: list[str] = Field([], max_length=1000)


class ContactDuplicatesIn(BitrixIn):
    model_config = ConfigDict(extra="forbid")
    contacts: rows(MAX_CONTACTS) = Field(description="crm.contact.list rows with PHONE selected")


class ViolationOut(BaseModel):
    code: str
    message: str


class ReusedOut(BaseModel):
    deal_id: str
    kind: Literal["comment", "note"]
    id: str
    created: str | None
    similarity: float
    same_deal: bool


class TouchOut(BaseModel):
    activity_id: str
    kind: str
    at: str | None
    direction: Literal["in", "out"] | None
    counted: bool
    why_not: str | None
    message: str
    comment_id: str | None
    comment_verdict: str | None
    duration: int | None
    reused: ReusedOut | None = Field(None, description="with why_not reused_comment: the earlier text repeated")


class PromiseOut(BaseModel):
    deal_id: str
    manager_id: str | None
    kind: Literal["comment", "note"]
    id: str
    written: str
    promised: str = Field(description="the day the comment promised a step on (YYYY-MM-DD)")
    due: str = Field(description="promised + the grace period (rules/crm.yaml promise.grace_days)")
    phrase: str
    state: Literal["kept", "broken", "pending"]
    fact_activity_id: str | None
    fact_at: str | None


class LastTouchOut(BaseModel):
    activity_id: str
    kind: str
    at: str | None
    comment_id: str | None
    comment_verdict: str | None


class DealDecisionOut(BaseModel):
    deal_id: str
    status: Literal["open", "won", "lost"]
    correct: bool
    violations: list[ViolationOut]
    active: bool
    active_until: str | None = Field(description="YYYY-MM-DD in the portal's time zone")
    days_left: int | None
    last_touch: LastTouchOut | None
    touches: list[TouchOut]
    promises: list[PromiseOut] = Field([], description="steps the counted comments of an open deal promised")


class DealGroupOut(BaseModel):
    contact_id: str
    product_group: str
    deal_ids: list[str]


class DealDuplicatesOut(BaseModel):
    groups: list[DealGroupOut]


class ConversionOut(BaseModel):
    lead_id: str
    allowed: bool
    reasons: list[ViolationOut]
    touches: list[TouchOut]


class ContactCheckOut(BaseModel):
    contact_id: str
    valid: bool
    violations: list[ViolationOut]


class ContactGroupOut(BaseModel):
    contact_ids: list[str]
    matched_on: list[Literal["full_name", "phone", "birthdate"]]


class ContactDuplicatesOut(BaseModel):
    groups: list[ContactGroupOut]
