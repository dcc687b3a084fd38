"""Parser behaviours built message by message (no corpus file needed)."""

from __future__ import annotations

import base64
import os
from email.message import EmailMessage

import pytest

from helpline.channels.email import parse_message, safe_filename


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_two_megabyte_attachment_parses_whole() -> None:
    payload = os.urandom(2 * 1024 * 1024)
    msg = EmailMessage()
    msg["From"] = "Big Sender <big@example.test>"
    msg["To"] = "support@helpline.test"
    msg["Subject"] = "Großer Anhang"
    msg["Message-ID"] = "<big.1@example.test>"
    msg["Date"] = "Mon, 01 Apr 2024 10:00:00 +0200"
    msg.set_content("Siehe Anhang.")
    msg.add_attachment(payload, maintype="application", subtype="zip", filename="Übersicht 2024.zip")
    parsed = parse_message(msg.as_bytes())
    (attachment,) = parsed.attachments
    assert attachment.filename == "Übersicht 2024.zip"
    assert attachment.content_type == "application/zip"
    assert attachment.data == payload
    assert parsed.text == "Siehe Anhang."
    assert parsed.subject == "Großer Anhang"


def test_date_without_zone_is_taken_as_utc_and_garbage_date_is_a_defect() -> None:
    naive = parse_message(crlf("From: a@example.test\nDate: Mon, 1 Apr 2024 10:00:00 -0000\n\nx"))
    assert naive.date is not None and naive.date.utcoffset() is not None
    bad = parse_message(crlf("From: a@example.test\nDate: yesterday-ish\n\nx"))
    assert bad.date is None and "unparseable Date header" in bad.defects


def test_subject_whitespace_and_folding_are_cleaned() -> None:
    parsed = parse_message(crlf("Subject: =?utf-8?q?Hallo?=\n  \t =?utf-8?q?_Welt?=   and\tmore  \n\nx"))
    assert parsed.subject == "Hallo Welt and more"


def test_eight_bit_utf8_headers_are_read_as_utf8() -> None:
    raw = "From: Tóth Ödön <odon@example.hu>\r\nSubject: Árvíztűrő\r\n\r\nszia".encode()
    parsed = parse_message(raw)
    assert parsed.subject == "Árvíztűrő"
    assert parsed.from_ is not None and parsed.from_.name == "Tóth Ödön"


def test_bare_eight_bit_latin1_headers_fall_back_to_windows_1252() -> None:
    raw = "Subject: Grüße\r\n\r\nx".encode("latin-1")
    assert parse_message(raw).subject == "Grüße"


def test_auto_submitted_no_is_not_auto() -> None:
    parsed = parse_message(crlf("From: a@example.test\nAuto-Submitted: no\n\nx"))
    assert not parsed.is_auto_submitted


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: auto-generated", "X-Autoreply: yes", "X-Autorespond: Out of office", "Precedence: auto_reply"],
)
def test_auto_reply_headers(header: str) -> None:
    assert parse_message(crlf(f"From: a@example.test\n{header}\n\nx")).is_auto_submitted


@pytest.mark.parametrize("precedence", ["bulk", "list", "junk", "BULK"])
def test_precedence_makes_bulk(precedence: str) -> None:
    assert parse_message(crlf(f"From: a@example.test\nPrecedence: {precedence}\n\nx")).is_bulk


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.test", "postmaster@example.test"])
def test_daemon_senders_are_auto_submitted(sender: str) -> None:
    assert parse_message(crlf(f"From: {sender}\n\nx")).is_auto_submitted


def test_spam_flag_no_is_not_spam() -> None:
    assert not parse_message(crlf("From: a@example.test\nX-Spam-Flag: NO\n\nx")).is_spam


def test_references_keep_order_and_ignore_junk() -> None:
    parsed = parse_message(crlf("References: <a@x> junk <b@y>\n\t<c@z>\nIn-Reply-To: <c@z> (comment)\n\nx"))
    assert parsed.references == ("<a@x>", "<b@y>", "<c@z>")
    assert parsed.in_reply_to == "<c@z>"


def test_inline_image_without_filename_gets_a_name_and_cid() -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode()
    raw = crlf(
        "From: a@example.test\nContent-Type: multipart/related; boundary=b\n\n"
        '--b\nContent-Type: text/html\n\n<p><img src="cid:logo%40x"></p>\n'
        f"--b\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n{png}\n--b--\n"
    )
    parsed = parse_message(raw)
    (image,) = parsed.attachments
    assert image.filename == "attachment.png" and image.content_id == "logo@x" and image.inline
    assert parsed.cid_references == ("logo@x",)


def test_forwarded_message_becomes_an_eml_attachment() -> None:
    raw = crlf(
        "From: a@example.test\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nsee below\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: c@example.test\nSubject: Original\nMessage-ID: <o@x>\n\nold body\n"
        "--b--\n"
    )
    parsed = parse_message(raw)
    assert parsed.text == "see below"
    (forwarded,) = parsed.attachments
    assert forwarded.filename == "Original.eml" and forwarded.content_type == "message/rfc822"
    assert b"old body" in forwarded.data
    assert not parsed.is_bounce and parsed.bounced_message_id is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("C:\\Windows\\evil.exe", "C__Windows_evil.exe"),
        ("a\r\nb\x00c.txt", "abc.txt"),
        ("   ", "attachment.pdf"),
        ("...", "attachment.pdf"),
        ('re<p>ort|"1"?.pdf', "re_p_ort__1__.pdf"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw, "application/pdf") == expected


def test_safe_filename_bounds_length_and_keeps_extension() -> None:
    name = safe_filename("ű" * 500 + ".pdf")
    assert len(name) <= 150 and name.endswith(".pdf")


def test_non_bytes_and_empty_input_do_not_raise() -> None:
    assert parse_message(b"").subject == ""
    assert parse_message("text").defects == ("not bytes",)  # type: ignore[arg-type]
