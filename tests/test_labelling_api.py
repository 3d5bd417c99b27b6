"""The labelling routes refuse ids that name no comment (404) or cannot be one (422), and change nothing."""

import csv

import pytest
from fastapi.testclient import TestClient

from classifier.service.app import create_app
from classifier.service.settings import Settings

HUGE = 2**63  # one past SQLite's largest integer


@pytest.fixture(scope="module")
def client(checker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("labelling")
    pool = tmp / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], ["НД"], ["Отказ, дорого"]])
    with TestClient(create_app(Settings(store_path=tmp / "l.db"), checker=checker)) as c:
        store = c.app.state.store
        store.import_csv(pool)
        store.add_label(1, "anna", "stop")
        yield c


def _contents(client):
    store = client.app.state.store
    return store.pool_size(), [tuple(r) for i in (1, 2) for r in store.history(i)]


def _label(comment_id):
    return "post", "/v1/labelling/labels", {"json": {"comment_id": comment_id, "annotator": "anna",
                                                     "category": "stop"}}


def _skip(comment_id):
    return "post", "/v1/labelling/skip", {"json": {"comment_id": comment_id, "annotator": "anna"}}


def _undo(comment_id):
    return "post", "/v1/labelling/undo", {"json": {"comment_id": comment_id, "annotator": "anna"}}


def _card(comment_id):
    return "get", f"/v1/labelling/comments/{comment_id}", {}


CASES = [
    ("label unknown id", _label(99), 404, "no comment with id 99"),
    ("skip unknown id", _skip(99), 404, "no comment with id 99"),
    ("card unknown id", _card(99), 404, "no comment with id 99"),
    ("label huge id", _label(HUGE), 422, "comment_id"),
    ("skip huge id", _skip(HUGE), 422, "comment_id"),
    ("undo huge id", _undo(HUGE), 422, "comment_id"),
    ("card huge id", _card(HUGE), 422, "comment_id"),
    ("label negative id", _label(-1), 422, "comment_id"),
    ("skip zero id", _skip(0), 422, "comment_id"),
    ("undo negative id", _undo(-5), 422, "comment_id"),
    ("card negative id", _card(-1), 422, "comment_id"),
    ("label boolean id", _label(True), 422, "comment_id"),
    ("skip id as text", _skip("1"), 422, "comment_id"),
    ("undo boolean id", _undo(True), 422, "comment_id"),
    ("skip no id", ("post", "/v1/labelling/skip", {"json": {"annotator": "anna"}}), 422, "comment_id"),
]


@pytest.mark.parametrize("case,request_,status,says", CASES, ids=[c[0] for c in CASES])
def test_bad_ids_are_refused_and_change_nothing(client, case, request_, status, says):
    before = _contents(client)
    method, path, kwargs = request_
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status
    assert says in r.json()["detail"]
    assert _contents(client) == before


def test_the_largest_id_is_valid_and_simply_unknown(client):
    r = client.post("/v1/labelling/skip", json={"comment_id": HUGE - 1, "annotator": "anna"})
    assert r.status_code == 404 and r.json()["detail"] == f"no comment with id {HUGE - 1}"


def test_good_ids_still_work(client):
    assert client.get("/v1/labelling/comments/2").status_code == 200
    assert client.post("/v1/labelling/skip", json={"comment_id": 2, "annotator": "boris"}).json() == {"skipped": 2}


def test_the_queue_never_offers_a_comment_labelled_in_data(checker, tmp_path):
    """A pool that repeats comments of data/ (as ../shared/real/comments.csv does) offers only the new ones."""
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "train.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label", "category"], ["НД", 0, "stop"],
                                 ["Отказ, дорого", 0, "outcome_only"]])
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], ["нд"], ["Отказ, дорого!"], ["Новый комментарий о цене"]])
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db", data_dir=data), checker=checker)) as c:
        from classifier.training.dataset import labelled_keys
        report = c.app.state.store.import_csv(pool, labelled_keys(data))
        assert (report.added, report.in_data) == (3, 1), "«Отказ, дорого!» differs by punctuation: not the same text"
        offered = set()
        for mode in ("uncertain", "random"):
            for _ in range(5):
                item = c.get("/v1/labelling/next", params={"annotator": "anna", "mode": mode}).json()
                offered.add(item.get("text"))
        assert "нд" not in offered and offered <= {"Отказ, дорого!", "Новый комментарий о цене"}


def test_an_empty_queue_says_why(checker, tmp_path):
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db", data_dir=tmp_path), checker=checker)) as c:
        empty = c.get("/v1/labelling/next", params={"annotator": "anna"}).json()
        assert empty["done"] and empty["reason"] == "pool_empty"
        pool = tmp_path / "pool.csv"
        with open(pool, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["text"], ["Комментарий"]])
        c.app.state.store.import_csv(pool)
        item = c.get("/v1/labelling/next", params={"annotator": "anna"}).json()
        c.post("/v1/labelling/labels", json={"comment_id": item["comment_id"], "annotator": "anna", "category": "stop"})
        done = c.get("/v1/labelling/next", params={"annotator": "anna"}).json()
        assert done["reason"] == "all_seen" and done["pool"] == {"pool": 1, "in_data": 0}
        assert c.get("/v1/labelling/next", params={"annotator": "anna", "mode": "overlap"}).json()["reason"] \
            == "no_overlap"
        assert c.get("/v1/labelling/next", params={"annotator": " "}).status_code == 422


def test_annotator_names_compare_case_insensitively(checker, tmp_path):
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], ["Первый"], ["Второй"]])
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db", data_dir=tmp_path), checker=checker)) as c:
        c.app.state.store.import_csv(pool)
        c.post("/v1/labelling/labels", json={"comment_id": 1, "annotator": "Анна", "category": "stop"})
        nxt = c.get("/v1/labelling/next", params={"annotator": "анна", "mode": "random"}).json()
        assert nxt["comment_id"] == 2, "«анна» is «Анна»: comment 1 is hers already"
        assert c.get("/v1/labelling/stats", params={"annotator": "АННА"}).json()["labelled_total"] == 1
        assert {r["annotator"] for r in c.app.state.store.current_labels()} == {"Анна"}
