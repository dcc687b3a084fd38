"""Full-text search behind one ``SearchIndex`` interface.

SQLite: an FTS5 table with ``unicode61 remove_diacritics 2`` in a file of its own, filled from
``search_pending`` rows off the event loop (``SearchFile``, ADR 0012). PostgreSQL: a ``tsvector``
column with a GIN index over text folded the same way in Python, so ``koszonom`` finds
``Köszönöm`` on both without a database extension. Documents (or, on SQLite, the pending rows
that carry them) are written in the same transaction as the change they describe, and a search
sees every committed write. User input never reaches the query language: it is cut into word
tokens, each quoted and prefix-matched.
"""

from __future__ import annotations

import asyncio
import queue
import re
import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.sqlite_inline import execute_now, inline_connection

KIND_CODES = {"conversation": 1, "message": 2, "contact": 3}
MAX_TOKENS = 8
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class SearchDocument:
    tenant_id: int
    kind: str  # conversation | message | contact
    ref_id: int
    title: str
    body: str
    conversation_id: int | None = None
    contact_id: int | None = None

    @property
    def doc_id(self) -> int:
        return self.ref_id * 4 + KIND_CODES[self.kind]


@dataclass(frozen=True)
class SearchHit:
    kind: str
    ref_id: int
    conversation_id: int | None
    contact_id: int | None
    title: str
    body: str
    tokens: tuple[str, ...] = ()

    @cached_property
    def _snippet(self) -> tuple[str, tuple[tuple[int, int], ...]]:
        # Made only for the hits that are shown: folding long bodies is the costly part.
        return make_snippet(self.body or self.title, list(self.tokens))

    @property
    def snippet(self) -> str:
        return self._snippet[0]

    @property
    def marks(self) -> tuple[tuple[int, int], ...]:
        """(start, end) offsets into snippet of the matched words, for highlighting."""
        return self._snippet[1]


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base[:1].lower() if base else ch.lower()


def fold(value: str) -> str:
    """Lower-case and strip diacritics character by character (the length is kept)."""
    if value.isascii():
        return value.lower()
    return "".join(_fold_char(ch) for ch in value)


def query_tokens(query: str) -> list[str]:
    """The words of a user's query, folded; operators, quotes and SQL are just punctuation."""
    return re.findall(r"\w+", fold(query))[:MAX_TOKENS]


def _as_prefix(index: int, tokens: list[str]) -> bool:
    """Only the last word is matched as a prefix (it may still be being typed), and only from two
    letters: prefix matches read every indexed word they cover, which is slow on a big index."""
    return index == len(tokens) - 1 and len(tokens[index]) >= 2


