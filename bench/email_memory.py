#!/usr/bin/env python
"""Server memory while 100,000 emails arrive through Helpline's own SMTP listener.

A fresh SQLite database and var dir, `helpline serve` with its SMTP listener on a free port, an
admin, an API token and a support mailbox; then N typical ~20 KB messages (text + HTML, English,
German, Hungarian; about a third from returning senders, half of those answering their earlier
mail) go in over several long-lived SMTP connections. The server's resident memory (VmRSS) is
sampled every few seconds. At the end every accepted mail is checked to be stored.

    .venv/bin/python bench/email_memory.py                     # 100,000 messages, 8 connections
    .venv/bin/python bench/email_memory.py --messages 5000     # a quick look
    .venv/bin/python bench/email_memory.py --tracemalloc 20    # + where the growth is (slower)
    .venv/bin/python bench/email_memory.py --queue-max 0       # no queue cap: the routing engine holds every mail

Nobody answers the mails, so the default queue is capped at ``--queue-max`` waiting items (1,000):
later conversations stay in the inbox unrouted, as when a real queue is full.

``--tracemalloc N``: the server traces allocations (N frames) and, on a signal from here, writes
a snapshot after the warm-up and one at the end; the biggest differences are printed.

Last line: ``messages=… rss_start_mb=… rss_end_mb=… rss_peak_mb=… msgs_per_s=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    cli,
    create_admin,
    create_token,
    free_port,
    headline,
    loadavg,
    print_header,
    rss_mb,
    start_server,
)
from _text import TextGen

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-123"
SUPPORT = "support@bench-helpline.com"
TLDS = ("com", "de", "hu", "at", "co.uk")
POOL = 300  # distinct bodies; headers (sender, Message-ID, threading) are new for every message
WARMUP_SHARE = 0.1  # growth is judged after the caches have filled

# Written into the var dir and put on the server's PYTHONPATH when --tracemalloc is asked for:
# Python imports `sitecustomize` at start-up, so the server traces without any change to the app.
SITECUSTOMIZE = '''
import os, signal, tracemalloc
_out = os.environ.get("BENCH_TRACEMALLOC_DIR")
if _out:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "20")))
    _n = [0]
    def _dump(_sig, _frame):
        _n[0] += 1
        tracemalloc.take_snapshot().dump(os.path.join(_out, "snapshot-%d.bin" % _n[0]))
        open(os.path.join(_out, "snapshot-%d.done" % _n[0]), "w").close()
    signal.signal(signal.SIGUSR1, _dump)
'''


# --- the mail ----------------------------------------------------------------------------------


def body_pool(seed: int, size: int) -> list[tuple[str, bytes]]:
    """(subject, MIME body with its Content-* headers) of POOL typical messages."""
    gen = TextGen(seed)
    pool = []
    for _ in range(POOL):
        lang = gen.language()
        text = gen.body(lang, max(500, size // 3))
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n") if p.strip())
        html = (
            '<html><head><meta charset="utf-8"><style>p{font-family:Arial;font-size:11pt}</style></head>'
            f'<body><div class="WordSection1">{paragraphs}</div><div><p>--<br>+49 30 1234567</p></div></body></html>'
        )
        msg = EmailMessage()
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        pool.append((gen.subject(lang), msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))
    return pool


@dataclass
class Mail:
    sender: str
    raw: bytes


class Mailer:
    """Typical mail, made as it is sent (100,000 messages of 20 KB would not fit in memory at once)."""

    def __init__(self, seed: int, size: int, returning_share: float = 0.35) -> None:
        self.gen = TextGen(seed + 1)
        self.rng = random.Random(seed)
        self.pool = body_pool(seed, size)
        self.returning_share = returning_share
        self.known: list[tuple[str, str, str]] = []  # (address, name, last Message-ID)

    def mail(self, index: int) -> Mail:
        rng = self.rng
        in_reply_to = ""
        if self.known and rng.random() < self.returning_share:
            slot = rng.randrange(len(self.known))
            address, name, previous = self.known[slot]
            if rng.random() < 0.5:
                in_reply_to = previous
        else:
            lang = self.gen.language()
            name = self.gen.name(lang)
            local = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() or "customer"
            address, slot = f"{local}.{index}@example.{rng.choice(TLDS)}", len(self.known)
            self.known.append((address, name, ""))
        message_id = f"<mem.{index}.{rng.getrandbits(48):x}@{address.rsplit('@', 1)[1]}>"
        self.known[slot] = (address, name, message_id)
        subject, body = self.pool[index % POOL]
        now = format_datetime(datetime.now(UTC))
        head = [
            *(
                f"Received: from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop + 10}]) by "
                f"mx.bench-helpline.com with ESMTPS id {index:08x}{hop}; {now}"
                for hop in range(3)
            ),
            f"From: {name} <{address}>",
            f"To: {SUPPORT}",
            f"Subject: {'Re: ' if in_reply_to else ''}{subject}",
            f"Date: {now}",
            f"Message-ID: {message_id}",
            *([f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"] if in_reply_to else []),
            "X-Mailer: Microsoft Outlook 16.0",
        ]
        return Mail(address, "\r\n".join(head).encode("utf-8") + b"\r\n" + body)


# --- sending -----------------------------------------------------------------------------------


@dataclass
class Run:
    mailer: Mailer
    total: int
    next_index: int = 0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def take(self) -> Mail | None:
        if self.next_index >= self.total:
            return None
        self.next_index += 1
        return self.mailer.mail(self.next_index - 1)


async def smtp_client(run: Run, port: int) -> None:
    """One long-lived SMTP connection, sending until the run is done (reconnecting after an error)."""
    import aiosmtplib

    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
    await smtp.connect()
    try:
        while (mail := run.take()) is not None:
            try:
                await smtp.sendmail(mail.sender, [SUPPORT], mail.raw)
            except aiosmtplib.SMTPException as exc:
                key = f"{type(exc).__name__}: {str(exc)[:80]}"
                run.errors[key] = run.errors.get(key, 0) + 1
                if smtp.is_connected:
                    smtp.close()
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
                await smtp.connect()
                continue
            run.accepted += 1
    finally:
        if smtp.is_connected:
            await smtp.quit()


async def send_all(run: Run, port: int, clients: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(smtp_client(run, port) for _ in range(clients)))
    return time.perf_counter() - started


# --- measuring ---------------------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and its parts (RssAnon: the heap; RssFile, RssShmem: mapped files such as SQLite's -shm)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0]) / 1024
    return out


@dataclass
class Sampler:
    """VmRSS of the server every ``every`` seconds, with how many mails were accepted by then."""

    pid: int
    run: Run
    every: float
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (seconds, accepted, MB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample(show=True)

    def sample(self, show: bool = False) -> float:
        mb = rss_mb(self.pid)
        self.samples.append((time.perf_counter() - self._started, self.run.accepted, mb))
        if show:
            seconds, accepted, _ = self.samples[-1]
            print(f"   {seconds:7.0f} s  {accepted:7d} accepted  RSS {mb:7.1f} MB")
            sys.stdout.flush()
        return mb

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak(self) -> float:
        return max((mb for _s, _a, mb in self.samples), default=float("nan"))

    def growth_per_10k(self, after: int) -> float:
        """Least-squares slope of RSS over accepted mail, after the warm-up: MB per 10,000 mails."""
        points = [(a, mb) for _s, a, mb in self.samples if a >= after]
        if len(points) < 3:
            return float("nan")
        n = len(points)
        mean_a = sum(a for a, _ in points) / n
        mean_m = sum(m for _, m in points) / n
        var = sum((a - mean_a) ** 2 for a, _ in points)
        if var == 0:
            return float("nan")
        return 10_000 * sum((a - mean_a) * (m - mean_m) for a, m in points) / var


def stored_count(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM email_messages WHERE direction = 'inbound'").fetchone()[0])


# --- tracemalloc -------------------------------------------------------------------------------


def snapshot(pid: int, out: Path, number: int, timeout: float = 600) -> Path:
    """Ask the traced server for a snapshot and wait until it is written."""
    os.kill(pid, signal.SIGUSR1)
    done = out / f"snapshot-{number}.done"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server wrote no tracemalloc snapshot (started with --tracemalloc?)")
        time.sleep(0.5)
    return out / f"snapshot-{number}.bin"


def print_growth(first: Path, last: Path, top: int = 15) -> None:
    import tracemalloc

    before, after = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    total = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    print(f"   tracemalloc: traced memory grew {total / 1e6:+.1f} MB between the snapshots; biggest growth:")
    for stat in after.compare_to(before, "traceback")[:top]:
        frames = [f for f in stat.traceback if "site-packages" not in f.filename and "/lib/python3" not in f.filename]
        where = frames[-1] if frames else stat.traceback[-1]
        deepest = stat.traceback[-1]
        print(f"     {stat.size_diff / 1e6:+8.2f} MB {stat.count_diff:+8d} blocks  {where.filename}:{where.lineno}"
              f"  (allocated in {Path(deepest.filename).name}:{deepest.lineno})")


# --- main --------------------------------------------------------------------------------------


def cap_waiting_items(url: str, token: str, limit: int) -> None:
    """Give the tenant's queues a maximum size: a conversation that finds its queue full stays in the
    inbox unrouted (every mail is still stored and shown), so the engine's memory stays bounded."""
    headers = {"Authorization": f"Bearer {token}"}
    queues = httpx.get(url + "/api/v1/routing/queues", headers=headers, timeout=60)
    queues.raise_for_status()
    for queue in queues.json():
        httpx.patch(url + f"/api/v1/routing/queues/{queue['id']}", headers=headers, json={"max_size": limit},
                    timeout=60).raise_for_status()
    print(f"   {len(queues.json())} queue(s) capped at {limit} waiting items")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="messages to send (default 100,000)")
    parser.add_argument("--size", type=int, default=20_000, help="typical message size in bytes (default 20 KB)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SMTP connections (default 8)")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling interval (default 5 s)")
    parser.add_argument("--settle-seconds", type=float, default=10.0, help="wait before the last RSS sample")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace the server's allocations (frames per trace; slows it down)")
    parser.add_argument("--queue-max", type=int, default=1000, metavar="N",
                        help="the default queue holds at most N waiting items (default 1,000; 0: no limit). "
                             "Nobody answers in this bench: without a cap the routing engine keeps all "
                             "100,000 conversations waiting in memory (about 1 KB each)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()

    print_header(f"email_memory: {args.messages} messages into the SMTP listener, {args.clients} connections, SQLite")
    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-memory-"))
    database = var_dir / "helpline.db"
    database_url = f"sqlite:///{database}"
    smtp_port = free_port()
    traces = var_dir / "tracemalloc"
    server = None
    sampler: Sampler | None = None
    try:
        cli(database_url, var_dir, "migrate")
        create_admin(database_url, var_dir, ADMIN_EMAIL, ADMIN_PASSWORD)
        token = create_token(database_url, var_dir, ADMIN_EMAIL)
        env_before = dict(os.environ)
        os.environ["HELPLINE_SMTP_PORT"] = str(smtp_port)  # the harness passes our environment on
        if args.tracemalloc:
            traces.mkdir()
            (var_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(var_dir), os.environ.get("PYTHONPATH")]))
            os.environ["BENCH_TRACEMALLOC_DIR"] = str(traces)
            os.environ["BENCH_TRACEMALLOC_FRAMES"] = str(args.tracemalloc)
        try:
            # Tracing makes every import slow: the server needs far longer to come up.
            server = start_server(database_url, var_dir, timeout=600 if args.tracemalloc else 60)
        finally:
            os.environ.clear()
            os.environ.update(env_before)
        httpx.post(
            server.url + "/api/v1/mailboxes",
            headers={"Authorization": f"Bearer {token}"},
            json={"address": SUPPORT, "sender_rate_limit_per_hour": 0},
            timeout=120,
        ).raise_for_status()
        if args.queue_max:
            cap_waiting_items(server.url, token, args.queue_max)
        print(f"   server pid {server.pid} at {server.url}, SMTP on 127.0.0.1:{smtp_port}; {database}")

        run = Run(Mailer(args.seed, args.size), args.messages)
        sampler = Sampler(server.pid, run, args.sample_seconds)
        sampler.start()
        rss_start = sampler.sample()
        print("   before the first mail: " + ", ".join(f"{k} {v:.1f} MB" for k, v in memory_mb(server.pid).items()))
        warmup = max(1, int(args.messages * WARMUP_SHARE))
        first_snapshot = None
        if args.tracemalloc:
            # Warm up first, so the snapshots compare steady state, not caches filling.
            warm = Run(run.mailer, warmup)
            asyncio.run(send_all(warm, smtp_port, args.clients))
            first_snapshot = snapshot(server.pid, traces, 1)
            run.total -= warmup
            run.accepted = 0
            print(f"   warm-up: {warm.accepted} messages; first snapshot taken")
        elapsed = asyncio.run(send_all(run, smtp_port, args.clients))
        if args.tracemalloc:
            run.accepted += warmup
        rate = run.accepted / elapsed if elapsed else 0.0
        time.sleep(args.settle_seconds)  # let the outbox and the sweeper go quiet
        sampler.stop()
        rss_end = sampler.sample(show=True)
        stored = stored_count(database)
        growth = sampler.growth_per_10k(after=warmup)
        print(f"   accepted {run.accepted}/{args.messages} in {elapsed:.1f} s = {rate:.0f} msgs/s; "
              f"errors {run.errors or 0}; stored {stored}; load average {loadavg()}")
        print(f"   RSS: start {rss_start:.1f} MB, end {rss_end:.1f} MB, peak {sampler.peak:.1f} MB; "
              f"after the first {warmup} messages it grows {growth:+.1f} MB per 10,000")
        parts = memory_mb(server.pid)
        print("   at the end: " + ", ".join(f"{k} {v:.1f} MB" for k, v in parts.items()))
        if args.tracemalloc and first_snapshot is not None:
            print_growth(first_snapshot, snapshot(server.pid, traces, 2))
        if stored < run.accepted:
            print(f"   WARNING: {run.accepted - stored} accepted messages are not stored")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"   kept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    if sampler is None:
        return 1
    print(headline(messages=run.accepted, rss_start_mb=rss_start, rss_end_mb=rss_end,
                   rss_peak_mb=sampler.peak, msgs_per_s=rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
