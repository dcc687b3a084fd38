"""An "async" SQLite dialect that runs statements inline on the event loop thread.

aiosqlite sends every statement to a worker thread and back: with SQLAlchemy's async layer
that is ~300 µs a statement, which caps a single SQLite writer at ~150 transactions a
second. SQLite on a local WAL file answers in microseconds, so we call it directly (see ADR
0006). The price: a statement blocks the event loop for as long as it runs — fine for the
short statements of a write transaction, which is what this dialect is used for.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL


class InlineCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:  # what SQLAlchemy's async result awaits
        return None


class InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InlineCursor) -> Any:
        return super().cursor(factory)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):  # SQLAlchemy names dialects this way
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        kwargs["factory"] = InlineConnection
        kwargs["check_same_thread"] = False  # pooled connections may be used by any loop thread in tests
        return args, kwargs


registry.register("sqlite.inline", __name__, "SQLiteDialect_inline")
