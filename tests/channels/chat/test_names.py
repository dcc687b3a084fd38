"""Names in a chat: the agent's on the visitor's side, a nameless visitor's on the agents' side."""

from __future__ import annotations

from helpline.accounts.models import Tenant
from helpline.channels.chat import service
from helpline.contacts.models import Contact
from helpline.conversations import service as conversations
from helpline.conversations.models import Direction
from helpline.db import Database
from helpline.events import MemoryBus


async def test_a_visitor_who_gave_no_name_is_a_chat_visitor_in_the_company_language(db: Database, admin):
    async with db.transaction() as session:
        tenant = await session.get(Tenant, admin.tenant_id)
        assert tenant is not None
        tenant.default_language = "de"
        channel = await service.create_channel(session=session, actor=admin.actor, values={"name": "Shop"})
        chat, _token = await service.start_session(session=session, channel=channel)
        await service.visitor_message(session=session, channel=channel, chat=chat, client_id="c1", text="Hallo")
        contact_id = chat.contact_id
    async with db.read() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None and contact.name == "Chat-Besucher"


async def test_the_visitor_sees_the_replying_agents_name(settings, admin, agent):
    bus = MemoryBus()
    database = Database(settings.database_url, bus)
    try:
        async with database.transaction() as session:
            channel = await service.create_channel(session=session, actor=admin.actor, values={"name": "Shop"})
            chat, _token = await service.start_session(session=session, channel=channel)
            await service.visitor_message(session=session, channel=channel, chat=chat, client_id="c1", text="hi")
            conversation_id = chat.conversation_id
        assert conversation_id is not None
        subscription = bus.subscribe()
        async with database.transaction() as session:
            await conversations.add_message(
                session=session, actor=agent.actor, conversation_id=conversation_id, direction=Direction.outbound,
                message=conversations.NewMessage(body_text="Hello, how can I help?"),
            )
        frames = []
        while not subscription.queue.empty():
            event = await subscription.get()
            if event.type == service.CHAT_MESSAGE:
                frames.append(event.data["frame"])
        assert [(f["author"], f["text"]) for f in frames] == [
            ({"kind": "agent", "name": "Anna Agent"}, "Hello, how can I help?")
        ]
    finally:
        await database.dispose()
