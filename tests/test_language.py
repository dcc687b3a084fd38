"""Language detection from what the customer wrote (routing rules use it when nothing is declared)."""

from __future__ import annotations

import pytest

from helpline.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Sehr geehrte Damen und Herren, ich habe eine Frage zu meiner Rechnung. Bitte helfen Sie mir.", "de"),
        ("Tisztelt Ügyfélszolgálat! A számlámmal kapcsolatban szeretnék kérdezni, kérem segítsenek.", "hu"),
        ("Hello, my order was not delivered and I would like a refund, please.", "en"),
        ("Bonjour, je ne peux pas me connecter à mon compte, merci", "fr"),
    ],
)
def test_the_language_of_a_typical_customer_message_is_recognised(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "ok", "12345 !!!", "Rechnung invoice számla", "<script>alert(1)</script>"])
def test_too_little_to_go_on_gives_no_language(text: str) -> None:
    assert detect_language(text) is None
