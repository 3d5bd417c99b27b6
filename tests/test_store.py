import csv
import random
import sqlite3
import threading

import pytest

from classifier import config
from classifier.cli import main
from classifier.qa import store as store_module
from classifier.qa.agreement import agreement
from classifier.qa.store import NotFound, Store, StoreError
from tests.helpers import read_csv


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


def test_export_is_one_row_per_comment_in_a_fixed_order(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["б текст", "а текст", "в текст"]))
    store.add_label(3, "anna", "stop")
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "padding")  # later, but an unsettled disagreement exports the stricter reading
    out = tmp_path / "out.csv"
    assert store.export_csv(out) == 2
    rows = read_csv(out)
    assert [(r["text"], r["label"], r["category"]) for r in rows] == [("б текст", "0", "stop"),
                                                                      ("в текст", "0", "stop")]
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


def _current(store):
    return {(r["comment_id"], r["annotator"]): r["category"] for r in store.current_labels()}


def test_undo_after_a_relabel_restores_the_previous_label(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["Клиент думает", "НД"]))
    store.add_label(1, "anna", "expanded")
    store.add_label(2, "anna", "stop")
    store.add_label(1, "anna", "subject_only")  # relabelled
    assert store.undo("anna") == 1
    assert _current(store) == {(1, "anna"): "expanded", (2, "anna"): "stop"}
    assert 1 in store.seen_by("anna"), "a comment that is still labelled is not offered again"
    assert store.undo("anna") == 2
    assert store.undo("anna") == 1
    assert _current(store) == {}
    assert store.seen_by("anna") == set()
    assert store.undo("anna") is None
    assert [r["action"] for r in store.history(1)] == ["label", "label", "retract", "retract"]


def test_undo_takes_back_only_the_annotators_own_labels(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["Клиент думает"]))
    store.add_label(1, "anna", "expanded")
    store.add_label(1, "boris", "stop")
    store.add_label(1, "anna", "padding")
    assert store.undo("anna") == 1
    assert _current(store) == {(1, "anna"): "expanded", (1, "boris"): "stop"}


# The labels table before retract rows named the label they take back.
LEGACY_SCHEMA = """
CREATE TABLE comments (id INTEGER PRIMARY KEY, text TEXT NOT NULL, text_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL DEFAULT '', meta TEXT NOT NULL DEFAULT '{}', imported_at TEXT NOT NULL);
CREATE TABLE labels (id INTEGER PRIMARY KEY, comment_id INTEGER NOT NULL REFERENCES comments(id),
    annotator TEXT NOT NULL, action TEXT NOT NULL CHECK (action IN ('label', 'retract', 'skip')),
    label INTEGER CHECK (label IN (0, 1)), category TEXT, note TEXT NOT NULL DEFAULT '', seconds REAL,
    at TEXT NOT NULL);
INSERT INTO comments VALUES (1, 'Клиент думает', 'клиент думает', 'old.csv', '{}', '2024-01-01T00:00:00+00:00');
INSERT INTO comments VALUES (2, 'НД', 'нд', 'old.csv', '{}', '2024-01-01T00:00:00+00:00');
INSERT INTO labels(comment_id, annotator, action, label, category, at) VALUES
    (1, 'anna', 'label', 1, 'expanded', '2024-01-01T00:00:01+00:00'),
    (1, 'anna', 'label', 0, 'stop', '2024-01-01T00:00:02+00:00'),
    (1, 'anna', 'retract', NULL, NULL, '2024-01-01T00:00:03+00:00'),
    (2, 'anna', 'label', 0, 'stop', '2024-01-01T00:00:04+00:00');
"""


