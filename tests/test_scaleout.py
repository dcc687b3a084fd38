"""Scale-out: two `helpline serve` processes on one PostgreSQL, events over Redis."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import PG_URL, REDIS_URL, new_database, start_server
from tests.web.live import AgentSocket, login_cookie, make_user

pytestmark = pytest.mark.scaleout


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory):
    if not PG_URL:
        pytest.fail("the scale-out test needs PostgreSQL: set HELPLINE_TEST_DATABASE_URL (make test does)")
    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the scale-out test needs Redis at {REDIS_URL}: {exc}")
    var_dir: Path = tmp_path_factory.mktemp("scaleout")
    url = new_database(var_dir, "scaleout")
    a = start_server(url, var_dir / "a", redis_url=REDIS_URL, name="a")
    b = start_server(url, var_dir / "b", redis_url=REDIS_URL, name="b")
    yield a, b
    a.stop()
    b.stop()


async def test_agent_on_process_a_sees_message_that_arrived_through_process_b(two_processes):
    a, b = two_processes
    token = make_user(a, "scale-admin@acme.test", "admin")
    make_user(a, "scale-agent@acme.test")
    assert os.getpid()  # two real processes, one database
    async with AgentSocket(a, login_cookie(a, "scale-agent@acme.test")) as agent:
        await agent.next_frame("hello")
        response = await asyncio.to_thread(
            httpx.post, b.url + "/api/v1/conversations", headers={"Authorization": f"Bearer {token}"},
            json={"contact": {"email": "far@example.com"}, "subject": "Via B", "message": {"body": "hello B"}})
        assert response.status_code == 201, response.text
        created = response.json()
        await agent.next_frame("conversation.created", timeout=1.0, conversation_id=created["id"])
        await asyncio.to_thread(
            httpx.post, f"{b.url}/api/v1/conversations/{created['id']}/messages",
            headers={"Authorization": f"Bearer {token}"}, json={"body": "second message via B"})
        await agent.next_frame("message.created", timeout=1.0, conversation_id=created["id"])
    cookie = login_cookie(a, "scale-agent@acme.test")
    thread = httpx.get(f"{a.url}/conversations/{created['id']}/thread", headers={"Cookie": cookie})
    assert "second message via B" in thread.text


async def test_collision_crosses_processes(two_processes):
    a, b = two_processes
    token = make_user(a, "scale-admin2@acme.test", "admin")
    make_user(a, "scale-anna@acme.test")
    make_user(a, "scale-bela@acme.test")
    created = (await asyncio.to_thread(
        httpx.post, b.url + "/api/v1/conversations", headers={"Authorization": f"Bearer {token}"},
        json={"contact": {"email": "c@example.com"}, "subject": "Both", "message": {"body": "x"}})).json()
    async with AgentSocket(a, login_cookie(a, "scale-anna@acme.test")) as anna, \
            AgentSocket(b, login_cookie(b, "scale-bela@acme.test")) as bela:
        await anna.send({"type": "view", "conversation_id": created["id"]})
        await anna.next_frame("viewers", conversation_id=created["id"])
        await bela.send({"type": "view", "conversation_id": created["id"]})
        while True:
            frame = await anna.next_frame("viewers", timeout=2.0, conversation_id=created["id"])
            if {"Scale-Bela", "Scale-Anna"} <= {v["name"] for v in frame["viewers"]}:
                break
