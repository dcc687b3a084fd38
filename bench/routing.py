#!/usr/bin/env python
"""Routing through the server: conversations in, offers out to agents, accepted, solved.

A fresh SQLite database and var dir, `helpline serve` on a free port, an admin from the CLI; then
through the API: one queue (the tenant's default, no wrap-up), N agents (default 50) with tokens,
each logged in with a WebSocket open (/ws, as the workspace does) and set available. Conversations
arrive at a fixed rate (open loop, POST /api/v1/conversations; a closed loop would let intake outrun
routing without limit, since routing follows intake through events and has no back-pressure);
each agent accepts an offer the moment its socket says ``offer.made`` (POST .../accept), then
solves the conversation (PATCH status=solved), which frees the slot for the next offer.

Measured, after a warm-up:

- offer latency: from sending POST /api/v1/conversations to the agent's socket frame saying the
  conversation is offered to them (p50/p99 ms); also the server's own arrival → offer time
  (``offers.offered_at − work_items.arrived_at``, from the database);
- accept round trip: POST /api/v1/routing/offers/{id}/accept (p50/p99 ms);
- routed items per second: offers accepted per second.

    .venv/bin/python bench/routing.py                    # 50 agents, 20 conversations/s, 20 s
    .venv/bin/python bench/routing.py --rate 40          # more: where does routing fall behind?
    .venv/bin/python bench/routing.py --profile py-spy   # + collapsed stacks of the server

Last line: ``p99_ms=… offer_p99_ms=… accept_p99_ms=… routed_per_s=…`` (p99_ms: the server's own
work item written → offer written). The issue's targets are for the
in-process core (bench/routing_core.py): decision p99 < 5 ms, ≥ 1,000 routed/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    PROFILES,
    HttpError,
    RawConnection,
    cli,
    create_admin,
    create_token,
    headline,
    loadavg,
    percentile,
    print_header,
    start_py_spy,
    start_server,
    system_busy_seconds,
    wait_until_quiet,
)

ADMIN_EMAIL = "bench-admin@example.com"
PASSWORD = "bench-password-123"


@dataclass
class Stats:
    measuring: bool = False
    stop: bool = False
    sent_at: dict[int, float] = field(default_factory=dict)  # conversation -> POST sent (measured ones)
    offered_at: dict[int, float] = field(default_factory=dict)  # conversation -> first offer frame seen
    accept_ms: list[float] = field(default_factory=list)
    solve_ms: list[float] = field(default_factory=list)
    frames: int = 0
    accepted_total: int = 0
    accepted: int = 0
    created: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, key: str, detail: bytes = b"") -> None:
        if key not in self.errors:
            print(f"   unexpected {key}: {detail[:300]!r}", file=sys.stderr)
        self.errors[key] = self.errors.get(key, 0) + 1


@dataclass
class Agent:
    user_id: int
    token: str
    cookie: str
    work: asyncio.Queue[int] = field(default_factory=asyncio.Queue)


def api(server_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, server_url + path, headers={"Authorization": f"Bearer {token}"}, json=body, timeout=30
    )
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


def set_up_floor(url: str, token: str, agents: int) -> list[Agent]:
    queue = api(url, token, "POST", "/api/v1/routing/queues",
                {"name": "Bench", "offer_timeout_seconds": 30, "wrap_up_seconds": 0})
    api(url, token, "PUT", "/api/v1/routing/settings", {"default_queue_id": queue["id"], "max_missed_offers": 1000})
    floor = []
    for i in range(agents):
        email = f"bench-agent{i}@example.com"
        user = api(url, token, "POST", "/api/v1/users",
                   {"email": email, "name": f"Agent {i}", "role": "agent", "password": PASSWORD})
        agent_token = api(url, token, "POST", "/api/v1/tokens", {"user_id": user["id"], "name": "bench"})["token"]
        login = httpx.post(url + "/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
        if login.status_code != 303:
            raise RuntimeError(f"login failed: {login.status_code} {login.text[:300]}")
        floor.append(Agent(user["id"], agent_token, f"helpline_session={login.cookies['helpline_session']}"))
    return floor


async def make_available(url: str, agent: Agent) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while True:
            response = await http.put(
                "/api/v1/routing/agents/me/state",
                headers={"Authorization": f"Bearer {agent.token}"},
                json={"state": "available"},
            )
            if response.status_code == 200:
                return
            if time.monotonic() > deadline:  # 404 while the engine reloads after the users were added
                raise RuntimeError(f"agent {agent.user_id} could not become available: {response.text[:300]}")
            await asyncio.sleep(0.2)


async def listen(url: str, agent: Agent, stats: Stats, ready: asyncio.Event) -> None:
    """The agent's socket: every ``offer.made`` for them is work to accept."""
    ws_url = url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, additional_headers={"Cookie": agent.cookie, "Origin": url}) as ws:
        ready.set()
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            # frames that queued up on the server arrive as one batch message
            for frame in message.get("frames", []) if message.get("type") == "batch" else [message]:
                if frame.get("type") == "routing" and frame.get("event") == "offer.made":
                    conversation_id = int(frame["conversation_id"])
                    stats.frames += 1
                    stats.offered_at.setdefault(conversation_id, now)
                    agent.work.put_nowait(conversation_id)


