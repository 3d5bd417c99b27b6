"""Reused comments: how often honest comments are taken for a copy, and how often a copy is caught.

Run: .venv/bin/python bench/reuse_false_positives.py [--show] [--model]

False positives. The real comments of data/raw/real_*.csv (two B2B companies of ../shared/real/comments.csv
and the freight forwarder of freight.csv) carry no manager and no deal, so the worst case is taken: every
comment of one business is written by one manager, each on its own deal, in file order. A comment is
flagged when the reuse check (rules/crm.yaml `reuse`) finds an earlier one it repeats. Counted over
(a) the comments labelled expanded — the only ones whose touch would count, so the only ones a false
reuse could cost — and (b) every comment that is neither stop nor padding (the check never looks at
those: «НД» twice is not a reuse). The hand-written rows (data/raw/hand_*.csv, one "manager" per
business domain) are a second honest pool. Also printed: the highest similarity between two different
honest comments of one pool (the margin below the threshold).

Caveat: ../shared/real/*.csv dropped exact duplicates before labelling, so an exact copy cannot occur in
the real pool: a flag there is a near-copy (`--show` prints each pair, to read whether it is one).

Detection. Every expanded comment of data/raw (labelled 1) with enough words is pasted on a second deal
after one edit: unchanged, its numbers and dates changed, a name put before it, one or two words replaced
by a name, a sentence added, its first and last clauses swapped (seeded RNG).

`--model` also measures self-repetition with the model in models/CURRENT: how many non-expanded comments
pass as expanded when pasted twice into one comment, judged as written and as the CRM rules judge it
(classifier.crm.gaming.judge_without_repeats: also without the repeat, the worse verdict standing), and
how many expanded comments that turns down.
"""

import argparse
import csv
import random
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.crm.gaming import (  # noqa: E402
    ReuseIndex,
    Written,
    fingerprint_tokens,
    jaccard,
    judge_without_repeats,
    shingles,
    without_repeats,
)
from classifier.crm.settings import load_settings  # noqa: E402

RAW = ROOT / "data" / "raw"
T0 = datetime.fromisoformat("2026-01-01T09:00:00+03:00")
NAMES = ["Иван Петрович", "Ольга", "Сергей Иванович", "Марина", "ООО Вектор"]


