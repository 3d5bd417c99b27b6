"""Validation by unseen business: leave one business out of training, measure on it.

A new sales department is a business the model has never read, so this is the product's real situation.
Each business (a real source's domain, or a hand-written domain) is held out in turn; the model is trained
on all the others, from ``train.csv`` only, and its verdicts (the rules applied, as in ``classify()``) on
the held-out business are kept. F1 is then reported per business and as the mean over the real businesses
and over the hand-written ones.
"""

from collections import defaultdict

import numpy as np

from ..metrics import scores
from ..model.linear import Model
from .dataset import LabelledRow
from .spans import Contrasts


def business_of(row: LabelledRow) -> str:
    return f"{row.part}:{row.domain}"


def leave_one_business_out(rows: list[LabelledRow], items, rejected: np.ndarray, params: dict,
                           log=print, businesses=None, contrasts: Contrasts | None = None) -> np.ndarray:
    """Out-of-business scores: each row scored by a model that never saw its business (nor the contrast
    rows cut from its comments).

    ``businesses`` (names as :func:`business_of` gives them) holds out only those, for a quicker
    comparison; the other rows then score 0 and stay out of :func:`per_business` with ``only``."""
    groups = np.asarray([business_of(r) for r in rows])
    cats = [r.category for r in rows]
    contrasts = contrasts or Contrasts.none()
    oof = np.zeros(len(rows))
    held_out = sorted(set(groups)) if businesses is None else sorted(set(businesses))
    for k, business in enumerate(held_out):
        held = groups == business
        train_idx, held_idx = np.flatnonzero(~held), np.flatnonzero(held)
        model = Model(contrasts.fit(items, cats, train_idx, params), {"params": params, "version": "lobo"})
        oof[held_idx] = model.predict([items[i] for i in held_idx]).score
        log(f"  {k + 1}: {business} ({len(held_idx)} rows) held out")
    return np.where(rejected, 0.0, oof)


def per_business(rows: list[LabelledRow], oof: np.ndarray, threshold: float, only=None) -> dict[str, dict]:
    """Precision, recall and F1 of `expanded` on each held-out business (those in ``only``, if given), at
    ``threshold``."""
    by = defaultdict(list)
    for i, r in enumerate(rows):
        if only is None or business_of(r) in only:
            by[business_of(r)].append(i)
    return {business: expanded_scores([rows[i].label for i in idx], [oof[i] >= threshold and oof[i] > 0 for i in idx])
            for business, idx in sorted(by.items())}


def expanded_scores(gold, predicted) -> dict:
    """Rows, positives, precision, recall and F1 of `expanded` for gold labels and accepted flags."""
    s = scores(gold, predicted)
    return {"rows": len(gold), "positives": s.tp + s.fn, "precision": round(s.precision, 4),
            "recall": round(s.recall, 4), "f1": round(s.f1, 4)}


def summary(table: dict[str, dict]) -> dict[str, float]:
    """Mean F1 over the real businesses and over the hand-written ones (each business weighs the same)."""
    means = {}
    for part in ("real", "hand"):
        f1s = [v["f1"] for k, v in table.items() if k.startswith(part + ":") and v["positives"]]
        if f1s:
            means[part] = round(float(np.mean(f1s)), 4)
    return means
