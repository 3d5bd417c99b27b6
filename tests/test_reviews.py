"""The review queue: a reviewer settles a disagreement between annotators; the export takes the
settlement, else the guide's stricter reading, and keeps every note."""

import csv
import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from classifier import config
from classifier.cli import main
from classifier.qa.store import STRICTER_ORDER, NoDisagreement, NotFound, Store, StoreError, stricter
from classifier.service.app import create_app
from classifier.service.settings import Settings
from tests.helpers import read_csv
from tests.test_store import LEGACY_SCHEMA

TEXTS = ["НД", "Отказ, дорого", "Клиент думает. Говорит, что новостройки переоценены", "Обсудили MBA", "пятый"]


def _pool(tmp_path, texts=TEXTS):
    path = tmp_path / "pool.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], *([t] for t in texts)])
    return path


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "labels.sqlite3")
    s.import_csv(_pool(tmp_path))
    yield s
    s.close()


def _export(store, tmp_path) -> dict[str, dict]:
    out = tmp_path / "export.csv"
    n = store.export_csv(out)
    rows = read_csv(out)
    assert n == len(rows) == len({r["text"] for r in rows}), "one row per comment"
    return {r["text"]: r for r in rows}


def _ids(disputes):
    return [d["comment_id"] for d in disputes]


# --- the stricter reading --------------------------------------------------------------------------

def test_the_stricter_order_covers_every_category_with_expanded_last():
    assert sorted(STRICTER_ORDER) == sorted(config.CATEGORIES)
    assert STRICTER_ORDER[-1] == config.EXPANDED
    for category in config.CATEGORIES:
        if category != config.EXPANDED:
            assert stricter([config.EXPANDED, category]) == category, "not expanded beats expanded"
    assert stricter({"padding", "stop"}) == "stop"
    assert stricter(["subject_only", "outcome_only"]) == "outcome_only"
    assert stricter(["subject_only", "padding", "expanded"]) == "padding"


# --- the store -------------------------------------------------------------------------------------

def test_disagreements_are_different_categories_of_two_annotators(store):
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "padding")          # the same label (0), another category: a disagreement
    store.add_label(2, "anna", "expanded")
    store.add_label(2, "boris", "expanded")         # agree
    store.add_label(3, "anna", "subject_only")      # one annotator only
    store.add_label(4, "anna", "expanded")
    store.add_label(4, "anna", "stop")              # she corrected herself: no disagreement with her old label
    store.add_label(5, "anna", "expanded")
    store.add_label(5, "boris", "subject_only")     # the label differs too
    assert _ids(store.disagreements()) == [1, 5]
    assert _ids(store.disagreements("unsettled")) == [1, 5] and store.disagreements("settled") == []
    [first] = [d for d in store.disagreements() if d["comment_id"] == 1]
    assert [(x["annotator"], x["category"], x["label"]) for x in first["labels"]] == [("anna", "stop", 0),
                                                                                    ("boris", "padding", 0)]
    assert first["text"] == "НД" and first["settlement"] is None and first["stricter"] == "stop"
    with pytest.raises(StoreError, match="state must be one of") as err:
        store.disagreements("open")
    assert err.value.field == "state"


def test_an_undo_can_end_a_disagreement(store):
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "expanded")
    assert _ids(store.disagreements()) == [1]
    store.undo("boris")
    assert store.disagreements() == []


def test_the_latest_settlement_wins_and_the_earlier_stay(store, tmp_path):
    store.add_label(2, "anna", "outcome_only", note="без причины")
    store.add_label(2, "boris", "expanded", note="причина: дорого")
    first = store.settle(2, "Вера", "expanded", "дорого — это причина")
    assert first["category"] == "expanded" and first["label"] == 1
    assert first["labels_seen"] == {"anna": "outcome_only", "boris": "expanded"}
    assert _export(store, tmp_path)["Отказ, дорого"]["category"] == "expanded"
    second = store.settle(2, "вера", "outcome_only", "по прецеденту «Отказ, дорого»")
    assert second["reviewer"] == "Вера", "reviewer names compare case-insensitively, as annotators' do"
    assert [(r["reviewer"], r["category"]) for r in store.reviews(2)] == [("Вера", "expanded"),
                                                                          ("Вера", "outcome_only")]
    [settled] = store.disagreements("settled")
    assert settled["settlement"]["category"] == "outcome_only"
    assert settled["settlement"]["note"] == "по прецеденту «Отказ, дорого»"
    assert store.disagreements("unsettled") == []
    row = _export(store, tmp_path)["Отказ, дорого"]
    assert (row["label"], row["category"]) == ("0", "outcome_only")


