"""Text normalisation: a short ordered list of one-line ``str -> str`` steps.

Placeholders for numbers, dates, money and contacts are a separate step
(:func:`mask_entities`) because they are strong signals of agreements and the
rules must still see the original wording of stop phrases.
"""

import re
import unicodedata

ZERO_WIDTH = re.compile("[\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Latin letters that look like Cyrillic ones: «HД» typed with a Latin H, «дoгoвop» with Latin o.
_LOOKALIKES = str.maketrans("AaBCcEeHKkMOoPpTXxyu", "АаВСсЕеНКкМОоРрТХхуи")
_LATIN_IN_CYRILLIC = re.compile(r"\b(?=\w*[а-яёА-ЯЁ])(?=\w*[A-Za-z])\w+\b")
_LATIN = re.compile(r"[A-Za-z]")
_REPEATS = re.compile(r"(.)\1{3,}")
_SPACES = re.compile(r"\s+")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_invisible(text: str) -> str:
    return _CONTROL.sub(" ", ZERO_WIDTH.sub("", text))


def fold_lookalikes(text: str) -> str:
    if not _LATIN.search(text):  # most comments have no Latin letter at all
        return text
    return _LATIN_IN_CYRILLIC.sub(lambda m: m.group(0).translate(_LOOKALIKES), text)


def fold_yo(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def lower(text: str) -> str:
    return text.lower()


def collapse_repeats(text: str) -> str:
    return _REPEATS.sub(r"\1\1\1", text)


def squeeze_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


STEPS = (nfkc, strip_invisible, fold_lookalikes, fold_yo, lower, collapse_repeats, squeeze_spaces)


def normalize(text: str) -> str:
    for step in STEPS:
        text = step(text)
    return text


# Placeholders: applied to normalised text, most specific pattern first.
ENTITY_PATTERNS = (
    ("email", re.compile(r"\[email\]|[\w.+-]+@[\w-]+\.[\w.]+")),
    ("phone", re.compile(r"\[phone\]|(?<!\w)(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")),
    ("money", re.compile(
        r"\d[\d\s]*(?:[.,]\d+)?\s*(?:к|k|т\.?р|тыс\.?|тысяч\w*|млн\.?|миллион\w*|руб\w*\.?|р\.|₽|\$|€|usd|eur)(?![а-я])")),
    ("date", re.compile(
        r"\b\d{4}[./-]\d{1,2}[./-]\d{1,2}\b"                  # «2021.03.24 не дозвонился»
        r"|\b\d{1,2}(?:-\d{1,2})?[./]\d{1,2}(?:[./]\d{2,4})?\b"  # «12.03», «10-20.07» (a range of days)
        r"|\b\d{1,2}\s+(?:янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек)[а-я]*")),
    ("time", re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d\b")),
    ("percent", re.compile(r"\d+(?:[.,]\d+)?\s*%")),
    ("num", re.compile(r"\d+(?:[.,]\d+)?")),
)


# One scan for all but e-mail: at each position the first pattern in the list that matches wins. Every
# one of them starts with a digit, «[» or «+», which the leading look-ahead checks before trying any.
_EMAIL = dict(ENTITY_PATTERNS)["email"]
_ENTITIES = re.compile("(?=[\\d\\[+])(?:" + "|".join(
    f"(?P<{name}>{pattern.pattern})" for name, pattern in ENTITY_PATTERNS if name != "email") + ")")


def mask_entities(text: str) -> str:
    """«созвон 12.03 в 15:00, 320к» → «созвон _date_ в _time_, _money_»."""
    if "@" in text or "[email]" in text:
        text = _EMAIL.sub(" _email_ ", text)
    return squeeze_spaces(_ENTITIES.sub(lambda m: f" _{m.lastgroup}_ ", text))


# A date that opens a log entry («12.03 - не дозвон / 20.03 - кп на почту»: at the start, or after « / », «|»,
# «;») says when the manager wrote, not when anything will happen: the model reads it as ``_stamp_``, so
# that a log of dated attempts does not look like a dated agreement. Only the model's features use it. The
# whole text is read with its line breaks squeezed; a clause (model.clauses) also opens an entry after one.
_STAMP = re.compile(r"(^|[/|;]\s*)_date_")
_STAMP_INSIDE = re.compile(r"([/|;]\s*)_date_")


def mark_stamps(masked: str, at_start: bool = True) -> str:
    """«_date_ - нет заявок / набрать _date_» → «_stamp_ - нет заявок / набрать _date_». With ``at_start``
    False (a clause that does not open a log entry) a date at the very start stays a date."""
    if "_date_" not in masked:
        return masked
    return (_STAMP if at_start else _STAMP_INSIDE).sub(r"\1_stamp_", masked)


def stamp_lemmas(stamped: str, lemmas) -> list[str]:
    """``lemmas`` of a masked text with each ``_date_`` that :func:`mark_stamps` turned into ``_stamp_``
    in ``stamped`` turned too (placeholders are tokens of their own, in the same order)."""
    kinds = iter(re.findall(r"_(?:date|stamp)_", stamped))
    return [next(kinds) if lemma == "_date_" else lemma for lemma in lemmas]
