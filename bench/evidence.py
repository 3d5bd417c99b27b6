"""How well the evidence of a verdict matches the substrings labellers marked (data/spans), out of fold.

Run: .venv/bin/python bench/evidence.py [--shares 0.2 0.25 0.333 0.4 0.5 0.67 1] [--folds 5] [--json]

The span-labelled expanded rows of data/train.csv are split into --folds folds (grouped by business:
each fold's rows are scored by a model trained without any row of that business, or of their contrast
rows, as `crmqc cv` does). For each labelled comment the model accepts, the clauses are scored as
``CommentChecker`` does, and for each share of the best clause (``checker.EVIDENCE_SHARE`` is one of
them) the evidence clauses of each fact are compared with the labelled substrings, by characters
(letters and digits only): precision = share of highlighted characters inside a labelled substring of
that fact, recall = share of labelled characters highlighted. Single-clause comments are left out
(their evidence is the whole comment whatever the share).
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import config  # noqa: E402
from classifier.checker import EVIDENCE_SHARE, FACTS, CommentChecker, evidence_clauses  # noqa: E402
from classifier.model.linear import DEFAULT_PARAMS, Model  # noqa: E402
from classifier.text.clauses import clause_spans  # noqa: E402
from classifier.text.pipeline import TextPipeline  # noqa: E402
from classifier.training.dataset import exact_key, read_labelled  # noqa: E402
from classifier.training.grouped import business_of  # noqa: E402
from classifier.training.spans import load_spans  # noqa: E402
from classifier.training.train import contrasts_for, featurize  # noqa: E402


def char_mask(text: str, spans) -> np.ndarray:
    mask = np.zeros(len(text), dtype=bool)
    for start, end in spans:
        mask[start:end] = True
    return mask & np.fromiter((ch.isalnum() for ch in text), dtype=bool, count=len(text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=float, nargs="+",
                        default=[0.2, 0.25, round(EVIDENCE_SHARE, 3), 0.4, 0.5, 0.67, 1.0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows = read_labelled(config.TRAIN_CSV)
    labels = load_spans()
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, _ = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline)
    params = dict(DEFAULT_PARAMS)
    cats = [r.category for r in rows]
    businesses = sorted({business_of(r) for r in rows})
    fold_of = {b: k % args.folds for k, b in enumerate(businesses)}
    labelled = [i for i, r in enumerate(rows) if r.label == 1 and exact_key(r.text) in labels
                and len(clause_spans(r.text)) > 1]
    print(f"{len(labelled)} span-labelled multi-clause expanded rows; {len(contrasts)} contrast rows at weight "
          f"{params['contrast_weight']}; {args.folds} folds by business", file=sys.stderr)
    counts = {share: {f: defaultdict(float) for f in FACTS} for share in args.shares}
    accepted = 0
    for fold in range(args.folds):
        held = [i for i in labelled if fold_of[business_of(rows[i])] == fold]
        train_idx = [i for i, r in enumerate(rows) if fold_of[business_of(r)] != fold]
        model = Model(contrasts.fit(items, cats, train_idx, params), {"params": params, "version": "evidence"})
        checker = CommentChecker(pipeline=pipeline, model=model)
        verdicts = checker.classify_many([rows[i].text for i in held])
        pred = model.predict([items[i] for i in held])
        for k, (i, verdict) in enumerate(zip(held, verdicts)):
            if not verdict.expanded:
                continue
            accepted += 1
            text, label = rows[i].text, labels[exact_key(rows[i].text)]
            spans = clause_spans(text)
            per_clause = pred.clauses[k] if pred.clauses is not None else None
            relative = checker.evidence_scores(pipeline.prepare(text), spans, per_clause)
            for share in args.shares:
                chosen = evidence_clauses(relative, list(FACTS), share)
                for fact in FACTS:
                    gold = char_mask(text, label.spans(fact))
                    shown = char_mask(text, [spans[k] for k in chosen[fact]])
                    c = counts[share][fact]
                    c["tp"] += float((gold & shown).sum())
                    c["shown"] += float(shown.sum())
                    c["gold"] += float(gold.sum())
        print(f"  fold {fold + 1}: {len(held)} rows", file=sys.stderr)
    result = {"rows": len(labelled), "accepted": accepted, "by_share": {}}
    for share in args.shares:
        result["by_share"][str(share)] = {}
        for fact in FACTS:
            c = counts[share][fact]
            p = c["tp"] / c["shown"] if c["shown"] else 0.0
            r = c["tp"] / c["gold"] if c["gold"] else 0.0
            result["by_share"][str(share)][fact] = {"precision": round(p, 3), "recall": round(r, 3),
                                                    "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['accepted']} of {result['rows']} labelled rows accepted out of fold; characters of the "
          "evidence against the labelled substrings:")
    print(f"  {'share':>6}  {'subject P':>9} {'R':>6} {'F1':>6}   {'outcome P':>9} {'R':>6} {'F1':>6}")
    for share, by in result["by_share"].items():
        s, o = by["subject"], by["outcome"]
        print(f"  {float(share):>6.3f}  {s['precision']:>9.3f} {s['recall']:>6.3f} {s['f1']:>6.3f}   "
              f"{o['precision']:>9.3f} {o['recall']:>6.3f} {o['f1']:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
