"""HTTP load benchmark: one uvicorn worker, wrk as the load generator (both on this machine).

Run: .venv/bin/python bench/bench_http.py   (needs Debian's `wrk`: apt-get install wrk)

Starts `crmqc serve` on a free loopback port with one worker, then for 1, 16 and 64 connections
runs wrk (one thread per 16 connections, --latency) against POST /v1/comments/score with a rotating
set of real comments, and measures batch throughput through POST /v1/comments/score-batch.
"""

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LUA = r"""
local bodies = {}
local f = io.open("%(file)s", "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
local every = %(explain_every)d
request = function()
  i = i %% #bodies + 1
  local path = "%(path)s"
  if every > 0 and i %% every == 0 then path = path .. "?explain=true" end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def texts() -> list[str]:
    real = ROOT.parent / "shared" / "real" / "comments.csv"
    path = real if real.is_file() else ROOT / "data" / "test.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f) if r["text"].strip()][:2000]


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the service did not become ready")


@contextmanager
def service(env: dict | None = None):
    """`crmqc serve` with one worker on a free loopback port, ready; stopped on exit. Yields (url, port).
    ``env``: settings added to the environment (e.g. the Bitrix24 integration's)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CRMQC_WATCH_CURRENT="false", CRMQC_STORE_PATH=str(Path(tempfile.mkdtemp()) / "l.db"),
               **(env or {}))
    server = subprocess.Popen([str(Path(sys.executable).parent / "crmqc"), "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        yield url, port
    finally:
        server.terminate()
        server.wait(timeout=20)


def wrk(url: str, path: str, bodies: list[str], connections: int, seconds: int, explain_every: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "bodies.txt"
        body_file.write_text("\n".join(bodies) + "\n", encoding="utf-8")
        script = Path(tmp) / "post.lua"
        script.write_text(LUA % {"file": body_file, "path": path, "explain_every": explain_every},
                          encoding="utf-8")
        threads = max(1, min(connections // 16, 2))
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                              "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with service() as (url, _):
        comments = texts()
        single = [json.dumps({"text": t}, ensure_ascii=False) for t in comments]
        wrk(url + "/v1/comments/score", "/v1/comments/score", single, 16, 3)  # warm the lemma cache
        print(f"one uvicorn worker on 127.0.0.1, wrk on the same 2-core machine, {args.seconds} s per row")
        print("| connections | requests/s | p50 | p99 | non-2xx |")
        print("|---|---|---|---|---|")
        for c in (1, 16, 64):
            r = wrk(url + "/v1/comments/score", "/v1/comments/score", single, c, args.seconds)
            print(f"| {c} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | {r['non_2xx']} |")
        # the manager's page asks for explain on every keystroke: a quarter of the requests with explain
        r = wrk(url + "/v1/comments/score", "/v1/comments/score", single, 16, args.seconds, explain_every=4)
        print(f"| 16, every 4th with explain | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | {r['non_2xx']} |")
        n = args.batch_size
        batches = [json.dumps({"comments": [{"id": str(j), "text": comments[(i * n + j) % len(comments)]}
                                            for j in range(n)]}, ensure_ascii=False) for i in range(4)]
        r = wrk(url + "/v1/comments/score-batch", "/v1/comments/score-batch", batches, 2, args.seconds)
        print(f"batch endpoint, {n} comments a request, 2 connections: {r['rps'] * n:,.0f} comments/s "
              f"(p50 {r['p50']} a request)")


if __name__ == "__main__":
    main()