def test_a_store_from_before_the_undo_history_keeps_its_labels(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.close()
    for _ in range(2):  # opening twice: the migration runs once
        old = Store(path)
        assert _current(old) == {(2, "anna"): "stop"}, "an old undo still took back every label it did"
        assert len(old.history(1)) == 3
        old.close()
    old = Store(path)
    old.add_label(1, "anna", "padding")
    old.add_label(1, "anna", "outcome_only")
    assert old.undo("anna") == 1
    assert _current(old) == {(1, "anna"): "padding", (2, "anna"): "stop"}
    assert old.undo("anna") == 1
    assert old.undo("anna") == 2
    assert old.undo("anna") is None
    old.close()


def test_skip_and_lookups_refuse_unknown_ids(store, tmp_path):
    store.import_csv(_pool(tmp_path, ["НД"]))
    for bad in (99, 0, -1, 2**63, 2**70):
        with pytest.raises(NotFound, match=f"no comment with id {bad}"):
            store.skip(bad, "anna")
        with pytest.raises(NotFound, match=f"no comment with id {bad}"):
            store.add_label(bad, "anna", "stop")
        assert store.comment(bad) is None
    assert store.history(1) == [] and store.pool_size() == 1


def test_a_row_with_more_fields_than_the_header_is_refused(store, tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("text,deal_id\nНД,1\nОтказ, дорого, перезвонить в мае,2\nок,3\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"pool.csv, line 3: 2 more fields than the header"):
        store.import_csv(path)
    assert store.pool_size() == 0


def test_a_directory_is_not_a_pool(store, tmp_path, capsys):
    with pytest.raises(StoreError, match="is a directory"):
        store.import_csv(tmp_path)
    db = str(tmp_path / "cli.sqlite3")
    assert main(["--store", db, "pool", "import", str(tmp_path)]) == 2
    assert main(["--store", db, "pool", "import", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("crmqc: error: ") for line in err)
    assert "is a directory" in err[0] and "file not found" in err[1]


def test_many_threads_share_one_store(store, tmp_path):
    store.import_csv(_pool(tmp_path, [f"комментарий {i}" for i in range(20)]))
    start, errors, expected, rows = threading.Barrier(8), [], {}, []

    def work(n):
        rng, annotator, stack, written = random.Random(n), f"annotator{n}", [], 0
        try:
            start.wait()
            for _ in range(50):
                comment_id, op = rng.randint(1, 20), rng.random()
                if op < 0.6:
                    category = rng.choice(config.CATEGORIES)
                    store.add_label(comment_id, annotator, category)
                    stack.append((comment_id, category))
                    written += 1
                elif op < 0.8:
                    store.skip(comment_id, annotator)
                    written += 1
                else:
                    want = stack.pop()[0] if stack else None
                    assert store.undo(annotator) == want
                    written += want is not None
                store.current_labels()
        except Exception as exc:
            errors.append(f"{annotator}: {exc!r}")
        expected.update({(comment_id, annotator): category for comment_id, category in stack})
        rows.append(written)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _current(store) == expected
    assert sum(len(store.history(i)) for i in range(1, 21)) == sum(rows)


def test_labels_are_written_while_a_big_import_runs(tmp_path, monkeypatch):
    """The import stages its rows in short transactions: another process's label write does not wait
    for the whole file (it would have waited the 30 s busy timeout and failed before)."""
    store = Store(tmp_path / "labels.sqlite3")
    store.import_csv(_pool(tmp_path, ["первый"], "first.csv"))
    other = Store(tmp_path / "labels.sqlite3")
    other.db.execute("PRAGMA busy_timeout=200")  # fail fast if the import held the lock
    monkeypatch.setattr(store_module, "IMPORT_CHUNK", 10)
    real, written = store_module.exact_key, []

    def key_and_label(text):
        if len(written) == 0 and text == "строка 25":  # in the middle of the third chunk
            written.append(other.add_label(1, "anna", "stop"))
        return real(text)

    monkeypatch.setattr(store_module, "exact_key", key_and_label)
    report = store.import_csv(_pool(tmp_path, [f"строка {i}" for i in range(100)], "big.csv"))
    assert report.added == 100 and written and store.current_labels()[0]["annotator"] == "anna"


def test_a_killed_import_leaves_nothing_half_done(tmp_path):
    store = Store(tmp_path / "labels.sqlite3")
    store.import_csv(_pool(tmp_path, ["первый"]))
    with store.transaction() as db:  # what a process killed between staging and the final move leaves
        db.execute("INSERT INTO import_rows(import_id, text, text_key, source, meta, in_data) "
                   "VALUES ('dead', 'полуимпорт', 'полуимпорт', 'x', '{}', 0)")
    store.close()
    again = Store(tmp_path / "labels.sqlite3")
    assert again.pool_size() == 1
    assert again.db.execute("SELECT COUNT(*) FROM import_rows").fetchone()[0] == 0


def test_a_partial_export_left_by_a_killed_run_is_gone_after_the_next(tmp_path):
    store = Store(tmp_path / "labels.sqlite3")
    store.import_csv(_pool(tmp_path, ["НД"]))
    store.add_label(1, "anna", "stop")
    out = tmp_path / "labels.csv"
    (tmp_path / "labels.csv.partial").write_bytes(b"x" * 1_000_000)  # what kill -9 mid-export leaves
    assert store.export_csv(out) == 1
    assert not (tmp_path / "labels.csv.partial").exists() and read_csv(out)[0]["text"] == "НД"


# --- the table of labels in force, kept with every write ----------------------------------------------

CATEGORIES = ("expanded", "subject_only", "outcome_only", "stop", "padding")


def _random_history(store, rng, comments=40, steps=400):
    names = ("anna", "boris", "vera")
    for _ in range(steps):
        who, cid = rng.choice(names), rng.randint(1, comments)
        action = rng.random()
        if action < 0.75:
            store.add_label(cid, who, rng.choice(CATEGORIES))
        elif action < 0.88:
            store.skip(cid, who)
        else:
            store.undo(who)


def _slow_current(store) -> set[tuple[int, str, int]]:
    """The labels in force by the definition (newest `label` row no retract took back), over all rows."""
    rows = store.db.execute("SELECT * FROM labels ORDER BY id").fetchall()
    retracted = {r["undoes"] for r in rows if r["action"] == "retract" and r["undoes"] is not None}
    current = {}
    for r in rows:
        if r["action"] == "label" and r["id"] not in retracted:
            current[r["comment_id"], r["annotator"]] = r["id"]
    return {(c, a, i) for (c, a), i in current.items()}


def test_labels_in_force_match_their_definition_after_any_history(store):
    rng = random.Random(7)
    store.import_csv(_pool(store.path.parent, [f"комментарий номер {i}" for i in range(40)]))
    _random_history(store, rng)
    got = {(r["comment_id"], r["annotator"], r["id"]) for r in store.current_labels()}
    assert got == _slow_current(store)
    for who in ("anna", "boris", "vera"):
        last = store.db.execute("SELECT comment_id, MAX(id) FROM labels WHERE annotator = ? GROUP BY comment_id",
                                (who,)).fetchall()
        skipped = {c for c, i in last if store.db.execute("SELECT action FROM labels WHERE id = ?",
                                                          (i,)).fetchone()[0] == "skip"}
        assert store.seen_by(who) == {c for c, a, _ in got if a == who} | skipped


def test_rows_written_around_the_store_are_folded_in_on_open(tmp_path):
    first = Store(tmp_path / "l.db")
    first.import_csv(_pool(tmp_path, ["первый комментарий", "второй комментарий"]))
    first.add_label(1, "anna", "stop")
    with first.transaction() as db:  # an older version of crmqc, or a script, writing labels directly
        db.execute("INSERT INTO labels(comment_id, annotator, action, label, category, at) "
                   "VALUES (2, 'boris', 'label', 1, 'expanded', '2026-12-02T10:00:00+00:00')")
    first.close()
    again = Store(tmp_path / "l.db")
    assert {(r["comment_id"], r["annotator"]) for r in again.current_labels()} == {(1, "anna"), (2, "boris")}
    assert again.annotator("BORIS") == "boris"


def test_stats_agreement_equals_the_full_computation(store):
    from classifier.qa.queue import annotator_stats
    rng = random.Random(11)
    store.import_csv(_pool(store.path.parent, [f"комментарий номер {i}" for i in range(40)]))
    _random_history(store, rng, steps=600)
    full = agreement(store.current_labels())
    for who in ("anna", "boris", "vera"):
        stats = annotator_stats(store, who)
        expected = {(p["b"] if p["a"] == who else p["a"]): p for p in full["pairs"] if who in (p["a"], p["b"])}
        assert stats["labelled_total"] == sum(1 for r in store.current_labels() if r["annotator"] == who)
        for row in stats["agreement"]:
            assert row["items"] == expected[row["with"]]["items"]
            assert row["kappa"] == pytest.approx(expected[row["with"]]["kappa"], abs=1e-4)
            assert row["agree"] == pytest.approx(expected[row["with"]]["agree"], abs=1e-4)


def test_cohen_kappa_from_a_table_equals_nltk_on_the_pairs():
    from collections import Counter

    from nltk.metrics.agreement import AnnotationTask

    from classifier.qa.agreement import cohen_kappa
    rng = random.Random(3)
    for _ in range(20):
        pairs = [(rng.choice(CATEGORIES[:3]), rng.choice(CATEGORIES[:3])) for _ in range(rng.randint(5, 60))]
        data = [(c, str(i), v) for i, pair in enumerate(pairs) for c, v in zip(("a", "b"), pair)]
        assert cohen_kappa(Counter(pairs)) == pytest.approx(AnnotationTask(data=data).kappa(), abs=1e-9)
    assert cohen_kappa(Counter([("stop", "stop")] * 4)) == 1.0 and cohen_kappa(Counter()) is None
