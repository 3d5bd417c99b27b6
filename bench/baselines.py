"""crmqc beside the tools a user could pick instead: F1 of `expanded` from one run, as a markdown table.

Run: .venv/bin/python bench/baselines.py [--quick | --only BUSINESS ...] [--json PATH]
(fastText is a bench-only dependency: pip install -e '.[bench]'.) The full run takes about 7 minutes on 2
cores, the crmqc leave-one-business-out being 5 of them; --quick holds out six businesses and takes about 1.

Columns, each trained on the same rows and measured on the same rows:
- crmqc: the project's own code with the default settings (DEFAULT_PARAMS), whatever the model is now, with
  the contrast rows of the span labels. On the test split a model is fitted on train.csv and the test texts
  go through CommentChecker.classify_many (rules applied); held out,
  classifier.training.grouped.leave_one_business_out at params["threshold"], as `crmqc cv` does.
- fastText: a supervised fastText classifier on the lowercased raw text, P(expanded) >= 0.5.
- TF-IDF+LR: word 1-2-gram TF-IDF on the lowercased raw text, balanced logistic regression, P >= 0.5.
  No lemmas, no rules.
- >= 12 words: expanded iff the comment has at least 12 whitespace-separated words.

Rows: the test split (train on data/train.csv, measure on data/test.csv) for the hand-written and the real
part apart; then each business of train.csv held out in turn (the folds of classifier/training/grouped.py):
each real business on its own row, the hand-written domains as the mean F1 over the domains held out.

Prints the table and the seconds each column took, and writes every figure (precision, recall, F1 per part
and per held-out business, hand-written domains one by one) to bench/results/baselines.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import config  # noqa: E402
from classifier.checker import CommentChecker  # noqa: E402
from classifier.model.linear import DEFAULT_PARAMS, Model  # noqa: E402
from classifier.text.pipeline import TextPipeline  # noqa: E402
from classifier.training import grouped  # noqa: E402
from classifier.training.dataset import LabelledRow, read_labelled  # noqa: E402
from classifier.training.train import contrasts_for, featurize  # noqa: E402

QUICK = ("real:b2b_supply", "real:freight", "hand:cars", "hand:education", "hand:hr", "hand:it")
PARTS = ("hand", "real")
WORDS = 12
THRESHOLD = 0.5  # of the baselines' P(expanded)
FASTTEXT = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "minn": 2, "maxn": 5, "dim": 50, "thread": 1, "seed": 0,
            "verbose": 0}
FASTTEXT_DISTRIBUTIONS = ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext")
METHODS = ("crmqc", "fastText", "TF-IDF+LR", f"≥ {WORDS} words")
DEFAULT_JSON = ROOT / "bench" / "results" / "baselines.json"
INSTALL = "pip install -e '.[bench]'"


class BenchError(RuntimeError):
    """The bench cannot run here (a missing or broken dependency, an unknown business): one line to print."""


def plain(text: str) -> str:
    """The raw text lowercased, on one line (fastText reads one example a line)."""
    return " ".join(text.lower().split())


def words_scores(train_texts: list[str], train_labels: np.ndarray, texts: list[str]) -> np.ndarray:
    return np.asarray([float(len(t.split()) >= WORDS) for t in texts])


def tfidf_lr_scores(train_texts: list[str], train_labels: np.ndarray, texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform([plain(t) for t in train_texts])
    model = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x, train_labels)
    return model.predict_proba(vectorizer.transform([plain(t) for t in texts]))[:, 1]


def fasttext_scores(train_texts: list[str], train_labels: np.ndarray, texts: list[str]) -> np.ndarray:
    import fasttext
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("".join(f"__label__{int(y)} {plain(t)}\n" for t, y in zip(train_texts, train_labels)),
                        encoding="utf-8")
        model = fasttext.train_supervised(str(path), **FASTTEXT)
    out = np.zeros(len(texts))
    for i, text in enumerate(texts):
        try:  # one text at a time: a build broken by numpy 2 raises here rather than return wrong numbers
            labels, probs = model.predict(plain(text), k=-1)
        except ValueError as exc:
            raise BenchError(f"fastText's predict fails with this numpy ({exc}); "
                             f"pip uninstall fasttext-wheel fasttext, then {INSTALL}") from exc
        out[i] = dict(zip(labels, probs)).get("__label__1", 0.0)
    return out


BASELINES = {"fastText": fasttext_scores, "TF-IDF+LR": tfidf_lr_scores, f"≥ {WORDS} words": words_scores}


def fasttext_version() -> str:
    """The installed fastText distribution and version; :class:`BenchError` naming the extra when absent."""
    try:
        import fasttext  # noqa: F401
    except ImportError as exc:
        raise BenchError(f"bench/baselines.py needs fastText: {INSTALL}") from exc
    for name in FASTTEXT_DISTRIBUTIONS:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "fasttext (unknown distribution)"


def by_part(rows: list[LabelledRow], predicted: np.ndarray) -> dict[str, dict]:
    """Precision, recall and F1 of `expanded` on each part of the test split, and on all of it."""
    out = {}
    for part in (*PARTS, "all"):
        idx = [i for i, r in enumerate(rows) if part in ("all", r.part)]
        if idx:
            out[part] = grouped.expanded_scores([rows[i].label for i in idx], [bool(predicted[i]) for i in idx])
    return out


def held_out_scores(method, rows: list[LabelledRow], businesses: list[str]) -> np.ndarray:
    """A baseline's scores on each held-out business, trained on every other business (the other rows 0)."""
    groups = np.asarray([grouped.business_of(r) for r in rows])
    texts = [r.text for r in rows]
    labels = np.asarray([r.label for r in rows])
    out = np.zeros(len(rows))
    for business in businesses:
        held = groups == business
        out[held] = method([texts[i] for i in np.flatnonzero(~held)], labels[~held],
                           [texts[i] for i in np.flatnonzero(held)])
    return out


