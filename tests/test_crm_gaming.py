"""Signals of gaming: reused comments do not count, a comment is judged without its repeats, promises are
checked against facts, late comments before an audit are a pattern (classifier/crm/gaming.py)."""

from dataclasses import replace
from datetime import date, datetime

import pytest

from classifier.crm import bitrix
from classifier.crm.deals import decide, evaluate_deal
from classifier.crm.gaming import (
    Lag,
    ReuseIndex,
    find_bursts,
    find_promises,
    judge_without_repeats,
    similarity,
    without_repeats,
)
from classifier.crm.settings import CrmSettings
from classifier.crm.touches import REPEATED
from tests.crm_fixtures import (
    EXPANDED,
    EXPANDED_2,
    EXPANDED_3,
    call,
    comment,
    deal_json,
    email,
    evaluate,
    fake_judge,
    plus,
    product_rows,
    todo,
    words_judge,
    written,
)

T0 = "2026-11-10T11:00:00"  # a Tuesday
SETTINGS = CrmSettings()


def after(seconds: int) -> str:
    return plus(T0, seconds)


DAY = 86400
EDITED = EXPANDED.replace("150 тыс.", "200 тыс.").replace("11:00", "15:30")  # numbers masked: the same text
RENAMED = "Ирина Павловна: " + EXPANDED


# --- reuse within one deal -------------------------------------------------------------------------------

def test_the_same_comment_on_a_later_touch_of_the_deal_does_not_count():
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), EXPANDED), comment("6", after(DAY + 600), EXPANDED)])
    first, second = decision.touches
    assert first.counted and first.comment_id == "5"
    assert (second.counted, second.why_not, second.comment_id) == (False, "reused_comment", "6")
    assert second.reused.id == "5" and second.reused.same_deal and second.reused.similarity == 1.0
    assert "#5" in second.message and "в этой же сделке" in second.message
    assert decision.last_touch.activity_id == "1"


@pytest.mark.parametrize("copy", [EDITED, RENAMED], ids=["numbers changed", "a name put before it"])
def test_a_nearly_identical_copy_is_a_reuse(copy):
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), EXPANDED), comment("6", after(DAY + 600), copy)],
                        judge=words_judge)
    assert [t.why_not for t in decision.touches] == [None, "reused_comment"]
    assert 0.6 <= decision.touches[1].reused.similarity <= 1.0


def test_the_threshold_comes_from_settings():
    strict = replace(SETTINGS, reuse_similarity=1.0)
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), EXPANDED), comment("6", after(DAY + 600), RENAMED)],
                        judge=words_judge, settings=strict)
    assert [t.why_not for t in decision.touches] == [None, None]


def test_different_honest_comments_all_count():
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250), call("3", after(2 * DAY), 250)],
                        comments=[comment("5", after(600), EXPANDED), comment("6", after(DAY + 600), EXPANDED_2),
                                  comment("7", after(2 * DAY + 600), EXPANDED_3)])
    assert [t.counted for t in decision.touches] == [True, True, True]


def test_two_nd_comments_are_not_a_reuse():
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), "НД"), comment("6", after(DAY + 600), "НД")])
    assert [t.why_not for t in decision.touches] == ["comment_not_expanded", "comment_not_expanded"]


def test_a_short_accepted_comment_repeated_is_two_facts():
    short = "Аванс внесён полностью, отгрузка завтра"  # 5 words: below reuse.min_words (6)
    judge = lambda texts: [fake_judge([EXPANDED])[0] for _ in texts]  # noqa: E731 — everything is expanded
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), short), comment("6", after(DAY + 600), short)], judge=judge)
    assert [t.counted for t in decision.touches] == [True, True]
    longer = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)], judge=judge,
                      comments=[comment("5", after(600), short + " утром"), comment("6", after(DAY + 600),
                                                                                   short + " утром")])
    assert [t.counted for t in longer.touches] == [True, False]


def test_an_original_comment_in_the_window_still_makes_the_touch():
    decision = evaluate(activities=[call("1", T0, 250), call("2", after(DAY), 250)],
                        comments=[comment("5", after(600), EXPANDED), comment("6", after(DAY + 300), EXPANDED),
                                  comment("7", after(DAY + 900), EXPANDED_2)])
    second = decision.touches[1]
    assert (second.counted, second.comment_id) == (True, "7")


