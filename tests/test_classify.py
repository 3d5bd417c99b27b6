"""Example tables per category, checked against the trained model in models/.

These comments were written for this file; none is in data/. A known miss stays here as
xfail with its reason, never deleted.
"""

import re

import pytest

from classifier.verdict import MISSING_BY_CATEGORY

CASES = {
    "stop": [
        "НД",
        "HД",
        "недозвон",
        "не берет трубку",
        "б/т",
        "сбросил",
        "абонент недоступен",
        "автоответчик",
        "перезвонить",
        "Клиент думает",
        "пообщались",
        "занят",
        "отправил инфо",
        "ок",
        "+",
        "Позвонил. Пообщались. Договорились перезвонить",
        "Обсудили программу, думает",
        "Отправил КП",
        "инфу отправила в ватсап",
    ],
    "padding": [
        "нд нд нд нд нд нд нд нд",
        "ывапролдж фывапр",
        "Тема: ___ Итог: ___ Следующий шаг: ___",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit",
        "Здравствуйте! Добрый день! Спасибо, всего доброго!",
        "звонок звонок звонок звонок звонок звонок",
    ],
    "expanded": [
        "MBA онлайн, цена 320к ок, рассрочка 12 мес — ждет договор на почту, подпишет до пт",
        "Обсудили КП: дорого на 10%, согласовал скидку 5%, ждёт счёт до пт",
        "Перезвон: уточняла удалёнку. Попросила перезвонить после 18:00",
        "НД утром, вечером дозвонилась: интересует вечерняя форма, стоимость устроила, договор подпишет в среду",
        "Клиенту нужна доставка 20 паллет в Казань еженедельно, согласовали тариф 48к за рейс, первый рейс 3 марта",
        "Договорились о поэтапной оплате 50/50, первый платёж до 15.04, клиент уточнял про скидку для студентов",
        "Ищут 2-комнатную у метро до 12 млн, ипотека одобрена в ВТБ. Показ в субботу в 12:00 на Лесной",
        "кл хочет КАСКО на новый киа, сравнивал с Ингосом, наша цена ниже на 8к, полис оформим в пн",
        # LABELLING.md precedents
        "Отказ: не готов к ночным сменам и выездам на линию",
        "Договорились о поэтапной оплате 50/50",
    ],
    "subject_only": [
        "Обсудили MBA, интересует онлайн формат и стоимость, сравнивает с ВШЭ",
        "Клиент думает. Говорит, что новостройки переоценены и ждет снижения ставки",
        "Интересуется тарифом для 15 сотрудников, спрашивал про интеграцию с 1С и выгрузку отчётов",
    ],
    "outcome_only": [
        "Договорились созвониться в пятницу",
        "Перезвонить 14.03 в 11:00",
        "Позвонить 15 мая в 14:00, уточнить решение по кредиту",
        "Отказ",
        "Аванс внесён",
        # LABELLING.md precedents
        "клиент отказался",
        "Перезвонить в мае",
        "просил перезвонить после праздников",
        "Приняли предложение 9.2",
    ],
}

KNOWN_MISSES = {
    # «стоимость устроила» is read as the outcome, «интересует вечерняя форма» as a weak subject (0.39 by the
    # whole-text head, 0.19 by the best clause): 0.27 against the threshold 0.35
    "НД утром, вечером дозвонилась: интересует вечерняя форма, стоимость устроила, договор подпишет в среду":
        "the subject «интересует вечерняя форма» is weak for both heads (0.27 < 0.35)",
    # a refusal whose reason is the whole subject: P(subject) 0.53 by the whole-text head, 0.19 by the clause
    # heads; 0.31 in all (0.25 after the second review of the real labels, 0.22 with the `hand_real_*` data)
    "Отказ: не готов к ночным сменам и выездам на линию":
        "the reason of the refusal reads as a weak subject (0.22 < 0.35)",
    # the agreement itself states the terms; both heads read it as an agreed step with nothing discussed
    "Договорились о поэтапной оплате 50/50":
        "terms stated inside the agreement are read as no subject (0.001 < 0.35)",
}


def _param(cat, text):
    marks = [pytest.mark.xfail(reason=KNOWN_MISSES[text], strict=True)] if text in KNOWN_MISSES else []
    return pytest.param(cat, text, id=f"{cat}:{text[:40]}", marks=marks)


