"""Retraining from the QA labels: no held-out comment leaks into training, models/CURRENT is replaced
in one step, and a candidate is promoted only when it keeps the hard guarantees and is not worse."""

import csv
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from classifier.model.linear import ModelError
from classifier.model.registry import Registry
from classifier.qa import retrain as retrain_module
from classifier.qa.retrain import Paths, decide, exported_rows, retrain, score
from classifier.qa.store import Store

TEST_ROWS = [  # text, category
    ("Клиент думает, перезвонить завтра", "stop"),
    ("НД", "stop"),
    ("+79031234567", "stop"),  # no letters: an empty near key
    ("Обсудили цену 2 паллет, договор подпишут в пятницу", "expanded"),
    ("Всё обсудили, всё хорошо", "padding"),
    ("Работаем, всё по плану", "padding"),
    ("Отличный разговор, всё супер", "padding"),
]
ADVERSARIAL_ROWS = [
    ("Провели встречу, пришли к взаимопониманию", "padding"),
    ("Обсудили сроки монтажа: начнут 12.05, аванс 30% до 10.05", "expanded"),
    ("Стороны согласовали дальнейшие шаги", "padding"),
]


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "category", "source", "domain", "note"])
        writer.writerows([text, int(cat == "expanded"), cat, "hand", "other", ""] for text, cat in rows)
    return path


@pytest.fixture
def held_out(tmp_path) -> Paths:
    """Small test and adversarial sets in place of the real ones."""
    return Paths(test_csv=_write(tmp_path / "test.csv", TEST_ROWS),
                 adversarial_csv=_write(tmp_path / "adversarial.csv", ADVERSARIAL_ROWS))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "labels.sqlite3")
    yield s
    s.close()


def _label(store, tmp_path, labels):
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([text] for text, _ in labels)
    store.import_csv(pool)
    for comment_id, (_, category) in enumerate(labels, start=1):
        store.add_label(comment_id, "anna", category)


def test_near_duplicates_of_held_out_comments_are_not_trained_on(held_out, store, tmp_path):
    unrelated = ["15:00", "Обсудили логистику: 3 машины в неделю, тариф 45 000, старт с 1.06"]
    _label(store, tmp_path, [
        ("ПЕРЕЗВОНИТЬ завтра — клиент думает!!!", "stop"),         # case, punctuation, word order
        ("HД 14.03", "stop"),                                       # Latin H, digits: near key «нд»
        ("провели встречу... пришли к взаимопониманию", "padding"),  # near-duplicate of an adversarial row
        ("Все обсудили, все хорошо", "padding"),                   # exact key: ё is folded to е
        (unrelated[0], "stop"),                                     # no letters either, yet unrelated
        (unrelated[1], "expanded"),
    ])
    kept, dropped = exported_rows(store, held_out)
    assert [r.text for r in kept] == unrelated
    assert dropped == 4


def test_score_is_unrounded_and_measures_the_guarantees(held_out):
    # test: the expanded row and one of three padding rows; adversarial: one right, one wrong of the three
    accepted = {"Обсудили цену 2 паллет, договор подпишут в пятницу", "Отличный разговор, всё супер",
                "Обсудили сроки монтажа: начнут 12.05, аванс 30% до 10.05", "Стороны согласовали дальнейшие шаги"}
    checker = SimpleNamespace(classify_many=lambda texts: [SimpleNamespace(expanded=t in accepted) for t in texts])
    result = score(checker, held_out)
    assert set(result) == {"test_mean_f1", "adversarial_accuracy", "stop_rejection", "padding_rejection"}
    for key in ("test_mean_f1", "adversarial_accuracy", "padding_rejection"):
        assert abs(result[key] - 2 / 3) < 1e-12, key  # 0.6667 when rounded
    assert result["stop_rejection"] == 1.0


