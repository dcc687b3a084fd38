"""The agents' WebSocket: live inbox updates and collision, against a real server process."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets

from tests.conftest import Server
from tests.web.live import AgentSocket, login_cookie, make_user


def create_conversation(server: Server, token: str, subject: str = "Wo ist mein Paket?") -> dict:
    response = httpx.post(server.url + "/api/v1/conversations", headers={"Authorization": f"Bearer {token}"},
                          json={"contact": {"email": "kunde@example.de", "name": "Klaus"}, "subject": subject,
                                "message": {"body": "Seit zwei Wochen warte ich."}})
    assert response.status_code == 201, response.text
    return response.json()


async def test_new_conversation_reaches_a_connected_agent_within_a_second(live_server: Server):
    token = make_user(live_server, "hub-admin@acme.test", "admin")
    make_user(live_server, "hub-agent@acme.test")
    async with AgentSocket(live_server, login_cookie(live_server, "hub-agent@acme.test")) as agent:
        await agent.next_frame("hello")
        started = time.monotonic()
        created = await asyncio.to_thread(create_conversation, live_server, token)
        frame = await agent.next_frame("conversation.created", timeout=1.0, conversation_id=created["id"])
        assert time.monotonic() - started < 1.0
        assert frame["conversation_id"] == created["id"]


async def test_a_reply_reaches_an_agent_viewing_the_conversation(live_server: Server):
    token = make_user(live_server, "hub-admin2@acme.test", "admin")
    make_user(live_server, "hub-agent2@acme.test")
    created = await asyncio.to_thread(create_conversation, live_server, token, "Reply please")
    async with AgentSocket(live_server, login_cookie(live_server, "hub-agent2@acme.test")) as agent:
        await agent.next_frame("hello")
        await agent.send({"type": "view", "conversation_id": created["id"]})
        await asyncio.to_thread(
            httpx.post, f"{live_server.url}/api/v1/conversations/{created['id']}/messages",
            headers={"Authorization": f"Bearer {token}"}, json={"body": "Wir kümmern uns darum."})
        frame = await agent.next_frame("message.created", conversation_id=created["id"])
        assert frame["message_id"]


async def test_collision_tells_each_agent_who_else_views_and_types(live_server: Server):
    token = make_user(live_server, "hub-admin3@acme.test", "admin")
    make_user(live_server, "hub-anna@acme.test")
    make_user(live_server, "hub-bela@acme.test")
    created = await asyncio.to_thread(create_conversation, live_server, token, "Collision")
    conversation_id = created["id"]
    async with AgentSocket(live_server, login_cookie(live_server, "hub-anna@acme.test")) as anna, \
            AgentSocket(live_server, login_cookie(live_server, "hub-bela@acme.test")) as bela:
        await anna.send({"type": "view", "conversation_id": conversation_id})
        await anna.next_frame("viewers", conversation_id=conversation_id)
        await bela.send({"type": "view", "conversation_id": conversation_id})

        async def viewers_seen_by(socket: AgentSocket, names: set[str], typing: bool = False) -> None:
            while True:
                frame = await socket.next_frame("viewers", timeout=2.0, conversation_id=conversation_id)
                seen = {v["name"] for v in frame["viewers"]}
                if names <= seen and (not typing or any(v["typing"] for v in frame["viewers"])):
                    return

        await viewers_seen_by(anna, {"Hub-Anna", "Hub-Bela"})
        await bela.send({"type": "typing", "conversation_id": conversation_id, "typing": True})
        await viewers_seen_by(anna, {"Hub-Bela"}, typing=True)


async def test_socket_without_a_session_is_closed(live_server: Server):
    async with AgentSocket(live_server, None) as stranger:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await stranger.next_frame("hello")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_socket_from_another_site_is_refused(live_server: Server):
    make_user(live_server, "hub-origin@acme.test")
    cookie = login_cookie(live_server, "hub-origin@acme.test")
    ws = await websockets.connect(live_server.url.replace("http://", "ws://") + "/ws",
                                  additional_headers={"Cookie": cookie}, origin="http://evil.example")  # type: ignore[arg-type]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_malformed_frames_get_an_error_frame_not_a_crash(live_server: Server):
    make_user(live_server, "hub-fuzz@acme.test")
    async with AgentSocket(live_server, login_cookie(live_server, "hub-fuzz@acme.test")) as agent:
        await agent.next_frame("hello")
        await agent.ws.send("{not json")
        await agent.next_frame("error")
        await agent.send({"type": "view", "conversation_id": "drop table"})
        await agent.next_frame("error")
        await agent.send({"type": "ping"})
        await agent.next_frame("pong")
