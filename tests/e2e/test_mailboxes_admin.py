"""An admin sets up a support mailbox in the browser: adds it through the form, tests the SMTP relay
inline (a real aiosmtpd server), sees it listed, edits it, and never sees the password again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from tests.conftest import Server, free_port
from tests.e2e.conftest import User, create_user

pytestmark = pytest.mark.e2e
SECRET = "relay-Secret-2026"


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[int]:
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_admin_adds_tests_lists_and_edits_a_mailbox(
    live_server: Server, browser_as: Callable[[User], Page], artifacts: Path, relay: int
) -> None:
    admin = create_user(live_server, "ada@mailboxes.example", "Ada Admin", role="admin")
    page = browser_as(admin)

    page.goto(live_server.url + "/admin/users")
    page.locator(".admin-tabs").get_by_role("link", name="Mailboxes").click()
    expect(page).to_have_url(re.compile(r"/admin/mailboxes$"))
    page.get_by_role("link", name="Add a mailbox").click()

    page.get_by_label("Email address").fill("Support@Mailboxes.example")
    page.get_by_label("Display name").fill("Acme <Support>")
    page.get_by_label("SMTP server", exact=True).fill("127.0.0.1")
    page.get_by_label("SMTP port").fill(str(relay))
    page.get_by_label("SMTP security").select_option("none")
    page.get_by_label("SMTP password").fill(SECRET)
    page.get_by_label("Answer each new conversation with its reference number").check()

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text(f"connected to 127.0.0.1:{relay} (no login set up)")
    expect(page.get_by_label("Email address")).to_have_value("Support@Mailboxes.example")  # an inline answer
    expect(page.get_by_text("Connecting…")).to_be_hidden()
    page.screenshot(path=str(artifacts / "mailboxes-admin-test-connection.png"), full_page=True)

    page.get_by_role("button", name="Save mailbox").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Display name: must not contain < or >")
    expect(page.get_by_label("Display name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("SMTP port")).to_have_value(str(relay))  # what was typed is still there
    expect(page.get_by_label("SMTP password")).to_have_value("")  # except the password
    page.get_by_label("Display name").fill("Acme Support")
    page.get_by_label("SMTP password").fill(SECRET)
    page.get_by_role("button", name="Save mailbox").click()

    expect(page).to_have_url(re.compile(r"/admin/mailboxes\?saved=1$"))
    row = page.get_by_role("row", name=re.compile(r"^support@mailboxes\.example"))
    expect(row).to_contain_text("Acme Support")
    expect(row).to_contain_text("SMTP listener")
    expect(row).to_contain_text("on")
    page.screenshot(path=str(artifacts / "mailboxes-admin-list.png"), full_page=True)

    row.get_by_role("link", name="support@mailboxes.example").click()
    password = page.get_by_label("SMTP password")
    expect(password).to_have_value("")
    expect(password).to_have_attribute("placeholder", "set: leave blank to keep")
    assert SECRET not in page.content()
    page.get_by_label("Display name").fill("Acme Help Desk")
    page.get_by_label("Fetch mail from an IMAP server").check()
    page.get_by_label("IMAP server", exact=True).fill("imap.mailboxes.example")
    page.get_by_label("IMAP user name").fill("support")
    page.screenshot(path=str(artifacts / "mailboxes-admin-edit.png"), full_page=True)
    page.get_by_role("button", name="Save mailbox").click()

    row = page.get_by_role("row", name=re.compile(r"^support@mailboxes\.example"))
    expect(row).to_contain_text("Acme Help Desk")
    expect(row).to_contain_text("IMAP imap.mailboxes.example")

    row.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading")).to_contain_text("Delete the mailbox support@mailboxes.example?")
    page.get_by_role("button", name="Delete mailbox").click()
    expect(page.locator("#mailboxes")).to_contain_text("No mailboxes yet.")
