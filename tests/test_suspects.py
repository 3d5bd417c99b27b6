"""Suspects: labels the model contradicts firmly, measured from the threshold in use, not from 0.5."""

import csv
import random
from types import SimpleNamespace

import pytest

from classifier.checker import contradiction
from classifier.qa.queue import SUSPECT_CONFIDENCE, PoolScores, next_comment
from classifier.qa.store import Store


@pytest.mark.parametrize("score,label,threshold,expected", [
    (0.35, 1, 0.35, 0.0),   # on the threshold: no contradiction
    (0.90, 1, 0.35, 0.0),   # agrees
    (0.00, 1, 0.35, 1.0),   # a positive scored 0
    (0.07, 1, 0.35, 0.8),
    (0.20, 1, 0.35, 0.15 / 0.35),
    (0.10, 0, 0.35, 0.0),   # agrees
    (1.00, 0, 0.35, 1.0),   # a negative scored 1
    (0.87, 0, 0.35, 0.8),
    (0.50, 0, 0.50, 0.0),
    (0.90, 0, 0.50, 0.8),
])
def test_contradiction_table(score, label, threshold, expected):
    assert contradiction(score, label, threshold) == pytest.approx(expected)


def test_suspects_queue_uses_the_threshold(tmp_path):
    texts = {"positive scored 0.05": 0.05, "positive scored 0.2": 0.2, "negative scored 0.9": 0.9,
             "negative scored 0.6": 0.6}
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in texts]])
    store = Store(tmp_path / "l.db")
    store.import_csv(pool)
    ids = {r["text"]: r["id"] for r in store.pool_texts()}
    for text, comment_id in ids.items():
        store.add_label(comment_id, "anna", "expanded" if text.startswith("positive") else "subject_only")
    checker = SimpleNamespace(
        model_version="stub", threshold_in_use=0.35,
        classify_many=lambda batch: [SimpleNamespace(score=texts[t], rule=None) for t in batch])
    picked, scores = [], PoolScores()
    while (comment_id := next_comment(store, checker, scores, "boris", "suspects", random.Random(0))) is not None:
        picked.append(comment_id)
        store.add_label(comment_id, "boris", "stop")
    # 0.05 for a positive (0.86 from the bar) and 0.9 for a negative (0.85) are suspects, the firmest first;
    # 0.2 for a positive (0.43) and 0.6 for a negative (0.38) are ordinary mistakes
    assert SUSPECT_CONFIDENCE == 0.8
    assert picked == [ids["positive scored 0.05"], ids["negative scored 0.9"]]


def test_pool_scores_fill_a_budget_at_a_time_and_start_over_for_a_new_model(tmp_path):
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], *[[f"комментарий {i}"] for i in range(5)]])
    store = Store(tmp_path / "l.db")
    store.import_csv(pool)
    scored_texts = []

    def classify_many(batch):
        scored_texts.extend(batch)
        return [SimpleNamespace(score=0.5, rule=None) for _ in batch]

    checker = SimpleNamespace(model_version="v1", threshold_in_use=0.3, classify_many=classify_many)
    scores = PoolScores(budget=2)
    assert [len(scores.get(store, checker)) for _ in range(4)] == [2, 4, 5, 5]
    assert len(scored_texts) == 5, "each comment scored once per model"
    checker.model_version = "v2"
    assert len(scores.get(store, checker)) == 2, "a new model starts over"
