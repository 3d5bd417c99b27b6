"""Labelled data: validate the immutable raw files and make a fixed, seeded split.

``data/raw/*.csv`` (never edited by code) → checked, deduplicated → ``data/train.csv`` and
``data/test.csv``. The test split is never used to choose anything.
"""

import csv
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .. import config, fileio
from ..text.normalize import normalize

REQUIRED = ("text", "label", "category")
COLUMNS = ("text", "label", "category", "source", "domain", "note", "file")
LABEL_OF = {c: int(c == config.EXPANDED) for c in config.CATEGORIES}


class DataError(ValueError):
    """A labelled file breaks the format of LABELLING.md."""


@dataclass
class BuildReport:
    rows_read: int = 0
    kept: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    train: int = 0
    test: int = 0

    def lines(self) -> list[str]:
        return [
            f"rows read: {self.rows_read}",
            f"exact duplicates dropped: {self.duplicates}",
            f"near-duplicates dropped: {self.near_duplicates}",
            f"label conflicts settled by the stricter label: {len(self.conflicts)}",
            f"kept: {self.kept} (train {self.train}, test {self.test})",
        ]


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """One labelled comment (LABELLING.md format): the row every reader of labelled CSV returns."""

    text: str
    label: int
    category: str
    source: str = "hand"
    domain: str = "other"
    note: str = ""
    file: str = ""

    @property
    def part(self) -> str:
        """`hand` (written for the corpus), `adversarial` (the frozen set) or `real` (managers' comments)."""
        return self.source if self.source in ("hand", "adversarial") else "real"



def read_labelled(path: Path) -> list[LabelledRow]:
    """Rows of one labelled CSV, validated; raises :class:`DataError` naming file and line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path.name}: missing column(s) {', '.join(missing)}")
            return [_check_row(row, f"{path.name}:{line}", path.stem) for line, row in enumerate(reader, start=2)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _check_row(row: dict, where: str, file: str) -> LabelledRow:
    if None in row:
        raise DataError(f"{where}: more fields than the header has (quote a text that contains commas)")
    text = row.get("text") or ""
    if not text.strip():
        raise DataError(f"{where}: empty text")
    category = (row.get("category") or "").strip()
    if category not in LABEL_OF:
        raise DataError(f"{where}: unknown category {category!r} (one of {', '.join(config.CATEGORIES)})")
    label = (row.get("label") or "").strip()
    if label not in ("0", "1") or int(label) != LABEL_OF[category]:
        raise DataError(f"{where}: label {label!r} does not match category {category}")
    return LabelledRow(
        text=text,
        label=int(label),
        category=category,
        source=(row.get("source") or "").strip() or "hand",
        domain=(row.get("domain") or "").strip() or "other",
        note=(row.get("note") or "").strip(),
        file=(row.get("file") or "").strip() or file,
    )


_NON_LETTERS = re.compile(r"[^а-яa-z]+")


def exact_key(text: str) -> str:
    return normalize(text)


def near_key(text: str) -> str:
    """Letters only, words sorted: «Перезвонить завтра!» ~ «завтра перезвонить»."""
    return " ".join(sorted(_NON_LETTERS.sub(" ", normalize(text)).split()))


def deduplicate(rows: list[LabelledRow], report: BuildReport) -> list[LabelledRow]:
    """Keep the first of equal texts; settle conflicting labels by the stricter (0) label."""
    by_key: dict[str, list[LabelledRow]] = defaultdict(list)
    for row in rows:
        by_key[exact_key(row.text)].append(row)
    kept = []
    for key, group in by_key.items():
        report.duplicates += len(group) - 1
        if len({r.category for r in group}) > 1:
            report.conflicts.append(key)
            group = sorted(group, key=lambda r: r.label)
        kept.append(group[0])
    near: dict[str, LabelledRow] = {}
    for row in kept:
        key = near_key(row.text)
        if key and key in near:
            report.near_duplicates += 1
            continue
        near[key or exact_key(row.text)] = row
    return list(near.values())


def in_test(text: str, seed: int = config.SPLIT_SEED, test_share: float = config.TEST_SHARE) -> bool:
    """A row's side is a seeded hash of its normalised text: adding rows never moves old ones."""
    digest = hashlib.sha256(f"{seed}:{exact_key(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_share


def split(rows: list[LabelledRow], seed: int = config.SPLIT_SEED, test_share: float = config.TEST_SHARE):
    train, test = [], []
    for row in rows:
        (test if in_test(row.text, seed, test_share) else train).append(row)

    def order(r: LabelledRow):
        return r.file, r.text

    return sorted(train, key=order), sorted(test, key=order)


def write_rows(path: Path, rows: list[LabelledRow]) -> None:
    with fileio.replacing(Path(path)) as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([getattr(r, c) for c in COLUMNS] for r in rows)


def build(raw_dir: Path = config.RAW_DIR, out_dir: Path = config.DATA_DIR) -> BuildReport:
    files = sorted(Path(raw_dir).glob("*.csv"))
    if not files:
        raise DataError(f"no labelled CSV files in {Path(raw_dir).name}/")
    report = BuildReport()
    rows = [row for path in files for row in read_labelled(path)]
    report.rows_read = len(rows)
    rows = deduplicate(rows, report)
    train, test = split(rows)
    report.kept, report.train, report.test = len(rows), len(train), len(test)
    write_rows(Path(out_dir) / "train.csv", train)
    write_rows(Path(out_dir) / "test.csv", test)
    return report


def labelled_keys(data_dir: Path = config.DATA_DIR) -> frozenset[str]:
    """Normalised texts of every comment labelled in ``data_dir`` (the split and the adversarial set)."""
    keys = set()
    for name in ("train.csv", "test.csv", "adversarial.csv"):
        path = Path(data_dir) / name
        if path.is_file():
            keys |= {exact_key(r.text) for r in read_labelled(path)}
    return frozenset(keys)


def data_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def counts(rows: list[LabelledRow], key: str) -> Counter:
    return Counter(getattr(r, key) for r in rows)
