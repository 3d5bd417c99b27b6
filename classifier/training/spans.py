"""Span labels: where, in an expanded training comment, each of the two facts is stated.

``data/spans/*.jsonl`` holds, for expanded rows of ``train.csv``, the substrings a labeller marked as
answering LABELLING.md's two questions: ``subject`` (what was discussed) and ``outcome`` (what was agreed).
One JSON object per line: ``{"text": ..., "subject": [...], "outcome": [...]}`` (``doubt`` optional).

They give the model *contrast rows*: the comment with its outcome substrings deleted says what was discussed
and nothing agreed (``subject_only``); with its subject substrings deleted, the reverse (``outcome_only``).
A model trained on them learns which words carry each fact, not how much detail a comment has. A contrast
row trains only where its comment trains (:class:`Contrasts`): a held-out comment's halves never leak into
the model that scores it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import config
from ..model.clauses import FACTS, pinned_labels
from ..model.linear import fit
from .dataset import DataError, LabelledRow, exact_key

# a half is kept only when the fact it keeps has this many letters outside the deleted substrings
MIN_LETTERS = 3


@dataclass(frozen=True, slots=True)
class SpanLabel:
    """One labelled comment's substrings per fact, as (start, end) code-point offsets into ``text``."""

    text: str
    subject: tuple[tuple[int, int], ...]
    outcome: tuple[tuple[int, int], ...]
    doubt: str = ""
    where: str = ""

    def spans(self, fact: str) -> tuple[tuple[int, int], ...]:
        return self.subject if fact == "subject" else self.outcome


