"""The labelling queue with a big pool: latency of /v1/labelling/next and /stats.

Run: .venv/bin/python bench/bench_labelling.py [--pool 200000] [--labels 20000]
Builds a labels database in a temporary folder: ``--pool`` comments (real ones from
../shared/real/comments.csv when present, each made unique with a number) and ``--labels`` labels by
three annotators, then times the first /next after start (the queue scores a budget of the pool per call,
not all of it), the next calls, and /stats, through the real app in process.
"""

import argparse
import csv
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from bench.bench_http import texts  # noqa: E402
from classifier.checker import CommentChecker  # noqa: E402
from classifier.qa.store import Store  # noqa: E402
from classifier.service.app import create_app  # noqa: E402
from classifier.service.settings import Settings  # noqa: E402


def timed(call) -> float:
    started = time.perf_counter()
    r = call()
    assert r.status_code == 200, r.text
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=200_000)
    parser.add_argument("--labels", type=int, default=20_000)
    args = parser.parse_args()
    base = texts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pool = tmp / "pool.csv"
        with open(pool, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            w.writerows([f"{base[i % len(base)]} №{i}"] for i in range(args.pool))
        store = Store(tmp / "l.db")
        started = time.perf_counter()
        report = store.import_csv(pool)
        print(f"imported {report.added:,} comments in {time.perf_counter() - started:.1f} s")
        # a year of work, the newest label now: /stats reads only today's
        start, step = datetime.now(UTC) - timedelta(days=365), timedelta(days=365) / max(args.labels, 1)
        with store.transaction() as db:
            db.executemany("INSERT INTO labels(comment_id, annotator, action, label, category, at) "
                           "VALUES (?,?,?,?,?,?)",
                           [(1 + i % args.pool, ("anna", "boris", "vera")[i % 3], "label", 0, "stop",
                             (start + i * step).isoformat(timespec="seconds")) for i in range(args.labels)])
        store.close()
        settings = Settings(store_path=tmp / "l.db", data_dir=tmp, watch_current=False)
        with TestClient(create_app(settings, checker=CommentChecker.load())) as c:
            # the app's very first request pays one-off costs of its own (first ASGI call, dependency set-up)
            warm = timed(lambda: c.get("/v1/labelling/stats", params={"annotator": "vera"}))
            first = timed(lambda: c.get("/v1/labelling/next", params={"annotator": "gleb"}))
            later = [timed(lambda: c.get("/v1/labelling/next", params={"annotator": "gleb"})) for _ in range(20)]
            stats = [timed(lambda: c.get("/v1/labelling/stats", params={"annotator": "anna"})) for _ in range(3)]
    print(f"pool {args.pool:,}, labels {args.labels:,}")
    print(f"first request after start (/stats): {warm:.0f} ms")
    print(f"first /v1/labelling/next after start: {first:.0f} ms; next 20: median {statistics.median(later):.0f} ms, "
          f"max {max(later):.0f} ms")
    print(f"/v1/labelling/stats: median {statistics.median(stats):.0f} ms")


if __name__ == "__main__":
    main()
