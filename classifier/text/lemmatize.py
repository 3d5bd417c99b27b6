"""Lemmas with one pymorphy3 analyser and a domain lexicon that wins over it, behind bounded caches."""

import functools
from dataclasses import dataclass, field

import pymorphy3

from .tokenize import is_word

# Distinct tokens remembered. Real comments use a few tens of thousands of words; a client sending new
# random words evicts the oldest instead of growing the process.
CACHE_SIZE = 100_000


@dataclass
class Lemmatizer:
    """Maps a normalised token to its lemma; builds the analyser once, caches recent words (LRU).

    The lexicon (rules/lexicon.yaml) fixes CRM shorthand pymorphy3 gets wrong
    («ок» is not «около», «тел» is not «тело») or does not know («НД», «ЛПР»).
    """

    lexicon: dict[str, str] = field(default_factory=dict)
    morph: pymorphy3.MorphAnalyzer = field(default_factory=pymorphy3.MorphAnalyzer, repr=False)
    cache_size: int = CACHE_SIZE

    def __post_init__(self):
        self.lemma = functools.lru_cache(maxsize=self.cache_size)(self._analyse)
        self.is_known = functools.lru_cache(maxsize=self.cache_size)(self._known)
        self.tag = functools.lru_cache(maxsize=self.cache_size)(self._tag)

    def lemmas(self, tokens) -> tuple[str, ...]:
        lemma = self.lemma
        return tuple(lemma(t) for t in tokens)

    def cache_info(self) -> dict[str, int]:
        """Entries held by each cache (bounded by ``cache_size``)."""
        return {"lemma": self.lemma.cache_info().currsize, "known": self.is_known.cache_info().currsize}

    def _known(self, token: str) -> bool:
        return token in self.lexicon or self.morph.word_is_known(token)

    def _tag(self, token: str):
        """pymorphy3's tag of the token's likeliest reading (tense, person, aspect, mood…); ``None`` for
        a lexicon word, a placeholder or a token with non-letters."""
        if token in self.lexicon or not token.isalpha():
            return None
        return self.morph.parse(token)[0].tag

    def _analyse(self, token: str) -> str:
        if token in self.lexicon:
            return self.lexicon[token]
        if not is_word(token) or not token.isalpha():
            return token
        return self.morph.parse(token)[0].normal_form.replace("ё", "е")
