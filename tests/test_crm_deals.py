"""Deal rules as scenario tables over Bitrix24 JSON: touches, activity and prolongation, correctness."""

from dataclasses import replace

import pytest

from classifier.crm.deals import add_months
from classifier.crm.settings import CrmSettings
from tests.crm_fixtures import (
    DROP,
    EXPANDED,
    EXPANDED_2,
    EXPANDED_3,
    NOW,
    call,
    chat,
    comment,
    deal_json,
    email,
    evaluate,
    history_of,
    numeric,
    plus,
    product_rows,
    stat,
    todo,
)

T0 = "2026-11-10T11:00:00"


def after(seconds: int) -> str:
    return plus(T0, seconds)


def note(text: str = EXPANDED, seconds: int = 600, id: str = "5") -> dict:
    return comment(id, after(seconds), text)


# --- touches: (case, activities, comments, call_stats, chat_history, why_not per interaction) ---------------
TOUCHES = [
    # calls
    ("connected call, expanded note on the call", [call("1", T0, 250, description=EXPANDED)], [], [], None, [None]),
    ("connected call, expanded timeline comment", [call("1", T0, 250)], [note()], [], None, [None]),
    ("stats say connected for 95 s", [call("1", T0, 0)], [note()], [stat("1", "200", 95)], None, [None]),
    ("missed incoming call: SETTINGS.MISSED_CALL", [call("1", T0, 0, direction="1", missed=True)], [note()], [],
     None, ["missed_call"]),
    ("missed call: RESULT_STREAM 4", [call("1", T0, 40, RESULT_STREAM="4")], [note()], [], None, ["missed_call"]),
    ("declined: CALL_FAILED_CODE 603", [call("1", T0, 40)], [note()], [stat("1", "603", 0)], None, ["missed_call"]),
    ("busy: CALL_FAILED_CODE 486 joined by ORIGIN_ID", [call("1", T0, 40)], [note()],
     [{**stat("1", "486", 0), "CRM_ACTIVITY_ID": ""}], None, ["missed_call"]),
    ("zero duration", [call("1", T0, 0)], [note()], [], None, ["missed_call"]),
    ("3-second call", [call("1", T0, 3)], [note()], [], None, ["call_too_short"]),
    ("3-second call by stats", [call("1", T0, 250)], [note()], [stat("1", "200", 3)], None, ["call_too_short"]),
    ("29 s is still too short", [call("1", T0, 29)], [note()], [], None, ["call_too_short"]),
    ("30 s is a conversation", [call("1", T0, 30)], [note()], [], None, [None]),
    # e-mail
    ("outgoing e-mail, no reply", [email("1", T0, "2")], [note()], [], None, ["no_client_reply"]),
    ("outgoing e-mail, the client replied", [email("1", T0, "2"), email("2", after(3600), "1")],
     [note(seconds=4000)], [], None, [None, None]),
    ("an earlier client e-mail is no reply to ours", [email("2", T0, "1"), email("1", after(3600), "2")],
     [note(seconds=60), note(EXPANDED_2, 3700, "6")], [], None, [None, "no_client_reply"]),
    ("incoming e-mail", [email("1", T0, "1")], [note()], [], None, [None]),
    ("an expanded e-mail body is not a comment", [email("1", T0, "1", body=EXPANDED)], [], [], None,
     ["no_comment"]),
    # open-line chats
    ("chat the client started", [chat("1", T0, "1", "7001")], [note()], [], None, [None]),
    ("chat we started, the client answered", [chat("1", T0, "2", "7002")], [note()], [],
     {"7002": history_of(["7", "0", "1503"])}, [None]),
    ("chat we started, only the operator wrote", [chat("1", T0, "2", "7002")], [note()], [],
     {"7002": history_of(["7", "0"])}, ["no_client_message"]),
    ("chat we started, history empty as []", [chat("1", T0, "2", "7002")], [note()], [],
     {"7002": history_of([])}, ["no_client_message"]),
    ("chat we started, no history sent", [chat("1", T0, "2", "7002")], [note()], [], None, ["no_client_message"]),
    # comments
    ("touch whose comment is «НД»", [call("1", T0, 250)], [note("НД")], [], None, ["comment_not_expanded"]),
    ("touch whose comment is «перезвонить»", [call("1", T0, 250, description="перезвонить")], [], [], None,
     ["comment_not_expanded"]),
    ("«НД», then an expanded comment", [call("1", T0, 250)], [note("НД"), note(seconds=900, id="6")], [], None,
     [None]),
    ("comment written the next week", [call("1", T0, 250)], [note(seconds=7 * 86400)], [], None, ["no_comment"]),
    ("comment 23 hours after the call", [call("1", T0, 250)], [note(seconds=23 * 3600)], [], None, [None]),
    ("comment 25 hours after the call", [call("1", T0, 250)], [note(seconds=25 * 3600)], [], None, ["no_comment"]),
    ("comment before the call", [call("1", T0, 250)], [note(seconds=-3600)], [], None, ["no_comment"]),
    # not interactions
    ("a to-do is not an interaction", [todo("1", T0)], [note()], [], None, ["not_interaction"]),
    ("a call planned after now", [call("1", "2026-11-25T10:00:00", 0, COMPLETED="N")], [], [], None,
     ["in_future"]),
]