def test_score_compares_by_the_mean_of_the_parts(tmp_path):
    """Nine hand-written positives all found and one real positive missed: pooled F1 would be 0.947,
    the mean of the parts (1.0 and 0.0) is 0.5, so a model that ignores real comments cannot hide."""
    rows = [[f"hand positive {i}", 1, "expanded", "hand", "other", ""] for i in range(9)]
    rows += [["real positive", 1, "expanded", "github:crm", "b2b_supply", ""],
             ["real negative", 0, "outcome_only", "github:crm", "b2b_supply", ""]]
    path = tmp_path / "test.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "category", "source", "domain", "note"])
        writer.writerows(rows)
    paths = Paths(test_csv=path, adversarial_csv=tmp_path / "absent.csv")
    checker = SimpleNamespace(classify_many=lambda texts: [SimpleNamespace(expanded=t.startswith("hand"))
                                                           for t in texts])
    assert score(checker, paths) == {"test_mean_f1": pytest.approx(0.5)}


GOOD = {"test_mean_f1": 0.8679, "adversarial_accuracy": 0.9, "stop_rejection": 1.0, "padding_rejection": 0.96}


@pytest.mark.parametrize("new,old,failed", [
    ({}, GOOD, None),
    ({"test_mean_f1": 0.88, "padding_rejection": 0.95}, GOOD, None),
    ({"stop_rejection": 294 / 295}, GOOD, "share of `stop` rows"),
    ({"padding_rejection": 0.9499}, GOOD, "share of `padding` rows"),
    ({"test_mean_f1": 0.86791}, dict(GOOD, test_mean_f1=0.86794), "mean F1 of `expanded`"),
    ({"adversarial_accuracy": 0.89999}, GOOD, "accuracy on data/adversarial.csv"),
    ({}, None, None),
    ({"stop_rejection": 0.99}, None, "share of `stop` rows"),
], ids=["equal", "better, padding at the minimum", "one stop accepted", "padding below 95%",
        "F1 worse only unrounded", "worse on adversarial", "nothing in service",
        "nothing in service, stop accepted"])
def test_promotion_rule(new, old, failed):
    promoted, reasons = decide(dict(GOOD, **new), old)
    assert promoted is (failed is None)
    refusals = [r for r in reasons if "not promoted" in r]
    assert len(refusals) == (failed is not None)
    if failed:
        assert refusals[0].startswith(failed)
    assert len(reasons) == (4 if old else 3)


def _versions(models_dir, *names):
    for name in names:
        (models_dir / f"{name}.json").write_text("{}", encoding="utf-8")
        (models_dir / f"{name}.joblib").write_bytes(b"")


def test_current_is_replaced_in_one_step(tmp_path, monkeypatch):
    (tmp_path / "CURRENT").write_text("old\n", encoding="utf-8")
    _versions(tmp_path, "comment-quality-20261201T100000")
    real_replace, seen = os.replace, []

    def spy(src, dst):
        seen.append((src, dst, Path(src).read_text(encoding="utf-8")))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    Registry(tmp_path).set_current("comment-quality-20261201T100000")
    [(src, dst, content)] = seen
    assert os.path.dirname(src) == str(tmp_path) and dst == tmp_path / "CURRENT"
    assert content == "comment-quality-20261201T100000\n"
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8") == "comment-quality-20261201T100000\n"
    assert sorted(os.listdir(tmp_path)) == ["CURRENT", "comment-quality-20261201T100000.joblib",
                                            "comment-quality-20261201T100000.json"]


