import csv

import pytest

from classifier import store as store_module
from classifier.agreement import agreement
from classifier.store import Store, StoreError


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "labels.sqlite3")
    yield s
    s.close()


def _pool(tmp_path, texts, name="pool.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "deal_id"])
        w.writerows([[t, str(i)] for i, t in enumerate(texts)])
    return path


def test_import_skips_duplicates_and_keeps_metadata(store, tmp_path):
    report = store.import_csv(_pool(tmp_path, ["НД", "нд", "Отказ, дорого", "  ", "Отказ, дорого"]))
    assert (report.read, report.added, report.duplicates, report.empty) == (5, 2, 2, 1)
    again = store.import_csv(_pool(tmp_path, ["НД", "новый"], "more.csv"))
    assert (again.added, again.duplicates) == (1, 1)
    assert '"deal_id": "0"' in store.comment(1)["meta"]


def test_a_crash_mid_import_leaves_the_store_as_it_was(store, tmp_path, monkeypatch):
    store.import_csv(_pool(tmp_path, ["первый"]))
    calls = {"n": 0}
    real_key = store_module.exact_key

    def failing_key(text):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real_key(text)

    monkeypatch.setattr(store_module, "exact_key", failing_key)
    with pytest.raises(RuntimeError):
        store.import_csv(_pool(tmp_path, ["а", "б", "в", "г"], "big.csv"))
    assert store.pool_size() == 1


def test_bad_files_are_named(store, tmp_path):
    no_text = tmp_path / "x.csv"
    no_text.write_text("comment\nНД\n", encoding="utf-8")
    with pytest.raises(StoreError, match="x.csv has no `text` column"):
        store.import_csv(no_text)
    with pytest.raises(StoreError, match="file not found"):
        store.import_csv(tmp_path / "missing.csv")


def test_labels_are_never_overwritten_latest_wins(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["Клиент думает"]))
    store.add_label(1, "anna", "subject_only")
    store.add_label(1, "anna", "stop", note="думает без причины")
    assert [r["category"] for r in store.history(1)] == ["subject_only", "stop"]
    assert [(r["annotator"], r["category"]) for r in store.current_labels()] == [("anna", "stop")]


def test_undo_retracts_without_deleting(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["НД", "Отказ"]))
    store.add_label(1, "anna", "stop")
    store.add_label(2, "anna", "outcome_only")
    assert store.undo("anna") == 2
    assert [r["comment_id"] for r in store.current_labels()] == [1]
    assert [r["action"] for r in store.history(2)] == ["label", "retract"]
    assert store.undo("nobody") is None


def test_bad_labels_are_refused(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["НД"]))
    with pytest.raises(StoreError, match="unknown category"):
        store.add_label(1, "anna", "good")
    with pytest.raises(StoreError, match="no comment with id 99"):
        store.add_label(99, "anna", "stop")
    with pytest.raises(StoreError, match="annotator name"):
        store.add_label(1, "  ", "stop")


def test_export_is_the_latest_label_in_a_fixed_order(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["б текст", "а текст", "в текст"]))
    store.add_label(3, "anna", "stop")
    store.add_label(1, "anna", "padding")
    store.add_label(1, "boris", "stop")  # later: wins for the export
    out = tmp_path / "out.csv"
    assert store.export_csv(out) == 2
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["text"], r["label"], r["category"]) for r in rows] == [("б текст", "0", "stop"), ("в текст", "0", "stop")]
    first = out.read_bytes()
    store.export_csv(out)
    assert out.read_bytes() == first


AGREEMENT_CASES = [
    # (labels of a, labels of b, kappa)
    (["stop", "expanded", "expanded"], ["stop", "subject_only", "expanded"], 0.5),
    (["stop", "expanded"], ["stop", "expanded"], 1.0),
    (["stop", "expanded"], ["expanded", "stop"], -1.0),
]


@pytest.mark.parametrize("a,b,kappa", AGREEMENT_CASES, ids=["one disagreement", "all agree", "all swapped"])
def test_cohens_kappa(a, b, kappa):
    rows = [dict(comment_id=i, annotator=who, category=c) for who, cats in (("a", a), ("b", b))
            for i, c in enumerate(cats)]
    report = agreement(rows)
    assert report["pairs"][0]["kappa"] == pytest.approx(kappa)
    assert len(report["disagreements"]) == sum(x != y for x, y in zip(a, b))
