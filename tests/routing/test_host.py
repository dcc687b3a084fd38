"""The routing service end to end on a real database, with a controllable clock.

A conversation arrives through the intake, the engine host offers it, agents accept or decline,
time passes by hand; every check reads what the tables and the published events say.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from helpline.accounts.models import Role
from helpline.accounts.service import Actor
from helpline.config import Settings
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.errors import Conflict, Invalid, PermissionDenied
from helpline.routing import models as m
from helpline.routing import service as routing
from helpline.routing import transfer as transfers
from helpline.routing.clock import ManualClock
from helpline.routing.host import RoutingHost
from tests.conftest import Person, make_person


@dataclass
class Desk:
    app: Any
    db: Database
    host: RoutingHost
    clock: ManualClock
    tenant_id: int
    queue_id: int

    async def arrive(self, subject: str = "Help", email: str = "kunde@example.com", **options: Any) -> int:
        async with self.db.transaction() as session:
            conversation = await conversations.start_conversation(
                session=session,
                actor=Actor.system(self.tenant_id),
                contact=conversations.ContactDetails(email=email, name="Kunde"),
                channel="web",
                subject=subject,
                message=conversations.NewMessage(body_text="Bitte helfen Sie mir."),
                **options,
            )
            conversation_id = conversation.id
        await self.host.idle()
        return conversation_id

    async def state(self, person: Person, state: str, reason: str | None = None) -> routing.AgentStatus:
        async with self.db.read() as session:
            status = await routing.set_agent_state(
                session=session, host=self.host, actor=person.actor, user_id=person.id, state=state, reason=reason
            )
        await self.host.idle()
        return status

    async def status(self, person: Person) -> routing.AgentStatus:
        async with self.db.read() as session:
            return await routing.agent_status(session=session, actor=person.actor, user_id=person.id)

    async def item(self, conversation_id: int) -> m.WorkItem:
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(m.WorkItem).where(m.WorkItem.conversation_id == conversation_id).order_by(m.WorkItem.id)
                )
            ).all()
            return rows[-1]

    async def conversation(self, conversation_id: int) -> Conversation:
        async with self.db.read() as session:
            found = await session.get(Conversation, conversation_id)
            assert found is not None
            return found

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.host.tick(self.tenant_id)
        await self.host.idle()

    def check(self) -> None:
        engine = self.host.engine(self.tenant_id)
        assert engine is not None
        engine.assert_consistent()


@pytest.fixture
async def desk(settings: Settings, tenant_id: int) -> AsyncIterator[Desk]:
    from helpline.app import create_app

    clock = ManualClock(time.time())
    app = create_app(settings, routing_clock=clock)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            queue = m.Queue(tenant_id=tenant_id, name="General", offer_timeout_seconds=20.0, wrap_up_seconds=10.0)
            session.add(queue)
            await session.flush()
            session.add(m.RoutingSettings(tenant_id=tenant_id, default_queue_id=queue.id, max_missed_offers=2))
            session.add(m.ReasonCode(tenant_id=tenant_id, name="Lunch"))
            queue_id = queue.id
        await runtime.routing.execute(tenant_id, "reload")
        yield Desk(app, runtime.db, runtime.routing, clock, tenant_id, queue_id)


@pytest.fixture
async def two_agents(desk: Desk) -> tuple[Person, Person]:
    anna = await make_person(desk.db, desk.tenant_id, "anna@acme.test", Role.agent, "Anna")
    bela = await make_person(desk.db, desk.tenant_id, "bela@acme.test", Role.agent, "Béla")
    await desk.host.idle()
    return anna, bela


async def test_new_conversation_is_offered_to_the_available_agent_and_accepting_assigns_it(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, _bela = two_agents
    await desk.state(anna, "available")
    conversation_id = await desk.arrive()

    status = await desk.status(anna)
    assert [o.conversation_id for o in status.offers] == [conversation_id]
    assert (await desk.item(conversation_id)).status == "offered"

    await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=conversation_id)
    await desk.host.idle()
    conversation = await desk.conversation(conversation_id)
    assert conversation.assignee_id == anna.id
    assert conversation.status.value == "open"
    status = await desk.status(anna)
    assert status.state == "busy" and status.offers == [] and status.items == 1
    desk.check()


async def test_a_declined_offer_goes_to_the_other_agent_and_a_timeout_to_the_next(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, bela = two_agents
    await desk.state(anna, "available")
    desk.clock.advance(1)
    await desk.state(bela, "available")
    conversation_id = await desk.arrive()
    # Anna has been idle longest: she gets it first.
    assert [o.conversation_id for o in (await desk.status(anna)).offers] == [conversation_id]
    assert (await desk.status(bela)).offers == []

    await routing.decline_offer(host=desk.host, actor=anna.actor, conversation_id=conversation_id)
    await desk.host.idle()
    assert (await desk.status(anna)).offers == []
    assert [o.conversation_id for o in (await desk.status(bela)).offers] == [conversation_id]

    await desk.advance(21)  # Béla lets it time out: back to Anna, who declined but is the only other one
    assert (await desk.status(bela)).offers == []
    assert [o.attempt for o in (await desk.status(anna)).offers] == [3]
    async with desk.db.read() as session:
        outcomes = (await session.scalars(select(m.OfferRecord.outcome).order_by(m.OfferRecord.attempt))).all()
    assert outcomes == ["declined", "timed_out", "pending"]
    desk.check()


async def test_accepting_someone_elses_or_an_expired_offer_is_a_conflict(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, bela = two_agents
    await desk.state(anna, "available")
    conversation_id = await desk.arrive()
    with pytest.raises(Conflict):
        await routing.accept_offer(host=desk.host, actor=bela.actor, conversation_id=conversation_id)
    desk.clock.advance(25)
    with pytest.raises(Conflict):
        await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=conversation_id, attempt=1)
    await desk.host.idle()
    assert (await desk.conversation(conversation_id)).assignee_id is None


async def test_missed_offers_in_a_row_pause_the_agent(desk: Desk, two_agents: tuple[Person, Person]) -> None:
    anna, _bela = two_agents
    await desk.state(anna, "available")
    await desk.arrive()
    await desk.advance(21)
    await desk.advance(21)  # the second miss in a row (max_missed_offers=2)
    status = await desk.status(anna)
    assert status.state == "not_ready" and status.reason == "missed offers"
    async with desk.db.read() as session:
        history = (
            await session.scalars(
                select(m.AgentStateChange.state)
                .where(m.AgentStateChange.user_id == anna.id)
                .order_by(m.AgentStateChange.id)
            )
        ).all()
    assert history == ["available", "not_ready"]


async def test_solving_completes_the_item_and_wrap_up_ends_by_itself(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, _bela = two_agents
    await desk.state(anna, "available")
    conversation_id = await desk.arrive()
    await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=conversation_id)
    await desk.host.idle()
    async with desk.db.transaction() as session:
        await conversations.update_conversation(
            session=session, actor=anna.actor, conversation_id=conversation_id, changes={"status": "solved"}
        )
    await desk.host.idle()
    item = await desk.item(conversation_id)
    assert item.status == "completed" and item.agent_id == anna.id
    assert (await desk.status(anna)).state == "wrap_up"
    await desk.advance(11)
    assert (await desk.status(anna)).state == "available"
    desk.check()


async def test_a_reopened_conversation_is_routed_again_to_the_same_agent_first(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, bela = two_agents
    async with desk.db.transaction() as session:
        queue = await session.get(m.Queue, desk.queue_id)
        assert queue is not None
        queue.sticky_seconds = 60.0
    await desk.host.execute(desk.tenant_id, "reload")
    await desk.state(anna, "available")
    first = await desk.arrive(email="stammkunde@example.com")
    await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=first)
    await desk.host.idle()
    await desk.state(bela, "available")
    await desk.state(anna, "not_ready", "Lunch")
    second = await desk.arrive(subject="Noch eine Frage", email="stammkunde@example.com")
    # Anna is at lunch; the item waits for her as the contact's last agent, Béla is not offered it.
    assert (await desk.status(bela)).offers == []
    await desk.state(anna, "available")
    assert [o.conversation_id for o in (await desk.status(anna)).offers] == [second]
    desk.check()


async def test_manual_assignment_and_transfer_follow_the_conversation(
    desk: Desk, two_agents: tuple[Person, Person], admin: Person
) -> None:
    anna, bela = two_agents
    await desk.state(anna, "available")
    conversation_id = await desk.arrive()
    await desk.state(bela, "not_ready", "Lunch")
    async with desk.db.transaction() as session:
        await conversations.update_conversation(
            session=session, actor=admin.actor, conversation_id=conversation_id, changes={"assignee_id": bela.id}
        )
    await desk.host.idle()
    item = await desk.item(conversation_id)
    assert item.status == "assigned" and item.agent_id == bela.id
    assert (await desk.status(anna)).offers == []  # the offer to Anna was taken back

    async with desk.db.transaction() as session:
        other = m.Queue(tenant_id=desk.tenant_id, name="Billing")
        session.add(other)
        await session.flush()
        other_id = other.id
    await desk.host.execute(desk.tenant_id, "reload")
    await transfers.transfer(
        db=desk.db,
        host=desk.host,
        actor=bela.actor,
        conversation_id=conversation_id,
        queue_id=other_id,
        note="billing question",
    )
    await desk.host.idle()
    item = await desk.item(conversation_id)
    assert item.queue_id == other_id
    assert (await desk.conversation(conversation_id)).assignee_id is None

    # Given by hand to an agent who is offline: the item leaves routing (nobody is offered it).
    async with desk.db.transaction() as session:
        await conversations.update_conversation(
            session=session, actor=admin.actor, conversation_id=conversation_id, changes={"assignee_id": admin.id}
        )
    await desk.host.idle()
    item = await desk.item(conversation_id)
    assert item.status == "withdrawn" and item.end_reason == "assigned by hand"
    desk.check()


async def test_an_agent_who_disconnects_keeps_items_for_the_grace_period_then_they_return_with_their_age(
    desk: Desk, two_agents: tuple[Person, Person]
) -> None:
    anna, bela = two_agents
    await desk.state(anna, "available")
    conversation_id = await desk.arrive()
    arrived = (await desk.item(conversation_id)).arrived_at
    await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=conversation_id)
    await desk.host.execute(desk.tenant_id, "connected", user_id=anna.id, process="p1")
    await desk.host.execute(desk.tenant_id, "disconnected", user_id=anna.id, process="p1")
    await desk.host.idle()
    assert (await desk.status(anna)).state == "away"
    await desk.advance(30)
    assert (await desk.item(conversation_id)).agent_id == anna.id  # still within the 60 s grace
    await desk.state(bela, "available")
    await desk.advance(31)
    item = await desk.item(conversation_id)
    assert item.arrived_at == arrived
    assert item.status == "offered" and item.agent_id == bela.id
    assert (await desk.conversation(conversation_id)).assignee_id is None
    assert (await desk.status(anna)).state == "offline"
    desk.check()


async def test_the_engine_rebuilt_from_the_rows_carries_on(desk: Desk, two_agents: tuple[Person, Person]) -> None:
    anna, bela = two_agents
    await desk.state(anna, "available")
    await desk.state(bela, "available")
    first = await desk.arrive()
    second = await desk.arrive(email="zweite@example.com")
    before = {c: (await desk.item(c)).agent_id for c in (first, second)}
    await desk.host.execute(desk.tenant_id, "reload")  # as a new leader would
    await desk.advance(21)  # both offers time out and move to the other agent
    after = {c: (await desk.item(c)).agent_id for c in (first, second)}
    # Equal idle times fall to joining order: Anna got both; when they time out, Béla gets both.
    assert before == {first: anna.id, second: anna.id}
    assert after == {first: bela.id, second: bela.id}
    desk.check()


async def test_who_may_change_whose_state(desk: Desk, two_agents: tuple[Person, Person]) -> None:
    anna, bela = two_agents
    with pytest.raises(PermissionDenied):
        await _set(desk, anna, bela.id, "available")
    with pytest.raises(Invalid) as refused:
        await desk.state(anna, "busy")
    assert refused.value.field == "state"
    with pytest.raises(Invalid) as refused:
        await desk.state(anna, "not_ready", "Golf")
    assert refused.value.field == "reason"
    supervisor = await make_person(desk.db, desk.tenant_id, "boss@acme.test", Role.admin, "Sára")
    status = await _set(desk, supervisor, anna.id, "not_ready", "Lunch")
    assert status.state == "not_ready" and status.reason == "Lunch"
    async with desk.db.read() as session:
        change = (await session.scalars(select(m.AgentStateChange).where(m.AgentStateChange.user_id == anna.id))).one()
    assert change.changed_by == supervisor.id


async def _set(desk: Desk, actor: Person, user_id: int, state: str, reason: str | None = None) -> routing.AgentStatus:
    async with desk.db.read() as session:
        return await routing.set_agent_state(
            session=session, host=desk.host, actor=actor.actor, user_id=user_id, state=state, reason=reason
        )


async def test_pull_mode_gets_the_next_item(desk: Desk, two_agents: tuple[Person, Person]) -> None:
    anna, _bela = two_agents
    first = await desk.arrive()
    await desk.arrive(email="zweite@example.com")
    await desk.state(anna, "not_ready", "Lunch")  # no offers are pushed; she may still ask for work
    taken = await routing.next_item(host=desk.host, actor=anna.actor)
    await desk.host.idle()
    assert taken is not None and taken["conversation_id"] == first
    assert (await desk.conversation(first)).assignee_id == anna.id


async def test_the_wallboard_counts_waiting_answered_and_agents(
    desk: Desk, two_agents: tuple[Person, Person], admin: Person
) -> None:
    anna, _bela = two_agents
    first = await desk.arrive()
    await desk.arrive(email="zweite@example.com")
    desk.clock.advance(5)
    await desk.state(anna, "available")
    await routing.accept_offer(host=desk.host, actor=anna.actor, conversation_id=first)
    await desk.host.idle()
    async with desk.db.read() as session:
        board = await routing.wallboard(session=session, actor=admin.actor, now=desk.clock.now())
        with pytest.raises(PermissionDenied):
            await routing.wallboard(session=session, actor=anna.actor)
    (general,) = board.queues
    assert general.waiting == 1 and general.offered_today == 2 and general.answered_today == 1
    assert general.agents.get("busy") == 1
    anna_row = next(a for a in board.agents if a.user_id == anna.id)
    assert anna_row.state == "busy" and len(anna_row.items) == 1 and len(anna_row.offers) == 1
