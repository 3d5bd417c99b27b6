"""Clause heads: which clause of a comment states what was discussed, and which states what was agreed.

A comment is cut into clauses (:func:`classifier.text.clauses.clause_spans`); each clause is read as a
short text of its own (lemma and character TF-IDF, a few dense signals) and two logistic heads give, per
clause, P(it states the subject) and P(it states the outcome). A comment's clause score for a fact is its
best clause's. The whole-text heads of :mod:`.linear` read how much a comment says; these read *where*
each fact is, so a detailed comment with no agreed step in any clause scores low on the outcome.

Training labels per clause:
- from the span labels (:mod:`classifier.training.spans`) where a comment has them: a clause states a fact
  when it holds at least ``MIN_LETTERS`` letters of that fact's labelled substrings;
- otherwise from the comment's category, as a multiple-instance problem: every clause of a comment
  without the fact is negative; in a comment with it, every clause starts positive, and after each round
  only those scoring at least ``clause_relative`` of their comment's best stay positive.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ..text.clauses import clause_spans
from ..text.lemmatize import Lemmatizer
from ..text.normalize import fold_yo, lower, mark_stamps, mask_entities, normalize, stamp_lemmas
from ..text.prepared import Prepared
from ..text.tokenize import tokenize

FACTS = ("subject", "outcome")
PLACEHOLDERS = ("_date_", "_time_", "_money_", "_num_", "_percent_", "_stamp_")
CLAUSE_DENSE = ("log_tokens", *(p.strip("_") for p in PLACEHOLDERS), "first", "last", "single", "log_clauses")
# a clause states a labelled fact when this many of its letters lie in the fact's labelled substrings
MIN_LETTERS = 3


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a comment: where it is in the comment's text, and what the clause heads read."""

    start: int
    end: int
    lemma_text: str
    char_text: str
    dense: tuple[float, ...]


def clauses_of(text: str, lemmatizer: Lemmatizer, prepared: Prepared | None = None) -> tuple[Clause, ...]:
    """The clauses of ``text`` (the whole text when it has none with letters), each normalised, masked and
    lemmatised on its own. ``prepared`` (the comment as the pipeline prepared it) saves work: a comment of
    one clause reuses it, and a comment whose normalisation only folded «ё» and case has clauses that need
    no other step. The clauses are the same either way (a test checks it)."""
    spans = clause_spans(text) or [(0, len(text))]
    whole = prepared is not None and len(spans) == 1 and text[spans[0][0]:spans[0][1]] == text.strip()
    # when normalising the whole comment only folded «ё» and lower-cased it, each clause needs no more
    plain = prepared is not None and prepared.normalized == lower(fold_yo(text)).strip()
    out = []
    for k, (a, b) in enumerate(spans):
        if whole:
            masked, tokens, lemmas = prepared.masked, list(prepared.tokens), prepared.lemmas
        else:
            masked = mask_entities(lower(fold_yo(text[a:b])) if plain else normalize(text[a:b]))
            tokens = tokenize(masked)
            lemmas = lemmatizer.lemmas(tokens)
        if "_date_" in masked:  # a date opening a log entry is a stamp (normalize.mark_stamps)
            before = text[:a].rstrip(" \t")
            stamped = mark_stamps(masked, at_start=not before or before[-1] in "/|;\n")
            if stamped != masked:
                lemmas = stamp_lemmas(stamped, lemmas)
                tokens = tokenize(stamped)
                masked = stamped
        dense = (math.log1p(len(tokens)), *(float(tokens.count(p)) for p in PLACEHOLDERS), float(k == 0),
                 float(k == len(spans) - 1), float(len(spans) == 1), math.log1p(len(spans)))
        out.append(Clause(a, b, " ".join(lemmas), masked, dense))
    return tuple(out)


def pinned_labels(text: str, clauses: tuple[Clause, ...], spans_by_fact: dict) -> dict[str, tuple[int, ...]]:
    """Per fact, 1/0 for each clause from a comment's labelled substrings ``{fact: [(start, end), ...]}``."""
    out = {}
    for fact in FACTS:
        covered = np.zeros(len(text), dtype=bool)
        for start, end in spans_by_fact[fact]:
            covered[start:end] = True
        out[fact] = tuple(int(sum(1 for j in range(c.start, c.end) if covered[j] and text[j].isalpha())
                              >= MIN_LETTERS) for c in clauses)
    return out


def _vectorizers():
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+", lowercase=False)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=20000,
                           sublinear_tf=True, lowercase=False)
    return word, char


def fit_heads(per_item: list[tuple[Clause, ...]], bags: dict[str, np.ndarray], params: dict,
              pinned: list[dict | None] | None = None, sample_weight=None, vectors=None) -> dict:
    """The clause vectorizers and one head per fact. ``bags``: per fact, 1 where the comment states it;
    ``pinned``: per comment, its span-label clause labels (:func:`pinned_labels`) or None; ``vectors``: the
    navec table (:func:`classifier.model.features.word_vectors`), needed when ``params["clause_blocks"]`` has
    "navec"."""
    owner = np.repeat(np.arange(len(per_item)), [len(c) for c in per_item])
    flat = [c for clauses in per_item for c in clauses]
    word, char = _vectorizers()
    scaler = StandardScaler()
    parts = [word.fit_transform([c.lemma_text for c in flat]),
             char.fit_transform([c.char_text for c in flat]),
             sparse.csr_matrix(scaler.fit_transform(np.asarray([c.dense for c in flat])))]
    blocks = list(params.get("clause_blocks") or ())
    if "navec" in blocks:  # the mean word vector of each clause: a product the data has never named is still a thing
        parts.append(sparse.csr_matrix(vectors.lemma_vectors([c.lemma_text for c in flat])))
    x = sparse.hstack(parts, format="csr")
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[owner]
    heads = {}
    for fact in FACTS:
        fixed = np.full(len(flat), -1)
        if pinned is not None:
            at = 0
            for i, clauses in enumerate(per_item):
                labels = pinned[i]
                if labels is not None and bags[fact][i]:
                    fixed[at:at + len(clauses)] = labels[fact]
                at += len(clauses)
        heads[fact] = multiple_instance(x, owner, np.asarray(bags[fact]), fixed, params, weights)
    return {"word": word, "char": char, "scaler": scaler, "blocks": blocks, **heads}


def multiple_instance(x, owner, bag, fixed, params, weights=None) -> LogisticRegression:
    """One clause head. ``owner``: each clause's comment; ``bag``: per comment, 1 where it states the fact;
    ``fixed``: per clause 1/0 from the span labels, -1 where none (only those clauses are relabelled)."""
    label = np.where(fixed >= 0, fixed, bag[owner])
    rounds = int(params["clause_rounds"])
    for step in range(rounds + 1):
        head = LogisticRegression(C=params["clause_C"], class_weight="balanced", max_iter=3000)
        head.fit(x, label, sample_weight=weights)
        if step == rounds:
            return head
        p = head.predict_proba(x)[:, 1]
        best = np.zeros(owner.max() + 1)
        np.maximum.at(best, owner, p)
        relabelled = ((bag[owner] == 1) & (p >= params["clause_relative"] * best[owner])).astype(int)
        label = np.where(fixed >= 0, fixed, relabelled)
