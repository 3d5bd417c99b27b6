"""The labelling store: a SQLite file (WAL, transactions) of the comment pool, labels and models.

Nothing is overwritten: a changed label is a new row and the latest wins; an undo is a new
``retract`` row. Imports and exports are all-or-nothing.
"""

import csv
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import config
from .dataset import LABEL_OF, exact_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS comments (
    id          INTEGER PRIMARY KEY,
    text        TEXT NOT NULL,
    text_key    TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL DEFAULT '',
    meta        TEXT NOT NULL DEFAULT '{}',
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id          INTEGER PRIMARY KEY,
    comment_id  INTEGER NOT NULL REFERENCES comments(id),
    annotator   TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('label', 'retract', 'skip')),
    label       INTEGER CHECK (label IN (0, 1)),
    category    TEXT,
    note        TEXT NOT NULL DEFAULT '',
    seconds     REAL,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_by_comment ON labels(comment_id, annotator, id);
CREATE INDEX IF NOT EXISTS labels_by_annotator ON labels(annotator, id);
CREATE TABLE IF NOT EXISTS models (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    promoted    INTEGER NOT NULL,
    report      TEXT NOT NULL,
    at          TEXT NOT NULL
);
"""

# The latest row of each (comment, annotator); a `label` there is that annotator's current label.
LATEST = """
SELECT l.* FROM labels l
JOIN (SELECT MAX(id) AS id FROM labels WHERE action != 'skip' GROUP BY comment_id, annotator) m ON m.id = l.id
"""


class StoreError(ValueError):
    """Bad input to the store (a file without a `text` column, an unknown category, …)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ImportReport:
    read: int
    added: int
    duplicates: int
    empty: int


class Store:
    def __init__(self, path: Path = config.ROOT / "var" / "labels.sqlite3"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- pool ---------------------------------------------------------------------------------

    def import_csv(self, path: Path) -> ImportReport:
        path = Path(path)
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                if "text" not in (reader.fieldnames or []):
                    raise StoreError(f"{path.name} has no `text` column")
                rows = list(reader)
        except UnicodeDecodeError as exc:
            raise StoreError(f"{path.name} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except FileNotFoundError as exc:
            raise StoreError(f"file not found: {path}") from exc
        added = duplicates = empty = 0
        stamp = now()
        with self.transaction() as db:
            for row in rows:
                text = row.pop("text") or ""
                if not text.strip():
                    empty += 1
                    continue
                meta = {k: v for k, v in row.items() if k is not None}
                cur = db.execute(
                    "INSERT OR IGNORE INTO comments(text, text_key, source, meta, imported_at) VALUES (?,?,?,?,?)",
                    (text, exact_key(text), meta.get("source", path.name), json.dumps(meta, ensure_ascii=False),
                     stamp))
                added += cur.rowcount
                duplicates += 1 - cur.rowcount
        return ImportReport(len(rows), added, duplicates, empty)

    def comment(self, comment_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM comments WHERE id = ?", (comment_id,)).fetchone()

    def pool_size(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM comments").fetchone()[0]

    # --- labels -------------------------------------------------------------------------------

    def add_label(self, comment_id: int, annotator: str, category: str, note: str = "",
                  seconds: float | None = None) -> int:
        if category not in LABEL_OF:
            raise StoreError(f"unknown category {category!r} (one of {', '.join(config.CATEGORIES)})")
        annotator = _annotator(annotator)
        if self.comment(comment_id) is None:
            raise StoreError(f"no comment with id {comment_id}")
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO labels(comment_id, annotator, action, label, category, note, seconds, at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (comment_id, annotator, "label", LABEL_OF[category], category, note or "", seconds, now()))
            return cur.lastrowid

    def skip(self, comment_id: int, annotator: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO labels(comment_id, annotator, action, at) VALUES (?,?,?,?)",
                       (comment_id, _annotator(annotator), "skip", now()))

    def undo(self, annotator: str) -> int | None:
        """Retract the annotator's latest label (a new row; history stays). Returns the comment id."""
        annotator = _annotator(annotator)
        last = self.db.execute(
            LATEST + " WHERE l.annotator = ? AND l.action = 'label' ORDER BY l.id DESC LIMIT 1", (annotator,)
        ).fetchone()
        if last is None:
            return None
        with self.transaction() as db:
            db.execute("INSERT INTO labels(comment_id, annotator, action, at) VALUES (?,?,?,?)",
                       (last["comment_id"], annotator, "retract", now()))
        return last["comment_id"]

    def current_labels(self) -> list[sqlite3.Row]:
        """Each annotator's current label of each comment, with the comment's text."""
        return self.db.execute(
            "SELECT x.comment_id, x.annotator, x.label, x.category, x.note, x.seconds, x.at, x.id, c.text, "
            f"c.source FROM ({LATEST}) x JOIN comments c ON c.id = x.comment_id WHERE x.action = 'label' "
            "ORDER BY x.comment_id, x.annotator").fetchall()

    def history(self, comment_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM labels WHERE comment_id = ? ORDER BY id", (comment_id,)).fetchall()

    def export_csv(self, out: Path) -> int:
        """The latest label of each labelled comment, LABELLING.md format, ordered by comment id.

        Written to a temporary file first, so a crash leaves no half-written export."""
        latest: dict[int, sqlite3.Row] = {}
        for row in self.current_labels():
            if row["comment_id"] not in latest or row["id"] > latest[row["comment_id"]]["id"]:
                latest[row["comment_id"]] = row
        out = Path(out)
        tmp = out.with_name(out.name + ".partial")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label", "category", "source", "domain", "note"])
            for cid in sorted(latest):
                r = latest[cid]
                writer.writerow([r["text"], r["label"], r["category"], r["source"] or "pool", "other",
                                 f"annotator={r['annotator']}" + (f"; {r['note']}" if r["note"] else "")])
        tmp.replace(out)
        return len(latest)

    # --- models -------------------------------------------------------------------------------

    def record_model(self, name: str, version: str, promoted: bool, report: dict) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO models(name, version, promoted, report, at) VALUES (?,?,?,?,?)",
                       (name, version, int(promoted), json.dumps(report, ensure_ascii=False), now()))


def _annotator(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise StoreError("annotator name must be 1–64 characters")
    return name
