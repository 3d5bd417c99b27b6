"""Precision, recall and F1 of `expanded`: the one implementation every report, objective and
agreement figure uses."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 0.0

    @property
    def defined(self) -> bool:
        """False when neither side has a positive: F1 is then 0/0, reported as 0."""
        return bool(self.tp + self.fp + self.fn)


def scores(gold: Iterable, pred: Iterable) -> Scores:
    """Counts of a binary decision against the reference (truthy = expanded)."""
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        g, p = bool(g), bool(p)
        tp += g and p
        fp += p and not g
        fn += g and not p
    return Scores(tp, fp, fn)


def f1(gold: Iterable, pred: Iterable) -> float:
    return scores(gold, pred).f1


def mean_f1_by_part(gold: Sequence, pred: Sequence, parts: Sequence) -> float:
    """Mean F1 over the parts of a corpus (hand-written, real, …), each part weighing the same whatever
    its size: the objective of tuning and the promotion measure of retraining."""
    names = sorted(set(parts))
    if not names:
        return 0.0
    per_part = []
    for name in names:
        idx = [i for i, p in enumerate(parts) if p == name]
        per_part.append(f1([gold[i] for i in idx], [pred[i] for i in idx]))
    return sum(per_part) / len(per_part)
