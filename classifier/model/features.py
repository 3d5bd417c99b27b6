"""A prepared comment → what the model reads: a lemma string, a character string and dense signals.

Lemmatisation happens in the text pipeline, before any vectorizer, so the saved model holds only
library classes and never pickles a project function.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..text.lemmatize import Lemmatizer
from ..text.prepared import Prepared
from ..text.tokenize import is_placeholder, is_word

# Bumped whenever the text → features code changes meaning; a model trained on another version refuses to load.
FEATURE_VERSION = 2
PLACEHOLDERS = ("date", "time", "money", "num", "percent", "phone", "email")
DENSE_NAMES = (
    "log_tokens", "log_content_words", "known_ratio", "stop_hits", "stop_coverage", "filler_share",
    "sentences", "has_colon", *(f"n_{p}" for p in PLACEHOLDERS),
)


@dataclass(frozen=True, slots=True)
class Features:
    lemma_text: str
    char_text: str
    dense: tuple[float, ...]


def extract(prepared: Prepared, lemmatizer: Lemmatizer, filler: frozenset[str]) -> Features:
    """What the model reads of one prepared comment; ``filler`` is the rules' filler-word lemmas."""
    return Features(lemma_text=" ".join(prepared.lemmas), char_text=prepared.masked,
                    dense=_dense(prepared, lemmatizer, filler))


def _dense(p: Prepared, lemmatizer: Lemmatizer, filler: frozenset[str]) -> tuple[float, ...]:
    text, tokens, lemmas = p.text, p.tokens, p.lemmas
    words = [t for t in tokens if is_word(t)]
    content = [lemma for t, lemma in zip(tokens, lemmas) if is_word(t) and lemma not in filler]
    known = sum(lemmatizer.is_known(w) for w in words if w.isalpha())
    counts = dict.fromkeys(PLACEHOLDERS, 0)
    for t in tokens:
        if is_placeholder(t) and t[1:-1] in counts:
            counts[t[1:-1]] += 1
    return (
        math.log1p(len(tokens)),
        math.log1p(len(content)),
        known / len(words) if words else 0.0,
        float(len(p.stop_hits)),
        p.stop_covered / max(len(text.strip()), 1),
        1 - len(content) / len(words) if words else 1.0,
        float(sum(text.count(c) for c in ".!?;/") + 1),
        float(":" in text),
        *(float(counts[p]) for p in PLACEHOLDERS),
    )


def dense_matrix(items: list[Features]) -> np.ndarray:
    return np.asarray([f.dense for f in items], dtype=np.float64).reshape(len(items), len(DENSE_NAMES))
