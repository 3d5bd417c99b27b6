"""Text → what the model reads: a lemma string, a character string and dense signals.

Lemmatisation happens here, before any vectorizer, so the saved model holds only
library classes and never pickles a project function.
"""

import math
from dataclasses import dataclass

import numpy as np

from .lemmatize import Lemmatizer
from .normalize import mask_entities, normalize
from .rules import RuleBook
from .tokenize import is_placeholder, is_word, tokenize

# Bumped whenever the text → features code changes meaning; a model trained on another version refuses to load.
FEATURE_VERSION = 2
PLACEHOLDERS = ("date", "time", "money", "num", "percent", "phone", "email")
DENSE_NAMES = (
    "log_tokens", "log_content_words", "known_ratio", "stop_hits", "stop_coverage", "filler_share",
    "sentences", "has_colon", *(f"n_{p}" for p in PLACEHOLDERS),
)


@dataclass(frozen=True)
class Features:
    normalized: str
    masked: str
    lemmas: tuple[str, ...]
    lemma_text: str
    char_text: str
    dense: tuple[float, ...]


def extract(text: str, lemmatizer: Lemmatizer, rules: RuleBook) -> Features:
    normalized = normalize(text)
    masked = mask_entities(normalized)
    tokens = tokenize(masked)
    lemmas = tuple(lemmatizer.lemma(t) for t in tokens)
    return Features(
        normalized=normalized,
        masked=masked,
        lemmas=lemmas,
        lemma_text=" ".join(lemmas),
        char_text=masked,
        dense=_dense(text, masked, tokens, lemmas, lemmatizer, rules),
    )


def _dense(text, masked, tokens, lemmas, lemmatizer, rules) -> tuple[float, ...]:
    words = [t for t in tokens if is_word(t)]
    content = [lemma for t, lemma in zip(tokens, lemmas) if is_word(t) and lemma not in rules.filler]
    n_hits, covered = rules.stop_coverage(text)
    known = sum(lemmatizer.is_known(w) for w in words if w.isalpha())
    counts = {p: 0 for p in PLACEHOLDERS}
    for t in tokens:
        if is_placeholder(t) and t[1:-1] in counts:
            counts[t[1:-1]] += 1
    return (
        math.log1p(len(tokens)),
        math.log1p(len(content)),
        known / len(words) if words else 0.0,
        float(n_hits),
        covered / max(len(text.strip()), 1),
        1 - len(content) / len(words) if words else 1.0,
        float(sum(text.count(c) for c in ".!?;/") + 1),
        float(":" in text),
        *(float(counts[p]) for p in PLACEHOLDERS),
    )


def dense_matrix(items: list[Features]) -> np.ndarray:
    return np.asarray([f.dense for f in items], dtype=np.float64).reshape(len(items), len(DENSE_NAMES))
