#!/usr/bin/env python
"""Inbound email parser speed: `parse_message` on typical mail and on the test corpus, in process.

The typical mail is what `bench/email_ingest.py` sends, plus what replies really look like: a
~20 KB multipart/alternative (text + HTML) with a quoted history in both parts, a few Received
hops, In-Reply-To/References, an encoded-word subject and display name. The corpus under
tests/channels/email/corpus is mixed in (every file once per round) so odd shapes count too.

    .venv/bin/python bench/email_parse.py                    # 400 typical mails x 5 rounds + corpus
    .venv/bin/python bench/email_parse.py --rounds 1         # a quick look
    .venv/bin/python bench/email_parse.py --module path.py   # time another copy of parsing.py (before/after)

Last line: ``parse_ms_p50=… parse_ms_p99=… msgs_per_s=…`` (typical mail only; the corpus is
reported on the line before).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _text import TextGen  # noqa: E402

CORPUS = ROOT / "tests" / "channels" / "email" / "corpus"
SUPPORT = "support@bench-helpline.com"
TLDS = ("com", "de", "hu", "at", "co.uk")
WROTE = {
    "en": "On {when}, {name} <{email}> wrote:",
    "de": "Am {when} schrieb {name} <{email}>:",
    "hu": "{when} időpontban {name} <{email}> ezt írta:",
}


def _quoted(text: str) -> str:
    return "\n".join(">" + (" " + line if line else "") for line in text.split("\n"))


def typical_reply(gen: TextGen, rng: random.Random, index: int, size: int = 22_000) -> bytes:
    """A ~``size`` byte reply as mail clients send it: text/plain + text/html, history quoted."""
    lang = gen.language()
    name = gen.name(lang)
    local = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() or "customer"
    email = f"{local}.{index}@example.{rng.choice(TLDS)}"
    when = datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=index)
    new = gen.body(lang, max(300, size // 10))
    history = gen.body(lang, max(500, size // 4))
    wrote = WROTE[lang].format(when=format_datetime(when - timedelta(days=1)), name="Helpline Support", email=SUPPORT)
    text = f"{new}\n\n{wrote}\n{_quoted(history)}\n"
    new_html = "".join(f"<p>{p}</p>" for p in new.split("\n") if p.strip())
    old_html = "".join(f"<p>{p}</p>" for p in history.split("\n") if p.strip())
    html = (
        '<html><head><meta charset="utf-8"><style>p{font-family:Arial;font-size:11pt}</style></head>'
        f'<body><div class="WordSection1">{new_html}<div><p>--<br>{name}<br>+49 30 1234567</p></div>'
        f'<div class="gmail_quote"><div class="gmail_attr">{wrote.replace("<", "&lt;").replace(">", "&gt;")}</div>'
        f'<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">{old_html}'
        '<p><img src="https://track.example.net/p.gif" width="1" height="1"></p></blockquote></div></div></body></html>'
    )
    number = 1000 + index % 500
    msg = EmailMessage()
    for hop in range(3):
        msg["Received"] = (
            f"from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop + 10}]) by mx.bench-helpline.com "
            f"with ESMTPS id {index:08x}{hop}; {format_datetime(when)}"
        )
    msg["From"] = HeaderAddress(display_name=name, addr_spec=email)
    msg["To"] = f"Helpline Support <{SUPPORT}>"
    if rng.random() < 0.3:
        msg["Cc"] = f'"{gen.name(lang)}" <colleague.{index}@example.com>, other.{index}@example.org'
    msg["Subject"] = f"Re: [#{number}] {gen.subject(lang)}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<reply.{index}.{rng.getrandbits(48):x}@{email.rsplit('@', 1)[1]}>"
    msg["In-Reply-To"] = f"<a1b2.{number}@bench-helpline.com>"
    msg["References"] = f"<first.{number}@bench-helpline.com> <a1b2.{number}@bench-helpline.com>"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg["MIME-Version"] = "1.0"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return bytes(msg.as_bytes())


def make_typical(count: int, seed: int = 7) -> list[bytes]:
    gen, rng = TextGen(seed), random.Random(seed)
    return [typical_reply(gen, rng, index) for index in range(count)]


def corpus() -> list[bytes]:
    return [path.read_bytes() for path in sorted(CORPUS.rglob("*.eml"))]


def load_parser(module: str | None) -> Callable[[bytes], Any]:
    if module is None:
        from helpline.channels.email.parsing import parse_message

        return parse_message
    spec = importlib.util.spec_from_file_location("parsing_under_test", module)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.parse_message  # type: ignore[no-any-return]


def timed(parse: Callable[[bytes], Any], messages: Sequence[bytes], rounds: int) -> list[float]:
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(rounds):
        for raw in messages:
            started = clock()
            parse(raw)
            samples.append((clock() - started) * 1000)
    return samples


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=400, help="typical mails generated (default 400)")
    ap.add_argument("--rounds", type=int, default=5, help="passes over them (default 5)")
    ap.add_argument("--module", help="time parse_message from this file instead of helpline's")
    args = ap.parse_args(argv)

    parse = load_parser(args.module)
    typical, odd = make_typical(args.messages), corpus()
    size_kb = sum(map(len, typical)) / len(typical) / 1024
    timed(parse, typical[:50] + odd, 1)  # warm caches (codecs, regexes, nh3)
    gc.collect()
    corpus_ms = timed(parse, odd, args.rounds)
    started = time.perf_counter()
    typical_ms = timed(parse, typical, args.rounds)
    wall = time.perf_counter() - started
    print(f"typical: {len(typical)} mails of {size_kb:.1f} KB x {args.rounds} rounds; corpus: {len(odd)} files")
    print(
        f"corpus_ms_p50={percentile(corpus_ms, 50):.3f} corpus_ms_p99={percentile(corpus_ms, 99):.3f} "
        f"corpus_msgs_per_s={len(corpus_ms) / (sum(corpus_ms) / 1000):.0f}"
    )
    print(
        f"parse_ms_p50={percentile(typical_ms, 50):.3f} parse_ms_p99={percentile(typical_ms, 99):.3f} "
        f"msgs_per_s={len(typical_ms) / wall:.0f}"
    )


if __name__ == "__main__":
    main()