@pytest.mark.parametrize("case,activities,comments,stats,chats,expected", TOUCHES, ids=[t[0] for t in TOUCHES])
def test_touches(case, activities, comments, stats, chats, expected):
    decision = evaluate(activities=activities, comments=comments, call_stats=stats, chat_history=chats)
    assert [t.why_not for t in decision.touches] == expected
    assert [t.counted for t in decision.touches] == [w is None for w in expected]


def test_last_touch_names_the_comment_that_counted():
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(86400), 120, description=EXPANDED_2)],
                        comments=[note("НД"), note(seconds=700, id="6")])
    assert decision.last_touch.activity_id == "2" and decision.last_touch.comment_id is None
    first = decision.touches[0]
    assert (first.comment_id, first.comment_verdict, first.duration) == ("6", "expanded", 250)
    body = decision.to_dict()["last_touch"]
    assert body == {"activity_id": "2", "kind": "call", "at": "2026-11-11T11:00:00+03:00", "comment_id": None,
                    "comment_verdict": "expanded"}


def test_a_rejected_touch_reports_the_comment_and_its_verdict():
    touch = evaluate(activities=[call("1", T0, 250)], comments=[note("НД")]).touches[0]
    assert (touch.comment_id, touch.comment_verdict, touch.why_not) == ("5", "stop", "comment_not_expanded")


def test_the_next_week_comment_is_named_in_the_message():
    touch = evaluate(activities=[call("1", T0, 250)], comments=[note(seconds=7 * 86400)]).touches[0]
    assert "#5" in touch.message and "7 дн." in touch.message


# --- activity: (case, created, touch starts with their comment, now, active, active_until, days_left) ----
def touches_at(*moments: tuple[str, str]) -> tuple[list, list]:
    calls = [call(str(i), start, 250) for i, (start, _) in enumerate(moments, 1)]
    notes = [comment(str(50 + i), plus(start, 600), text) for i, (start, text) in enumerate(moments, 1)]
    return calls, notes


PROLONGATION = [
    ("no touch yet: two months from creation", "2026-10-01T10:00:00", [], NOW, True, "2026-12-01", 11),
    ("one touch over two months ago", "2026-06-01T10:00:00", [("2026-08-05T15:00:00", EXPANDED)], NOW, False,
     "2026-10-05", -46),
    ("prolonged by three touches, today is the last day", "2026-05-10T10:00:00",
     [("2026-06-01T10:00:00", EXPANDED), ("2026-07-25T09:00:00", EXPANDED_2), ("2026-09-20T11:00:00", EXPANDED_3)],
     NOW, True, "2026-11-20", 0),
    ("the same comment pasted three times prolongs once", "2026-05-10T10:00:00",
     [("2026-06-01T10:00:00", EXPANDED), ("2026-07-25T09:00:00", EXPANDED), ("2026-09-20T11:00:00", EXPANDED)],
     NOW, False, "2026-08-01", -111),
    ("the last second of the boundary day", "2026-05-10T10:00:00", [("2026-09-20T11:00:00", EXPANDED)],
     "2026-11-20T23:59:59+03:00", True, "2026-11-20", 0),
    ("the first second after the boundary day", "2026-05-10T10:00:00", [("2026-09-20T11:00:00", EXPANDED)],
     "2026-11-21T00:00:00+03:00", False, "2026-11-20", -1),
    ("a later «НД» does not prolong", "2026-05-10T10:00:00",
     [("2026-06-01T10:00:00", EXPANDED), ("2026-09-20T11:00:00", "НД")], NOW, False, "2026-08-01", -111),
    ("a later «думает» does not prolong", "2026-05-10T10:00:00",
     [("2026-09-19T10:00:00", EXPANDED), ("2026-11-19T11:00:00", "думает")], NOW, False, "2026-11-19", -1),
    ("creation after the last touch counts from creation", "2026-10-15T10:00:00",
     [("2026-10-01T10:00:00", EXPANDED)], NOW, True, "2026-12-15", 25),
    ("31 August + 2 months = 31 October", "2026-05-10T10:00:00", [("2026-08-31T10:00:00", EXPANDED)],
     "2026-10-31T12:00:00+03:00", True, "2026-10-31", 0),
    ("31 December + 2 months = 28 February", "2026-12-01T10:00:00", [("2026-12-31T10:00:00", EXPANDED)],
     "2027-01-10T12:00:00+03:00", True, "2027-02-28", 49),
]


