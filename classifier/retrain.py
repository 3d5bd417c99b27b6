"""Retrain on data/ plus the QA analysts' labels; promote only a model that keeps the hard guarantees
and is not worse.

The candidate and the model in service are measured on the fixed test split and on the frozen
adversarial set (data/adversarial.csv); neither, nor a near-duplicate of their comments, is ever
trained on.
"""

import csv
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold

from . import config
from .checker import CommentChecker, contradiction, current_model_name
from .dataset import exact_key, near_key, part_of, read_labelled
from .model import DEFAULT_PARAMS, Model, ModelError, fit
from .store import Store
from .train import cv_objective, featurize, point_current, read_rows, train

ADVERSARIAL_CSV = config.DATA_DIR / "adversarial.csv"
# Hard guarantees, whatever the model in service does: the least share of the category's rows of
# data/test.csv a candidate rejects.
GUARANTEES = (("stop", 1.0), ("padding", 0.95))
# Not worse than the model in service: (measure, what it is).
COMPARED = (("test_mean_f1", "mean F1 of `expanded` over the hand-written and the real rows of data/test.csv"),
            ("adversarial_accuracy", "accuracy on data/adversarial.csv"))


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


def held_out_keys() -> set[str]:
    rows = read_rows(config.TEST_CSV) + (read_labelled(ADVERSARIAL_CSV) if ADVERSARIAL_CSV.is_file() else [])
    return {key for r in rows for key in duplicate_keys(r["text"])}


def exported_rows(store: Store) -> tuple[list[dict], int]:
    """The store's latest labels, without any comment of the test or adversarial sets or a near-duplicate of one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.csv"
        store.export_csv(path)
        rows = read_labelled(path)
    held = held_out_keys()
    kept = [r for r in rows if not duplicate_keys(r["text"]) & held]
    return kept, len(rows) - len(kept)


def score(checker: CommentChecker) -> dict:
    """Unrounded measures for the promotion rule; a rejection share only when data/test.csv has such rows."""
    test = read_rows(config.TEST_CSV)
    pred = [int(v.expanded) for v in checker.classify_many([r["text"] for r in test])]
    # the same measure `crmqc train --tune` optimises: pooled F1 would be decided by the hand-written rows alone
    result = {"test_mean_f1": cv_objective(np.asarray([r["label"] for r in test]), np.asarray(pred, dtype=bool),
                                           np.asarray([part_of(r) for r in test]))}
    for category, _ in GUARANTEES:
        rejected = [not p for r, p in zip(test, pred) if r["category"] == category]
        if rejected:
            result[f"{category}_rejection"] = sum(rejected) / len(rejected)
    if ADVERSARIAL_CSV.is_file():
        adv = read_labelled(ADVERSARIAL_CSV)
        adv_pred = [int(v.expanded) for v in checker.classify_many([r["text"] for r in adv])]
        result["adversarial_accuracy"] = accuracy_score([r["label"] for r in adv], adv_pred)
    return result


def retrain(store: Store, models_dir: Path = config.MODELS_DIR, log=print) -> Decision:
    extra, dropped = exported_rows(store)
    log(f"{len(extra)} labelled comments from the store ({dropped} left out: they are in the test or "
        "adversarial set, or near-duplicates of their comments)")
    name = f"{config.DEFAULT_MODEL_NAME}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    train(name=name, models_dir=models_dir, extra_rows=extra, promote=False, log=log)
    candidate = CommentChecker.load(models_dir=models_dir, name=name)
    try:
        current = CommentChecker.load(models_dir=models_dir, name=current_model_name(models_dir))
    except ModelError as exc:
        log(f"no model in service to compare with ({exc})")
        current = None
    decision = _compare(candidate, current)
    if decision.promoted:
        point_current(models_dir, name)
    store.record_model(name, candidate.model_version, decision.promoted,
                       {"reasons": decision.reasons, "scores": decision.scores})
    return decision


def _compare(candidate: CommentChecker, current: CommentChecker | None) -> Decision:
    new = score(candidate)
    old = score(current) if current else None
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


def suspects(store: Store | None, confidence: float = 0.8, folds: int = 5, log=print) -> list[dict]:
    """Labelled comments whose label the model contradicts firmly (``contradiction`` ≥ ``confidence``), out of fold."""
    from .lemmatize import Lemmatizer
    from .rules import RuleBook
    rows = read_rows(config.TRAIN_CSV) + (exported_rows(store)[0] if store else [])
    rules = RuleBook.load(config.RULES_DIR)
    lemmatizer = Lemmatizer(rules.lexicon)
    items = featurize(rows, rules, lemmatizer)
    cats = np.asarray([r["category"] for r in rows])
    found = []
    for k, (tr, va) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=0).split(cats, cats)):
        log(f"fold {k + 1}/{folds}")
        objects = fit([items[i] for i in tr], cats[tr].tolist(), DEFAULT_PARAMS)
        checker = CommentChecker(rules, lemmatizer, Model(objects, {"params": DEFAULT_PARAMS, "version": "oof"}))
        for i, verdict in zip(va, checker.classify_many([rows[i]["text"] for i in va])):
            firmness = contradiction(verdict.score, int(rows[i]["label"]), checker.threshold_in_use)
            if verdict.rule is None and firmness >= confidence:
                found.append((firmness, {
                    "text": rows[i]["text"], "label": rows[i]["label"], "category": rows[i]["category"],
                    "model_category": verdict.category, "model_score": round(verdict.score, 4),
                    "source": rows[i].get("source", ""), "file": rows[i].get("file", "")}))
    return [row for _, row in sorted(found, key=lambda f: -f[0])]


def write_suspects(rows: list[dict], out) -> None:
    writer = csv.DictWriter(out, fieldnames=["text", "label", "category", "model_category", "model_score",
                                             "source", "file"])
    writer.writeheader()
    writer.writerows(rows)
