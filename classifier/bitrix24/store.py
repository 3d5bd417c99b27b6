"""Where the integration keeps its state: the inbox, watermarks, verdict history and the write ledger.

One module over SQLAlchemy Core, so the same SQL runs on SQLite (the default: a WAL file under
``var/``, for one machine) and on PostgreSQL (``CRMQC_DATABASE_URL=postgresql+psycopg://…``, for
several workers on several machines). SQLAlchemy Core rather than raw psycopg: one query text for
both dialects, a connection pool, and the upsert written once per dialect by its ``insert``.

Every change is one short transaction, so a crash at any point leaves either the old or the new
state. The inbox is keyed by (entity type, id): repeats of an event coalesce into one row whose
``version`` grows, and a row is deleted only if no event came while it was being processed.
"""

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

metadata = MetaData()

inbox = Table(
    "b24_inbox", metadata,
    Column("entity_type", String(16), primary_key=True),
    Column("entity_id", String(40), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("events", Integer, nullable=False, default=1),  # events merged since the row was last taken
    Column("version", Integer, nullable=False, default=1),
    Column("received_at", Float, nullable=False),
    Column("available_at", Float, nullable=False, default=0.0),  # a lease or a retry pushes it forward
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("claimed_by", String(64), nullable=False, default=""),
)

watermarks = Table(
    "b24_watermarks", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(64), nullable=False),
    Column("updated_at", Float, nullable=False),
)

