"""The visitor WebSocket against a real `helpline serve`: hello and resume, visitor messages becoming
conversations, agent replies reaching the visitor in order, no gaps or duplicates after a drop, and
every kind of bad input ending in an error frame or a close code, never another visitor's data."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import Server
from tests.web.live import make_user

SITE = "https://shop.acme.example"


@pytest.fixture(scope="module")
def admin_token(live_server: Server) -> str:
    return make_user(live_server, "chat-admin@acme.test", "admin")


def api(server: Server, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10,
                         **kwargs)


@pytest.fixture
def channel(live_server: Server, admin_token: str) -> Iterator[dict[str, Any]]:
    created = api(live_server, admin_token, "POST", "/api/v1/chat-channels",
                  json={"name": f"Shop {uuid.uuid4().hex[:6]}", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    yield created.json()


def new_token(server: Server, channel: dict[str, Any]) -> str:
    answer = httpx.post(f"{server.url}/widget/v1/channels/{channel['public_key']}/sessions", json={},
                        headers={"Origin": SITE, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


class Visitor:
    """The widget's socket, as the browser uses it."""

    def __init__(self, server: Server, channel: dict[str, Any], origin: str | None = SITE) -> None:
        self.url = f"{server.url.replace('http://', 'ws://')}/widget/v1/ws?channel={channel['public_key']}"
        self.origin = origin
        self.ws: Any = None
        self.received: list[dict[str, Any]] = []

    async def __aenter__(self) -> Visitor:
        self.ws = await websockets.connect(self.url, origin=self.origin,  # type: ignore[arg-type]
                                           user_agent_header="Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def hello(self, token: str, after: int = 0) -> dict[str, Any]:
        page = {"url": "https://shop.acme.example/cart", "title": "Cart"}
        await self.send({"type": "hello", "token": token, "after": after, "language": "de-DE",
                         "time_zone": "Europe/Berlin", "page": page})
        return await self.next("welcome")

    async def next(self, kind: str, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                frame = json.loads(await self.ws.recv())
                self.received.append(frame)
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                    return frame

        return await asyncio.wait_for(wait(), timeout)

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Every frame that comes within ``seconds``."""
        frames = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(self.ws.recv(), seconds)))
        except TimeoutError:
            return frames

    async def closed_with(self, timeout: float = 12.0) -> int:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(self._drain(), timeout)
        assert closed.value.rcvd is not None
        return int(closed.value.rcvd.code)

    async def _drain(self) -> None:
        while True:
            self.received.append(json.loads(await self.ws.recv()))


def reply(server: Server, token: str, conversation_id: int, body: str, direction: str = "outbound") -> None:
    answer = api(server, token, "POST", f"/api/v1/conversations/{conversation_id}/messages",
                 json={"body": body, "direction": direction})
    assert answer.status_code == 201, answer.text


def conversation_of(server: Server, token: str, number: int) -> dict[str, Any]:
    listed = api(server, token, "GET", "/api/v1/conversations", params={"limit": 100}).json()["items"]
    return next(c for c in listed if c["number"] == number)


async def start_chat(server: Server, channel: dict[str, Any], token: str, text: str = "Hallo, ist jemand da?"
                     ) -> tuple[Visitor, int]:
    visitor = await Visitor(server, channel).__aenter__()
    welcome = await visitor.hello(token)
    assert welcome["conversation"] is None and welcome["session"]["identified"] is False
    await visitor.send({"type": "message", "client_id": "c1", "text": text})
    ack = await visitor.next("ack", client_id="c1")
    assert ack["seq"] == 1
    echoed = await visitor.next("message", seq=1)
    assert echoed["text"] == text and echoed["author"]["kind"] == "visitor" and echoed["client_id"] == "c1"
    return visitor, ack["seq"]


# --- the happy path ------------------------------------------------------------------------------------


async def test_a_visitor_message_becomes_a_chat_conversation_and_the_agent_reply_comes_back(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        conversations = api(live_server, admin_token, "GET", "/api/v1/conversations").json()["items"]
        chat = next(c for c in conversations if c["channel"] == "chat")
        assert chat["subject"] == "Hallo, ist jemand da?"
        await asyncio.to_thread(reply, live_server, admin_token, chat["id"], "Ja, wie kann ich helfen?")
        frame = await visitor.next("message", seq=2)
        assert frame["text"] == "Ja, wie kann ich helfen?"
        assert frame["author"] == {"kind": "agent", "name": "Chat-Admin"}
        # An internal note is never the visitor's.
        await asyncio.to_thread(reply, live_server, admin_token, chat["id"], "VIP customer", "note")
        await asyncio.to_thread(reply, live_server, admin_token, chat["id"], "Second answer")
        frame = await visitor.next("message", seq=3)
        assert frame["text"] == "Second answer"
        assert all("VIP" not in json.dumps(f) for f in visitor.received)
    finally:
        await visitor.__aexit__()


async def test_resume_after_a_drop_replays_exactly_what_was_missed(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    await visitor.__aexit__()  # the connection drops
    welcome = None
    async with Visitor(live_server, channel) as again:
        welcome = await again.hello(token, after=1)
        number = welcome["conversation"]["number"]
        conversation_id = conversation_of(live_server, admin_token, number)["id"]
    for i in range(3):  # written while nobody is connected
        await asyncio.to_thread(reply, live_server, admin_token, conversation_id, f"missed {i}")
    async with Visitor(live_server, channel) as back:
        await back.hello(token, after=1)
        await asyncio.to_thread(reply, live_server, admin_token, conversation_id, "live one")
        await back.next("message", seq=5)
        frames = [f for f in back.received + await back.quiet(0.5) if f["type"] == "message"]
    assert [f["seq"] for f in frames] == [2, 3, 4, 5]
    assert [f["text"] for f in frames] == ["missed 0", "missed 1", "missed 2", "live one"]


async def test_a_resent_client_id_is_stored_once_and_acked_the_same(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        await visitor.send({"type": "message", "client_id": "c2", "text": "Nummer zwei"})
        first = await visitor.next("ack", client_id="c2")
        await visitor.send({"type": "message", "client_id": "c2", "text": "Nummer zwei"})
        second = await visitor.next("ack", client_id="c2")
        assert first == second == {"type": "ack", "client_id": "c2", "seq": 2}
        welcome_number = (await _welcome_again(live_server, channel, token))["conversation"]["number"]
        conversation = conversation_of(live_server, admin_token, welcome_number)
        assert conversation["message_count"] == 2
    finally:
        await visitor.__aexit__()


async def _welcome_again(server: Server, channel: dict[str, Any], token: str) -> dict[str, Any]:
    async with Visitor(server, channel) as tab:
        return await tab.hello(token, after=99)


async def test_two_tabs_of_one_visitor_both_see_the_chat(live_server: Server, admin_token: str,
                                                        channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as tab1, Visitor(live_server, channel) as tab2:
        await tab1.hello(token)
        await tab2.hello(token)
        await tab1.send({"type": "message", "client_id": "t1", "text": "from tab one"})
        assert (await tab2.next("message", seq=1))["text"] == "from tab one"


async def test_agent_typing_assignment_and_solving_reach_the_visitor(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        number = (await _welcome_again(live_server, channel, token))["conversation"]["number"]
        conversation = conversation_of(live_server, admin_token, number)
        me = api(live_server, admin_token, "GET", "/api/v1/me").json()
        changed = api(live_server, admin_token, "PATCH", f"/api/v1/conversations/{conversation['id']}",
                      json={"assignee_id": me["id"]})
        assert changed.status_code == 200, changed.text
        assert (await visitor.next("agent_joined"))["name"] == "Chat-Admin"
        changed = api(live_server, admin_token, "PATCH", f"/api/v1/conversations/{conversation['id']}",
                      json={"status": "solved"})
        assert changed.status_code == 200, changed.text
        await visitor.next("ended")
    finally:
        await visitor.__aexit__()


# --- bad input -------------------------------------------------------------------------------------------


async def test_wrong_token_is_closed_4401(live_server: Server, channel: dict[str, Any]):
    async with Visitor(live_server, channel) as visitor:
        await visitor.send({"type": "hello", "token": "x" * 43, "after": 0})
        assert await visitor.closed_with() == 4401


async def test_a_token_of_another_channel_is_closed_4401(live_server: Server, admin_token: str,
                                                         channel: dict[str, Any]):
    other = api(live_server, admin_token, "POST", "/api/v1/chat-channels",
                json={"name": "Other", "allowed_origins": [SITE]}).json()
    token = new_token(live_server, other)
    async with Visitor(live_server, channel) as visitor:
        await visitor.send({"type": "hello", "token": token, "after": 0})
        assert await visitor.closed_with() == 4401


async def test_no_hello_is_closed_4401(live_server: Server, channel: dict[str, Any]):
    async with Visitor(live_server, channel) as visitor:
        await visitor.send({"type": "message", "client_id": "x", "text": "hi"})
        assert await visitor.closed_with() == 4401


async def test_bad_origin_is_closed_4403(live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel, origin="https://evil.example") as visitor:
        assert await visitor.closed_with() == 4403
    async with Visitor(live_server, channel, origin=None) as visitor:  # not a browser: no Origin at all
        assert await visitor.closed_with() == 4403
    async with Visitor(live_server, channel) as visitor:  # the token does not matter: the origin does
        await visitor.hello(token)


async def test_malformed_frames_get_error_frames_and_the_socket_lives_on(live_server: Server,
                                                                         channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        for bad in ("{not json", "[]", '{"type": 5}', '"hello"', '{"type": "warp"}', "\u0000"):
            await visitor.send(bad)
            assert (await visitor.next("error"))["code"] == "bad_frame"
        await visitor.send({"type": "message", "client_id": "", "text": "x"})
        error = await visitor.next("error")
        assert error["code"] == "invalid" and error["field"] == "client_id"
        await visitor.send({"type": "message", "client_id": "blank-1", "text": "   "})
        error = await visitor.next("error")
        assert error["code"] == "invalid" and error["client_id"] == "blank-1"  # the widget marks that one
        await visitor.send(b"\x00\x01binary")
        assert (await visitor.next("error"))["code"] == "bad_frame"
        await visitor.send({"type": "ping"})
        await visitor.next("pong")


async def test_oversize_text_gets_too_large_and_a_huge_frame_is_closed_1009(live_server: Server,
                                                                             channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        await visitor.send({"type": "message", "client_id": "big", "text": "x" * 5001})
        error = await visitor.next("error")
        assert error["code"] == "too_large" and error["client_id"] == "big"
        await visitor.send({"type": "message", "client_id": "huge", "text": "x" * 70_000})
        assert await visitor.closed_with() == 1009


async def test_a_flood_is_rate_limited_then_closed_4429(live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        for i in range(10):
            await visitor.send({"type": "message", "client_id": f"m{i}", "text": f"message {i}"})
        for i in range(10):
            await visitor.next("ack", client_id=f"m{i}")
        await visitor.send({"type": "message", "client_id": "m10", "text": "one too many"})
        assert (await visitor.next("error"))["code"] == "rate_limited"
        for _ in range(60):
            try:
                await visitor.send({"type": "message", "client_id": "flood", "text": "flood"})
            except websockets.ConnectionClosed:
                break
        assert await visitor.closed_with() == 4429


async def test_another_visitor_never_sees_this_chat(live_server: Server, admin_token: str,
                                                    channel: dict[str, Any]):
    alice, bob = new_token(live_server, channel), new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, alice, "Alice's secret")
    try:
        number = (await _welcome_again(live_server, channel, alice))["conversation"]["number"]
        conversation = conversation_of(live_server, admin_token, number)
        async with Visitor(live_server, channel) as other:
            welcome = await other.hello(bob, after=0)
            assert welcome["conversation"] is None
            await asyncio.to_thread(reply, live_server, admin_token, conversation["id"], "For Alice only")
            await visitor.next("message", seq=2)
            seen = await other.quiet(0.7)
        assert all("Alice" not in json.dumps(f) for f in seen + other.received)
    finally:
        await visitor.__aexit__()


async def test_the_agent_sees_the_visitors_pages_browser_and_place(live_server: Server, admin_token: str,
                                                                   channel: dict[str, Any]):
    from tests.web.live import login_cookie

    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        await visitor.send({"type": "page", "url": "https://shop.acme.example/checkout",
                            "title": "<script>alert(1)</script>Checkout"})
        await visitor.send({"type": "page", "url": "javascript:alert(1)", "title": "evil"})
        await visitor.send({"type": "ping"})
        await visitor.next("pong")
        number = (await _welcome_again(live_server, channel, token))["conversation"]["number"]
        conversation = conversation_of(live_server, admin_token, number)
        cookie = login_cookie(live_server, "chat-admin@acme.test")
        page = httpx.get(f"{live_server.url}/conversations/{conversation['id']}", headers={"Cookie": cookie})
        assert page.status_code == 200, page.text
        panel = page.text.split('id="chat-visitor"', 1)[1].split("</div>", 1)[0]
        assert "Firefox 120 (Linux)" in panel and "Europe/Berlin" in panel and "de-DE" in panel
        assert "https://shop.acme.example/checkout" in panel and "&lt;script&gt;" in panel
        assert "<script>alert" not in panel and "javascript:" not in panel
        assert "Pages visited (3)" in panel  # cart (hello), checkout, cart (the second tab's hello)
    finally:
        await visitor.__aexit__()


async def test_silence_after_connecting_is_closed_4401_after_ten_seconds(live_server: Server,
                                                                        channel: dict[str, Any]):
    async with Visitor(live_server, channel) as visitor:
        assert await visitor.closed_with(timeout=15.0) == 4401


async def test_the_visitor_ends_the_chat_and_it_is_solved(live_server: Server, admin_token: str,
                                                          channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token, "Bye soon")
    try:
        await visitor.send({"type": "end"})
        await visitor.next("ended")
        number = (await _welcome_again(live_server, channel, token))["conversation"]["number"]
        assert conversation_of(live_server, admin_token, number)["status"] == "solved"
    finally:
        await visitor.__aexit__()


async def test_identifying_links_the_chat_to_the_crm_contact(live_server: Server, admin_token: str,
                                                             channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token, "Who am I?")
    try:
        await visitor.send({"type": "identify", "name": "Vera", "email": "not-an-address"})
        error = await visitor.next("error")
        assert error["code"] == "invalid" and error["field"] == "email"
        await visitor.send({"type": "identify", "name": "Vera Visitor", "email": "vera@example.org"})
        await visitor.send({"type": "ping"})
        await visitor.next("pong")  # frames are handled in order: the identification is stored
        welcome = await _welcome_again(live_server, channel, token)
        assert welcome["session"] == {"name": "Vera Visitor", "email": "vera@example.org", "identified": True}
        conversation = conversation_of(live_server, admin_token, welcome["conversation"]["number"])
        detail = api(live_server, admin_token, "GET", f"/api/v1/conversations/{conversation['id']}").json()
        contact = api(live_server, admin_token, "GET", f"/api/v1/contacts/{detail['contact_id']}").json()
        assert "vera@example.org" in json.dumps(contact)
    finally:
        await visitor.__aexit__()


async def test_switching_the_channel_off_closes_its_sockets_4403(live_server: Server, admin_token: str,
                                                                 channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        changed = api(live_server, admin_token, "PATCH", f"/api/v1/chat-channels/{channel['id']}",
                      json={"is_active": False})
        assert changed.status_code == 200, changed.text
        assert await visitor.closed_with(timeout=5.0) == 4403


async def test_the_agent_viewing_the_chat_sees_the_visitor_typing(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    from tests.web.live import AgentSocket, login_cookie

    make_user(live_server, "chat-typing-agent@acme.test")
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        chat = next(c for c in api(live_server, admin_token, "GET", "/api/v1/conversations").json()["items"]
                    if c["channel"] == "chat")
        async with AgentSocket(live_server, login_cookie(live_server, "chat-typing-agent@acme.test")) as agent:
            await agent.next_frame("hello")
            await agent.send({"type": "view", "conversation_id": chat["id"]})
            await asyncio.sleep(0.2)
            await visitor.send({"type": "typing", "typing": True})
            frame = await agent.next_frame("visitor_typing", timeout=2.0, conversation_id=chat["id"])
            assert frame["typing"] is True
            await visitor.send({"type": "typing", "typing": False})
            assert (await agent.next_frame("visitor_typing", timeout=2.0))["typing"] is False
    finally:
        await visitor.__aexit__()
