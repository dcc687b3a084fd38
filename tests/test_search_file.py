"""SQLite's search index in a file of its own (ADR 0012): writers queue documents, a worker copies
them in, a search sees every committed write, and a file never mixes two databases. (SQLite files
of their own, on the PostgreSQL run too: PostgreSQL indexes inside the transaction.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from helpline.accounts.service import Actor
from helpline.conversations import service as conversations
from helpline.db import Database
from helpline.migrate import upgrade
from helpline.search import index_for, search_file_path
from tests.conftest import make_tenant


async def _start(db: Database, tenant_id: int, subject: str, body: str) -> int:
    async with db.transaction() as session:
        conversation = await conversations.start_conversation(
            session=session, actor=Actor.system(tenant_id), channel="api", subject=subject,
            contact=conversations.ContactDetails(email=f"{subject.split()[0].lower()}@example.com"),
            message=conversations.NewMessage(body_text=body),
        )
        return conversation.id


async def _found(db: Database, tenant_id: int, query: str) -> list[int]:
    async with db.read() as session:
        results = await conversations.search(session=session, actor=Actor.system(tenant_id), query=query)
    return [conversation.id for conversation, _hit in results.conversations]


async def test_a_search_finds_what_was_just_written_and_the_pending_rows_are_then_forgotten(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    upgrade(url)
    db = Database(url)
    try:
        tenant_id = await make_tenant(db, "acme", "Acme")
        first = await _start(db, tenant_id, "Parcel damaged", "Der Karton war völlig zerdrückt")
        assert await _found(db, tenant_id, "zerdruckt") == [first]  # copied in by the search itself
        assert (tmp_path / "helpline.search.db").exists()
        second = await _start(db, tenant_id, "Another parcel", "Auch dieser Karton war zerdrückt")
        assert await db.index_pending_search() > 0  # as the app does every 0.25 s
        assert sorted(await _found(db, tenant_id, "karton")) == sorted([first, second])

        assert await db.forget_indexed_search() > 0
        async with db.read() as session:
            assert await session.scalar(text("SELECT count(*) FROM search_pending")) == 0
        third = await _start(db, tenant_id, "Third parcel", "Karton nass")  # ids go on after the deletes
        assert sorted(await _found(db, tenant_id, "karton")) == sorted([first, second, third])
    finally:
        await db.dispose()


async def test_a_search_file_left_from_another_database_is_emptied_not_mixed_in(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    upgrade(url)
    db = Database(url)
    try:
        tenant_id = await make_tenant(db, "acme", "Acme")
        await _start(db, tenant_id, "Refund please", "refund for order 4711")
        assert await _found(db, tenant_id, "4711")
    finally:
        await db.dispose()
    _new_database_beside_the_old_search_file(tmp_path, url)
    db = Database(url)
    try:
        tenant_id = await make_tenant(db, "acme", "Acme")  # the same tenant id as before
        assert await _found(db, tenant_id, "4711") == []
        new = await _start(db, tenant_id, "Order 4711 again", "where is 4711")
        assert await _found(db, tenant_id, "4711") == [new]
    finally:
        await db.dispose()


def _new_database_beside_the_old_search_file(tmp_path: Path, url: str) -> None:
    kept = tmp_path / "kept.search.db"
    search_file_path(tmp_path / "helpline.db").rename(kept)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'helpline.db'}{suffix}").unlink(missing_ok=True)
    upgrade(url)  # a new database under the same name, with the old search file put back
    kept.rename(search_file_path(tmp_path / "helpline.db"))


async def test_the_migration_moves_indexed_documents_into_the_search_file(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    upgrade(url, "0009")
    db = Database(url)
    try:
        tenant_id = await make_tenant(db, "acme", "Acme")
    finally:
        await db.dispose()
    with sqlite3.connect(tmp_path / "helpline.db") as old:  # a document as the 0009 schema held it
        old.execute(
            "INSERT INTO search_fts (rowid, scope, title, body, kind, ref_id, conversation_id, contact_id)"
            " VALUES (?, ?, ?, ?, 'contact', 7, NULL, 7)",
            (7 * 4 + 3, f"t{tenant_id} kcontact", "Zoltán Kovács", "zoltan@example.hu"),
        )
    upgrade(url)
    db = Database(url)
    try:
        async with db.read() as session:
            hits = await index_for(session).search(session, tenant_id, "kovacs", ("contact",), 5)
        assert [(hit.ref_id, hit.title) for hit in hits] == [(7, "Zoltán Kovács")]
    finally:
        await db.dispose()
