"""search index in a file of its own (SQLite)

On SQLite the FTS5 index moves out of the database into ``<name>.search.db`` (ADR 0012): writers
add ``search_pending`` rows in their transaction, and a worker thread copies them into the index.
The documents indexed so far become pending rows, so the new file is filled from them on the
first search or within a second of serving. ``search_index`` holds the token that ties a search
file to this database. PostgreSQL keeps ``search_documents`` as it is.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 22:40:00
"""

import secrets
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "scope, title, body, kind, ref_id, conversation_id, contact_id"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # AUTOINCREMENT: ids are never reused after the applied rows are deleted (the index's mark).
    op.execute(
        "CREATE TABLE search_pending (id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id INTEGER NOT NULL,"
        " op TEXT NOT NULL, scope TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, kind TEXT NOT NULL,"
        " ref_id INTEGER NOT NULL, conversation_id INTEGER, contact_id INTEGER)"
    )
    op.execute("CREATE TABLE search_index (token TEXT NOT NULL)")
    op.execute(f"INSERT INTO search_index (token) VALUES ('{secrets.token_hex(16)}')")
    op.execute(
        f"INSERT INTO search_pending (doc_id, op, {COLUMNS}) SELECT rowid, 'n', {COLUMNS} FROM search_fts ORDER BY rowid"
    )
    op.execute("DROP TABLE search_fts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(scope, title, body, kind UNINDEXED, ref_id UNINDEXED,"
        " conversation_id UNINDEXED, contact_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
    )
    # The search file holds the index; what is still pending is all this database has of it.
    op.execute(
        f"INSERT INTO search_fts (rowid, {COLUMNS}) SELECT doc_id, {COLUMNS} FROM search_pending"
        " WHERE op != 'd' ORDER BY id"
    )
    op.execute("DROP TABLE search_index")
    op.execute("DROP TABLE search_pending")
