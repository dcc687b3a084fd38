"""An "async" SQLite dialect that runs statements inline on the event loop thread.

aiosqlite sends every statement to a worker thread and back: with SQLAlchemy's async layer
that is ~300 µs a statement, which caps a single SQLite writer at ~150 transactions a
second. SQLite on a local WAL file answers in microseconds, so we call it directly (see ADR
0006). The price: a statement blocks the event loop for as long as it runs — fine for the
short statements of a write transaction, which is what this dialect is used for.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Column, Table, pool
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value


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


# --- the intake's direct writes ------------------------------------------------------------------
#
# A new conversation writes a handful of rows nobody else can see yet. Through the ORM's unit of
# work each row costs ~0.3 ms of Python (the statements themselves take microseconds on the inline
# writer); written here with one prebuilt statement per table, the same rows cost a few dozen µs.
# Values go through the columns' own bind processors, so what lands on disk is byte for byte what
# the ORM writes; the objects then join the session as if loaded, so callers keep using them.


_CONNECTION = "helpline.inline_connection"


async def inline_connection_flushed(session: AsyncSession) -> sqlite3.Connection | None:
    """``inline_connection`` for a read that must see the session's own pending changes (what
    the ORM's autoflush gives a query)."""
    connection = await inline_connection(session)
    if connection is not None:
        sync = session.sync_session
        if sync.new or sync.deleted or sync.dirty:
            await session.flush()
    return connection


async def inline_connection(session: AsyncSession) -> sqlite3.Connection | None:
    """The inline writer's sqlite3 connection of this session's transaction (begun if need be).

    None on PostgreSQL and on aiosqlite (readers): callers then take the ORM path.
    """
    bind = session.bind
    # An AsyncConnection too: a session bound to one connection of the inline writer.
    if not isinstance(bind, AsyncEngine | AsyncConnection) or not isinstance(bind.dialect, SQLiteDialect_inline):
        return None
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cast(sqlite3.Connection, cached[1])
    connection = await session.connection()
    dbapi = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    if not isinstance(dbapi, sqlite3.Connection):
        return None
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), dbapi)
    return dbapi


@dataclass(frozen=True)
class _TablePlan:
    sql_with_pk: str
    sql_without_pk: str
    pk_key: str | None  # attribute of the integer primary key SQLite assigns, if any
    # (attribute key, default maker or None, bind processor or None) for every non-key column
    columns: tuple[tuple[str, Any, Any], ...]


_PLANS: dict[tuple[type, str], _TablePlan] = {}


def _default_of(column: Column[Any]) -> Any:
    default = column.default
    if default is None:
        return None
    if getattr(default, "is_scalar", False):
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    if getattr(default, "is_callable", False):
        make = default.arg  # type: ignore[attr-defined]  # SQLAlchemy wraps it to take a context
        return lambda: make(None)
    raise TypeError(f"{column} has a default this writer does not handle")


def _plan(cls: type, dialect: Dialect) -> _TablePlan:
    key = (cls, dialect.name)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    mapper: Mapper[Any] = sa_inspect(cls)
    table = cast(Table, mapper.local_table)
    pk = list(table.primary_key.columns)
    pk_col = pk[0] if len(pk) == 1 and pk[0].autoincrement in (True, "auto") else None
    columns = []
    names = []
    quote = dialect.identifier_preparer.quote
    for column in table.columns:
        if column.server_default is not None:
            raise TypeError(f"{column} has a server default this writer does not handle")
        if column is pk_col:
            continue
        prop = mapper.get_property_by_column(column)
        columns.append((prop.key, _default_of(column), column.type._cached_bind_processor(dialect)))
        names.append(quote(column.name))  # some column names are SQL words (email_messages.references)
    all_names = ([quote(pk_col.name)] if pk_col is not None else []) + names
    plan = _TablePlan(
        sql_with_pk=(
            f"INSERT INTO {table.name} ({', '.join(all_names)}) VALUES ({', '.join('?' for _ in all_names)})"
        ),
        sql_without_pk=f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        pk_key=mapper.get_property_by_column(pk_col).key if pk_col is not None else None,
        columns=tuple(columns),
    )
    _PLANS[key] = plan
    return plan


