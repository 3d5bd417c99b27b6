"""The QA analysts' labelling page (``/label``), its queue (``/v1/labelling/*``) and the reviewers' queue
of disagreements (``/v1/labelling/reviews``)."""

import random

from fastapi import APIRouter, Query
from fastapi import Path as UrlPath
from fastapi.responses import FileResponse

from ...qa.queue import EMPTY_REASONS, Mode, annotator_stats, next_comment, why_empty
from ...qa.store import MAX_ID, NoDisagreement, NotFound, StoreError
from ..deps import JSON_BODY, Checker, LabelStore, Scores
from ..errors import ApiError, errors
from ..schemas import NOT_BLANK, AnnotatorIn, LabelIn, ReviewIn, ReviewsOut, ReviewState, SettledOut, SkipIn
from . import STATIC

router = APIRouter(prefix="/v1/labelling", tags=["labelling"])
NO_COMMENT = "no comment with this id"
# Statuses each route answers besides 200 (401 only when CRMQC_API_KEYS is set). The POSTs but `reviews/…`
# check no content type: a body sent as another type is a 422 naming `body` there, not a 415.
QUERY = errors(401, 413, 422)
BODY = errors(400, 401, 413, 422)
page = APIRouter()
_rng = random.Random()


def _store_call(fn, *args):
    try:
        return fn(*args)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except NoDisagreement as exc:
        raise ApiError(409, str(exc)) from exc
    except StoreError as exc:
        raise ApiError(422, str(exc), exc.field) from exc


def _card(store, checker, scores, comment_id: int | None) -> dict:
    if comment_id is None:
        return {"comment_id": None, "done": True}
    row = store.comment(comment_id)
    verdict = checker.classify(row["text"])  # one comment: cheaper than looking it up
    return {"comment_id": comment_id, "text": row["text"], "source": row["source"], "done": False,
            "guess": {"category": verdict.category, "score": round(verdict.score, 3)}}


@page.get("/label", include_in_schema=False)
def label_page():
    return FileResponse(STATIC / "label.html", media_type="text/html; charset=utf-8")


@router.get("/next", responses=QUERY)
def next_item(checker: Checker, store: LabelStore, scores: Scores,
              annotator: str = Query(min_length=1, max_length=64, json_schema_extra=NOT_BLANK),
              mode: Mode = "uncertain"):
    found = _store_call(next_comment, store, checker, scores, annotator.strip(), mode, _rng)
    card = _card(store, checker, scores, found)
    if card["done"]:
        reason = why_empty(store, mode)
        card.update(reason=reason, message=EMPTY_REASONS[reason], pool=store.pool_counts())
    return card


@router.get("/comments/{comment_id}", responses=errors(401, 404, 413, 422, s404=NO_COMMENT))
def one(checker: Checker, store: LabelStore, scores: Scores, comment_id: int = UrlPath(ge=1, le=MAX_ID)):
    if store.comment(comment_id) is None:
        raise ApiError(404, f"no comment with id {comment_id}")
    return _card(store, checker, scores, comment_id)


@router.post("/labels", responses=errors(400, 401, 404, 413, 422, s404=NO_COMMENT))
def add(body: LabelIn, store: LabelStore):
    label_id = _store_call(store.add_label, body.comment_id, body.annotator, body.category, body.note,
                           body.seconds)
    return {"saved": label_id}


@router.post("/skip", responses=errors(400, 401, 404, 413, 422, s404=NO_COMMENT))
def skip(body: SkipIn, store: LabelStore):
    _store_call(store.skip, body.comment_id, body.annotator)
    return {"skipped": body.comment_id}


@router.post("/undo", responses=BODY)
def undo(body: AnnotatorIn, store: LabelStore):
    return {"comment_id": _store_call(store.undo, body.annotator)}


@router.get("/stats", responses=QUERY)
def stats(store: LabelStore, annotator: str = Query(min_length=1, max_length=64, json_schema_extra=NOT_BLANK)):
    return _store_call(annotator_stats, store, annotator.strip())


@router.get("/reviews", response_model=ReviewsOut, responses=QUERY)
def reviews(store: LabelStore, state: ReviewState = "unsettled",
            after: int = Query(0, ge=0, le=MAX_ID, description="only comments with a greater id"),
            limit: int = Query(100, ge=1, le=1000)):
    """Disagreements between annotators, by comment id: unsettled ones (the reviewer's queue), settled
    ones, or all; the annotators' labels with their notes, and the settlement if any."""
    found = store.disagreements("all")
    settled = sum(d["settlement"] is not None for d in found)
    chosen = [d for d in found if state == "all" or (state == "settled") == (d["settlement"] is not None)]
    reason = None
    if not found:
        reason = "no_disagreements"
    elif settled == len(found):
        reason = "all_settled"
    return {"state": state, "total": len(chosen), "counts": {"unsettled": len(found) - settled, "settled": settled},
            "reason": reason, "items": [d for d in chosen if d["comment_id"] > after][:limit]}


@router.post("/reviews/{comment_id}", response_model=SettledOut, dependencies=JSON_BODY,
             responses=errors(400, 401, 404, 409, 413, 415, 422, s404=NO_COMMENT,
                              s409="the comment's annotators do not disagree"))
def settle(body: ReviewIn, store: LabelStore, comment_id: int = UrlPath(ge=1, le=MAX_ID)):
    """Settle a disagreement: the reviewer's category is the one exported (the latest settlement wins;
    a label changed afterwards opens the disagreement again)."""
    return _store_call(store.settle, comment_id, body.reviewer.strip(), body.category, body.note)
