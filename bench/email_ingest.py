#!/usr/bin/env python
"""Email ingest throughput through Helpline's own SMTP listener, end to end.

A fresh SQLite database and var dir, `helpline serve` on a free HTTP port and a free SMTP port,
an admin, an API token and a support mailbox; then N typical ~20 KB messages (text + HTML
alternative, multilingual, about a third from senders already known) are sent by several
concurrent aiosmtplib clients, each on its own SMTP connection. The listener answers 250 only
after the commit, so a message is accepted → parsed → stored → visible when its 250 arrives;
the run ends when every message is visible through GET /api/v1/conversations (checked by
paging through them all). Then a second run with 2 MB attachments.

    .venv/bin/python bench/email_ingest.py                   # 3,000 messages, 8 clients + 60 with 2 MB
    .venv/bin/python bench/email_ingest.py --messages 500    # a quick look
    .venv/bin/python bench/email_ingest.py --profile py-spy  # + collapsed stacks of the server

Last line: ``msgs_per_s=… rss_mb=… attach_msgs_per_s=… cpu_ms_per_msg=… attach_cpu_ms_per_msg=…``
(target ≥ 300 msgs/s). The CPU figures are the server process's own (utime + stime from /proc,
all its threads) per accepted message: unlike the rates, they hardly move when other work shares
the machine, so compare them when the machine is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    PROFILES,
    cli,
    create_admin,
    create_token,
    free_port,
    headline,
    loadavg,
    percentile,
    print_header,
    proc_cpu_seconds,
    rss_mb,
    start_py_spy,
    start_server,
    wait_until_quiet,
)
from _text import TextGen

TARGET_PER_S = 300
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-123"
SUPPORT = "support@bench-helpline.com"
TLDS = ("com", "de", "hu", "at", "co.uk")


# --- the mail ----------------------------------------------------------------------------------


def typical_message(gen: TextGen, index: int, sender: tuple[str, str], size: int) -> bytes:
    """A ~``size`` byte message as mail clients send it: headers, text/plain + text/html."""
    email, name = sender
    lang = gen.language()
    text = gen.body(lang, max(500, size // 3))
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n") if p.strip())
    html = (
        '<html><head><meta charset="utf-8"><style>p{font-family:Arial;font-size:11pt}</style></head>'
        f'<body><div class="WordSection1">{paragraphs}</div>'
        f"<div><p>--<br>{name}<br>+49 30 1234567</p></div></body></html>"
    )
    msg = EmailMessage()
    for hop in range(3):  # what a message picks up on its way
        msg["Received"] = (
            f"from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop + 10}]) by mx.bench-helpline.com "
            f"with ESMTPS id {index:08x}{hop}; {format_datetime(_now())}"
        )
    msg["From"] = f"{name} <{email}>"
    msg["To"] = SUPPORT
    msg["Subject"] = gen.subject(lang)
    msg["Date"] = format_datetime(_now())
    msg["Message-ID"] = f"<bench.{index}.{random.getrandbits(48):x}@{email.rsplit('@', 1)[1]}>"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def _now() -> datetime:
    return datetime.now(UTC)


def with_attachment(base: bytes, index: int, size: int) -> bytes:
    from email import message_from_bytes, policy

    msg = message_from_bytes(base, policy=policy.default)
    del msg["Message-ID"]
    msg["Message-ID"] = f"<bench-attach.{index}.{random.getrandbits(48):x}@example.com>"
    msg.make_mixed()  # type: ignore[attr-defined]
    msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf", filename=f"scan-{index}.pdf")  # type: ignore[attr-defined]
    return bytes(msg.as_bytes())


def make_messages(count: int, size: int, seed: int, returning_share: float = 0.35) -> list[tuple[str, bytes]]:
    gen = TextGen(seed)
    rng = random.Random(seed)
    known: list[tuple[str, str]] = []
    out = []
    for index in range(count):
        if known and rng.random() < returning_share:
            sender = rng.choice(known)
        else:
            lang = gen.language()
            name = gen.name(lang)
            local = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() or "customer"
            sender = (f"{local}.{index}@example.{rng.choice(TLDS)}", name)
            known.append(sender)
        out.append((sender[0], typical_message(gen, index, sender, size)))
    return out


# --- sending -----------------------------------------------------------------------------------


@dataclass
class Run:
    queue: asyncio.Queue[tuple[str, bytes]]
    latencies_ms: list[float] = field(default_factory=list)
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def smtp_client(run: Run, port: int) -> None:
    import aiosmtplib

    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
    await smtp.connect()
    try:
        while True:
            try:
                sender, raw = run.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            try:
                await smtp.sendmail(sender, [SUPPORT], raw)
            except aiosmtplib.SMTPException as exc:
                key = f"{type(exc).__name__}: {str(exc)[:80]}"
                run.errors[key] = run.errors.get(key, 0) + 1
                await smtp.quit() if smtp.is_connected else None
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
                await smtp.connect()
                continue
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.accepted += 1
    finally:
        if smtp.is_connected:
            await smtp.quit()


async def send_all(messages: list[tuple[str, bytes]], port: int, clients: int) -> tuple[Run, float]:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)
    run = Run(queue)
    started = time.perf_counter()
    await asyncio.gather(*(smtp_client(run, port) for _ in range(clients)))
    return run, time.perf_counter() - started


def count_visible(url: str, token: str) -> int:
    """Every conversation the API lists (all statuses), paging to the end."""
    seen, cursor = 0, None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        while True:
            params: dict[str, str | int] = {"view": "all", "limit": 200, "sort": "created_desc"}
            if cursor:
                params["cursor"] = cursor
            body = http.get("/api/v1/conversations", params=params).raise_for_status().json()
            seen += len(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return seen


def wait_visible(url: str, token: str, expected: int, timeout: float = 120) -> tuple[int, float]:
    started = time.perf_counter()
    while True:
        seen = count_visible(url, token)
        if seen >= expected or time.perf_counter() - started > timeout:
            return seen, time.perf_counter() - started
        time.sleep(0.2)


def phase(label: str, messages: list[tuple[str, bytes]], server_port: int, clients: int) -> tuple[Run, float]:
    total_mb = sum(len(raw) for _s, raw in messages) / 1e6
    print(f"   {label}: {len(messages)} messages, {total_mb:.1f} MB, {clients} SMTP clients")
    sys.stdout.flush()
    return asyncio.run(send_all(messages, server_port, clients))


def report(label: str, run: Run, elapsed: float, sent: int) -> float:
    rate = run.accepted / elapsed if elapsed else 0.0
    lat = run.latencies_ms
    print(
        f"   {label}: {run.accepted}/{sent} accepted (250) in {elapsed:.1f} s = {rate:.0f} msgs/s; "
        f"per message ms p50 {percentile(lat, 50):.1f} p99 {percentile(lat, 99):.1f}; errors {run.errors or 0}"
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="typical messages (default 3000)")
    parser.add_argument("--size", type=int, default=20_000, help="typical message size in bytes (default 20 KB)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent SMTP clients (default 8)")
    parser.add_argument("--attach-messages", type=int, default=60, help="messages with an attachment (default 60)")
    parser.add_argument("--attach-bytes", type=int, default=2 * 1024 * 1024, help="attachment size (default 2 MB)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=("py-spy", "py-spy-gil", "py-spy-idle"), default=None)
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--profile-phase", choices=("typical", "attach"), default="typical")
    parser.add_argument("--quiet-wait", type=float, default=120)
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()

    print_header(f"email_ingest: SMTP listener → conversations, {args.clients} clients, SQLite")
    print(f"   preparing {args.messages} messages of ~{args.size // 1000} KB ...")
    typical = make_messages(args.messages, args.size, args.seed)
    attached = [
        (sender, with_attachment(raw, i, args.attach_bytes))
        for i, (sender, raw) in enumerate(make_messages(args.attach_messages, args.size, args.seed + 1))
    ]
    print(f"   typical message: mean {sum(len(r) for _s, r in typical) / len(typical) / 1000:.1f} KB")

    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-email-"))
    database_url = f"sqlite:///{var_dir / 'helpline.db'}"
    smtp_port = free_port()
    os.environ["HELPLINE_SMTP_PORT"] = str(smtp_port)  # the harness passes our environment on
    stamp = time.strftime("%Y%m%d-%H%M%S")
    spy_out = PROFILES / f"email-ingest-{stamp}.{args.profile}.txt"
    server = None
    try:
        cli(database_url, var_dir, "migrate")
        create_admin(database_url, var_dir, ADMIN_EMAIL, ADMIN_PASSWORD)
        token = create_token(database_url, var_dir, ADMIN_EMAIL)
        server = start_server(database_url, var_dir)
        created = httpx.post(
            server.url + "/api/v1/mailboxes",
            headers={"Authorization": f"Bearer {token}"},
            json={"address": SUPPORT, "sender_rate_limit_per_hour": 0},
        )
        created.raise_for_status()
        print(f"   server pid {server.pid} at {server.url}, SMTP on 127.0.0.1:{smtp_port}; database {database_url}")
        wait_until_quiet(args.quiet_wait)
        rss_start = rss_mb(server.pid)
        profiling = args.profile is not None
        spy = None
        if profiling and args.profile_phase == "typical":
            spy = start_py_spy(server.pid, spy_out, args.profile_seconds, args.profile)
        cpu0, main0 = server.cpu_seconds(), proc_cpu_seconds(server.pid)
        run, elapsed = phase("typical", typical, smtp_port, args.clients)
        server_cpu = server.cpu_seconds() - cpu0
        main_cpu = proc_cpu_seconds(server.pid) - main0
        seen, visible_after = wait_visible(server.url, token, run.accepted)
        rate = report("typical", run, elapsed, len(typical))
        print(f"   visible through the API: {seen} conversations (checked {visible_after:.1f} s after the last 250)")
        per_msg = 1000 * server_cpu / max(1, run.accepted)
        main_per_msg = 1000 * main_cpu / max(1, run.accepted)
        print(
            f"   server CPU {100 * server_cpu / elapsed:.0f}% of one core, {per_msg:.1f} ms per message; "
            f"load average {loadavg()}"
        )
        print(
            f"   of which the server process {main_per_msg:.1f} ms per message (=> at most "
            f"{1000 / max(main_per_msg, 0.001):.0f} msgs/s with a core to itself), its mail workers "
            f"{per_msg - main_per_msg:.1f} ms"
        )
        rss_after = rss_mb(server.pid)
        print(f"   server RSS: {rss_start:.0f} MB at start, {rss_after:.0f} MB after {run.accepted} messages")
        if profiling and args.profile_phase == "attach":
            spy = start_py_spy(server.pid, spy_out, args.profile_seconds, args.profile)
        cpu0 = server.cpu_seconds()
        attach_run, attach_elapsed = phase(
            f"with {args.attach_bytes // (1024 * 1024)} MB attachments", attached, smtp_port, min(args.clients, 4)
        )
        attach_cpu = server.cpu_seconds() - cpu0
        attach_rate = report("attachments", attach_run, attach_elapsed, len(attached))
        attach_per_msg = 1000 * attach_cpu / max(1, attach_run.accepted)
        print(
            f"   server CPU {100 * attach_cpu / attach_elapsed:.0f}% of one core during the attachment run, "
            f"{attach_per_msg:.0f} ms per message"
        )
        if spy is not None:
            spy.wait(60)
            print(f"   py-spy stacks: {spy_out}  (summary: .venv/bin/python bench/profile_summary.py {spy_out})")
        rss_end = rss_mb(server.pid)
        print(f"   server RSS after the attachment run: {rss_end:.0f} MB")
        ok = rate >= TARGET_PER_S
        print(f"   target ≥ {TARGET_PER_S} msgs/s: {'met' if ok else f'MISSED ({rate / TARGET_PER_S:.0%} of target)'}")
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"   kept {var_dir}")
    print(
        headline(
            msgs_per_s=rate,
            rss_mb=max(rss_after, rss_end),
            attach_msgs_per_s=attach_rate,
            cpu_ms_per_msg=f"{per_msg:.2f}",
            attach_cpu_ms_per_msg=attach_per_msg,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
