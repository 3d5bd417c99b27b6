"""Retrain on data/ plus the QA analysts' labels; promote only a model that keeps the hard guarantees
and is not worse.

The candidate and the model in service are measured on the fixed test split and on the frozen
adversarial set (data/adversarial.csv); neither, nor a near-duplicate of their comments, is ever
trained on.
"""

import csv
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .. import config
from ..checker import CommentChecker, contradiction
from ..metrics import mean_f1_by_part, scores
from ..model.linear import DEFAULT_PARAMS, Model, ModelError
from ..model.registry import Registry
from ..text.pipeline import TextPipeline
from ..training.dataset import LabelledRow, exact_key, near_key, read_labelled
from ..training.train import contrasts_for, featurize, train, with_corrections
from .store import Store

ADVERSARIAL_CSV = config.DATA_DIR / "adversarial.csv"
# Hard guarantees, whatever the model in service does: the least share of the category's rows of
# data/test.csv a candidate rejects.
GUARANTEES = (("stop", 1.0), ("padding", 0.95))
# Not worse than the model in service: (measure, what it is).
COMPARED = (("test_mean_f1", "mean F1 of `expanded` over the hand-written and the real rows of data/test.csv"),
            ("adversarial_accuracy", "accuracy on data/adversarial.csv"),
            ("department_f1", "F1 of `expanded` on the department's comments kept aside"))


@dataclass
class Decision:
    candidate: str
    current: str | None
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    scores: dict = field(default_factory=dict)


def duplicate_keys(text: str) -> set[str]:
    """The exact and the near key of a comment (see classifier.dataset); an empty near key matches nothing."""
    return {exact_key(text), near_key(text)} - {""}


@dataclass(frozen=True)
class Paths:
    """The files retraining reads; commands pass them in, tests point them at their own."""

    models_dir: Path = config.MODELS_DIR
    train_csv: Path = config.TRAIN_CSV
    test_csv: Path = config.TEST_CSV
    adversarial_csv: Path = ADVERSARIAL_CSV
    rules_dir: Path = config.RULES_DIR
    spans_dir: Path = config.SPANS_DIR


def _adversarial(paths: Paths) -> list[LabelledRow]:
    return read_labelled(paths.adversarial_csv) if Path(paths.adversarial_csv).is_file() else []


def held_out_keys(paths: Paths = Paths()) -> set[str]:
    rows = read_labelled(paths.test_csv) + _adversarial(paths)
    return {key for r in rows for key in duplicate_keys(r.text)}


def exported_rows(store: Store, paths: Paths = Paths()) -> tuple[list[LabelledRow], int]:
    """The store's export (one row per comment: the annotators' category, or for a disagreement the
    reviewer's settlement, else the stricter reading), without any comment of the test or adversarial sets
    or a near-duplicate of one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.csv"
        store.export_csv(path)
        rows = read_labelled(path)
    held = held_out_keys(paths)
    kept = [r for r in rows if not duplicate_keys(r.text) & held]
    return kept, len(rows) - len(kept)


DEPARTMENT_HOLDOUT = 0.3  # the share of a department's labelled comments kept to measure it on


def split_department(rows: list[LabelledRow], holdout: float = DEPARTMENT_HOLDOUT
                     ) -> tuple[list[LabelledRow], list[LabelledRow]]:
    """(to train on, to measure on): each comment falls on one side by a hash of its normalised text, so a
    rerun with more labels keeps every earlier comment where it was; near-duplicates of a measured
    comment are not trained on."""
    def side(row: LabelledRow) -> float:
        digest = hashlib.sha256(exact_key(row.text).encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    held = [r for r in rows if side(r) < holdout]
    held_keys = {k for r in held for k in duplicate_keys(r.text)}
    return [r for r in rows if side(r) >= holdout and not duplicate_keys(r.text) & held_keys], held


def department_score(checker: CommentChecker, held: list[LabelledRow]) -> dict:
    pred = [v.expanded for v in checker.classify_many([r.text for r in held])]
    s = scores([r.label for r in held], pred)
    return {"department_f1": s.f1, "department_precision": s.precision, "department_recall": s.recall}


def score(checker: CommentChecker, paths: Paths = Paths()) -> dict:
    """Unrounded measures for the promotion rule; a rejection share only when the test split has such rows."""
    test = read_labelled(paths.test_csv)
    pred = [v.expanded for v in checker.classify_many([r.text for r in test])]
    # the same measure `crmqc train --tune` optimises: pooled F1 would be decided by the hand-written rows alone
    result = {"test_mean_f1": mean_f1_by_part([r.label for r in test], pred, [r.part for r in test])}
    for category, _ in GUARANTEES:
        rejected = [not p for r, p in zip(test, pred) if r.category == category]
        if rejected:
            result[f"{category}_rejection"] = sum(rejected) / len(rejected)
    adv = _adversarial(paths)
    if adv:
        adv_pred = [v.expanded for v in checker.classify_many([r.text for r in adv])]
        result["adversarial_accuracy"] = sum(r.label == p for r, p in zip(adv, adv_pred)) / len(adv)
    return result


def retrain(store: Store, paths: Paths = Paths(), log=print, department: list[LabelledRow] | None = None,
            holdout: float = DEPARTMENT_HOLDOUT) -> Decision:
    """``department``: a department's own labelled comments, a part of its own. ``holdout`` of them is kept
    aside, and the candidate is promoted only if its F1 on that share is not below the model in service's."""
    extra, dropped = exported_rows(store, paths)
    log(f"{len(extra)} labelled comments from the store ({dropped} left out: they are in the test or "
        "adversarial set, or near-duplicates of their comments)")
    held: list[LabelledRow] = []
    if department:
        held_out = held_out_keys(paths)
        own = [r for r in department if not duplicate_keys(r.text) & held_out]
        trained, held = split_department(own, holdout)
        log(f"department: {len(own)} labelled comments ({len(department) - len(own)} left out: in the test or "
            f"adversarial set); {len(trained)} trained on, {len(held)} kept to measure on "
            f"({sum(r.label for r in held)} expanded)")
        extra = extra + trained
    registry = Registry(paths.models_dir)
    model = train(models_dir=paths.models_dir, train_csv=paths.train_csv, test_csv=paths.test_csv,
                  rules_dir=paths.rules_dir, extra_rows=extra, promote=False, log=log, spans_dir=paths.spans_dir)
    name = model.card["name"]
    candidate = CommentChecker.load(models_dir=paths.models_dir, name=name, rules_dir=paths.rules_dir)
    try:
        current = CommentChecker.load(models_dir=paths.models_dir, name=registry.current(),
                                      rules_dir=paths.rules_dir)
    except ModelError as exc:
        log(f"no model in service to compare with ({exc})")
        current = None
    decision = _compare(candidate, current, paths, held)
    if decision.promoted:
        registry.set_current(name)
    store.record_model(name, candidate.model_version, decision.promoted,
                       {"reasons": decision.reasons, "scores": decision.scores})
    return decision


