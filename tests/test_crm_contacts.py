"""Contact rules and contact duplicates, over crm.contact.get / crm.contact.list rows."""

import pytest

from classifier.crm import bitrix
from classifier.crm.contacts import check_contact
from classifier.crm.duplicates import find_contact_duplicates
from classifier.crm.identity import name_key, phone_key
from classifier.crm.settings import CrmSettings

SETTINGS = CrmSettings()
DROP = object()


def phone(value: str, kind: str = "MOBILE") -> dict:
    return {"ID": "1", "VALUE_TYPE": kind, "VALUE": value, "TYPE_ID": "PHONE"}


def mail(value: str, kind: str = "HOME") -> dict:
    return {"ID": "2", "VALUE_TYPE": kind, "VALUE": value, "TYPE_ID": "EMAIL"}


def contact_json(id: str = "201", **fields) -> dict:
    raw = {"ID": id, "LAST_NAME": "Иванов", "NAME": "Пётр", "SECOND_NAME": "Сергеевич", "HONORIFIC": None,
           "BIRTHDATE": "1985-03-14T00:00:00+03:00", "ASSIGNED_BY_ID": "7", "HAS_PHONE": "Y", "HAS_EMAIL": "Y",
           "PHONE": [phone("8 (916) 123-45-67")], "EMAIL": [mail("petr.ivanov@mail.ru")]}
    raw.update(fields)
    return {k: v for k, v in raw.items() if v is not DROP}


def check(raw: dict, **kw):
    return check_contact(bitrix.contact_from_bitrix(raw, SETTINGS), SETTINGS, **kw)


CHECKS = [
    ("every field", {}, {}, []),
    ("no patronymic", {"SECOND_NAME": ""}, {}, ["no_full_name"]),
    ("no last name, null", {"LAST_NAME": None}, {}, ["no_full_name"]),
    ("no phone", {"PHONE": DROP, "HAS_PHONE": "N"}, {}, ["no_phone", "no_mobile_phone"]),
    ("phone is []", {"PHONE": []}, {}, ["no_phone", "no_mobile_phone"]),
    ("phone «нет»", {"PHONE": [phone("нет")]}, {}, ["no_phone", "no_mobile_phone"]),
    ("only a work phone", {"PHONE": [phone("+7 495 777-20-10", "WORK")]}, {}, ["no_mobile_phone"]),
    ("mobile typed with 8 and brackets", {"PHONE": [phone("8 (916) 123-45-67")]}, {}, []),
    ("no birthdate", {"BIRTHDATE": ""}, {}, ["no_birthdate"]),
    ("only a work e-mail", {"EMAIL": [mail("p.ivanov@stroymontazh.ru", "WORK")]}, {}, ["no_private_email"]),
    ("no e-mail, null", {"EMAIL": None}, {}, ["no_private_email"]),
    ("the manager's own e-mail", {"EMAIL": [mail("petr.ivanov@mail.ru"), mail("O.Smirnova@example-bank.ru", "WORK")]},
     {"employee_emails": ["o.smirnova@example-bank.ru"]}, ["employee_email"]),
    ("a corporate domain", {"EMAIL": [mail("petr.ivanov@mail.ru"), mail("sales@msk.example-bank.ru", "WORK")]},
     {"corporate_domains": ["example-bank.ru"]}, ["employee_email"]),
    ("a staff address as the only private e-mail", {"EMAIL": [mail("d.kozlov@example-bank.ru")]},
     {"corporate_domains": ["@example-bank.ru"]}, ["no_private_email", "employee_email"]),
    ("a look-alike domain is not ours", {"EMAIL": [mail("petr@notexample-bank.ru")]},
     {"corporate_domains": ["example-bank.ru"]}, []),
    ("nothing filled", {"LAST_NAME": "", "NAME": "", "SECOND_NAME": "", "BIRTHDATE": "", "PHONE": [], "EMAIL": []},
     {}, ["no_full_name", "no_phone", "no_mobile_phone", "no_birthdate", "no_private_email"]),
]


@pytest.mark.parametrize("case,fields,lists,codes", CHECKS, ids=[c[0] for c in CHECKS])
def test_check_contact(case, fields, lists, codes):
    result = check(contact_json(**fields), **lists)
    assert list(result.codes) == codes
    assert result.valid is (not codes)


def test_full_name_message_says_which_part_is_missing():
    result = check(contact_json(SECOND_NAME=""))
    assert result.to_dict()["violations"] == [{"code": "no_full_name", "message": "Не заполнено ФИО: отчество."}]


