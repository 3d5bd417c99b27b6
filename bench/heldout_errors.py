"""The mistakes on one business held out: train on every other business, list the held-out verdicts.

Run: .venv/bin/python bench/heldout_errors.py [--business real:b2b_supply] [--show 25]

Trains as `crmqc cv` trains one fold (the default settings, the contrast rows of the other businesses,
the rules applied as in classify()), then prints the false accepts by category and the missed expanded
comments, each with its score, lowest-scored misses and highest-scored false accepts first.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import config  # noqa: E402
from classifier.model.linear import DEFAULT_PARAMS  # noqa: E402
from classifier.text.pipeline import TextPipeline  # noqa: E402
from classifier.training.dataset import read_labelled  # noqa: E402
from classifier.training.grouped import business_of, leave_one_business_out  # noqa: E402
from classifier.training.train import contrasts_for, featurize  # noqa: E402

SHORT = 12  # words: "short" in the README's reading of the mistakes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--business", default="real:b2b_supply", help="e.g. real:freight or hand:cars")
    parser.add_argument("--show", type=int, default=25, help="comments to list of each kind")
    args = parser.parse_args()
    rows = read_labelled(config.TRAIN_CSV)
    held = [i for i, r in enumerate(rows) if business_of(r) == args.business]
    if not held:
        known = sorted({business_of(r) for r in rows})
        print(f"no business {args.business!r} in train.csv; known: {', '.join(known)}", file=sys.stderr)
        return 2
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, rejected = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline)
    params = dict(DEFAULT_PARAMS)
    oof = leave_one_business_out(rows, items, rejected, params, log=lambda m: None,
                                 businesses=[args.business], contrasts=contrasts)  # rule-rejected rows score 0
    verdicts = [(rows[i], oof[i], oof[i] >= params["threshold"]) for i in held]
    false_accepts = sorted(((r, s) for r, s, a in verdicts if a and r.label == 0), key=lambda x: -x[1])
    missed = sorted(((r, s) for r, s, a in verdicts if not a and r.label == 1), key=lambda x: x[1])
    found = sum(a and r.label == 1 for r, _, a in verdicts)
    positives = found + len(missed)

    def short(pairs):
        return sum(len(r.text.split()) <= SHORT for r, _ in pairs)

    print(f"{args.business}: {len(held)} rows, {positives} expanded, threshold {params['threshold']}")
    print(f"found {found}; missed {len(missed)} ({short(missed)} of {SHORT} words or fewer)")
    by_cat = ", ".join(f"{c} {n}" for c, n in Counter(r.category for r, _ in false_accepts).most_common())
    print(f"false accepts {len(false_accepts)} ({by_cat}; {short(false_accepts)} of {SHORT} words or fewer)")
    for r, s in missed[:args.show]:
        print(f"MISSED {s:.3f} | {r.text[:160]}")
    for r, s in false_accepts[:args.show]:
        print(f"ACCEPTED {s:.3f} {r.category} | {r.text[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
