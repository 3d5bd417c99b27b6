"""POST /v1/bitrix24/events: Bitrix24's form-encoded event calls, verified, recorded in the inbox; bad calls 4xx."""

import pytest
from fastapi.testclient import TestClient

from classifier.bitrix24.events import EventError, parse_body, parse_event
from classifier.bitrix24.settings import Bitrix24Settings
from classifier.bitrix24.store import Store
from classifier.bitrix24.wire import WireError, build_query, parse_nested
from classifier.service.app import create_app
from classifier.service.settings import Settings

TOKEN, MEMBER, DOMAIN = "app-token-1", "member-1", "example.bitrix24.ru"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def b24_settings(tmp_path, **overrides) -> Bitrix24Settings:
    values = dict(webhook_url=f"https://{DOMAIN}/rest/7/secretkey/", application_token=TOKEN, member_id=MEMBER,
                  database_url=f"sqlite:///{tmp_path / 'b24.sqlite3'}")
    return Bitrix24Settings(**{**values, **overrides})


def event_form(event="ONCRMDEALUPDATE", entity_id="5", token=TOKEN, member=MEMBER, domain=DOMAIN, shape="fields"):
    data = {"FIELDS": {"ID": entity_id}} if shape == "fields" else {"ID": entity_id}
    return build_query({"event": event, "event_handler_id": "3", "data": data, "ts": "1764670000",
                        "auth": {"domain": domain, "client_endpoint": f"https://{domain}/rest/",
                                 "server_endpoint": "https://oauth.bitrix.info/rest/", "member_id": member,
                                 "application_token": token}})


@pytest.fixture
def client(checker, tmp_path):
    settings = Settings(store_path=tmp_path / "labels.db", api_keys=["api-key"])
    b24 = b24_settings(tmp_path)
    with TestClient(create_app(settings, checker=checker, b24=b24)) as c:
        c.b24_store = Store(b24.database_url)
        yield c


def queued(client) -> dict:
    return {(i.entity_type, i.entity_id): i for i in client.b24_store.claim(limit=1000)}


# --- the wire format --------------------------------------------------------------------------------------

def test_bracketed_keys_nest_and_lists_come_back():
    query = build_query({"filter": {">ID": 5, "ENTITY_TYPE": "deal"}, "select": ["ID", "TITLE"], "flag": True})
    assert parse_nested(query) == {"filter": {">ID": "5", "ENTITY_TYPE": "deal"}, "select": ["ID", "TITLE"],
                                   "flag": "Y"}


@pytest.mark.parametrize("bad", ["data[FIELDS=1", "[x]=1", "a[b]c=1", "a=1&a[b]=2", "a" + "[b]" * 20 + "=1"])
def test_malformed_bracketed_keys_are_refused(bad):
    with pytest.raises(WireError):
        parse_nested(bad)


def test_both_shapes_of_a_comment_event():
    for shape in ("fields", "id"):
        body = event_form("ONCRMTIMELINECOMMENTADD", "41", shape=shape).encode()
        payload = parse_body(body, "application/x-www-form-urlencoded")
        event = parse_event(payload)
        assert (event.entity_type, event.entity_id) == ("comment", "41")


def test_a_call_end_names_its_activity_or_the_call():
    flat = {"event": "ONVOXIMPLANTCALLEND", "data": {"CALL_ID": "abc.123", "CRM_ACTIVITY_ID": "88",
                                                     "CALL_FAILED_CODE": "200", "CALL_DURATION": "95"}}
    assert parse_event(flat).entity_type == "activity" and parse_event(flat).entity_id == "88"
    flat["data"]["CRM_ACTIVITY_ID"] = "0"
    assert (parse_event(flat).entity_type, parse_event(flat).entity_id) == ("call", "abc.123")


@pytest.mark.parametrize("payload, field", [
    ({"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": "5x"}}}, "data.FIELDS.ID"),
    ({"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": "0"}}}, "data.FIELDS.ID"),
    ({"event": "ONCRMDEALUPDATE", "data": "5"}, "data"),
    ({"event": "ONTASKADD", "data": {"FIELDS": {"ID": "5"}}}, "event"),
    ({"data": {"FIELDS": {"ID": "5"}}}, "event"),
    ({"event": ["x"], "data": {}}, "event"),
])
def test_events_we_cannot_use_name_the_field(payload, field):
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    assert caught.value.field == field and caught.value.status == 422


# --- the route ---------------------------------------------------------------------------------------------

def test_a_form_encoded_event_is_queued_without_an_api_key(client):
    r = client.post("/v1/bitrix24/events", content=event_form(), headers=FORM)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "queued", "event": "ONCRMDEALUPDATE", "entity_type": "deal", "entity_id": "5"}
    assert ("deal", "5") in queued(client)