def hand_mean(table: dict[str, dict]) -> dict | None:
    """Mean F1 (as `crmqc cv` gives it), precision and recall over the hand-written domains held out."""
    domains = {k: v for k, v in table.items() if k.startswith("hand:") and v["positives"]}
    if not domains:
        return None
    return {"domains": len(domains), "rows": sum(v["rows"] for v in domains.values()),
            "positives": sum(v["positives"] for v in domains.values()), "f1": grouped.summary(domains)["hand"],
            **{k: round(float(np.mean([v[k] for v in domains.values()])), 4) for k in ("precision", "recall")}}


def cell(m: dict, with_pr: bool) -> str:
    return f"{m['f1']:.3f} ({m['precision']:.3f}/{m['recall']:.3f})" if with_pr else f"{m['f1']:.3f}"


def markdown_table(results: dict) -> str:
    """The table: one row per evaluation set, one column per method, F1 (crmqc: F1 (P/R))."""
    methods = [m for m in METHODS if m in results["test"] or m in results["held_out"]]
    head = ["evaluation set", "rows", "expanded"] + [f"{m} F1 (P/R)" if m == "crmqc" else f"{m} F1" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def add(name: str, cells: dict[str, dict]):
        first = next(iter(cells.values()))
        lines.append("| " + " | ".join([name, f"{first['rows']:,}", f"{first['positives']:,}"]
                                       + [cell(cells[m], m == "crmqc") for m in methods]) + " |")

    names = {"hand": "test split: hand-written", "real": "test split: real managers'"}
    for part, name in names.items():
        if all(part in results["test"].get(m, {}) for m in methods):
            add(name, {m: results["test"][m][part] for m in methods})
    tables = {m: results["held_out"].get(m, {}) for m in methods}
    for business in sorted({b for t in tables.values() for b in t if b.startswith("real:")}):
        add(f"held out: {business}", {m: tables[m][business] for m in methods})
    means = {m: hand_mean(tables[m]) for m in methods}
    if all(means.values()):
        n = next(iter(means.values()))["domains"]
        add(f"held out: hand-written, mean of {n} domains", means)
    return "\n".join(lines)


def timing_table(seconds: dict[str, dict]) -> str:
    lines = ["| method | test split, s | held out, s |", "|---|---|---|"]
    for method in METHODS:
        if method in seconds:
            s = seconds[method]
            lines.append(f"| {method} | {s.get('test', 0):.1f} | {s.get('held_out', 0):.1f} |")
    return "\n".join(lines)


def git_revision() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args, log) -> dict:
    train_rows, test_rows = read_labelled(config.TRAIN_CSV), read_labelled(config.TEST_CSV)
    known = sorted({grouped.business_of(r) for r in train_rows})
    chosen = args.only or (list(QUICK) if args.quick else known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise BenchError(f"--only: no business {', '.join(unknown)} in {config.TRAIN_CSV.name} "
                         f"(there are: {', '.join(known)})")
    held = sorted(set(chosen))
    only = set(held)
    params = dict(DEFAULT_PARAMS)
    results = {"test": {}, "held_out": {}, "seconds": {}}
    gold_test = [r.label for r in test_rows]

    log(f"crmqc: features of {len(train_rows)} train rows")
    started = time.perf_counter()
    pipeline = TextPipeline.load(config.RULES_DIR)
    items, rejected = featurize(train_rows, pipeline)
    features_s = time.perf_counter() - started
    log("crmqc: fit on train.csv, classify test.csv")
    started = time.perf_counter()
    contrasts = contrasts_for(train_rows, pipeline)
    model = Model(contrasts.fit(items, [r.category for r in train_rows], range(len(train_rows)), params),
                  {"params": params, "version": "bench"})
    verdicts = CommentChecker(pipeline=pipeline, model=model).classify_many([r.text for r in test_rows])
    predicted = np.asarray([v.category == config.EXPANDED for v in verdicts])
    results["test"]["crmqc"] = by_part(test_rows, predicted)
    test_s = time.perf_counter() - started
    log(f"crmqc: leave one business out, {len(held)} held out")
    started = time.perf_counter()
    oof = grouped.leave_one_business_out(train_rows, items, rejected, params, log=log, businesses=held,
                                         contrasts=contrasts)
    results["held_out"]["crmqc"] = grouped.per_business(train_rows, oof, params["threshold"], only=only)
    results["seconds"]["crmqc"] = {"features": round(features_s, 1), "test": round(features_s + test_s, 1),
                                   "held_out": round(features_s + time.perf_counter() - started, 1)}

    train_texts, train_labels = [r.text for r in train_rows], np.asarray([r.label for r in train_rows])
    for name, method in BASELINES.items():
        log(f"{name}: test split, then {len(held)} held out")
        started = time.perf_counter()
        test_scores = method(train_texts, train_labels, [r.text for r in test_rows])
        results["test"][name] = by_part(test_rows, test_scores >= THRESHOLD)
        test_s = time.perf_counter() - started
        started = time.perf_counter()
        oof = held_out_scores(method, train_rows, held)
        results["held_out"][name] = grouped.per_business(train_rows, oof, THRESHOLD, only=only)
        results["seconds"][name] = {"test": round(test_s, 1), "held_out": round(time.perf_counter() - started, 1)}
    results["hand_mean"] = {m: hand_mean(t) for m, t in results["held_out"].items()}
    results["run"] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "revision": git_revision(),
                      "command": " ".join(["bench/baselines.py", *sys.argv[1:]]), "held_out": held,
                      "train_rows": len(train_rows), "test_rows": len(gold_test), "crmqc_params": params,
                      "fasttext": args.fasttext, "fasttext_params": FASTTEXT, "baseline_threshold": THRESHOLD}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", nargs="+", metavar="BUSINESS", help="hold out only these (e.g. real:freight)")
    which.add_argument("--quick", action="store_true", help=f"hold out only {' '.join(QUICK)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write every figure")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        args.fasttext = fasttext_version()
        results = run(args, log=lambda m: print(m, file=sys.stderr, flush=True))
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    results["run"]["seconds"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(markdown_table(results))
    print()
    print(timing_table(results["seconds"]))
    print(f"\ncrmqc features of train.csv ({results['seconds']['crmqc']['features']} s) are computed once and "
          f"counted in both crmqc columns. {args.fasttext}. Whole run {results['run']['seconds']:.0f} s; "
          f"every figure in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
