"""The end of a chat in real Chromium: the visitor ends the chat, rates it 4 of 5 with a comment and
asks for the transcript; the agent's open conversation page shows the rating as it comes (no
reload), and the transcript reaches the visitor's mailbox through the tenant's SMTP relay."""

from __future__ import annotations

import email
import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import cast

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.channels.email.test_sending_fixtures import Sink
from tests.conftest import Server, cli
from tests.e2e.conftest import LIVE, VIEWPORT, User, create_user, expect_live, expect_not_reloaded, mark_page
from tests.e2e.test_chat_widget import (
    agent_reply,
    become_available,
    bubbles,
    dialog,
    host_url,
    launcher,
    make_channel,
    wait_until_online,
)
from tests.e2e.test_routing_browser import set_up_routing

pytestmark = pytest.mark.e2e

ELLA = User("ella@end.test", "Ella Ende")
OTTO = User("otto@end.test", "Otto Admin")


@pytest.fixture(scope="module")
def relay(live_server: Server) -> Iterator[Sink]:
    """The people (made before the routing engine loads) and the support mailbox, relaying to a sink."""
    create_user(live_server, ELLA.email, ELLA.name)
    create_user(live_server, OTTO.email, OTTO.name, role="admin")
    sink = Sink().start()
    token = cli(live_server.database_url, live_server.var_dir, "token", "create", "--email", OTTO.email)
    created = httpx.post(f"{live_server.url}/api/v1/mailboxes", timeout=10,
                         headers={"Authorization": f"Bearer {token.strip().splitlines()[-1]}"},
                         json={"address": "hallo@bohne.example", "display_name": "Kaffeerösterei Bohne",
                               "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"})
    assert created.status_code == 201, created.text
    yield sink
    sink.stop()


def mail_to(relay: Sink, recipient: str, timeout: float = 15.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in relay.received:
            if received.rcpt_tos == [recipient]:
                return cast(EmailMessage, email.message_from_bytes(received.data, policy=default_policy))
        time.sleep(0.1)
    raise AssertionError(f"no email to {recipient} reached the relay")


def test_visitor_ends_rates_and_gets_the_transcript_while_the_agent_watches(
    live_server: Server, host_origin: str, relay: Sink, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], browser_as: Callable[[User], Page], artifacts: Path,
) -> None:
    admin = api(OTTO.email)
    set_up_routing(admin)
    channel = make_channel(admin, host_origin, name="Bohne Ende")
    ella = browser_as(ELLA)
    expect_live(ella)
    become_available(ella)
    wait_until_online(live_server, host_origin, channel)

    # A visitor chats with Ella.
    visitor = new_context(viewport=VIEWPORT).new_page()
    visitor.goto(host_url(host_origin, live_server, channel))
    launcher(visitor).click()
    panel = dialog(visitor)
    panel.get_by_label("Ihr Name").fill("Vera Vogel")
    panel.get_by_label("Ihre E-Mail-Adresse").fill("vera@example.de")
    panel.get_by_role("button", name="Chat starten").click()
    composer = panel.get_by_role("textbox", name="Nachricht schreiben…")
    composer.fill("Ist mein Paket schon unterwegs?")
    composer.press("Enter")
    expect(panel.locator(".msg.me", has_text="Paket")).to_contain_text("✓ Gesendet", timeout=LIVE)
    offer = ella.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    offer.get_by_role("button", name="Accept").click()
    expect(ella).to_have_url(re.compile(r"/conversations/\d+$"), timeout=LIVE)
    conversation_id = int(ella.url.rsplit("/", 1)[1])
    expect_live(ella)
    agent_reply(ella, "Ja, es kommt morgen.")
    expect(bubbles(panel, "them", "Ja, es kommt morgen.")).to_be_visible(timeout=LIVE)
    note = api(ELLA.email).post(f"/api/v1/conversations/{conversation_id}/messages",
                                json={"body": "Intern: Stammkundin, VIP", "direction": "note"})
    assert note.status_code == 201, note.text
    mark_page(ella)

    # The visitor ends the chat and rates it: Ella's open page shows it as it comes.
    panel.get_by_role("button", name="Chat beenden").click()
    expect(panel).to_contain_text("Der Chat wurde beendet.")
    panel.get_by_role("radio", name="4 von 5").click()
    panel.get_by_label("Kommentar (optional)").fill('Schnell & freundlich <img src=x onerror="window.__xss=1">')
    panel.get_by_role("button", name="Bewertung senden").click()
    expect(panel.get_by_role("status").filter(has_text="Vielen Dank für Ihr Feedback!")).to_be_visible(timeout=LIVE)
    visitor.screenshot(path=str(artifacts / "chat-end-rated.png"))
    rating = ella.locator("#satisfaction")
    expect(rating.get_by_role("img", name="Rated 4 out of 5")).to_be_visible(timeout=LIVE)
    expect(rating.locator(".stars")).to_have_text("★★★★★")  # four gold and one grey
    expect(rating.locator(".comment")).to_have_text('Schnell & freundlich <img src=x onerror="window.__xss=1">')
    expect(ella.locator("#thread")).to_contain_text("Customer rated 4/5")
    assert ella.evaluate("() => window.__xss === undefined")
    expect_not_reloaded(ella)
    ella.screenshot(path=str(artifacts / "chat-end-agent-sees-rating.png"))

    # The visitor has the transcript mailed to the address she gave before the chat.
    expect(panel.get_by_label("Ihre E-Mail-Adresse")).to_have_value("vera@example.de")
    panel.get_by_role("button", name="Verlauf per E-Mail senden").click()
    expect(panel.get_by_role("status").filter(has_text="Wir senden den Verlauf an vera@example.de.")).to_be_visible(
        timeout=LIVE)
    expect(ella.locator("#thread")).to_contain_text("Chat transcript emailed to vera@example.de", timeout=LIVE)
    mail = mail_to(relay, "vera@example.de")
    assert mail["From"].addresses[0].addr_spec == "hallo@bohne.example"
    assert mail["Content-Language"] == "de"
    plain = mail.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Ist mein Paket schon unterwegs?" in text and "Ella Ende · " in text and "Ja, es kommt morgen." in text
    assert "VIP" not in text

    # The conversation list and the API show the rating too.
    listed = admin.get("/api/v1/conversations", params={"view": "all"}).json()["items"]
    rated = next(c for c in listed if c["id"] == conversation_id)
    assert rated["satisfaction"]["score"] == 4
    ella.goto(f"{live_server.url}/inbox?view=all")
    expect(ella.locator(f"#conv-row-{conversation_id} .rating")).to_have_text("★ 4/5")
