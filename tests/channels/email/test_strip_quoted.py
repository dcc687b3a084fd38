"""Quoted history and signatures are separated from what the customer wrote now."""

from __future__ import annotations

from pathlib import Path

from helpline.channels.email import parse_message, strip_quoted


def test_hungarian_gmail_header() -> None:
    text = (
        "Köszönöm, megérkezett!\n\n"
        "2024. márc. 13., Sze 16:02 időpontban Helpline Support <support@helpline.test> ezt írta:\n"
        "> Kedves Anna!\n> A csomagot feladtuk.\n"
    )
    new, quoted = strip_quoted(text)
    assert new == "Köszönöm, megérkezett!"
    assert quoted.startswith("2024. márc. 13.") and "A csomagot feladtuk." in quoted


def test_hungarian_thunderbird_header() -> None:
    new, quoted = strip_quoted("Rendben.\n\n2024. 03. 13. 16:02 keltezéssel, Kovács Anna írta:\n> régi\n")
    assert new == "Rendben."
    assert "keltezéssel" in quoted


def test_hungarian_outlook_header_block() -> None:
    text = (
        "Igen, jó így.\n\n"
        "Feladó: Helpline Support <support@helpline.test>\n"
        "Elküldve: 2024. március 13. 16:02\n"
        "Címzett: Kovács Anna <anna@example.hu>\n"
        "Tárgy: [#1042] Rendelés\n\n"
        "Kedves Anna!\n"
    )
    new, quoted = strip_quoted(text)
    assert new == "Igen, jó így."
    assert quoted.startswith("Feladó:") and "Kedves Anna!" in quoted


def test_german_header_and_signature() -> None:
    text = (
        "Hallo,\n\ndanke für die schnelle Antwort.\n\nMit freundlichen Grüßen\nHans Schmidt\n\n"
        "Am 13.03.2024 um 16:02 schrieb Helpline Support <support@helpline.test>:\n> Guten Tag\n"
    )
    new, quoted = strip_quoted(text)
    assert new == "Hallo,\n\ndanke für die schnelle Antwort."
    assert "Mit freundlichen Grüßen" in quoted and "schrieb Helpline Support" in quoted


def test_german_outlook_header_block_and_original_message_line() -> None:
    new, quoted = strip_quoted(
        "Passt.\n\nVon: Support\nGesendet: Mittwoch, 13. März 2024 16:02\nAn: Hans\nBetreff: Test\n\nalt"
    )
    assert new == "Passt." and quoted.startswith("Von: Support")
    new, quoted = strip_quoted("Passt.\n\n-----Ursprüngliche Nachricht-----\nalt")
    assert new == "Passt." and "Ursprüngliche Nachricht" in quoted


def test_english_header() -> None:
    new, quoted = strip_quoted("Thanks!\n\nOn Wed, 13 Mar 2024 at 16:02, Support <s@h.test> wrote:\n> hi\n")
    assert new == "Thanks!" and quoted.startswith("On Wed")


def test_trailing_quote_block_without_header() -> None:
    new, quoted = strip_quoted("Yes please.\n\n> Shall we ship it?\n> Regards\n")
    assert new == "Yes please."
    assert quoted.startswith("> Shall we ship it?")


def test_text_without_history_is_unchanged() -> None:
    assert strip_quoted("Just a question:\nwhere is my parcel?") == ("Just a question:\nwhere is my parcel?", "")
    assert strip_quoted("") == ("", "")


def test_parsed_corpus_reply_strips_to_the_new_text() -> None:
    raw = (Path(__file__).parent / "corpus" / "reply_quoted_hu.eml").read_bytes()
    new, quoted = strip_quoted(parse_message(raw).text)
    assert new == "Köszönöm, megérkezett!"
    assert "Üdvözlettel" in quoted and "ezt írta:" in quoted
