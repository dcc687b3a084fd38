#!/usr/bin/env python
"""Ingest throughput: conversations created per second through POST /api/v1/conversations.

A fresh SQLite database and var dir, `helpline serve` on a free port, an admin and an API token
from the CLI; then 50 concurrent clients (closed loop: each sends its next request as soon as the
last one is answered) post conversations with ~1 KB multilingual bodies, about half of them from
customers whose email is already known. A warm-up runs first and is not counted.

    .venv/bin/python bench/api_ingest.py                 # the issue's figure (50 clients, 30 s)
    .venv/bin/python bench/api_ingest.py --duration 5    # a quick look
    .venv/bin/python bench/api_ingest.py --profile py-spy   # + collapsed stacks of the server

Last line: ``created_per_s=… p50_ms=… p99_ms=…`` (targets: ≥ 500/s, p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    PROFILES,
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
from _text import TextGen

TARGET_PER_S = 500
TARGET_P99_MS = 100
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-123"
TLDS = ("com", "de", "hu", "at", "co.uk")


@dataclass
class Load:
    """Shared state of the clients: the known customers and the measurements."""

    gen: TextGen
    returning_share: float
    body_chars: int
    known: list[tuple[str, str, str]] = field(default_factory=list)  # (email, name, lang)
    next_customer: int = 0
    measuring: bool = False
    stop: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    created: int = 0
    returning_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def next_body(self) -> tuple[bytes, tuple[str, str, str], bool]:
        rng = self.gen.rng
        returning = bool(self.known) and rng.random() < self.returning_share
        if returning:
            who = rng.choice(self.known)
        else:
            self.next_customer += 1
            lang = self.gen.language()
            name = self.gen.name(lang)
            local = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() or "customer"
            who = (f"{local}.{self.next_customer}@example.{rng.choice(TLDS)}", name, lang)
        email, name, lang = who
        # ~1 KB of text: vary a little around the target like real mail does.
        chars = max(200, int(rng.gauss(self.body_chars, self.body_chars * 0.15)))
        payload = {
            "contact": {"email": email, "name": name},
            "subject": self.gen.subject(lang),
            "message": {"body": self.gen.body(lang, chars)[: self.body_chars * 2]},
        }
        return json.dumps(payload, ensure_ascii=False).encode(), who, returning


async def client(load: Load, host: str, port: int, token: str) -> None:
    conn = RawConnection(host, port, {"Authorization": f"Bearer {token}", "Accept": "application/json"})
    await conn.connect()
    try:
        while not load.stop:
            body, who, returning = load.next_body()
            started = time.perf_counter()
            try:
                status, data = await conn.request("POST", "/api/v1/conversations", body)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                key = type(exc).__name__
                load.errors[key] = load.errors.get(key, 0) + 1
                await conn.close()
                await asyncio.sleep(0.05)
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            if status == 201:
                if not returning:
                    load.known.append(who)
                if load.measuring:
                    load.created += 1
                    load.latencies_ms.append(elapsed_ms)
                    load.returning_sent += returning
            else:
                key = f"HTTP {status}"
                if key not in load.errors:
                    print(f"   unexpected {key}: {data[:300]!r}", file=sys.stderr)
                load.errors[key] = load.errors.get(key, 0) + 1
    finally:
        await conn.close()


async def run_load(
    host: str,
    port: int,
    token: str,
    load: Load,
    clients: int,
    warmup: float,
    duration: float,
    on_measure_start: object = None,
) -> tuple[float, float, float]:
    """Warm up, then measure; returns (elapsed seconds, client CPU seconds, server CPU seconds)."""
    tasks = [asyncio.create_task(client(load, host, port, token)) for _ in range(clients)]
    await asyncio.sleep(warmup)
    if callable(on_measure_start):
        on_measure_start()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    load.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(duration)
    load.measuring = False
    elapsed = time.perf_counter() - started
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    load.stop = True
    await asyncio.gather(*tasks, return_exceptions=True)
    client_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    return elapsed, client_cpu, 0.0


def report_lock_stats(path: Path) -> None:
    data = json.loads(path.read_text())
    holds = [h * 1000 for h in data["hold_s"]]
    waits = [w * 1000 for w in data["wait_s"]]
    if not holds:
        return
    stmts = data["statements"]
    cpu = [c * 1000 for c in data.get("hold_cpu_s", [])]
    mean_hold = sum(holds) / len(holds)
    print(
        f"   write lock over {len(holds)} transactions: held p50 {percentile(holds, 50):.2f} ms, "
        f"p99 {percentile(holds, 99):.2f} ms, mean {mean_hold:.2f} ms (=> at most {1000 / mean_hold:.0f} writes/s)"
        + (f", of which the event-loop thread's CPU {sum(cpu) / len(cpu):.2f} ms" if cpu else "")
        + f"; waited p50 {percentile(waits, 50):.1f} ms, p99 {percentile(waits, 99):.1f} ms; "
        f"statements per transaction mean {sum(stmts) / len(stmts):.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (default 5)")
    parser.add_argument("--body-chars", type=int, default=1000, help="message body size (default ~1000)")
    parser.add_argument("--returning", type=float, default=0.5, help="share of known customers (default 0.5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        choices=("py-spy", "py-spy-gil", "py-spy-idle", "pyinstrument"),
        default=None,
        help="profile the server during the measured period (costs some throughput)",
    )
    parser.add_argument(
        "--lock-stats",
        action="store_true",
        help="diagnosis: time the SQLite write lock (waits, holds, statements per transaction)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="diagnosis: run the server with sys.setswitchinterval(SECONDS)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180,
        help="wait up to this many seconds for other processes to go quiet (default 180)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()

    print_header(f"api_ingest: POST /api/v1/conversations, {args.clients} clients, SQLite")
    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-ingest-"))
    database_url = f"sqlite:///{var_dir / 'helpline.db'}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    pyinstrument_out = PROFILES / f"ingest-{stamp}.pyinstrument.txt" if args.profile == "pyinstrument" else None
    server = None
    try:
        cli(database_url, var_dir, "migrate")
        create_admin(database_url, var_dir, ADMIN_EMAIL, ADMIN_PASSWORD)
        token = create_token(database_url, var_dir, ADMIN_EMAIL)
        instrument: dict[str, str] = {}
        lock_stats = var_dir / "lock-stats.json"
        if args.lock_stats:
            instrument["BENCH_LOCK_STATS"] = str(lock_stats)
        if args.switch_interval is not None:
            instrument["BENCH_SWITCH_INTERVAL"] = str(args.switch_interval)
        server = start_server(database_url, var_dir, pyinstrument_out=pyinstrument_out, instrument=instrument)
        print(f"   server pid {server.pid} at {server.url}; database {database_url}")
        wait_until_quiet(args.quiet_wait)

        load = Load(TextGen(args.seed), args.returning, args.body_chars)
        spy = None
        spy_out = PROFILES / f"ingest-{stamp}.{args.profile}.txt"
        cpu0 = [0.0, 0.0]

        def measure_start() -> None:
            nonlocal spy
            cpu0[0] = server.cpu_seconds()
            cpu0[1] = system_busy_seconds()
            if args.profile and args.profile.startswith("py-spy"):
                spy = start_py_spy(server.pid, spy_out, args.duration, args.profile)

        elapsed, client_cpu, _ = asyncio.run(
            run_load(server.host, server.port, token, load, args.clients, args.warmup, args.duration, measure_start)
        )
        server_cpu = server.cpu_seconds() - cpu0[0]
        system_cpu = system_busy_seconds() - cpu0[1]
        if spy is not None:
            spy.wait(60)
    finally:
        if server is not None:
            server.stop()
        if args.lock_stats and lock_stats.exists():
            report_lock_stats(lock_stats)
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"   kept {var_dir}")

    rate = load.created / elapsed if elapsed else 0.0
    p50 = percentile(load.latencies_ms, 50)
    p90 = percentile(load.latencies_ms, 90)
    p99 = percentile(load.latencies_ms, 99)
    pmax = max(load.latencies_ms) if load.latencies_ms else float("nan")
    returning_pct = 100 * load.returning_sent / load.created if load.created else 0.0
    print(
        f"   measured {elapsed:.1f} s after {args.warmup:.0f} s warm-up: {load.created} conversations created "
        f"({returning_pct:.0f}% returning customers), errors {load.errors or 0}"
    )
    print(f"   latency ms: p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {pmax:.1f}")
    print(
        f"   CPU: server {100 * server_cpu / elapsed:.0f}% of one core, "
        f"load generator {100 * client_cpu / elapsed:.0f}%, other processes "
        f"{100 * max(0.0, system_cpu - server_cpu - client_cpu) / elapsed:.0f}% (of 200%); load average {loadavg()}"
    )
    ok_rate, ok_p99 = rate >= TARGET_PER_S, p99 < TARGET_P99_MS
    print(
        f"   target ≥ {TARGET_PER_S}/s: {'met' if ok_rate else f'MISSED ({rate / TARGET_PER_S:.0%} of target)'}; "
        f"p99 < {TARGET_P99_MS} ms: {'met' if ok_p99 else f'MISSED ({p99 / TARGET_P99_MS:.1f}x the limit)'}"
    )
    if args.profile and args.profile.startswith("py-spy"):
        print(f"   py-spy stacks: {spy_out}  (summary: .venv/bin/python bench/profile_summary.py {spy_out})")
    if pyinstrument_out is not None:
        print(f"   pyinstrument report: {pyinstrument_out}")
    print(headline(created_per_s=rate, p50_ms=p50, p99_ms=p99))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
