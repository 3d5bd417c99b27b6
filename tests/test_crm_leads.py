"""Lead conversion: only after a touch and a comment about it that is not a stop phrase or padding."""

from dataclasses import replace

import pytest

from classifier.crm.settings import CrmSettings
from tests.crm_fixtures import EXPANDED, call, chat, comment, convert, email, history_of, plus

T0 = "2026-11-10T11:00:00"
LEAD = ("1", "11")  # OWNER_TYPE_ID 1: a lead


def on_lead(text: str, seconds: int = 600, id: str = "5") -> dict:
    return comment(id, plus(T0, seconds), text, entity="lead", entity_id="11")


# (case, activities, comments, chat_history, allowed under not_stop, reason, allowed under expanded, reason)
CONVERSIONS = [
    ("connected call, expanded comment", [call("1", T0, 120, owner=LEAD)], [on_lead(EXPANDED)], None,
     True, None, True, None),
    ("connected call, «Отправил КП»", [call("1", T0, 120, owner=LEAD)], [on_lead("Отправил КП")], None,
     True, None, False, "comment_not_expanded"),
    ("connected call, «перезвонить»", [call("1", T0, 120, owner=LEAD)], [on_lead("перезвонить")], None,
     False, "stop_comment", False, "comment_not_expanded"),
    ("connected call, padding", [call("1", T0, 120, owner=LEAD)], [on_lead("Привет привет привет привет")], None,
     False, "stop_comment", False, "comment_not_expanded"),
    ("connected call, no comment", [call("1", T0, 120, owner=LEAD)], [], None,
     False, "no_comment", False, "no_comment"),
    ("missed call, expanded comment", [call("1", T0, 0, direction="1", missed=True, owner=LEAD)],
     [on_lead(EXPANDED)], None, False, "no_touch", False, "no_touch"),
    ("3-second call", [call("1", T0, 3, owner=LEAD)], [on_lead(EXPANDED)], None,
     False, "no_touch", False, "no_touch"),
    ("our e-mail, never answered", [email("1", T0, "2", owner=LEAD)], [on_lead(EXPANDED)], None,
     False, "no_touch", False, "no_touch"),
    ("our e-mail and the client's reply", [email("1", T0, "2", owner=LEAD), email("2", plus(T0, 3600), "1",
                                                                                  owner=LEAD)],
     [on_lead("Договорились на пятницу", 4000)], None, True, None, False, "comment_not_expanded"),
    ("a chat the client started", [chat("1", T0, "1", "7001", owner=LEAD)], [on_lead(EXPANDED)], None,
     True, None, True, None),
    ("a chat only we wrote in", [chat("1", T0, "2", "7002", owner=LEAD)], [on_lead(EXPANDED)],
     {"7002": history_of(["7"])}, False, "no_touch", False, "no_touch"),
    ("nothing happened", [], [], None, False, "no_touch", False, "no_touch"),
]


@pytest.mark.parametrize("case,activities,comments,chats,allowed,reason,allowed_x,reason_x", CONVERSIONS,
                         ids=[c[0] for c in CONVERSIONS])
@pytest.mark.parametrize("policy", ["not_stop", "expanded"])
def test_conversion(case, activities, comments, chats, allowed, reason, allowed_x, reason_x, policy):
    settings = replace(CrmSettings(), conversion_policy=policy)
    decision = convert(activities, comments, chat_history=chats, settings=settings)
    want_allowed, want_reason = (allowed, reason) if policy == "not_stop" else (allowed_x, reason_x)
    assert decision.allowed is want_allowed
    assert list(decision.codes) == ([want_reason] if want_reason else [])


def test_what_happened_after_conversion_does_not_count():
    decision = convert([call("1", T0, 120, owner=LEAD)], [on_lead(EXPANDED)], now="2026-11-09T18:00:00+03:00")
    assert not decision.allowed and decision.codes == ("no_touch",)


def test_the_response_shape():
    body = convert([call("1", T0, 120, owner=LEAD)], [on_lead("перезвонить")]).to_dict()
    assert body["lead_id"] == "11" and body["allowed"] is False
    assert body["reasons"][0]["code"] == "stop_comment" and body["reasons"][0]["message"]
    assert body["touches"][0]["comment_verdict"] == "stop"