def read_rows(pattern: str) -> list[dict]:
    rows = []
    for path in sorted(RAW.glob(pattern)):
        with open(path, encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def business(row: dict) -> str:
    source = row["source"]
    return "freight" if source.startswith("freight") else source.split("#")[0]


def pool(rows: list[dict], group) -> list[Written]:
    """Each row a comment on its own deal, by the "manager" ``group(row)``, a minute after the previous."""
    return [Written("comment", str(i), f"deal-{i}", group(r), T0 + timedelta(minutes=i), r["text"])
            for i, r in enumerate(rows)]


def flags(items: list[Written], settings) -> list[tuple[Written, Written]]:
    index = ReuseIndex(items, settings)
    by_id = {w.id: w for w in items}
    found = []
    for item in items:
        match = index.earlier_match(item)
        if match:
            found.append((by_id[match.id], item))
    return found


def nearest(items: list[Written], settings) -> float:
    """The highest similarity between two different comments of one manager, over the pool."""
    groups = defaultdict(list)
    for w in items:
        tokens = fingerprint_tokens(w.text)
        if len(tokens) >= settings.reuse_min_words:
            groups[w.manager_id].append(shingles(tokens, settings.reuse_shingle_words))
    best = 0.0
    for sets in groups.values():
        for i, a in enumerate(sets):
            for b in sets[i + 1:]:
                best = max(best, jaccard(a, b))
    return best


def false_positives(settings, show: bool) -> None:
    real, hand = read_rows("real_*.csv"), read_rows("hand_*.csv")
    scopes = [
        ("real, labelled expanded", [r for r in real if r["label"] == "1"], business),
        ("real, neither stop nor padding", [r for r in real if r["category"] not in ("stop", "padding")], business),
        ("hand-written, labelled expanded", [r for r in hand if r["label"] == "1"], lambda r: r["domain"]),
    ]
    print(f"reuse: shingles of {settings.reuse_shingle_words} words, similarity ≥ {settings.reuse_similarity}, "
          f"texts of {settings.reuse_min_words}+ words")
    print(f"{'pool':34} {'comments':>8} {'checked':>8} {'flagged':>8} {'rate':>7} {'max honest sim.':>16}")
    for name, rows, group in scopes:
        items = pool(rows, group)
        checked = sum(len(fingerprint_tokens(w.text)) >= settings.reuse_min_words for w in items)
        found = flags(items, settings)
        print(f"{name:34} {len(items):>8} {checked:>8} {len(found):>8} {len(found) / len(items):>7.2%} "
              f"{nearest(items, settings):>16.2f}")
        if show:
            for earlier, later in found:
                print(f"    {earlier.text[:90]!r}\n      → {later.text[:90]!r}")


def _one_word(rng: random.Random, text: str) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = rng.choice(NAMES)
    return " ".join(words)


def _swap(text: str) -> str:
    parts = re.split(r"(?<=[,;.])\s+", text)
    if len(parts) > 1:
        parts[0], parts[-1] = parts[-1], parts[0]
    return " ".join(parts)


def detection(settings, seed: int) -> None:
    rng = random.Random(seed)
    texts = [r["text"] for r in read_rows("*.csv") if r["label"] == "1"]
    texts = [t for t in texts if len(fingerprint_tokens(t)) >= settings.reuse_min_words]
    edits = {
        "unchanged": lambda t: t,
        "numbers and dates changed": lambda t: re.sub(r"\d+", lambda m: str((int(m.group()) + 3) % 97 or 1), t),
        "a name put before it": lambda t: f"{rng.choice(NAMES)}: {t}",
        "one word replaced": lambda t: _one_word(rng, t),
        "two words replaced": lambda t: _one_word(rng, _one_word(rng, t)),
        "a sentence added": lambda t: t + " Также клиент спросил про доставку.",
        "first and last clauses swapped": _swap,
    }
    print(f"\ndetection: {len(texts)} expanded comments of data/raw, each pasted on a second deal after one edit")
    for name, edit in edits.items():
        items = []
        for i, text in enumerate(texts):
            items.append(Written("comment", f"a{i}", f"A{i}", "m", T0 + timedelta(minutes=2 * i), text))
            items.append(Written("comment", f"b{i}", f"B{i}", "m", T0 + timedelta(minutes=2 * i + 1), edit(text)))
        index = ReuseIndex(items, settings)
        caught = sum(1 for w in items if w.kind == "comment" and w.id.startswith("b")
                     and (m := index.earlier_match(w)) is not None and m.id == "a" + w.id[1:])
        print(f"  {name:32} caught {caught:>5} of {len(texts)} ({caught / len(texts):.0%})")


def self_repetition(settings) -> None:
    from classifier.checker import CommentChecker
    checker = CommentChecker.load()
    rows = read_rows("*.csv")
    negative = [r["text"] for r in rows if r["label"] == "0"]
    positive = [r["text"] for r in rows if r["label"] == "1"]
    alone = checker.classify_many(negative)
    size = settings.repeat_min_words
    print(f"\nself-repetition ({checker.model_version}; runs of {size}+ words): "
          f"{len(negative)} non-expanded comments of data/raw pasted twice into one comment")
    for name, sep in (("a space", " "), ("«. »", ". "), ("a new line", "\n")):
        doubled = [t + sep + t for t in negative]
        raw = checker.classify_many(doubled)
        judged = judge_without_repeats(doubled, checker.classify_many, settings)
        passed_raw = sum(not a.expanded and b.expanded for a, b in zip(alone, raw))
        passed = sum(not a.expanded and judged[t].expanded for a, t in zip(alone, doubled))
        print(f"  joined by {name:12} pass as expanded: as written {passed_raw} ({passed_raw / len(negative):.1%}), "
              f"as the CRM rules judge it {passed} ({passed / len(negative):.2%})")
    before = checker.classify_many(positive)
    after = judge_without_repeats(positive, checker.classify_many, settings)
    changed = sum(without_repeats(t, size) != t for t in positive)
    lost = sum(a.expanded and not after[t].expanded for a, t in zip(before, positive))
    print(f"  {len(positive)} expanded comments: {changed} have a repeated run, {lost} turned down by the rules")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every flagged pair")
    parser.add_argument("--model", action="store_true", help="also measure self-repetition with the model")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    settings = load_settings()
    false_positives(settings, args.show)
    detection(settings, args.seed)
    if args.model:
        self_repetition(settings)


if __name__ == "__main__":
    main()
