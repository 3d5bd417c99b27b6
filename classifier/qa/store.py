"""The labelling store: a SQLite file (WAL, transactions) of the comment pool, labels, reviewers'
settlements of disagreements, and models.

Nothing is overwritten: a changed label is a new row and the latest wins; an undo is a new
``retract`` row naming the label it takes back, so the label before it is in force again. A settlement
is a new ``reviews`` row too: the latest one of a comment wins, the earlier ones stay. Imports and
exports are all-or-nothing. One connection serves every thread, one thread at a time.
"""

import csv
import json
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from .. import config, fileio
from ..training.dataset import LABEL_OF, exact_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS comments (
    id          INTEGER PRIMARY KEY,
    text        TEXT NOT NULL,
    text_key    TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL DEFAULT '',
    meta        TEXT NOT NULL DEFAULT '{}',
    imported_at TEXT NOT NULL,
    in_data     INTEGER NOT NULL DEFAULT 0  -- 1: already labelled in data/, never offered for labelling
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
    at          TEXT NOT NULL,
    undoes      INTEGER REFERENCES labels(id)
);
CREATE INDEX IF NOT EXISTS labels_by_comment ON labels(comment_id, annotator, id);
CREATE INDEX IF NOT EXISTS labels_by_annotator ON labels(annotator, id);
CREATE INDEX IF NOT EXISTS labels_by_annotator_at ON labels(annotator, at);
-- An import is staged here in short transactions, then moved into `comments` by one statement: label
-- writes are never locked out for the length of a big file, and a killed import leaves only staged rows,
-- which the next start deletes.
CREATE TABLE IF NOT EXISTS import_rows (
    id          INTEGER PRIMARY KEY,
    import_id   TEXT NOT NULL,
    text        TEXT NOT NULL,
    text_key    TEXT NOT NULL,
    source      TEXT NOT NULL,
    meta        TEXT NOT NULL,
    in_data     INTEGER NOT NULL
);
-- A reviewer's settlement of a disagreement. `labels_seen` is what the annotators' current labels were
-- ({annotator: category}, JSON): the settlement is in force while they still are (see Store.disagreements).
CREATE TABLE IF NOT EXISTS reviews (
    id          INTEGER PRIMARY KEY,
    comment_id  INTEGER NOT NULL REFERENCES comments(id),
    reviewer    TEXT NOT NULL,
    category    TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    labels_seen TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_by_comment ON reviews(comment_id, id);
-- Each annotator's standing on each comment, kept with every write so that reads never scan `labels`:
-- the label in force (`label_id`, NULL when none is) and whether the last action was a skip. `meta`
-- holds `latest_upto`, the last labels.id it reflects: rows written any other way are folded in on open.
CREATE TABLE IF NOT EXISTS latest (
    comment_id  INTEGER NOT NULL,
    annotator   TEXT NOT NULL,
    label_id    INTEGER,
    skipped     INTEGER NOT NULL DEFAULT 0,
    shared      INTEGER NOT NULL DEFAULT 0,  -- another annotator has a label in force on the comment too
    PRIMARY KEY (comment_id, annotator)
);
CREATE INDEX IF NOT EXISTS latest_by_annotator ON latest(annotator, label_id);
CREATE INDEX IF NOT EXISTS latest_shared ON latest(annotator, shared);
CREATE INDEX IF NOT EXISTS latest_by_label ON latest(label_id);
CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    promoted    INTEGER NOT NULL,
    report      TEXT NOT NULL,
    at          TEXT NOT NULL
);
"""

# Each annotator's current label of each comment: the newest `label` row no undo took back. An undo's
# `retract` row names the label it took back (`undoes`); one written before that column existed
# (`undoes` NULL) took back every earlier label of its comment and annotator.
IN_FORCE = """
SELECT MAX(x.id) FROM labels x
WHERE x.comment_id = t.comment_id AND x.annotator = t.annotator AND x.action = 'label'
  AND NOT EXISTS (SELECT 1 FROM labels r WHERE r.undoes = x.id)
  AND NOT EXISTS (SELECT 1 FROM labels r WHERE r.comment_id = x.comment_id AND r.annotator = x.annotator
                  AND r.id > x.id AND r.action = 'retract' AND r.undoes IS NULL)
