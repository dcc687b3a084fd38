"""The intake's direct SQLite writes (helpline.sqlite_inline.write_new / load_row) store exactly
what the ORM would, hand back usable objects, and keep the ORM's guarantees: unique identities per
tenant, a query sees the transaction's own pending rows, constraint errors as SQLAlchemy errors."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpline.accounts import service as accounts
from helpline.contacts import service as contacts
from helpline.contacts.models import Contact, ContactIdentity, IdentityKind
from helpline.conversations import service
from helpline.conversations.models import Conversation, Direction, Message, Priority, Status, TimelineEvent
from helpline.db import Database
from helpline.routing.configuration import ensure_default_queue
from helpline.routing.models import WorkItem
from helpline.search import SearchDocument, index_for


def _columns(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns}


async def test_new_conversation_rows_read_back_as_written(db: Database, tenant_id: int, admin: Any) -> None:
    async with db.transaction() as session:
        await ensure_default_queue(session, tenant_id)
    async with db.transaction() as session:
        conversation = await service.start_conversation(
            session=session,
            actor=admin.actor,
            contact=service.ContactDetails(email="Zoë.Kovács@Example.COM", name="Zoë Kovács"),
            channel="api",
            subject="Köszönöm — Rückerstattung",
            message=service.NewMessage(body_text="Grüße, a csomag sérült.", external_id="ext-1"),
            tags=["refund"],
        )
        written = {
            "conversation": _columns(conversation),
            "messages": [_columns(m) for m in service.messages_in_session(session, conversation.id)],
        }
    assert conversation.id and conversation.number and conversation.status == Status.new
    assert conversation.priority == Priority.normal and conversation.tags == ["refund"]
    async with db.read() as session:
        stored = await session.get(Conversation, conversation.id)
        assert stored is not None and _columns(stored) == written["conversation"]
        messages = list(await session.scalars(select(Message).where(Message.conversation_id == conversation.id)))
        assert [_columns(m) for m in messages] == written["messages"]
        assert messages[0].direction == Direction.inbound and messages[0].external_id == "ext-1"
        contact = await session.get(Contact, conversation.contact_id)
        assert contact is not None and contact.name == "Zoë Kovács" and contact.custom_fields == {}
        identity = await session.scalar(select(ContactIdentity).where(ContactIdentity.contact_id == contact.id))
        assert identity is not None and identity.kind == IdentityKind.email
        assert identity.value.lower() == "zoë.kovács@example.com"
        timeline = list(
            await session.scalars(select(TimelineEvent).where(TimelineEvent.conversation_id == conversation.id))
        )
        assert [t.kind for t in timeline][:1] == ["created"] and timeline[0].details == {"channel": "api"}
        item = await session.scalar(select(WorkItem).where(WorkItem.conversation_id == conversation.id))
        assert item is not None and item.status == "queued" and item.declined_by == []
        found = await index_for(session).search(session, tenant_id, "koszonom ruckerstattung", ("conversation",), 5)
        assert [h.conversation_id for h in found] == [conversation.id]
        found = await index_for(session).search(session, tenant_id, "csomag", ("message",), 5)
        assert [h.ref_id for h in found] == [messages[0].id]
        found = await index_for(session).search(session, tenant_id, "kovacs", ("contact",), 5)
        assert [h.ref_id for h in found] == [contact.id]


async def test_returning_customer_and_idempotent_external_id(db: Database, tenant_id: int, admin: Any) -> None:
    details = service.ContactDetails(email="anna@example.com", name="Anna")
    async with db.transaction() as session:
        first = await service.start_conversation(
            session=session, actor=admin.actor, contact=details, channel="api", subject="one",
            message=service.NewMessage(body_text="hello", external_id="m-1"),
        )
    async with db.transaction() as session:
        second = await service.start_conversation(
            session=session, actor=admin.actor, contact=details, channel="api", subject="two",
            message=service.NewMessage(body_text="again", external_id="m-2"),
        )
        # The contact came from the direct read: a real, usable object of this session.
        contact = await contacts.get_contact(session=session, actor=admin.actor, contact_id=second.contact_id)
        assert contact.name == "Anna" and contact.created_at.tzinfo is not None
    assert second.contact_id == first.contact_id
    with pytest.raises(Exception) as refused:
        async with db.transaction() as session:
            await service.start_conversation(
                session=session, actor=admin.actor, contact=details, channel="api", subject="three",
                message=service.NewMessage(body_text="dup", external_id="m-1"),
            )
    assert getattr(refused.value, "field", "") == "message.external_id"
    async with db.read() as session:
        count = len(list(await session.scalars(select(Conversation.id).where(Conversation.tenant_id == tenant_id))))
    assert count == 2


async def test_lookup_sees_the_transactions_own_pending_identity(db: Database, tenant_id: int, admin: Any) -> None:
    async with db.transaction() as session:
        contact = await contacts.create_contact(session=session, actor=admin.actor, name="Pending Pete")
        session.add(ContactIdentity(tenant_id=tenant_id, contact_id=contact.id, kind=IdentityKind.email,
                                    value="pete@example.com"))  # not flushed yet
        found = await contacts.find_by_identity(
            session=session, tenant_id=tenant_id, kind=IdentityKind.email, value="Pete@Example.com"
        )
        assert found is contact


async def test_identity_is_unique_per_tenant_through_the_direct_write(
    db: Database, tenant_id: int, admin: Any, other_tenant_admin: Any
) -> None:
    async with db.transaction() as session:
        await contacts.find_or_create_by_identity(
            session=session, actor=admin.actor, kind=IdentityKind.email, value="same@example.com"
        )
    # Another tenant may know the same address as its own contact.
    async with db.transaction() as session:
        other = await contacts.find_or_create_by_identity(
            session=session, actor=other_tenant_admin.actor, kind=IdentityKind.email, value="same@example.com"
        )
        assert other.tenant_id == other_tenant_admin.tenant_id
    # Writing the same identity again in the tenant is refused by the database, as a SQLAlchemy error.
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await contacts.create_contact(session=session, actor=admin.actor, name="Twin")
            await contacts._create_intake_contact(  # what a concurrent intake would race to do
                session, admin.actor, IdentityKind.email, "same@example.com", "Twin", None
            )
    async with db.read() as session:
        rows = list(await session.scalars(select(ContactIdentity).where(ContactIdentity.value == "same@example.com")))
    assert sorted(r.tenant_id for r in rows) == sorted([tenant_id, other_tenant_admin.tenant_id])


async def test_search_upsert_replaces_on_the_writer(db: Database, tenant_id: int, admin: Any) -> None:
    async with db.transaction() as session:
        index = index_for(session)
        await index.upsert(session, SearchDocument(tenant_id, "contact", 999, "Old Name", "old@example.com",
                                                   contact_id=999), fresh=True)
        await index.upsert(session, SearchDocument(tenant_id, "contact", 999, "New Name", "new@example.com",
                                                   contact_id=999))
    async with db.read() as session:
        index = index_for(session)
        assert await index.search(session, tenant_id, "old", ("contact",), 5) == []
        assert [h.title for h in await index.search(session, tenant_id, "new", ("contact",), 5)] == ["New Name"]


async def test_accounts_unchanged(db: Database, tenant_id: int) -> None:
    # The writer's BEGIN IMMEDIATE now goes straight to sqlite3: ordinary transactions still work.
    async with db.transaction() as session:
        tenant = await accounts.create_tenant(session=session, slug="initech", name="Initech")
    assert tenant.id != tenant_id


async def test_a_rolled_back_savepoint_forgets_the_conversation(db: Database, tenant_id: int, admin: Any) -> None:
    # Inside a SAVEPOINT the intake takes the ORM's path, so a rollback leaves no stale objects.
    async with db.transaction() as session:
        nested = await session.begin_nested()
        conversation = await service.start_conversation(
            session=session, actor=admin.actor, contact=service.ContactDetails(email="sp@example.com"),
            channel="api", subject="savepoint", message=service.NewMessage(body_text="x"),
        )
        await nested.rollback()
        assert conversation not in session
        kept = await service.start_conversation(
            session=session, actor=admin.actor, contact=service.ContactDetails(email="sp@example.com"),
            channel="api", subject="kept", message=service.NewMessage(body_text="y"),
        )
    async with db.read() as session:
        subjects = list(await session.scalars(select(Conversation.subject).where(Conversation.tenant_id == tenant_id)))
    assert subjects == ["kept"] and kept.subject == "kept"