def insert_now(session: AsyncSession, connection: sqlite3.Connection, *objects: Any) -> None:
    """INSERT new mapped objects at once, then attach them to the session as persistent and clean.

    The objects must not reference rows still pending in the session (flush those first).
    Objects the session holds as pending are taken out of its pending set first. Python-side
    column defaults are applied to the objects, as the ORM's flush would.
    """
    sync = session.sync_session
    dialect = session.bind.dialect  # type: ignore[union-attr]
    cursor = connection.cursor()
    try:
        for obj in objects:
            plan = _plan(type(obj), dialect)
            state = sa_inspect(obj)
            if state.pending:
                sync.expunge(obj)
            values = []
            attrs = obj.__dict__  # a transient object's state: written directly, committed below
            for attr, default, process in plan.columns:
                if attr in attrs:
                    value = attrs[attr]
                else:
                    value = attrs[attr] = default() if default is not None else None
                values.append(process(value) if process is not None else value)
            pk_value = attrs.get(plan.pk_key) if plan.pk_key is not None else None
            sql = plan.sql_without_pk
            if pk_value is not None:
                sql = plan.sql_with_pk
                values.insert(0, pk_value)
            try:
                cursor.execute(sql, values)
            except sqlite3.Error as exc:
                raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
            if plan.pk_key is not None and pk_value is None:
                attrs[plan.pk_key] = cursor.lastrowid
            make_transient_to_detached(obj)
            sync.add(obj)
    finally:
        cursor.close()


def execute_now(connection: sqlite3.Connection, sql: str, params: Any) -> sqlite3.Cursor:
    """One prebuilt statement on the inline writer, with SQLAlchemy's error classes."""
    try:
        return connection.execute(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


async def write_new(session: AsyncSession, *objects: Any) -> None:
    """Write these new objects now and give them their ids: the intake's replacement for flush.

    On the inline SQLite writer the rows go straight to sqlite3 (``insert_now``); elsewhere
    (PostgreSQL) this is ``add_all`` + ``flush``. Anything else pending in the session is
    flushed first, so rows it holds exist before ours may point at them.
    """
    sync = session.sync_session
    # Inside a SAVEPOINT the ORM must know these rows are new, to forget them if it rolls back.
    connection = None if sync.in_nested_transaction() else await inline_connection(session)
    if connection is None:
        session.add_all(objects)
        await session.flush()
        return
    if sync.new and any(obj not in objects for obj in sync.new):
        await session.flush()  # writes ours too if the session held them: those are skipped below
    insert_now(session, connection, *(obj for obj in objects if not sa_inspect(obj).has_identity))


_LOADS: dict[tuple[type, str], tuple[str, tuple[tuple[str, Any], ...], str]] = {}


def _load_plan(cls: type, dialect: Dialect) -> tuple[str, tuple[tuple[str, Any], ...], str]:
    key = (cls, dialect.name)
    plan = _LOADS.get(key)
    if plan is None:
        mapper: Mapper[Any] = sa_inspect(cls)
        table = cast(Table, mapper.local_table)
        columns = tuple(
            (mapper.get_property_by_column(c).key, c.type._cached_result_processor(dialect, None))
            for c in table.columns
        )
        quote = dialect.identifier_preparer.quote
        select_list = ", ".join(f"{table.name}.{quote(c.name)}" for c in table.columns)
        plan = _LOADS[key] = (select_list, columns, table.name)
    return plan


def select_list(session: AsyncSession, cls: type) -> str:
    """``table.col, ...`` for every column of the class, in the order ``load_row`` expects."""
    return _load_plan(cls, session.bind.dialect)[0]  # type: ignore[union-attr]


def bind_value(session: AsyncSession, column: Any, value: Any) -> Any:
    """A Python value as the column stores it (enums, timestamps, JSON)."""
    process = column.type._cached_bind_processor(session.bind.dialect)  # type: ignore[union-attr]
    return process(value) if process is not None else value


def load_row(session: AsyncSession, cls: type, row: tuple[Any, ...]) -> Any:
    """The object for a row fetched with ``select_list``: the session's own if it holds it already
    (as a query would return it), else a new one, persistent and clean, without another query."""
    _select, columns, _table = _load_plan(cls, session.bind.dialect)  # type: ignore[union-attr]
    sync = session.sync_session
    mapper: Mapper[Any] = sa_inspect(cls)
    pk_index = [i for i, c in enumerate(cast(Table, mapper.local_table).columns) if c.primary_key]
    held = sync.identity_map.get(mapper.identity_key_from_primary_key(tuple(row[i] for i in pk_index)))
    if held is not None:
        expired = sa_inspect(held).expired_attributes
        for (attr, process), value in zip(columns, row, strict=True):
            if attr in expired:  # what a query would do: refresh what was expired, keep the rest
                set_committed_value(held, attr, process(value) if process is not None else value)
        return held
    obj = mapper.class_manager.new_instance()
    values = obj.__dict__
    for (attr, process), value in zip(columns, row, strict=True):
        values[attr] = process(value) if process is not None else value
    make_transient_to_detached(obj)
    sync.add(obj)
    return obj
