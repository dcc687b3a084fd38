"""Read receipts kept on the chat session: a process started later (or restarted) still knows that
the agents read the chat and which reply the visitor saw; marks only move forward."""

from __future__ import annotations

from helpline.channels.chat import receipts, service
from helpline.db import Database
from helpline.events import Event


async def published(events: list[Event], event: Event) -> None:
    events.append(event)


async def a_chat(db: Database, admin) -> tuple[int, int]:
    async with db.transaction() as session:
        channel = await service.create_channel(session=session, actor=admin.actor, values={"name": "Shop"})
        chat, _token = await service.start_session(session=session, channel=channel)
        await service.visitor_message(session=session, channel=channel, chat=chat, client_id="c1", text="Hallo")
        assert chat.conversation_id is not None
        return admin.tenant_id, chat.conversation_id


async def test_marks_published_by_one_process_are_known_to_a_process_started_later(db: Database, admin) -> None:
    tenant_id, conversation_id = await a_chat(db, admin)
    sent: list[Event] = []
    first = receipts.Receipts(lambda e: published(sent, e), db)
    await first.publisher.offer(Event(receipts.AGENT_READ, tenant_id, {"conversation_id": conversation_id, "seq": 3}))
    await first.publisher.offer(Event(
        receipts.VISITOR_READ, tenant_id, {"conversation_id": conversation_id, "seq": 2, "message_id": 41}
    ))
    assert [e.type for e in sent] == [receipts.AGENT_READ, receipts.VISITOR_READ]  # on the bus at once
    await first.close()  # a stopping process keeps what it published

    later = receipts.Receipts(lambda e: published([], e), db)
    assert later.marks.agent_seq(tenant_id, conversation_id) == 0  # nothing heard yet
    await later.known(tenant_id, conversation_id)
    assert later.marks.agent_seq(tenant_id, conversation_id) == 3
    assert later.marks.visitor_mark(tenant_id, conversation_id) == receipts.VisitorMark(2, 41)
    await later.close()


async def test_a_kept_mark_only_moves_forward(db: Database, admin) -> None:
    tenant_id, conversation_id = await a_chat(db, admin)
    async with db.transaction() as session:
        await service.save_read_marks(session, agent=[(tenant_id, conversation_id, 5)],
                                      visitor=[(tenant_id, conversation_id, 4, 77)])
    async with db.transaction() as session:  # an older mark saved late (another process) changes nothing
        await service.save_read_marks(session, agent=[(tenant_id, conversation_id, 2)],
                                      visitor=[(tenant_id, conversation_id, 1, 12)])
    async with db.read() as session:
        assert await service.read_marks(session, tenant_id=tenant_id, conversation_id=conversation_id) == (5, (4, 77))
        # Another company's conversation of the same number has no marks.
        assert await service.read_marks(session, tenant_id=tenant_id + 1, conversation_id=conversation_id) == (0, None)
