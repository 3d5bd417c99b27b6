"""The Bitrix24 adapter: every shape a real portal sends for one value, and errors that name the field."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from classifier.crm import bitrix
from classifier.crm.bitrix import BitrixFormatError
from classifier.crm.settings import CrmSettings
from tests.crm_fixtures import call, chat, comment, email, history_of

SETTINGS = CrmSettings()
MSK = timezone(timedelta(hours=3))

IDS = [("410", "410"), (410, "410"), (410.0, "410"), (" 410 ", "410"), ("", None), (None, None), (0, None),
       ("0", None), ([], None), (False, None)]


@pytest.mark.parametrize("value,expected", IDS, ids=[repr(v) for v, _ in IDS])
def test_ids(value, expected):
    assert bitrix.to_id(value) == expected


NUMBERS = [("1000000.00", 1000000.0), (1000000, 1000000.0), ("1 000 000,50", 1000000.5), ("19999.99", 19999.99),
           ("\u00a0150\u00a0000", 150000.0), ("", None), (None, None), ([], None), ("-100", -100.0)]


@pytest.mark.parametrize("value,expected", NUMBERS, ids=[repr(v) for v, _ in NUMBERS])
def test_numbers(value, expected):
    assert bitrix.to_number(value) == expected


FLAGS = [("Y", True), ("N", False), ("y", True), (True, True), (False, False), (1, True), ("0", False),
         ("true", True), ("", False), (None, False), ([], False)]


@pytest.mark.parametrize("value,expected", FLAGS, ids=[repr(v) for v, _ in FLAGS])
def test_flags(value, expected):
    assert bitrix.to_flag(value) is expected


MOMENTS = [
    ("2024-08-30T14:29:00+02:00", datetime(2024, 8, 30, 14, 29, tzinfo=timezone(timedelta(hours=2)))),
    ("2024-08-30T14:29:00+03:00", datetime(2024, 8, 30, 14, 29, tzinfo=MSK)),
    ("2024-08-30T11:29:00+00:00", datetime(2024, 8, 30, 14, 29, tzinfo=MSK)),
    ("2024-08-30T11:29:00Z", datetime(2024, 8, 30, 14, 29, tzinfo=MSK)),
    ("2024-08-30T14:29:00", datetime(2024, 8, 30, 14, 29, tzinfo=MSK)),  # no offset: the portal's
    ("2024-01-01", datetime(2024, 1, 1, tzinfo=MSK)),
    (1724140800, datetime(2024, 8, 20, 8, 0, tzinfo=UTC)),  # event `ts`
    ("", None), (None, None),
]


@pytest.mark.parametrize("value,expected", MOMENTS, ids=[repr(v) for v, _ in MOMENTS])
def test_moments_compare_as_instants(value, expected):
    assert bitrix.to_moment(value, MSK) == expected


BIRTHDATES = [("2001-11-11T02:00:00+02:00", date(2001, 11, 11)), ("1985-03-14T00:00:00+03:00", date(1985, 3, 14)),
              ("1985-03-14", date(1985, 3, 14)), ("14.03.1985", date(1985, 3, 14)), ("", None), (None, None)]


@pytest.mark.parametrize("value,expected", BIRTHDATES, ids=[repr(v) for v, _ in BIRTHDATES])
def test_birthdate_is_the_first_ten_characters(value, expected):
    assert bitrix.to_day(value) == expected


MAPPINGS = [([], {}), ({}, {}), (None, {}), ("", {}), ({"MISSED_CALL": True}, {"MISSED_CALL": True}),
            ([{"a": 1}], {"0": {"a": 1}})]


@pytest.mark.parametrize("value,expected", MAPPINGS, ids=[repr(v) for v, _ in MAPPINGS])
def test_empty_objects_come_as_list_or_dict(value, expected):
    assert bitrix.to_mapping(value) == expected


ROWS = [([], []), ({}, []), (None, []), ({"result": [{"ID": "1"}], "total": 1, "time": {}}, [{"ID": "1"}]),
        ({"n0": {"VALUE": "x"}}, [{"VALUE": "x"}]), ([{"ID": "1"}], [{"ID": "1"}])]


@pytest.mark.parametrize("value,expected", ROWS, ids=[repr(v) for v, _ in ROWS])
def test_rows(value, expected):
    assert bitrix.to_rows(value) == expected


MARKUP = [
    ("[B]Клиент[/B] согласен", "bb", "Клиент согласен"),
    ("[USER=5]Ольга Смирнова[/USER], перезвони", "bb", "Ольга Смирнова , перезвони"),
    ("<p>Добрый день!&nbsp;Условия&nbsp;ниже</p><br>", "html", "Добрый день! Условия ниже"),
    ("цена <100 тыс., срок >2 мес", "bb", "цена <100 тыс., срок >2 мес"),  # not HTML: the signs stay
    ("[важно] договор в пн", "bb", "[важно] договор в пн"),
]


@pytest.mark.parametrize("text,markup,expected", MARKUP, ids=[m[0][:20] for m in MARKUP])
def test_markup_is_stripped_from_comments(text, markup, expected):
    assert bitrix.plain_text(text, markup) == expected


# --- records ----------------------------------------------------------------------------------------------

def test_activity_kinds_directions_and_owners():
    rows = [call("1", "2026-11-10T11:00:00", 95, BINDINGS=[{"OWNER_TYPE_ID": "3", "OWNER_ID": "201"}]),
            email("2", "2026-11-10T12:00:00", "1"), chat("3", "2026-11-10T13:00:00", "1", "7001"),
            {**call("4", "2026-11-10T14:00:00", 0), "PROVIDER_ID": None},  # a legacy call: TYPE_ID 2 only
            {**call("5", "2026-11-10T14:00:00", 0), "PROVIDER_ID": "CRM_SMS", "TYPE_ID": "6"}]
    activities = bitrix.records(rows, bitrix.activity_from_bitrix, SETTINGS, "activities")
    assert [(a.kind, a.direction) for a in activities] == [
        ("call", "out"), ("email", "in"), ("chat", "in"), ("call", "out"), ("other", "out")]
    assert activities[0].duration == 95 and activities[0].owners == ((2, "410"), (3, "201"))
    assert activities[1].description == "Добрый день! Направляю условия."
    assert activities[2].session_id == "7001"


def test_missed_call_flag_in_settings():
    missed = bitrix.activity_from_bitrix(call("1", "2026-11-10T11:00:00", 0, missed=True), SETTINGS)
    answered = bitrix.activity_from_bitrix(call("1", "2026-11-10T11:00:00", 0), SETTINGS)
    assert missed.missed and not answered.missed


def test_chat_history_marks_client_messages():
    session = bitrix.chat_from_bitrix("7002", history_of(["7", "0", "1503"]), SETTINGS)
    assert [m.from_client for m in session.messages] == [False, False, True] and session.client_wrote
    assert not bitrix.chat_from_bitrix("7002", {"message": [], "users": []}, SETTINGS).client_wrote


def test_contact_multifields_and_birthdate():
    raw = {"ID": "201", "NAME": "Пётр", "LAST_NAME": "Иванов", "SECOND_NAME": None,
           "BIRTHDATE": "2001-11-11T02:00:00+02:00",
           "PHONE": [{"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": "8 (916) 123-45-67", "TYPE_ID": "PHONE"},
                     {"ID": "2", "VALUE_TYPE": "work", "VALUE": "", "TYPE_ID": "PHONE"}],
           "EMAIL": None}
    contact = bitrix.contact_from_bitrix(raw, SETTINGS)
    assert contact.birthdate == date(2001, 11, 11) and contact.second_name == ""
    assert [(p.value_type, p.value) for p in contact.phones] == [("MOBILE", "8 (916) 123-45-67")]
    assert contact.emails == () and contact.full_name == "Иванов Пётр"


def test_comment_entity_type_is_lower_case():
    parsed = bitrix.comment_from_bitrix({**comment("5", "2026-11-10T11:00:00", "НД"), "ENTITY_TYPE": "DEAL"},
                                        SETTINGS)
    assert (parsed.entity_type, parsed.entity_id) == ("deal", "410")


# --- malformed values name their field ----------------------------------------------------------------------
MALFORMED = [
    ("deal without ID", lambda: bitrix.deal_from_bitrix({"TITLE": "x"}, SETTINGS), "ID: missing"),
    ("deal not an object", lambda: bitrix.deal_from_bitrix(["x"], SETTINGS), "expected an object"),
    ("sum in words", lambda: bitrix.deal_from_bitrix({"ID": "1", "OPPORTUNITY": "много"}, SETTINGS),
     "OPPORTUNITY: expected a number"),
    ("bad DATE_CREATE", lambda: bitrix.deal_from_bitrix({"ID": "1", "DATE_CREATE": "вчера"}, SETTINGS),
     "DATE_CREATE: expected an ISO datetime"),
    ("product group object", lambda: bitrix.deal_from_bitrix({"ID": "1", "UF_CRM_PRODUCT_GROUP": {"a": 1}},
                                                             SETTINGS), "UF_CRM_PRODUCT_GROUP:"),
    ("bad START_TIME in the 2nd activity",
     lambda: bitrix.records([call("1", "2026-11-10T11:00:00", 5), {**call("2", "2026-11-10T11:00:00", 5),
                                                                   "START_TIME": "10.11.2026 11:00"}],
                            bitrix.activity_from_bitrix, SETTINGS, "activities"),
     "activities.1.START_TIME: expected an ISO datetime"),
    ("MISSED_CALL not a flag",
     lambda: bitrix.activity_from_bitrix(call("1", "2026-11-10T11:00:00", 5, SETTINGS={"MISSED_CALL": "maybe"}),
                                         SETTINGS), "SETTINGS.MISSED_CALL: expected Y or N"),
    ("activities not a list", lambda: bitrix.history_from_bitrix(SETTINGS, activities="none"),
     "activities: expected a list"),
    ("contact item object ID", lambda: bitrix.deal_contacts([{"CONTACT_ID": {"id": 5}}]),
     "contacts.0.CONTACT_ID: expected an ID"),
    ("bad birthdate", lambda: bitrix.contact_from_bitrix({"ID": "1", "BIRTHDATE": "31.02.1990"}, SETTINGS),
     "BIRTHDATE: expected a date"),
    ("PHONE not a list", lambda: bitrix.contact_from_bitrix({"ID": "1", "PHONE": "+79161234567"}, SETTINGS),
     "PHONE: expected a list of records"),
    ("chat message date",
     lambda: bitrix.chats_from_bitrix({"7002": {"message": {"1": {"senderid": 1, "date": "x"}}}}, SETTINGS),
     "chat_history.7002.message.0.date"),
]


@pytest.mark.parametrize("case,parse,says", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_values_name_the_field(case, parse, says):
    with pytest.raises(BitrixFormatError) as info:
        parse()
    assert says in str(info.value)
