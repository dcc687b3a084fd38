"""An agent answers an email conversation in the browser, with a CC; the customer's relay receives it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from helpline.channels.email import parse_message
from helpline.db import sync_url
from tests.channels.email.test_sending_fixtures import Sink
from tests.conftest import Server
from tests.e2e.conftest import User, create_user, start_conversation


@pytest.fixture(scope="module")
def relay(live_server: Server) -> Iterator[Sink]:
    """The tenant's support mailbox, its SMTP relay being this sink."""
    sink = Sink().start()
    create_user(live_server, "erin@acme.example", "Erin Email", role="admin")  # the first user makes the tenant
    add_mailbox(live_server, sink.port)
    yield sink
    sink.stop()


def add_mailbox(server: Server, port: int) -> None:
    """The support mailbox, its SMTP relay pointing at the test's sink (as an admin would set it up)."""
    engine = create_engine(sync_url(server.database_url))
    with engine.begin() as conn:
        tenant_id = conn.execute(text("SELECT id FROM tenants ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO mailboxes (tenant_id, address, display_name, signature, is_active, auto_acknowledge, "
                "default_language, sender_rate_limit_per_hour, imap_enabled, imap_host, imap_port, imap_security, "
                "imap_user, imap_password_encrypted, imap_folder, imap_processed_action, imap_move_to, "
                "imap_last_error, smtp_host, smtp_port, smtp_security, smtp_user, smtp_password_encrypted, "
                "created_at, updated_at) VALUES (:tenant, 'support@acme.example', 'Acme Support', 'The Acme team', "
                ":yes, :no, 'en', 30, :no, '', 993, 'ssl', '', '', 'INBOX', 'flag', '', '', '127.0.0.1', :port, "
                "'none', '', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"tenant": tenant_id, "port": port, "yes": True, "no": False},
        )
    engine.dispose()


ERIN = User("erin@acme.example", "Erin Email")


def wait_for_mail(relay: Sink, count: int = 1, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(relay.received) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(relay.received) >= count, "the relay received nothing"


def test_agent_replies_with_a_cc_and_the_customer_receives_it(
    live_server: Server, relay: Sink, api: Callable[[str], httpx.Client], browser_as: Callable[[User], Page]
):
    agent = ERIN
    conversation = start_conversation(
        api(agent.email), channel="email", subject="Invoice question",
        contact={"email": "marta@kunde.example", "name": "Márta Kovács"}, message={"body": "Is my invoice paid?"},
    )

    page = browser_as(agent)
    page.goto(f"{live_server.url}/conversations/{conversation['id']}")
    page.get_by_text("Cc/Bcc").click()
    page.locator("#reply-cc").fill("boss@kunde.example")
    page.locator("#reply-body").fill("Yes, Márta: it was paid on Monday.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#thread .msg.outbound")).to_contain_text("it was paid on Monday")

    wait_for_mail(relay)
    mail = relay.received[0]
    assert sorted(mail.rcpt_tos) == ["boss@kunde.example", "marta@kunde.example"]
    parsed = parse_message(mail.data)
    assert parsed.subject == f"Re: Invoice question [#{conversation['number']}]"
    assert [a.address for a in parsed.cc] == ["boss@kunde.example"]
    assert parsed.text.startswith("Yes, Márta: it was paid on Monday.\n\n-- \nThe Acme team")

    page.reload()
    expect(page.locator("#thread .msg.outbound [data-delivery]")).to_have_attribute("data-delivery", "sent")


def test_agent_forwards_the_conversation_to_a_third_party(
    live_server: Server, relay: Sink, api: Callable[[str], httpx.Client], browser_as: Callable[[User], Page]
):
    before = len(relay.received)
    conversation = start_conversation(
        api(ERIN.email), channel="email", subject="Broken kettle",
        contact={"email": "kurt@kunde.example", "name": "Kurt"}, message={"body": "The lid fell off."},
    )
    page = browser_as(ERIN)
    page.goto(f"{live_server.url}/conversations/{conversation['id']}")
    page.locator(".composer [data-tab=forward]").click()
    page.locator("#forward-to").fill("repairs@partner.example")
    page.locator("#forward-note").fill("Can you send a new lid?")
    page.locator("form[data-pane=forward] button[type=submit]").click()
    expect(page.locator("#thread .msg.note")).to_contain_text("Forwarded to repairs@partner.example")

    wait_for_mail(relay, before + 1)
    mail = relay.received[before]
    assert mail.rcpt_tos == ["repairs@partner.example"]
    parsed = parse_message(mail.data)
    assert parsed.subject == f"Fwd: Broken kettle [#{conversation['number']}]"
    assert parsed.text.startswith("Can you send a new lid?") and "The lid fell off." in parsed.text
