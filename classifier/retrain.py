"""Retrain on data/ plus the QA analysts' labels; promote only a model that is not worse.

The candidate and the model in service are measured on the fixed test split and on the frozen
adversarial set (data/adversarial.csv); neither is ever trained on.
"""

import csv
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from . import config
from .checker import CommentChecker, current_model_name
from .dataset import exact_key, read_labelled
from .evaluate import metrics
from .model import DEFAULT_PARAMS, Model, ModelError, fit
from .store import Store
from .train import featurize, read_rows, train

ADVERSARIAL_CSV = config.DATA_DIR / "adversarial.csv"


@dataclass
class Decision:
    candidate: str
    current: str | None
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    scores: dict = field(default_factory=dict)


def held_out_keys() -> set[str]:
    keys = {exact_key(r["text"]) for r in read_rows(config.TEST_CSV)}
    if ADVERSARIAL_CSV.is_file():
        keys |= {exact_key(r["text"]) for r in read_labelled(ADVERSARIAL_CSV)}
    return keys


def exported_rows(store: Store) -> tuple[list[dict], int]:
    """The store's latest labels, without any comment of the test or adversarial sets."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.csv"
        store.export_csv(path)
        rows = read_labelled(path)
    held = held_out_keys()
    kept = [r for r in rows if exact_key(r["text"]) not in held]
    return kept, len(rows) - len(kept)


def score(checker: CommentChecker) -> dict:
    test = read_rows(config.TEST_CSV)
    result = {"test_f1": metrics(test, checker.classify_many([r["text"] for r in test]))["expanded"]["f1"]}
    if ADVERSARIAL_CSV.is_file():
        adv = read_labelled(ADVERSARIAL_CSV)
        result["adversarial_accuracy"] = metrics(adv, checker.classify_many([r["text"] for r in adv]))["accuracy"]
    return result


def retrain(store: Store, models_dir: Path = config.MODELS_DIR, log=print) -> Decision:
    extra, dropped = exported_rows(store)
    log(f"{len(extra)} labelled comments from the store ({dropped} left out: they are in the test or "
        "adversarial set)")
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
        (Path(models_dir) / config.CURRENT_POINTER.name).write_text(name + "\n", encoding="utf-8")
    store.record_model(name, candidate.model_version, decision.promoted,
                       {"reasons": decision.reasons, "scores": decision.scores})
    return decision


def _compare(candidate: CommentChecker, current: CommentChecker | None) -> Decision:
    new = score(candidate)
    decision = Decision(candidate.model_version, current.model_version if current else None, True,
                        scores={"candidate": new})
    if current is None:
        decision.reasons.append("promoted: there is no model in service")
        return decision
    old = score(current)
    decision.scores["current"] = old
    for key, label in (("test_f1", "F1 of `expanded` on data/test.csv"),
                       ("adversarial_accuracy", "accuracy on data/adversarial.csv")):
        if key not in new:
            continue
        worse = new[key] < old[key]
        decision.promoted &= not worse
        decision.reasons.append(f"{label}: {new[key]:.4f} vs {old[key]:.4f} in service — "
                                + ("worse, not promoted" if worse else "not worse"))
    return decision


def suspects(store: Store | None, confidence: float = 0.8, folds: int = 5, log=print) -> list[dict]:
    """Labelled comments whose label the model contradicts with high confidence, out of fold."""
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
            gap = abs(verdict.score - int(rows[i]["label"]))
            if verdict.rule is None and gap >= confidence:
                found.append({"text": rows[i]["text"], "label": rows[i]["label"], "category": rows[i]["category"],
                              "model_category": verdict.category, "model_score": round(verdict.score, 4),
                              "source": rows[i].get("source", ""), "file": rows[i].get("file", "")})
    return sorted(found, key=lambda r: -abs(r["model_score"] - int(r["label"])))


def write_suspects(rows: list[dict], out) -> None:
    writer = csv.DictWriter(out, fieldnames=["text", "label", "category", "model_category", "model_score",
                                             "source", "file"])
    writer.writeheader()
    writer.writerows(rows)
