"""The clause heads: where in a comment each fact is stated, learned from the span labels."""

import numpy as np
import pytest

from classifier import config
from classifier.model.clauses import CLAUSE_DENSE, MIN_LETTERS, clauses_of, fit_heads, pinned_labels
from classifier.model.linear import DEFAULT_PARAMS, ClauseHeads, Model, fit
from classifier.text.clauses import clause_spans
from classifier.text.pipeline import TextPipeline
from classifier.training.dataset import LabelledRow
from classifier.training.spans import Contrasts, SpanLabel
from tests.helpers import FIT_TEXTS, features_of

TEXTS = FIT_TEXTS
PARAMS = dict(DEFAULT_PARAMS, clause_heads=True, calibration_cv=2, fact_C=4.0, category_C=4.0, clause_C=4.0)


@pytest.fixture(scope="module")
def pipeline():
    return TextPipeline.load(config.RULES_DIR)


_items = features_of


def test_clauses_are_the_clause_spans_each_read_on_its_own(pipeline):
    text = "Созвон 12.03: берут лотки DN300, 200 шт / договор подпишут до 15:00"
    clauses = clauses_of(text, pipeline.lemmatizer)
    assert [(c.start, c.end) for c in clauses] == clause_spans(text)
    assert [text[c.start:c.end] for c in clauses] == ["Созвон 12.03: берут лотки DN300", "200 шт",
                                                      "договор подпишут до 15:00"]
    assert clauses[2].lemma_text == "договор подписать до _time_"
    dense = [dict(zip(CLAUSE_DENSE, c.dense)) for c in clauses]
    assert (dense[0]["first"], dense[0]["last"], dense[2]["first"], dense[2]["last"]) == (1, 0, 0, 1)
    assert (dense[2]["time"], dense[0]["num"], dense[0]["date"]) == (1, 1, 1)  # «DN300» is «dn _num_»
    # a text without any clause with letters is read whole
    assert [(c.start, c.end) for c in clauses_of("12.03 / 15:00", pipeline.lemmatizer)] == [(0, 13)]


def test_a_clause_states_a_fact_when_enough_of_its_letters_are_labelled(pipeline):
    text = "берут лотки у Гидролики, набрать в марте"
    clauses = clauses_of(text, pipeline.lemmatizer)
    subject = text.index("лотки у Гидролики")
    pinned = pinned_labels(text, clauses, {"subject": [(subject, subject + len("лотки у Гидролики"))],
                                           "outcome": [(text.index("набрать"), len(text))]})
    assert pinned == {"subject": (1, 0), "outcome": (0, 1)}
    few = pinned_labels(text, clauses, {"subject": [(0, MIN_LETTERS - 1)], "outcome": []})
    assert few == {"subject": (0, 0), "outcome": (0, 0)}


def test_span_labels_pin_the_clauses_of_their_comment_and_no_other(pipeline):
    text = "берут лотки у Гидролики, набрать в марте"
    rows = [LabelledRow(text, 1, "expanded"), LabelledRow("Перезвонить в пятницу", 0, "outcome_only")]
    label = SpanLabel(text, ((0, 23),), ((25, len(text)),))
    contrasts = Contrasts.of(rows, {"k": label}, lambda cut: (_items(pipeline, [r.text for r in cut]), None))
    assert contrasts.labels == {}  # keyed by the comment's text: this label belongs to none of the rows
    from classifier.training.dataset import exact_key
    contrasts = Contrasts.of(rows, {exact_key(text): label},
                             lambda cut: (_items(pipeline, [r.text for r in cut]), None))
    items = _items(pipeline, [r.text for r in rows])
    pinned = contrasts.pinned(items, [0, 1], 4)
    assert pinned[0] == {"subject": (1, 0), "outcome": (0, 1)} and pinned[1:] == [None, None, None]
    assert contrasts.pinned(items, [1], 1) == [None]