async def request(conn: RawConnection, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request; a keep-alive connection the server closed while idle is opened again once."""
    try:
        return await conn.request(method, path, body)
    except (OSError, asyncio.IncompleteReadError, HttpError):
        await conn.close()
        return await conn.request(method, path, body)


async def answer(host: str, port: int, agent: Agent, stats: Stats) -> None:
    conn = RawConnection(host, port, {"Authorization": f"Bearer {agent.token}", "Accept": "application/json"})
    solved = json.dumps({"status": "solved"}).encode()
    try:
        while not stats.stop:
            try:
                conversation_id = await asyncio.wait_for(agent.work.get(), 0.5)
            except TimeoutError:
                continue
            started = time.perf_counter()
            status, data = await request(conn, "POST", f"/api/v1/routing/offers/{conversation_id}/accept")
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                stats.error(f"accept HTTP {status}", data)
                continue
            stats.accepted_total += 1
            if stats.measuring:
                stats.accept_ms.append(elapsed)
                stats.accepted += 1
            started = time.perf_counter()
            status, data = await request(conn, "PATCH", f"/api/v1/conversations/{conversation_id}", solved)
            if stats.measuring:
                stats.solve_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                stats.error(f"solve HTTP {status}", data)
    finally:
        await conn.close()


async def create(host: str, port: int, token: str, stats: Stats, seq: list[int], interval: float) -> None:
    """Open loop: one conversation every ``interval`` seconds (if the server keeps up)."""
    conn = RawConnection(host, port, {"Authorization": f"Bearer {token}", "Accept": "application/json"})
    loop = asyncio.get_running_loop()
    due = loop.time() + interval * (seq[0] % 7) / 7  # spread the creators' phases
    try:
        while not stats.stop:
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            seq[0] += 1
            body = json.dumps(
                {
                    "contact": {"email": f"kunde{seq[0]}@example.com", "name": f"Kunde {seq[0]}"},
                    "subject": f"Anfrage {seq[0]}",
                    "message": {"body": "Guten Tag, meine Rechnung stimmt nicht. Bitte prüfen Sie das."},
                }
            ).encode()
            measuring = stats.measuring
            started = time.perf_counter()
            status, data = await request(conn, "POST", "/api/v1/conversations", body)
            if status != 201:
                stats.error(f"create HTTP {status}", data)
                await asyncio.sleep(0.05)
                continue
            if measuring and stats.measuring:
                stats.sent_at[int(json.loads(data)["id"])] = started
                stats.created += 1
    finally:
        await conn.close()


async def run(args: argparse.Namespace, url: str, host: str, port: int, token: str, floor: list[Agent],
              on_measure_start: Any) -> tuple[Stats, float]:
    stats = Stats()
    readies = [asyncio.Event() for _ in floor]
    listeners = [asyncio.create_task(listen(url, a, stats, r)) for a, r in zip(floor, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    await asyncio.gather(*(make_available(url, a) for a in floor))
    answerers = [asyncio.create_task(answer(host, port, a, stats)) for a in floor]
    seq = [0]
    interval = args.creators / args.rate
    creators = [asyncio.create_task(create(host, port, token, stats, seq, interval)) for _ in range(args.creators)]
    await asyncio.sleep(args.warmup)
    on_measure_start()
    stats.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(args.duration)
    stats.measuring = False
    elapsed = time.perf_counter() - started
    await asyncio.sleep(2.0)  # let the offers of the last measured conversations arrive
    stats.stop = True
    for task in [*creators, *answerers]:
        with contextlib.suppress(Exception):
            await task
    for task in listeners:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    return stats, elapsed


def server_side_offer_ms(database: Path, conversations: list[int]) -> list[float]:
    """arrival (written with the conversation) → first offer, as the server's clock saw it."""
    if not conversations:
        return []
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows = conn.execute(
            "SELECT w.conversation_id, MIN(o.offered_at) - w.arrived_at FROM work_items w "
            "JOIN offers o ON o.work_item_id = w.id GROUP BY w.id"
        ).fetchall()
    wanted = set(conversations)
    return [delay * 1000 for cid, delay in rows if cid in wanted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=50, help="agents with a socket open (default 50)")
    parser.add_argument("--rate", type=float, default=20.0, help="conversations per second offered (default 20)")
    parser.add_argument("--creators", type=int, default=4, help="connections the arrivals share (default 4)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (default 5)")
    parser.add_argument("--profile", choices=("py-spy", "py-spy-gil", "py-spy-idle"), default=None)
    parser.add_argument("--quiet-wait", type=float, default=120, help="wait for a quiet machine (default 120 s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()

    print_header(f"routing: {args.agents} agents, {args.rate:g} conversations/s, through `helpline serve`, SQLite")
    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-routing-"))
    database = var_dir / "helpline.db"
    database_url = f"sqlite:///{database}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    spy_out = PROFILES / f"routing-{stamp}.{args.profile}.txt"
    server = None
    spy = None
    cpu0 = [0.0, 0.0]
    try:
        cli(database_url, var_dir, "migrate")
        create_admin(database_url, var_dir, ADMIN_EMAIL, PASSWORD)
        token = create_token(database_url, var_dir, ADMIN_EMAIL)
        server = start_server(database_url, var_dir)
        print(f"   server pid {server.pid} at {server.url}; database {database_url}")
        floor = set_up_floor(server.url, token, args.agents)
        wait_until_quiet(args.quiet_wait)

        def measure_start() -> None:
            nonlocal spy
            assert server is not None
            cpu0[0] = server.cpu_seconds()
            cpu0[1] = system_busy_seconds()
            if args.profile:
                spy = start_py_spy(server.pid, spy_out, args.duration, args.profile)

        stats, elapsed = asyncio.run(run(args, server.url, server.host, server.port, token, floor, measure_start))
        server_cpu = server.cpu_seconds() - cpu0[0]
        system_cpu = system_busy_seconds() - cpu0[1]
        if spy is not None:
            spy.wait(60)
        server_ms = server_side_offer_ms(database, list(stats.sent_at))
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"   kept {var_dir}")

    offer_ms = [
        (stats.offered_at[cid] - sent) * 1000 for cid, sent in stats.sent_at.items() if cid in stats.offered_at
    ]
    unseen = len(stats.sent_at) - len(offer_ms)
    rate = stats.accepted / elapsed if elapsed else 0.0
    offer_p50, offer_p99 = percentile(offer_ms, 50), percentile(offer_ms, 99)
    accept_p50, accept_p99 = percentile(stats.accept_ms, 50), percentile(stats.accept_ms, 99)
    print(
        f"   measured {elapsed:.1f} s after {args.warmup:.0f} s warm-up: {stats.created} conversations created, "
        f"{stats.accepted} offers accepted; {unseen} created without an offer seen; errors {stats.errors or 0}"
    )
    print(
        f"   offer latency (POST sent → agent's socket frame) ms: p50 {offer_p50:.1f}  p90 "
        f"{percentile(offer_ms, 90):.1f}  p99 {offer_p99:.1f}  max {max(offer_ms, default=float('nan')):.1f}"
    )
    print(
        f"   of which in the server (work item written → offer written) ms: p50 {percentile(server_ms, 50):.1f}  "
        f"p99 {percentile(server_ms, 99):.1f}"
    )
    print(
        f"   accept round trip ms: p50 {accept_p50:.1f}  p99 {accept_p99:.1f}; then solving (PATCH) p50 "
        f"{percentile(stats.solve_ms, 50):.1f}  p99 {percentile(stats.solve_ms, 99):.1f}; "
        f"{stats.frames} offer frames and {stats.accepted_total} accepts over the whole run"
    )
    print(
        f"   CPU: server {100 * server_cpu / elapsed:.0f}% of one core, all processes "
        f"{100 * system_cpu / elapsed:.0f}% (of {100 * len(os.sched_getaffinity(0)):.0f}%); "
        f"load average {loadavg()}"
    )
    if args.profile:
        print(f"   py-spy stacks: {spy_out}  (summary: .venv/bin/python bench/profile_summary.py {spy_out})")
    # p99_ms: the server's own arrival → offer time (the "decision time through the server").
    print(
        headline(
            p99_ms=percentile(server_ms, 99),
            offer_p99_ms=offer_p99,
            accept_p99_ms=accept_p99,
            routed_per_s=rate,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
