"""Experiment (issue 11): clause heads by unseen business, from comment labels or (``--spans``) span labels.

Both kinds of heads are the model's own, fitted as `crmqc train` fits them (``Contrasts.fit`` with
``clause_heads``): the whole-text heads and the clause heads of classifier/model/clauses.py, with the contrast
rows at ``--contrast-weight``. With ``--spans``, the clauses of comments with span labels (data/spans) are
pinned by them, as in the model; without it, every clause is a multiple-instance problem: every clause of a
comment without the fact is negative; in a comment with it, every clause starts positive, and after each
round only the clauses scoring at least ``--relative`` of their comment's best stay positive. A comment's
clause score is its best clause's, and the two kinds are combined several ways. (Before 2026-12-03 the bench
read the clauses with its own copy of the clause features and trained its clause heads without the
contrast rows; the figures in README and data/README of that day and earlier came from it.)

    .venv/bin/python bench/clause_heads.py            # B2B, freight and four hand-written domains held out
    .venv/bin/python bench/clause_heads.py --spans --contrast-weight 1   # the variant the model adopted
    .venv/bin/python bench/clause_heads.py --spans --contrast-weight 1 --cache /tmp/scores.npz   # again: no training
    .venv/bin/python bench/clause_heads.py --c 4 --rounds 0
    git show 20f52d1:data/train.csv > /tmp/before.csv && .venv/bin/python bench/clause_heads.py --data /tmp/before.csv

Prints F1 of `expanded` per held-out business for each combination, at 0.3 and at its best threshold, and how
many held-out hand-written one-fact comments it accepts.
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from classifier import config
from classifier.metrics import scores
from classifier.model.linear import DEFAULT_PARAMS, ClauseHeads, Model, best_clause
from classifier.text.pipeline import TextPipeline
from classifier.training.dataset import read_labelled
from classifier.training.grouped import business_of
from classifier.training.train import contrasts_for, featurize

CACHED = ("rows", "whole_subject", "whole_outcome", "clause_subject", "clause_outcome")
QUICK = ("real:b2b_supply", "real:freight", "hand:cars", "hand:education", "hand:hr", "hand:it")
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55)


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
    # the model's own training (`crmqc train`): whole-text and clause heads fitted together, contrast rows at
    # --contrast-weight; without --spans the clause heads get no span-label pins
    params = dict(DEFAULT_PARAMS, contrast_weight=args.contrast_weight, clause_heads=True,
                  clause_C=args.c, clause_rounds=args.rounds, clause_relative=args.relative)
    contrasts = contrasts_for(rows, pipeline)
    if not args.spans:
        contrasts = replace(contrasts, labels={})
    results = {}
    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache) as saved:
            results = {b: tuple(saved[f"{b}/{k}"] for k in CACHED) for b in args.only}
    for business in [b for b in args.only if b not in results]:
        started = time.perf_counter()
        held = groups == business
        train_idx, held_idx = np.flatnonzero(~held), np.flatnonzero(held)
        objects = contrasts.fit(items, cats.tolist(), train_idx, params)
        held_items = [items[i] for i in held_idx]
        whole_only = {k: v for k, v in objects.items() if k != "clause"}  # the whole-text heads alone
        whole = Model(whole_only, {"params": params, "version": "experiment"}).predict(held_items)
        clause = best_clause(ClauseHeads.of(objects["clause"]).proba(held_items))
        results[business] = (held_idx, whole.subject, whole.outcome, clause[:, 0], clause[:, 1])
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
