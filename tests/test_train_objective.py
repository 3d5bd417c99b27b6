"""Training choices: the cross-validation objective that chooses C and the threshold, and head weights."""

import numpy as np
import pytest

from classifier import config
from classifier.model.linear import DEFAULT_PARAMS, Model, _head_weights, fit
from classifier.text.pipeline import TextPipeline
from classifier.training import train as train_module
from classifier.training.dataset import read_labelled
from classifier.training.train import cv_objective, featurize, pick_setting


def test_objective_is_the_mean_of_per_part_f1():
    y = np.array([1, 1, 0, 0, 1, 0])
    accepted = np.array([1, 1, 0, 0, 0, 1], dtype=bool)
    parts = np.array(["hand", "hand", "hand", "hand", "real", "real"])
    # hand: perfect (F1 1.0); real: the positive missed and the negative accepted (F1 0.0)
    assert cv_objective(y, accepted, parts) == pytest.approx(0.5)


def test_a_small_part_is_not_drowned_by_a_large_one():
    # 100 hand rows all right, 4 real rows all wrong: pooled F1 would still be about 0.96
    y = np.array([1] * 50 + [0] * 50 + [1, 1, 0, 0])
    accepted = np.array([True] * 50 + [False] * 50 + [False, False, True, True])
    parts = np.array(["hand"] * 100 + ["real"] * 4)
    assert cv_objective(y, accepted, parts) == pytest.approx(0.5)


def test_one_part_is_plain_f1():
    y = np.array([1, 0, 1, 0])
    accepted = np.array([True, True, True, False])
    assert cv_objective(y, accepted, np.array(["hand"] * 4)) == pytest.approx(0.8)


def test_head_weights_multiply_category_and_caller_weights():
    cats = np.array(["subject_only", "expanded", "stop"])
    assert _head_weights(cats, None, None) is None
    assert _head_weights(cats, {}, [1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert _head_weights(cats, {"subject_only": 2.0}, None).tolist() == [2.0, 1.0, 1.0]
    assert _head_weights(cats, {"subject_only": 2.0}, [1.0, 2.0, 3.0]).tolist() == [2.0, 2.0, 3.0]


def test_subject_only_weight_reaches_the_agreed_head():
    """Weighting `subject_only` rows must lower the "agreed" probability of detail without an agreement."""
    rows = read_labelled(config.TRAIN_CSV)[:900]
    items, _ = featurize(rows, TextPipeline.load(config.RULES_DIR))
    cats = [r.category for r in rows]
    subject_only = [it for it, c in zip(items, cats) if c == "subject_only"]
    assert len(subject_only) >= 30

    def mean_outcome(weight):
        params = dict(DEFAULT_PARAMS, outcome_weights={"subject_only": weight})
        model = Model(fit(items, cats, params), {"params": params, "version": "test"})
        return float(model.predict(subject_only).outcome.mean())

    assert mean_outcome(3.0) < mean_outcome(1.0) - 0.02


def test_pick_setting_prefers_the_stricter_threshold_among_near_ties():
    objectives = {(16.0, 0.35): 0.6313, (256.0, 0.25): 0.6382, (256.0, 0.35): 0.6370, (256.0, 0.4): 0.6023}
    assert pick_setting(objectives, tolerance=0.005) == (256.0, 0.35)
    assert pick_setting(objectives, tolerance=0.0) == (256.0, 0.25)


def test_pick_setting_breaks_a_threshold_tie_by_the_objective():
    objectives = {(4.0, 0.4): 0.60, (16.0, 0.4): 0.61, (64.0, 0.3): 0.612}
    assert pick_setting(objectives, tolerance=0.01) == (16.0, 0.4)


@pytest.fixture(scope="module")
def small_train():
    rows = read_labelled(config.TRAIN_CSV)[::20]
    items, rejected = featurize(rows, TextPipeline.load(config.RULES_DIR))
    return rows, items, rejected


def test_choose_params_reports_each_c_and_the_choice(small_train):
    rows, items, rejected = small_train
    assert {"hand", "real"} <= {r.part for r in rows}
    params, report = train_module.choose_params(items, rows, dict(DEFAULT_PARAMS), rejected, c_grid=(4.0, 16.0))
    assert set(report) == {"4.0", "16.0", "chosen"}
    chosen = report["chosen"]
    assert (params["fact_C"], params["threshold"]) == (chosen["C"], chosen["threshold"])
    assert params["category_C"] == params["fact_C"] and params["threshold"] in train_module.THRESHOLDS
    assert set(chosen["cv_f1"]) == {"hand", "real"}
    assert chosen["cv_objective"] == pytest.approx(np.mean(list(chosen["cv_f1"].values())), abs=1e-3)
    best = max(report[c]["cv_objective"] for c in ("4.0", "16.0"))
    assert best - train_module.OBJECTIVE_TOLERANCE - 1e-4 <= chosen["cv_objective"] <= best


def test_choose_params_applies_the_rule_rejections(small_train):
    rows, items, _ = small_train
    # every row rejected by the rules: no threshold can accept anything, all tie at 0, the strictest wins
    params, report = train_module.choose_params(items, rows, dict(DEFAULT_PARAMS), np.ones(len(rows), bool),
                                                c_grid=(4.0,))
    assert report["chosen"]["cv_objective"] == 0.0
    assert params["threshold"] == max(train_module.THRESHOLDS)


def test_a_corrected_label_replaces_the_one_it_corrects():
    from classifier.training.dataset import LabelledRow
    rows = [LabelledRow("Клиент думает", 0, "stop"), LabelledRow("Отказ, дорого", 0, "outcome_only")]
    fixed = [LabelledRow("клиент ДУМАЕТ", 0, "subject_only", source="pool")]
    kept = train_module.with_corrections(rows, fixed)
    assert [(r.text, r.category) for r in kept] == [("Отказ, дорого", "outcome_only"),
                                                     ("клиент ДУМАЕТ", "subject_only")]
