"""Events are published after commit — never for a change that did not happen — on both buses."""

from __future__ import annotations

import asyncio

import pytest

from helpline.accounts.service import Actor
from helpline.conversations import service as conversations
from helpline.db import Database
from helpline.events import Event, MemoryBus, RedisBus
from tests.conftest import REDIS_URL


async def test_event_is_published_only_after_commit(settings, tenant_id):
    bus = MemoryBus()
    db = Database(settings.database_url, bus)
    subscription = bus.subscribe()
    try:
        async with db.transaction() as session:
            await conversations.start_conversation(
                session=session, actor=Actor.system(tenant_id), channel="api", subject="x",
                contact=conversations.ContactDetails(email="a@example.com"),
                message=conversations.NewMessage(body_text="hello"))
            assert subscription.queue.empty(), "nothing may be heard before the commit"
        kinds = []
        while not subscription.queue.empty():
            kinds.append((await subscription.get()).type)
        assert "conversation.created" in kinds and "message.created" in kinds
    finally:
        await db.dispose()


async def test_rolled_back_change_publishes_nothing(settings, tenant_id):
    bus = MemoryBus()
    db = Database(settings.database_url, bus)
    subscription = bus.subscribe()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await conversations.start_conversation(
                    session=session, actor=Actor.system(tenant_id), channel="api", subject="x",
                    contact=conversations.ContactDetails(email="a@example.com"),
                    message=conversations.NewMessage(body_text="hello"))
                raise RuntimeError("the request failed half-way")
        assert subscription.queue.empty()
        async with db.read() as session:
            page = await conversations.list_conversations(
                session=session, actor=Actor.system(tenant_id), flt=conversations.ConversationFilter(view="all"))
        assert page.items == []
    finally:
        await db.dispose()


@pytest.mark.scaleout
async def test_redis_bus_delivers_to_every_subscriber_across_buses():
    first, second = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    await first.start()
    await second.start()
    try:
        heard_by_second = second.subscribe()
        heard_by_first = first.subscribe()
        await first.publish(Event("conversation.created", 7, {"conversation_id": 42}))
        for subscription in (heard_by_first, heard_by_second):
            event = await asyncio.wait_for(subscription.get(), 2)
            assert (event.type, event.tenant_id, event.data) == ("conversation.created", 7, {"conversation_id": 42})
    finally:
        await first.stop()
        await second.stop()
