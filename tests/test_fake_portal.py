"""The fake Bitrix24 portal answers with the real portal's wire shapes, faults and events.

The integration's tests trust this fake, so its own quirks are pinned here: if it drifted into answering
"nicer" than Bitrix24 (ints, {} for empty maps, no paging), the integration would be tested against a portal
that does not exist.
"""

import ssl
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest
from b24pysdk import BitrixWebhook, Client

from classifier.bitrix24.wire import parse_nested
from tests.fake_portal import FakePortal

MSK = timezone(timedelta(hours=3))


@pytest.fixture
def portal():
    with FakePortal() as fake:
        yield fake


@pytest.fixture
def http(portal):
    """One keep-alive client that trusts the portal's self-signed certificate."""
    with httpx.Client(verify=ssl.create_default_context(cafile=portal.ca_file), timeout=5.0) as client:
        yield client


def call(http, portal, method, params=None, **kwargs) -> httpx.Response:
    return http.post(f"{portal.webhook_url}{method}.json", json=params or {}, **kwargs)


class Receiver:
    """A tiny HTTP server standing in for our event endpoint; it keeps every raw request body."""

    def __init__(self):
        self.posts: list[tuple[str, str]] = []  # (content type, body)
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                received.append((self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def events(self) -> list[dict]:
        return [parse_nested(body) for _, body in self.posts]

    def ids(self) -> list[str]:
        return [event["data"]["FIELDS"]["ID"] for event in self.events()]


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.server.shutdown()
    rx.server.server_close()


# ---- wire shapes ------------------------------------------------------------------------------------------


def test_a_deal_comes_back_with_strings_portal_offset_and_the_time_envelope(portal, http):
    deal_id = portal.add_deal(TITLE="Chairs", OPPORTUNITY=1500, IS_RETURN_CUSTOMER=True,
                              CLOSEDATE=datetime(2026, 11, 30, 11, 29, tzinfo=UTC))
    answer = call(http, portal, "crm.deal.get", {"id": int(deal_id)})
    assert answer.status_code == 200
    deal = answer.json()["result"]
    assert (deal["ID"], deal["OPPORTUNITY"], deal["IS_RETURN_CUSTOMER"]) == (deal_id, "1500", "Y")
    assert deal["CLOSEDATE"] == "2026-11-30T14:29:00+03:00"
    assert deal["DATE_CREATE"].endswith("+03:00") and deal["CONTACT_ID"] is None
    assert set(answer.json()["time"]) == {"start", "finish", "duration", "processing", "date_start", "date_finish",
                                          "operating_reset_at", "operating"}
    assert "total" not in answer.json()


def test_lists_page_by_fifty_and_start_minus_one_drops_the_count(portal, http):
    for n in range(120):
        portal.add_deal(TITLE=f"deal {n}")
    first = call(http, portal, "crm.deal.list").json()
    assert (len(first["result"]), first["total"], first["next"]) == (50, 120, 50)
    last = call(http, portal, "crm.deal.list", {"start": 100}).json()
    assert (len(last["result"]), last["total"]) == (20, 120) and "next" not in last
    fast = call(http, portal, "crm.deal.list", {"start": -1, "order": {"ID": "DESC"}}).json()
    assert "total" not in fast and "next" not in fast
    assert [row["ID"] for row in fast["result"][:2]] == ["120", "119"]


def test_select_star_leaves_out_user_fields_and_multifields_as_bitrix_does(portal, http):
    call(http, portal, "crm.deal.userfield.add", {"fields": {"FIELD_NAME": "QC_STATUS", "USER_TYPE_ID": "string"}})
    portal.add_deal(TITLE="A", UF_CRM_QC_STATUS="ok")
    portal.add_contact(NAME="Ivan", PHONE=["+79161234567"])
    star = call(http, portal, "crm.deal.list", {"select": ["*"]}).json()["result"][0]
    with_uf = call(http, portal, "crm.deal.list", {"select": ["*", "UF_*"]}).json()["result"][0]
    named = call(http, portal, "crm.deal.list", {"select": ["TITLE"]}).json()["result"][0]
    assert "UF_CRM_QC_STATUS" not in star and with_uf["UF_CRM_QC_STATUS"] == "ok"
    assert named == {"ID": "1", "TITLE": "A"}
    contact = call(http, portal, "crm.contact.list", {"select": ["NAME", "PHONE"]}).json()["result"][0]
    assert contact["PHONE"] == [{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+79161234567", "TYPE_ID": "PHONE"}]
    assert "PHONE" not in call(http, portal, "crm.contact.list").json()["result"][0]


def test_empty_objects_are_php_empty_arrays_and_deal_contacts_are_ints(portal, http):
    deal_id = portal.add_deal()
    contact_id = portal.add_contact(NAME="Ivan")
    portal.set_deal_contacts(deal_id, [contact_id])
    portal.set_product_rows(deal_id, [{"PRODUCT_NAME": "Chair", "PRICE": 7500, "QUANTITY": 2}])
    activity_id = portal.add_activity(OWNER_ID=deal_id, SUBJECT="Call back")
    assert call(http, portal, "crm.activity.get", {"id": activity_id}).json()["result"]["SETTINGS"] == []
    items = call(http, portal, "crm.deal.contact.items.get", {"id": deal_id}).json()["result"]
    assert items == [{"CONTACT_ID": int(contact_id), "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"}]
    assert portal.deals[deal_id]["CONTACT_ID"] == contact_id
    rows = call(http, portal, "crm.deal.productrows.get", {"id": deal_id}).json()["result"]
    assert (rows[0]["PRODUCT_NAME"], rows[0]["PRICE"], rows[0]["QUANTITY"]) == ("Chair", 7500.0, 2.0)


def test_parameters_arrive_as_json_form_or_query_string(portal, http):
    for title in ("a", "b", "c"):
        portal.add_deal(TITLE=title)
    form = http.post(f"{portal.webhook_url}crm.deal.list", data={"filter[>ID]": "1", "select[]": "TITLE"})
    query = http.get(f"{portal.webhook_url}crm.deal.list.json", params={"filter[ID]": "3"})
    assert [row["TITLE"] for row in form.json()["result"]] == ["b", "c"]
    assert [row["TITLE"] for row in query.json()["result"]] == ["c"]


def test_errors_use_bitrix_codes_and_statuses(portal, http):
    wrong_key = http.post(f"https://{portal.domain}/rest/1/wrongkey/crm.deal.get.json", json={"id": 1})
    assert (wrong_key.status_code, wrong_key.json()["error"]) == (401, "INVALID_CREDENTIALS")
    unknown = call(http, portal, "crm.deal.explode")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    missing = call(http, portal, "crm.deal.get", {"id": 999})
    assert (missing.status_code, missing.json()) == (400, {"error": "", "error_description": "Not found"})
    assert [outcome for _, _, outcome in portal.requests] == ["INVALID_CREDENTIALS", "ERROR_METHOD_NOT_FOUND", "400"]


# ---- filters ----------------------------------------------------------------------------------------------


@pytest.fixture
def five_deals(portal):
    start = datetime(2026, 11, 1, 10, 0, tzinfo=MSK)
    for n in range(5):
        portal.add_deal(TITLE=f"deal {n}", STAGE_ID="WON" if n == 4 else "NEW",
                        DATE_MODIFY=start + timedelta(days=n))
    return portal


@pytest.mark.parametrize(("flt", "expected"), [
    ({">ID": 2}, ["3", "4", "5"]),
    ({">=ID": "2"}, ["2", "3", "4", "5"]),
    ({"<ID": 3}, ["1", "2"]),
    ({"<=ID": 3, "!ID": 2}, ["1", "3"]),
    ({"ID": [1, 5]}, ["1", "5"]),
    ({"STAGE_ID": "WON"}, ["5"]),
    ({"CLOSED": True}, ["5"]),
    ({">DATE_MODIFY": "2026-11-03T10:00:00+03:00"}, ["4", "5"]),
    ({">=DATE_MODIFY": "2026-11-03T07:00:00+00:00"}, ["3", "4", "5"]),  # the same moment written in UTC
    ({"<DATE_MODIFY": "2026-11-02T10:00:00"}, ["1"]),  # no offset: portal time
    ({"%TITLE": "DEAL 3"}, ["4"]),
])
def test_filter_operators(five_deals, http, flt, expected):
    answer = call(http, five_deals, "crm.deal.list", {"filter": flt, "select": ["ID"]})
    assert [row["ID"] for row in answer.json()["result"]] == expected


def test_activities_filter_by_bindings(portal, http):
    deal_id, contact_id = portal.add_deal(), portal.add_contact()
    on_deal = portal.add_activity(OWNER_TYPE_ID=3, OWNER_ID=contact_id,
                                  BINDINGS=[{"OWNER_TYPE_ID": "3", "OWNER_ID": contact_id},
                                            {"OWNER_TYPE_ID": "2", "OWNER_ID": deal_id}])
    portal.add_activity(OWNER_TYPE_ID=3, OWNER_ID=contact_id)
    flt = {"BINDINGS": [{"OWNER_TYPE_ID": 2, "OWNER_ID": int(deal_id)}]}
    answer = call(http, portal, "crm.activity.list", {"filter": flt})
    assert [row["ID"] for row in answer.json()["result"]] == [on_deal]


def test_comment_list_needs_the_entity_and_lists_one_entity(portal, http):
    deal_id, other = portal.add_deal(), portal.add_deal()
    mine = portal.add_comment("deal", deal_id, "Called, agreed on the invoice")
    portal.add_comment("deal", other, "Another deal")
    assert call(http, portal, "crm.timeline.comment.list", {"filter": {"ENTITY_ID": deal_id}}).status_code == 400
    answer = call(http, portal, "crm.timeline.comment.list",
                  {"filter": {"ENTITY_TYPE": "DEAL", "ENTITY_ID": deal_id}}).json()
    assert [row["ID"] for row in answer["result"]] == [mine] and answer["result"][0]["FILES"] == []


# ---- batch ------------------------------------------------------------------------------------------------


def test_batch_reports_each_command_and_counts_each_in_requests(portal, http):
    deal_id = portal.add_deal(TITLE="Chairs")
    portal.add_activity(OWNER_ID=deal_id)
    cmd = {"deal": f"crm.deal.get?id={deal_id}", "gone": "crm.deal.get?id=999",
           "acts": f"crm.activity.list?filter[OWNER_ID]={deal_id}&select[]=ID"}
    answer = call(http, portal, "batch", {"halt": 0, "cmd": cmd}).json()["result"]
    assert answer["result"]["deal"]["TITLE"] == "Chairs" and len(answer["result"]["acts"]) == 1
    assert answer["result_error"] == {"gone": {"error": "", "error_description": "Not found"}}
    assert answer["result_total"] == {"acts": 1} and answer["result_next"] == []
    assert set(answer["result_time"]) == {"deal", "acts"}
    assert [method for _, method, _ in portal.requests] == [
        "batch:crm.deal.get", "batch:crm.deal.get", "batch:crm.activity.list", "batch"]


def test_batch_commands_can_use_earlier_results(portal, http):
    for title in ("a", "b", "c"):
        portal.add_deal(TITLE=title)
    cmd = {"page": "crm.deal.list?select[]=ID", "second": "crm.deal.get?id=$result[page][1][ID]",
           "after": "crm.deal.list?filter[>ID]=$result[second][ID]&select[]=TITLE"}
    answer = call(http, portal, "batch", {"cmd": cmd}).json()["result"]["result"]
    assert answer["second"]["TITLE"] == "b" and answer["after"] == [{"ID": "3", "TITLE": "c"}]


def test_batch_halts_on_error_and_refuses_more_than_fifty_commands(portal, http):
    deal_id = portal.add_deal()
    halted = call(http, portal, "batch", {"halt": 1, "cmd": ["crm.deal.get?id=999", f"crm.deal.get?id={deal_id}"]})
    assert halted.json()["result"]["result"] == [] and list(halted.json()["result"]["result_error"]) == ["0"]
    too_many = call(http, portal, "batch", {"cmd": {str(n): "crm.deal.list" for n in range(51)}})
    assert (too_many.status_code, too_many.json()["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")


# ---- writes -----------------------------------------------------------------------------------------------


def test_deal_update_stamps_the_webhook_user_and_emits_an_update(portal, http):
    deal_id = portal.add_deal(MODIFY_BY_ID="7", DATE_MODIFY=datetime(2026, 1, 1, tzinfo=MSK))
    params = {"id": deal_id, "fields": {"UF_CRM_QC_STATUS": 81}, "params": {"REGISTER_SONET_EVENT": "N"}}
    assert call(http, portal, "crm.deal.update", params).json()["result"] is True
    deal = portal.deals[deal_id]
    assert (deal["UF_CRM_QC_STATUS"], deal["MODIFY_BY_ID"]) == ("81", "1")
    assert deal["DATE_MODIFY"] > "2026-01-01T00:00:00+03:00"
    assert [e["event"] for e in portal.events] == ["ONCRMDEALADD", "ONCRMDEALUPDATE"]
    assert portal.writes == [("crm.deal.update", params)]


def test_userfield_add_prefixes_the_name_and_refuses_a_duplicate(portal, http):
    fields = {"FIELD_NAME": "QC_LEVEL", "USER_TYPE_ID": "enumeration", "EDIT_FORM_LABEL": "QC",
              "LIST": [{"VALUE": "ok"}, {"VALUE": "weak"}]}
    created = call(http, portal, "crm.deal.userfield.add", {"fields": fields})
    assert isinstance(created.json()["result"], int)
    again = call(http, portal, "crm.deal.userfield.add", {"fields": {**fields, "FIELD_NAME": "UF_CRM_QC_LEVEL"}})
    assert again.status_code == 400
    listed = call(http, portal, "crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_QC_LEVEL"}}).json()
    assert [option["VALUE"] for option in listed["result"][0]["LIST"]] == ["ok", "weak"]
    assert len(portal.userfields) == 1


def test_todo_logmessage_notify_and_comment_writes(portal, http):
    deal_id = portal.add_deal()
    todo = call(http, portal, "crm.activity.todo.add", {
        "ownerTypeId": 2, "ownerId": int(deal_id), "deadline": "2026-12-07T09:00:00+00:00",
        "title": "Write a full comment", "responsibleId": 7}).json()["result"]
    activity = portal.activities[str(todo["id"])]
    assert (activity["PROVIDER_ID"], activity["TYPE_ID"], activity["AUTHOR_ID"]) == ("CRM_TODO", "6", "1")
    assert (activity["DEADLINE"], activity["RESPONSIBLE_ID"]) == ("2026-12-07T12:00:00+03:00", "7")
    assert portal.todos == [str(todo["id"])]
    log = call(http, portal, "crm.timeline.logmessage.add", {"fields": {
        "entityTypeId": 2, "entityId": deal_id, "title": "QC", "text": "Comment too short", "iconCode": "info"}})
    assert log.json()["result"]["logMessage"]["id"] == portal.log_messages[0]["id"]
    for message in ("first", "second"):
        call(http, portal, "im.notify.system.add", {"USER_ID": 7, "MESSAGE": message, "TAG": f"qc-deal-{deal_id}"})
    call(http, portal, "im.notify.system.add", {"USER_ID": 7, "MESSAGE": "untagged"})
    assert {tag: note["MESSAGE"] for tag, note in portal.notifications.items()} == {
        f"qc-deal-{deal_id}": "second", "#3": "untagged"}
    added = call(http, portal, "crm.timeline.comment.add",
                 {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id, "COMMENT": "Please expand"}})
    assert portal.comments[str(added.json()["result"])]["AUTHOR_ID"] == "1"
    assert [e["event"] for e in portal.events] == ["ONCRMDEALADD", "ONCRMACTIVITYADD", "ONCRMTIMELINECOMMENTADD"]


def test_log_call_writes_activity_statistic_comment_and_events(portal, http):
    deal_id = portal.add_deal()
    at = datetime(2026, 11, 30, 14, 0, tzinfo=MSK)
    answered = portal.log_call(deal_id, user_id="7", at=at, duration=90, comment="Agreed on delivery")
    missed = portal.log_call(deal_id, at=at + timedelta(hours=1), connected=False, direction="in")
    activity = portal.activities[answered]
    assert (activity["TYPE_ID"], activity["PROVIDER_ID"], activity["DIRECTION"]) == ("2", "VOXIMPLANT_CALL", "2")
    assert (activity["START_TIME"], activity["END_TIME"]) == ("2026-11-30T14:00:00+03:00", "2026-11-30T14:01:30+03:00")
    assert activity["BINDINGS"] == [{"OWNER_ID": deal_id, "OWNER_TYPE_ID": "2"}]
    stats = call(http, portal, "voximplant.statistic.get", {"FILTER": {"CRM_ENTITY_ID": deal_id},
                                                             "SORT": "CALL_START_DATE", "ORDER": "DESC"}).json()
    assert [(s["CRM_ACTIVITY_ID"], s["CALL_FAILED_CODE"], s["CALL_DURATION"]) for s in stats["result"]] == [
        (missed, "304", "0"), (answered, "200", "90")]
    assert activity["ORIGIN_ID"] == f"VI_{stats['result'][1]['CALL_ID']}"
    comment = next(iter(portal.comments.values()))
    assert (comment["CREATED"], comment["AUTHOR_ID"]) == ("2026-11-30T14:02:30+03:00", "7")
    assert [e["event"] for e in portal.events][1:] == [
        "ONCRMACTIVITYADD", "ONVOXIMPLANTCALLEND", "ONCRMTIMELINECOMMENTADD", "ONCRMACTIVITYADD",
        "ONVOXIMPLANTCALLEND"]
    assert portal.events[2]["data"]["CRM_ACTIVITY_ID"] == answered


# ---- faults and limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "code"), [
    ("503", "QUERY_LIMIT_EXCEEDED"), ("429", "OPERATION_TIME_LIMIT"), ("500", "INTERNAL_SERVER_ERROR")])
