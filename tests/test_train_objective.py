"""The cross-validation objective that chooses C and the threshold."""

import numpy as np
import pytest

from classifier.train import cv_objective


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