def test_a_note_copied_into_a_timeline_comment_is_a_reuse():
    decision = evaluate(activities=[call("1", T0, 250, description=EXPANDED), call("2", after(DAY), 250)],
                        comments=[comment("6", after(DAY + 600), EXPANDED)])
    second = decision.touches[1]
    assert second.why_not == "reused_comment" and (second.reused.kind, second.reused.id) == ("note", "1")
    assert "заметку к звонку #1" in second.message


# --- reuse across deals (other_comments) ----------------------------------------------------------------

def test_a_comment_pasted_from_another_deal_does_not_count():
    others = [written("999", "77", "2026-11-01T10:00:00", EXPANDED)]
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), EXPANDED)],
                        other_comments=others)
    touch = decision.touches[0]
    assert (touch.counted, touch.why_not) == (False, "reused_comment")
    assert touch.reused.deal_id == "999" and not touch.reused.same_deal
    assert "в сделке 999" in touch.message and "#77" in touch.message
    assert decision.active_until.isoformat() == "2026-11-01" and not decision.active  # created 1 Sep + 2 months
    assert decision.correct, "not punished: the deal has its expanded comment, only the touch does not count"


def test_the_earlier_comment_is_the_original():
    others = [written("999", "77", "2026-11-15T10:00:00", EXPANDED)]  # pasted there later
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), EXPANDED)],
                        other_comments=others)
    assert decision.touches[0].counted


def test_another_managers_comment_on_another_deal_is_not_a_reuse():
    others = [written("999", "77", "2026-11-01T10:00:00", EXPANDED, manager="9")]
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), EXPANDED)],
                        other_comments=others)
    assert decision.touches[0].counted


def test_other_comments_of_this_same_deal_are_ignored():
    others = [written("410", "5", "2026-11-10T11:10:00", EXPANDED)]  # the deal's own comment, sent again
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), EXPANDED)],
                        other_comments=others)
    assert decision.touches[0].counted


def test_the_positional_call_of_the_worker_still_works():
    """classifier/bitrix24/worker.py calls evaluate_deal(deal, history, judge, crm, now)."""
    settings = CrmSettings()
    deal = bitrix.deal_from_bitrix(deal_json(), settings, (), bitrix.deal_product_rows(product_rows(), settings))
    history = bitrix.history_from_bitrix(settings, [call("1", T0, 250)], [comment("5", after(600), EXPANDED)])
    now = datetime.fromisoformat("2026-11-20T12:00:00+03:00")
    decision = evaluate_deal(deal, history, fake_judge, settings, now)
    assert decision.touches[0].counted and decision.active
    verdicts = dict(zip([EXPANDED], fake_judge([EXPANDED])))
    assert decide(deal, history, verdicts, settings, now) == decision


def test_an_activity_bound_to_two_deals_is_one_note_not_a_copy():
    note = bitrix.activity_from_bitrix(call("1", T0, 250, description=EXPANDED), SETTINGS)
    from classifier.crm.gaming import note_of
    index = ReuseIndex([note_of(note, "410", "7"), note_of(note, "411", "7")], SETTINGS)
    assert index.earlier_match(note_of(note, "411", "7")) is None


def test_similarity_masks_numbers_and_ignores_case():
    assert similarity("Созвон 12.03 в 15:00, скидка 5%", "созвон 14.04 в 10:30, СКИДКА 7%", SETTINGS) == 1.0
    assert similarity(EXPANDED, EXPANDED_2, SETTINGS) < 0.2


# --- a comment that repeats itself ----------------------------------------------------------------------

REPEATS = [
    ("pasted twice with a space", "отказались, цена не устроила отказались, цена не устроила",
     "отказались, цена не устроила"),
    ("pasted twice as sentences", "Оплата поступила 100%. Оплата поступила 100%.", "Оплата поступила 100%."),
    ("pasted on a new line", "Клиент думает над КП\nКлиент думает над КП", "Клиент думает над КП"),
    ("three times", "в работе в работе в работе", "в работе"),
    ("a repeated run inside", "Обсудили цену и сроки, клиент думает. Обсудили цену и сроки, ждём ответ",
     "Обсудили цену и сроки, клиент думает. ждём ответ"),
    ("the copy began before the first run", "Пациентка 54 г, боли в спине. Пациентка 54 г, боли в спине",
     "Пациентка 54 г, боли в спине."),
    ("case and ё do not hide it", "Ждём ответ до пятницы. ждем ОТВЕТ до пятницы", "Ждём ответ до пятницы."),
    ("dates of a log are not a repeat", "набрать 24.07.25 / 24.07.25 - дал свой номер",
     "набрать 24.07.25 / 24.07.25 - дал свой номер"),
    ("an honest comment is unchanged", EXPANDED, EXPANDED),
    ("two words said twice are not a run", "созвон в пн, созвон в чт", "созвон в пн, созвон в чт"),
]


