"""Routing scaled out: two `helpline serve` processes on one PostgreSQL, commands over Redis.

Agents become available through both processes, conversations arrive through both, agents accept
or decline at random through either (the follower forwards to the leader); then the leader is
killed mid-run and the survivor must take over from the rows. The database is the witness: no
work item ever had two overlapping offers, none was assigned to two agents, none was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from helpline.db import sync_url
from helpline.routing.host import LEADER_LOCK_KEY
from tests.conftest import PG_URL, REDIS_URL, Server, free_port, new_database, start_server
from tests.web.live import make_user

pytestmark = pytest.mark.scaleout

AGENTS = 8
CONVERSATIONS_BEFORE = 24
CONVERSATIONS_AFTER = 16
OFFER_TIMEOUT = 4.0
ACCEPT_SHARE = 0.7
TAKEOVER_SECONDS = 15.0
SETTLE_SECONDS = 120.0


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A Redis of our own when the binary is there: every Helpline process publishes on one fixed
    channel, so another suite's servers on a shared Redis would hear (and answer) our commands."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield REDIS_URL
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.from_url(url, socket_connect_timeout=1).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    if not PG_URL:
        pytest.fail("the scale-out test needs PostgreSQL: set HELPLINE_TEST_DATABASE_URL (make test does)")
    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the scale-out test needs Redis at {REDIS_URL}: {exc}")
    var_dir: Path = tmp_path_factory.mktemp("routing2p")
    url = new_database(var_dir, "routing2p")
    with private_redis() as redis_url:
        a = start_server(url, var_dir / "a", redis_url=redis_url, name="a")
        b = start_server(url, var_dir / "b", redis_url=redis_url, name="b")
        try:
            yield a, b
        finally:
            a.stop()
            b.stop()


# --- which process leads -------------------------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _inode_of_local_port(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port:
                    found.add(parts[9])
    return found


def leader_port(database_url: str) -> int | None:
    """The client port of the connection holding the routing leader lock, from pg_locks."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :key AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": LEADER_LOCK_KEY},
            ).scalar()
    finally:
        engine.dispose()


def leading(servers: tuple[Server, ...]) -> Server | None:
    port = leader_port(servers[0].database_url)
    if port is None:
        return None
    inodes = _inode_of_local_port(port)
    for server in servers:
        if server.process.poll() is None and _socket_inodes(server.process.pid) & inodes:
            return server
    return None


# --- the floor -----------------------------------------------------------------------------------


@dataclass
class Agent:
    user_id: int
    token: str
    home: int  # index of the process it set itself available through

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Run:
    servers: list[Server]
    admin: dict[str, str]
    rng: random.Random = field(default_factory=lambda: random.Random(20260601))
    alive: list[bool] = field(default_factory=lambda: [True, True])
    conversations: list[int] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    stop: bool = False

    def server(self) -> Server:
        choices = [s for s, up in zip(self.servers, self.alive, strict=True) if up]
        return self.rng.choice(choices)

    async def call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response | None:
        """One request through a random live process; None when the connection itself failed."""
        server = self.server()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                return await http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError:
            return None


async def must(run: Run, method: str, path: str, headers: dict[str, str], ok: tuple[int, ...], **kw: Any) -> Any:
    """Retry through either process until it answers one of ``ok`` (routing may be reloading)."""
    deadline = time.monotonic() + 30
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = await run.call(method, path, headers, **kw)
        if last is not None and last.status_code in ok:
            return last.json() if last.content else None
        await asyncio.sleep(0.3)
    raise AssertionError(f"{method} {path}: {last.status_code if last else 'no answer'} {last.text if last else ''}")


async def submit(run: Run, n: int, through: list[int]) -> None:
    for i in range(n):
        server = run.servers[through[i % len(through)]]
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            response = await http.post(
                "/api/v1/conversations",
                headers=run.admin,
                json={
                    "contact": {"email": f"kunde{len(run.conversations)}@example.com"},
                    "subject": f"Anfrage {len(run.conversations)}",
                    "message": {"body": "Bitte helfen Sie mir."},
                },
            )
        assert response.status_code == 201, response.text
        run.conversations.append(int(response.json()["id"]))
        await asyncio.sleep(run.rng.uniform(0.02, 0.15))


async def work(run: Run, agent: Agent) -> None:
    """Poll my offers through either process; accept or decline at random; solve what I took."""
    while not run.stop:
        response = await run.call("GET", "/api/v1/routing/offers", agent.headers)
        offers = response.json() if response is not None and response.status_code == 200 else []
        for offer in offers:
            action = "accept" if run.rng.random() < ACCEPT_SHARE else "decline"
            answer = await run.call(
                "POST",
                f"/api/v1/routing/offers/{offer['conversation_id']}/{action}",
                agent.headers,
                json={"attempt": offer["attempt"]},
            )
            status = answer.status_code if answer is not None else 0
            assert status < 500 or status == 503, answer.text if answer is not None else ""
            key = f"{action} {status}"
            run.answered[key] = run.answered.get(key, 0) + 1
            if action == "accept" and status == 200 and run.rng.random() < 0.5:
                await run.call(
                    "PATCH", f"/api/v1/conversations/{offer['conversation_id']}", agent.headers,
                    json={"status": "solved"},
                )
        await asyncio.sleep(run.rng.uniform(0.1, 0.4))