def test_settle_refuses_bad_input_and_writes_nothing(store):
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "expanded")
    store.add_label(2, "anna", "stop")
    store.add_label(2, "boris", "stop")
    store.add_label(3, "anna", "stop")
    cases = [
        (lambda: store.settle(1, "Вера", "good"), StoreError, "unknown category 'good'", "category"),
        (lambda: store.settle(1, "  ", "stop"), StoreError, "reviewer name must be", "reviewer"),
        (lambda: store.settle(1, "я" * 65, "stop"), StoreError, "reviewer name must be", "reviewer"),
        (lambda: store.settle(99, "Вера", "stop"), NotFound, "no comment with id 99", None),
        (lambda: store.settle(2**70, "Вера", "stop"), NotFound, "no comment with id", None),
        (lambda: store.settle(2, "Вера", "stop"), NoDisagreement, r"its annotators agree \(anna=stop, boris=stop\)",
         None),
        (lambda: store.settle(3, "Вера", "stop"), NoDisagreement, "only one annotator has labelled it", None),
        (lambda: store.settle(4, "Вера", "stop"), NoDisagreement, "no annotator has labelled it", None),
    ]
    for call, kind, message, field in cases:
        with pytest.raises(kind, match=message) as err:
            call()
        assert err.value.field == field
    assert store.db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 0


def test_an_unsettled_disagreement_exports_the_stricter_reading_and_every_note(store, tmp_path):
    store.add_label(3, "anna", "expanded", note="есть деталь и решение")
    store.add_label(3, "boris", "subject_only", note="думает — не договорённость")
    store.add_label(3, "carl", "outcome_only")
    store.add_label(3, "carl", "padding", note="исправил")  # carl's correction replaces his first label
    store.add_label(4, "anna", "stop")
    store.add_label(4, "boris", "stop", note="просто тема")
    rows = _export(store, tmp_path)
    row = rows[TEXTS[2]]
    assert (row["label"], row["category"]) == ("0", "padding")
    for part in ("the stricter reading", "annotator=anna (expanded); есть деталь и решение",
                 "annotator=boris (subject_only); думает — не договорённость", "annotator=carl (padding); исправил"):
        assert part in row["note"]
    assert "outcome_only" not in row["note"], "carl's old label is not in force"
    agreed = rows["Обсудили MBA"]
    assert agreed["category"] == "stop" and agreed["note"] == "annotator=anna | annotator=boris; просто тема"


def test_a_settled_disagreement_exports_the_settlement_and_every_note(store, tmp_path):
    store.add_label(1, "anna", "expanded", note="а вдруг")
    store.add_label(1, "boris", "stop", note="нд")
    store.settle(1, "Вера", "padding", "нарочно странное решение")
    row = _export(store, tmp_path)["НД"]
    assert (row["label"], row["category"]) == ("0", "padding")
    assert row["note"] == ("settled by reviewer=Вера: padding; нарочно странное решение | annotator=anna (expanded); "
                           "а вдруг | annotator=boris (stop); нд")
    store.settle(1, "Вера", "expanded")
    assert _export(store, tmp_path)["НД"]["label"] == "1", "the settlement wins over the stricter reading"