def test_json_events_are_accepted_too(client):
    body = {"event": "ONCRMACTIVITYADD", "data": {"FIELDS": {"ID": 12}},
            "auth": {"application_token": TOKEN, "member_id": MEMBER, "domain": DOMAIN}}
    assert client.post("/v1/bitrix24/events", json=body).status_code == 200
    assert ("activity", "12") in queued(client)


def test_a_burst_of_repeats_is_one_inbox_row(client):
    for _ in range(20):
        assert client.post("/v1/bitrix24/events", content=event_form(entity_id="9"), headers=FORM).status_code == 200
    assert queued(client)["deal", "9"].events == 20


@pytest.mark.parametrize("form, field", [
    (dict(token="wrong"), "auth.application_token"),
    (dict(token=""), "auth.application_token"),
    (dict(member="other-portal"), "auth.member_id"),
    (dict(domain="evil.bitrix24.ru"), "auth.domain"),
])
def test_calls_from_anyone_else_are_401_and_change_nothing(client, form, field, caplog):
    r = client.post("/v1/bitrix24/events", content=event_form(**form), headers=FORM)
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == field
    assert queued(client) == {}
    assert TOKEN not in caplog.text and "wrong" not in caplog.text  # refused calls are logged without the token


def test_a_call_without_auth_is_401(client):
    r = client.post("/v1/bitrix24/events", content="event=ONCRMDEALUPDATE&data[FIELDS][ID]=5", headers=FORM)
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "auth"


@pytest.mark.parametrize("content, headers, status", [
    ("data[FIELDS=5&auth[application_token]=x", FORM, 400),
    (b"event=%FF%FE&x=1", FORM, 400),
    (b"\xff\xfe", FORM, 400),
    ("{not json", {"content-type": "application/json"}, 400),
    ("[1, 2]", {"content-type": "application/json"}, 422),
    ('{"auth": {"application_token": "\\ud800"}}', {"content-type": "application/json"}, 401),
    ("<xml/>", {"content-type": "text/xml"}, 415),
])
def test_malformed_calls_are_4xx_and_change_nothing(client, content, headers, status):
    r = client.post("/v1/bitrix24/events", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert queued(client) == {}


def test_a_valid_sender_with_a_bad_id_is_422_naming_it(client):
    r = client.post("/v1/bitrix24/events", content=event_form(entity_id="1; DROP TABLE"), headers=FORM)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "data.FIELDS.ID"


def test_a_huge_body_is_413_before_it_is_read(client):
    r = client.post("/v1/bitrix24/events", content="x" * (5 * 1024 * 1024), headers=FORM)
    assert r.status_code == 413


def test_status_needs_the_api_key_and_shows_the_inbox(client):
    client.post("/v1/bitrix24/events", content=event_form(), headers=FORM)
    assert client.get("/v1/bitrix24/status").status_code == 401
    r = client.get("/v1/bitrix24/status", headers={"x-api-key": "api-key"})
    assert r.status_code == 200 and r.json()["inbox"]["queued"] == 1 and r.json()["mode"] == "shadow"


def test_a_deal_not_judged_yet_is_404(client):
    r = client.get("/v1/bitrix24/deals/5", headers={"x-api-key": "api-key"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "deal_id"
    assert client.get("/v1/bitrix24/deals/abc", headers={"x-api-key": "api-key"}).status_code == 422


def test_not_configured_or_off_is_503_saying_which_setting(checker, tmp_path):
    settings = Settings(store_path=tmp_path / "labels.db")
    for b24, says in ((Bitrix24Settings(), "CRMQC_B24_WEBHOOK_URL"), (b24_settings(tmp_path, mode="off"), "off")):
        with TestClient(create_app(settings, checker=checker, b24=b24)) as c:
            r = c.post("/v1/bitrix24/events", content=event_form(), headers=FORM)
            assert r.status_code == 503 and says in r.json()["detail"]


@pytest.mark.parametrize("values, name", [
    (dict(webhook_url="http://example.bitrix24.ru/rest/1/x/"), "webhook_url"),
    (dict(webhook_url="https://example.bitrix24.ru/rest/1/"), "webhook_url"),
    (dict(mode="sometimes"), "mode"),
    (dict(application_token="токен"), "application_token"),
    (dict(rate_per_second=0), "rate_per_second"),
    (dict(field_active="ACTIVE"), "field_active"),
])
def test_bad_settings_are_refused_naming_them(values, name):
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as caught:
        Bitrix24Settings(**values)
    assert caught.value.errors()[0]["loc"] == (name,)


def test_settings_derive_the_portal_and_the_integration_user():
    s = Bitrix24Settings(webhook_url="https://example.bitrix24.ru/rest/7/secret", application_token="t", member_id="m")
    assert (s.domain, s.user_id, s.portal_url, s.webhook_parts) == (
        "example.bitrix24.ru", "7", "https://example.bitrix24.ru", ("example.bitrix24.ru", "7/secret"))
    assert s.configured and s.enabled
