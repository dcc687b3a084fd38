"""Live chat across two `helpline serve` processes (one PostgreSQL, events over Redis): a visitor on
process A, a second tab on process B, the agent answering through B — every tab gets every message
once, in order, and a resume on the other process misses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import redis

from tests.channels.chat.test_socket import SITE, Visitor, api, conversation_of, new_token, reply
from tests.conftest import PG_URL, REDIS_URL, new_database, start_server
from tests.web.live import make_user

pytestmark = pytest.mark.scaleout


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory):
    if not PG_URL:
        pytest.fail("the scale-out test needs PostgreSQL: set HELPLINE_TEST_DATABASE_URL (make test does)")
    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the scale-out test needs Redis at {REDIS_URL}: {exc}")
    var_dir: Path = tmp_path_factory.mktemp("chat-scaleout")
    url = new_database(var_dir, "chatscale")
    a = start_server(url, var_dir / "a", redis_url=REDIS_URL, name="a")
    b = start_server(url, var_dir / "b", redis_url=REDIS_URL, name="b")
    yield a, b
    a.stop()
    b.stop()


async def test_a_chat_crosses_processes_without_gaps_or_doubles(two_processes):
    a, b = two_processes
    token = make_user(a, "chat-scale@acme.test", "admin")
    created = api(a, token, "POST", "/api/v1/chat-channels", json={"name": "Shop", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    channel = created.json()
    visitor_token = new_token(a, channel)
    async with Visitor(a, channel) as on_a, Visitor(b, channel) as on_b:
        await on_a.hello(visitor_token)
        await on_b.hello(visitor_token)
        await on_a.send({"type": "message", "client_id": "x1", "text": "Hello from A"})
        await on_a.next("ack", client_id="x1")
        assert (await on_b.next("message", seq=1))["text"] == "Hello from A"  # adopted over Redis
        number = (await _welcome(b, channel, visitor_token))["conversation"]["number"]
        conversation_id = conversation_of(b, token, number)["id"]
        for i in range(5):
            await asyncio.to_thread(reply, b, token, conversation_id, f"answer {i} via B")
        for tab in (on_a, on_b):
            await tab.next("message", seq=6)
            seqs = [f["seq"] for f in tab.received if f["type"] == "message"]
            assert seqs == [1, 2, 3, 4, 5, 6], seqs
    await asyncio.to_thread(reply, a, token, conversation_id, "while away")
    async with Visitor(b, channel) as back:
        await back.hello(visitor_token, after=6)
        frame = await back.next("message")
        assert (frame["seq"], frame["text"]) == (7, "while away")
    assert httpx.get(a.url + "/healthz").status_code == 200


async def _welcome(server, channel, token):
    async with Visitor(server, channel) as tab:
        return await tab.hello(token, after=999)


async def test_read_receipts_cross_processes(two_processes):
    """The agent on B reads, the visitor on A sees it; the visitor reads, the agent on B sees "Seen";
    a reload landing on B still gets the mark."""
    from tests.channels.chat.test_receipts import agent_socket, chat_messages, the_chat
    from tests.channels.chat.test_socket import start_chat

    a, b = two_processes
    token = make_user(a, "receipts-scale@acme.test", "admin")
    created = api(a, token, "POST", "/api/v1/chat-channels", json={"name": "Shop", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    shop = created.json()
    visitor_token = new_token(a, shop)
    visitor, _ = await start_chat(a, shop, visitor_token)
    agent = await agent_socket(b, "receipts-agent@acme.test")
    try:
        chat = the_chat(b, token)
        await agent.send({"type": "view", "conversation_id": chat["id"]})
        first = chat_messages(b, token, chat["id"])[0]
        await agent.send({"type": "read", "conversation_id": chat["id"], "message_id": first["id"]})
        assert (await visitor.next("read"))["seq"] == 1
        await asyncio.to_thread(reply, b, token, chat["id"], "Hallo von B")
        await visitor.next("message", seq=2)
        await visitor.send({"type": "read", "seq": 2})
        assert (await agent.next_frame("visitor_read", timeout=2.0))["seq"] == 2
    finally:
        await visitor.__aexit__()
        await agent.__aexit__()
    async with Visitor(b, shop) as elsewhere:
        await elsewhere.hello(visitor_token)
        assert (await elsewhere.next("read"))["seq"] == 1
