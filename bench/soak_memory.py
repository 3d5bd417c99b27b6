"""Memory soak: RSS while scoring comments made of new random words, which fill every per-word cache.

Run: .venv/bin/python bench/soak_memory.py [--n 1000000] [--words 8]
Each comment is ``--words`` random Cyrillic words never seen before, scored in batches of 100 through
the same ``CommentChecker.classify_many`` the service uses. RSS is read from /proc every 100,000
comments; the caches are bounded (LRU), so after they fill RSS must stay flat. Exits 1 if the last
reading is more than 10 % above the first one taken after the caches filled.
"""

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.checker import CommentChecker  # noqa: E402

LETTERS = "абвгдежзийклмнопрстуфхцчшщыэюя"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=8)
    parser.add_argument("--every", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(7)
    checker = CommentChecker.load()
    print(f"model {checker.model_version}; {args.n:,} comments of {args.words} new random words; "
          f"RSS at start {rss_mb():.0f} MB")
    readings, started, done = [], time.perf_counter(), 0
    while done < args.n:
        batch = [" ".join("".join(rng.choices(LETTERS, k=rng.randint(4, 9))) for _ in range(args.words))
                 for _ in range(100)]
        checker.classify_many(batch)
        done += len(batch)
        if done % args.every == 0:
            readings.append(rss_mb())
            caches = checker.lemmatizer.cache_info()
            print(f"{done:>9,} comments  RSS {readings[-1]:6.0f} MB  lemma cache {caches['lemma']:,}  "
                  f"{time.perf_counter() - started:5.0f} s", flush=True)
    first, last = readings[min(1, len(readings) - 1)], readings[-1]  # after the caches filled
    growth = (last - first) / first
    print(f"RSS from {first:.0f} MB (after the caches filled) to {last:.0f} MB: {growth:+.1%}")
    return 0 if growth <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