@pytest.mark.parametrize("case,text,expected", REPEATS, ids=[r[0] for r in REPEATS])
def test_without_repeats(case, text, expected):
    assert without_repeats(text, SETTINGS.repeat_min_words) == expected


def test_a_comment_doubled_to_look_long_is_judged_once():
    short = "Клиент думает над КП, ждём ответа"  # 6 words: words_judge wants 8
    verdicts = judge_without_repeats([short + ". " + short], words_judge, SETTINGS)
    verdict = verdicts[short + ". " + short]
    assert (verdict.expanded, verdict.repeated) == (False, True)
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), short + ". " + short)],
                        judge=words_judge)
    touch = decision.touches[0]
    assert (touch.counted, touch.why_not, touch.message) == (False, "comment_not_expanded", REPEATED)


def test_a_long_comment_with_a_repeat_still_counts():
    text = EXPANDED + " " + EXPANDED
    decision = evaluate(activities=[call("1", T0, 250)], comments=[comment("5", after(600), text)], judge=words_judge)
    assert decision.touches[0].counted, "without the repeat it is still expanded"


def test_cutting_the_repeats_cannot_hide_padding():
    padding = "Привет привет привет привет"
    verdict = judge_without_repeats([padding], fake_judge, SETTINGS)[padding]
    assert (verdict.expanded, verdict.category) == (False, "padding"), "«Привет» alone is not padding: the worse stands"


def test_the_judge_is_asked_once_about_each_distinct_text():
    asked = []

    def judge(texts):
        asked.append(list(texts))
        return words_judge(texts)

    judge_without_repeats(["в работе в работе", "в работе", "в работе в работе в работе", "в работе"], judge, SETTINGS)
    assert asked == [["в работе в работе", "в работе", "в работе в работе в работе"]]


# --- promise vs fact ------------------------------------------------------------------------------------

TUESDAY = date(2026, 11, 10)
PROMISES = [
    ("weekday abbreviation", "созвон в чт", date(2026, 11, 12)),
    ("weekday after a comma-separated deadline", "пришлёт справку до пятницы, созвон в понедельник в 11:00",
     date(2026, 11, 16)),
    ("the same weekday is next week", "перезвоню во вторник", date(2026, 11, 17)),
    ("a date", "наберу 15.11", date(2026, 11, 15)),
    ("a date with the year", "встреча 01.12.2026 в офисе", date(2026, 12, 1)),
    ("a day and a month", "созвонимся 3 декабря", date(2026, 12, 3)),
    ("tomorrow", "перезвоню завтра", date(2026, 11, 11)),
    ("in a week", "созвон через неделю", date(2026, 11, 17)),
    ("in three days", "наберу через 3 дня", date(2026, 11, 13)),
    ("next week", "позвоню на следующей неделе", date(2026, 11, 20)),
    ("end of the month", "договорились созвониться в конце месяца", date(2026, 11, 30)),
    ("a visit", "придут вдвоём 21.11 в 12:00", date(2026, 11, 21)),
    ("back to the question", "вернёмся к вопросу 15.12", date(2026, 12, 15)),
    ("the date before the word", "в чт созвон", date(2026, 11, 12)),
    ("past tense is a record", "созвонились в пн, договорились", None),
    ("a date in the past is a record", "созвон 01.10 был, клиент думает", None),
    ("too far ahead", "наберу 15.03", None),
    ("no step word", "оплата до 15.11", None),
    ("a percentage is no date", "ставка 15.5% созвон", None),
    ("a weight is no date", "груз 1.2т, позвоню", None),
    ("the date across a comma belongs to another fact", "жду документы до 12.11, потом позвоню", None),
]


@pytest.mark.parametrize("case,text,expected", PROMISES, ids=[p[0] for p in PROMISES])
def test_find_promises(case, text, expected):
    found = find_promises(text, TUESDAY)
    assert (min(p.day for p in found) if found else None) == expected


def test_a_promise_quotes_the_original_words():
    assert [p.phrase for p in find_promises("Созвон в ЧТ, всё обсудим", TUESDAY)] == ["Созвон в ЧТ"]


PROMISED = "Обсудили лимит 150 тыс., клиент согласен на условия, созвон в пт по документам"  # Friday 13.11


def promise_deal(*later, now="2026-11-20T12:00:00+03:00", text=PROMISED):
    return evaluate(activities=[call("1", T0, 250), *later], comments=[comment("5", after(600), text)],
                    judge=words_judge, now=now)