def test_a_label_changed_after_a_settlement_opens_it_again(store, tmp_path):
    store.add_label(1, "anna", "expanded")
    store.add_label(1, "boris", "stop")
    store.settle(1, "Вера", "expanded", "решение")
    store.add_label(1, "boris", "stop", note="уточнил заметку")  # the same category: still settled
    assert _ids(store.disagreements("settled")) == [1]
    store.add_label(1, "carl", "subject_only")                    # a new opinion: the reviewer must look again
    [reopened] = store.disagreements("unsettled")
    assert reopened["settlement"] is None and reopened["previous_settlement"]["category"] == "expanded"
    row = _export(store, tmp_path)["НД"]
    assert row["category"] == "stop", "unsettled again: the stricter reading"
    assert "earlier settlement by reviewer=Вера: expanded" in row["note"] and "; решение" in row["note"]
    store.settle(1, "Вера", "subject_only")
    assert _ids(store.disagreements("settled")) == [1]
    store.add_label(1, "anna", "stop")
    store.add_label(1, "carl", "stop")                            # now they all agree: their label stands
    assert store.disagreements() == []
    assert _export(store, tmp_path)["НД"]["category"] == "stop"


def test_a_corrected_label_replaces_the_annotators_old_one(store, tmp_path):
    store.add_label(5, "anna", "expanded", note="сначала так")
    store.add_label(5, "anna", "padding", note="нет, пусто")
    assert store.disagreements() == []
    row = _export(store, tmp_path)["пятый"]
    assert (row["category"], row["note"]) == ("padding", "annotator=anna; нет, пусто")


def test_a_store_from_before_the_review_queue_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA + "INSERT INTO labels(comment_id, annotator, action, label, category, note, at) "
                                     "VALUES (2, 'boris', 'label', 1, 'expanded', 'старая заметка', "
                                     "'2024-01-01T00:00:05+00:00');")
    db.close()
    old = Store(path)
    assert [(d["comment_id"], [x["category"] for x in d["labels"]]) for d in old.disagreements()] \
        == [(2, ["stop", "expanded"])]
    old.settle(2, "Вера", "stop", "НД — стоп-фраза")
    old.close()
    again = Store(path)
    [settled] = again.disagreements("settled")
    assert settled["settlement"]["note"] == "НД — стоп-фраза"
    assert [r["annotator"] for r in again.history(2)] == ["anna", "boris"], "every old row is kept"
    row = _export(again, tmp_path)["НД"]
    assert row["category"] == "stop" and "старая заметка" in row["note"]
    again.close()


def test_a_settlement_survives_the_process_being_killed(store, tmp_path):
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "expanded")
    script = ("import os, signal, sys; from classifier.qa.store import Store; "
              "s = Store(sys.argv[1]); s.settle(1, 'Вера', 'stop', 'до сигнала'); "
              "os.kill(os.getpid(), signal.SIGKILL)")
    result = subprocess.run([sys.executable, "-c", script, str(store.path)], timeout=60, capture_output=True)
    assert result.returncode == -9, result.stderr
    [settled] = store.disagreements("settled")
    assert settled["settlement"]["note"] == "до сигнала"


def test_a_settlement_waits_for_another_writer(store):
    """busy_timeout: a settlement made while another process holds the write lock waits, not fails."""
    store.add_label(1, "anna", "stop")
    store.add_label(1, "boris", "expanded")
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    store.settle(1, "Вера", "stop")
    assert time.monotonic() - started >= 0.4
    assert _ids(store.disagreements("settled")) == [1]
    other.close()


# --- the API ---------------------------------------------------------------------------------------

@pytest.fixture
def client(checker, tmp_path):
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db", data_dir=tmp_path), checker=checker)) as c:
        store = c.app.state.store
        store.import_csv(_pool(tmp_path))
        store.add_label(1, "Анна", "stop", note="просто НД")
        store.add_label(1, "Борис", "expanded", note="был разговор")
        store.add_label(2, "Анна", "outcome_only")
        store.add_label(2, "Борис", "outcome_only")
        store.add_label(3, "Анна", "subject_only")
        store.add_label(3, "Борис", "padding")
        yield c


