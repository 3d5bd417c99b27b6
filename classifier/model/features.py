"""A prepared comment → what the model reads: a lemma string, a character string and dense signals.

Lemmatisation happens in the text pipeline, before any vectorizer, so the saved model holds only
library classes and never pickles a project function.

The whole-text heads read each stop phrase as one placeholder, ``_stop_``: the rules and the two stop
signals (how many, what share of the text) already say that a stop phrase is there, and its own words
(«перезвон», «нд») would otherwise weigh against the content around it («Перезвон: уточняла удалёнку»).
The clause heads read the comment as written.
"""

import functools
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..text.lemmatize import Lemmatizer
from ..text.normalize import mark_stamps, mask_entities, normalize, stamp_lemmas
from ..text.prepared import Prepared
from ..text.tokenize import is_placeholder, is_word, tokenize
from .clauses import Clause, clauses_of

# Bumped whenever the text → features code changes meaning; a model trained on another version refuses to load.
FEATURE_VERSION = 5
PLACEHOLDERS = ("date", "time", "money", "num", "percent", "phone", "email", "stamp")
DENSE_NAMES = (
    "log_tokens", "log_content_words", "known_ratio", "stop_hits", "stop_coverage", "filler_share",
    "sentences", "has_colon", *(f"n_{p}" for p in PLACEHOLDERS),
)


# Optional blocks a model may be trained with (``params["blocks"]``), beside the TF-IDF and ``dense``:
# - "grammemes": counts of verb forms and cue words that say *who does what when* (pymorphy3's tags);
# - "navec": the mean navec vector of the content words (lemma, else the word form), L2-normalised.
BLOCKS = ("grammemes", "navec")
MODAL = frozenset({"надо", "нужно", "необходимо", "должный", "должен", "хотеть", "мочь", "планировать",
                   "собираться", "готовый", "готов", "обещать"})
NEGATION = frozenset({"не", "нет", "ни", "никак"})
GRAMMEME_NAMES = (
    "g_past", "g_past_perf", "g_past_plur", "g_1per", "g_futr_1per", "g_3per", "g_futr_3per", "g_infn",
    "g_impr", "g_prts", "g_grnd", "g_modal", "g_negation", "g_noun", "g_adj", "g_unknown",
)


@dataclass(frozen=True, slots=True)
class Features:
    lemma_text: str
    char_text: str
    dense: tuple[float, ...]
    # the comment's clauses, as the clause heads read them (clauses.py)
    clauses: tuple[Clause, ...] = ()
    # what the optional blocks read, kept by reference and computed only by a model that uses them
    prepared: Prepared | None = field(default=None, compare=False, repr=False)
    lemmatizer: Lemmatizer | None = field(default=None, compare=False, repr=False)
    filler: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def grammemes(self) -> tuple[float, ...]:
        return _grammemes(self.prepared, self.lemmatizer)

    def content(self) -> list[tuple[str, str]]:
        """(word as written, lemma) of each content word: a word whose lemma is not filler."""
        p = self.prepared
        return [(t, lemma) for t, lemma in zip(p.tokens, p.lemmas) if is_word(t) and lemma not in self.filler]


def extract(prepared: Prepared, lemmatizer: Lemmatizer, filler: frozenset[str]) -> Features:
    """What the model reads of one prepared comment; ``filler`` is the rules' filler-word lemmas."""
    lemma_text, char_text = _stop_masked(prepared, lemmatizer)
    return Features(lemma_text=lemma_text, char_text=char_text,
                    dense=_dense(prepared, lemmatizer, filler, char_text.count("_stamp_")),
                    clauses=clauses_of(prepared.text, lemmatizer, prepared),
                    prepared=prepared, lemmatizer=lemmatizer,
                    filler=filler)


STOP = "_stop_"


def _stop_masked(prepared: Prepared, lemmatizer: Lemmatizer) -> tuple[str, str]:
    """The lemma and character strings of the whole text, each stop phrase replaced by ``_stop_`` and
    each date that opens a log entry by ``_stamp_``."""
    if not prepared.stop_hits:
        masked, lemmas = prepared.masked, prepared.lemmas
    else:
        masked = mask_entities(normalize(prepared.replace_stop_phrases(f" {STOP} ")))
        lemmas = lemmatizer.lemmas(tokenize(masked))
    stamped = mark_stamps(masked)
    if stamped != masked:
        lemmas = stamp_lemmas(stamped, lemmas)
    return " ".join(lemmas), stamped


def _grammemes(p: Prepared, lemmatizer: Lemmatizer) -> tuple[float, ...]:
    counts = [0] * len(GRAMMEME_NAMES)
    for token, lemma in zip(p.tokens, p.lemmas):
        if lemma in MODAL:
            counts[11] += 1
        if lemma in NEGATION:
            counts[12] += 1
        tag = lemmatizer.tag(token)
        if tag is None:
            continue
        pos = tag.POS
        if pos == "VERB":
            past, futr = "past" in tag, "futr" in tag
            counts[0] += past
            counts[1] += past and "perf" in tag
            counts[2] += past and "plur" in tag
            counts[3] += "1per" in tag
            counts[4] += futr and "1per" in tag
            counts[5] += "3per" in tag
            counts[6] += futr and "3per" in tag
            counts[8] += "impr" in tag
        elif pos == "INFN":
            counts[7] += 1
        elif pos == "PRTS":
            counts[9] += 1
        elif pos == "GRND":
            counts[10] += 1
        elif pos == "NOUN":
            counts[13] += 1
        elif pos in ("ADJF", "ADJS"):
            counts[14] += 1
        if "UNKN" in tag or not lemmatizer.is_known(token):
            counts[15] += 1
    return tuple(math.log1p(c) for c in counts)