# (case, activities after the promise, now, state, fact)
FACTS = [
    ("a call on the day", [call("2", "2026-11-13T10:00:00", 120)], "2026-11-20T12:00:00+03:00", "kept", "2"),
    ("a call within the grace days", [call("2", "2026-11-15T10:00:00", 120)], "2026-11-20T12:00:00+03:00", "kept",
     "2"),
    ("an unanswered call is an attempt: kept", [call("2", "2026-11-13T10:00:00", 0, missed=True)],
     "2026-11-20T12:00:00+03:00", "kept", "2"),
    ("an e-mail keeps it", [email("2", "2026-11-12T10:00:00", "2")], "2026-11-20T12:00:00+03:00", "kept", "2"),
    ("a to-do is no interaction", [todo("2", "2026-11-13T10:00:00")], "2026-11-20T12:00:00+03:00", "broken", None),
    ("a call after the grace days", [call("2", "2026-11-16T10:00:00", 120)], "2026-11-20T12:00:00+03:00", "broken",
     None),
    ("nothing, the due day over", [], "2026-11-16T00:00:00+03:00", "broken", None),
    ("nothing, the due day not over", [], "2026-11-15T23:00:00+03:00", "pending", None),
]


@pytest.mark.parametrize("case,later,now,state,fact", FACTS, ids=[f[0] for f in FACTS])
def test_promise_vs_fact(case, later, now, state, fact):
    promise, = promise_deal(*later, now=now).promises
    assert (promise.promised.isoformat(), promise.due.isoformat()) == ("2026-11-13", "2026-11-15")
    assert (promise.state, promise.fact_activity_id) == (state, fact)
    assert (promise.kind, promise.id, promise.manager_id, promise.phrase) == ("comment", "5", "7", "созвон в пт")


def test_grace_days_come_from_settings():
    decision = evaluate(activities=[call("1", T0, 250), call("2", "2026-11-16T10:00:00", 120)],
                        comments=[comment("5", after(600), PROMISED)], judge=words_judge,
                        settings=replace(SETTINGS, promise_grace_days=3))
    assert decision.promises[0].state == "kept"


def test_only_counted_comments_of_open_deals_promise():
    not_counted = evaluate(activities=[call("1", T0, 3)], comments=[comment("5", after(600), PROMISED)],
                           judge=words_judge)
    assert not_counted.promises == ()
    won = evaluate(deal_json(STAGE_ID="WON", STAGE_SEMANTIC_ID="S"), [call("1", T0, 250)],
                   [comment("5", after(600), PROMISED)], judge=words_judge)
    assert won.promises == ()
    assert promise_deal().to_dict()["promises"][0]["state"] == "broken"


# --- bursts ---------------------------------------------------------------------------------------------

AS_OF = datetime.fromisoformat("2026-11-20T12:00:00+03:00")


def lags(manager: str, hours: list[float | None], day: str = "2026-11-19T10:00:00+03:00") -> list[Lag]:
    return [Lag(manager, f"d{i}", f"{manager}-{i}", datetime.fromisoformat(day), h) for i, h in enumerate(hours)]


BURSTS = [
    ("five late of six", lags("7", [100, 200, 300, 400, 500, 2]), True, 5),
    ("four late is too few", lags("7", [100, 200, 300, 400]), False, 4),
    ("late, but under half", lags("7", [100, 200, 300, 400, 500, 1, 2, 3, 4, 5, 6]), False, 5),
    ("written on time", lags("7", [1, 2, 3, 4, 5, 6]), False, 0),
    ("no interaction before them is not late", lags("7", [None] * 6), False, 0),
    ("long before the audit", lags("7", [100, 200, 300, 400, 500], day="2026-11-10T10:00:00+03:00"), None, 0),
]


@pytest.mark.parametrize("case,found,pattern,late", BURSTS, ids=[b[0] for b in BURSTS])
def test_bursts(case, found, pattern, late):
    bursts = find_bursts(found, AS_OF, SETTINGS)
    if pattern is None:
        assert bursts == ()
        return
    burst, = bursts
    assert (burst.pattern, burst.late, burst.manager_id) == (pattern, late, "7")


def test_burst_settings_apply():
    found = lags("7", [100, 200, 300, 400])
    assert find_bursts(found, AS_OF, replace(SETTINGS, burst_min_comments=4))[0].pattern
    assert not find_bursts(found, AS_OF, replace(SETTINGS, burst_late_hours=500))[0].pattern