history = Table(
    "b24_verdicts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # comment, touch, deal, lead, contact
    Column("key", String(80), nullable=False),
    Column("deal_id", String(40), nullable=False, default=""),
    Column("model_version", String(80), nullable=False, default=""),
    Column("decided_at", Float, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("result", Text, nullable=False),
)

latest = Table(  # the current verdict per object: what history appends to only when it changes
    "b24_latest", metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("deal_id", String(40), nullable=False, default=""),
    Column("digest", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
    Column("active_until", String(10), nullable=False, default=""),  # deals: for the sweep of due ones
    Column("author", String(40), nullable=False, default=""),  # comments: who wrote it (reuse across deals)
)

by_author = Index("b24_latest_by_author", latest.c.kind, latest.c.author)

writes = Table(  # what was written to the portal (mode on) or would have been (shadow)
    "b24_writes", metadata,
    Column("target", String(16), primary_key=True),  # fields, log, todo, notify
    Column("key", String(80), primary_key=True),
    Column("mode", String(8), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("state", String(8), nullable=False),  # pending (about to call the portal), done
    Column("portal_id", String(40), nullable=False, default=""),
    Column("deal_id", String(40), nullable=False, default=""),
    Column("payload", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
)

echoes = Table(  # events our own writes will cause: skipped once each, if they come soon enough
    "b24_echoes", metadata,
    Column("entity_type", String(16), primary_key=True),
    Column("entity_id", String(40), primary_key=True),
    Column("pending", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)
ECHO_SECONDS = 120.0  # an echo that never came (Bitrix24 drops events) must not swallow a manager's change


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message names the setting."""


@dataclass(frozen=True)
class InboxItem:
    entity_type: str
    entity_id: str
    event: str
    events: int
    version: int
    attempts: int


@dataclass(frozen=True)
class Judged:
    """One object's current verdict, as :meth:`Store.record_many` keeps it."""

    kind: str
    key: str
    result: dict
    deal_id: str = ""
    model_version: str = ""
    active_until: str = ""
    author: str = ""


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlocks


def digest_of(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class Store:
    def __init__(self, url: str):
        try:
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, pool_pre_ping=True, future=True)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise StoreError(f"CRMQC_DATABASE_URL: cannot use {_safe(url)!r}: {exc}") from None
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_pragmas(self.engine)
        elif self.dialect != "postgresql":
            raise StoreError(f"CRMQC_DATABASE_URL: {self.dialect} is not supported (SQLite or PostgreSQL)")
        try:
            metadata.create_all(self.engine)
            self._migrate()
        except OperationalError as exc:
            raise StoreError(f"CRMQC_DATABASE_URL: cannot open {_safe(url)!r}: {exc.orig}") from None

    def _migrate(self) -> None:
        """Columns added since a store was made; every stored row stays as it was."""
        columns = {c["name"] for c in inspect(self.engine).get_columns("b24_latest")}
        if "author" not in columns:
            with self.transaction() as conn:
                conn.exec_driver_sql("ALTER TABLE b24_latest ADD COLUMN author VARCHAR(40) NOT NULL DEFAULT ''")
        by_author.create(self.engine, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert(self, table: Table):
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- inbox ----------------------------------------------------------------------------------------

    def enqueue(self, items: Iterable[tuple[str, str, str]], now: float | None = None) -> int:
        """(entity type, id, event name) rows; a repeat of a queued object bumps its version."""
        rows = [{"entity_type": t, "entity_id": i, "event": e, "events": 1, "version": 1,
                 "received_at": now or time.time(), "available_at": 0.0, "attempts": 0, "last_error": "",
                 "claimed_by": ""} for t, i, e in items]
        if not rows:
            return 0
        stmt = self._insert(inbox)
        stmt = stmt.on_conflict_do_update(
            index_elements=[inbox.c.entity_type, inbox.c.entity_id],
            set_={"event": stmt.excluded.event, "events": inbox.c.events + 1, "version": inbox.c.version + 1,
                  "received_at": stmt.excluded.received_at})
        with self.transaction() as conn:
            for chunk in range(0, len(rows), 500):
                conn.execute(stmt, rows[chunk:chunk + 500])
        return len(rows)

    def claim(self, limit: int = 50, lease_seconds: float = 300.0, worker: str = "") -> list[InboxItem]:
        """Up to ``limit`` rows due now, leased to ``worker``: another worker skips them until the lease ends."""
        now = time.time()
        worker = worker or uuid.uuid4().hex[:12]
        query = (select(inbox.c.entity_type, inbox.c.entity_id, inbox.c.event, inbox.c.events, inbox.c.version,
                        inbox.c.attempts)
                 .where(inbox.c.available_at <= now).order_by(inbox.c.received_at).limit(limit)
                 .with_for_update(skip_locked=True))
        with self.transaction() as conn:
            items = [InboxItem(*row) for row in conn.execute(query)]
            for item in items:
                conn.execute(update(inbox).where(_key(item)).values(
                    available_at=now + lease_seconds, claimed_by=worker))
        return items

    def done(self, item: InboxItem) -> bool:
        """Remove the row unless an event came meanwhile; then it is due again with the newer events."""
        with self.transaction() as conn:
            gone = conn.execute(delete(inbox).where(and_(_key(item), inbox.c.version == item.version))).rowcount
            if not gone:
                conn.execute(update(inbox).where(_key(item)).values(
                    available_at=0.0, attempts=0, claimed_by="", events=inbox.c.events - item.events))
        return bool(gone)

    def failed(self, item: InboxItem, error: str, retry_in: float) -> None:
        with self.transaction() as conn:
            conn.execute(update(inbox).where(_key(item)).values(
                attempts=inbox.c.attempts + 1, last_error=error[:2000], available_at=time.time() + retry_in,
                claimed_by=""))

    def inbox_counts(self) -> dict:
        with self.transaction() as conn:
            total = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
            failing = conn.execute(select(func.count()).select_from(inbox).where(inbox.c.attempts > 0)).scalar_one()
            oldest = conn.execute(select(func.min(inbox.c.received_at))).scalar_one()
        return {"queued": total, "failing": failing, "oldest_age_seconds": round(time.time() - oldest, 1)
                if oldest else None}

    def inbox_errors(self, limit: int = 20) -> list[dict]:
        with self.transaction() as conn:
            rows = conn.execute(select(inbox.c.entity_type, inbox.c.entity_id, inbox.c.attempts, inbox.c.last_error)
                                .where(inbox.c.attempts > 0).order_by(inbox.c.attempts.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    # --- echoes of our own writes -------------------------------------------------------------------------

    def expect_echo(self, entity_type: str, entity_id: str, conn: Connection | None = None) -> None:
        expires = time.time() + ECHO_SECONDS
        stmt = self._insert(echoes).values(entity_type=entity_type, entity_id=entity_id, pending=1, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=[echoes.c.entity_type, echoes.c.entity_id],
            set_={"pending": case((echoes.c.expires_at < time.time(), 0), else_=echoes.c.pending) + 1,
                  "expires_at": expires})
        if conn is not None:
            conn.execute(stmt)
            return
        with self.transaction() as own:
            own.execute(stmt)

    def consume_echoes(self, item: InboxItem) -> bool:
        """True when every event merged into ``item`` is an echo of our own writes (and so is skipped).

        Only events count: an object queued by a sweep is always judged."""
        if not item.event.startswith("ON"):
            return False
        where = and_(echoes.c.entity_type == item.entity_type, echoes.c.entity_id == item.entity_id)
        with self.transaction() as conn:
            row = conn.execute(select(echoes.c.pending, echoes.c.expires_at).where(where)).first()
            pending = row.pending if row is not None and row.expires_at >= time.time() else 0
            if pending <= 0:
                if row is not None:
                    conn.execute(delete(echoes).where(where))
                return False
            used = min(pending, item.events)
            if pending - used > 0:
                conn.execute(update(echoes).where(where).values(pending=pending - used))
            else:
                conn.execute(delete(echoes).where(where))
        return used >= item.events

    # --- watermarks ---------------------------------------------------------------------------------------

    def watermark(self, name: str) -> str | None:
        with self.transaction() as conn:
            return conn.execute(select(watermarks.c.value).where(watermarks.c.name == name)).scalar_one_or_none()

    def set_watermark(self, name: str, value: str) -> None:
        stmt = self._insert(watermarks).values(name=name, value=value, updated_at=time.time())
        stmt = stmt.on_conflict_do_update(index_elements=[watermarks.c.name],
                                          set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
        with self.transaction() as conn:
            conn.execute(stmt)

    def watermarks(self) -> dict[str, str]:
        with self.transaction() as conn:
            return {r.name: r.value for r in conn.execute(select(watermarks.c.name, watermarks.c.value))}

    # --- verdicts ----------------------------------------------------------------------------------------

    def record(self, kind: str, key: str, result: dict, deal_id: str = "", model_version: str = "",
               active_until: str = "", author: str = "") -> bool:
        """Keep ``result`` as the current verdict on (kind, key); history grows only when it changed."""
        return bool(self.record_many([Judged(kind, key, result, deal_id, model_version, active_until, author)]))

    def record_many(self, verdicts: list["Judged"]) -> int:
        """:meth:`record` for several objects in one transaction (one deal's comments, activities and
        decision); returns how many changed."""
        now, changed = time.time(), 0
        with self.transaction() as conn:
            for v in verdicts:
                digest = digest_of(v.result)
                where = and_(latest.c.kind == v.kind, latest.c.key == v.key)
                if conn.execute(select(latest.c.digest).where(where)).scalar_one_or_none() == digest:
                    continue
                body = json.dumps(v.result, ensure_ascii=False, sort_keys=True, default=str)
                conn.execute(history.insert().values(kind=v.kind, key=v.key, deal_id=v.deal_id,
                                                     model_version=v.model_version, decided_at=now, digest=digest,
                                                     result=body))
                values = {"deal_id": v.deal_id, "digest": digest, "result": body, "decided_at": now,
                          "active_until": v.active_until, "author": v.author}
                stmt = self._insert(latest).values(kind=v.kind, key=v.key, **values)
                conn.execute(stmt.on_conflict_do_update(index_elements=[latest.c.kind, latest.c.key], set_=values))
                changed += 1
        return changed

    def current(self, kind: str, key: str) -> dict | None:
        with self.transaction() as conn:
            body = conn.execute(select(latest.c.result).where(
                and_(latest.c.kind == kind, latest.c.key == key))).scalar_one_or_none()
        return None if body is None else json.loads(body)

    def deal_of(self, kind: str, key: str) -> str | None:
        """The deal a comment or an activity was last seen on (events of a deletion carry only the ID)."""
        with self.transaction() as conn:
            return conn.execute(select(latest.c.deal_id).where(
                and_(latest.c.kind == kind, latest.c.key == key))).scalar_one_or_none() or None

    def written_by(self, author: str, other_than_deal: str, limit: int = 5000) -> list[tuple[str, str, dict]]:
        """(key, deal, result) of the comments ``author`` wrote on other deals, newest judged first."""
        with self.transaction() as conn:
            rows = conn.execute(select(latest.c.key, latest.c.deal_id, latest.c.result).where(and_(
                latest.c.kind == "comment", latest.c.author == author, latest.c.deal_id != other_than_deal))
                .order_by(latest.c.decided_at.desc()).limit(limit))
            return [(r.key, r.deal_id, json.loads(r.result)) for r in rows]

    def known_deals(self) -> set[str]:
        with self.transaction() as conn:
            return {r[0] for r in conn.execute(select(latest.c.key).where(latest.c.kind == "deal"))}

    def forget(self, kind: str, key: str) -> None:
        """An object deleted on the portal: its current verdict goes, its history stays."""
        with self.transaction() as conn:
            conn.execute(delete(latest).where(and_(latest.c.kind == kind, latest.c.key == key)))

    def deals_due(self, on_or_before: str) -> list[str]:
        """Open deals whose active-until date (ISO) is on or before the given day."""
        with self.transaction() as conn:
            rows = conn.execute(select(latest.c.key).where(and_(
                latest.c.kind == "deal", latest.c.active_until != "", latest.c.active_until <= on_or_before)))
            return [r[0] for r in rows]

    def history(self, kind: str | None = None, key: str | None = None, limit: int = 100) -> list[dict]:
        query = select(history).order_by(history.c.id.desc()).limit(limit)
        if kind:
            query = query.where(history.c.kind == kind)
        if key:
            query = query.where(history.c.key == key)
        with self.transaction() as conn:
            return [{**dict(r._mapping), "result": json.loads(r.result)} for r in conn.execute(query)]

    # --- the write ledger -------------------------------------------------------------------------------

    def written(self, target: str, key: str, mode: str) -> dict | None:
        with self.transaction() as conn:
            row = conn.execute(select(writes).where(and_(
                writes.c.target == target, writes.c.key == key, writes.c.mode == mode))).first()
        return None if row is None else dict(row._mapping)

    def begin_write(self, target: str, key: str, mode: str, digest: str, deal_id: str, payload: dict,
                    echo: tuple[str, str] | None = None) -> None:
        """Note the write before calling the portal: after a crash, a ``pending`` row says to check first."""
        values = {"target": target, "key": key, "mode": mode, "digest": digest, "state": "pending",
                  "deal_id": deal_id, "payload": json.dumps(payload, ensure_ascii=False, default=str),
                  "at": time.time(), "portal_id": ""}
        stmt = self._insert(writes).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=[writes.c.target, writes.c.key, writes.c.mode],
                                          set_={k: v for k, v in values.items() if k not in ("target", "key", "mode")})
        with self.transaction() as conn:
            conn.execute(stmt)
            if echo:
                self.expect_echo(*echo, conn=conn)

    def end_write(self, target: str, key: str, mode: str, portal_id: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(update(writes).where(and_(
                writes.c.target == target, writes.c.key == key, writes.c.mode == mode)).values(
                state="done", portal_id=portal_id, at=time.time()))

    def writes(self, target: str | None = None, mode: str | None = None, deal_id: str | None = None) -> list[dict]:
        query = select(writes).order_by(writes.c.at)
        for column, value in ((writes.c.target, target), (writes.c.mode, mode), (writes.c.deal_id, deal_id)):
            if value is not None:
                query = query.where(column == value)
        with self.transaction() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _key(item: InboxItem):
    return and_(inbox.c.entity_type == item.entity_type, inbox.c.entity_id == item.entity_id)


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.split(':')[0]}:***@{tail}"
