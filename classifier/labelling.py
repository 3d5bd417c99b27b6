"""The QA analysts' labelling queue and its HTTP routes (`/label` page, `/v1/labelling/*`)."""

import random
import statistics
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as UrlPath
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from .agreement import agreement
from .checker import contradiction
from .store import MAX_ID, NotFound, Store, StoreError

Mode = Literal["uncertain", "random", "overlap", "suspects"]
STATIC = Path(__file__).parent / "static"
SUSPECT_CONFIDENCE = 0.8


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment_id: int = Field(ge=1, le=MAX_ID)
    annotator: str = Field(min_length=1, max_length=64)
    category: Literal["stop", "subject_only", "outcome_only", "padding", "expanded"]
    note: str = Field("", max_length=2000)
    seconds: float | None = Field(None, ge=0, le=86400)


class AnnotatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    annotator: str = Field(min_length=1, max_length=64)
    comment_id: int | None = Field(None, ge=1, le=MAX_ID)


class PoolScores:
    """The current model's score of every pool comment, computed once per model version."""

    def __init__(self):
        self._lock = threading.Lock()
        self._version, self._scores = None, {}

    def get(self, store: Store, checker) -> dict[int, object]:
        with self._lock:
            size = store.pool_size()
            if self._version != (checker.model_version, size):
                rows = store.pool_texts()
                verdicts = checker.classify_many([r["text"] for r in rows])
                self._scores = {r["id"]: v for r, v in zip(rows, verdicts)}
                self._version = (checker.model_version, size)
            return self._scores


def next_comment(store: Store, checker, scores: PoolScores, annotator: str, mode: str,
                 rng: random.Random) -> int | None:
    seen = store.seen_by(annotator)
    if mode == "overlap":
        others = {r["comment_id"] for r in store.current_labels() if r["annotator"] != annotator}
        candidates = sorted(others - seen)
        return rng.choice(candidates) if candidates else None
    if mode == "suspects":
        verdicts, threshold = scores.get(store, checker), checker.threshold_in_use
        firmness = {r["comment_id"]: contradiction(verdicts[r["comment_id"]].score, r["label"], threshold)
                    for r in store.current_labels() if r["comment_id"] not in seen}
        suspects = [(f, comment_id) for comment_id, f in firmness.items() if f >= SUSPECT_CONFIDENCE]
        return max(suspects)[1] if suspects else None
    candidates = [i for i in store.comment_ids() if i not in seen]
    if not candidates:
        return None
    if mode == "random":
        return rng.choice(candidates)
    verdicts = scores.get(store, checker)
    threshold = checker.threshold_in_use
    return min(candidates, key=lambda i: (verdicts[i].rule is not None, abs(verdicts[i].score - threshold), i))


def annotator_stats(store: Store, annotator: str) -> dict:
    today = datetime.now(timezone.utc).date().isoformat()
    mine = [r for r in store.current_labels() if r["annotator"] == annotator]
    today_rows = [r for r in mine if r["at"].startswith(today)]
    seconds = [r["seconds"] for r in today_rows if r["seconds"]]
    agree = agreement(store.current_labels())
    pairs = [p for p in agree["pairs"] if annotator in (p["a"], p["b"]) and p["items"]]
    return {
        "annotator": annotator,
        "labelled_today": len(today_rows),
        "labelled_total": len(mine),
        "seconds_per_comment": round(statistics.median(seconds), 1) if seconds else None,
        "agreement": [{"with": p["b"] if p["a"] == annotator else p["a"], "items": p["items"],
                       "kappa": p["kappa"], "agree": p["agree"]} for p in pairs],
    }


def add_labelling_routes(app: FastAPI, get_checker, get_store, dependencies=()) -> None:
    from .serve import ApiError

    scores = PoolScores()
    rng = random.Random()

    def store_call(fn, *args):
        try:
            return fn(*args)
        except NotFound as exc:
            raise ApiError(404, str(exc)) from exc
        except StoreError as exc:
            raise ApiError(422, str(exc)) from exc

    def card(store, checker, comment_id: int | None) -> dict:
        if comment_id is None:
            return {"comment_id": None, "done": True}
        row = store.comment(comment_id)
        verdict = scores.get(store, checker).get(comment_id) or checker.classify(row["text"])
        return {"comment_id": comment_id, "text": row["text"], "source": row["source"], "done": False,
                "guess": {"category": verdict.category, "score": round(verdict.score, 3)}}

    @app.get("/label", include_in_schema=False)
    def label_page():
        return FileResponse(STATIC / "label.html", media_type="text/html; charset=utf-8")

    @app.get("/v1/labelling/next", dependencies=list(dependencies), tags=["labelling"])
    def next_item(annotator: str = Query(min_length=1, max_length=64), mode: Mode = "uncertain",
                  checker=Depends(get_checker), store: Store = Depends(get_store)):
        return card(store, checker, next_comment(store, checker, scores, annotator.strip(), mode, rng))

    @app.get("/v1/labelling/comments/{comment_id}", dependencies=list(dependencies), tags=["labelling"])
    def one(comment_id: int = UrlPath(ge=1, le=MAX_ID), checker=Depends(get_checker),
            store: Store = Depends(get_store)):
        if store.comment(comment_id) is None:
            raise ApiError(404, f"no comment with id {comment_id}")
        return card(store, checker, comment_id)

    @app.post("/v1/labelling/labels", dependencies=list(dependencies), tags=["labelling"])
    def add(body: LabelIn, store: Store = Depends(get_store)):
        label_id = store_call(store.add_label, body.comment_id, body.annotator, body.category, body.note,
                              body.seconds)
        return {"saved": label_id}

    @app.post("/v1/labelling/skip", dependencies=list(dependencies), tags=["labelling"])
    def skip(body: AnnotatorIn, store: Store = Depends(get_store)):
        if body.comment_id is None:
            raise ApiError(422, "comment_id: required", "comment_id")
        store_call(store.skip, body.comment_id, body.annotator)
        return {"skipped": body.comment_id}

    @app.post("/v1/labelling/undo", dependencies=list(dependencies), tags=["labelling"])
    def undo(body: AnnotatorIn, store: Store = Depends(get_store)):
        return {"comment_id": store_call(store.undo, body.annotator)}

    @app.get("/v1/labelling/stats", dependencies=list(dependencies), tags=["labelling"])
    def stats(annotator: str = Query(min_length=1, max_length=64), store: Store = Depends(get_store)):
        return annotator_stats(store, annotator.strip())
