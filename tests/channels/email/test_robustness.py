"""The parser never raises: random bytes and mutated corpus messages still give a ParsedEmail."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.channels.email import ParsedEmail, parse_message, strip_quoted

CORPUS = sorted((Path(__file__).parent / "corpus").rglob("*.eml"))
SAMPLES = [p.read_bytes() for p in CORPUS]
MIME_NOISE = [
    b"\r\n",
    b"\n\n",
    b"--",
    b"=?utf-8?b?",
    b"=?x-bogus?q?=FF=FE?=",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Transfer-Encoding: base64\r\n",
    b"charset=koi8-r",
    b"filename*0*=utf-8''%C3",
    b"\x00",
    b"\xff\xfe",
    b"<",
    b">",
    b'"',
    b";",
    b"cid:",
]

robust = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_sane(parsed: ParsedEmail) -> None:
    assert isinstance(parsed, ParsedEmail)
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    for attachment in parsed.attachments:
        assert attachment.filename and "/" not in attachment.filename and "\\" not in attachment.filename


@robust
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(raw: bytes) -> None:
    assert_sane(parse_message(raw))


@robust
@given(
    sample=st.sampled_from(SAMPLES),
    cuts=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 64)), max_size=6),
    inserts=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(MIME_NOISE) | st.binary(max_size=16)), max_size=6),
)
def test_mutated_corpus_messages_never_raise(
    sample: bytes, cuts: list[tuple[float, int]], inserts: list[tuple[float, bytes]]
) -> None:
    raw = bytearray(sample)
    for where, length in cuts:
        at = int(where * len(raw))
        del raw[at : at + length]
    for where, noise in inserts:
        at = int(where * len(raw))
        raw[at:at] = noise
    assert_sane(parse_message(bytes(raw)))


@robust
@given(st.text(max_size=2000))
def test_strip_quoted_never_raises_and_keeps_text(text: str) -> None:
    new, quoted = strip_quoted(text)
    assert isinstance(new, str) and isinstance(quoted, str)


def test_a_huge_address_header_is_cut_not_parsed_for_seconds() -> None:
    """policy.default parses some address headers in quadratic time: 100 KB of them took ~19 s."""
    import time

    raw = ("From: " + "word " * 20000 + "<a@b.c>\r\nTo: " + "Bob Smith <bob@example.com>, " * 4000
           + "\r\nSubject: hi\r\n\r\nbody\r\n").encode()
    started = time.process_time()
    parsed = parse_message(raw)
    assert time.process_time() - started < 2.0
    assert parsed.text.strip() == "body"
    assert any("From header too long" in d for d in parsed.defects)
    assert any("To header too long" in d for d in parsed.defects)
    assert parsed.to and all(a.address == "bob@example.com" for a in parsed.to)
