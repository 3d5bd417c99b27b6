"""Experiment (issue 11): clause heads by unseen business, from comment labels or (``--spans``) span labels.

Each comment is cut into clauses (``text.clauses.clause_spans``). With ``--spans``, a clause of a comment
with span labels (data/spans) is labelled by them; the model's own clause heads (classifier/model/clauses.py)
are this variant. The other clauses, and every clause without ``--spans``, are a
multiple-instance problem: every clause of a comment without the fact is negative; in a comment with it,
every clause starts positive, and after each round only the clauses scoring at least ``--relative`` of
their comment's best stay positive. A comment's clause score is its best clause's. The whole-text model
(the project's own ``fit``) is trained on the same folds, and the two are combined several ways.

    .venv/bin/python bench/clause_heads.py            # B2B, freight and four hand-written domains held out
    .venv/bin/python bench/clause_heads.py --spans --contrast-weight 1   # the variant the model adopted
    .venv/bin/python bench/clause_heads.py --spans --contrast-weight 1 --cache /tmp/scores.npz   # again: no training
    .venv/bin/python bench/clause_heads.py --c 4 --rounds 0
    git show 20f52d1:data/train.csv > /tmp/before.csv && .venv/bin/python bench/clause_heads.py --data /tmp/before.csv

Prints F1 of `expanded` per held-out business for each combination, at 0.3 and at its best threshold, and how
many held-out hand-written one-fact comments it accepts.
"""

import argparse
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier import config
from classifier.metrics import scores
from classifier.model.clauses import FACTS, multiple_instance, pinned_labels
from classifier.model.linear import DEFAULT_PARAMS, OUTCOME, SUBJECT, Model
from classifier.text.clauses import clause_spans
from classifier.text.pipeline import TextPipeline
from classifier.training.dataset import exact_key, read_labelled
from classifier.training.grouped import business_of
from classifier.training.spans import Contrasts, load_spans
from classifier.training.train import contrasts_for, featurize

CACHED = ("rows", "whole_subject", "whole_outcome", "clause_subject", "clause_outcome")
QUICK = ("real:b2b_supply", "real:freight", "hand:cars", "hand:education", "hand:hr", "hand:it")
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55)
PLACEHOLDERS = ("_date_", "_time_", "_money_", "_num_", "_percent_")


def weighted(w: float):
    """The geometric mean with the clause heads' share of the exponent at ``w`` (0.5 is "geometric")."""
    return lambda ws, wo, cs, co: (ws ** (1 - w) * cs ** w) * (wo ** (1 - w) * co ** w)


COMBINATIONS = {  # (whole-text P(subject), P(outcome), best-clause P(subject), P(outcome)) -> score
    "whole": lambda ws, wo, cs, co: ws * wo,
    "clause": lambda ws, wo, cs, co: cs * co,
    "geometric": lambda ws, wo, cs, co: np.sqrt(ws * cs) * np.sqrt(wo * co),
    "average": lambda ws, wo, cs, co: (ws + cs) / 2 * (wo + co) / 2,
    "whole S, clause O": lambda ws, wo, cs, co: ws * co,
    "whole S, min O": lambda ws, wo, cs, co: ws * np.minimum(wo, co),
    **{f"geometric w={w}": weighted(w) for w in (0.6, 0.7, 0.8)},
    "geometric S w=0.7": lambda ws, wo, cs, co: (ws ** 0.3 * cs ** 0.7) * np.sqrt(wo * co),
    "average S, geometric O": lambda ws, wo, cs, co: (ws + cs) / 2 * np.sqrt(wo * co),
    "geometric S, average O": lambda ws, wo, cs, co: np.sqrt(ws * cs) * (wo + co) / 2,
}


def clauses(rows, pipeline):
    """Per clause: the row it belongs to, its lemma text, its masked text, a few dense signals and its
    (start, end) in the row's text."""
    owner, lemmas, masked, dense, bounds = [], [], [], [], []
    for i, r in enumerate(rows):
        spans = clause_spans(r.text) or [(0, len(r.text))]
        for k, (a, b) in enumerate(spans):
            p = pipeline.prepare(r.text[a:b])
            tokens = p.masked.split()
            owner.append(i)
            bounds.append((a, b))
            lemmas.append(" ".join(p.lemmas))
            masked.append(p.masked)
            dense.append([math.log1p(len(tokens)), *(float(tokens.count(t)) for t in PLACEHOLDERS),
                          float(k == 0), float(k == len(spans) - 1), float(len(spans) == 1), math.log1p(len(spans))])
    return (np.asarray(owner), np.asarray(lemmas, dtype=object), np.asarray(masked, dtype=object),
            np.asarray(dense), bounds)


def span_labels(rows, owner, bounds, labels) -> dict[str, np.ndarray]:
    """Per fact and clause: the model's own clause labels from the span labels (``clauses.pinned_labels``),
    -1 where the comment has none."""
    out = {fact: np.full(len(owner), -1) for fact in FACTS}
    for i in np.unique(owner):
        label = labels.get(exact_key(rows[i].text))
        if label is None or label.doubt or label.text != rows[i].text:
            continue
        at = np.flatnonzero(owner == i)
        spans = [SimpleNamespace(start=bounds[k][0], end=bounds[k][1]) for k in at]
        for fact, pinned in pinned_labels(label.text, spans, {f: label.spans(f) for f in FACTS}).items():
            out[fact][at] = pinned
    return out


