"""The agent's routing UI as a browser drives it (httpx over ASGI): the state in the header, offers,
transfer, the wallboard; and how the hub routes routing events to sockets."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpline.accounts.models import Role
from helpline.accounts.service import Actor
from helpline.config import Settings
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation
from helpline.db import Database
from helpline.events import Event
from helpline.routing import models as m
from helpline.routing.host import RoutingHost
from helpline.web.hub import Connection, Hub
from tests.conftest import Person, make_person


@dataclass
class Floor:
    app: Any
    db: Database
    host: RoutingHost
    tenant_id: int
    queue_id: int
    billing_id: int

    async def arrive(self, subject: str = "Mein Wasserkocher ist kaputt") -> int:
        async with self.db.transaction() as session:
            conversation = await conversations.start_conversation(
                session=session,
                actor=Actor.system(self.tenant_id),
                contact=conversations.ContactDetails(email="kunde@example.com", name="Kunde"),
                channel="webform",
                subject=subject,
                message=conversations.NewMessage(body_text="Bitte helfen Sie mir."),
            )
            conversation_id = conversation.id
        await self.host.idle()
        return conversation_id

    async def item(self, conversation_id: int) -> m.WorkItem:
        async with self.db.read() as session:
            rows = (
                await session.scalars(select(m.WorkItem).where(m.WorkItem.conversation_id == conversation_id))
            ).all()
            return rows[-1]

    async def presence(self, person: Person) -> m.AgentPresence | None:
        async with self.db.read() as session:
            return await session.get(m.AgentPresence, person.id)


@pytest.fixture
async def floor(settings: Settings, tenant_id: int) -> AsyncIterator[Floor]:
    from helpline.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            general = m.Queue(tenant_id=tenant_id, name="General", offer_timeout_seconds=60.0, wrap_up_seconds=10.0)
            billing = m.Queue(tenant_id=tenant_id, name="Billing", offer_timeout_seconds=60.0)
            session.add_all([general, billing])
            await session.flush()
            session.add(m.RoutingSettings(tenant_id=tenant_id, default_queue_id=general.id))
            session.add(m.ReasonCode(tenant_id=tenant_id, name="Lunch"))
            ids = general.id, billing.id
        await runtime.routing.execute(tenant_id, "reload")
        yield Floor(app, runtime.db, runtime.routing, tenant_id, *ids)


@pytest.fixture
async def browser(floor: Floor) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=floor.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def person(floor: Floor, email: str, role: Role = Role.agent, name: str = "") -> Person:
    made = await make_person(floor.db, floor.tenant_id, email, role, name)
    await floor.host.idle()
    return made


async def log_in(client: httpx.AsyncClient, who: Person) -> str:
    """Log in and return the CSRF token the workspace pages carry."""
    response = await client.post("/login", data={"email": who.email, "password": who.password})
    assert response.status_code == 303, response.text
    page = await client.get("/agent/bar")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def set_state(floor: Floor, who: Person, state: str, reason: str | None = None) -> None:
    from helpline.routing import service as routing

    async with floor.db.read() as session:
        await routing.set_agent_state(
            session=session, host=floor.host, actor=who.actor, user_id=who.id, state=state, reason=reason
        )
    await floor.host.idle()


def htmx(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token, "HX-Request": "true"}


# ---------------------------------------------------------------------- the header


async def test_every_workspace_page_loads_the_agent_state_into_its_header(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    await log_in(browser, anna)
    page = await browser.get("/inbox")
    assert 'id="agent-bar"' in page.text and 'hx-get="/agent/bar"' in page.text

    bar = await browser.get("/agent/bar")
    assert bar.status_code == 200
    assert "Offline" in bar.text
    assert 'value="available"' in bar.text and 'value="not_ready:Lunch"' in bar.text
    assert "Get next item" not in bar.text  # offline agents pull nothing


async def test_choosing_available_in_the_menu_changes_the_state_and_returns_the_header(
    floor: Floor, browser: httpx.AsyncClient
):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    response = await browser.post("/agent/state", data={"state": "available"}, headers=htmx(token))
    assert response.status_code == 200
    assert "state-available" in response.text and "Get next item" in response.text
    await floor.host.idle()
    row = await floor.presence(anna)
    assert row is not None and row.shown_state == "available"


async def test_not_ready_with_a_reason_code_shows_the_reason(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    response = await browser.post("/agent/state", data={"state": "not_ready:Lunch"}, headers=htmx(token))
    assert response.status_code == 200
    assert "Not ready: Lunch" in response.text


async def test_an_unknown_reason_is_refused_with_a_message(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    response = await browser.post("/agent/state", data={"state": "not_ready:Nap"}, headers=htmx(token))
    assert response.status_code == 422
    assert "reason code" in response.text and 'class="toast error"' in response.text


async def test_a_form_post_without_javascript_changes_state_and_goes_back(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    response = await browser.post(
        "/agent/state",
        data={"state": "available", "csrf_token": token},
        headers={"Referer": "http://testserver/inbox?view=mine"},
    )
    assert response.status_code == 303 and response.headers["location"] == "http://testserver/inbox?view=mine"
    row = await floor.presence(anna)
    assert row is not None and row.shown_state == "available"


async def test_changing_state_without_the_csrf_token_is_refused(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    await log_in(browser, anna)
    response = await browser.post("/agent/state", data={"state": "available"})
    assert response.status_code == 403
    response = await browser.post("/agent/state", data={"state": "available", "csrf_token": "0" * 64})
    assert response.status_code == 403
    row = await floor.presence(anna)
    assert row is None or row.shown_state == "offline"


async def test_the_header_needs_a_login(browser: httpx.AsyncClient):
    response = await browser.get("/agent/bar", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/login")


# ---------------------------------------------------------------------- offers


async def test_a_pending_offer_shows_in_the_header_and_accepting_opens_the_conversation(
    floor: Floor, browser: httpx.AsyncClient
):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    await browser.post("/agent/state", data={"state": "available"}, headers=htmx(token))
    conversation_id = await floor.arrive("Wasserkocher")

    bar = await browser.get("/agent/bar")
    assert "offer-card" in bar.text and "Wasserkocher" in bar.text
    assert "General" in bar.text and "Contact form" in bar.text
    assert re.search(r'data-remaining="(\d+\.\d)"', bar.text)

    response = await browser.post(f"/agent/offers/{conversation_id}/accept", data={"attempt": "1"}, headers=htmx(token))
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/conversations/{conversation_id}"
    await floor.host.idle()
    async with floor.db.read() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.assignee_id == anna.id
    bar = await browser.get("/agent/bar")
    assert "offer-card" not in bar.text and "state-busy" in bar.text


async def test_declining_removes_the_offer_card_and_it_goes_to_the_next_agent(
    floor: Floor, browser: httpx.AsyncClient
):
    anna = await person(floor, "anna@acme.test", name="Anna")
    bela = await person(floor, "bela@acme.test", name="Béla")
    token = await log_in(browser, anna)
    await browser.post("/agent/state", data={"state": "available"}, headers=htmx(token))
    await set_state(floor, bela, "available")
    conversation_id = await floor.arrive()
    assert (await floor.item(conversation_id)).agent_id == anna.id  # longest idle

    response = await browser.post(
        f"/agent/offers/{conversation_id}/decline", data={"attempt": "1"}, headers=htmx(token)
    )
    assert response.status_code == 200 and "offer-card" not in response.text
    await floor.host.idle()
    assert (await floor.item(conversation_id)).agent_id == bela.id


async def test_accepting_an_offer_that_is_not_yours_is_a_clear_conflict(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    conversation_id = await floor.arrive()  # nobody is available: it waits
    response = await browser.post(f"/agent/offers/{conversation_id}/accept", data={"attempt": "1"}, headers=htmx(token))
    assert response.status_code in (404, 409)
    assert 'class="toast error"' in response.text


async def test_get_next_item_takes_the_waiting_conversation(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    await browser.post("/agent/state", data={"state": "not_ready:Lunch"}, headers=htmx(token))
    response = await browser.post("/agent/next", headers=htmx(token))
    assert response.status_code == 200 and "Nothing is waiting for you right now." in response.text

    conversation_id = await floor.arrive()
    response = await browser.post("/agent/next", headers=htmx(token))
    assert response.headers.get("HX-Redirect") == f"/conversations/{conversation_id}"
    assert (await floor.item(conversation_id)).agent_id == anna.id


# ---------------------------------------------------------------------- transfer


async def test_transfer_to_another_queue_from_the_conversation_page(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    conversation_id = await floor.arrive()
    page = await browser.get(f"/conversations/{conversation_id}")
    assert f'hx-get="/conversations/{conversation_id}/transfer"' in page.text

    card = await browser.get(f"/conversations/{conversation_id}/transfer")
    assert "Transfer" in card.text and "Billing" in card.text

    response = await browser.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"queue:{floor.billing_id}", "note": "Rechnungsfrage <b>dringend</b>"},
        headers=htmx(token),
    )
    assert response.status_code == 200 and "Transferred to Billing." in response.text
    await floor.host.idle()
    assert (await floor.item(conversation_id)).queue_id == floor.billing_id
    page = await browser.get(f"/conversations/{conversation_id}")
    assert "Transferred to the queue Billing" in page.text
    assert "Rechnungsfrage &lt;b&gt;dringend&lt;/b&gt;" in page.text  # the note, as text


async def test_transfer_to_an_agent_lists_them_with_their_state(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    bela = await person(floor, "bela@acme.test", name="Béla")
    token = await log_in(browser, anna)
    conversation_id = await floor.arrive()
    card = await browser.get(f"/conversations/{conversation_id}/transfer")
    assert f'value="agent:{bela.id}">Béla — Offline' in card.text
    assert f'value="agent:{anna.id}"' not in card.text  # not to oneself
    response = await browser.post(
        f"/conversations/{conversation_id}/transfer",
        data={"target": f"agent:{bela.id}", "note": "Kennt den Kunden"},
        headers=htmx(token),
    )
    assert response.status_code == 200 and "Transferred to Béla." in response.text
    async with floor.db.read() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.assignee_id == bela.id
    assert "Transferred to Béla" in (await browser.get(f"/conversations/{conversation_id}")).text


@pytest.mark.parametrize("target", ["", "queue:", "queue:abc", "team:1", "agent:99999999999"])
async def test_transfer_without_a_target_names_the_field(floor: Floor, browser: httpx.AsyncClient, target: str):
    anna = await person(floor, "anna@acme.test", name="Anna")
    token = await log_in(browser, anna)
    conversation_id = await floor.arrive()
    response = await browser.post(
        f"/conversations/{conversation_id}/transfer", data={"target": target}, headers=htmx(token)
    )
    assert response.status_code == 422 and "Choose a queue or an agent" in response.text


# ---------------------------------------------------------------------- wallboard


async def test_the_wallboard_is_for_supervisors_only(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna")
    await log_in(browser, anna)
    assert (await browser.get("/wallboard")).status_code == 403
    assert (await browser.get("/wallboard/board")).status_code == 403
    assert 'href="/wallboard"' not in (await browser.get("/inbox")).text


async def test_the_wallboard_shows_queues_and_agents(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna Agent")
    sophie = await person(floor, "sophie@acme.test", Role.supervisor, "Sophie Supervisor")
    await set_state(floor, anna, "not_ready", "Lunch")
    await floor.arrive("Erste Frage")
    await floor.arrive("Zweite Frage")

    await log_in(browser, sophie)
    assert 'href="/wallboard"' in (await browser.get("/inbox")).text
    page = await browser.get("/wallboard")
    assert page.status_code == 200
    assert 'id="wallboard"' in page.text and 'hx-trigger="refresh"' in page.text
    general = page.text.split(f'data-queue="{floor.queue_id}"', 1)[1].split("</article>", 1)[0]
    assert 'data-metric="waiting">2<' in general
    assert 'data-metric="offered">2<' in general
    assert 'data-metric="agents-not_ready">1<' in general
    assert "Anna Agent" in page.text and "Not ready: Lunch" in page.text

    board = await browser.get("/wallboard/board")
    assert board.status_code == 200 and "<html" not in board.text and "Sophie Supervisor" in board.text


async def test_a_supervisor_sets_an_agents_state_from_the_wallboard(floor: Floor, browser: httpx.AsyncClient):
    anna = await person(floor, "anna@acme.test", name="Anna Agent")
    other_supervisor = await person(floor, "otto@acme.test", Role.supervisor, "Otto")
    admin = await person(floor, "ada@acme.test", Role.admin, "Ada")

    token = await log_in(browser, other_supervisor)  # not Anna's team: refused, nothing changes
    refused = await browser.post(f"/wallboard/agents/{anna.id}/state", data={"state": "available"}, headers=htmx(token))
    assert refused.status_code == 403
    assert (await floor.presence(anna)) is None

    await browser.post("/logout", headers=htmx(token))
    browser.cookies.clear()
    token = await log_in(browser, admin)
    board = await browser.get("/wallboard/board")
    assert f'action="/wallboard/agents/{anna.id}/state"' in board.text and "not_ready:Lunch" in board.text
    assert f'href="/admin/users/{anna.id}/routing"' in board.text  # her skills and capacity, one click away
    changed = await browser.post(
        f"/wallboard/agents/{anna.id}/state", data={"state": "not_ready:Lunch"}, headers=htmx(token)
    )
    assert changed.status_code == 200 and "Not ready: Lunch" in changed.text
    await floor.host.idle()
    presence = await floor.presence(anna)
    assert presence is not None and presence.shown_state == "not_ready" and presence.reason == "Lunch"
    without_csrf = await browser.post(f"/wallboard/agents/{anna.id}/state", data={"state": "available"})
    assert without_csrf.status_code == 403


async def test_wallboard_conversation_links_open_by_number(floor: Floor, browser: httpx.AsyncClient):
    sophie = await person(floor, "sophie@acme.test", Role.supervisor, "Sophie")
    conversation_id = await floor.arrive()
    async with floor.db.read() as session:
        number = (await session.get(Conversation, conversation_id)).number  # type: ignore[union-attr]
    await log_in(browser, sophie)
    response = await browser.get(f"/wallboard/conversation/{number}")
    assert response.status_code == 303 and response.headers["location"] == f"/conversations/{conversation_id}"


async def test_queue_names_and_subjects_are_escaped(floor: Floor, browser: httpx.AsyncClient):
    evil = '<script>alert("q")</script>'
    async with floor.db.transaction() as session:
        queue = await session.get(m.Queue, floor.queue_id)
        assert queue is not None
        queue.name = evil
    await floor.host.execute(floor.tenant_id, "reload")
    anna = await person(floor, "anna@acme.test", Role.admin, name='<img src=x onerror=alert("n")>')
    token = await log_in(browser, anna)
    await browser.post("/agent/state", data={"state": "available"}, headers=htmx(token))
    conversation_id = await floor.arrive('<img src=x onerror=alert("s")>')

    for page in (
        await browser.get("/agent/bar"),
        await browser.get("/wallboard"),
        await browser.get(f"/conversations/{conversation_id}/transfer"),
    ):
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(&#34;s&#34;)&gt;" in (await browser.get("/agent/bar")).text
    assert "&lt;script&gt;" in (await browser.get("/wallboard")).text


# ---------------------------------------------------------------------- the hub


class FakeRouting:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def execute(self, tenant_id: int, op: str, **args: Any) -> None:
        self.calls.append((op, args["user_id"]))


def _connection(tenant_id: int, user_id: int, role: Role = Role.agent) -> Connection:
    return Connection(socket=None, actor=Actor(tenant_id=tenant_id, user_id=user_id, role=role))  # type: ignore[arg-type]


def _frames(connection: Connection) -> list[dict[str, Any]]:
    frames = []
    while not connection.queue.empty():
        frames.append(json.loads(connection.queue.get_nowait()))
    return frames


async def test_hub_sends_offers_only_to_their_agent_and_a_debounced_wallboard_signal_to_supervisors(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr("helpline.web.hub.WALLBOARD_DEBOUNCE", 0.05)
    hub = Hub(SimpleNamespace(routing=FakeRouting()))  # type: ignore[arg-type]
    anna, bela, sophie = _connection(1, 7), _connection(1, 8), _connection(1, 9, Role.supervisor)
    elsewhere = _connection(2, 7, Role.supervisor)
    for connection in (anna, bela, sophie, elsewhere):
        hub.add(connection)

    hub._dispatch(Event("offer.made", 1, {"agent_id": "7", "item_id": "3", "conversation_id": 42}))
    hub._dispatch(Event("agent.state_changed", 1, {"agent_id": "7", "state": "busy"}))
    hub._dispatch(Event("work_item.queued", 1, {"item_id": "4", "conversation_id": 43}))

    assert _frames(anna) == [
        {"type": "routing", "event": "offer.made", "conversation_id": 42},
        {"type": "routing", "event": "agent.state_changed", "conversation_id": None},
    ]
    assert _frames(bela) == [] and _frames(sophie) == []
    await asyncio.sleep(0.1)
    assert _frames(sophie) == [{"type": "wallboard"}]  # three events, one signal
    assert _frames(anna) == [] and _frames(elsewhere) == []


async def test_hub_tells_routing_of_presence_after_a_grace_period():
    routing = FakeRouting()
    hub = Hub(SimpleNamespace(routing=routing))  # type: ignore[arg-type]
    hub.disconnect_grace = 0.1
    first = _connection(1, 7)
    hub.add(first)
    hub.agent_connected(first)
    await asyncio.sleep(0.01)
    assert routing.calls == [("connected", 7)]

    # A page navigation: the socket closes and a new one opens within the grace period.
    hub.remove(first)
    hub.agent_disconnected(first)
    second = _connection(1, 7)
    hub.add(second)
    hub.agent_connected(second)
    await asyncio.sleep(0.2)
    assert routing.calls == [("connected", 7), ("connected", 7)]

    hub.remove(second)
    hub.agent_disconnected(second)
    await asyncio.sleep(0.05)
    assert ("disconnected", 7) not in routing.calls
    await asyncio.sleep(0.15)
    assert routing.calls[-1] == ("disconnected", 7)
    await hub.stop()
