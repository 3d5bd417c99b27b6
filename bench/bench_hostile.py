"""Hostile load: do a few expensive requests a second stall everyone else?

Run: .venv/bin/python bench/bench_hostile.py [--seconds 10] [--rate 10]   (needs Debian's `wrk`)

Starts `crmqc serve` (one uvicorn worker) on a free loopback port. wrk sends ordinary comments over 16
connections for ``--seconds``, first alone (quiet), then while two Python connections send ``--rate``
hostile requests a second between them: the longest comment the service accepts, of characters that
Unicode normalisation expands (as much as the limit after NFKC allows), and explain on. Prints both p99s
and their ratio; exits 1 when the hostile p99 is over twice the quiet one. Bounded: loopback only, a fixed
duration, a fixed request rate.
"""

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import service, texts, wrk


def _ms(value: str) -> float:
    number = float(value.rstrip("usm"))
    return number / 1000 if value.endswith("us") else number * 1000 if value.endswith("s") and \
        not value.endswith("ms") else number


def hostile(port: int, rate: float, seconds: float, body: bytes, sent: list[int]) -> None:
    """One connection sending ``rate`` requests a second for ``seconds``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline, gap = time.monotonic() + seconds, 1.0 / rate
    while time.monotonic() < deadline:
        started = time.monotonic()
        conn.request("POST", "/v1/comments/score?explain=true", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        sent.append(response.status)
        time.sleep(max(0.0, gap - (time.monotonic() - started)))
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="hostile requests a second, over 2 connections")
    args = parser.parse_args()
    with service() as (url, port):
        single = [json.dumps({"text": t}, ensure_ascii=False) for t in texts()]
        wrk(url + "/v1/comments/score", "/v1/comments/score", single, 16, 3)  # warm up
        quiet = wrk(url + "/v1/comments/score", "/v1/comments/score", single, 16, args.seconds)
        # the most a request may cost: 100 × «ﷺ» (1,800 characters after NFKC) and words, dates, money up to
        # 5,000 characters after NFKC, the limit
        words = ("Обсудили цену 12.03 в 15:00, 320к, перезвонить, ждёт счёт до пятницы " * 60)[:3200]
        body = json.dumps({"text": "\ufdfa" * 100 + words}, ensure_ascii=False).encode()
        sent: list[int] = []
        workers = [threading.Thread(target=hostile, args=(port, args.rate / 2, args.seconds + 2, body, sent))
                   for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(1)
        loaded = wrk(url + "/v1/comments/score", "/v1/comments/score", single, 16, args.seconds)
        for w in workers:
            w.join()
    ratio = _ms(loaded["p99"]) / _ms(quiet["p99"])
    codes = {c: sent.count(c) for c in sorted(set(sent))}
    print(f"16 connections of ordinary comments, one uvicorn worker, {args.seconds} s each")
    print(f"quiet:   {quiet['rps']:,.0f} req/s, p50 {quiet['p50']}, p99 {quiet['p99']}")
    print(f"hostile: {loaded['rps']:,.0f} req/s, p50 {loaded['p50']}, p99 {loaded['p99']} "
          f"while {len(sent)} hostile requests were answered ({codes})")
    print(f"p99 ratio {ratio:.2f} (at most 2 allowed)")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