def rows(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


# --- the test ------------------------------------------------------------------------------------


async def test_no_item_is_offered_twice_and_the_survivor_takes_over(deployment: tuple[Server, Server]) -> None:
    a, b = deployment
    db = a.database_url
    admin = {"Authorization": f"Bearer {make_user(a, 'routing-admin@acme.test', 'admin')}"}
    run = Run([a, b], admin)

    queue = await must(run, "POST", "/api/v1/routing/queues", admin, (201,),
                       json={"name": "Allgemein", "offer_timeout_seconds": OFFER_TIMEOUT, "wrap_up_seconds": 0})
    await must(run, "PUT", "/api/v1/routing/settings", admin, (200,),
               json={"default_queue_id": queue["id"], "max_missed_offers": 1000})
    agents: list[Agent] = []
    for i in range(AGENTS):
        user = await must(run, "POST", "/api/v1/users", admin, (201,),
                          json={"email": f"agent{i}@acme.test", "name": f"Agent {i}", "role": "agent"})
        token = await must(run, "POST", "/api/v1/tokens", admin, (201,), json={"user_id": user["id"], "name": "t"})
        agents.append(Agent(user["id"], token["token"], home=i % 2))

    # Half become available through A, half through B (B forwards to the leader).
    for agent in agents:
        server = run.servers[agent.home]
        deadline = time.monotonic() + 30
        while True:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                response = await http.put(
                    "/api/v1/routing/agents/me/state", headers=agent.headers, json={"state": "available"}
                )
            if response.status_code == 200 and response.json()["state"] == "available":
                break
            assert response.status_code in (404, 503), response.text  # the leader may still be reloading
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.3)

    first = await asyncio.to_thread(leading, (a, b))
    assert first is not None, "no process holds the routing leader lock"
    survivor = b if first is a else a
    workers = [asyncio.create_task(work(run, agent)) for agent in agents]
    try:
        await submit(run, CONVERSATIONS_BEFORE, through=[0, 1])
        await wait_for(
            lambda: rows(db, "SELECT count(*) FROM offers")[0][0] >= CONVERSATIONS_BEFORE // 2, 60, "offers"
        )

        # The leader dies mid-run, with offers pending and commands in flight.
        killed_at = time.time()
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        run.alive[run.servers.index(first)] = False
        await wait_for(lambda: leading((survivor,)) is survivor, TAKEOVER_SECONDS, "the survivor to lead")
        took_over = time.time() - killed_at

        await submit(run, CONVERSATIONS_AFTER, through=[run.servers.index(survivor)])
        await wait_for(
            lambda: rows(
                db, "SELECT count(*) FROM work_items WHERE status IN ('queued', 'offered')"
            )[0][0] == 0,
            SETTLE_SECONDS,
            "every conversation to be taken",
        )
    finally:
        run.stop = True
        await asyncio.gather(*workers, return_exceptions=True)
    for worker in workers:
        assert worker.exception() is None, worker.exception()

    # The survivor keeps offering: a new conversation reaches an agent within seconds.
    await submit(run, 1, through=[run.servers.index(survivor)])
    late = run.conversations[-1]
    await wait_for(
        lambda: bool(rows(db, "SELECT 1 FROM offers o JOIN work_items w ON w.id = o.work_item_id "
                              "WHERE w.conversation_id = :c", c=late)),
        15,
        "an offer after the takeover",
    )
    print(f"takeover after {took_over:.1f} s; answers {run.answered}")  # shown with -s
    check_the_rows(db, run.conversations, killed_at)
    assert took_over < TAKEOVER_SECONDS
    assert run.answered.get("accept 200", 0) > 0 and run.answered.get("decline 200", 0) > 0, run.answered


def check_the_rows(db: str, conversations: list[int], killed_at: float) -> None:
    eps = 1e-6
    offers = rows(
        db,
        "SELECT work_item_id, agent_id, attempt, offered_at, expires_at, answered_at, outcome "
        "FROM offers ORDER BY work_item_id, offered_at, attempt",
    )
    by_item: dict[int, list[Any]] = {}
    for offer in offers:
        by_item.setdefault(offer.work_item_id, []).append(offer)
    for item_id, item_offers in by_item.items():
        pending = [o for o in item_offers if o.outcome == "pending"]
        assert len(pending) <= 1, f"work item {item_id} has {len(pending)} pending offers"
        accepted = [o for o in item_offers if o.outcome == "accepted"]
        assert len(accepted) <= 1, f"work item {item_id} was accepted by {[o.agent_id for o in accepted]}"
        attempts = [o.attempt for o in item_offers]
        assert len(set(attempts)) == len(attempts), f"work item {item_id} repeats an attempt: {attempts}"
        for before, after in itertools.pairwise(item_offers):
            end = before.answered_at if before.answered_at is not None else before.expires_at
            assert after.offered_at >= end - eps, (
                f"work item {item_id}: offer {after.attempt} to agent {after.agent_id} at {after.offered_at} "
                f"overlaps offer {before.attempt} to agent {before.agent_id} ({before.offered_at}–{end})"
            )
        for offer in item_offers:
            if offer.outcome in ("accepted", "declined"):  # an answer after expiry would have been a 409
                assert offer.answered_at <= offer.expires_at + eps, offer

    items = rows(
        db,
        "SELECT w.id, w.conversation_id, w.status, w.agent_id, c.assignee_id, c.status AS conversation_status "
        "FROM work_items w JOIN conversations c ON c.id = w.conversation_id ORDER BY w.id",
    )
    active: dict[int, list[Any]] = {}
    for item in items:
        if item.status in ("queued", "offered", "assigned"):
            active.setdefault(item.conversation_id, []).append(item)
        if item.status == "assigned":
            assert item.agent_id is not None and item.assignee_id == item.agent_id, item
    for conversation_id, found in active.items():
        assert len(found) == 1, f"conversation {conversation_id} has {len(found)} active work items"
    routed = {item.conversation_id for item in items if item.status != "withdrawn"}
    missing = [c for c in conversations if c not in routed]
    assert not missing, f"conversations never routed: {missing}"
    assert any(o.offered_at > killed_at for o in offers), "the survivor made no offer"

