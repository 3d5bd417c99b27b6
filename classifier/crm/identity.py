"""Normalised identity of a person: full name, phone in E.164, e-mail.

«Иванов  Пётр» and «петр иванов» are one name (case, ``ё``, extra spaces, word order);
``8 (916) 123-45-67``, ``+7 916 123 45 67`` and ``79161234567`` are one phone.
"""

import functools
import re
import unicodedata

import phonenumbers

from ..text.normalize import fold_lookalikes, fold_yo

_NAME_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_PHONE_PUNCTUATION = re.compile(r"[\d\s()+\-.]+")
_NOT_DIGIT = re.compile(r"\D")


def name_words(*parts: str) -> list[str]:
    text = fold_yo(fold_lookalikes(unicodedata.normalize("NFKC", " ".join(p for p in parts if p)))).lower()
    return _NAME_WORD.findall(text)


def name_key(*parts: str) -> str | None:
    """The words of a full name in a fixed order; None for fewer than two words («Иван» alone)."""
    words = name_words(*parts)
    return " ".join(sorted(words)) if len(words) >= 2 else None


@functools.lru_cache(maxsize=200_000)
def _e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(value: str, region: str = "RU") -> str | None:
    """E.164, or None when ``value`` is not a phone number («нет», «123»)."""
    text = value.strip()
    if _PHONE_PUNCTUATION.fullmatch(text):
        # «8 (916) 123-45-67» and «8-916-123-45-67» share one cache entry
        text = ("+" if text.startswith("+") else "") + _NOT_DIGIT.sub("", text)
    return _e164(text, region) if text else None


def email_key(value: str) -> str:
    return value.strip().lower()


def email_domain(value: str) -> str:
    return email_key(value).rpartition("@")[2]
