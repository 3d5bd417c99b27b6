"""What the text pipeline makes of one comment, computed once and read by everything downstream."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StopHit:
    """A stop phrase found in the comment; ``start``/``end`` index the submitted text (code points)."""

    rule: str
    phrase: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """One comment after normalisation, with every form the rules, the features and explain read.

    - ``normalized``: NFKC, invisible characters dropped, repeats and spaces collapsed, lower case;
    - ``masked``: ``normalized`` with dates, times, money, numbers, contacts as placeholders;
    - ``tokens`` of ``masked`` and their ``lemmas``;
    - ``stop_hits``: every stop phrase, from one scan of the length-preserving light form (look-alikes and
      «ё» folded, lower case), so their spans index ``text`` itself.
    """

    text: str
    normalized: str
    masked: str
    tokens: tuple[str, ...]
    lemmas: tuple[str, ...]
    stop_hits: tuple[StopHit, ...]

    def replace_stop_phrases(self, by: str) -> str:
        """``text`` with each stop phrase replaced by ``by`` (the hits of one scan never overlap)."""
        pieces, at = [], 0
        for hit in self.stop_hits:
            pieces.append(self.text[at:hit.start])
            at = hit.end
        pieces.append(self.text[at:])
        return by.join(pieces)

    @property
    def stop_covered(self) -> int:
        """Characters of ``text`` that stop phrases cover."""
        return sum(h.end - h.start for h in self.stop_hits)
