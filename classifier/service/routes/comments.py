"""``/v1/comments/*``: the verdict on one comment or a batch.

A comment is measured before it is scored: over ``max_text_length`` characters, as sent or after
Unicode normalisation (NFKC turns one «ﷺ» into 18 characters), it is refused with 413, so the work one
request can cost is bounded. A short comment (at most ``INLINE_CHARS``, about 0.2–1 ms of CPU) is scored
on the event loop, where a hop to the thread pool would cost more than the scoring and, under load, let
the GIL convoy raise p99 fourfold (bench/bench_http.py); a longer one, and every batch, is scored in the
thread pool so it never holds the loop.
"""

import unicodedata

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..deps import JSON_BODY, AppMetrics, AppSettings, Checker
from ..errors import ERRORS, ApiError
from ..schemas import BatchIn, BatchOut, CommentIn, VerdictOut

router = APIRouter(prefix="/v1/comments", tags=["comments"], dependencies=JSON_BODY, responses=ERRORS)


INLINE_CHARS = 1000


def check_length(text: str, limit: int, field: str) -> int:
    """The comment's length after Unicode normalisation; 413 naming ``field`` when either length is over."""
    if len(text) > limit:
        raise ApiError(413, f"{field}: text is {len(text)} characters, the limit is {limit}", field)
    normalized = len(unicodedata.normalize("NFKC", text))
    if normalized > limit:
        raise ApiError(413, f"{field}: text is {normalized} characters after Unicode normalisation (NFKC), "
                            f"the limit is {limit}", field)
    return normalized


def verdict_out(verdict, explain: bool) -> dict:
    out = verdict.to_dict()
    if explain:
        out["explain"] = verdict.details
    return out


@router.post("/score", response_model=VerdictOut, response_model_exclude_none=True)
async def score(body: CommentIn, checker: Checker, settings: AppSettings, metrics: AppMetrics,
                explain: bool = Query(False, description="add the threshold, normalised text, lemmas, rule hits "
                                                         "and the tokens that weighed most")):
    if check_length(body.text, settings.max_text_length, "text") <= INLINE_CHARS:
        verdict = checker.classify(body.text, explain, True)
    else:
        verdict = await run_in_threadpool(checker.classify, body.text, explain, True)
    metrics.count_verdicts([verdict])
    return JSONResponse(verdict_out(verdict, explain))  # already the VerdictOut shape: skip re-validation


@router.post("/score-batch", response_model=BatchOut, response_model_exclude_none=True)
def score_batch(body: BatchIn, checker: Checker, settings: AppSettings, metrics: AppMetrics,
                evidence: bool = Query(False, description="add the clauses that carry each fact found")):
    if len(body.comments) > settings.batch_limit:
        raise ApiError(413, f"comments: {len(body.comments)} in one request, the limit is "
                            f"{settings.batch_limit}", "comments")
    seen, total = set(), 0
    for i, item in enumerate(body.comments):
        total += check_length(item.text, settings.max_text_length, f"comments.{i}.text")
        if item.id in seen:
            raise ApiError(422, f"comments.{i}.id: duplicate id {item.id!r}", f"comments.{i}.id")
        seen.add(item.id)
    if total > settings.batch_max_chars:
        raise ApiError(413, f"comments: {total} characters in one request, the limit is {settings.batch_max_chars}"
                            " (CRMQC_BATCH_MAX_CHARS): send fewer comments a request", "comments")
    verdicts = checker.classify_many([c.text for c in body.comments], evidence=evidence)
    metrics.count_verdicts(verdicts)
    # the VerdictOut shape already, as /score answers it ("rule": null included): skip re-validation
    return JSONResponse({"results": [{"id": c.id, **v.to_dict()} for c, v in zip(body.comments, verdicts)]})
