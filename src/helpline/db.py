"""Engine, sessions and the unit of work.

Every write goes through ``Database.transaction()``: it commits, then publishes the
events the services queued with ``events.on_commit`` — so nobody ever hears of a change
that did not happen. On SQLite, write transactions are serialised in-process and begin
IMMEDIATE, which avoids lock-upgrade deadlocks and busy-waiting between our own writers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from helpline import search

if TYPE_CHECKING:
    from helpline.events import EventBus

PENDING_EVENTS = "helpline.pending_events"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def async_url(url: str) -> str:
    """Accept plain URLs in HELPLINE_DATABASE_URL and pick our async drivers."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def sync_url(url: str) -> str:
    url = async_url(url)
    return url.replace("sqlite+aiosqlite:", "sqlite:", 1)


# 4,096 pages of 4 KB: 16 MB of WAL, one block of SQLite's WAL index (see Database.checkpoint_wal).
WAL_RESTART_FRAMES = 4096
# What a WAL file that grew in a burst is cut back to once it starts over.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# The writer's page cache: one connection (LIFO pool) keeps the hot index pages between
# transactions; SQLite's default 2 MB kept re-reading them once the database outgrew it.
PAGE_CACHE_KIB = 32768
BUSY_TIMEOUT_MS = 10000


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    if immediate:
        import helpline.sqlite_inline  # noqa: F401 - registers the dialect

        # Writes run inline on the event loop (ADR 0006); reads keep aiosqlite's thread.
        url = url.replace("sqlite+aiosqlite:", "sqlite+inline:", 1)
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=60, pool_use_lifo=immediate
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        if immediate:
            cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        if immediate:
            # The writer runs on the event loop: it must never copy the WAL back into the
            # database itself. Checkpoints run on a reader thread instead (checkpoint_wal).
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if immediate:
            # The inline writer's sqlite3 connection, directly: exec_driver_sql costs ~40 µs of
            # Python for a statement SQLite answers in one, on every write transaction.
            try:
                conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # e.g. busy: surfaces as SQLAlchemy's error, as before
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


class Database:
    def __init__(self, url: str, bus: EventBus | None = None) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.bus = bus
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            self.writer = _sqlite_engine(self.url, immediate=True, pool_size=2)
            self.reader = _sqlite_engine(self.url, immediate=False, pool_size=8)
        else:
            self.writer = create_async_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.reader = self.writer
        self._writes = async_sessionmaker(self.writer, expire_on_commit=False, autoflush=True)
        self._reads = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; the events services queued are published after it commits."""
        lock: Any = self._write_lock if self.is_sqlite else nullcontext()
        async with lock:
            async with self._writes() as session:
                async with session.begin():
                    yield session
                pending = session.info.pop(PENDING_EVENTS, [])
        if pending and self.bus is not None:
            for item in pending:
                await self.bus.publish(item)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (no lock, no events)."""
        async with self._reads() as session:
            yield session

    async def refresh_statistics(self) -> None:
        """Give SQLite's planner table statistics (PostgreSQL's autovacuum keeps its own).

        Without them SQLite walks the activity index for "my conversations" instead of the
        assignee index: 30-80 ms instead of well under 1 ms at 100,000 conversations. A bounded
        ANALYZE samples each index, so it stays fast on big databases.
        """
        if not self.is_sqlite:
            return
        async with self.transaction() as session:
            await session.execute(text("PRAGMA analysis_limit=1000"))
            await session.execute(text("ANALYZE"))

    async def checkpoint_wal(self) -> int:
        """Fold the WAL back into the database, off the event loop (aiosqlite's thread); the frames
        the WAL held before (0 on PostgreSQL).

        A PASSIVE checkpoint copies frames but never makes the writer start the WAL over: under a
        steady stream of writes some frame is always newer than the last checkpoint, so the WAL
        grew without end (900 MB in 40 s of API intake; every page read searches the WAL index
        first, and the disk fills). So once the
        WAL holds ``WAL_RESTART_FRAMES``, a RESTART checkpoint runs while this process's writers
        wait on the write lock (only the few frames since the PASSIVE one are left to copy), and
        the next write starts the WAL from its beginning.
        """
        if not self.is_sqlite:
            return 0
        async with self.reader.connect() as conn:
            result = await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            values = tuple(result.first() or ())  # (busy, frames in the WAL, frames copied back)
            frames = int(values[1]) if len(values) > 1 and values[1] is not None else 0
            if frames >= WAL_RESTART_FRAMES:
                async with self._write_lock:
                    # A long read (a report) keeps the WAL in use: give up after a moment rather
                    # than hold every writer; the next tick tries again.
                    await conn.exec_driver_sql("PRAGMA busy_timeout=100")
                    try:
                        await conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
                    finally:
                        await conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return max(frames, 0)

    @property
    def path(self) -> str:
        """The SQLite database file ("" on PostgreSQL)."""
        return (make_url(self.url).database or "") if self.is_sqlite else ""

    async def index_pending_search(self) -> int:
        """SQLite: copy what writers queued for search into the search file (ADR 0012)."""
        if not self.is_sqlite:
            return 0
        return await search.catch_up(self.path)

    async def forget_indexed_search(self) -> int:
        """SQLite: delete the pending search rows the search file already holds."""
        if not self.is_sqlite:
            return 0
        async with self.transaction() as session:
            return await search.forget_applied(session, self.path)

    async def dispose(self) -> None:
        if self.is_sqlite:
            search.close_search_file(self.path)
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
