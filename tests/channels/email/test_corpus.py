"""Every corpus message parses, and yields the decoded values a user would see."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpline.channels.email import Address, ParsedEmail, parse_message

CORPUS = Path(__file__).parent / "corpus"
ALL_FILES = sorted(CORPUS.rglob("*.eml"))


def parse(name: str) -> ParsedEmail:
    return parse_message((CORPUS / name).read_bytes())


def test_corpus_is_there() -> None:
    assert len(ALL_FILES) >= 60


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_corpus_message_parses_without_raising(path: Path) -> None:
    parsed = parse_message(path.read_bytes())
    assert isinstance(parsed, ParsedEmail)
    for value in (parsed.subject, parsed.from_.name if parsed.from_ else ""):
        assert "\r" not in value and "\n" not in value
    for attachment in parsed.attachments:
        assert attachment.filename and "/" not in attachment.filename and "\\" not in attachment.filename


def test_multipart_alternative_keeps_text_and_sanitised_html() -> None:
    parsed = parse("alternative_utf8.eml")
    assert parsed.subject == "Rendelés állapota: #4512 – érkezes?"
    assert parsed.from_ == Address("Kovács Anna", "anna.kovacs@example.hu")
    assert parsed.to == (Address("Helpline Support", "support@helpline.test"),)
    assert parsed.cc == (Address("Nagy, Péter", "peter.nagy@example.hu"), Address("", "bela@example.hu"))
    assert parsed.reply_to == (Address("", "anna.private@example.hu"),)
    assert parsed.message_id == "<CAF=x7Qk1@mail.gmail.com>"
    assert parsed.date == datetime(2024, 3, 5, 9, 12, tzinfo=UTC)
    assert parsed.text.startswith("Jó napot!\n\nMikor érkezik a 4512-es rendelésem?")
    assert "<p>Mikor érkezik a 4512-es rendelésem?</p>" in parsed.html
    assert parsed.attachments == ()
    assert parsed.defects == ()
    assert not (parsed.is_auto_submitted or parsed.is_bulk or parsed.is_bounce or parsed.is_spam)


def test_nested_related_inline_image_and_rfc2231_continuation_name() -> None:
    parsed = parse("mixed_related_inline.eml")
    assert parsed.subject == "Defektes Gerät – Foto anbei"
    assert parsed.from_ == Address("Jürgen Müller", "j.mueller@example.de")
    assert "das Gerät ist beim Auspacken zerbrochen" in parsed.text
    image, invoice = parsed.attachments
    assert (image.filename, image.content_type, image.content_id, image.inline) == (
        "foto.png",
        "image/png",
        "part1.foto@example.de",
        True,
    )
    assert image.data.startswith(b"\x89PNG")
    assert (invoice.filename, invoice.content_type, invoice.inline) == ("Rechnung März.pdf", "application/pdf", False)
    assert invoice.data.startswith(b"%PDF-1.4")
    assert parsed.cid_references == ("part1.foto@example.de",)
    assert 'src="cid:part1.foto@example.de"' in parsed.html


def test_rfc2231_and_encoded_word_file_names_are_decoded_and_made_safe() -> None:
    parsed = parse("rfc2231_filenames.eml")
    assert parsed.subject == "Kérem a számlát ő javítani"
    assert parsed.text == "Csatoltam a számlát."
    names = [a.filename for a in parsed.attachments]
    assert names[0] == "számla_ő.pdf"
    assert "/" not in names[1] and names[1].endswith("etc_passwd")
    assert names[2] == "notes.txt"
    assert parsed.attachments[2].data.strip() == b"plain attachment"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("charset_iso-8859-1.eml", "Café crème, naïve façade."),
        ("charset_iso-8859-2.eml", "Árvíztűrő tükörfúrógép."),
        ("charset_iso-8859-15.eml", "Preis: 100 € œuvre."),
        ("charset_windows-1250.eml", "Příliš žluťoučký kůň, őrült."),
        ("charset_windows-1252.eml", "“Smart quotes” – and … ellipsis €."),
        ("charset_koi8-r.eml", "Съешь же ещё этих мягких французских булок."),
    ],
)
def test_each_common_charset_decodes(name: str, body: str) -> None:
    parsed = parse(name)
    assert parsed.text == body
    assert parsed.defects == ()


def test_unknown_charsets_fall_back_leniently_with_a_defect() -> None:
    parsed = parse("charset_bogus.eml")
    assert parsed.text == "Grüße aus Köln"  # latin-1 bytes under a bogus label: windows-1252 fallback
    assert parsed.subject.endswith("bogus") and parsed.subject.startswith("caf")
    assert any("x-totally-bogus" in d for d in parsed.defects)


def test_missing_headers_are_defects_not_errors() -> None:
    parsed = parse("missing_headers.eml")
    assert parsed.subject == "no date, no id, no from"
    assert parsed.text == "Someone forgot the headers."
    assert parsed.message_id is None and parsed.date is None and parsed.from_ is None
    assert {"missing Message-ID header", "missing From header", "missing Date header"} <= set(parsed.defects)


def test_broken_base64_keeps_what_can_be_read() -> None:
    parsed = parse("broken_base64.eml")
    assert parsed.text == "Hello, this body is fine."
    assert "half a body" in parsed.html
    assert [a.filename for a in parsed.attachments] == ["kaputt.pdf"]
    assert any("Base64" in d for d in parsed.defects)


def test_crlf_injection_never_survives_into_header_values() -> None:
    parsed = parse("crlf_injection.eml")
    assert parsed.subject == "Hello Bcc: all@example.com body"
    assert parsed.from_ is not None and parsed.from_.address == "eve@example.test"
    assert "\n" not in parsed.from_.name and "\r" not in parsed.from_.name
    assert parsed.text == "Injected?"


def test_postfix_dsn_is_a_bounce_naming_the_bounced_message() -> None:
    parsed = parse("bounce_postfix_dsn.eml")
    assert parsed.is_bounce and parsed.is_auto_submitted
    assert parsed.bounced_message_id == "<helpline.1042.7@helpline.test>"
    assert parsed.from_ is not None and parsed.from_.address == "MAILER-DAEMON@mx.helpline.test"
    assert "Host or domain name not found" in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/delivery-status", "text/rfc822-headers"]


@pytest.mark.parametrize(
    ("name", "bounced"),
    [("psf/python_msg_43.eml", "<edab.7804f5cb8070@python.org>")],
)
def test_real_mta_dsn_from_cpython_corpus(name: str, bounced: str) -> None:
    parsed = parse(name)
    assert parsed.is_bounce and parsed.bounced_message_id == bounced


def test_out_of_office_is_auto_submitted_and_threads() -> None:
    parsed = parse("auto_reply_ooo.eml")
    assert parsed.is_auto_submitted and not parsed.is_bulk and not parsed.is_bounce
    assert parsed.subject == "Automatische Antwort: Re: [#1042] Ihre Bestellung"
    assert parsed.in_reply_to == "<helpline.1042.8@helpline.test>"
    assert parsed.references == ("<helpline.1042.1@helpline.test>", "<helpline.1042.8@helpline.test>")
    assert parsed.text == "Ich bin bis 20.03. nicht im Büro."


def test_mailing_list_is_bulk() -> None:
    parsed = parse("mailing_list.eml")
    assert parsed.is_bulk and not parsed.is_auto_submitted


def test_mailing_list_bounce_from_postmaster_is_bulk_and_auto() -> None:
    parsed = parse("psf/python_msg_16.eml")
    assert parsed.is_bulk and parsed.is_auto_submitted


def test_spam_flag() -> None:
    parsed = parse("spam_flagged.eml")
    assert parsed.is_spam and parsed.text == "Click here to claim."


def test_html_only_mail_is_stripped_of_scripts_and_gets_a_text_body() -> None:
    parsed = parse("html_only_xss.eml")
    html = parsed.html.lower()
    for bad in ("<script", "alert(", "onload", "onerror", "javascript:", "<iframe", "<style", "document.cookie"):
        assert bad not in html
    assert "<p>hello <b>agent</b></p>" in html
    assert parsed.has_remote_images
    assert 'href="https://evil.example/offer"' in parsed.html
    assert "Hello agent" in parsed.text and "click" in parsed.text


def test_hungarian_reply_threads_by_headers() -> None:
    parsed = parse("reply_quoted_hu.eml")
    assert parsed.subject == "Re: [#1042] Rendelés"
    assert parsed.in_reply_to == "<helpline.1042.9@helpline.test>"
    assert parsed.references == ("<helpline.1042.1@helpline.test>", "<helpline.1042.9@helpline.test>")
    assert "ezt írta:" in parsed.text


def test_multipart_with_missing_boundary_keeps_its_text() -> None:
    parsed = parse("psf/python_msg_41.eml")
    assert parsed.subject == "64423"
    assert parsed.text  # the unsplittable body is kept as text
    assert any("without readable parts" in d for d in parsed.defects)
