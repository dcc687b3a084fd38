"""The parser's fast path (compat32 tree + hand-read header values) must say exactly what the
full `policy.default` path says, so the speed-up cannot silently change what agents see."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.email import ParsedEmail, parse_message
from helpline.channels.email.parsing import _parse_fast, _parse_full

CORPUS = Path(__file__).parent / "corpus"
ALL_FILES = sorted(CORPUS.rglob("*.eml"))
SAMPLES = [p.read_bytes() for p in ALL_FILES]
BENCH = Path(__file__).resolve().parents[3] / "bench"


def differences(fast: ParsedEmail, full: ParsedEmail) -> dict[str, tuple[object, object]]:
    return {
        f.name: (getattr(fast, f.name), getattr(full, f.name))
        for f in fields(ParsedEmail)
        if getattr(fast, f.name) != getattr(full, f.name)
    }


def assert_agree(raw: bytes) -> bool:
    """True when the fast path took the message (and agreed with the full path on every field)."""
    fast = _parse_fast(raw)
    if fast is None:
        return False
    assert differences(fast, _parse_full(raw)) == {}
    return True


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_fast_and_full_path_agree_on_every_corpus_message(path: Path) -> None:
    raw = path.read_bytes()
    fast, full = _parse_fast(raw), _parse_full(raw)
    if fast is None:  # MIME headers the fast path leaves to policy.default (RFC 2231 names, comments...)
        assert parse_message(raw) == full
        return
    # The fields a user sees, one by one (a clear message if one drifts), then everything else.
    assert fast.subject == full.subject
    assert (fast.from_, fast.to, fast.cc, fast.reply_to) == (full.from_, full.to, full.cc, full.reply_to)
    assert (fast.message_id, fast.in_reply_to, fast.references) == (full.message_id, full.in_reply_to, full.references)
    assert fast.date == full.date
    assert (fast.text, fast.html) == (full.text, full.html)
    assert [(a.filename, a.content_type, a.content_id, a.inline, a.data) for a in fast.attachments] == [
        (a.filename, a.content_type, a.content_id, a.inline, a.data) for a in full.attachments
    ]
    assert differences(fast, full) == {}


def test_most_of_the_corpus_and_typical_mail_take_the_fast_path() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from email_parse import make_typical  # the benchmark's ~20 KB replies
    finally:
        sys.path.remove(str(BENCH))
    assert sum(assert_agree(raw) for raw in SAMPLES) >= len(SAMPLES) * 3 // 4
    assert all(assert_agree(raw) for raw in make_typical(20))


@pytest.mark.parametrize(
    "headers",
    [
        # encoded words: adjacent ones join, blanks elsewhere stay; broken ones go to policy.default
        "Subject: =?utf-8?q?K=C3=B6v?= =?utf-8?q?=C3=A1cs?=  Anna\r\nFrom: =?utf-8?b?S8O2dg==?= Anna <a@example.test>",
        "Subject: Re:=?utf-8?q?x?=\r\nFrom: =?x-bogus?q?a?= <a@example.test>",
        "Subject: =?utf-8?q?=4?=\r\nFrom: =?utf-8?q?a=FF?= <a@example.test>",
        "Subject: =?utf-8?q?a=0D=0ABcc:_x?=\r\nFrom: =?utf-8?q?Eve=0D=0ABcc=3A_x?= <eve@example.test>",
        # display names policy.default reads oddly or chokes on
        'From: J.R.R. Tolkien <t@example.test>, "Nagy, P" <p@example.test>,\r\n bare@example.test',
        "From: a.b.<x@example.test>\r\nTo: .Dot <d@example.test>\r\nCc: a..b@example.test",
        "From: a (comment) <x@example.test>\r\nTo: group: a@example.test;",
        # ids
        'Message-ID: <bogus.1@example.test">\r\nIn-Reply-To: <a@x> (c)\r\nReferences: <a@x>\r\n\t<b@y>',
        "Message-ID: <x@cid:example.test>",
    ],
)
def test_awkward_headers_agree(headers: str) -> None:
    raw = f"{headers}\r\nDate: Mon, 1 Apr 2024 10:00:00 +0200\r\n\r\naGVsbG8=\r\n".encode()
    assert assert_agree(raw)


@pytest.mark.parametrize(
    "headers",
    [
        # MIME parameters compat32 reads differently: comments, RFC 2231, duplicates, empty values,
        # encoded words, a trailing blank after the transfer encoding
        'Content-Type: text/plain; charset="utf-8" (c)',
        "Content-Type: text/plain; charset*=utf-8''x",
        "Content-Type: text/plain; charset=utf-8; charset=latin1;",
        'Content-Type: text/plain; name=""',
        'Content-Type: application/pdf; name="=?utf-8?q?a.pdf?="',
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64 ",
    ],
)
def test_unusual_mime_headers_are_left_to_policy_default(headers: str) -> None:
    raw = f"{headers}\r\nDate: Mon, 1 Apr 2024 10:00:00 +0200\r\n\r\naGVsbG8=\r\n".encode()
    assert _parse_fast(raw) is None
    assert parse_message(raw) == _parse_full(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from(
                [
                    b"",
                    b" ",
                    b"\t",
                    b"\r\n ",
                    b",",
                    b'"',
                    b"<",
                    b">",
                    b"(",
                    b".",
                    b";",
                    b"=?",
                    b"?=",
                    b"=?utf-8?q?=C3=A9?=",
                    b"\\",
                    b"*",
                    b"'",
                    b"\xc3\xa9",
                ]
            ),
            st.integers(0, 8),
        ),
        max_size=5,
    ),
)
def test_mutated_corpus_messages_agree(sample: bytes, edits: list[tuple[float, bytes, int]]) -> None:
    raw = bytearray(sample)
    for where, noise, cut in edits:
        at = int(where * min(len(raw), 2000))  # mostly the headers, where the fast path differs
        raw[at : at + cut] = noise
    assert_agree(bytes(raw))
