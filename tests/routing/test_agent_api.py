"""The agent side of the routing API over HTTP: state, offers, pull, wrap-up, transfer, wallboard.

The app runs in-process with a hand-driven clock, so offers expire exactly when a test says so.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpline.accounts.models import Role
from helpline.config import Settings
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.routing import models as m
from helpline.routing.clock import ManualClock
from helpline.routing.host import RoutingHost
from tests.conftest import Person, make_person

OFFER_TIMEOUT = 20.0


@dataclass
class Floor:
    http: httpx.AsyncClient
    db: Database
    host: RoutingHost
    clock: ManualClock
    tenant_id: int
    queue_id: int
    other_queue_id: int
    admin: Person
    anna: Person
    bela: Person

    async def arrive(self, subject: str = "Hilfe", email: str = "kunde@example.com") -> int:
        response = await self.http.post(
            "/api/v1/conversations",
            headers=self.admin.headers,
            json={"contact": {"email": email}, "subject": subject, "message": {"body": "Bitte helfen Sie mir."}},
        )
        assert response.status_code == 201, response.text
        await self.host.idle()
        return int(response.json()["id"])

    async def available(self, *people: Person) -> None:
        for person in people:
            response = await self.http.put(
                "/api/v1/routing/agents/me/state", headers=person.headers, json={"state": "available"}
            )
            assert response.status_code == 200, response.text
        await self.host.idle()

    async def offers(self, person: Person) -> list[dict[str, Any]]:
        response = await self.http.get("/api/v1/routing/offers", headers=person.headers)
        assert response.status_code == 200, response.text
        return list(response.json())

    async def post(self, path: str, person: Person, body: Any = None) -> httpx.Response:
        response = await self.http.post(path, headers=person.headers, json=body)
        await self.host.idle()
        return response

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.host.tick(self.tenant_id)
        await self.host.idle()

    async def item(self, conversation_id: int) -> m.WorkItem:
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(m.WorkItem).where(m.WorkItem.conversation_id == conversation_id).order_by(m.WorkItem.id)
                )
            ).all()
            return rows[-1]

    async def assignee(self, conversation_id: int) -> int | None:
        async with self.db.read() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            return conversation.assignee_id


@pytest.fixture
async def floor(settings: Settings, tenant_id: int, admin: Person, db: Database) -> AsyncIterator[Floor]:
    from helpline.app import create_app

    anna = await make_person(db, tenant_id, "anna@acme.test", Role.agent, "Anna")
    bela = await make_person(db, tenant_id, "bela@acme.test", Role.agent, "Béla")
    clock = ManualClock(time.time())
    app = create_app(settings, routing_clock=clock)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            queue = m.Queue(
                tenant_id=tenant_id, name="Allgemein", offer_timeout_seconds=OFFER_TIMEOUT, wrap_up_seconds=10.0
            )
            other = m.Queue(tenant_id=tenant_id, name="Rechnungen", offer_timeout_seconds=OFFER_TIMEOUT)
            session.add_all([queue, other])
            await session.flush()
            session.add(m.RoutingSettings(tenant_id=tenant_id, default_queue_id=queue.id, max_missed_offers=3))
            session.add(m.ReasonCode(tenant_id=tenant_id, name="Lunch"))
            ids = queue.id, other.id
        await runtime.routing.execute(tenant_id, "reload")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Floor(http, runtime.db, runtime.routing, clock, tenant_id, *ids, admin, anna, bela)


# --- agent state -------------------------------------------------------------------------------


async def test_agent_becomes_available_and_reads_the_state_back(floor: Floor) -> None:
    await floor.available(floor.anna)
    mine = await floor.http.get("/api/v1/routing/agents/me/state", headers=floor.anna.headers)
    by_id = await floor.http.get(f"/api/v1/routing/agents/{floor.anna.id}/state", headers=floor.anna.headers)
    assert mine.status_code == by_id.status_code == 200
    assert mine.json()["state"] == "available" and mine.json()["user_id"] == floor.anna.id
    assert by_id.json() == mine.json()
    assert "Lunch" in mine.json()["reason_codes"]


async def test_break_with_a_reason_code_shows_the_reason(floor: Floor) -> None:
    response = await floor.http.put(
        "/api/v1/routing/agents/me/state", headers=floor.anna.headers, json={"state": "not_ready", "reason": "Lunch"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["reason"]) == ("not_ready", "Lunch")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "not_ready"}, "reason"),
        ({"state": "not_ready", "reason": "Sunbathing"}, "reason"),
        ({"state": "busy"}, "state"),
        ({"state": "wrap_up"}, "state"),
        ({"state": "asleep"}, "state"),
        ({"state": 5}, "body.state"),
        ({"state": None}, "body.state"),
        ({}, "body.state"),
        ({"state": "available", "colour": "red"}, "body.colour"),
        ({"state": "x" * 10_000}, "body.state"),
        ({"state": "not_ready", "reason": "x" * 10_000}, "body.reason"),
    ],
)
async def test_a_bad_state_change_names_the_field(floor: Floor, body: dict[str, Any], field: str) -> None:
    response = await floor.http.put("/api/v1/routing/agents/me/state", headers=floor.anna.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_an_agent_cannot_change_another_agents_state(floor: Floor) -> None:
    response = await floor.http.put(
        f"/api/v1/routing/agents/{floor.bela.id}/state", headers=floor.anna.headers, json={"state": "available"}
    )
    assert response.status_code == 403
    assert response.json()["field"] == "user_id"
    peek = await floor.http.get(f"/api/v1/routing/agents/{floor.bela.id}/state", headers=floor.anna.headers)
    assert peek.status_code == 403


async def test_an_admin_sets_an_agents_state_and_is_recorded_as_the_changer(floor: Floor) -> None:
    response = await floor.http.put(
        f"/api/v1/routing/agents/{floor.anna.id}/state",
        headers=floor.admin.headers,
        json={"state": "not_ready", "reason": "Lunch"},
    )
    assert response.status_code == 200, response.text
    async with floor.db.read() as session:
        change = (
            await session.scalars(
                select(m.AgentStateChange).where(m.AgentStateChange.user_id == floor.anna.id).order_by(
                    m.AgentStateChange.id.desc()
                )
            )
        ).first()
    assert change is not None and change.state == "not_ready" and change.changed_by == floor.admin.id


async def test_another_tenants_agent_is_not_found(floor: Floor, other_tenant_admin: Person) -> None:
    for person, target in ((floor.admin, other_tenant_admin.id), (other_tenant_admin, floor.anna.id)):
        put = await floor.http.put(
            f"/api/v1/routing/agents/{target}/state", headers=person.headers, json={"state": "available"}
        )
        get = await floor.http.get(f"/api/v1/routing/agents/{target}/state", headers=person.headers)
        assert put.status_code == get.status_code == 404
        assert put.json()["field"] == "user_id"
    huge = await floor.http.get("/api/v1/routing/agents/99999999999999999999999/state", headers=floor.admin.headers)
    assert huge.status_code in (404, 422)


async def test_the_api_needs_a_token(floor: Floor) -> None:
    response = await floor.http.get("/api/v1/routing/offers")
    assert response.status_code == 401


# --- offers ------------------------------------------------------------------------------------


async def test_an_agent_sees_the_offer_and_accepts_it(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive("Rechnung falsch")
    [offer] = await floor.offers(floor.anna)
    assert offer["conversation_id"] == conversation_id
    assert offer["subject"] == "Rechnung falsch" and offer["queue"] == "Allgemein"
    assert offer["expires_at"] == pytest.approx(floor.clock.now() + OFFER_TIMEOUT, abs=1)

    response = await floor.post(
        f"/api/v1/routing/offers/{conversation_id}/accept", floor.anna, {"attempt": offer["attempt"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["conversation_id"] == conversation_id
    assert await floor.assignee(conversation_id) == floor.anna.id
    assert await floor.offers(floor.anna) == []
    state = (await floor.http.get("/api/v1/routing/agents/me/state", headers=floor.anna.headers)).json()
    assert state["state"] == "busy" and state["items"] == 1


async def test_accept_without_a_body_takes_the_current_offer(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    response = await floor.http.post(f"/api/v1/routing/offers/{conversation_id}/accept", headers=floor.anna.headers)
    assert response.status_code == 200, response.text
    assert (await floor.item(conversation_id)).status == "assigned"


async def test_a_declined_offer_goes_to_the_next_agent(floor: Floor) -> None:
    await floor.available(floor.anna, floor.bela)
    conversation_id = await floor.arrive()
    first = floor.anna if await floor.offers(floor.anna) else floor.bela
    second = floor.bela if first is floor.anna else floor.anna
    [offer] = await floor.offers(first)
    response = await floor.post(
        f"/api/v1/routing/offers/{conversation_id}/decline", first, {"attempt": offer["attempt"]}
    )
    assert response.status_code == 200, response.text
    assert await floor.offers(first) == []
    [next_offer] = await floor.offers(second)
    assert next_offer["conversation_id"] == conversation_id and next_offer["attempt"] > offer["attempt"]


async def test_someone_elses_offer_cannot_be_accepted_or_declined(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    for action in ("accept", "decline"):
        response = await floor.post(f"/api/v1/routing/offers/{conversation_id}/{action}", floor.bela, {})
        assert response.status_code == 409, response.text
    assert len(await floor.offers(floor.anna)) == 1


async def test_an_old_attempt_is_refused(floor: Floor) -> None:
    await floor.available(floor.anna, floor.bela)
    conversation_id = await floor.arrive()
    first = floor.anna if await floor.offers(floor.anna) else floor.bela
    second = floor.bela if first is floor.anna else floor.anna
    [offer] = await floor.offers(first)
    await floor.post(f"/api/v1/routing/offers/{conversation_id}/decline", first, {"attempt": offer["attempt"]})
    stale = await floor.post(
        f"/api/v1/routing/offers/{conversation_id}/accept", second, {"attempt": offer["attempt"]}
    )
    assert stale.status_code == 409, stale.text
    assert len(await floor.offers(second)) == 1  # the current offer is still there


async def test_an_expired_offer_cannot_be_accepted(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    [offer] = await floor.offers(floor.anna)
    floor.clock.advance(OFFER_TIMEOUT + 1)  # nobody ticked: the accept itself must see the expiry
    response = await floor.post(
        f"/api/v1/routing/offers/{conversation_id}/accept", floor.anna, {"attempt": offer["attempt"]}
    )
    assert response.status_code == 409, response.text
    assert await floor.assignee(conversation_id) is None
    async with floor.db.read() as session:
        outcome = await session.scalar(
            select(m.OfferRecord.outcome).where(m.OfferRecord.attempt == offer["attempt"])
        )
    assert outcome == "timed_out"


async def test_another_tenants_conversation_is_not_found(floor: Floor, other_tenant_admin: Person) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    for action in ("accept", "decline"):
        response = await floor.post(f"/api/v1/routing/offers/{conversation_id}/{action}", other_tenant_admin)
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "conversation_id"
    unknown = await floor.post("/api/v1/routing/offers/987654/accept", floor.anna)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"attempt": "first"}, {"attempt": 0}, {"attempt": 2**40}, {"attempt": 1, "extra": True}, [1, 2], "attempt"],
)
async def test_a_malformed_answer_is_422(floor: Floor, body: Any) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    response = await floor.post(f"/api/v1/routing/offers/{conversation_id}/accept", floor.anna, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith("body")
    assert len(await floor.offers(floor.anna)) == 1


async def test_a_huge_conversation_id_is_a_clean_4xx(floor: Floor) -> None:
    response = await floor.post("/api/v1/routing/offers/99999999999999999999999/accept", floor.anna)
    assert 400 <= response.status_code < 500


# --- pull, wrap-up -----------------------------------------------------------------------------


async def test_pull_takes_the_oldest_waiting_item_then_nothing(floor: Floor) -> None:
    await floor.http.put(
        "/api/v1/routing/agents/me/state", headers=floor.anna.headers, json={"state": "not_ready", "reason": "Lunch"}
    )
    older = await floor.arrive("first", email="a@example.com")
    floor.clock.advance(1)
    await floor.arrive("second", email="b@example.com")
    response = await floor.post("/api/v1/routing/next", floor.anna)
    assert response.status_code == 200, response.text
    assert response.json()["conversation_id"] == older
    assert await floor.assignee(older) == floor.anna.id
    await floor.post("/api/v1/routing/next", floor.anna)
    empty = await floor.post("/api/v1/routing/next", floor.anna)
    assert empty.status_code == 204 and empty.content == b""


async def test_ending_wrap_up_early_makes_the_agent_available(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    await floor.post(f"/api/v1/routing/offers/{conversation_id}/accept", floor.anna)
    solved = await floor.http.patch(
        f"/api/v1/conversations/{conversation_id}", headers=floor.anna.headers, json={"status": "solved"}
    )
    assert solved.status_code == 200, solved.text
    await floor.host.idle()
    state = (await floor.http.get("/api/v1/routing/agents/me/state", headers=floor.anna.headers)).json()
    assert state["state"] == "wrap_up" and state["wrap_up_until"] is not None
    response = await floor.post("/api/v1/routing/wrap-up/end", floor.anna)
    assert response.status_code == 204, response.text
    state = (await floor.http.get("/api/v1/routing/agents/me/state", headers=floor.anna.headers)).json()
    assert state["state"] == "available"


# --- transfer ----------------------------------------------------------------------------------


async def test_transfer_moves_the_conversation_to_another_queue(floor: Floor) -> None:
    conversation_id = await floor.arrive()
    response = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        floor.anna,
        {"queue_id": floor.other_queue_id, "note": "Rechnungsfrage"},
    )
    assert response.status_code == 200, response.text
    item = await floor.item(conversation_id)
    assert item.queue_id == floor.other_queue_id and item.status == "queued"


async def test_an_accepted_conversation_transferred_leaves_the_agent(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    await floor.post(f"/api/v1/routing/offers/{conversation_id}/accept", floor.anna)
    path = f"/api/v1/conversations/{conversation_id}/transfer"
    await floor.post(path, floor.anna, {"queue_id": floor.other_queue_id})
    item = await floor.item(conversation_id)
    assert item.queue_id == floor.other_queue_id and item.status in ("queued", "offered")
    assert await floor.assignee(conversation_id) is None



async def test_the_transfer_note_is_an_internal_note_the_next_agent_reads(floor: Floor) -> None:
    conversation_id = await floor.arrive()
    response = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        floor.anna,
        {"queue_id": floor.other_queue_id, "note": "Rechnungsfrage, Kunde wartet seit Montag"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "queue" and response.json()["name"] == "Rechnungen"
    messages = (await floor.http.get(f"/api/v1/conversations/{conversation_id}", headers=floor.bela.headers)).json()
    notes = [m for m in messages["messages"] if m["direction"] == "note"]
    assert [n["body_text"] for n in notes] == ["Rechnungsfrage, Kunde wartet seit Montag"]


async def test_transfer_to_an_agent_assigns_it_to_them_with_the_note(floor: Floor) -> None:
    await floor.available(floor.anna, floor.bela)
    conversation_id = await floor.arrive()
    offered_to = floor.anna if await floor.offers(floor.anna) else floor.bela
    other = floor.bela if offered_to is floor.anna else floor.anna
    await floor.post(f"/api/v1/routing/offers/{conversation_id}/accept", offered_to)
    response = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer", offered_to, {"agent_id": other.id, "note": "Du kennst ihn"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "agent" and response.json()["target_id"] == other.id
    assert await floor.assignee(conversation_id) == other.id
    item = await floor.item(conversation_id)
    assert item.status == "assigned" and item.agent_id == other.id
    conversation = (await floor.http.get(f"/api/v1/conversations/{conversation_id}", headers=other.headers)).json()
    assert [m["body_text"] for m in conversation["messages"] if m["direction"] == "note"] == ["Du kennst ihn"]


async def test_transfer_to_another_tenants_agent_is_not_found(floor: Floor, other_tenant_admin: Person) -> None:
    conversation_id = await floor.arrive()
    response = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer", floor.anna, {"agent_id": other_tenant_admin.id}
    )
    assert response.status_code == 404 and response.json()["field"] == "agent_id"
    assert await floor.assignee(conversation_id) is None

@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"queue_id": 987654}, 404, "queue_id"),
        ({"queue_id": "billing"}, 422, "body.queue_id"),
        ({"queue_id": -1}, 422, "body.queue_id"),
        ({"queue_id": 2**63}, 422, "body.queue_id"),
        ({}, 422, "queue_id"),
        ({"queue_id": None}, 422, "queue_id"),
        ({"queue_id": "QUEUE", "agent_id": "ANNA"}, 422, "agent_id"),
        ({"agent_id": 987654}, 404, "agent_id"),
        ({"agent_id": "anna"}, 422, "body.agent_id"),
        ({"queue_id": "QUEUE", "note": "a\x00b"}, 422, "note"),
        ({"queue_id": "QUEUE", "note": 5}, 422, "body.note"),
        ({"queue_id": "QUEUE", "note": "x" * 1001}, 422, "body.note"),
        ({"queue_id": "QUEUE", "note": ["a"]}, 422, "body.note"),
    ],
)
async def test_a_bad_transfer_names_the_field(floor: Floor, body: dict[str, Any], status: int, field: str) -> None:
    conversation_id = await floor.arrive()
    values = {"QUEUE": floor.other_queue_id, "ANNA": floor.anna.id}
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = await floor.post(f"/api/v1/conversations/{conversation_id}/transfer", floor.anna, body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert (await floor.item(conversation_id)).queue_id == floor.queue_id


async def test_a_huge_note_is_refused_before_it_is_read(floor: Floor) -> None:
    conversation_id = await floor.arrive()
    response = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        floor.anna,
        {"queue_id": floor.other_queue_id, "note": "x" * 5_000_000},
    )
    assert response.status_code in (413, 422), response.text
    assert (await floor.item(conversation_id)).queue_id == floor.queue_id


async def test_another_tenants_conversation_or_queue_cannot_be_transferred(
    floor: Floor, other_tenant_admin: Person
) -> None:
    conversation_id = await floor.arrive()
    theirs = await floor.post(
        f"/api/v1/conversations/{conversation_id}/transfer", other_tenant_admin, {"queue_id": floor.other_queue_id}
    )
    assert theirs.status_code == 404 and theirs.json()["field"] == "conversation_id"
    async with floor.db.transaction() as session:
        foreign = m.Queue(tenant_id=other_tenant_admin.tenant_id, name="Fremd")
        session.add(foreign)
        await session.flush()
        foreign_id = foreign.id
    ours = await floor.post(f"/api/v1/conversations/{conversation_id}/transfer", floor.anna, {"queue_id": foreign_id})
    assert ours.status_code == 404 and ours.json()["field"] == "queue_id"


# --- the wallboard -----------------------------------------------------------------------------


async def test_the_wallboard_shows_queues_and_agents_to_supervisors_only(floor: Floor) -> None:
    await floor.available(floor.anna)
    conversation_id = await floor.arrive()
    response = await floor.http.get("/api/v1/routing/wallboard", headers=floor.admin.headers)
    assert response.status_code == 200, response.text
    board = response.json()
    general = next(q for q in board["queues"] if q["id"] == floor.queue_id)
    assert general["waiting"] == 1 and general["offered_today"] == 1
    anna = next(a for a in board["agents"] if a["user_id"] == floor.anna.id)
    assert anna["state"] == "available" and anna["offers"] == [
        (await floor.http.get(f"/api/v1/conversations/{conversation_id}", headers=floor.admin.headers)).json()[
            "number"
        ]
    ]
    denied = await floor.http.get("/api/v1/routing/wallboard", headers=floor.anna.headers)
    assert denied.status_code == 403