def test_the_review_queue_over_http(client):
    queue = client.get("/v1/labelling/reviews").json()
    assert queue["state"] == "unsettled" and queue["total"] == 2 and queue["reason"] is None
    assert queue["counts"] == {"unsettled": 2, "settled": 0}
    first = queue["items"][0]
    assert first["comment_id"] == 1 and first["text"] == "НД" and first["stricter"] == "stop"
    assert [(x["annotator"], x["category"], x["note"]) for x in first["labels"]] == [
        ("Анна", "stop", "просто НД"), ("Борис", "expanded", "был разговор")]
    paged = client.get("/v1/labelling/reviews", params={"after": 1, "limit": 1}).json()
    assert [i["comment_id"] for i in paged["items"]] == [3] and paged["total"] == 2

    r = client.post("/v1/labelling/reviews/1", json={"reviewer": "Вера", "category": "stop", "note": "НД и всё"})
    assert r.status_code == 200
    assert {k: r.json()[k] for k in ("comment_id", "reviewer", "category", "label", "note")} == {
        "comment_id": 1, "reviewer": "Вера", "category": "stop", "label": 0, "note": "НД и всё"}
    left = client.get("/v1/labelling/reviews").json()
    assert [i["comment_id"] for i in left["items"]] == [3] and left["counts"] == {"unsettled": 1, "settled": 1}
    settled = client.get("/v1/labelling/reviews", params={"state": "settled"}).json()
    assert settled["items"][0]["settlement"]["reviewer"] == "Вера"
    assert client.post("/v1/labelling/reviews/3", json={"reviewer": "Вера", "category": "padding"}).status_code == 200
    done = client.get("/v1/labelling/reviews").json()
    assert done["items"] == [] and done["reason"] == "all_settled" and done["total"] == 0
    assert [i["comment_id"] for i in client.get("/v1/labelling/reviews", params={"state": "all"}).json()["items"]] \
        == [1, 3]


def test_no_disagreement_at_all_says_so(checker, tmp_path):
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db", data_dir=tmp_path), checker=checker)) as c:
        empty = c.get("/v1/labelling/reviews").json()
        assert empty["items"] == [] and empty["reason"] == "no_disagreements"


def _post(comment_id, body, **headers):
    return "post", f"/v1/labelling/reviews/{comment_id}", {
        "content": body if isinstance(body, str) else json.dumps(body),
        "headers": {"content-type": "application/json", **headers}}


GOOD = {"reviewer": "Вера", "category": "stop"}
ERROR_CASES = [
    ("unknown comment", _post(99, GOOD), 404, None, "no comment with id 99"),
    ("largest id, unknown", _post(2**63 - 1, GOOD), 404, None, "no comment with id"),
    ("no disagreement", _post(2, GOOD), 409, None, "comment 2 has no disagreement to settle"),
    ("unlabelled comment", _post(4, GOOD), 409, None, "no annotator has labelled it"),
    ("bad category", _post(1, {**GOOD, "category": "good"}), 422, "category", "category"),
    ("category of a wrong type", _post(1, {**GOOD, "category": 1}), 422, "category", "category"),
    ("empty reviewer", _post(1, {**GOOD, "reviewer": ""}), 422, "reviewer", "reviewer"),
    ("blank reviewer", _post(1, {**GOOD, "reviewer": "   "}), 422, "reviewer", "reviewer"),
    ("no reviewer", _post(1, {"category": "stop"}), 422, "reviewer", "reviewer"),
    ("reviewer of a wrong type", _post(1, {**GOOD, "reviewer": 7}), 422, "reviewer", "reviewer"),
    ("huge reviewer", _post(1, {**GOOD, "reviewer": "я" * 100_000}), 422, "reviewer", "reviewer"),
    ("huge note", _post(1, {**GOOD, "note": "я" * 100_000}), 422, "note", "note"),
    ("note of a wrong type", _post(1, {**GOOD, "note": ["a"]}), 422, "note", "note"),
    ("lone surrogate in the reviewer", _post(1, '{"reviewer": "\\ud800", "category": "stop"}'), 422, "reviewer",
     "reviewer"),
    ("lone surrogate in the note", _post(1, '{"reviewer": "Вера", "category": "stop", "note": "\\udfff"}'), 422,
     "note", "note"),
    ("unknown field", _post(1, {**GOOD, "label": 1}), 422, "label", "label"),
    ("not an object", _post(1, "[1, 2]"), 422, "body", "body"),
    ("malformed JSON", _post(1, '{"reviewer": '), 400, None, "malformed JSON"),
    ("not JSON", _post(1, "reviewer=Вера", **{"content-type": "text/plain"}), 415, None, "application/json"),
    ("zero id", _post(0, GOOD), 422, "path.comment_id", "comment_id"),
    ("huge id", _post(2**63, GOOD), 422, "path.comment_id", "comment_id"),
    ("id not a number", _post("x", GOOD), 422, "path.comment_id", "comment_id"),
    ("bad state", ("get", "/v1/labelling/reviews?state=open", {}), 422, "query.state", "state"),
    ("bad limit", ("get", "/v1/labelling/reviews?limit=0", {}), 422, "query.limit", "limit"),
    ("huge after", ("get", f"/v1/labelling/reviews?after={2**63}", {}), 422, "query.after", "after"),
]