def test_http_faults_hit_the_chosen_method_once(portal, http, kind, code):
    portal.fail_next(kind, method="crm.deal.get")
    assert call(http, portal, "crm.deal.list").status_code == 200
    failed = call(http, portal, "crm.deal.get", {"id": portal.add_deal()})
    assert (failed.status_code, failed.json()["error"]) == (int(kind), code)
    assert call(http, portal, "crm.deal.get", {"id": "1"}).status_code == 200
    assert [outcome for _, _, outcome in portal.requests] == ["ok", f"fault:{kind}", "ok"]


def test_drop_closes_the_connection_without_an_answer(portal, http):
    portal.fail_next("drop", times=2)
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            call(http, portal, "crm.deal.list")
    assert call(http, portal, "crm.deal.list").status_code == 200


def test_slow_answers_after_the_delay(portal, http):
    portal.fail_next("slow", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        call(http, portal, "crm.deal.list", timeout=0.1)
    portal.fail_next("slow", seconds=0.2)
    assert call(http, portal, "crm.deal.list", timeout=2).status_code == 200


def test_the_leaky_bucket_refuses_a_burst_and_recovers():
    with FakePortal(rate_per_second=2, burst=5) as portal, httpx.Client(
            verify=ssl.create_default_context(cafile=portal.ca_file)) as http:
        statuses = [call(http, portal, "crm.deal.list").status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 503 in statuses[5:]
        assert sum(outcome == "QUERY_LIMIT_EXCEEDED" for _, _, outcome in portal.requests) == statuses.count(503)
        portal._bucket_at -= 1.0  # as if a second had passed: two requests drained away
        assert call(http, portal, "crm.deal.list").status_code == 200


# ---- events -----------------------------------------------------------------------------------------------


def test_subscriber_gets_form_encoded_bracketed_events(portal, receiver):
    portal.subscribe(receiver.url)
    deal_id = portal.add_deal()
    assert portal.wait_events()
    content_type, body = receiver.posts[0]
    assert content_type == "application/x-www-form-urlencoded"
    assert "data%5BFIELDS%5D%5BID%5D=" in body  # PHP's http_build_query encodes the brackets
    assert dict(parse_qsl(body)) == {
        "event": "ONCRMDEALADD", "event_handler_id": "1", "data[FIELDS][ID]": deal_id,
        "ts": str(portal.events[0]["ts"]), "auth[domain]": portal.domain,
        "auth[client_endpoint]": f"https://{portal.domain}/rest/",
        "auth[server_endpoint]": "https://oauth.bitrix.info/rest/", "auth[member_id]": "fake-member-0001",
        "auth[application_token]": "fake-app-token"}


def test_comment_events_follow_the_chosen_shape_and_calls_are_flat(portal, receiver):
    portal.subscribe(receiver.url, comment_shape="id")
    deal_id = portal.add_deal()
    portal.log_call(deal_id, comment="Agreed", duration=30)
    assert portal.wait_events()
    by_name = {event["event"]: event["data"] for event in receiver.events()}
    assert list(by_name["ONCRMTIMELINECOMMENTADD"]) == ["ID"]
    assert by_name["ONVOXIMPLANTCALLEND"]["CALL_DURATION"] == "30"
    assert by_name["ONCRMACTIVITYADD"] == {"FIELDS": {"ID": by_name["ONVOXIMPLANTCALLEND"]["CRM_ACTIVITY_ID"]}}


def test_emit_faults_drop_and_repeat_a_share(portal, receiver):
    portal.subscribe(receiver.url)
    portal.emit_faults(drop=0.3, repeat=0.3, seed=1)
    sent = [portal.add_deal() for _ in range(30)]
    assert portal.wait_events()
    got = receiver.ids()
    assert set(sent) - set(got), "some events should be lost"
    assert len(got) > len(set(got)), "some events should arrive twice"


def test_emit_faults_reorder_only_close_neighbours(portal, receiver):
    portal.subscribe(receiver.url)
    portal.emit_faults(reorder=True, seed=3)
    portal.pause_events()
    sent = [portal.add_deal() for _ in range(12)]
    assert not portal.wait_events(timeout=0.05)  # held while paused
    assert receiver.posts == []
    portal.resume_events()
    assert portal.wait_events()
    got = receiver.ids()
    assert sorted(got, key=int) == sent and got != sent
    assert all(abs(got.index(deal_id) - sent.index(deal_id)) < 3 for deal_id in sent)


def test_deliver_forges_token_and_portal_and_sends_json(portal, receiver):
    portal.add_deal()
    assert portal.deliver(receiver.url, token="wrong", member_id="other", domain="evil.bitrix24.com") == [200]
    forged = receiver.events()[0]["auth"]
    assert (forged["application_token"], forged["member_id"], forged["domain"]) == ("wrong", "other",
                                                                                    "evil.bitrix24.com")
    portal.deliver(receiver.url, as_json=True)
    assert receiver.posts[1][0] == "application/json"
    assert portal.deliver("http://127.0.0.1:9/nothing-listens") == [0]


# ---- the official SDK -------------------------------------------------------------------------------------


def test_b24pysdk_talks_to_the_fake(portal, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", portal.ca_file)
    deal_id = portal.add_deal(TITLE="Chairs")
    token = BitrixWebhook(domain=portal.domain, webhook_token=f"{portal.webhook_user_id}/{portal.webhook_key}")
    assert token.call_method("crm.deal.get", {"id": deal_id})["result"]["TITLE"] == "Chairs"
    batch = token.call_method("batch", {"cmd": {"d": f"crm.deal.get?id={deal_id}"}})
    assert batch["result"]["result"]["d"]["ID"] == deal_id
    assert [method for _, method, _ in portal.requests] == ["crm.deal.get", "batch:crm.deal.get", "batch"]


def test_b24pysdk_fast_listing_chains_batch_pages(portal, monkeypatch):
    """as_list_fast pages by ID window inside one batch, each command reading $result of the previous one."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", portal.ca_file)
    sent = [portal.add_deal(TITLE=f"deal {n}") for n in range(173)]
    client = Client(BitrixWebhook(domain=portal.domain, webhook_token="1/fakewebhookkey"))
    rows = list(client.crm.deal.list(select=["ID"]).as_list_fast().result)
    assert [row["ID"] for row in rows] == sent
    assert [method for _, method, _ in portal.requests].count("batch") == 1