def _dense(p: Prepared, lemmatizer: Lemmatizer, filler: frozenset[str], stamps: int = 0) -> tuple[float, ...]:
    text, tokens, lemmas = p.text, p.tokens, p.lemmas
    words = [t for t in tokens if is_word(t)]
    content = [lemma for t, lemma in zip(tokens, lemmas) if is_word(t) and lemma not in filler]
    known = sum(lemmatizer.is_known(w) for w in words if w.isalpha())
    counts = dict.fromkeys(PLACEHOLDERS, 0)
    for t in tokens:
        if is_placeholder(t) and t[1:-1] in counts:
            counts[t[1:-1]] += 1
    counts["date"] -= stamps  # a log entry's date is a stamp, counted apart
    counts["stamp"] = stamps
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


def dense_matrix(items: list[Features], blocks=()) -> np.ndarray:
    """The dense signals (the model standardises them), with the grammeme counts when ``blocks`` has them."""
    base = np.asarray([f.dense for f in items], dtype=np.float64).reshape(len(items), len(DENSE_NAMES))
    if "grammemes" not in blocks:
        return base
    grams = np.asarray([f.grammemes for f in items], dtype=np.float64).reshape(len(items), len(GRAMMEME_NAMES))
    return np.hstack([base, grams])


def dense_row(item: Features, blocks=()) -> np.ndarray:
    return np.asarray(item.dense + item.grammemes if "grammemes" in blocks else item.dense, dtype=np.float64)


# The navec vectors (Natasha project: 250,000 words of news, 300 dimensions, product-quantised, 26 MB) ship
# inside the `natasha` wheel; they are read from the installed package, never downloaded.
NAVEC_FILE = ("data", "emb", "navec_news_v1_1B_250K_300d_100q.tar")


@dataclass(frozen=True)
class WordVectors:
    """navec's product-quantised table: a word's vector is ``codes[q, indexes[id, q]]`` over its parts ``q``."""

    ids: dict
    indexes: np.ndarray  # (words, parts) uint8
    codes: np.ndarray    # (parts, 256, dim / parts) float32
    dim: int

    def lookup(self, content: list[tuple[str, str]]) -> list[int]:
        get = self.ids.get
        found = []
        for form, lemma in content:
            j = get(lemma)
            if j is None:
                j = get(form)
            if j is not None:
                found.append(j)
        return found

    def mean_vectors(self, items: list[Features]) -> np.ndarray:
        """Per item, the L2-normalised mean vector of the content words navec knows (zeros if none)."""
        return self.mean_of([self.lookup(f.content()) for f in items])

    def lemma_vectors(self, lemma_texts: list[str]) -> np.ndarray:
        """Per lemma string (a clause's), the L2-normalised mean vector of its words of three letters or
        more that navec knows (zeros if none)."""
        get = self.ids.get
        return self.mean_of([[j for j in map(get, (w for w in text.split() if len(w) > 2 and w.isalpha()))
                              if j is not None] for text in lemma_texts])

    def mean_of(self, per_item: list[list[int]]) -> np.ndarray:
        out = np.zeros((len(per_item), self.dim))
        lengths = np.fromiter(map(len, per_item), dtype=np.int64, count=len(per_item))
        if not lengths.sum():
            return out
        ids = np.fromiter((j for found in per_item for j in found), dtype=np.int64, count=int(lengths.sum()))
        parts = np.arange(self.indexes.shape[1])
        vectors = self.codes[parts, self.indexes[ids]].reshape(len(ids), self.dim).astype(np.float64)
        rows = np.repeat(np.arange(len(per_item)), lengths)
        np.add.at(out, rows, vectors)
        norms = np.linalg.norm(out, axis=1)
        norms[norms == 0] = 1.0
        return out / norms[:, None]


def navec_path() -> Path:
    spec = importlib.util.find_spec("natasha")  # the package is found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the navec vectors ship in the `natasha` package: pip install natasha")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*NAVEC_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the navec vectors are missing from the installed natasha")
    return path


@functools.cache
def word_vectors() -> WordVectors:
    """The navec table, read once per process from the installed natasha wheel."""
    path = navec_path()
    try:
        from navec import Navec
    except ImportError:  # an OSError, like a missing vectors file: the CLI says it in one line
        raise FileNotFoundError("the navec block needs the `navec` and `natasha` packages: "
                                "pip install natasha navec") from None
    navec = Navec.load(path)
    return WordVectors(ids=navec.vocab.word_ids, indexes=navec.pq.indexes, codes=navec.pq.codes, dim=int(navec.pq.dim))