@pytest.mark.parametrize("case,request_,status,field,says", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_settlements_are_refused_and_change_nothing(client, case, request_, status, field, says):
    store = client.app.state.store
    method, path, kwargs = request_
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]
    if field:
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert store.db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 0


def test_the_routes_are_documented(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/labelling/reviews/{comment_id}"]["post"]
    assert {"200", "404", "409", "415", "422"} <= set(post["responses"])
    get = spec["paths"]["/v1/labelling/reviews"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReviewsOut")


# --- the command -----------------------------------------------------------------------------------

def test_agreement_lists_the_unsettled_disagreements(tmp_path, capsys):
    db = tmp_path / "labels.sqlite3"
    store = Store(db)
    long_text = "Клиент думает.\nГоворит, что " + "очень " * 40 + "дорого"
    store.import_csv(_pool(tmp_path, ["НД", "Отказ, дорого", long_text, "четвёртый"]))
    for comment_id, anna, boris in ((1, "stop", "expanded"), (2, "outcome_only", "expanded"),
                                    (3, "subject_only", "padding"), (4, "stop", "stop")):
        store.add_label(comment_id, "anna", anna)
        store.add_label(comment_id, "boris", boris)
    store.settle(2, "Вера", "outcome_only", "по прецеденту")
    store.close()

    assert main(["--store", str(db), "agreement"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "disagreements: 3 (2 unsettled, 1 settled by a reviewer)" in out
    assert any(line.startswith("unsettled: 2 (") for line in out)
    assert "  #1 anna=stop, boris=expanded → stricter: stop: НД" in out
    [third] = [line for line in out if line.startswith("  #3 ")]
    assert third.startswith("  #3 anna=subject_only, boris=padding → stricter: padding: Клиент думает. Говорит")
    assert third.endswith("…") and "\n" not in third
    assert not any("#2" in line for line in out), "settled ones are not listed unless asked for"

    assert main(["--store", str(db), "agreement", "--settled", "--limit", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "unsettled: 2, the first 1 (exported with the stricter reading until a reviewer settles them on /label)" \
        in out
    assert "  … 1 more (--limit 0 lists them all)" in out and not any(line.startswith("  #3") for line in out)
    assert "settled: 1" in out
    assert "  #2 anna=outcome_only, boris=expanded → outcome_only by Вера (по прецеденту): Отказ, дорого" in out

    assert main(["--store", str(db), "agreement", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["comment_id"] for d in report["unsettled"]] == [1, 3]
    assert [d["settlement"]["category"] for d in report["settled"]] == ["outcome_only"]
    assert len(report["disagreements"]) == 3


def test_agreement_with_no_disagreement_and_a_bad_limit(tmp_path, capsys):
    db = str(tmp_path / "labels.sqlite3")
    assert main(["--store", db, "agreement"]) == 0
    out = capsys.readouterr().out
    assert "disagreements: 0 (0 unsettled, 0 settled by a reviewer)" in out and "unsettled:" not in out
    with pytest.raises(SystemExit) as exit_:
        main(["--store", db, "agreement", "--limit", "-1"])
    assert exit_.value.code == 2
    assert "--limit: expected a number from 0" in capsys.readouterr().err
