"""The CRM endpoints over HTTP with the real model as the judge; malformed input is a 422 naming the field."""

import copy
import json
import os

import pytest
from fastapi.testclient import TestClient

from classifier.service.app import create_app
from classifier.service.crm_schemas import DEAL_EXAMPLE
from classifier.service.settings import Settings
from tests.crm_fixtures import call, comment, deal_json, email, product_rows

EXPANDED = "Клиент берёт 200 лотков DN300 по 1 450 руб, скидка 5% за объём, договор подпишут до пятницы"


def _isolated_settings(mp: pytest.MonkeyPatch, var, **changes) -> Settings:
    """Settings that neither the environment nor the real var/ and models/CURRENT can reach."""
    for key in list(os.environ):
        if key.upper().startswith("CRMQC_"):
            mp.delenv(key)
    return Settings(store_path=var / "labels.sqlite3", watch_current=False, **changes)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    return lambda **changes: _isolated_settings(monkeypatch, tmp_path, **changes)


@pytest.fixture(scope="module")
def client(checker, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        app = create_app(_isolated_settings(mp, tmp_path_factory.mktemp("var")), checker=checker)
        with TestClient(app) as c:
            yield c


def test_the_settings_ignore_the_environment_and_the_real_var(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMQC_API_KEYS", "from-the-environment")
    monkeypatch.setenv("CRMQC_STORE_PATH", "/nonexistent/labels.sqlite3")
    made = settings(batch_limit=7)
    assert made.api_keys == [] and made.batch_limit == 7
    assert made.store_path.parent == tmp_path and made.watch_current is False


def test_the_module_client_is_isolated(client, tmp_path_factory):
    used = client.app.state.settings
    assert used.store_path.is_relative_to(tmp_path_factory.getbasetemp()) and used.watch_current is False


def test_evaluate_the_documented_example(client):
    r = client.post("/v1/deals/evaluate", json=DEAL_EXAMPLE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["deal_id"], body["status"], body["correct"], body["violations"]) == ("410", "open", True, [])
    assert (body["active"], body["active_until"], body["days_left"]) == (True, "2026-12-05", 15)
    assert body["last_touch"] == {"activity_id": "9001", "kind": "call", "at": "2026-10-05T11:00:00+03:00",
                                  "comment_id": "501", "comment_verdict": "expanded"}
    assert body["touches"][0]["counted"] is True and body["touches"][0]["duration"] == 250


def test_evaluate_a_deal_with_a_stop_comment_only(client):
    r = client.post("/v1/deals/evaluate", json={
        "deal": deal_json(), "product_rows": product_rows(), "now": "2026-11-20T12:00:00+03:00",
        "activities": [call("1", "2026-11-10T11:00:00", 250)],
        "comments": [comment("5", "2026-11-10T11:10:00", "НД")]})
    assert r.status_code == 200
    body = r.json()
    assert [v["code"] for v in body["violations"]] == ["no_expanded_comment"]
    assert body["active"] is False and body["active_until"] is None
    assert body["touches"][0]["why_not"] == "comment_not_expanded" and body["touches"][0]["comment_verdict"] == "stop"


def test_the_rest_envelope_and_empty_php_arrays_are_accepted(client):
    body = copy.deepcopy(DEAL_EXAMPLE)
    body["deal"] = {"result": body["deal"], "time": {"start": 1763630000.1, "duration": 0.2}}
    body["contacts"] = {"result": body["contacts"]}
    body["chat_history"] = []
    body["call_stats"] = {}
    r = client.post("/v1/deals/evaluate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True


def test_deal_duplicates(client):
    rows = [deal_json(ID="1"), deal_json(ID="2", ASSIGNED_BY_ID="9"), deal_json(ID="3", UF_CRM_PRODUCT_GROUP="46")]
    r = client.post("/v1/deals/duplicates", json={"deals": rows})
    assert r.status_code == 200
    assert r.json() == {"groups": [{"contact_id": "201", "product_group": "45", "deal_ids": ["1", "2"]}]}


def test_lead_conversion(client):
    owner = {"owner": ("1", "11")}
    lead = {"ID": "11", "TITLE": "Заявка", "STATUS_ID": "IN_PROCESS", "ASSIGNED_BY_ID": "7"}
    allowed = client.post("/v1/leads/conversion-check", json={
        "lead": lead, "activities": [call("1", "2026-11-10T11:00:00", 120, **owner)],
        "comments": [comment("5", "2026-11-10T11:05:00", EXPANDED, "lead", "11")]})
    assert allowed.status_code == 200
    assert allowed.json()["allowed"] is True and allowed.json()["reasons"] == []
    unanswered = client.post("/v1/leads/conversion-check", json={
        "lead": lead, "activities": [email("1", "2026-11-10T11:00:00", "2", **owner)],
        "comments": [comment("5", "2026-11-10T11:05:00", EXPANDED, "lead", "11")]})
    assert unanswered.status_code == 200
    assert unanswered.json()["allowed"] is False and unanswered.json()["reasons"][0]["code"] == "no_touch"


def test_contact_check(client):
    contact = {"ID": "201", "NAME": "Пётр", "LAST_NAME": "Иванов", "SECOND_NAME": "Сергеевич",
               "BIRTHDATE": "1985-03-14T00:00:00+03:00",
               "PHONE": [{"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": "8 (916) 123-45-67", "TYPE_ID": "PHONE"}],
               "EMAIL": [{"ID": "2", "VALUE_TYPE": "WORK", "VALUE": "o.smirnova@example-bank.ru", "TYPE_ID": "EMAIL"}]}
    r = client.post("/v1/contacts/check", json={"contact": contact, "corporate_domains": ["example-bank.ru"]})
    assert r.status_code == 200
    body = r.json()
    assert body["contact_id"] == "201" and body["valid"] is False
    assert [v["code"] for v in body["violations"]] == ["no_private_email", "employee_email"]


def test_contact_duplicates(client):
    def contact(id, value, birth=""):
        return {"ID": id, "NAME": "Пётр", "LAST_NAME": "Иванов", "BIRTHDATE": birth,
                "PHONE": [{"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": value, "TYPE_ID": "PHONE"}]}
    r = client.post("/v1/contacts/duplicates", json={"contacts": [
        contact("1", "8 (916) 123-45-67"), contact("2", "+79161234567"), contact("3", "+79039990011")]})
    assert r.status_code == 200
    assert r.json() == {"groups": [{"contact_ids": ["1", "2"], "matched_on": ["full_name", "phone"]}]}


def _deal_body(**changes):
    body = copy.deepcopy(DEAL_EXAMPLE)
    body.update(changes)
    return body


BAD = [
    ("deal not an object", "/v1/deals/evaluate", _deal_body(deal=["x"]), "deal"),
    ("deal without ID", "/v1/deals/evaluate", _deal_body(deal={"TITLE": "x"}), "deal.ID"),
    ("sum in words", "/v1/deals/evaluate", _deal_body(deal={**DEAL_EXAMPLE["deal"], "OPPORTUNITY": "много"}),
     "deal.OPPORTUNITY"),
    ("bad DATE_CREATE", "/v1/deals/evaluate", _deal_body(deal={**DEAL_EXAMPLE["deal"], "DATE_CREATE": "вчера"}),
     "deal.DATE_CREATE"),
    ("product rows missing", "/v1/deals/evaluate", {k: v for k, v in DEAL_EXAMPLE.items() if k != "product_rows"},
     "product_rows"),
    ("a price in words", "/v1/deals/evaluate", _deal_body(product_rows=[{"PRICE": "дорого", "QUANTITY": 1}]),
     "product_rows.0.PRICE"),
    ("an activity not an object", "/v1/deals/evaluate", _deal_body(activities=["call"]), "activities.0"),
    ("bad START_TIME", "/v1/deals/evaluate",
     _deal_body(activities=[{**DEAL_EXAMPLE["activities"][0], "START_TIME": "05.10.2026 11:00"}]),
     "activities.0.START_TIME"),
    ("bad contact item", "/v1/deals/evaluate", _deal_body(contacts=[{"CONTACT_ID": {"id": 1}}]),
     "contacts.0.CONTACT_ID"),
    ("comments a single record", "/v1/deals/evaluate", _deal_body(comments=DEAL_EXAMPLE["comments"][0]), "comments"),
    ("bad chat message date", "/v1/deals/evaluate",
     _deal_body(chat_history={"7002": {"message": {"1": {"senderid": 1, "date": "x"}}}}),
     "chat_history.7002.message.0.date"),
    ("bad now", "/v1/deals/evaluate", _deal_body(now="tomorrow"), "now"),
    ("now out of range", "/v1/deals/evaluate", _deal_body(now="9999-12-31T23:59:59+00:00"), "now"),
    ("unknown field", "/v1/deals/evaluate", _deal_body(dael={}), "dael"),
    ("deals not a list", "/v1/deals/duplicates", {"deals": "410"}, "deals"),
    ("a deal without ID", "/v1/deals/duplicates", {"deals": [{"ID": "1"}, {"TITLE": "x"}]}, "deals.1.ID"),
    ("lead without ID", "/v1/leads/conversion-check", {"lead": {"TITLE": "x"}}, "lead.ID"),
    ("lead missing", "/v1/leads/conversion-check", {"activities": []}, "lead"),
    ("bad birthdate", "/v1/contacts/check", {"contact": {"ID": "1", "BIRTHDATE": "31.02.1990"}}, "contact.BIRTHDATE"),
    ("e-mails not strings", "/v1/contacts/check", {"contact": {"ID": "1"}, "employee_emails": [{"a": 1}]},
     "employee_emails.0"),
    ("PHONE a string", "/v1/contacts/duplicates", {"contacts": [{"ID": "1"}, {"ID": "2", "PHONE": "+79161234567"}]},
     "contacts.1.PHONE"),
]


@pytest.mark.parametrize("case,path,body,field", BAD, ids=[b[0] for b in BAD])
def test_malformed_input_is_422_naming_the_field(client, case, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    payload = r.json()
    assert field in [e["field"] for e in payload["errors"]] or payload["detail"].startswith(field)


def test_crm_routes_need_the_api_key(checker, settings):
    with TestClient(create_app(settings(api_keys=["secret"]), checker=checker)) as c:
        assert c.post("/v1/contacts/check", json={"contact": {"ID": "1"}}).status_code == 401
        ok = c.post("/v1/contacts/check", json={"contact": {"ID": "1"}}, headers={"X-API-Key": "secret"})
        assert ok.status_code == 200


def test_crm_routes_need_json(client):
    r = client.post("/v1/contacts/check", content=b"contact=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_openapi_lists_the_crm_routes_with_examples(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/deals/evaluate", "/v1/deals/duplicates", "/v1/leads/conversion-check", "/v1/contacts/check",
            "/v1/contacts/duplicates"} <= set(spec["paths"])
    assert "UF_CRM_PRODUCT_GROUP" in str(spec["components"]["schemas"]["DealEvaluateIn"])


JUNK = [None, "", [], {}, "x", 1e300, 10**20, True, [{"a": 1}], {"result": 5}, "9999-12-31T23:59:59+00:00"]
FIELDS = [("deal", "DATE_CREATE"), ("deal", "OPPORTUNITY"), ("deal", "UF_CRM_PRODUCT_GROUP"), ("deal", "CONTACT_ID"),
          ("deal", "STAGE_SEMANTIC_ID"), ("activities", "START_TIME"), ("activities", "SETTINGS"),
          ("activities", "DIRECTION"), ("activities", "DESCRIPTION"), ("comments", "CREATED"), ("comments", "COMMENT"),
          ("product_rows", "QUANTITY")]


def test_junk_in_any_field_is_200_or_422_never_500(checker, settings):
    with TestClient(create_app(settings(), checker=checker), raise_server_exceptions=False) as c:
        for (part, key), junk in [(f, j) for f in FIELDS for j in JUNK]:
            body = copy.deepcopy(DEAL_EXAMPLE)
            record = body[part] if part == "deal" else body[part][0]
            record[key] = junk
            r = c.post("/v1/deals/evaluate", json=body)
            assert r.status_code in (200, 422), (part, key, junk, r.text)


SURROGATE_CASES = [
    ("/v1/deals/evaluate", lambda: dict(copy.deepcopy(DEAL_EXAMPLE), deal=dict(DEAL_EXAMPLE["deal"], ID="SURR")),
     "deal.ID"),
    ("/v1/contacts/check", lambda: {"contact": {"ID": "1", "NAME": "SURR"}}, "contact.NAME"),
    ("/v1/contacts/duplicates", lambda: {"contacts": [{"ID": "SURR", "NAME": "a"}]}, "contacts.0.ID"),
    ("/v1/leads/conversion-check", lambda: {"lead": {"ID": "SURR", "STATUS_ID": "CONVERTED"}}, "lead.ID"),
]


@pytest.mark.parametrize("path,body,field", SURROGATE_CASES, ids=[c[0] for c in SURROGATE_CASES])
def test_a_lone_surrogate_anywhere_is_a_422_naming_the_field(client, path, body, field):
    raw = json.dumps(body()).replace("SURR", "\\ud800")
    r = client.post(path, content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert "surrogate" in r.json()["detail"]


@pytest.mark.parametrize("now", [0, "0", 1732000000, "20.11.2026"])
def test_now_must_be_an_iso_datetime(client, now):
    r = client.post("/v1/deals/evaluate", json=dict(copy.deepcopy(DEAL_EXAMPLE), now=now))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "now"


# --- other_comments: a comment pasted from another deal of the manager does not count ----------------------

PASTED_FROM = {"deal_id": "999", "comment_id": 77, "created": "2026-10-01T09:00:00+03:00",
               "text": "[B]" + DEAL_EXAMPLE["comments"][0]["COMMENT"] + "[/B]"}


def test_a_comment_pasted_from_another_deal_does_not_count(client):
    r = client.post("/v1/deals/evaluate", json=_deal_body(other_comments=[PASTED_FROM]))
    assert r.status_code == 200, r.text
    body = r.json()
    touch = body["touches"][0]
    assert (touch["counted"], touch["why_not"]) == (False, "reused_comment")
    assert touch["reused"] == {"deal_id": "999", "kind": "comment", "id": "77", "created": "2026-10-01T09:00:00+03:00",
                               "similarity": 1.0, "same_deal": False}
    assert "в сделке 999" in touch["message"]
    assert body["last_touch"] is None and body["active"] is False


def test_other_comments_written_later_or_by_someone_else_do_not_take_the_touch(client):
    later = dict(PASTED_FROM, created="2026-11-01T09:00:00+03:00")
    colleague = dict(PASTED_FROM, author_id="9")
    for other in (later, colleague):
        r = client.post("/v1/deals/evaluate", json=_deal_body(other_comments=[other]))
        assert r.status_code == 200 and r.json()["touches"][0]["counted"] is True, other


def test_the_decision_lists_promises(client):
    r = client.post("/v1/deals/evaluate", json=DEAL_EXAMPLE)  # «созвон в понедельник в 11:00», nothing since
    assert r.status_code == 200
    promise, = r.json()["promises"]
    assert (promise["promised"], promise["due"], promise["state"]) == ("2026-10-12", "2026-10-14", "broken")


BAD_OTHERS = [
    ("not a list", {"other_comments": {"deal_id": "1"}}, "other_comments"),
    ("an item not an object", {"other_comments": ["x"]}, "other_comments.0"),
    ("deal_id missing", {"other_comments": [{k: v for k, v in PASTED_FROM.items() if k != "deal_id"}]},
     "other_comments.0.deal_id"),
    ("deal_id an object", {"other_comments": [dict(PASTED_FROM, deal_id={"ID": 1})]}, "other_comments.0.deal_id"),
    ("deal_id true", {"other_comments": [dict(PASTED_FROM, deal_id=True)]}, "other_comments.0.deal_id"),
    ("deal_id empty", {"other_comments": [dict(PASTED_FROM, deal_id="  ")]}, "other_comments.0.deal_id"),
    ("created missing", {"other_comments": [{k: v for k, v in PASTED_FROM.items() if k != "created"}]},
     "other_comments.0.created"),
    ("created in words", {"other_comments": [dict(PASTED_FROM, created="вчера")]}, "other_comments.0.created"),
    ("created as Unix seconds", {"other_comments": [dict(PASTED_FROM, created=1732000000)]},
     "other_comments.0.created"),
    ("created out of range", {"other_comments": [dict(PASTED_FROM, created="9999-12-31T00:00:00+00:00")]},
     "other_comments.0.created"),
    ("text a number", {"other_comments": [dict(PASTED_FROM, text=5)]}, "other_comments.0.text"),
    ("text too long", {"other_comments": [dict(PASTED_FROM, text="а" * 20_001)]}, "other_comments.0.text"),
    ("an unknown key", {"other_comments": [dict(PASTED_FROM, AUTHOR="7")]}, "other_comments.0.AUTHOR"),
    ("too many", {"other_comments": [PASTED_FROM] * 10_001}, "other_comments"),
]


@pytest.mark.parametrize("case,change,field", BAD_OTHERS, ids=[b[0] for b in BAD_OTHERS])
def test_bad_other_comments_are_422_naming_the_field(client, case, change, field):
    r = client.post("/v1/deals/evaluate", json=_deal_body(**change))
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


def test_a_lone_surrogate_in_other_comments_is_named(client):
    raw = json.dumps(_deal_body(other_comments=[dict(PASTED_FROM, text="SURR")])).replace("SURR", "\\ud800")
    r = client.post("/v1/deals/evaluate", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "other_comments.0.text"
