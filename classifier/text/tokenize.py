"""Tokenisation suited to Russian CRM shorthand.

Works on normalised, entity-masked text: «д/о», «н/д», «б/т», «2в/о» and «тест-драйв»
stay one token, placeholders such as ``_date_`` stay whole, a lone «+» is a token
(a status sign), other punctuation is dropped.
"""

import re

TOKEN = re.compile(r"_[a-z]+_|\d*[а-яa-z]+(?:[/-][а-яa-z0-9]+)*|(?<!\S)\+(?!\S)")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text)


def is_placeholder(token: str) -> bool:
    return token.startswith("_") and token.endswith("_")


def is_word(token: str) -> bool:
    return token[:1].isalpha()
