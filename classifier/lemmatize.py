"""Lemmas with one cached pymorphy3 analyser and a domain lexicon that wins over it."""

from dataclasses import dataclass, field

import pymorphy3

from .tokenize import is_word


@dataclass
class Lemmatizer:
    """Maps a normalised token to its lemma; builds the analyser once, caches every word.

    The lexicon (rules/lexicon.yaml) fixes CRM shorthand pymorphy3 gets wrong
    («ок» is not «около», «тел» is not «тело») or does not know («НД», «ЛПР»).
    """

    lexicon: dict[str, str] = field(default_factory=dict)
    morph: pymorphy3.MorphAnalyzer = field(default_factory=pymorphy3.MorphAnalyzer, repr=False)
    _lemmas: dict[str, str] = field(default_factory=dict, repr=False)
    _known: dict[str, bool] = field(default_factory=dict, repr=False)

    def lemma(self, token: str) -> str:
        cached = self._lemmas.get(token)
        if cached is None:
            cached = self._lemmas[token] = self._analyse(token)
        return cached

    def lemmas(self, tokens: list[str]) -> list[str]:
        return [self.lemma(t) for t in tokens]

    def is_known(self, token: str) -> bool:
        cached = self._known.get(token)
        if cached is None:
            cached = self._known[token] = token in self.lexicon or self.morph.word_is_known(token)
        return cached

    def _analyse(self, token: str) -> str:
        if token in self.lexicon:
            return self.lexicon[token]
        if not is_word(token) or not token.isalpha():
            return token
        return self.morph.parse(token)[0].normal_form.replace("ё", "е")
