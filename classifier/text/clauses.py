"""Where a comment's clauses are: the units the clause heads score and the evidence points at."""

import re

# Where a clause ends: sentence marks, line breaks, « / » and « - » between log entries, «, ». A point ends
# a clause only before a space or the end, so «12.03» and «15.30» stay whole.
CLAUSE_END = re.compile(r"[.!?;…]+(?=\s|$)|\n+|\s[/|–—-]\s|,\s")


def clause_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of ``text`` with letters in it, trimmed; offsets in code points."""
    spans, at = [], 0
    for m in [*CLAUSE_END.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[at:end]
        lead = len(piece) - len(piece.lstrip())
        start, stop = at + lead, at + len(piece.rstrip())
        if stop > start and any(ch.isalpha() for ch in text[start:stop]):
            spans.append((start, stop))
        at = m.end() if m else len(text)
    return spans
