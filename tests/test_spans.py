"""Span labels: parsed strictly, cut into contrast rows, and never trained beside the comment they score."""

import json

import numpy as np
import pytest

from classifier import config
from classifier.training import grouped, spans
from classifier.training.dataset import DataError, LabelledRow, exact_key, read_labelled
from classifier.training.spans import Contrasts, SpanLabel, halves, load_spans, read_spans, without

CATERING = "Созвонился. у них своя столовая на заводе, кейтеринг не нужен, закрываю"


def _label(text, subject, outcome, doubt=""):
    line = json.dumps({"text": text, "subject": subject, "outcome": outcome, "doubt": doubt}, ensure_ascii=False)
    return spans._parse(line, "t.jsonl:1")


def test_each_half_keeps_one_fact_and_the_words_around_it():
    label = _label(CATERING, ["у них своя столовая на заводе"], ["кейтеринг не нужен, закрываю"])
    assert without(label, "outcome") == "Созвонился. у них своя столовая на заводе"
    assert without(label, "subject") == "Созвонился. кейтеринг не нужен, закрываю"
    log = "/ 15.01 - лпр в отпуске / 27.01 - авто в лизинг на 3 года, дог на подпись 30.01 /"
    label = _label(log, ["авто в лизинг на 3 года"], ["дог на подпись 30.01"])
    assert without(label, "outcome") == "15.01 - лпр в отпуске / 27.01 - авто в лизинг на 3 года"
    assert without(label, "subject") == "15.01 - лпр в отпуске / 27.01 - дог на подпись 30.01"


def test_no_half_when_one_phrase_states_both_facts():
    text = "Договорились о поэтапной оплате 50/50"
    label = _label(text, [text], [text])
    assert without(label, "outcome") is None and without(label, "subject") is None
    row = LabelledRow(text, 1, "expanded")
    assert halves(row, label) == []


def test_halves_are_the_two_near_miss_categories_and_only_of_trusted_expanded_rows():
    label = _label(CATERING, ["у них своя столовая на заводе"], ["кейтеринг не нужен, закрываю"])
    row = LabelledRow(CATERING, 1, "expanded", source="crm", domain="b2b_services", file="f")
    cut = halves(row, label)
    assert [(r.category, r.label, r.domain, r.source) for r in cut] == [
        ("subject_only", 0, "b2b_services", "crm"), ("outcome_only", 0, "b2b_services", "crm")]
    assert halves(LabelledRow(CATERING, 0, "subject_only"), label) == []  # relabelled by QA: no halves
    doubtful = _label(CATERING, ["у них своя столовая на заводе"], ["кейтеринг не нужен, закрываю"], "no step")
    assert halves(row, doubtful) == []


@pytest.mark.parametrize("line, problem", [
    ("{not json", "not JSON"),
    ('["a"]', "expected an object"),
    ('{"text": "", "subject": [], "outcome": []}', "text must be a non-empty string"),
    ('{"text": "цена 5к, счёт завтра", "subject": "цена", "outcome": []}', "subject must be a list"),
    ('{"text": "цена 5к, счёт завтра", "subject": ["цена 6к"], "outcome": []}', "'цена 6к' is not a substring"),
    ('{"text": "цена 5к", "subject": ["цена"], "outcome": [], "doubt": 3}', "doubt must be a string"),
])
def test_a_bad_span_file_names_file_line_and_problem(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "цена 5к, счёт завтра", "subject": ["цена 5к"], "outcome": ["счёт завтра"]}\n'
                    + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"bad.jsonl:2: .*{problem}"):
        read_spans(path)


def test_contrast_rows_train_only_beside_their_own_comment():
    rows = [LabelledRow(f"цена {i}к обсудили, счёт до пятницы номер {i}", 1, "expanded", domain=d)
            for i, d in enumerate(["cars", "cars", "hr"])]
    labels = {exact_key(r.text): _label(r.text, [r.text.split(",")[0]], [r.text.split(", ")[1]]) for r in rows}
    contrasts = Contrasts.of(rows, labels, lambda cut: ([r.text for r in cut], None))
    assert list(contrasts.parents) == [0, 0, 1, 1, 2, 2]
    items, cats, weights = contrasts.training_set([r.text for r in rows], [r.category for r in rows], [0, 2], 0.5)
    assert items == [rows[0].text, rows[2].text, *contrasts.items[:2], *contrasts.items[4:]]
    assert cats == ["expanded", "expanded", "subject_only", "outcome_only", "subject_only", "outcome_only"]
    assert weights == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    assert contrasts.training_set([r.text for r in rows], [r.category for r in rows], [0], 0.0)[2] is None


def test_a_held_out_business_never_trains_on_its_own_halves(monkeypatch):
    rows = [LabelledRow(f"цена {i}к, счёт до пятницы {i}", 1, "expanded", domain=d)
            for i, d in enumerate(["cars", "hr", "it"])]
    labels = {exact_key(r.text): _label(r.text, [r.text.split(",")[0]], [r.text.split(", ")[1]]) for r in rows}
    contrasts = Contrasts.of(rows, labels, lambda cut: ([r.note for r in cut], None))
    seen = []

    def fake_fit(items, cats, params, **kwargs):
        seen.append(set(items))
        return None

    class Fake:
        def __init__(self, objects, card):
            pass

        def predict(self, items):
            return type("P", (), {"score": np.full(len(items), 0.5)})()

    monkeypatch.setattr(spans, "fit", fake_fit)
    monkeypatch.setattr(grouped, "Model", Fake)
    grouped.leave_one_business_out(rows, [r.text for r in rows], np.zeros(3, bool), {"contrast_weight": 1.0},
                                   log=lambda m: None, contrasts=contrasts)
    for k, trained in enumerate(seen):  # businesses held out in sorted order: cars, hr, it
        held = rows[k].text
        assert held not in trained and f"contrast: {held}" not in trained
        assert len(trained) == 4, "the two other comments and their four halves"


def test_shipped_span_labels_belong_to_expanded_training_rows_only():
    files = sorted(config.SPANS_DIR.glob("*.jsonl"))
    if not files:
        pytest.skip("no span labels shipped")
    train = {exact_key(r.text): r for r in read_labelled(config.TRAIN_CSV)}
    test = {exact_key(r.text) for r in read_labelled(config.TEST_CSV)}
    labels = load_spans()
    assert labels, "the span files parse"
    assert not set(labels) & test, "no span label of a test-split comment"
    unmatched = [k for k in labels if k not in train or train[k].label != 1]
    assert not unmatched, f"span labels of no expanded train row (stale after a data build?): {unmatched[:5]}"
    assert all(isinstance(v, SpanLabel) for v in labels.values())
