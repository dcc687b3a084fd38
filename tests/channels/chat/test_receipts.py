"""Read receipts in a live chat, against a real `helpline serve`: an agent who has the chat on screen
marks it read for the visitor's widget (also after a reconnect, never for internal notes, never past
the last message, never from another company), and the visitor's reading shows "Seen" to the agent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from helpline.accounts import service as accounts
from helpline.db import Database
from tests.channels.chat.test_socket import (
    SITE,
    Visitor,
    api,
    new_token,
    reply,
    start_chat,
)
from tests.conftest import Server, cli
from tests.web.live import AgentSocket, login_cookie, make_user

COALESCE = 0.25  # receipts.COALESCE_SECONDS


@pytest.fixture(scope="module")
def admin_token(live_server: Server) -> str:
    return make_user(live_server, "receipts-admin@acme.test", "admin")


@pytest.fixture
def channel(live_server: Server, admin_token: str) -> dict[str, Any]:
    created = api(live_server, admin_token, "POST", "/api/v1/chat-channels",
                  json={"name": f"Shop {uuid.uuid4().hex[:6]}", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    return dict(created.json())


def chat_messages(server: Server, token: str, conversation_id: int) -> list[dict[str, Any]]:
    answer = api(server, token, "GET", f"/api/v1/conversations/{conversation_id}/messages")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def the_chat(server: Server, token: str) -> dict[str, Any]:
    """The newest chat conversation."""
    listed = api(server, token, "GET", "/api/v1/conversations", params={"limit": 100}).json()["items"]
    return max((c for c in listed if c["channel"] == "chat"), key=lambda c: c["number"])


async def agent_socket(server: Server, email: str) -> AgentSocket:
    make_user(server, email)
    agent = await AgentSocket(server, login_cookie(server, email)).__aenter__()
    await agent.next_frame("hello")
    return agent


@dataclass
class Chat:
    visitor: Visitor
    agent: AgentSocket
    id: int  # the conversation's
    token: str  # the visitor's

    def messages(self, server: Server, admin_token: str) -> list[dict[str, Any]]:
        return chat_messages(server, admin_token, self.id)


@asynccontextmanager
async def chat_with_an_agent(server: Server, admin_token: str, channel: dict[str, Any]) -> AsyncIterator[Chat]:
    """A visitor who has written once (seq 1) and an agent connected to the hub (not viewing yet)."""
    token = new_token(server, channel)
    visitor, _ = await start_chat(server, channel, token)
    agent = await agent_socket(server, f"reader-{uuid.uuid4().hex[:6]}@acme.test")
    try:
        yield Chat(visitor, agent, the_chat(server, admin_token)["id"], token)
    finally:
        await visitor.__aexit__()
        await agent.__aexit__()


async def no_frame(visitor: Visitor, kind: str, seconds: float = 0.6) -> None:
    frames = await visitor.quiet(seconds)
    assert not [f for f in frames if f.get("type") == kind], frames


async def test_the_agent_reading_marks_the_chat_read_for_the_visitor_also_after_a_reconnect(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        first = chat.messages(live_server, admin_token)[0]
        await chat.agent.send({"type": "view", "conversation_id": chat.id})
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "message_id": first["id"]})
        assert (await chat.visitor.next("read"))["seq"] == 1
        await no_frame(chat.visitor, "read")  # once

    # A reload (after=0): the replay, then the mark; a reconnect that has everything: the mark at once.
    for after in (0, 1):
        async with Visitor(live_server, channel) as again:
            await again.hello(chat.token, after=after)
            assert (await again.next("read"))["seq"] == 1
            kinds = [(f["type"], f.get("seq")) for f in again.received if f["type"] in ("welcome", "message", "read")]
            replay = [("message", 1)] if after == 0 else []
            assert kinds == [("welcome", None), *replay, ("read", 1)], kinds


async def test_notes_are_never_marked_and_a_mark_only_moves_forward(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        await asyncio.to_thread(reply, live_server, admin_token, chat.id, "Nur intern: Stammkunde", "note")
        note = chat.messages(live_server, admin_token)[-1]
        assert note["direction"] == "note"
        # The newest message on the agent's screen is a note: what the visitor sees is read up to 1.
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "message_id": note["id"]})
        assert (await chat.visitor.next("read"))["seq"] == 1
        await asyncio.to_thread(reply, live_server, admin_token, chat.id, "Guten Tag!")
        await chat.visitor.next("message", seq=2)
        await chat.visitor.send({"type": "message", "client_id": "c2", "text": "Meine Bestellung fehlt."})
        await chat.visitor.next("ack", client_id="c2")
        newest = chat.messages(live_server, admin_token)[-1]
        await asyncio.sleep(COALESCE)
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "message_id": newest["id"]})
        assert (await chat.visitor.next("read"))["seq"] == 3
        await asyncio.sleep(COALESCE)
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "message_id": note["id"]})  # older
        await no_frame(chat.visitor, "read")


async def test_a_seq_past_the_last_message_is_ignored(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "seq": 99})
        await no_frame(chat.visitor, "read")
        await chat.agent.send({"type": "read", "conversation_id": chat.id, "seq": 1})
        assert (await chat.visitor.next("read"))["seq"] == 1
        # The visitor cannot have seen a reply that does not exist either.
        await chat.agent.send({"type": "view", "conversation_id": chat.id})
        await chat.visitor.send({"type": "read", "seq": 50})
        await chat.visitor.send({"type": "ping"})
        await chat.visitor.next("pong")
        with pytest.raises(TimeoutError):
            await chat.agent.next_frame("visitor_read", timeout=0.6)


async def test_another_companys_agent_cannot_mark_the_chat_read(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    slug = f"globex-{uuid.uuid4().hex[:6]}"
    db = Database(live_server.database_url)
    try:
        async with db.transaction() as session:
            await accounts.create_tenant(session=session, slug=slug, name="Globex")
    finally:
        await db.dispose()
    outsider = f"outsider@{slug}.test"
    cli(live_server.database_url, live_server.var_dir, "user", "create", "--email", outsider, "--tenant", slug,
        "--password", "correct-horse-battery", "--name", "Otto Outsider")
    async with chat_with_an_agent(live_server, admin_token, channel) as chat, \
            AgentSocket(live_server, login_cookie(live_server, outsider)) as stranger:
        first = chat.messages(live_server, admin_token)[0]
        await stranger.next_frame("hello")
        await stranger.send({"type": "read", "conversation_id": chat.id, "message_id": first["id"]})
        error = await stranger.next_frame("error", timeout=2.0)
        assert error["field"] == "conversation_id" and "not found" in error["detail"], error
        await no_frame(chat.visitor, "read")
        # Nor does the outsider hear the visitor's reading by "viewing" the chat.
        await stranger.send({"type": "view", "conversation_id": chat.id})
        await asyncio.to_thread(reply, live_server, admin_token, chat.id, "Hallo!")
        await chat.visitor.next("message", seq=2)
        await chat.visitor.send({"type": "read", "seq": 2})
        with pytest.raises(TimeoutError):
            await stranger.next_frame("visitor_read", timeout=0.8)


@pytest.mark.parametrize("bad", ["1", True, -1, 1.5, None, [1], {"id": 1}, 2**63])
async def test_a_bad_number_gets_an_error_naming_the_field_and_the_sockets_live_on(
        live_server: Server, admin_token: str, channel: dict[str, Any], bad: object):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        agent, visitor = chat.agent, chat.visitor
        await agent.send({"type": "read", "conversation_id": chat.id, "message_id": bad})
        error = await agent.next_frame("error", timeout=2.0)
        assert error["field"] == ("seq" if bad is None else "message_id"), error  # neither given: seq is missing
        await agent.send({"type": "read", "conversation_id": chat.id, "seq": bad})
        assert (await agent.next_frame("error", timeout=2.0))["field"] == "seq"
        await agent.send({"type": "read", "seq": 1})  # whose chat?
        assert (await agent.next_frame("error", timeout=2.0))["field"] == "conversation_id"
        await agent.send({"type": "ping"})
        await agent.next_frame("pong")

        await visitor.send({"type": "read", "seq": bad})
        error = await visitor.next("error")
        assert (error["code"], error["field"]) == ("invalid", "seq"), error
        await visitor.send({"type": "ping"})
        await visitor.next("pong")
        await no_frame(visitor, "read", 0.3)


async def test_the_visitor_reading_a_reply_shows_seen_to_the_agents_viewing_it(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        await chat.agent.send({"type": "view", "conversation_id": chat.id})
        await asyncio.to_thread(reply, live_server, admin_token, chat.id, "Wie kann ich helfen?")
        await chat.visitor.next("message", seq=2)
        answer = chat.messages(live_server, admin_token)[-1]
        await asyncio.sleep(0.2)
        await chat.visitor.send({"type": "read", "seq": 2})
        seen = await chat.agent.next_frame("visitor_read", timeout=2.0, conversation_id=chat.id)
        assert (seen["seq"], seen["message_id"]) == (2, answer["id"])
        # A colleague who opens the chat later is told at once.
        later = await agent_socket(live_server, f"reader-{uuid.uuid4().hex[:6]}@acme.test")
        try:
            await later.send({"type": "view", "conversation_id": chat.id})
            assert (await later.next_frame("visitor_read", timeout=2.0))["message_id"] == answer["id"]
        finally:
            await later.__aexit__()
        # Reading her own message again, or the same reply again, tells nobody anything.
        await chat.visitor.send({"type": "read", "seq": 1})
        await chat.visitor.send({"type": "read", "seq": 2})
        with pytest.raises(TimeoutError):
            await chat.agent.next_frame("visitor_read", timeout=0.6)


async def test_a_burst_of_reads_is_coalesced_to_a_few_frames_ending_with_the_newest(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    async with chat_with_an_agent(live_server, admin_token, channel) as chat:
        for n in range(2, 7):
            await chat.visitor.send({"type": "message", "client_id": f"c{n}", "text": f"Nachricht {n}"})
            await chat.visitor.next("ack", client_id=f"c{n}")
        for message in chat.messages(live_server, admin_token):  # the page scrolls through six at once
            await chat.agent.send({"type": "read", "conversation_id": chat.id, "message_id": message["id"]})
        frames = [f for f in await chat.visitor.quiet(4 * COALESCE) if f.get("type") == "read"]
        assert 1 <= len(frames) <= 3 and frames[-1]["seq"] == 6, frames