"""
LAST_IS_SKIP = """
SELECT y.action = 'skip' FROM labels y WHERE y.comment_id = t.comment_id AND y.annotator = t.annotator
ORDER BY y.id DESC LIMIT 1
"""
CURRENT = "SELECT l.* FROM latest t JOIN labels l ON l.id = t.label_id"

MAX_ID = 2**63 - 1  # SQLite's largest integer
IMPORT_CHUNK = 5000  # rows staged per transaction
MAX_NAME = 64  # characters of an annotator's or a reviewer's name

# The guide's "stricter reading" of a disagreement (LABELLING.md, Data files), strictest first: the reading
# that credits the comment with less. Not expanded beats expanded. Among the not-expanded categories, the
# ones that find no content at all come first — `stop` (the category every model must reject) before
# `padding` (long but just as empty) — then `outcome_only`, which by the guide's precedents is "not a record
# of a talk" («Перезвонить в мае», «Аванс внесён»), before `subject_only`, which records a detail of one.
STRICTER_ORDER = ("stop", "padding", "outcome_only", "subject_only", "expanded")
REVIEW_STATES = ("unsettled", "settled", "all")


class StoreError(ValueError):
    """Bad input to the store (a file without a `text` column, an unknown category, …); ``field`` names
    the argument at fault when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(StoreError):
    """An id that names no comment (the HTTP routes answer 404)."""


class NoDisagreement(StoreError):
    """A settlement asked for a comment whose annotators do not disagree (the HTTP routes answer 409)."""


def stricter(categories) -> str:
    """The stricter reading of the given categories (``STRICTER_ORDER``)."""
    return min(categories, key=STRICTER_ORDER.index)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ImportReport:
    read: int
    added: int
    duplicates: int
    empty: int
    in_data: int = 0  # rows read whose comment is already labelled in data/