def make_snippet(body: str, tokens: list[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    folded = fold(body)
    first = min((i for i in (folded.find(t) for t in tokens) if i >= 0), default=0)
    start = max(0, first - 40)
    end = min(len(body), start + SNIPPET_CHARS)
    snippet = body[start:end]
    folded_snippet = folded[start:end]
    marks: list[tuple[int, int]] = []
    for token in tokens:
        for match in re.finditer(r"\b" + re.escape(token) + r"\w*", folded_snippet):
            marks.append((match.start(), match.end()))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(body) else ""
    shift = len(prefix)
    return prefix + snippet + suffix, tuple(sorted((a + shift, b + shift) for a, b in marks))


class SearchIndex(Protocol):
    async def upsert(self, session: AsyncSession, doc: SearchDocument, *, fresh: bool = False) -> None: ...
    async def delete(self, session: AsyncSession, kind: str, ref_id: int) -> None: ...
    async def search(
        self, session: AsyncSession, tenant_id: int, query: str, kinds: tuple[str, ...], limit: int
    ) -> list[SearchHit]: ...


def _hits(
    rows: list[tuple[str, int, int | None, int | None, str, str]], tokens: list[str]
) -> list[SearchHit]:
    return [SearchHit(kind, ref_id, conversation_id, contact_id, title, body, tuple(tokens))
            for kind, ref_id, conversation_id, contact_id, title, body in rows]


# Created by the migrations, not by the ORM (autogenerate leaves them alone): the two databases
# need different tables.
SEARCH_TABLES = ("search_fts", "search_documents", "search_pending", "search_index")


# --- SQLite: FTS5 in a file of its own, filled off the event loop (ADR 0012) -------------------

# The search file sits next to the database: var/helpline.db -> var/helpline.search.db.
SEARCH_FILE_SUFFIX = ".search.db"
APPLY_BATCH = 2000  # pending documents copied into the index per transaction
MAX_IDLE_READERS = 4

# Contacts have an index of their own: a prefix query merges the doclists of every word it covers,
# and in one shared index a contact search for "refund*" merged those of a million messages.
CONTACT_TABLE, DOCUMENT_TABLE = "contact_fts", "search_fts"
_FTS_DDL = tuple(
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5("
    "scope, title, body, kind UNINDEXED, ref_id UNINDEXED, conversation_id UNINDEXED,"
    " contact_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
    for table in (DOCUMENT_TABLE, CONTACT_TABLE)
)
# Which database the file indexes (its search_index token) and the last pending row copied in.
_MARK_DDL = "CREATE TABLE IF NOT EXISTS search_mark (token TEXT NOT NULL, applied INTEGER NOT NULL)"
_PENDING_INSERT_SQL = (
    "INSERT INTO search_pending (doc_id, op, scope, title, body, kind, ref_id, conversation_id, contact_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PENDING_INSERT = text(
    "INSERT INTO search_pending (doc_id, op, scope, title, body, kind, ref_id, conversation_id, contact_id)"
    " VALUES (:doc_id, :op, :scope, :title, :body, :kind, :ref_id, :conversation_id, :contact_id)"
)
_PENDING_SELECT = (
    "SELECT id, doc_id, op, scope, title, body, kind, ref_id, conversation_id, contact_id FROM search_pending"
    " WHERE id > ? ORDER BY id LIMIT ?"
)
_FTS_INSERT_SQL = (
    "INSERT INTO {table} (rowid, scope, title, body, kind, ref_id, conversation_id, contact_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_FTS_DELETE_SQL = "DELETE FROM {table} WHERE rowid = ?"
_FTS_SEARCH_SQL = (
    "SELECT rowid, kind, ref_id, conversation_id, contact_id, title, body FROM {table}"
    " WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT ?"
)


def fts_table(kind: str) -> str:
    return CONTACT_TABLE if kind == "contact" else DOCUMENT_TABLE
# What a pending row asks for: n = a new document, u = replace it, d = delete it.
NEW, REPLACE, DELETE = "n", "u", "d"


def search_file_path(database_path: str | Path) -> Path:
    path = Path(database_path)
    return path.with_name(path.stem + SEARCH_FILE_SUFFIX)


class SearchFile:
    """The FTS5 index of one SQLite database, kept in a file of its own.

    Writers only add ``search_pending`` rows in their own transaction (a plain insert). This copies
    them into the index in batches, on a worker thread with its own connections: FTS5's segment
    merges (up to 0.4 s once the index outgrew the page cache) stop the event loop no more, and
    being another file, they take no lock the writers need. Every search first copies in what is
    pending, so a search sees every committed write.
    """

    def __init__(self, database_path: str) -> None:
        self.database_path = database_path
        self.path = search_file_path(database_path)
        self._lock = threading.Lock()
        self._source: sqlite3.Connection | None = None  # the database: reads search_pending
        self._index: sqlite3.Connection | None = None  # the search file: the only writer
        self._copied_up_to = -1  # the newest pending row known to be in the index (a hint)
        # Searches reuse their connections: a new one starts with a cold page cache.
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    def _connections(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        if self._source is None or self._index is None:
            source = sqlite3.connect(self.database_path, isolation_level=None, check_same_thread=False)
            source.execute("PRAGMA busy_timeout=10000")
            index = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "cache_size=-65536"):
                index.execute(f"PRAGMA {pragma}")
            for statement in _FTS_DDL:
                index.execute(statement)
            index.execute(_MARK_DDL)
            self._source, self._index = source, index
        return self._source, self._index

    @staticmethod
    def _mark(source: sqlite3.Connection, index: sqlite3.Connection) -> tuple[str, int | None]:
        """This database's token, and the last pending row the index holds of it (None: the file
        is new, or was made for another database)."""
        row = source.execute("SELECT token FROM search_index").fetchone()
        token = row[0] if row else ""
        mark = index.execute("SELECT token, applied FROM search_mark").fetchone()
        return token, (int(mark[1]) if mark is not None and mark[0] == token else None)

    @classmethod
    def _applied(cls, source: sqlite3.Connection, index: sqlite3.Connection) -> int:
        """The last pending row in the index; a file made for another database starts over.
        Inside the index's write transaction, so another process's copier cannot interleave."""
        token, applied = cls._mark(source, index)
        if applied is not None:
            return applied
        for table in (DOCUMENT_TABLE, CONTACT_TABLE):
            index.execute(f"DELETE FROM {table}")
        index.execute("DELETE FROM search_mark")
        index.execute("INSERT INTO search_mark (token, applied) VALUES (?, 0)", (token,))
        return 0

    def apply_pending(self) -> int:
        """Copy what is pending into the index (worker thread); how many rows were copied."""
        copied = 0
        with self._lock:
            source, index = self._connections()
            newest = source.execute("SELECT max(id) FROM search_pending").fetchone()[0] or 0
            if newest <= self._copied_up_to:
                return 0  # the common case of a search: nothing new since the last copy
            while True:
                index.execute("BEGIN IMMEDIATE")
                try:
                    applied = self._applied(source, index)
                    rows = source.execute(_PENDING_SELECT, (applied, APPLY_BATCH)).fetchall()
                    # In rising rowid order (stable: one document's own steps keep theirs): FTS5
                    # flushes its pending terms into a new segment whenever a rowid goes backwards.
                    for _id, doc_id, op, scope, title, body, kind, ref_id, conversation_id, contact_id in sorted(
                        rows, key=lambda row: row[1]
                    ):
                        table = fts_table(kind)
                        if op != NEW:
                            index.execute(_FTS_DELETE_SQL.format(table=table), (doc_id,))
                        if op != DELETE:
                            index.execute(
                                _FTS_INSERT_SQL.format(table=table),
                                (doc_id, scope, title, body, kind, ref_id, conversation_id, contact_id),
                            )
                    if rows:
                        index.execute("UPDATE search_mark SET applied = ?", (rows[-1][0],))
                    index.execute("COMMIT")
                except BaseException:
                    index.execute("ROLLBACK")
                    raise
                copied += len(rows)
                if len(rows) < APPLY_BATCH:
                    self._copied_up_to = rows[-1][0] if rows else applied
                    return copied

    def applied_mark(self) -> int:
        with self._lock:
            _token, applied = self._mark(*self._connections())
            return applied or 0  # another database's mark says nothing of ours is copied yet

    def query(
        self, table: str, match: str, limit: int
    ) -> list[tuple[int, str, int, int | None, int | None, str, str]]:
        """Run a MATCH on a connection of its own (worker thread), beside the applier; rowid first."""
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            connection = sqlite3.connect(self.path, check_same_thread=False)
        try:
            rows = [tuple(row) for row in connection.execute(_FTS_SEARCH_SQL.format(table=table), (match, limit))]
        except BaseException:
            connection.close()
            raise
        if self._readers.qsize() < MAX_IDLE_READERS:
            self._readers.put(connection)
        else:
            connection.close()
        return rows

    def close(self) -> None:
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break
        with self._lock:
            for connection in (self._source, self._index):
                if connection is not None:
                    connection.close()
            self._source = self._index = None


_files: dict[str, SearchFile] = {}
_files_lock = threading.Lock()


def sqlite_search_file(database_path: str) -> SearchFile:
    """The one ``SearchFile`` of this process for a database file."""
    with _files_lock:
        found = _files.get(database_path)
        if found is None:
            found = _files[database_path] = SearchFile(database_path)
        return found


def close_search_file(database_path: str) -> None:
    with _files_lock:
        found = _files.pop(database_path, None)
    if found is not None:
        found.close()


def _database_path(session: AsyncSession) -> str:
    bind = session.get_bind()
    database = (bind.engine if isinstance(bind, Connection) else bind).url.database
    if not database:
        raise RuntimeError("full-text search on SQLite needs a database file")
    return database


async def catch_up(database_path: str) -> int:
    """Copy every committed pending document into the search file (off the event loop)."""
    return await asyncio.to_thread(sqlite_search_file(database_path).apply_pending)


async def forget_applied(session: AsyncSession, database_path: str) -> int:
    """Delete the pending rows the index already holds (in the caller's write transaction)."""
    applied = await asyncio.to_thread(sqlite_search_file(database_path).applied_mark)
    result = await session.execute(text("DELETE FROM search_pending WHERE id <= :applied"), {"applied": applied})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _pending_row(doc: SearchDocument, op: str) -> tuple[object, ...]:
    return (doc.doc_id, op, f"t{doc.tenant_id} k{doc.kind}", doc.title, doc.body, doc.kind, doc.ref_id,
            doc.conversation_id, doc.contact_id)


class Fts5Index:
    async def upsert(self, session: AsyncSession, doc: SearchDocument, *, fresh: bool = False) -> None:
        """Index a document; ``fresh`` says it is new, so there is nothing to replace."""
        await self._pend(session, _pending_row(doc, NEW if fresh else REPLACE))

    async def delete(self, session: AsyncSession, kind: str, ref_id: int) -> None:
        await self._pend(session, (ref_id * 4 + KIND_CODES[kind], DELETE, "", "", "", kind, ref_id, None, None))

    @staticmethod
    async def _pend(session: AsyncSession, row: tuple[object, ...]) -> None:
        # On the inline writer, straight to sqlite3: through SQLAlchemy each of these costs
        # ~0.1 ms of Python for a few µs of SQLite, and intake writes two or three per request.
        connection = await inline_connection(session)
        if connection is not None:
            execute_now(connection, _PENDING_INSERT_SQL, row)
            return
        keys = ("doc_id", "op", "scope", "title", "body", "kind", "ref_id", "conversation_id", "contact_id")
        await session.execute(_PENDING_INSERT, dict(zip(keys, row, strict=True)))

    async def search(
        self, session: AsyncSession, tenant_id: int, query: str, kinds: tuple[str, ...], limit: int
    ) -> list[SearchHit]:
        tokens = query_tokens(query)
        if not tokens:
            return []
        kind_clause = " OR ".join(f'"k{k}"' for k in kinds if k in KIND_CODES) or '"kconversation"'
        words = " AND ".join(f'"{t}"' + ("*" if _as_prefix(i, tokens) else "") for i, t in enumerate(tokens))
        match = f'scope : ("t{tenant_id}" AND ({kind_clause})) AND {{title body}} : ({words})'
        database_path = _database_path(session)
        await catch_up(database_path)
        index = sqlite_search_file(database_path)
        rows = []
        for table in sorted({fts_table(kind) for kind in kinds if kind in KIND_CODES} or {DOCUMENT_TABLE}):
            rows += await asyncio.to_thread(index.query, table, match, limit)
        rows.sort(key=lambda row: row[0], reverse=True)  # newest first across both indexes
        return _hits([row[1:] for row in rows[:limit]], tokens)


class PostgresIndex:
    async def upsert(self, session: AsyncSession, doc: SearchDocument, *, fresh: bool = False) -> None:
        await session.execute(
            text(
                "INSERT INTO search_documents"
                " (doc_id, tenant_id, kind, ref_id, conversation_id, contact_id, title, body, tsv)"
                " VALUES (:doc_id, :tenant_id, :kind, :ref_id, :conversation_id, :contact_id, :title, :body,"
                "  setweight(to_tsvector('simple', :ftitle), 'A') || to_tsvector('simple', :fbody))"
                " ON CONFLICT (doc_id) DO UPDATE SET title = excluded.title, body = excluded.body,"
                "  conversation_id = excluded.conversation_id, contact_id = excluded.contact_id,"
                "  tsv = excluded.tsv"
            ),
            {
                "doc_id": doc.doc_id,
                "tenant_id": doc.tenant_id,
                "kind": doc.kind,
                "ref_id": doc.ref_id,
                "conversation_id": doc.conversation_id,
                "contact_id": doc.contact_id,
                "title": doc.title,
                "body": doc.body,
                "ftitle": fold(doc.title),
                "fbody": fold(doc.body),
            },
        )

    async def delete(self, session: AsyncSession, kind: str, ref_id: int) -> None:
        await session.execute(
            text("DELETE FROM search_documents WHERE doc_id = :doc_id"),
            {"doc_id": ref_id * 4 + KIND_CODES[kind]},
        )

    async def search(
        self, session: AsyncSession, tenant_id: int, query: str, kinds: tuple[str, ...], limit: int
    ) -> list[SearchHit]:
        tokens = query_tokens(query)
        if not tokens:
            return []
        # Tokens are \w+ only, so they are safe inside to_tsquery's syntax.
        tsquery = " & ".join(t + (":*" if _as_prefix(i, tokens) else "") for i, t in enumerate(tokens))
        result = await session.execute(
            text(
                "SELECT kind, ref_id, conversation_id, contact_id, title, body FROM search_documents"
                " WHERE tenant_id = :tenant_id AND kind = ANY(:kinds)"
                " AND tsv @@ to_tsquery('simple', :q) ORDER BY doc_id DESC LIMIT :limit"
            ),
            {"tenant_id": tenant_id, "kinds": list(kinds), "q": tsquery, "limit": limit},
        )
        return _hits([tuple(r) for r in result.all()], tokens)


_FTS5 = Fts5Index()
_POSTGRES = PostgresIndex()


def index_for(session: AsyncSession) -> SearchIndex:
    """The index that fits the session's database."""
    dialect = session.get_bind().dialect.name
    return _FTS5 if dialect == "sqlite" else _POSTGRES
