"""The optional feature blocks (`params["blocks"]`): grammeme counts and navec vectors, off by default."""

import importlib.util

import numpy as np
import pytest

from classifier.model.features import GRAMMEME_NAMES
from classifier.model.linear import DEFAULT_PARAMS, Model, ModelError, fit
from classifier.text.pipeline import TextPipeline
from tests.helpers import FIT_TEXTS, features_of

HAS_NAVEC = importlib.util.find_spec("navec") is not None and importlib.util.find_spec("natasha") is not None

TEXTS = FIT_TEXTS


@pytest.fixture(scope="module")
def pipeline():
    from classifier import config
    return TextPipeline.load(config.RULES_DIR)


_items = features_of


def test_grammemes_count_tense_person_and_mood(pipeline):
    def grams(text):
        return dict(zip(GRAMMEME_NAMES, _items(pipeline, [text])[0].grammemes))

    agreed = grams("Договорились, отправлю договор, клиент подпишет")
    assert agreed["g_past_plur"] > 0 and agreed["g_futr_1per"] > 0 and agreed["g_futr_3per"] > 0
    plan = grams("Перезвонить и уточнить, надо прожать")
    assert plan["g_infn"] > 0 and plan["g_modal"] > 0 and plan["g_past"] == 0


def test_default_model_reads_no_block():
    assert DEFAULT_PARAMS["blocks"] == [] and DEFAULT_PARAMS["clause_blocks"] == []


def test_unknown_block_is_refused(pipeline):
    texts, cats = zip(*TEXTS)
    with pytest.raises(ModelError, match="unknown feature blocks"):
        fit(_items(pipeline, texts), list(cats), dict(DEFAULT_PARAMS, blocks=["bert"], calibration_cv=2))


@pytest.mark.parametrize("blocks", [["grammemes"], pytest.param(["grammemes", "navec"], marks=pytest.mark.skipif(
    not HAS_NAVEC, reason="navec vectors ship in the natasha wheel, not installed"))])
def test_a_model_with_blocks_scores_a_batch_as_one_by_one(pipeline, blocks):
    texts, cats = zip(*TEXTS)
    items = _items(pipeline, texts)
    params = dict(DEFAULT_PARAMS, blocks=blocks, calibration_cv=2, fact_C=4.0, category_C=4.0)
    model = Model(fit(items, list(cats), params), {"params": params, "version": "t"})
    batch = model.predict(items[:8]).score
    single = np.concatenate([model.predict([i]).score for i in items[:8]])
    assert np.allclose(batch, single, atol=1e-10)


@pytest.mark.skipif(not HAS_NAVEC, reason="navec vectors ship in the natasha wheel, not installed")
def test_clause_heads_with_word_vectors_score_a_batch_as_one_by_one(pipeline):
    texts, cats = zip(*TEXTS)
    items = _items(pipeline, texts)
    params = dict(DEFAULT_PARAMS, clause_heads=True, clause_blocks=["navec"], calibration_cv=2, fact_C=4.0,
                  category_C=4.0, clause_C=4.0)
    model = Model(fit(items, list(cats), params), {"params": params, "version": "t"})
    plain = Model(fit(items, list(cats), dict(params, clause_blocks=[])), {"params": params, "version": "p"})
    batch = model.predict(items[:8])
    single = [model.predict([i]) for i in items[:8]]
    assert np.allclose(batch.score, np.concatenate([s.score for s in single]), atol=1e-10)
    assert all(np.allclose(b, s.clauses[0], atol=1e-10) for b, s in zip(batch.clauses, single))
    assert not np.allclose(batch.score, plain.predict(items[:8]).score)  # the vectors are read


def test_grouped_cv_can_hold_out_only_some_businesses(monkeypatch):
    """The quick comparison of blocks: only the named businesses are held out, and only they are reported."""
    from classifier.training import grouped, spans
    from classifier.training.dataset import LabelledRow

    rows = [LabelledRow(f"{d}{i}", i % 2, "expanded" if i % 2 else "stop", domain=d)
            for d in ("cars", "hr", "it") for i in range(4)]
    fits = []

    class Fake:
        def __init__(self, objects, card):
            pass

        def predict(self, items):
            return type("P", (), {"score": np.full(len(items), 0.9)})()

    monkeypatch.setattr(spans, "fit", lambda items, cats, params, **kwargs: fits.append(set(items)))
    monkeypatch.setattr(grouped, "Model", Fake)
    oof = grouped.leave_one_business_out(rows, [r.text for r in rows], np.zeros(len(rows), bool), {},
                                         log=lambda m: None, businesses=["hand:hr"])
    assert len(fits) == 1 and not any(t.startswith("hr") for t in fits[0])
    assert [r.domain for r, s in zip(rows, oof) if s] == ["hr"] * 4
    assert list(grouped.per_business(rows, oof, 0.5, only={"hand:hr"})) == ["hand:hr"]