def test_employee_emails_from_settings():
    settings = CrmSettings(corporate_domains=("example-bank.ru",))
    contact = bitrix.contact_from_bitrix(contact_json(EMAIL=[mail("a@example-bank.ru")]), settings)
    assert "employee_email" in check_contact(contact, settings).codes


# --- normalisation ---------------------------------------------------------------------------------------
PHONES = [("8 (916) 123-45-67", "+79161234567"), ("+79161234567", "+79161234567"), ("79161234567", "+79161234567"),
          ("8-916-123-45-67", "+79161234567"), ("+7 916 123 45 67", "+79161234567"), ("9161234567", "+79161234567"),
          ("8 (916) 123-45-67 доб. 12", "+79161234567"), ("+1 415 555 2671", "+14155552671"), ("нет", None),
          ("123", None), ("", None)]


@pytest.mark.parametrize("value,expected", PHONES, ids=[p[0] or "empty" for p in PHONES])
def test_phones_to_e164(value, expected):
    assert phone_key(value) == expected


NAMES = [(("Иванов", "Пётр", "Сергеевич"), ("петр", "иванов", "сергеевич")),
         (("ИВАНОВ", "петр", ""), ("Пётр  Иванов",)),
         (("Иванов Пётр Сергеевич",), ("Сергеевич", "Пётр", "Иванов")),
         (("Салтыкова-Щедрина", "Анна"), ("анна", "салтыкова-щедрина")),
         (("Иванов", "Пётр"), ("Ивaнов", "Пётр"))]  # the second «Ивaнов» has a Latin «a»


@pytest.mark.parametrize("one,other", NAMES, ids=[" ".join(n[0]) for n in NAMES])
def test_names_equal_after_normalisation(one, other):
    assert name_key(*one) == name_key(*other) is not None


def test_a_single_word_is_not_a_full_name():
    assert name_key("Иван") is None and name_key("", "Иван", "") is None


# --- duplicates --------------------------------------------------------------------------------------------

def dupes(*rows):
    contacts = bitrix.records(list(rows), bitrix.contact_from_bitrix, SETTINGS, "contacts")
    return [(g.contact_ids, g.matched_on) for g in find_contact_duplicates(contacts, SETTINGS)]


DUPLICATES = [
    ("8 (916) vs +7916, same name",
     [contact_json("1"), contact_json("2", PHONE=[phone("+79161234567")], BIRTHDATE="")],
     [(("1", "2"), ("full_name", "phone"))]),
    ("name order, case and ё", [contact_json("1", BIRTHDATE=""),
                                contact_json("2", LAST_NAME="петр", NAME="ИВАНОВ", SECOND_NAME="сергеевич",
                                             PHONE=[phone("79161234567", "WORK")], BIRTHDATE="")],
     [(("1", "2"), ("full_name", "phone"))]),
    ("same name and birthdate, other phones", [contact_json("1"), contact_json("2", PHONE=[phone("+79039990011")])],
     [(("1", "2"), ("full_name", "birthdate"))]),
    ("same phone and birthdate, other name", [contact_json("1"), contact_json("2", LAST_NAME="Петров")],
     [(("1", "2"), ("phone", "birthdate"))]),
    ("all three", [contact_json("1"), contact_json("2")], [(("1", "2"), ("full_name", "phone", "birthdate"))]),
    ("only the name matches", [contact_json("1"), contact_json("2", PHONE=[phone("+79039990011")],
                                                               BIRTHDATE="1990-01-01T00:00:00+03:00")], []),
    ("only the phone matches (a family phone)", [contact_json("1"),
                                                 contact_json("2", NAME="Мария", SECOND_NAME="Петровна",
                                                              BIRTHDATE="1990-01-01T00:00:00+03:00")], []),
    ("a second phone matches", [contact_json("1", BIRTHDATE=""),
                                contact_json("2", PHONE=[phone("+74951112233", "WORK"), phone("89161234567")],
                                             BIRTHDATE="")],
     [(("1", "2"), ("full_name", "phone"))]),
    ("a chain joins three", [contact_json("1"), contact_json("2", PHONE=[phone("+79039990011")]),
                             contact_json("3", LAST_NAME="Петров", PHONE=[phone("+79039990011")])],
     [(("1", "2", "3"), ("full_name", "phone", "birthdate"))]),
    ("the same contact twice in the export", [contact_json("1"), contact_json("1")], []),
    ("one-word names do not match by name", [contact_json("1", LAST_NAME="", SECOND_NAME="", PHONE=[]),
                                             contact_json("2", LAST_NAME="", SECOND_NAME="", PHONE=[])], []),
]


@pytest.mark.parametrize("case,rows,groups", DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_contact_duplicates(case, rows, groups):
    assert dupes(*rows) == groups
