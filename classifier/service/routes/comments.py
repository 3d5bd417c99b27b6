"""``/v1/comments/*``: the verdict on one comment or a batch."""

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..deps import JSON_API, AppMetrics, AppSettings, Checker
from ..errors import ERRORS, ApiError
from ..schemas import BatchIn, BatchOut, CommentIn, VerdictOut

router = APIRouter(prefix="/v1/comments", tags=["comments"], dependencies=JSON_API, responses=ERRORS)


def check_length(text: str, limit: int, field: str) -> None:
    if len(text) > limit:
        raise ApiError(413, f"{field}: text is {len(text)} characters, the limit is {limit}", field)


def verdict_out(verdict, explain: bool) -> dict:
    out = verdict.to_dict()
    if explain:
        out["explain"] = verdict.details
    return out


@router.post("/score", response_model=VerdictOut, response_model_exclude_none=True)
async def score(body: CommentIn, checker: Checker, settings: AppSettings, metrics: AppMetrics,
                explain: bool = Query(False, description="add the threshold, normalised text, lemmas, rule hits "
                                                         "and the tokens that weighed most")):
    check_length(body.text, settings.max_text_length, "text")
    # Scoring runs in the thread pool, so a long comment or an explain never holds the event loop.
    verdict = await run_in_threadpool(checker.classify, body.text, explain)
    metrics.count_verdicts([verdict])
    return JSONResponse(verdict_out(verdict, explain))  # already the VerdictOut shape: skip re-validation


@router.post("/score-batch", response_model=BatchOut)
def score_batch(body: BatchIn, checker: Checker, settings: AppSettings, metrics: AppMetrics):
    if len(body.comments) > settings.batch_limit:
        raise ApiError(413, f"comments: {len(body.comments)} in one request, the limit is "
                            f"{settings.batch_limit}", "comments")
    seen = set()
    for i, item in enumerate(body.comments):
        check_length(item.text, settings.max_text_length, f"comments.{i}.text")
        if item.id in seen:
            raise ApiError(422, f"comments.{i}.id: duplicate id {item.id!r}", f"comments.{i}.id")
        seen.add(item.id)
    verdicts = checker.classify_many([c.text for c in body.comments])
    metrics.count_verdicts(verdicts)
    return {"results": [{"id": c.id, **v.to_dict()} for c, v in zip(body.comments, verdicts)]}
