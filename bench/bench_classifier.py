"""Classifier speed: batch throughput (comments/s on one core), single-comment and explain latency.

Run: .venv/bin/python bench/bench_classifier.py [--n 20000] [--root OTHER_CHECKOUT]
Input: the real comments in ../shared/real/comments.csv when present, else data/test.csv,
cycled to --n comments. The lemma cache is warm after the first pass, as in a running service;
the cold first pass is reported too. ``--root`` times the code and model of another checkout (an
earlier commit, see bench/compare_revisions.py) with the same input.
"""

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent.parent


def load_texts(root: Path) -> tuple[list[str], str]:
    real = HERE.parent / "shared" / "real" / "comments.csv"
    path = real if real.is_file() else root / "data" / "test.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f)], path.name


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose code and models/ to time")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from classifier.checker import CommentChecker

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    texts, source = load_texts(args.root)
    corpus = [texts[i % len(texts)] for i in range(args.n)]
    checker = CommentChecker.load()

    started = time.perf_counter()
    checker.classify_many(texts[: args.batch])
    cold = time.perf_counter() - started

    started = time.perf_counter()
    for i in range(0, len(corpus), args.batch):
        checker.classify_many(corpus[i:i + args.batch])
    rate = args.n / (time.perf_counter() - started)

    def latencies(explain: bool, n: int) -> list[float]:
        out = []
        for text in corpus[:n]:
            t0 = time.perf_counter()
            checker.classify(text, explain=explain)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    single = latencies(False, args.single)
    explain = latencies(True, min(args.single, 500))
    result = {"model": checker.model_version, "input": source, "n": args.n, "cold_s": round(cold, 3),
              "comments_per_s": round(rate), "single_p50_ms": round(statistics.median(single), 3),
              "single_p99_ms": round(percentile(single, 0.99), 3),
              "explain_p50_ms": round(statistics.median(explain), 3),
              "explain_p99_ms": round(percentile(explain, 0.99), 3)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"model {result['model']}; input {source}, {args.n} comments, batches of {args.batch}, one core")
    print(f"cold first batch of {args.batch}: {cold:.2f} s")
    print(f"batch throughput: {rate:,.0f} comments/s")
    print(f"single comment latency: p50 {result['single_p50_ms']:.2f} ms, p99 {result['single_p99_ms']:.2f} ms "
          f"({args.single} calls)")
    print(f"explain latency: p50 {result['explain_p50_ms']:.2f} ms, p99 {result['explain_p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
