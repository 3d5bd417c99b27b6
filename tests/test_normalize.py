import pytest

from classifier.text.normalize import (
    collapse_repeats,
    fold_lookalikes,
    fold_yo,
    mark_stamps,
    mask_entities,
    nfkc,
    normalize,
    stamp_lemmas,
    strip_invisible,
)
from classifier.text.tokenize import tokenize

STEP_CASES = [
    (nfkc, "ＫＰ №１", "KP No1"),
    (strip_invisible, "не\u200bдозвон\u00ad", "недозвон"),
    (strip_invisible, "звонок\x07 ок", "звонок  ок"),
    (fold_lookalikes, "HД", "НД"),                      # «HД» typed with a Latin H
    (fold_lookalikes, "дoгoвop", "договор"),            # Latin o and p inside a Cyrillic word
    (fold_lookalikes, "CRM Bitrix", "CRM Bitrix"),      # Latin words stay Latin
    (fold_lookalikes, "WA ок", "WA ок"),
    (fold_yo, "берёт трубку", "берет трубку"),
    (collapse_repeats, "ооооочень дорогоооо!!!!!!", "ооочень дорогооо!!!"),
    (collapse_repeats, "ааа", "ааа"),
]


@pytest.mark.parametrize("step,text,expected", STEP_CASES, ids=[f"{c[0].__name__}:{c[1]}" for c in STEP_CASES])
def test_each_step(step, text, expected):
    assert step(text) == expected


NORMALIZE_CASES = [
    ("  Клиент   ДУМАЕТ ", "клиент думает"),
    ("HЕ БЕРЁТ\u200b ТРУБКУ", "не берет трубку"),
    ("Ок👍", "ок👍"),
]


@pytest.mark.parametrize("text,expected", NORMALIZE_CASES, ids=[c[0] for c in NORMALIZE_CASES])
def test_normalize(text, expected):
    assert normalize(text) == expected


MASK_CASES = [
    ("созвон 12.03 в 15:00", "созвон _date_ в _time_"),
    ("цена 320к, рассрочка 12 мес", "цена _money_ , рассрочка _num_ мес"),
    ("оплата 45 000 руб до 10.04.2025", "оплата _money_ до _date_"),
    ("тел 8 (916) 123-45-67", "тел _phone_"),
    ("почта ivan@mail.ru", "почта _email_"),
    ("скидка 5%", "скидка _percent_"),
    ("[phone] Вадим", "_phone_ вадим"),
    ("встреча 5 мая", "встреча _date_"),
    ("2021.03.24 не дозвонился", "_date_ не дозвонился"),
    ("тур 10-20.07, 350к", "тур _date_ , _money_"),
    ("оценка 15,2-15,8", "оценка _num_ - _num_"),
    ("созвон в 9:30", "созвон в _time_"),
]


@pytest.mark.parametrize("text,expected", MASK_CASES, ids=[c[0] for c in MASK_CASES])
def test_mask_entities(text, expected):
    assert mask_entities(normalize(text)) == expected


TOKEN_CASES = [
    ("д/о на пт", ["д/о", "на", "пт"]),
    ("н/д, б/т", ["н/д", "б/т"]),
    ("2в/о ок", ["2в/о", "ок"]),
    ("тест-драйв в сб", ["тест-драйв", "в", "сб"]),
    ("_date_ в _time_", ["_date_", "в", "_time_"]),
    ("+", ["+"]),
    ("кп+счет", ["кп", "счет"]),
]


@pytest.mark.parametrize("text,expected", TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_tokenize(text, expected):
    assert tokenize(text) == expected


@pytest.mark.parametrize(("masked", "expected"), [
    ("_date_ - нет заявок / набрать _date_", "_stamp_ - нет заявок / набрать _date_"),   # a log entry's date
    ("/ запросил кп / _date_ - не ответ", "/ запросил кп / _stamp_ - не ответ"),
    ("кп на почту;_date_ звонок", "кп на почту;_stamp_ звонок"),
    ("объект заморозили, набрать _date_", "объект заморозили, набрать _date_"),        # a dated step stays a date
    ("созвон _date_ в _time_", "созвон _date_ в _time_"),
    ("без дат", "без дат"),
])
def test_a_date_that_opens_a_log_entry_is_a_stamp(masked, expected):
    assert mark_stamps(masked) == expected


def test_a_clause_that_opens_no_log_entry_keeps_its_leading_date():
    assert mark_stamps("_date_ созвон / _date_ нд", at_start=False) == "_date_ созвон / _stamp_ нд"


def test_stamped_lemmas_follow_the_stamped_text():
    stamped = "_stamp_ - нет заявок / набрать _date_ / _stamp_ нд"
    lemmas = ["_date_", "нет", "заявка", "набрать", "_date_", "_date_", "нд"]
    assert stamp_lemmas(stamped, lemmas) == ["_stamp_", "нет", "заявка", "набрать", "_date_", "_stamp_", "нд"]
