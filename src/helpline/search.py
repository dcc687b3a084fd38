"""Full-text search behind one ``SearchIndex`` interface.

SQLite: an FTS5 table with ``unicode61 remove_diacritics 2``. PostgreSQL: a ``tsvector``
column with a GIN index over text folded the same way in Python, so ``koszonom`` finds
``Köszönöm`` on both without a database extension. Documents are written in the same
transaction as the change they describe. User input never reaches the query language: it
is cut into word tokens, each quoted and prefix-matched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Protocol

from sqlalchemy import text
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


# Created by the migration, not by the ORM: the two databases need different tables.
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
    "scope, title, body, kind UNINDEXED, ref_id UNINDEXED, conversation_id UNINDEXED,"
    " contact_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')",
)
POSTGRES_DDL = (
    "CREATE TABLE IF NOT EXISTS search_documents (doc_id BIGINT PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " kind VARCHAR(16) NOT NULL, ref_id INTEGER NOT NULL, conversation_id INTEGER, contact_id INTEGER,"
    " title TEXT NOT NULL, body TEXT NOT NULL, tsv TSVECTOR NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_search_documents_tsv ON search_documents USING gin (tsv)",
    "CREATE INDEX IF NOT EXISTS ix_search_documents_tenant ON search_documents (tenant_id, doc_id)",
)
SEARCH_TABLES = ("search_fts", "search_documents")


_FTS_DELETE = text("DELETE FROM search_fts WHERE rowid = :rowid")


_FTS_INSERT_SQL = (
    "INSERT INTO search_fts (rowid, scope, title, body, kind, ref_id, conversation_id, contact_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_FTS_DELETE_SQL = "DELETE FROM search_fts WHERE rowid = ?"


def _fts_row(doc: SearchDocument) -> tuple[object, ...]:
    return (doc.doc_id, f"t{doc.tenant_id} k{doc.kind}", doc.title, doc.body, doc.kind, doc.ref_id,
            doc.conversation_id, doc.contact_id)


class Fts5Index:
    async def upsert(self, session: AsyncSession, doc: SearchDocument, *, fresh: bool = False) -> None:
        """Index a document; ``fresh`` says it is new, so there is nothing to replace."""
        # On the inline writer, straight to sqlite3: through SQLAlchemy each of these costs
        # ~0.1 ms of Python for a few µs of SQLite, and intake writes two or three per request.
        connection = await inline_connection(session)
        if connection is not None:
            if not fresh:
                execute_now(connection, _FTS_DELETE_SQL, (doc.doc_id,))
            execute_now(connection, _FTS_INSERT_SQL, _fts_row(doc))
            return
        if not fresh:
            await session.execute(_FTS_DELETE, {"rowid": doc.doc_id})
        await session.execute(
            text(
                "INSERT INTO search_fts"
                " (rowid, scope, title, body, kind, ref_id, conversation_id, contact_id) VALUES"
                " (:rowid, :scope, :title, :body, :kind, :ref_id, :conversation_id, :contact_id)"
            ),
            {
                "rowid": doc.doc_id,
                "scope": f"t{doc.tenant_id} k{doc.kind}",
                "title": doc.title,
                "body": doc.body,
                "kind": doc.kind,
                "ref_id": doc.ref_id,
                "conversation_id": doc.conversation_id,
                "contact_id": doc.contact_id,
            },
        )

    async def delete(self, session: AsyncSession, kind: str, ref_id: int) -> None:
        await session.execute(
            text("DELETE FROM search_fts WHERE rowid = :rowid"), {"rowid": ref_id * 4 + KIND_CODES[kind]}
        )

    async def search(
        self, session: AsyncSession, tenant_id: int, query: str, kinds: tuple[str, ...], limit: int
    ) -> list[SearchHit]:
        tokens = query_tokens(query)
        if not tokens:
            return []
        kind_clause = " OR ".join(f'"k{k}"' for k in kinds if k in KIND_CODES) or '"kconversation"'
        words = " AND ".join(f'"{t}"' + ("*" if _as_prefix(i, tokens) else "") for i, t in enumerate(tokens))
        match = f'scope : ("t{tenant_id}" AND ({kind_clause})) AND {{title body}} : ({words})'
        result = await session.execute(
            text(
                "SELECT kind, ref_id, conversation_id, contact_id, title, body FROM search_fts"
                " WHERE search_fts MATCH :match ORDER BY rowid DESC LIMIT :limit"
            ),
            {"match": match, "limit": limit},
        )
        return _hits([tuple(r) for r in result.all()], tokens)


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
