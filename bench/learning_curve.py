"""How many labelled comments a department should give: F1 on its own comments against labels added.

Run: .venv/bin/python bench/learning_curve.py [--sizes 0 50 100 200 400 800] [--repeats 3]

For each real business in data/train.csv (the B2B supplier, the freight forwarder): a fixed 40 % of
its rows (by a hash of the text, as `crmqc retrain --department` splits) is kept to measure on. The
model is trained on every other business plus n of the business's remaining rows (n from --sizes,
drawn at random --repeats times), with the default settings, and scored on the kept 40 % with the
rules applied, as in classify(). Prints F1 (mean and range over the draws) per n.
"""

import argparse
import random
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import config  # noqa: E402
from classifier.metrics import scores  # noqa: E402
from classifier.model.linear import DEFAULT_PARAMS, Model  # noqa: E402
from classifier.qa.retrain import split_department  # noqa: E402
from classifier.text.pipeline import TextPipeline  # noqa: E402
from classifier.training.dataset import read_labelled  # noqa: E402
from classifier.training.grouped import business_of  # noqa: E402
from classifier.training.train import contrasts_for, featurize  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 50, 100, 200, 400, 800])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = read_labelled(config.TRAIN_CSV)
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, rejected = featurize(rows, pipeline)
    contrasts = contrasts_for(rows, pipeline)  # trained as `crmqc train` trains
    cats = np.asarray([r.category for r in rows])
    index = {id(r): i for i, r in enumerate(rows)}
    params = dict(DEFAULT_PARAMS)
    businesses = sorted({business_of(r) for r in rows if r.part == "real"})
    for business in businesses:
        own = [r for r in rows if business_of(r) == business]
        pool, held = split_department(own, 0.4)
        others = [i for i, r in enumerate(rows) if business_of(r) != business]
        held_idx = [index[id(r)] for r in held]
        gold = [rows[i].label for i in held_idx]
        print(f"{business}: {len(own)} rows, {len(held)} kept to measure on ({sum(gold)} expanded), "
              f"{len(pool)} to draw from", flush=True)
        for n in args.sizes:
            if n > len(pool):
                continue
            f1s = []
            for seed in range(args.repeats if 0 < n < len(pool) else 1):
                drawn = [index[id(r)] for r in random.Random(seed).sample(pool, n)]
                train_idx = others + drawn
                model = Model(contrasts.fit(items, cats.tolist(), train_idx, params),
                              {"params": params, "version": "curve"})
                score = model.predict([items[i] for i in held_idx]).score
                pred = [not rejected[i] and s >= params["threshold"] for i, s in zip(held_idx, score)]
                f1s.append(scores(gold, pred).f1)
            spread = f" (range {min(f1s):.3f}–{max(f1s):.3f})" if len(f1s) > 1 else ""
            print(f"  +{n:>4} of its own labelled: F1 {statistics.mean(f1s):.3f}{spread}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
