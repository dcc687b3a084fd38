#!/usr/bin/env python
"""Live chat sockets: idle visitor connections per process (and their memory), and agent → visitor
delivery latency, end to end through the API, the database and the event bus.

A fresh SQLite database (or ``--database-url``), `helpline serve` on a free port, an admin and a
token from the CLI, one chat channel. Then:

1. **Idle**: ``--idle`` visitor sockets connect, each says ``hello`` with its own visitor token
   (issued by ``POST /widget/v1/channels/{key}/sessions``) and stays open; the server's RSS is read
   from ``/proc`` once they are all welcomed.
2. **Active**: ``--chats`` of those visitors each write a first message (a chat conversation);
   then agents answer through ``POST /api/v1/conversations/{id}/messages`` (``--replies`` per chat),
   open loop at ``--rate`` replies per second (Poisson arrivals; default 50/s: each of 1,000 chats
   answered about every 20 s). Latency is from just before the agent's POST is sent to the moment the
   visitor's socket has the ``message`` frame.

    .venv/bin/python bench/chat_ws.py                          # the issue's figures (10,000 idle, 1,000 chats)
    .venv/bin/python bench/chat_ws.py --idle 1000 --chats 100  # a quick look

Last line: ``idle_connections=… idle_rss_mb=… deliver_p99_ms=…`` (targets: 10,000 idle under 1 GB RSS,
p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import websockets
from _harness import (
    PROFILES,
    cli,
    create_admin,
    create_token,
    headline,
    percentile,
    print_header,
    proc_cpu_seconds,
    rss_mb,
    start_py_spy,
    start_server,
)

ORIGIN = "http://bench.chat.example"
ADMIN_EMAIL = "bench-chat@example.com"
ADMIN_PASSWORD = "bench-password-123"
TARGET_IDLE = 10_000
TARGET_RSS_MB = 1024
TARGET_P99_MS = 100
# 1,000 active chats, each answered by its agent about every 20 s (agents read and type): 50 replies/s.
DEFAULT_RATE = 50.0


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class Visitor:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.ws: Any = None
        self.waiting: dict[str, asyncio.Future[float]] = {}  # text -> arrival time
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, origin=ORIGIN, compression=None,  # type: ignore[arg-type]
                                           max_queue=64, open_timeout=60, ping_interval=None)
        await self.ws.send(json.dumps({"type": "hello", "token": self.token, "after": 0}))
        while json.loads(await self.ws.recv()).get("type") != "welcome":
            pass

    def listen(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame.get("type") == "message":
                    waiter = self.waiting.pop(frame.get("text", ""), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(time.perf_counter())
        except websockets.ConnectionClosed:
            pass

    async def say(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "message", "client_id": text[-60:], "text": text}))


async def new_tokens(http: httpx.AsyncClient, key: str, count: int, concurrency: int = 16) -> list[str]:
    tokens: list[str] = []
    lock = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with lock:
            answer = await http.post(f"/widget/v1/channels/{key}/sessions", json={}, headers={"Origin": ORIGIN})
            answer.raise_for_status()
            tokens.append(answer.json()["token"])

    await asyncio.gather(*(one() for _ in range(count)))
    return tokens


async def connect_all(visitors: list[Visitor], concurrency: int = 64) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(visitor: Visitor) -> None:
        async with gate:
            await visitor.connect()

    await asyncio.gather(*(one(v) for v in visitors))


async def chat_ids(http: httpx.AsyncClient, token: str, count: int) -> dict[str, int]:
    """Subject ("bench chat 17") -> conversation id, once all ``count`` chats exist."""
    found: dict[str, int] = {}
    deadline = time.monotonic() + 120
    while len(found) < count and time.monotonic() < deadline:
        found.clear()
        cursor = None
        while True:
            params: dict[str, Any] = {"channel": "chat", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = (await http.get("/api/v1/conversations", params=params,
                                   headers={"Authorization": f"Bearer {token}"})).json()
            found.update({c["subject"]: c["id"] for c in page["items"]})
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if len(found) < count:
            await asyncio.sleep(0.5)
    return found


async def run(args: argparse.Namespace, url: str, pid: int, api_token: str, key: str) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + f"/widget/v1/ws?channel={key}"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        base_rss = rss_mb(pid)
        started = time.monotonic()
        tokens = await new_tokens(http, key, args.idle)
        print(f"   {len(tokens)} visitor tokens in {time.monotonic() - started:.1f} s", flush=True)
        visitors = [Visitor(ws_url, t) for t in tokens]
        started = time.monotonic()
        await connect_all(visitors)
        # This client holds 10,000 sockets too: its own full collections (0.3-1.2 s each, measured)
        # would count as delivery time. Its long-lived objects are frozen, as the server does its own.
        gc.collect()
        gc.freeze()
        await asyncio.sleep(2)  # let the server settle before reading its memory
        idle_rss = rss_mb(pid)
        print(f"   {len(visitors)} sockets welcomed in {time.monotonic() - started:.1f} s; server RSS "
              f"{base_rss:.0f} MB before, {idle_rss:.0f} MB with them", flush=True)

        chats = visitors[: args.chats]
        for visitor in chats:
            visitor.listen()
        for i, visitor in enumerate(chats):
            await visitor.say(f"bench chat {i}")
        ids = await chat_ids(http, api_token, len(chats))
        print(f"   {len(ids)} chat conversations open", flush=True)
        latencies: list[float] = []
        work = [(chats[i], ids[f"bench chat {i}"], f"answer {round_} to chat {i}")
                for round_ in range(args.replies) for i in range(len(chats)) if f"bench chat {i}" in ids]
        random.Random(7).shuffle(work)
        headers = {"Authorization": f"Bearer {api_token}"}

        async def reply(visitor: Visitor, conversation_id: int, text: str) -> None:
            arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            visitor.waiting[text] = arrived
            sent = time.perf_counter()
            answer = await http.post(f"/api/v1/conversations/{conversation_id}/messages", headers=headers,
                                     json={"body": text, "direction": "outbound"})
            answer.raise_for_status()
            try:
                latencies.append((await asyncio.wait_for(arrived, 10) - sent) * 1000)
            except TimeoutError:
                latencies.append(10_000.0)  # lost: counts as 10 s

        # Open loop: replies arrive at --rate per second (Poisson), whether or not earlier ones are done,
        # as agents' replies do; a closed loop would only measure how long a queue of our own making is.
        arrivals = random.Random(11)
        spy = None
        if args.profile:
            spy_out = PROFILES / f"chat-replies-{int(time.time())}.{args.profile}.txt"
            spy = start_py_spy(pid, spy_out, len(work) / args.rate, args.profile)
            print(f"   py-spy stacks: {spy_out}  (summary: .venv/bin/python bench/profile_summary.py {spy_out})")
        cpu_before = proc_cpu_seconds(pid)
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        due = started
        for visitor, conversation_id, text in work:
            due += arrivals.expovariate(args.rate)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(reply(visitor, conversation_id, text)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        cpu_ms_per_reply = (proc_cpu_seconds(pid) - cpu_before) * 1000 / max(1, len(work))
        if spy is not None:
            spy.wait()
        for visitor in visitors:
            if visitor.reader is not None:
                visitor.reader.cancel()
        await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)
    return {
        "idle": len(visitors), "idle_rss": idle_rss, "base_rss": base_rss, "latencies": latencies,
        "replies_per_s": len(latencies) / elapsed if elapsed else 0.0, "cpu_ms_per_reply": cpu_ms_per_reply,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=TARGET_IDLE, help="visitor sockets held open")
    parser.add_argument("--chats", type=int, default=1000, help="of those, visitors who chat")
    parser.add_argument("--replies", type=int, default=3, help="agent replies per chat")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE,
                        help="agent replies per second, all chats together (open loop, Poisson arrivals)")
    parser.add_argument("--profile", choices=["py-spy", "py-spy-gil", "py-spy-idle"], default="",
                        help="sample the server with py-spy while the agents reply")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    args.chats = min(args.chats, args.idle)
    raise_fd_limit(args.idle * 2 + 1000)
    print_header("chat_ws: idle visitor sockets and agent → visitor delivery")
    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-chat-"))
    database_url = args.database_url or f"sqlite:///{var_dir / 'bench.db'}"
    try:
        cli(database_url, var_dir, "migrate")
        create_admin(database_url, var_dir, ADMIN_EMAIL, ADMIN_PASSWORD)
        token = create_token(database_url, var_dir, ADMIN_EMAIL)
        os.environ["HELPLINE_FORM_POSTS_PER_MINUTE"] = str(max(1000, args.idle * 2))  # one address asks for all
        server = start_server(database_url, var_dir)
        try:
            created = httpx.post(server.url + "/api/v1/chat-channels", headers={"Authorization": f"Bearer {token}"},
                                 json={"name": "Bench", "allowed_origins": [ORIGIN]}, timeout=30)
            created.raise_for_status()
            result = asyncio.run(run(args, server.url, server.pid, token, created.json()["public_key"]))
        finally:
            server.stop()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    lat = result["latencies"]
    print(f"   delivery: {len(lat)} replies offered at {args.rate:.0f}/s, done at {result['replies_per_s']:.0f}/s, "
          f"{result['cpu_ms_per_reply']:.1f} ms server CPU each; p50 {percentile(lat, 50):.1f} ms, "
          f"p99 {percentile(lat, 99):.1f} ms, max {max(lat) if lat else float('nan'):.1f} ms")
    print(f"   targets: {TARGET_IDLE} idle under {TARGET_RSS_MB} MB RSS; p99 < {TARGET_P99_MS} ms")
    print(headline(idle_connections=result["idle"], idle_rss_mb=float(result["idle_rss"]),
                   deliver_p99_ms=float(percentile(lat, 99))))


if __name__ == "__main__":
    main()
