"""The QA analysts' labelling queue: which comment to offer next, and each annotator's figures.

The HTTP routes over it are in :mod:`classifier.service.routes.labelling`.
"""

import random
import statistics
import threading
from datetime import UTC, datetime
from typing import Literal

from ..checker import contradiction
from .agreement import cohen_kappa
from .store import Store

Mode = Literal["uncertain", "random", "overlap", "suspects"]
SUSPECT_CONFIDENCE = 0.8


class PoolScores:
    """The model's score of the pool's comments, per model version, filled a budget at a time.

    Each call scores the next ``budget`` offerable comments by id (about 60 ms of new words), so the first
    request after a start, a model swap or an import answers at once from what is scored so far, and
    every later request scores more until the whole pool is; comments imported later have higher ids and
    are reached too. Only (score, decided by a rule) is kept per comment, here and, for the queue's pick,
    in the store's TEMP table ordered by distance from the threshold.
    """

    def __init__(self, budget: int = 250):
        self.budget = budget
        self._lock = threading.Lock()
        self._version, self._scores, self._last_id = None, {}, 0

    def get(self, store: Store, checker) -> dict[int, tuple[float, bool]]:
        """Scores so far, after scoring up to ``budget`` more of the pool."""
        with self._lock:
            version = (id(store), checker.model_version, checker.threshold_in_use)
            if self._version != version:
                self._version, self._scores, self._last_id = version, {}, 0
                store.reset_pool_scores()
            rows = store.pool_after(self._last_id, self.budget)
            if rows:
                verdicts = checker.classify_many([r["text"] for r in rows])
                threshold = checker.threshold_in_use
                self._scores.update({r["id"]: (v.score, v.rule is not None) for r, v in zip(rows, verdicts)})
                store.add_pool_scores([(r["id"], v.rule is not None, abs(v.score - threshold))
                                       for r, v in zip(rows, verdicts)])
                self._last_id = rows[-1]["id"]
            return self._scores


def next_comment(store: Store, checker, scores: PoolScores, annotator: str, mode: str,
                 rng: random.Random) -> int | None:
    annotator = store.annotator(annotator)
    if mode == "overlap":
        candidates = store.labelled_by_others(annotator)
        return rng.choice(candidates) if candidates else None
    if mode == "suspects":
        seen = store.seen_by(annotator)
        scored, threshold = scores.get(store, checker), checker.threshold_in_use
        firmness = {r["comment_id"]: contradiction(scored[r["comment_id"]][0], r["label"], threshold)
                    for r in store.current_labels() if r["comment_id"] not in seen and r["comment_id"] in scored
                    and not scored[r["comment_id"]][1]}
        suspects = [(f, comment_id) for comment_id, f in firmness.items() if f >= SUSPECT_CONFIDENCE]
        return max(suspects)[1] if suspects else None
    if mode == "random":
        candidates = store.unseen_ids(annotator)
        return rng.choice(candidates) if candidates else None
    scores.get(store, checker)
    picked = store.most_uncertain_unseen(annotator)
    if picked is not None:
        return picked
    candidates = store.unseen_ids(annotator)  # none of those scored so far is left for this annotator
    return candidates[0] if candidates else None


EMPTY_REASONS = {
    "pool_empty": "the pool is empty: add comments with `crmqc pool import FILE.csv`",
    "all_in_data": "every comment in the pool is already labelled in data/",
    "all_seen": "you have labelled or skipped every comment this queue can offer",
    "no_overlap": "no comment labelled by another annotator is left for you",
    "no_suspects": "no label is firmly contradicted by the model",
}


def why_empty(store: Store, mode: str) -> str:
    """Why ``next_comment`` found nothing: a key of ``EMPTY_REASONS``."""
    counts = store.pool_counts()
    if counts["pool"] == 0:
        return "pool_empty"
    if mode == "overlap":
        return "no_overlap"
    if mode == "suspects":
        return "no_suspects"
    return "all_in_data" if counts["in_data"] == counts["pool"] else "all_seen"


def annotator_stats(store: Store, annotator: str) -> dict:
    """The annotator's figures from indexed queries: nothing here reads every label."""
    annotator = store.annotator(annotator)
    today = datetime.now(UTC).date().isoformat()
    total, today_rows = store.labelled_by(annotator, today)
    seconds = [r["seconds"] for r in today_rows if r["seconds"]]
    tables: dict[str, dict] = {}
    for r in store.pair_counts(annotator):
        tables.setdefault(r["other"], {})[(r["mine"], r["theirs"])] = r["n"]
    rows = []
    for other in sorted(tables):
        table = tables[other]
        items = sum(table.values())
        kappa = cohen_kappa(table)
        rows.append({"with": other, "items": items, "kappa": None if kappa is None else round(kappa, 4),
                     "agree": round(sum(c for (a, b), c in table.items() if a == b) / items, 4)})
    return {
        "annotator": annotator,
        "labelled_today": len(today_rows),
        "labelled_total": total,
        "seconds_per_comment": round(statistics.median(seconds), 1) if seconds else None,
        "agreement": rows,
    }