def test_pinned_labels_override_the_comment_label_in_training(pipeline):
    """Two clauses under one comment label: unpinned, both clauses of an expanded comment train as stating
    the outcome; pinned by span labels, only the step clause does."""
    texts = ["клиент берёт лотки, подпишет договор в пятницу"] * 6 + ["клиент думает"] * 6
    items = _items(pipeline, texts)
    bags = {"subject": np.asarray([1] * 6 + [0] * 6), "outcome": np.asarray([1] * 6 + [0] * 6)}
    params = dict(PARAMS, clause_rounds=0)

    def detail_and_step(pinned):
        heads = ClauseHeads.of(fit_heads([f.clauses for f in items], bags, params, pinned))
        return heads.proba(items[:2])[0][:, 1]  # P(outcome) of «клиент берёт лотки», «подпишет договор…»

    free = detail_and_step(None)
    pinned = detail_and_step([{"subject": (1, 0), "outcome": (0, 1)}] * 6 + [None] * 6)
    assert free[0] > 0.5 and pinned[0] < 0.5 < pinned[1]


def test_a_model_with_clause_heads_scores_a_batch_as_one_by_one(pipeline):
    texts, cats = zip(*TEXTS)
    items = _items(pipeline, texts)
    model = Model(fit(items, list(cats), PARAMS), {"params": PARAMS, "version": "t"})
    batch = model.predict(items[:8])
    single = [model.predict([i]) for i in items[:8]]
    assert np.allclose(batch.score, np.concatenate([s.score for s in single]), atol=1e-10)
    assert all(np.allclose(b, s.clauses[0], atol=1e-10) for b, s in zip(batch.clauses, single))
    assert [len(c) for c in batch.clauses] == [len(i.clauses) for i in items[:8]]
    # each fact's probability is the geometric mean of the whole-text head's and the best clause's
    whole = Model(fit(items, list(cats), dict(PARAMS, clause_heads=False)), {"params": PARAMS, "version": "w"})
    best = np.vstack([c.max(axis=0) for c in batch.clauses])
    assert np.allclose(batch.subject, np.sqrt(whole.predict(items[:8]).subject * best[:, 0]))


def test_the_shipped_model_points_at_clauses_and_never_at_a_bare_status(checker):
    verdict = checker.classify("Не дозвонился. главбух уволилась, нового ищут, на аутсорс согласны на 3 мес, "
                               "дог вышлю сегодня", evidence=True)
    assert verdict.category == "expanded", verdict
    texts = [span["text"] for fact in ("subject", "outcome") for span in verdict.evidence[fact]]
    assert "Не дозвонился" not in texts and any("согласны" in t for t in texts)
    assert checker.model.card["params"]["clause_heads"] is True


def test_log_dates_are_stamps_to_both_heads_and_a_dated_step_is_not(pipeline):
    """A date opening a log entry says when the manager wrote; «набрать 14.08» says when the next talk is."""
    text = "2021.03.23 Актуально / 12.04 - нет заявок, набрать 14.08\n20.04 купили СП"
    item = _items(pipeline, [text])[0]
    assert item.lemma_text.split().count("_stamp_") == 2 and item.lemma_text.split().count("_date_") == 2
    assert item.char_text.startswith("_stamp_ актуально")
    by_text = {text[c.start:c.end]: c for c in item.clauses}
    assert by_text["2021.03.23 Актуально"].lemma_text == "_stamp_ актуально"
    assert by_text["набрать 14.08"].lemma_text == "набрать _date_"
    assert by_text["20.04 купили СП"].lemma_text.startswith("_stamp_ ")  # after a line break: a new entry
    # a clause cut at a comma opens no entry: its leading date is the date of a step
    assert clauses_of("купили, 14.08 созвон", pipeline.lemmatizer)[1].lemma_text == "_date_ созвон"
    dense = [dict(zip(CLAUSE_DENSE, c.dense)) for c in item.clauses]
    assert sum(d["stamp"] for d in dense) == 2


@pytest.mark.parametrize("text", ["  Купили аквасток у Ирины  ", "НД", "12.03 / 15:00", "\u200bклиент думает, ок",
                                  "Ёлки 200 шт, ДОГОВОР до 15.03 / оплата 50%", "дoгoвop (Latin o) подписан, ок",
                                  "ну ооооочень дорого,  ждут скидку", "ＮＤ, ｆｕｌｌ-width",
                                  "2021.03.23 Актуально", "12.03 - нд / 20.03 берут 20 шт"])
def test_clauses_read_the_same_with_the_prepared_comment_as_without(pipeline, text):
    assert clauses_of(text, pipeline.lemmatizer, pipeline.prepare(text)) == clauses_of(text, pipeline.lemmatizer)
