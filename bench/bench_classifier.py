"""Classifier speed: batch throughput (comments/s on one core) and single-comment latency.

Run: .venv/bin/python bench/bench_classifier.py [--n 20000]
Input: the real comments in ../shared/real/comments.csv when present, else data/test.csv,
cycled to --n comments. The lemma cache is warm after the first pass, as in a running service;
the cold first pass is reported too.
"""

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier import config  # noqa: E402
from classifier.checker import CommentChecker  # noqa: E402


def load_texts() -> tuple[list[str], str]:
    real = ROOT.parent / "shared" / "real" / "comments.csv"
    path = real if real.is_file() else config.TEST_CSV
    with open(path, encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f)], path.name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--single", type=int, default=2000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    texts, source = load_texts()
    corpus = [texts[i % len(texts)] for i in range(args.n)]
    checker = CommentChecker.load()

    started = time.perf_counter()
    checker.classify_many(texts[: args.batch])
    cold = time.perf_counter() - started

    started = time.perf_counter()
    for i in range(0, len(corpus), args.batch):
        checker.classify_many(corpus[i:i + args.batch])
    batch_seconds = time.perf_counter() - started

    latencies = []
    for text in corpus[: args.single]:
        t0 = time.perf_counter()
        checker.classify(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"model {checker.model_version}; input {source}, {args.n} comments, batches of {args.batch}, one core")
    print(f"cold first batch of {args.batch}: {cold:.2f} s")
    print(f"batch throughput: {args.n / batch_seconds:,.0f} comments/s")
    print(f"single comment latency: p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms "
          f"({args.single} calls)")


if __name__ == "__main__":
    main()
