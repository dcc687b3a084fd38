"""Sequence numbers under concurrency: visitor messages and agent replies written at once get
1, 2, 3… with no gap and no number twice (PostgreSQL row lock; SQLite writes one at a time)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from helpline.channels.chat import service
from helpline.channels.chat.models import ChatMessage, ChatSession
from helpline.conversations import service as conversations
from helpline.conversations.models import Direction
from helpline.db import Database


async def test_concurrent_visitor_messages_and_agent_replies_take_distinct_consecutive_numbers(
        db: Database, admin, settings):
    async with db.transaction() as session:
        channel = await service.create_channel(session=session, actor=admin.actor,
                                               values={"name": "Shop", "allowed_origins": ["https://a.example"]})
        chat, _token = await service.start_session(session=session, channel=channel)
        channel_id, chat_id = channel.id, chat.id

    async def visitor(n: int) -> None:
        async with db.transaction() as session:
            row = await session.scalar(select(ChatSession).where(ChatSession.id == chat_id).with_for_update())
            assert row is not None
            channel = await service.get_channel(session=session, actor=admin.actor, channel_id=channel_id)
            await service.visitor_message(session=session, channel=channel, chat=row, client_id=f"c{n}", text=f"v{n}")

    await visitor(0)  # the conversation exists from here on
    async with db.read() as session:
        conversation_id = (await session.get(ChatSession, chat_id)).conversation_id  # type: ignore[union-attr]

    async def agent(n: int) -> None:
        async with db.transaction() as session:
            await conversations.add_message(
                session=session, actor=admin.actor, conversation_id=conversation_id, direction=Direction.outbound,
                message=conversations.NewMessage(body_text=f"a{n}"),
            )

    await asyncio.gather(*(visitor(n) for n in range(1, 9)), *(agent(n) for n in range(8)))
    async with db.read() as session:
        seqs = list(await session.scalars(
            select(ChatMessage.seq).where(ChatMessage.conversation_id == conversation_id).order_by(ChatMessage.seq)))
        visible = await service.messages_after(session, tenant_id=admin.tenant_id, conversation_id=conversation_id,
                                               after=0)
    assert seqs == list(range(1, 18))
    assert sorted(m.text for m in visible) == sorted([f"v{n}" for n in range(9)] + [f"a{n}" for n in range(8)])
    assert {m.kind for m in visible if m.text.startswith("a")} == {"agent"}


async def test_an_internal_note_takes_no_number(db: Database, admin):
    async with db.transaction() as session:
        channel = await service.create_channel(session=session, actor=admin.actor, values={"name": "Shop"})
        chat, _token = await service.start_session(session=session, channel=channel)
        await service.visitor_message(session=session, channel=channel, chat=chat, client_id="c1", text="hi")
        conversation_id = chat.conversation_id
        assert conversation_id is not None
        await conversations.add_message(session=session, actor=admin.actor, conversation_id=conversation_id,
                                        direction=Direction.note, message=conversations.NewMessage(body_text="psst"))
    async with db.read() as session:
        visible = await service.messages_after(session, tenant_id=admin.tenant_id, conversation_id=conversation_id,
                                               after=0)
    assert [(m.seq, m.text) for m in visible] == [(1, "hi")]