def read_spans(path: Path) -> list[SpanLabel]:
    """The span labels of one file; raises :class:`DataError` naming file and line."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    for number, line in enumerate(lines, start=1):
        if line.strip():
            out.append(_parse(line, f"{path.name}:{number}"))
    return out


def _parse(line: str, where: str) -> SpanLabel:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected an object with text, subject and outcome")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: text must be a non-empty string")
    found = {}
    for fact in FACTS:
        pieces = obj.get(fact)
        if not isinstance(pieces, list) or not all(isinstance(p, str) and p.strip() for p in pieces):
            raise DataError(f"{where}: {fact} must be a list of non-empty strings")
        found[fact] = tuple(_locate(text, p, f"{where}: {fact}") for p in pieces)
    doubt = obj.get("doubt") or ""
    if not isinstance(doubt, str):
        raise DataError(f"{where}: doubt must be a string")
    return SpanLabel(text, found["subject"], found["outcome"], doubt.strip(), where)


def _locate(text: str, piece: str, where: str) -> tuple[int, int]:
    start = text.find(piece)
    if start < 0:
        raise DataError(f"{where}: {piece!r} is not a substring of the text")
    return start, start + len(piece)


def load_spans(spans_dir: Path = config.SPANS_DIR) -> dict[str, SpanLabel]:
    """Every span label under ``spans_dir`` by the normalised text of its comment (the first wins)."""
    by_key: dict[str, SpanLabel] = {}
    for path in sorted(Path(spans_dir).glob("*.jsonl")):
        for label in read_spans(path):
            by_key.setdefault(exact_key(label.text), label)
    return by_key


def _mask(length: int, spans) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for start, end in spans:
        mask[start:end] = True
    return mask


MARKS = ",;:.-–—/|+"
SEPARATORS = " \t\n" + MARKS


def _joined(text: str, removed: np.ndarray) -> str:
    """The characters of ``text`` not ``removed``: each kept piece stripped of the separators the deletion
    left at its edges, joined by the first mark that stood at the seam (else a space)."""
    kept = "".join("\x00" if gone else ch for ch, gone in zip(text, removed))
    out, seam = "", ""
    for piece in kept.split("\x00"):
        core = piece.strip(SEPARATORS)
        if not any(ch.isalnum() for ch in core):
            seam += piece
            continue
        if out:
            seam += piece[:len(piece) - len(piece.lstrip(SEPARATORS))]
            mark = next((ch for ch in seam if ch in MARKS), "")
            out += mark + " " if mark in ",;:." and mark else f" {mark} " if mark else " "
        out += core
        seam = piece[len(piece.rstrip(SEPARATORS)):]
    return out


def without(label: SpanLabel, fact: str) -> str | None:
    """The comment with ``fact``'s substrings deleted, or None when too little of the other fact is left
    (the two facts were stated in the same words)."""
    other = "outcome" if fact == "subject" else "subject"
    if not label.spans(fact):
        return None
    removed = _mask(len(label.text), label.spans(fact))
    kept_other = _mask(len(label.text), label.spans(other)) & ~removed
    if sum(ch.isalpha() for ch, keep in zip(label.text, kept_other) if keep) < MIN_LETTERS:
        return None
    return _joined(label.text, removed) or None


def halves(row: LabelledRow, label: SpanLabel) -> list[LabelledRow]:
    """The contrast rows of one expanded comment: its subject without the outcome and vice versa."""
    if row.label != 1 or label.doubt:
        return []
    out = []
    for fact, category in (("outcome", "subject_only"), ("subject", "outcome_only")):
        rest = without(label, fact)
        if rest and exact_key(rest) != exact_key(row.text):
            out.append(LabelledRow(text=rest, label=0, category=category, source=row.source, domain=row.domain,
                                   note=f"contrast: {row.text}", file=f"spans:{row.file}"))
    return out


@dataclass
class Contrasts:
    """Contrast rows and their features, each with the index of the training row it was cut from."""

    parents: np.ndarray
    rows: list[LabelledRow]
    items: list
    # training row index → its span label (no doubt, same text): the clause heads' labels for its clauses
    labels: dict[int, SpanLabel] = field(default_factory=dict)

    @classmethod
    def none(cls) -> "Contrasts":
        return cls(np.zeros(0, dtype=np.int64), [], [])

    @classmethod
    def of(cls, rows: list[LabelledRow], labels: dict[str, SpanLabel], featurize) -> "Contrasts":
        """``featurize``: rows → (features, rejected), as :func:`classifier.training.train.featurize`."""
        parents, cut, by_row = [], [], {}
        for i, row in enumerate(rows):
            label = labels.get(exact_key(row.text))
            if label is not None:
                for half in halves(row, label):
                    parents.append(i)
                    cut.append(half)
                if row.label == 1 and not label.doubt and label.text == row.text:
                    by_row[i] = label
        items = featurize(cut)[0] if cut else []
        return cls(np.asarray(parents, dtype=np.int64), cut, items, by_row)

    def __len__(self) -> int:
        return len(self.rows)

    def fit(self, items, categories, idx, params: dict) -> dict:
        """:func:`~classifier.model.linear.fit` on the rows ``idx`` and the contrast rows cut from them, at
        ``params["contrast_weight"]`` (0: none)."""
        x, cats, weights = self.training_set(items, categories, idx, float(params.get("contrast_weight", 0.0)))
        pinned = self.pinned(items, idx, len(x)) if params.get("clause_heads") else None
        return fit(x, cats, params, sample_weight=weights, pinned=pinned)

    def pinned(self, items, idx, length: int) -> list[dict | None]:
        """The clause labels of the training rows ``idx`` that have span labels, None for the others and
        for the contrast rows after them (``length`` rows in all)."""
        out: list[dict | None] = [None] * length
        for k, i in enumerate(idx):
            label = self.labels.get(int(i))
            if label is not None:
                out[k] = pinned_labels(label.text, items[i].clauses,
                                       {fact: label.spans(fact) for fact in FACTS})
        return out

    def training_set(self, items, categories, idx, weight: float):
        """Features, categories and row weights to fit on: the rows ``idx`` and, at ``weight``, the contrast
        rows cut from them. Weights are None when no contrast row joins (every row weighs 1)."""
        idx = np.asarray(idx, dtype=np.int64)
        chosen = np.flatnonzero(np.isin(self.parents, idx)) if weight > 0 and len(self) else np.zeros(0, int)
        base_items, base_cats = [items[i] for i in idx], [categories[i] for i in idx]
        if not len(chosen):
            return base_items, base_cats, None
        return (base_items + [self.items[k] for k in chosen],
                base_cats + [self.rows[k].category for k in chosen],
                [1.0] * len(idx) + [float(weight)] * len(chosen))
