"""Train the comment model on data/train.csv, choose its settings by cross-validation on
train only, measure it on data/test.csv, and save it as a new version in the registry."""

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from .. import config
from ..checker import CommentChecker
from ..metrics import f1, mean_f1_by_part
from ..model.features import FEATURE_VERSION, Features, extract
from ..model.linear import DEFAULT_PARAMS, Model, library_versions
from ..model.registry import Registry
from ..text.pipeline import TextPipeline
from .dataset import LabelledRow, data_hash, exact_key, read_labelled
from .evaluate import metrics_by_part
from .spans import Contrasts, load_spans

C_GRID = (16.0, 64.0, 256.0, 1024.0, 4096.0)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.81, 0.05))
OBJECTIVE_TOLERANCE = 0.005


def featurize(rows: list[LabelledRow], pipeline: TextPipeline) -> tuple[list[Features], np.ndarray]:
    """Features of every row, and which rows the stop and padding rules decide whatever the model says."""
    prepared = pipeline.prepare_many([r.text for r in rows])
    items = [extract(p, pipeline.lemmatizer, pipeline.rules.filler) for p in prepared]
    rejected = np.asarray([pipeline.decide(p) is not None for p in prepared], dtype=bool)
    return items, rejected


def with_corrections(rows: list[LabelledRow], extra: list[LabelledRow]) -> list[LabelledRow]:
    """``rows`` plus ``extra``, where an extra row (a QA analyst's label) replaces every row of the same
    normalised text: a corrected label must not train beside the label it corrects."""
    corrected = {exact_key(r.text) for r in extra}
    return [r for r in rows if exact_key(r.text) not in corrected] + extra


def _folds(y, seed=0):
    return StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)


def cv_objective(y: np.ndarray, accepted: np.ndarray, parts: np.ndarray) -> float:
    """Mean F1 of `expanded` over the parts of the corpus (hand-written, real): there is a target for
    each, and the real part is what the service sees, so neither may be drowned by the other's size."""
    return mean_f1_by_part(list(y), list(accepted), list(parts))


def pick_setting(objectives: dict[tuple[float, float], float],
                 tolerance: float = OBJECTIVE_TOLERANCE) -> tuple[float, float]:
    """The (C, threshold) to use: of the settings within ``tolerance`` of the best CV objective, the one
    with the highest threshold, then the best objective. Differences that small are noise between folds,
    and a wrongly accepted empty comment defeats the rule, while a wrongly rejected one costs the
    manager a sentence."""
    best = max(objectives.values())
    near = [k for k, v in objectives.items() if v >= best - tolerance]
    return max(near, key=lambda k: (k[1], objectives[k]))


def contrasts_for(rows: list[LabelledRow], pipeline: TextPipeline,
                  spans_dir: Path = config.SPANS_DIR) -> Contrasts:
    """The contrast rows cut from ``rows`` by the span labels in ``spans_dir`` (:mod:`.spans`)."""
    return Contrasts.of(rows, load_spans(spans_dir), lambda cut: featurize(cut, pipeline))


def spans_files(spans_dir: Path = config.SPANS_DIR) -> list[Path]:
    return sorted(Path(spans_dir).glob("*.jsonl"))


