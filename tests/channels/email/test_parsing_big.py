"""Big mail: long stretches of base64 lines skip the stdlib's line-by-line parser (parsing.py,
`_stand_ins`). What agents see must not change, so every message is parsed both ways and compared."""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import astuple
from email.message import EmailMessage as Mime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.email import ParsedEmail, parse_message, parsing

CORPUS = Path(__file__).parent / "corpus"
SAMPLES = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))]
BENCH = Path(__file__).resolve().parents[3] / "bench"


def parsed_both_ways(
    raw: bytes, monkeypatch: pytest.MonkeyPatch, threshold: int = 8
) -> tuple[ParsedEmail, ParsedEmail]:
    """(as the stdlib parses it, with stretches of at least ``threshold`` bytes stood in)."""
    with monkeypatch.context() as patch:
        patch.setattr(parsing, "BIG_RUN_BYTES", 10**12)
        plain = parse_message(raw)
    with monkeypatch.context() as patch:
        patch.setattr(parsing, "BIG_RUN_BYTES", threshold)
        stood_in = parse_message(raw)
    return plain, stood_in


def with_pdf(data: bytes, *, subject: str = "scan attached") -> bytes:
    msg = Mime()
    msg["From"] = "Carla Customer <carla@customer.com>"
    msg["To"] = "support@acme.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<scan-1@customer.com>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    msg.set_content("The scan is attached.")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="scan.pdf")
    return msg.as_bytes()


def test_corpus_reads_the_same_when_stretches_are_stood_in(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = 0
    for raw in SAMPLES:
        with monkeypatch.context() as patch:
            patch.setattr(parsing, "BIG_RUN_BYTES", 8)
            taken += parsing._stand_ins(raw) is not None
        plain, stood_in = parsed_both_ways(raw, monkeypatch)
        assert astuple(stood_in) == astuple(plain)
    assert taken >= 5  # the corpus really exercises the stand-ins at this threshold


def test_two_megabyte_attachment_arrives_byte_for_byte() -> None:
    data = os.urandom(2 * 1024 * 1024)
    raw = with_pdf(data)
    assert parsing._stand_ins(raw) is not None  # the fast way is taken at the real threshold
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [("scan.pdf", "application/pdf", data)]
    assert parsed.text.strip() == "The scan is attached." and parsed.defects == ()


def test_bench_mail_with_attachment_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(BENCH))
    from email_ingest import make_messages, with_attachment

    (_sender, base), *_ = make_messages(1, 20_000, 3)
    raw = with_attachment(base, 0, 300_000)
    plain, stood_in = parsed_both_ways(raw, monkeypatch, threshold=parsing.BIG_RUN_BYTES)
    assert astuple(stood_in) == astuple(plain)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b64: b64[:-3], id="padding cut"),
        pytest.param(lambda b64: b64[:-1], id="one character short"),
        pytest.param(lambda b64: b64.replace(b"A", b"*", 3), id="characters outside base64"),
        pytest.param(lambda b64: b64 + b"====", id="extra padding"),
    ],
)
def test_broken_base64_gives_the_same_bytes_and_defects(monkeypatch: pytest.MonkeyPatch, damage: object) -> None:
    encoded = base64.encodebytes(os.urandom(3000)).replace(b"\n", b"\r\n")
    broken = damage(encoded)  # type: ignore[operator]
    raw = (
        b"From: a@customer.com\r\nTo: support@acme.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee file\r\n'
        b'--b1\r\nContent-Type: application/pdf; name="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + broken
        + b"\r\n--b1--\r\n"
    )
    plain, stood_in = parsed_both_ways(raw, monkeypatch, threshold=64)
    assert astuple(stood_in) == astuple(plain)
    assert stood_in.attachments  # the part is still there, decoded as well as it can be


def test_lines_that_look_like_structure_are_never_stood_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forwarded mail inside a part: its headers follow the part's blank line, so that stretch
    is not base64 only and is left to the parser."""
    data = base64.encodebytes(os.urandom(600)).replace(b"\n", b"\r\n")
    inner = b"From: b@customer.com\r\nSubject: inner\r\n\r\n" + data
    raw = (
        b"From: a@customer.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n'
        + inner
        + b"--b1--\r\n"
    )
    with monkeypatch.context() as patch:
        patch.setattr(parsing, "BIG_RUN_BYTES", 64)
        assert parsing._stand_ins(raw) is None
    plain, stood_in = parsed_both_ways(raw, monkeypatch, threshold=64)
    assert astuple(stood_in) == astuple(plain)


_PIECES = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b"-", b"--", b":", b" ", b"\t", b"=", b"AAAA", b"\r\n\r\n", b"From ", b"\x00", b"\xc3\xa9"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.floats(0, 1), _PIECES, st.integers(0, 3)), max_size=6),
    threshold=st.sampled_from([4, 16, 64]),
)
def test_mutated_corpus_messages_read_the_same(
    sample: bytes, edits: list[tuple[float, bytes, int]], threshold: int
) -> None:
    raw = bytearray(sample)
    for where, piece, cut in edits:
        at = int(where * len(raw))
        raw[at : at + cut] = piece
    data = bytes(raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsing, "BIG_RUN_BYTES", 10**12)
        plain = parse_message(data)
        patch.setattr(parsing, "BIG_RUN_BYTES", threshold)
        stood_in = parse_message(data)
    assert astuple(stood_in) == astuple(plain)
