import inspect

import pytest
from fastapi.testclient import TestClient

from classifier.service.app import create_app
from classifier.service.settings import Settings

EXPANDED = "Клиент берёт 200 лотков DN300 по 1 450 руб, скидка 5% за объём, договор подпишут до пятницы"


@pytest.fixture(scope="module")
def client(checker, tmp_path_factory):
    settings = Settings(batch_limit=5, max_text_length=200, store_path=tmp_path_factory.mktemp("var") / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        yield c


def test_score_stop(client):
    r = client.post("/v1/comments/score", json={"text": "НД"})
    assert r.status_code == 200
    body = r.json()
    assert body["expanded"] is False and body["category"] == "stop" and body["rule"] == "no_answer"
    assert body["missing"] == ["subject", "outcome"] and body["hints"]
    assert "explain" not in body


def test_score_expanded_with_explain(client):
    r = client.post("/v1/comments/score?explain=true", json={"text": "НД утром, вечером дозвонилась: " + EXPANDED})
    assert r.status_code == 200
    body = r.json()
    assert body["expanded"] is True and body["missing"] == [] and body["hints"] == []
    hits = body["explain"]["rule_hits"]
    assert hits[0]["phrase"] == "НД" and (hits[0]["start"], hits[0]["end"]) == (0, 2)
    assert body["explain"]["lemmas"][0] == "недозвон"
    assert body["explain"]["threshold"] == client.get("/v1/model").json()["threshold_in_use"]
    assert body["score"] >= body["explain"]["threshold"]


def test_batch_keeps_order_and_ids(client):
    comments = [{"id": "a", "text": "недозвон"}, {"id": "b", "text": EXPANDED}, {"id": "c", "text": "думает"}]
    r = client.post("/v1/comments/score-batch", json={"comments": comments})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["a", "b", "c"]
    assert [x["expanded"] for x in results] == [False, True, False]


BAD = [
    ("empty text", {"json": {"text": ""}}, 422, "text"),
    ("whitespace text", {"json": {"text": "   \n\t"}}, 422, "text"),
    ("missing text", {"json": {}}, 422, "text"),
    ("text not a string", {"json": {"text": 42}}, 422, "text"),
    ("unknown field", {"json": {"text": "НД", "txt": 1}}, 422, "txt"),
    ("too long", {"json": {"text": "а" * 201}}, 413, "limit is 200"),
    ("malformed JSON", {"content": '{"text": "НД"'.encode(), "headers": {"content-type": "application/json"}},
     400, "JSON"),
    ("invalid UTF-8", {"content": b'{"text": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
     400, "UTF-8"),
    ("wrong content type", {"content": "text=НД".encode(), "headers": {"content-type": "text/plain"}}, 415,
     "application/json"),
    ("no content type", {"content": b'{"text": "x"}', "headers": {"content-type": ""}}, 415, "application/json"),
    ("JSON array", {"json": ["НД"]}, 422, "body"),
]


@pytest.mark.parametrize("case,kwargs,status,says", BAD, ids=[b[0] for b in BAD])
def test_bad_single_input(client, case, kwargs, status, says):
    r = client.post("/v1/comments/score", **kwargs)
    assert r.status_code == status
    body = r.json()
    assert says in body["detail"] + " ".join(e["field"] for e in body["errors"])


BAD_BATCH = [
    ("over the limit", [{"id": str(i), "text": "НД"} for i in range(6)], 413, "limit is 5"),
    ("duplicate ids", [{"id": "1", "text": "НД"}, {"id": "1", "text": "ок"}], 422, "duplicate id"),
    ("empty list", [], 422, "comments"),
    ("empty text in item", [{"id": "1", "text": " "}], 422, "comments.0.text"),
    ("missing id", [{"text": "НД"}], 422, "comments.0.id"),
    ("long text in item", [{"id": "1", "text": "НД"}, {"id": "2", "text": "б" * 300}], 413, "comments.1.text"),
]


@pytest.mark.parametrize("case,comments,status,says", BAD_BATCH, ids=[b[0] for b in BAD_BATCH])
def test_bad_batch_input(client, case, comments, status, says):
    r = client.post("/v1/comments/score-batch", json={"comments": comments})
    assert r.status_code == status
    assert says in r.json()["detail"]


def test_service_endpoints(client, checker):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["model_version"] == checker.model_version
    card = client.get("/v1/model").json()
    assert card["version"] == checker.model_version and "metrics" in card and "data_hash" in card


def test_metrics_count_requests_and_verdicts(client):
    client.post("/v1/comments/score", json={"text": "сбросил"})
    text = client.get("/metrics").text
    assert 'crmqc_verdicts_total{category="stop"}' in text
    assert 'crmqc_requests_total{method="POST",path="/v1/comments/score",status="200"}' in text


def test_page_is_served_in_russian(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "Проверка комментария" in r.text
    assert client.get("/static/app.js").status_code == 200


def test_openapi_has_russian_examples(client):
    spec = client.get("/openapi.json").json()
    assert "НД" in str(spec["components"]["schemas"]["CommentIn"])


def test_api_keys(checker, tmp_path):
    with TestClient(create_app(Settings(api_keys=["secret"], store_path=tmp_path / "l.db"), checker=checker)) as c:
        assert c.post("/v1/comments/score", json={"text": "НД"}).status_code == 401
        assert c.post("/v1/comments/score", json={"text": "НД"}, headers={"X-API-Key": "wrong"}).status_code == 401
        ok = c.post("/v1/comments/score", json={"text": "НД"}, headers={"X-API-Key": "secret"})
        assert ok.status_code == 200
        assert c.get("/healthz").status_code == 200, "health checks need no key"


def _dependency_calls(dependant):
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


def _route(app, path):
    """The route serving ``path``, also inside an included router."""
    for r in app.routes:
        for candidate in [r, *getattr(getattr(r, "original_router", None), "routes", [])]:
            if getattr(candidate, "path", None) == path:
                return candidate
    raise LookupError(path)


def test_the_score_route_has_only_async_dependencies(client):
    route = _route(client.app, "/v1/comments/score")
    calls = list(_dependency_calls(route.dependant))
    assert {c.__name__ for c in calls} >= {"require_json", "_settings", "_checker"}
    sync = [c.__name__ for c in calls if not inspect.iscoroutinefunction(c)]
    assert not sync, f"sync dependencies run in the thread pool: {sync}"


@pytest.mark.parametrize("text,where", [("НД", "event loop"), ("Обсудили цену. " * 80, "worker thread")],
                         ids=["short: inline", "long: thread pool"])
def test_only_short_comments_are_scored_on_the_event_loop(checker, tmp_path, monkeypatch, text, where):
    """A long comment must not hold the loop that serves every other request; a short one costs less
    than the hop to the thread pool."""
    import asyncio

    from classifier.service.routes.comments import INLINE_CHARS
    assert (len(text) <= INLINE_CHARS) == (where == "event loop")
    real, seen = type(checker).classify, []

    def spy(self, text, explain=False, evidence=False):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return real(self, text, explain, evidence)

    monkeypatch.setattr(type(checker), "classify", spy)
    with TestClient(create_app(Settings(store_path=tmp_path / "l.db"), checker=checker)) as c:
        r = c.post("/v1/comments/score", params={"explain": True}, json={"text": text})
    assert r.status_code == 200 and seen == [where]


def test_the_limit_holds_after_unicode_normalisation(client):
    """«ﷺ» is one character as sent and 18 after NFKC: the work a request costs is bounded by the latter."""
    r = client.post("/v1/comments/score", json={"text": "\ufdfa" * 20})
    assert r.status_code == 413
    assert "after Unicode normalisation" in r.json()["detail"] and r.json()["errors"][0]["field"] == "text"
    batch = client.post("/v1/comments/score-batch", json={"comments": [{"id": "1", "text": "\ufdfa" * 20}]})
    assert batch.status_code == 413 and batch.json()["errors"][0]["field"] == "comments.0.text"


def test_a_batch_is_bounded_in_characters_too(checker, tmp_path):
    settings = Settings(batch_max_chars=300, store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        ok = c.post("/v1/comments/score-batch", json={"comments": [{"id": str(i), "text": "а" * 100}
                                                                   for i in range(3)]})
        over = c.post("/v1/comments/score-batch", json={"comments": [{"id": str(i), "text": "а" * 100}
                                                                     for i in range(4)]})
    assert ok.status_code == 200
    assert over.status_code == 413 and "400 characters" in over.json()["detail"]
    assert over.json()["errors"][0]["field"] == "comments"


def test_a_non_ascii_key_header_is_a_401_not_a_500(checker, tmp_path):
    settings = Settings(api_keys=["secret"], admin_keys=["adm"], store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        r = c.post("/v1/comments/score", json={"text": "НД"}, headers={"X-API-Key": "секрет".encode()})
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
        r = c.post("/v1/admin/reload", headers={"X-Admin-Key": "ключ".encode()})
        assert r.status_code == 401


@pytest.mark.parametrize("field", ["api_keys", "admin_keys"])
def test_a_key_no_client_could_send_is_refused_at_start_up(field, tmp_path):
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="printable ASCII"):
        Settings(**{field: ["ключ"]}, store_path=tmp_path / "l.db")


def test_an_over_limit_body_is_refused_before_it_is_read(checker, tmp_path):
    settings = Settings(max_body_bytes=2048, store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        big = '{"text": "' + "а" * 3000 + '"}'
        r = c.post("/v1/comments/score", content=big.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "CRMQC_MAX_BODY_BYTES" in r.json()["detail"]

        def chunks():  # no Content-Length: counted while it streams
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/v1/comments/score", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.post("/v1/comments/score", json={"text": "НД"}).status_code == 200


def test_a_wrong_key_is_refused_before_the_body_is_read(checker, tmp_path):
    settings = Settings(api_keys=["secret"], max_body_bytes=2048, store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        r = c.post("/v1/comments/score", content=b"{" * 4096, headers={"content-type": "application/json"})
        assert r.status_code == 401, "the key is checked first, whatever the body"
        ok = c.post("/v1/comments/score", json={"text": "НД"}, headers={"X-API-Key": "secret"})
        assert ok.status_code == 200
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize("public", [False, True])
def test_metrics_and_docs_follow_the_keys_unless_made_public(checker, tmp_path, public):
    settings = Settings(api_keys=["secret"], public_meta=public, store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert c.get(path).status_code == (200 if public else 401), path
            assert c.get(path, headers={"X-API-Key": "secret"}).status_code == 200, path
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_batch_ids_may_be_integers_and_come_back_as_given(client):
    r = client.post("/v1/comments/score-batch", json={"comments": [{"id": 17, "text": "НД"},
                                                                   {"id": "17", "text": EXPANDED}]})
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [17, "17"]
    dup = client.post("/v1/comments/score-batch", json={"comments": [{"id": 5, "text": "НД"}, {"id": 5, "text": "НД"}]})
    assert dup.status_code == 422 and dup.json()["errors"][0]["field"] == "comments.1.id"
    for bad in (1.5, True, None, [], 2**64):
        r = client.post("/v1/comments/score-batch", json={"comments": [{"id": bad, "text": "НД"}]})
        assert r.status_code == 422, bad
    # JSON has one kind of number: 17.0 is the integer 17 (as its schema says), and comes back as 17
    whole = client.post("/v1/comments/score-batch", json={"comments": [{"id": 17.0, "text": "НД"}]})
    assert whole.status_code == 200 and whole.json()["results"][0]["id"] == 17


def test_a_batch_item_has_the_documented_shape_of_a_verdict(client):
    """`rule` is required (null when no rule decided), in a batch as in /score."""
    r = client.post("/v1/comments/score-batch?evidence=true", json={"comments": [{"id": "1", "text": EXPANDED}]})
    single = client.post("/v1/comments/score", json={"text": EXPANDED}).json()
    item = r.json()["results"][0]
    assert "rule" in item and item["rule"] is None and single["rule"] is None
    assert {k: v for k, v in item.items() if k != "id"} == single


def test_a_wrong_method_is_a_405_saying_which_methods_there_are(client):
    r = client.get("/v1/comments/score")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json() == {"detail": "Method Not Allowed", "errors": []}


def test_every_verdict_carries_its_evidence(client):
    text = "Клиент берёт 200 лотков DN300 по 1 450 руб, скидка 5% за объём, договор подпишут до пятницы"
    body = client.post("/v1/comments/score", json={"text": text}).json()
    ev = body["evidence"]
    assert ev["subject"] and ev["outcome"]
    for span in ev["subject"] + ev["outcome"]:
        assert text[span["start"]:span["end"]] == span["text"]
    assert "пятницы" in " ".join(s["text"] for s in ev["outcome"])
    stop = client.post("/v1/comments/score", json={"text": "НД"}).json()
    assert stop["evidence"] == {"subject": [], "outcome": []}, "nothing found, nothing to show"
    half = client.post("/v1/comments/score", json={"text": "Перезвонить 14.03 в 11:00"}).json()
    for fact in ("subject", "outcome"):
        assert bool(half["evidence"][fact]) == (fact not in half["missing"]), "evidence never contradicts missing"
    batch = client.post("/v1/comments/score-batch", params={"evidence": True},
                        json={"comments": [{"id": "1", "text": text}]}).json()
    assert batch["results"][0]["evidence"] == ev
    plain = client.post("/v1/comments/score-batch", json={"comments": [{"id": "1", "text": text}]}).json()
    assert "evidence" not in plain["results"][0]


def test_clauses_index_the_submitted_text():
    from classifier.text.clauses import clause_spans
    text = "НД утром / вечером дозвонилась: берет MBA, рассрочка 12 мес. договор до пт"
    assert [text[a:b] for a, b in clause_spans(text)] == [
        "НД утром", "вечером дозвонилась: берет MBA", "рассрочка 12 мес", "договор до пт"]
    assert clause_spans("12.03 / 15:00") == [] and clause_spans("") == []
    assert [t[a:b] for t in ["созвон 12.03 в 15.30. ок"] for a, b in clause_spans(t)] == ["созвон 12.03 в 15.30", "ок"]


def test_a_cors_preflight_needs_no_key(checker, tmp_path):
    """A browser's preflight carries no X-API-Key; the key is checked on the call that follows."""
    settings = Settings(api_keys=["secret"], cors_origins=["http://crm.example"], store_path=tmp_path / "l.db")
    with TestClient(create_app(settings, checker=checker)) as c:
        r = c.options("/v1/comments/score", headers={"Origin": "http://crm.example",
                                                     "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "content-type,x-api-key"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://crm.example"
        assert c.post("/v1/comments/score", json={"text": "НД"}).status_code == 401