@pytest.mark.parametrize("case,created,moments,now,active,until,days_left", PROLONGATION,
                         ids=[p[0] for p in PROLONGATION])
def test_prolongation(case, created, moments, now, active, until, days_left):
    calls, notes = touches_at(*moments)
    decision = evaluate(deal_json(DATE_CREATE=created + "+03:00", COMMENTS=EXPANDED), calls, notes, now=now)
    assert decision.correct
    assert (decision.active, decision.active_until.isoformat(), decision.days_left) == (active, until, days_left)


# the same instant: 01:30 on 30 September in Moscow is 22:30 on 29 September in London
PORTALS = [
    ("+03:00 portal", "+03:00", "2026-09-30T01:30:00", "2026-11-30", True, 0),
    ("+00:00 portal", "+00:00", "2026-09-29T22:30:00", "2026-11-29", False, -1),
]


@pytest.mark.parametrize("case,offset,start,until,active,days_left", PORTALS, ids=[p[0] for p in PORTALS])
def test_the_portal_offset_decides_the_calendar_day(case, offset, start, until, active, days_left):
    decision = evaluate(deal_json(DATE_CREATE="2026-09-01T10:00:00" + offset),
                        [call("1", start, 250, offset=offset)], [comment("5", plus(start, 600), EXPANDED,
                                                                         offset=offset)],
                        now="2026-11-30T10:00:00+03:00")
    assert decision.touches[0].counted
    assert (decision.active_until.isoformat(), decision.active, decision.days_left) == (until, active, days_left)


@pytest.mark.parametrize("day,months,expected", [
    ("2026-01-15", 2, "2026-03-15"), ("2026-12-31", 2, "2027-02-28"), ("2027-12-31", 2, "2028-02-29"),
    ("2026-08-31", 2, "2026-10-31"), ("2026-11-30", 3, "2027-02-28"), ("2026-01-31", 1, "2026-02-28"),
])
def test_calendar_months(day, months, expected):
    from datetime import date
    assert add_months(date.fromisoformat(day), months).isoformat() == expected