def clause_scores(held, owner, lemmas, masked, dense, facts, args, fixed=None):
    """Best-clause score of each held-out row, per fact, from heads trained on the other rows."""
    train_c, held_c = ~held[owner], held[owner]
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+", lowercase=False)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, max_features=20000,
                           sublinear_tf=True, lowercase=False)
    mean, scale = dense[train_c].mean(0), dense[train_c].std(0) + 1e-9
    x_train = sparse.hstack([word.fit_transform(lemmas[train_c]), char.fit_transform(masked[train_c]),
                             sparse.csr_matrix((dense[train_c] - mean) / scale)], format="csr")
    x_held = sparse.hstack([word.transform(lemmas[held_c]), char.transform(masked[held_c]),
                            sparse.csr_matrix((dense[held_c] - mean) / scale)], format="csr")
    train_rows, held_rows = np.flatnonzero(~held), np.flatnonzero(held)
    index = np.full(len(held), -1)
    index[train_rows] = np.arange(len(train_rows))
    index[held_rows] = np.arange(len(held_rows))
    out = {}
    for name, bag_label in facts.items():
        pinned = None if fixed is None else fixed[name][train_c]
        fixed_c = np.full(int(train_c.sum()), -1) if pinned is None else pinned
        head = multiple_instance(x_train, index[owner[train_c]], bag_label[train_rows], fixed_c,
                                 {"clause_C": args.c, "clause_rounds": args.rounds, "clause_relative": args.relative})
        best = np.zeros(len(held_rows))
        np.maximum.at(best, index[owner[held_c]], head.predict_proba(x_held)[:, 1])
        out[name] = best
    return out


def _objective(f1_by_business: dict[str, float]) -> float:
    """Mean of the real businesses' mean F1 and the hand-written domains' mean F1, as ``crmqc cv`` reports."""
    parts = [[v for b, v in f1_by_business.items() if b.startswith(p)] for p in ("real:", "hand:")]
    return float(np.mean([np.mean(part) for part in parts if part]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, default=16.0, help="C of the clause heads")
    ap.add_argument("--rounds", type=int, default=2,
                    help="relabelling rounds (0: every clause of a positive comment positive)")
    ap.add_argument("--relative", type=float, default=0.5,
                    help="a clause stays positive at this share of its comment's best")
    ap.add_argument("--only", nargs="+", default=list(QUICK), help="businesses to hold out")
    ap.add_argument("--data", type=Path, default=config.TRAIN_CSV, help="labelled rows (default train.csv)")
    ap.add_argument("--spans", action="store_true",
                    help="clauses of comments with span labels (data/spans) take their labels from them")
    ap.add_argument("--contrast-weight", type=float, default=0.0,
                    help="the whole-text model's contrast rows (training.spans) at this weight")
    ap.add_argument("--cache", type=Path,
                    help="an .npz of the held-out scores: written after a run, read instead of training when "
                         "it exists (to try combinations without retraining; same other options)")
    args = ap.parse_args()
    rows = read_labelled(args.data)
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, rejected = featurize(rows, pipeline)
    groups = np.asarray([business_of(r) for r in rows])
    cats = np.asarray([r.category for r in rows])
    y = np.asarray([r.label for r in rows])
    owner, lemmas, masked, dense, bounds = clauses(rows, pipeline)
    facts = {"subject": np.isin(cats, list(SUBJECT)).astype(int), "outcome": np.isin(cats, list(OUTCOME)).astype(int)}
    fixed = span_labels(rows, owner, bounds, load_spans()) if args.spans else None
    # the whole-text heads alone, beside which the clause heads here are measured
    params = dict(DEFAULT_PARAMS, contrast_weight=args.contrast_weight, clause_heads=False)
    contrasts = contrasts_for(rows, pipeline) if args.contrast_weight else Contrasts.none()
    results = {}
    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache) as saved:
            results = {b: tuple(saved[f"{b}/{k}"] for k in CACHED) for b in args.only}
    for business in [b for b in args.only if b not in results]:
        started = time.perf_counter()
        held = groups == business
        train_idx, held_idx = np.flatnonzero(~held), np.flatnonzero(held)
        model = Model(contrasts.fit(items, cats.tolist(), train_idx, params),
                      {"params": params, "version": "experiment"})
        whole = model.predict([items[i] for i in held_idx])
        clause = clause_scores(held, owner, lemmas, masked, dense, facts, args, fixed)
        results[business] = (held_idx, whole.subject, whole.outcome, clause["subject"], clause["outcome"])
        print(f"  {business} held out ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.cache is not None and not args.cache.is_file():
        np.savez(args.cache, **{f"{b}/{k}": v for b, r in results.items() for k, v in zip(CACHED, r)})

    def f1(idx, score, t):
        return scores(y[idx].tolist(), [bool(s >= t and not rejected[i]) for i, s in zip(idx, score)]).f1

    def one_fact(combine, t):
        """How many held-out hand-written one-fact comments the combination accepts at ``t``."""
        out = []
        for category in ("subject_only", "outcome_only"):
            accepted = total = 0
            for b, (idx, *heads) in results.items():
                if b.startswith("hand:"):
                    mine = cats[idx] == category
                    accepted += int(((combine(*heads) >= t) & ~rejected[idx] & mine).sum())
                    total += int(mine.sum())
            out.append(f"{category} accepted {accepted}/{total}")
        return ", ".join(out)

    for name, combine in COMBINATIONS.items():
        table = {t: {b: f1(idx, combine(*heads), t) for b, (idx, *heads) in results.items()} for t in THRESHOLDS}
        objective = {t: _objective(table[t]) for t in THRESHOLDS}
        best = max(THRESHOLDS, key=objective.get)
        for t in sorted({0.3, best}):
            cells = " ".join(f"{b} {v:.3f}" for b, v in table[t].items())
            print(f"{name:<18} t={t:<5} objective {objective[t]:.3f}  {cells}  {one_fact(combine, t)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
