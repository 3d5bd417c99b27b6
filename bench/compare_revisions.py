"""This checkout's classifier against an earlier commit's, in one run, with the same input and machine.

Run: .venv/bin/python bench/compare_revisions.py [REF] [--rounds 3]
REF (default HEAD~1) is checked out with `git worktree` into a temporary folder; a model is trained
there with that commit's own code (its models/ would not load in this code, nor ours in it), then
bench/bench_classifier.py times both, alternating, ``--rounds`` times. The medians are printed.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench_classifier.py"
KEYS = ("comments_per_s", "single_p50_ms", "single_p99_ms", "explain_p50_ms", "explain_p99_ms")


def run(root: Path, n: int) -> dict:
    out = subprocess.run([sys.executable, str(BENCH), "--root", str(root), "--json", "--n", str(n)],
                         check=True, capture_output=True, text=True, cwd=root).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", nargs="?", default="HEAD~1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.ref],
                       check=True, capture_output=True)
        try:
            commit = subprocess.run(["git", "-C", str(base), "rev-parse", "--short", "HEAD"], check=True,
                                    capture_output=True, text=True).stdout.strip()
            print(f"training the baseline model at {args.ref} ({commit}) ...", file=sys.stderr)
            subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); from classifier.cli "
                            "import main; sys.exit(main(['train']))"], check=True, cwd=base, capture_output=True)
            results = {"baseline": [], "this": []}
            for _ in range(args.rounds):
                results["baseline"].append(run(base, args.n))
                results["this"].append(run(ROOT, args.n))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    med = {side: {k: statistics.median(r[k] for r in rows) for k in KEYS} for side, rows in results.items()}
    print(f"{'measure':<16}{'baseline ' + commit:>20}{'this checkout':>16}{'ratio':>8}")
    for k in KEYS:
        print(f"{k:<16}{med['baseline'][k]:>20,.3f}{med['this'][k]:>16,.3f}{med['this'][k] / med['baseline'][k]:>8.2f}")


if __name__ == "__main__":
    main()