# --- correctness: (case, deal fields, contact items, product rows, comments, violation codes) --------------
TOUCH = [call("1", T0, 250)]
GOOD = [note()]
CORRECTNESS = [
    ("every mandatory field", {}, None, product_rows(), GOOD, []),
    ("product group empty string", {"UF_CRM_PRODUCT_GROUP": ""}, None, product_rows(), GOOD, ["no_product_group"]),
    ("product group null", {"UF_CRM_PRODUCT_GROUP": None}, None, product_rows(), GOOD, ["no_product_group"]),
    ("product group []", {"UF_CRM_PRODUCT_GROUP": []}, None, product_rows(), GOOD, ["no_product_group"]),
    ("product group false", {"UF_CRM_PRODUCT_GROUP": False}, None, product_rows(), GOOD, ["no_product_group"]),
    ("product group not sent", {"UF_CRM_PRODUCT_GROUP": DROP}, None, product_rows(), GOOD, ["no_product_group"]),
    ("product group as a number", {"UF_CRM_PRODUCT_GROUP": 45}, None, product_rows(), GOOD, []),
    ("product group multiple", {"UF_CRM_PRODUCT_GROUP": ["45", 46]}, None, product_rows(), GOOD, []),
    ("no stage", {"STAGE_ID": ""}, None, product_rows(), GOOD, ["no_stage"]),
    ("no contact", {"CONTACT_ID": None}, [], product_rows(), GOOD, ["no_contact"]),
    ("CONTACT_ID \"0\"", {"CONTACT_ID": "0"}, None, product_rows(), GOOD, ["no_contact"]),
    ("one contact in the items", {}, [{"CONTACT_ID": 201, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"}],
     product_rows(), GOOD, []),
    ("several contacts", {}, [{"CONTACT_ID": 201, "IS_PRIMARY": "Y"}, {"CONTACT_ID": "202", "IS_PRIMARY": "N"}],
     product_rows(), GOOD, ["several_contacts"]),
    ("several contacts as bare IDs", {"CONTACT_ID": None}, [201, "202"], product_rows(), GOOD,
     ["several_contacts"]),
    ("only «НД» comments", {}, None, product_rows(), [note("НД")], ["no_expanded_comment"]),
    ("expanded only in the deal's COMMENTS", {"COMMENTS": EXPANDED}, None, product_rows(), [note("НД")], []),
    ("expanded COMMENTS in BB-code", {"COMMENTS": "[B]" + EXPANDED + "[/B]"}, None, product_rows(), [], []),
    ("no product rows", {}, None, [], GOOD, ["no_products"]),
    ("product rows as {}", {}, None, {}, GOOD, ["no_products"]),
    ("product with price 0", {}, None, product_rows(price=0), GOOD, ["no_products"]),
    ("product with quantity \"0\"", {}, None, product_rows(quantity="0"), GOOD, ["no_products"]),
    ("price and quantity as strings", {}, None, product_rows(price="150000.00", quantity="1"), GOOD, []),
    ("sum \"0.00\"", {"OPPORTUNITY": "0.00"}, None, product_rows(), GOOD, ["no_sum"]),
    ("sum empty", {"OPPORTUNITY": ""}, None, product_rows(), GOOD, ["no_sum"]),
    ("sum null", {"OPPORTUNITY": None}, None, product_rows(), GOOD, ["no_sum"]),
    ("sum negative", {"OPPORTUNITY": "-100"}, None, product_rows(), GOOD, ["no_sum"]),
    ("sum as a number", {"OPPORTUNITY": 150000}, None, product_rows(), GOOD, []),
    ("not from a lead: null", {"LEAD_ID": None}, None, product_rows(), GOOD, ["not_from_lead"]),
    ("not from a lead: \"0\"", {"LEAD_ID": "0"}, None, product_rows(), GOOD, ["not_from_lead"]),
    ("everything missing", {"UF_CRM_PRODUCT_GROUP": "", "STAGE_ID": "", "CONTACT_ID": None, "OPPORTUNITY": "",
                            "LEAD_ID": None}, [], [], [note("думает")],
     ["no_product_group", "no_stage", "no_contact", "no_expanded_comment", "no_products", "no_sum",
      "not_from_lead"]),
]


@pytest.mark.parametrize("case,fields,contacts,rows,comments,codes", CORRECTNESS, ids=[c[0] for c in CORRECTNESS])
def test_correctness(case, fields, contacts, rows, comments, codes):
    decision = evaluate(deal_json(**fields), TOUCH, comments, contacts=contacts, rows=rows)
    assert list(decision.codes) == codes
    assert decision.correct is (not codes)
    if codes:
        assert not decision.active


def test_an_incorrect_deal_is_never_active():
    decision = evaluate(deal_json(OPPORTUNITY="0.00"), TOUCH, GOOD)
    assert decision.touches[0].counted
    assert (decision.correct, decision.active, decision.active_until, decision.days_left) == (False, False, None, None)


def test_violations_have_russian_messages():
    decision = evaluate(deal_json(UF_CRM_PRODUCT_GROUP=""), TOUCH, GOOD)
    assert decision.to_dict()["violations"] == [
        {"code": "no_product_group", "message": "Не заполнена товарная группа (UF_CRM_PRODUCT_GROUP)."}]


STATUSES = [
    ("in progress", {"STAGE_ID": "EXECUTING", "STAGE_SEMANTIC_ID": "P"}, "open"),
    ("won", {"STAGE_ID": "WON", "STAGE_SEMANTIC_ID": "S", "CLOSED": "Y"}, "won"),
    ("lost", {"STAGE_ID": "LOSE", "STAGE_SEMANTIC_ID": "F", "CLOSED": "Y"}, "lost"),
    ("failure analysis", {"STAGE_ID": "APOLOGY", "STAGE_SEMANTIC_ID": "F", "CLOSED": "Y"}, "lost"),
    ("won in pipeline 1, no semantic sent", {"STAGE_ID": "C1:WON", "STAGE_SEMANTIC_ID": DROP}, "won"),
    ("lost in pipeline 1, semantic empty", {"STAGE_ID": "C1:LOSE", "STAGE_SEMANTIC_ID": ""}, "lost"),
    ("custom stage, no semantic", {"STAGE_ID": "C9:UC_KN8KFI", "STAGE_SEMANTIC_ID": DROP}, "open"),
]


@pytest.mark.parametrize("case,fields,status", STATUSES, ids=[s[0] for s in STATUSES])
def test_won_and_lost_deals_report_their_status_and_are_not_active(case, fields, status):
    decision = evaluate(deal_json(**fields), TOUCH, GOOD)
    assert decision.status == status and decision.correct
    assert decision.active is (status == "open")
    assert (decision.active_until is None) is (status != "open")


# --- one decision, however the portal spelled it ----------------------------------------------------------

def test_strings_and_numbers_give_one_decision():
    as_strings = evaluate(deal_json(), [call("1", T0, 250)], [note()], [stat("1", "200", 250)])
    as_numbers = evaluate(numeric(deal_json(OPPORTUNITY=150000.0, UF_CRM_PRODUCT_GROUP=45)),
                          [numeric(call("1", T0, 250))], [numeric(note())], [numeric(stat("1", "200", 250))])
    assert as_numbers == as_strings


def test_empty_objects_as_list_or_dict_give_one_decision():
    def spelled(empty):
        activity = call("1", T0, 250, SETTINGS=empty, PROVIDER_PARAMS=empty)
        chat_ = chat("2", after(3600), "2", "7002", SETTINGS=empty)
        history = {**history_of([]), "message": empty}
        return evaluate(activities=[activity, chat_], comments=[{**note(), "FILES": empty}],
                        chat_history={"7002": history})
    assert spelled([]) == spelled({})


def test_a_date_without_offset_is_in_the_portals_zone():
    with_offset = evaluate(activities=[call("1", T0, 250)], comments=[note()])
    naive = evaluate(activities=[call("1", T0, 250)], comments=[{**note(), "CREATED": after(600)}])
    assert naive == with_offset


def test_the_rest_envelope_is_unwrapped():
    wrapped = {"result": deal_json(), "time": {"start": 1763630000.1, "duration": 0.2}}
    assert evaluate(wrapped, TOUCH, GOOD) == evaluate(deal_json(), TOUCH, GOOD)


# --- settings change the rules ----------------------------------------------------------------------------

def test_minimum_call_length_comes_from_settings():
    settings = replace(CrmSettings(), min_call_seconds=5)
    assert evaluate(activities=[call("1", T0, 10)], comments=[note()], settings=settings).touches[0].counted
    assert not evaluate(activities=[call("1", T0, 3)], comments=[note()], settings=settings).touches[0].counted


def test_comment_window_comes_from_settings():
    settings = replace(CrmSettings(), comment_window_hours=8 * 24)
    touch = evaluate(activities=[call("1", T0, 250)], comments=[note(seconds=7 * 86400)], settings=settings)
    assert touch.touches[0].counted


def test_product_group_field_comes_from_settings():
    settings = replace(CrmSettings(), product_group_field="UF_CRM_1724077760")
    deal = deal_json(UF_CRM_PRODUCT_GROUP=DROP, UF_CRM_1724077760="79")
    assert evaluate(deal, TOUCH, GOOD, settings=settings).correct
    assert evaluate(deal, TOUCH, GOOD).codes == ("no_product_group",)


def test_actual_stages_come_from_settings():
    settings = replace(CrmSettings(), stages=("NEW", "PREPARATION", "WON", "LOSE"))
    assert evaluate(deal_json(STAGE_ID="PREPARATION"), TOUCH, GOOD, settings=settings).correct
    assert evaluate(deal_json(STAGE_ID="OLD_STAGE"), TOUCH, GOOD, settings=settings).codes == ("no_stage",)


def test_activity_window_comes_from_settings():
    settings = replace(CrmSettings(), activity_window_months=3)
    decision = evaluate(deal_json(DATE_CREATE="2026-05-10T10:00:00+03:00"), *touches_at(
        ("2026-08-05T15:00:00", EXPANDED)), settings=settings)
    assert (decision.active_until.isoformat(), decision.active) == ("2026-11-05", False)
