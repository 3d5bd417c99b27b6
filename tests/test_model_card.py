import json
import shutil

import pytest

from classifier import config
from classifier.checker import CommentChecker
from classifier.model.linear import ModelError
from classifier.model.registry import Registry
from tests.helpers import read_csv


@pytest.fixture
def models_copy(tmp_path):
    name = Registry().current()
    for ext in ("joblib", "json"):
        shutil.copy(config.MODELS_DIR / f"{name}.{ext}", tmp_path / f"{name}.{ext}")
    return tmp_path, name


def _edit_card(models_dir, name, **changes):
    path = models_dir / f"{name}.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict):
            card[key].update(value)
        else:
            card[key] = value
    path.write_text(json.dumps(card), encoding="utf-8")


def test_card_records_what_the_brief_asks(models_copy):
    models_dir, name = models_copy
    card = json.loads((models_dir / f"{name}.json").read_text(encoding="utf-8"))
    assert {"version", "trained_at", "data_hash", "libraries", "params", "metrics", "rules_fingerprint"} <= set(card)
    assert card["metrics"]["test"]["all"]["per_category"]["stop"]["n"] > 0


def test_loads_when_everything_matches(models_copy):
    models_dir, name = models_copy
    assert CommentChecker.load(models_dir=models_dir, name=name).classify("НД").category == "stop"


@pytest.mark.parametrize("change,message", [
    ({"libraries": {"scikit-learn": "0.1.0"}}, "trained with scikit-learn 0.1.0"),
    ({"rules_fingerprint": "0000"}, "trained with other rules"),
    ({"feature_version": 0}, "trained with feature version 0"),
    ({"artifact_sha256": "0" * 64}, "does not match the sha256"),
])
def test_mismatch_fails_with_a_clear_message(models_copy, change, message):
    models_dir, name = models_copy
    _edit_card(models_dir, name, **change)
    with pytest.raises(ModelError, match=message):
        CommentChecker.load(models_dir=models_dir, name=name)


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="crmqc train"):
        CommentChecker.load(models_dir=tmp_path, name="nothing")


def test_missing_artifact(models_copy):
    models_dir, name = models_copy
    (models_dir / f"{name}.joblib").unlink()
    with pytest.raises(ModelError, match="not found beside its card"):
        CommentChecker.load(models_dir=models_dir, name=name)


def _modules(obj, seen=None) -> set[str]:
    """Top-level packages of every object reachable from ``obj``."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    found = {type(obj).__module__.split(".")[0]}
    children = []
    if isinstance(obj, dict):
        children = list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        children = list(vars(obj).values())
    for child in children:
        found |= _modules(child, seen)
    return found


def test_artifact_holds_only_library_classes(models_copy):
    """Nothing of this project is pickled: lemmatisation happens before the vectorizers."""
    import joblib
    models_dir, name = models_copy
    modules = _modules(joblib.load(models_dir / f"{name}.joblib"))
    assert "classifier" not in modules
    assert modules <= {"sklearn", "numpy", "scipy", "builtins", "re"}, modules


def test_fast_paths_equal_scikit_learn(checker):
    """The plain-array paths (batch and single comment) give scikit-learn's own numbers."""

    import numpy as np

    texts = [r["text"] for r in read_csv(config.TEST_CSV)][:200] + ["", "!!"]
    items = [checker.features(p) for p in checker.pipeline.prepare_many(texts)]
    model, o = checker.model, checker.model.objects
    x = model.matrix(items)
    n_word, n_char = len(o["word"].idf_), len(o["char"].idf_)
    assert abs(x[:, :n_word] - o["word"].transform([i.lemma_text for i in items])).max() < 1e-12
    assert abs(x[:, n_word:n_word + n_char] - o["char"].transform([i.char_text for i in items])).max() < 1e-12
    batch = model.predict(items)
    # each fact: the geometric mean of the whole-text head and the best clause of the clause heads
    from scipy import sparse
    c = o["clause"]
    flat = [cl for i in items for cl in i.clauses]
    xc = sparse.hstack([c["word"].transform([cl.lemma_text for cl in flat]),
                        c["char"].transform([cl.char_text for cl in flat]),
                        c["scaler"].transform(np.asarray([cl.dense for cl in flat]))], format="csr")
    owner = np.repeat(np.arange(len(items)), [len(i.clauses) for i in items])
    for fact, got in (("subject", batch.subject), ("outcome", batch.outcome)):
        best = np.zeros(len(items))
        np.maximum.at(best, owner, c[fact].predict_proba(xc)[:, 1])
        assert np.allclose(got, np.sqrt(o[fact].predict_proba(x)[:, 1] * best), atol=1e-12)
    assert np.allclose(batch.category_probs, o["category"].predict_proba(x), atol=1e-12)
    for i, item in enumerate(items):
        one = model.predict([item])
        assert abs(one.score[0] - batch.score[i]) < 1e-12
        assert np.allclose(one.category_probs[0], batch.category_probs[i], atol=1e-12)


def test_the_fast_character_analyzer_counts_what_scikit_learn_counts(checker):
    from collections import Counter

    from classifier.model.linear import char_wb_analyzer
    char = checker.model.objects["char"]
    reference, fast = char.build_analyzer(), char_wb_analyzer(*char.ngram_range)
    texts = [r["text"].lower() for r in read_csv(config.TEST_CSV)] + ["", " ", "a", "ab", "а  б\tв", "_date_ ок"]
    assert all(Counter(fast(t)) == Counter(reference(t)) for t in texts)


def test_the_fast_word_analyzer_counts_what_scikit_learn_counts(checker):
    from collections import Counter

    from classifier.model.linear import word_ngram_analyzer
    texts = [r["text"].lower() for r in read_csv(config.TEST_CSV)] + ["", " ", "a", "а  б\tв", "_date_ ок"]
    for word in (checker.model.objects["word"], checker.model.objects["clause"]["word"]):
        reference, fast = word.build_analyzer(), word_ngram_analyzer(*word.ngram_range)
        assert all(Counter(fast(t)) == Counter(reference(t)) for t in texts)
    three = word_ngram_analyzer(2, 3)
    assert three("а б в г") == ["а б", "б в", "в г", "а б в", "б в г"] and three("а") == []