ROWS = [_param(cat, text) for cat, texts in CASES.items() for text in texts]


@pytest.mark.parametrize("category,text", ROWS)
def test_label(checker, category, text):
    """The decision that matters: expanded or not."""
    assert checker.classify(text).expanded == (category == "expanded")


STRICT = [_param(c, t) for c, ts in CASES.items() for t in ts if c in ("stop", "padding", "expanded")]


@pytest.mark.parametrize("category,text", STRICT)
def test_category(checker, category, text):
    assert checker.classify(text).category == category


@pytest.mark.parametrize("text", ["НД", "Отказ", "Обсудили MBA, интересует онлайн формат",
                                  "MBA онлайн, цена 320к ок, рассрочка 12 мес — ждет договор на почту, подпишет до пт"])
def test_verdict_is_consistent(checker, text):
    v = checker.classify(text)
    assert 0.0 <= v.score <= 1.0
    assert v.expanded == (v.category == "expanded")
    assert v.missing == MISSING_BY_CATEGORY[v.category]
    assert bool(v.hints) == (not v.expanded)
    assert all(re.search("[а-яА-Я]", h) for h in v.hints), "hints are for the manager, in Russian"
    assert v.model_version == checker.model_version


def test_stop_phrase_is_named_by_rule(checker):
    v = checker.classify("не берёт трубку")
    assert (v.category, v.rule) == ("stop", "no_answer")


def test_a_stop_phrase_inside_an_expanded_comment_does_not_decide(checker):
    v = checker.classify("НД утром, вечером дозвонилась: интересует вечерняя форма, стоимость устроила, "
                         "договор подпишет в среду")
    assert v.rule is None and v.score > 0  # the model decided (its verdict: KNOWN_MISSES)
    v = checker.classify("НД утром, вечером дозвонилась: главбух уволилась, на аутсорс согласны на 3 мес, "
                         "договор подпишут в среду")
    assert v.rule is None and v.expanded


@pytest.mark.parametrize("text", ["", "   ", "\u200b", None])
def test_empty_input_is_stop_not_a_crash(checker, text):
    v = checker.classify_many([text])[0]
    assert (v.category, v.expanded) == ("stop", False)


def test_explain_gives_lemmas_and_spans(checker):
    text = "НД утром, вечером дозвонилась: договор подпишет в среду"
    details = checker.classify(text, explain=True).details
    assert details["lemmas"][0] == "недозвон" and "дозвониться" in details["lemmas"]
    hit = details["rule_hits"][0]
    assert text[hit["start"]:hit["end"]] == "НД"
    assert details["top_terms"] and {"term", "weight"} <= set(details["top_terms"][0])


def test_batch_equals_single(checker):
    texts = [t for ts in CASES.values() for t in ts]
    assert [v.to_dict() for v in checker.classify_many(texts)] == [checker.classify(t).to_dict() for t in texts]


def test_a_comment_without_a_stop_phrase_is_not_called_one(checker):
    """«стоп-фраза или статус звонка» said of a comment with none in it contradicts the text."""
    text = "Сделал презентацию продукта, клиенту понравилось, ждет договор"
    verdict = checker.classify(text)
    assert not verdict.expanded and verdict.rule is None
    assert verdict.category in ("subject_only", "outcome_only")
    assert all("Статус звонка" not in hint for hint in verdict.hints)


def test_stop_needs_a_stop_phrase_or_a_sure_category_head():
    import numpy as np

    from classifier.checker import _rejection
    from classifier.model.linear import Prediction
    classes = np.array(["expanded", "outcome_only", "padding", "stop", "subject_only"])
    unsure = Prediction(np.array([0.02]), np.array([0.2]), np.array([0.1]), np.array([[.2, .2, .1, .3, .2]]), classes)
    sure = Prediction(np.array([0.02]), np.array([0.2]), np.array([0.1]), np.array([[0, 0, 0, .9, .1]]), classes)
    assert _rejection(unsure, 0, has_stop_phrase=True) == "stop"
    assert _rejection(unsure, 0, has_stop_phrase=False) == "subject_only"  # missing the weaker fact: agreed
    assert _rejection(sure, 0, has_stop_phrase=False) == "stop"