def _compare(candidate: CommentChecker, current: CommentChecker | None, paths: Paths = Paths(),
             department: list[LabelledRow] | None = None) -> Decision:
    new = score(candidate, paths)
    old = score(current, paths) if current else None
    if department:
        new |= department_score(candidate, department)
        if old is not None:
            old |= department_score(current, department)
    promoted, reasons = decide(new, old)
    scores = {"candidate": new} if old is None else {"candidate": new, "current": old}
    return Decision(candidate.model_version, current.model_version if current else None, promoted, reasons, scores)


def decide(new: dict, old: dict | None) -> tuple[bool, list[str]]:
    """Promote only if every guarantee holds and no measure is below the model in service (a tie is not
    worse); unrounded values. A measure absent from ``new`` had no rows to be measured on."""
    reasons, promoted = [], True
    for category, minimum in GUARANTEES:
        key = f"{category}_rejection"
        if key in new:
            failed = new[key] < minimum
            promoted &= not failed
            reasons.append(f"share of `{category}` rows of data/test.csv rejected: {new[key]:.6g}, required "
                           f"≥ {minimum:g} — " + ("FAILED, not promoted" if failed else "kept"))
    if old is None:
        reasons.append("there is no model in service to compare with")
        return promoted, reasons
    for key, label in COMPARED:
        if key in new:
            worse = new[key] < old[key]
            promoted &= not worse
            reasons.append(f"{label}: {new[key]:.6g} vs {old[key]:.6g} in service — "
                           + ("worse, not promoted" if worse else "not worse"))
    return promoted, reasons


def suspects(store: Store | None, confidence: float = 0.8, folds: int = 5, paths: Paths = Paths(),
             log=print) -> list[dict]:
    """Labelled comments whose label the model contradicts firmly (``contradiction`` ≥ ``confidence``), out of fold."""
    rows = with_corrections(read_labelled(paths.train_csv), exported_rows(store, paths)[0] if store else [])
    pipeline = TextPipeline.load(paths.rules_dir)
    items, _ = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline, paths.spans_dir)  # trained as `crmqc train` trains
    cats = np.asarray([r.category for r in rows])
    found = []
    for k, (tr, va) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=0).split(cats, cats)):
        log(f"fold {k + 1}/{folds}")
        objects = contrasts.fit(items, cats.tolist(), tr, DEFAULT_PARAMS)
        checker = CommentChecker(pipeline, Model(objects, {"params": DEFAULT_PARAMS, "version": "oof"}))
        for i, verdict in zip(va, checker.classify_many([rows[i].text for i in va])):
            firmness = contradiction(verdict.score, rows[i].label, checker.threshold_in_use)
            if verdict.rule is None and firmness >= confidence:
                found.append((firmness, {
                    "text": rows[i].text, "label": rows[i].label, "category": rows[i].category,
                    "model_category": verdict.category, "model_score": round(verdict.score, 4),
                    "source": rows[i].source, "file": rows[i].file}))
    return [row for _, row in sorted(found, key=lambda f: -f[0])]


def write_suspects(rows: list[dict], out) -> None:
    writer = csv.DictWriter(out, fieldnames=["text", "label", "category", "model_category", "model_score",
                                             "source", "file"])
    writer.writeheader()
    writer.writerows(rows)
