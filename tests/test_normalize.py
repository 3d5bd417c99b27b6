import pytest

from classifier.text.normalize import (
    collapse_repeats,
    fold_lookalikes,
    fold_yo,
    mask_entities,
    nfkc,
    normalize,
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