def choose_params(items, rows, base: dict, rejected: np.ndarray,
                  c_grid: tuple[float, ...] = C_GRID, contrasts: Contrasts | None = None) -> tuple[dict, dict]:
    """C and threshold by 5-fold cross-validation on the training rows only.

    ``rejected`` marks the rows the stop and padding rules reject whatever the model says, as
    ``classify()`` does; every (C, threshold) is scored by ``cv_objective`` over out-of-fold verdicts
    and ``pick_setting`` chooses."""
    y = np.asarray([r.label for r in rows])
    cats = np.asarray([r.category for r in rows])
    parts = np.asarray([r.part for r in rows])
    strata = np.char.add(np.char.add(cats.astype(str), "|"), parts.astype(str))
    contrasts = contrasts or Contrasts.none()
    objectives, oofs = {}, {}
    for c in c_grid:
        oof = np.zeros(len(rows))
        for tr, va in _folds(y).split(np.zeros(len(y)), strata):
            params = dict(base, fact_C=c, category_C=c)
            objs = contrasts.fit(items, cats.tolist(), tr, params)
            model = Model(objs, {"params": params, "version": "cv"})
            oof[va] = model.predict([items[i] for i in va]).score
        oofs[c] = oof
        objectives.update({(c, t): cv_objective(y, (oof >= t) & ~rejected, parts) for t in THRESHOLDS})
    best_c, best_t = pick_setting(objectives)

    def summary(c, t):
        accepted = (oofs[c] >= t) & ~rejected
        return {"threshold": float(t), "cv_objective": round(objectives[(c, t)], 4),
                "cv_f1": {str(p): round(f1(y[parts == p], accepted[parts == p]), 4)
                          for p in np.unique(parts)}}

    report = {str(c): summary(c, max(THRESHOLDS, key=lambda t: objectives[(c, t)])) for c in c_grid}
    report["chosen"] = dict(summary(best_c, best_t), C=best_c)
    return dict(base, fact_C=best_c, category_C=best_c, threshold=float(best_t)), report


def train(name: str = config.DEFAULT_MODEL_NAME, models_dir: Path = config.MODELS_DIR,
          train_csv: Path = config.TRAIN_CSV, test_csv: Path = config.TEST_CSV,
          rules_dir: Path = config.RULES_DIR, extra_rows: list[LabelledRow] | None = None,
          tune: bool = False, promote: bool = True, log=print, spans_dir: Path = config.SPANS_DIR) -> Model:
    """Train a new version ``<name>-<UTC time>``, save it beside the others and, with ``promote``, point
    ``models/CURRENT`` at it. A running service keeps serving its model until it follows the pointer."""
    started = time.perf_counter()
    registry = Registry(models_dir)
    version = registry.new_version(name)
    pipeline = TextPipeline.load(rules_dir)
    rows = with_corrections(read_labelled(train_csv), list(extra_rows or []))
    items, rejected = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline, spans_dir)
    extra = f" + {len(extra_rows)} extra" if extra_rows else ""
    log(f"training on {len(rows)} rows from {Path(train_csv).name}{extra}, and {len(contrasts)} contrast rows "
        f"cut by the span labels at weight {DEFAULT_PARAMS['contrast_weight']}")
    if tune:
        params, cv = choose_params(items, rows, dict(DEFAULT_PARAMS), rejected, contrasts=contrasts)
    else:
        params, cv = dict(DEFAULT_PARAMS), {}
    how = "chosen now by 5-fold cross-validation on train" if tune else "defaults (chosen earlier by --tune)"
    log(f"C={params['fact_C']}, threshold={params['threshold']}: {how}")
    objects = contrasts.fit(items, [r.category for r in rows], range(len(rows)), params)
    trained_at = datetime.now(UTC)
    card = {
        "name": version,
        "base_name": name,
        "version": version,
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "data_hash": data_hash(train_csv, test_csv, *spans_files(spans_dir)),
        "train_rows": len(rows),
        "contrast_rows": len(contrasts) if params.get("contrast_weight") else 0,
        "rules_fingerprint": pipeline.rules.fingerprint(),
        "feature_version": FEATURE_VERSION,
        "libraries": library_versions(),
        "params": params,
        "cross_validation": cv,
    }
    model = Model(objects, card)
    checker = CommentChecker(pipeline=pipeline, model=model)
    test_rows = read_labelled(test_csv)
    card["metrics"] = {"test": metrics_by_part(test_rows, checker.classify_many([r.text for r in test_rows]))}
    registry.save(model, version)
    if promote:
        registry.set_current(version)
    log(f"saved {version}.joblib and {version}.json in {Path(models_dir).name}/"
        f"{' and pointed CURRENT at it' if promote else ''} ({time.perf_counter() - started:.1f}s)")
    return model