class Store:
    def __init__(self, path: Path = config.ROOT / "var" / "labels.sqlite3"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=30000")  # another process's writer: wait for it, do not fail
        self._lock = threading.RLock()
        self.db.executescript(SCHEMA)
        with self.transaction() as db:
            _migrate(db)
            _fold_in(db)
            db.execute("DELETE FROM import_rows")  # what an import killed before its last step left

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def transaction(self):
        """A write transaction; no other thread uses the connection until it ends."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def snapshot(self):
        """A read transaction: every query in it sees the store at one moment, whatever other processes
        write meanwhile (WAL readers never block writers)."""
        with self._lock:
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.execute("COMMIT")

    def _rows(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def _row(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.db.execute(sql, params).fetchone()

    # --- pool ---------------------------------------------------------------------------------

    def import_csv(self, path: Path, labelled: frozenset[str] = frozenset()) -> ImportReport:
        """Add the comments of a CSV with a `text` column, in one transaction; ``labelled`` holds the
        normalised texts already labelled in data/, which are kept but never offered for labelling."""
        path = Path(path)
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                if "text" not in (reader.fieldnames or []):
                    raise StoreError(f"{path.name} has no `text` column")
                rows = list(_whole_rows(reader, path.name))
        except UnicodeDecodeError as exc:
            raise StoreError(f"{path.name} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except FileNotFoundError as exc:
            raise StoreError(f"file not found: {path}") from exc
        except IsADirectoryError as exc:
            raise StoreError(f"{path} is a directory, not a CSV file") from exc
        empty = in_data = staged = 0
        stamp, import_id = now(), uuid.uuid4().hex
        try:
            for start in range(0, len(rows), IMPORT_CHUNK):
                batch = []
                for row in rows[start:start + IMPORT_CHUNK]:
                    text = row.pop("text") or ""
                    if not text.strip():
                        empty += 1
                        continue
                    key = exact_key(text)
                    in_data += key in labelled
                    batch.append((import_id, text, key, row.get("source", path.name),
                                  json.dumps(row, ensure_ascii=False), int(key in labelled)))
                with self.transaction() as db:  # short: label writes get the lock between chunks
                    db.executemany("INSERT INTO import_rows(import_id, text, text_key, source, meta, in_data) "
                                   "VALUES (?,?,?,?,?,?)", batch)
                staged += len(batch)
            with self.transaction() as db:  # all or nothing: one statement moves the whole file
                added = db.execute(
                    "INSERT OR IGNORE INTO comments(text, text_key, source, meta, imported_at, in_data) "
                    "SELECT text, text_key, source, meta, ?, in_data FROM import_rows WHERE import_id = ? ORDER BY id",
                    (stamp, import_id)).rowcount
                db.execute("DELETE FROM import_rows WHERE import_id = ?", (import_id,))
        except BaseException:
            with self.transaction() as db:
                db.execute("DELETE FROM import_rows WHERE import_id = ?", (import_id,))
            raise
        return ImportReport(len(rows), added, staged - added, empty, in_data)

    def mark_labelled(self, labelled: frozenset[str]) -> int:
        """Flag the pool comments whose normalised text is labelled in data/ now (and unflag the rest), so
        the queue never offers them; returns how many are flagged."""
        with self.transaction() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS known_keys (key TEXT PRIMARY KEY)")
            db.execute("DELETE FROM known_keys")
            db.executemany("INSERT OR IGNORE INTO known_keys VALUES (?)", ((k,) for k in labelled))
            db.execute("UPDATE comments SET in_data = (text_key IN (SELECT key FROM known_keys))")
            return db.execute("SELECT COUNT(*) FROM comments WHERE in_data = 1").fetchone()[0]

    def comment(self, comment_id: int) -> sqlite3.Row | None:
        if not 1 <= comment_id <= MAX_ID:  # no such comment, rather than sqlite3's OverflowError
            return None
        return self._row("SELECT * FROM comments WHERE id = ?", (comment_id,))

    def pool_size(self) -> int:
        return self._row("SELECT COUNT(*) FROM comments")[0]

    def _ids(self, sql: str, params: tuple = ()) -> list[int]:
        with self._lock:
            cursor = self.db.cursor()
            cursor.row_factory = None  # plain tuples: a sqlite3.Row per id costs more than the query
            return list(chain.from_iterable(cursor.execute(sql, params).fetchall()))

    def unseen_ids(self, annotator: str) -> list[int]:
        """The comments the queue may offer ``annotator``: not labelled in data/, and neither labelled nor
        last skipped by them; one indexed query rather than every id and every label in Python."""
        return self._ids("SELECT id FROM comments WHERE in_data = 0 AND id NOT IN "
                         "(SELECT comment_id FROM latest WHERE annotator = ?) ORDER BY id", (annotator,))

    # --- the model's scores of the pool, for the queue (a TEMP table: this connection's, gone on close) ---

    def reset_pool_scores(self) -> None:
        with self._lock:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS pool_scores (id INTEGER PRIMARY KEY, ruled INTEGER "
                            "NOT NULL, uncertainty REAL NOT NULL)")
            self.db.execute("CREATE INDEX IF NOT EXISTS temp.pool_scores_order ON pool_scores(ruled, uncertainty, id)")
            self.db.execute("DELETE FROM temp.pool_scores")

    def pool_after(self, last_id: int, limit: int) -> list[sqlite3.Row]:
        """The next ``limit`` offerable comments by id after ``last_id``, with their text."""
        return self._rows("SELECT id, text FROM comments WHERE in_data = 0 AND id > ? ORDER BY id LIMIT ?",
                          (last_id, limit))

    def add_pool_scores(self, rows: list[tuple[int, bool, float]]) -> None:
        """(id, decided by a rule, |score − threshold|) of newly scored comments."""
        with self._lock:
            self.db.executemany("INSERT OR REPLACE INTO temp.pool_scores(id, ruled, uncertainty) VALUES (?,?,?)",
                                [(i, int(r), u) for i, r, u in rows])

    def most_uncertain_unseen(self, annotator: str) -> int | None:
        """Of the scored comments, the one nearest the threshold (rule-decided ones last) that ``annotator``
        has not seen and data/ does not hold: an index walk, not a list of the whole pool."""
        row = self._row("SELECT s.id FROM temp.pool_scores s JOIN comments c ON c.id = s.id WHERE c.in_data = 0 "
                        "AND NOT EXISTS (SELECT 1 FROM latest l WHERE l.comment_id = s.id AND l.annotator = ?) "
                        "ORDER BY s.ruled, s.uncertainty, s.id LIMIT 1", (annotator,))
        return row[0] if row else None

    def pool_texts(self) -> list[sqlite3.Row]:
        """The id and text of every pool comment the queue may offer, by id."""
        return self._rows("SELECT id, text FROM comments WHERE in_data = 0 ORDER BY id")

    def pool_counts(self) -> dict[str, int]:
        """Pool size, and how many of its comments are already labelled in data/."""
        row = self._row("SELECT COUNT(*), COALESCE(SUM(in_data), 0) FROM comments")
        return {"pool": row[0], "in_data": row[1]}

    def _require_comment(self, comment_id: int) -> None:
        if self.comment(comment_id) is None:
            raise NotFound(f"no comment with id {comment_id}")

    # --- labels -------------------------------------------------------------------------------

    def annotator(self, name: str) -> str:
        """The spelling under which ``name`` already labels here, compared case-insensitively («Анна» is
        «анна»); a new name is kept as given. Raises StoreError for an empty or too long name."""
        name = _annotator(name)
        folded = name.casefold()
        for known in self._rows("SELECT name FROM annotators"):
            if known[0].casefold() == folded:
                return known[0]
        return name

    def reviewer(self, name: str) -> str:
        """As :meth:`annotator`, for a reviewer: the spelling already used in settlements, else in labels."""
        name = _annotator(name, "reviewer")
        folded = name.casefold()
        known_names = "SELECT DISTINCT reviewer FROM reviews UNION ALL SELECT name FROM annotators"
        for known in self._rows(known_names):
            if known[0].casefold() == folded:
                return known[0]
        return name

    def add_label(self, comment_id: int, annotator: str, category: str, note: str = "",
                  seconds: float | None = None) -> int:
        _category(category)
        annotator = self.annotator(annotator)
        with self.transaction() as db:
            self._require_comment(comment_id)
            cur = db.execute(
                "INSERT INTO labels(comment_id, annotator, action, label, category, note, seconds, at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (comment_id, annotator, "label", LABEL_OF[category], category, note or "", seconds, now()))
            _fold_in(db)
            return cur.lastrowid

    def skip(self, comment_id: int, annotator: str) -> None:
        annotator = self.annotator(annotator)
        with self.transaction() as db:
            self._require_comment(comment_id)
            db.execute("INSERT INTO labels(comment_id, annotator, action, at) VALUES (?,?,?,?)",
                       (comment_id, annotator, "skip", now()))
            _fold_in(db)

    def undo(self, annotator: str) -> int | None:
        """Take back the annotator's latest label still in force: a new row naming it, so the label the
        annotator gave that comment before (if any) is in force again. Returns the comment id."""
        annotator = self.annotator(annotator)
        with self.transaction() as db:
            last = db.execute(CURRENT + " WHERE t.annotator = ? ORDER BY t.label_id DESC LIMIT 1",
                              (annotator,)).fetchone()
            if last is None:
                return None
            db.execute("INSERT INTO labels(comment_id, annotator, action, undoes, at) VALUES (?,?,?,?,?)",
                       (last["comment_id"], annotator, "retract", last["id"], now()))
            _fold_in(db)
        return last["comment_id"]

    def current_labels(self) -> list[sqlite3.Row]:
        """Each annotator's current label of each comment, with the comment's text."""
        return self._rows(
            "SELECT x.comment_id, x.annotator, x.label, x.category, x.note, x.seconds, x.at, x.id, c.text, "
            f"c.source FROM ({CURRENT}) x JOIN comments c ON c.id = x.comment_id "
            "ORDER BY x.comment_id, x.annotator")

    def seen_by(self, annotator: str) -> set[int]:
        """The comments the annotator has a label on, or skipped last: the queue does not offer them."""
        annotator = self.annotator(annotator)
        return set(self._ids("SELECT comment_id FROM latest WHERE annotator = ?", (annotator,)))

    def labelled_by(self, annotator: str, day: str) -> tuple[int, list[sqlite3.Row]]:
        """How many comments the annotator's labels are in force on, and those given on ``day`` (ISO date)."""
        total = self._row("SELECT COUNT(*) FROM latest WHERE annotator = ? AND label_id IS NOT NULL",
                          (annotator,))[0]
        today = self._rows("SELECT l.* FROM labels l JOIN latest t ON t.label_id = l.id "
                           "WHERE l.annotator = ? AND l.at >= ? AND l.at < ?", (annotator, day, day + "\uffff"))
        return total, today

    def pair_counts(self, annotator: str) -> list[sqlite3.Row]:
        """(other annotator, my category, theirs, count) over the comments both have a label in force on."""
        return self._rows(
            "SELECT o.annotator AS other, a.category AS mine, b.category AS theirs, COUNT(*) AS n "
            "FROM latest m JOIN latest o ON o.comment_id = m.comment_id AND o.annotator != m.annotator "
            "JOIN labels a ON a.id = m.label_id JOIN labels b ON b.id = o.label_id "
            "WHERE m.annotator = ? AND m.shared = 1 AND m.label_id IS NOT NULL AND o.label_id IS NOT NULL "
            "GROUP BY o.annotator, a.category, b.category", (annotator,))

    def labelled_by_others(self, annotator: str) -> list[int]:
        """Comments another annotator has a label in force on and ``annotator`` has not seen."""
        rows = self._rows("SELECT DISTINCT comment_id FROM latest WHERE annotator != ? AND label_id IS NOT NULL "
                          "EXCEPT SELECT comment_id FROM latest WHERE annotator = ? ORDER BY 1", (annotator, annotator))
        return [r[0] for r in rows]

    def history(self, comment_id: int) -> list[sqlite3.Row]:
        return self._rows("SELECT * FROM labels WHERE comment_id = ? ORDER BY id", (comment_id,))

    # --- disagreements and their settlements ------------------------------------------------

    def _labels_of(self, db, comment_id: int) -> dict[str, str]:
        rows = db.execute(CURRENT + " WHERE t.comment_id = ? ORDER BY l.annotator", (comment_id,)).fetchall()
        return {r["annotator"]: r["category"] for r in rows}

    def settle(self, comment_id: int, reviewer: str, category: str, note: str = "") -> dict:
        """Settle the disagreement on a comment: a new ``reviews`` row (the latest settlement wins, the
        earlier stay). Refuses an unknown category or reviewer name (StoreError naming the field), an
        unknown comment (NotFound) and a comment whose annotators do not disagree (NoDisagreement)."""
        _category(category)
        reviewer = self.reviewer(reviewer)
        with self.transaction() as db:
            self._require_comment(comment_id)
            labels = self._labels_of(db, comment_id)
            if len(set(labels.values())) < 2:
                given = ", ".join(f"{a}={c}" for a, c in labels.items())
                why = ("no annotator has labelled it" if not labels else f"only one annotator has labelled it ({given})"
                       if len(labels) == 1 else f"its annotators agree ({given})")
                raise NoDisagreement(f"comment {comment_id} has no disagreement to settle: {why}")
            at = now()
            cur = db.execute("INSERT INTO reviews(comment_id, reviewer, category, note, labels_seen, at) "
                             "VALUES (?,?,?,?,?,?)", (comment_id, reviewer, category, note or "",
                                                      json.dumps(labels, ensure_ascii=False, sort_keys=True), at))
        return {"id": cur.lastrowid, "comment_id": comment_id, "reviewer": reviewer, "category": category,
                "label": LABEL_OF[category], "note": note or "", "at": at, "labels_seen": labels}

    def reviews(self, comment_id: int) -> list[sqlite3.Row]:
        """Every settlement of a comment, oldest first (the history the latest one wins over)."""
        return self._rows("SELECT * FROM reviews WHERE comment_id = ? ORDER BY id", (comment_id,))

    def _labelled(self) -> dict[int, dict]:
        """Every labelled comment: its text, source, the annotators' current labels (by name), its latest
        settlement, and whether that settlement is in force; read in one snapshot."""
        with self.snapshot():
            labels = self.current_labels()
            latest = self._rows("SELECT r.* FROM reviews r JOIN (SELECT MAX(id) AS id FROM reviews "
                                "GROUP BY comment_id) m ON m.id = r.id")
        items: dict[int, dict] = {}
        for r in labels:
            item = items.setdefault(r["comment_id"], {"comment_id": r["comment_id"], "text": r["text"],
                                                      "source": r["source"], "labels": []})
            item["labels"].append({"annotator": r["annotator"], "category": r["category"], "label": r["label"],
                                   "note": r["note"], "at": r["at"], "id": r["id"]})
        for review in latest:
            item = items.get(review["comment_id"])
            if item is None:
                continue  # every label of it undone since: nothing to export or review
            seen = json.loads(review["labels_seen"])
            item["review"] = {"id": review["id"], "reviewer": review["reviewer"], "category": review["category"],
                              "label": LABEL_OF[review["category"]], "note": review["note"], "at": review["at"],
                              "labels_seen": seen,
                              "in_force": seen == {x["annotator"]: x["category"] for x in item["labels"]}}
        for item in items.values():
            item["disputed"] = len({x["category"] for x in item["labels"]}) > 1
        return items

    def disagreements(self, state: str = "all") -> list[dict]:
        """Comments whose current labels by two or more annotators differ in category (so also every one
        where they differ in the label, which follows from the category), by comment id.

        Each: comment_id, text, source, labels (annotator, category, label, note, at), ``settlement`` (the
        latest one, while the labels it settled are still the current ones; else None) and
        ``previous_settlement`` (the latest one when an annotator has changed a label since it was made:
        the disagreement is open again), and ``stricter`` (the category exported while it is unsettled).
        ``state``: ``unsettled``, ``settled`` or ``all``."""
        if state not in REVIEW_STATES:
            raise StoreError(f"state must be one of {', '.join(REVIEW_STATES)}, got {state!r}", "state")
        found = []
        for cid, item in sorted(self._labelled().items()):
            if not item["disputed"]:
                continue
            review = item.get("review")
            settled = review is not None and review["in_force"]
            if state == "all" or (state == "settled") == settled:
                found.append({"comment_id": cid, "text": item["text"], "source": item["source"],
                              "labels": [{k: x[k] for k in ("annotator", "category", "label", "note", "at")}
                                         for x in item["labels"]],
                              "settlement": _public(review) if settled else None,
                              "previous_settlement": _public(review) if review and not settled else None,
                              "stricter": stricter(x["category"] for x in item["labels"])})
        return found

    def export_csv(self, out: Path) -> int:
        """One row per labelled comment, LABELLING.md format, ordered by comment id.

        Annotators who agree give their category; a disagreement gives the reviewer's settled category,
        else the guide's stricter reading (``STRICTER_ORDER``). The note column keeps every annotator's
        current note and the reviewer's, none dropped. Written beside ``out`` and renamed into place
        (``fileio.replacing``), so a crash leaves no half-written export, and a ``.partial`` left by a
        killed run is overwritten."""
        items = self._labelled()
        with fileio.replacing(Path(out)) as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label", "category", "source", "domain", "note"])
            for cid in sorted(items):
                item = items[cid]
                category, note = _exported(item)
                writer.writerow([item["text"], LABEL_OF[category], category, item["source"] or "pool", "other",
                                 note])
        return len(items)

    # --- models -------------------------------------------------------------------------------

    def record_model(self, name: str, version: str, promoted: bool, report: dict) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO models(name, version, promoted, report, at) VALUES (?,?,?,?,?)",
                       (name, version, int(promoted), json.dumps(report, ensure_ascii=False), now()))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store made by an older version up to SCHEMA; every stored row stays as it was."""
    if "undoes" not in {r["name"] for r in db.execute("PRAGMA table_info(labels)")}:
        db.execute("ALTER TABLE labels ADD COLUMN undoes INTEGER REFERENCES labels(id)")
    db.execute("CREATE INDEX IF NOT EXISTS labels_by_undoes ON labels(undoes)")
    if "in_data" not in {r["name"] for r in db.execute("PRAGMA table_info(comments)")}:
        db.execute("ALTER TABLE comments ADD COLUMN in_data INTEGER NOT NULL DEFAULT 0")


def _fold_in(db: sqlite3.Connection) -> None:
    """Bring `latest` and `annotators` up to the newest `labels` row: every (comment, annotator) with a
    row past `latest_upto` is recomputed. Called in the transaction of every label write (one pair), and
    on open (a store made before these tables, or rows inserted by hand, e.g. by a benchmark)."""
    upto = db.execute("SELECT value FROM meta WHERE key = 'latest_upto'").fetchone()
    upto = int(upto[0]) if upto else 0
    newest = db.execute("SELECT COALESCE(MAX(id), 0) FROM labels").fetchone()[0]
    if newest <= upto:
        return
    db.execute("CREATE TEMP TABLE IF NOT EXISTS touched (comment_id INTEGER, annotator TEXT, "
               "PRIMARY KEY (comment_id, annotator))")
    db.execute("DELETE FROM touched")
    db.execute("INSERT OR IGNORE INTO touched SELECT comment_id, annotator FROM labels WHERE id > ?", (upto,))
    db.execute(f"INSERT OR REPLACE INTO latest(comment_id, annotator, label_id, skipped) "
               f"SELECT t.comment_id, t.annotator, ({IN_FORCE}), COALESCE(({LAST_IS_SKIP}), 0) FROM touched t")
    db.execute("DELETE FROM latest WHERE label_id IS NULL AND skipped = 0 AND (comment_id, annotator) IN "
               "(SELECT comment_id, annotator FROM touched)")
    db.execute("UPDATE latest SET shared = (SELECT COUNT(*) FROM latest z WHERE z.comment_id = latest.comment_id "
               "AND z.label_id IS NOT NULL) > 1 WHERE comment_id IN (SELECT comment_id FROM touched)")
    db.execute("INSERT OR IGNORE INTO annotators(name) SELECT DISTINCT annotator FROM touched")
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('latest_upto', ?)", (str(newest),))


def _whole_rows(reader: csv.DictReader, name: str):
    """The rows of `reader`, refusing one with more fields than the header: DictReader would put the
    surplus under the key None, and a text with an unquoted comma would lose its end."""
    for row in reader:
        if None in row:
            raise StoreError(f"{name}, line {reader.line_num}: {len(row[None])} more fields than the header "
                             "has (put a text that contains commas in double quotes)")
        yield row


def _annotator(name: str, field: str = "annotator") -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise StoreError(f"{field} name must be 1–{MAX_NAME} characters", field)
    return name


def _category(category: str) -> None:
    if category not in LABEL_OF:
        raise StoreError(f"unknown category {category!r} (one of {', '.join(config.CATEGORIES)})", "category")


def _public(review: dict) -> dict:
    return {k: review[k] for k in ("reviewer", "category", "label", "note", "at")}


def _exported(item: dict) -> tuple[str, str]:
    """The category and the note column of one labelled comment in the export."""
    labels, review = item["labels"], item.get("review")
    categories = {x["category"] for x in labels}
    parts = []
    if len(categories) == 1:
        category = labels[0]["category"]
    elif review and review["in_force"]:
        category = review["category"]
        parts.append(f"settled by reviewer={review['reviewer']}: {category}" + _note(review))
    else:
        category = stricter(categories)
        parts.append(f"disagreement not settled: the stricter reading, {category}")
    for x in labels:
        parts.append(f"annotator={x['annotator']}" + (f" ({x['category']})" if len(categories) > 1 else "")
                     + _note(x))
    if review and not review["in_force"]:
        parts.append(f"earlier settlement by reviewer={review['reviewer']}: {review['category']}, made before "
                     "a label changed" + _note(review))
    return category, " | ".join(parts)


def _note(row: dict) -> str:
    return f"; {row['note']}" if row["note"] else ""