def test_a_failed_replace_keeps_the_old_pointer_and_no_temp_file(tmp_path, monkeypatch):
    (tmp_path / "CURRENT").write_text("old\n", encoding="utf-8")
    _versions(tmp_path, "new")

    def failing(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        Registry(tmp_path).set_current("new")
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8") == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["CURRENT", "new.joblib", "new.json"]


@pytest.mark.parametrize("name", ["../..", "/etc/passwd", "a/b", "", "x" * 129, ".hidden", "nope"])
def test_the_pointer_names_only_versions_held_here(tmp_path, name):
    (tmp_path / "CURRENT").write_text("old\n", encoding="utf-8")
    with pytest.raises(ModelError):
        Registry(tmp_path).set_current(name)
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8") == "old\n"


@pytest.mark.parametrize("candidate,promoted", [(GOOD, True), (dict(GOOD, stop_rejection=0.99), False)],
                         ids=["promoted", "a stop row accepted"])
def test_retrain_promotes_through_the_pointer(held_out, store, tmp_path, monkeypatch, candidate, promoted):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "CURRENT").write_text("old\n", encoding="utf-8")
    _versions(models_dir, "old", "cand")
    replaced, real_replace = [], os.replace

    def spy(src, dst):
        replaced.append(os.path.dirname(src))
        real_replace(src, dst)

    def load(models_dir, name, rules_dir):
        return SimpleNamespace(model_version=name, scores=GOOD if name == "old" else candidate)

    monkeypatch.setattr(os, "replace", spy)
    monkeypatch.setattr(retrain_module, "CommentChecker", SimpleNamespace(load=load))
    monkeypatch.setattr(retrain_module, "train", lambda **kwargs: SimpleNamespace(card={"name": "cand"}))
    monkeypatch.setattr(retrain_module, "score", lambda checker, paths: checker.scores)
    decision = retrain(store, Paths(models_dir=models_dir, test_csv=held_out.test_csv,
                                    adversarial_csv=held_out.adversarial_csv), log=lambda message: None)
    assert decision.promoted is promoted
    pointer = (models_dir / "CURRENT").read_text(encoding="utf-8")
    assert pointer == (decision.candidate + "\n" if promoted else "old\n")
    assert replaced.count(str(models_dir)) == promoted
    assert not [f for f in os.listdir(models_dir) if f.endswith(".partial")]


# --- a department's own comments, as a part of their own --------------------------------------------

def _rows(pairs):
    from classifier.training.dataset import LabelledRow
    return [LabelledRow(text=t, label=int(c == "expanded"), category=c, source="dept", domain="other", note="")
            for t, c in pairs]


def test_a_department_splits_the_same_way_every_time_and_never_trains_on_what_it_measures():
    from classifier.qa.retrain import split_department
    rows = _rows([(f"Обсудили поставку {i} паллет, договор в пятницу", "expanded") for i in range(200)]
                 + [(f"НД {i}", "stop") for i in range(200)])
    trained, held = split_department(rows, 0.3)
    again_trained, again_held = split_department(list(reversed(rows)) + _rows([("Новый комментарий", "stop")]), 0.3)
    assert {r.text for r in held} <= {r.text for r in again_held} | {"Новый комментарий"}
    assert {r.text for r in held} == {r.text for r in again_held} - {"Новый комментарий"}
    assert 0.2 < len(held) / len(rows) < 0.4
    assert not {r.text for r in trained} & {r.text for r in held}


@pytest.mark.parametrize("after,promoted", [(0.5, True), (0.3, False)], ids=["not worse", "worse on the department"])
def test_the_department_part_decides_too(held_out, store, tmp_path, monkeypatch, after, promoted):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "CURRENT").write_text("old\n", encoding="utf-8")
    _versions(models_dir, "old", "cand")
    trained_on = {}

    def load(models_dir, name, rules_dir):
        return SimpleNamespace(model_version=name, scores=GOOD)

    def fake_train(**kwargs):
        trained_on["rows"] = kwargs["extra_rows"]
        return SimpleNamespace(card={"name": "cand"})

    monkeypatch.setattr(retrain_module, "CommentChecker", SimpleNamespace(load=load))
    monkeypatch.setattr(retrain_module, "train", fake_train)
    monkeypatch.setattr(retrain_module, "score", lambda checker, paths: dict(checker.scores))
    monkeypatch.setattr(retrain_module, "department_score",
                        lambda checker, held: {"department_f1": 0.4 if checker.model_version == "old" else after})
    department = _rows([(f"Клиент берёт {i} кресел, счёт завтра", "expanded") for i in range(30)])
    decision = retrain(store, Paths(models_dir=models_dir, test_csv=held_out.test_csv,
                                    adversarial_csv=held_out.adversarial_csv), log=lambda m: None,
                       department=department)
    assert decision.promoted is promoted
    assert any("department" in reason for reason in decision.reasons)
    held_texts = {r.text for r in department} - {r.text for r in trained_on["rows"]}
    assert held_texts and len(trained_on["rows"]) < len(department)
