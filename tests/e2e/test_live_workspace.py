"""The agents' workspace in a real browser: a contact form message reaches the inbox live,
replies show up for colleagues live, and colleagues see each other in a conversation."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.conftest import (
    LIVE,
    VIEWPORT,
    User,
    create_user,
    expect_live,
    expect_not_reloaded,
    mark_page,
    start_conversation,
)

pytestmark = pytest.mark.e2e


def test_admin_creates_agent_who_sees_contact_form_live_and_replies(
    live_server: Server,
    new_context: Callable[..., BrowserContext],
    browser_as: Callable[[User], Page],
    artifacts: Path,
) -> None:
    admin = create_user(live_server, "ada@live.test", "Ada Admin", role="admin")
    colleague = create_user(live_server, "bela@live.test", "Béla Bodnár")

    # A: the admin adds an agent through the admin page.
    admin_page = browser_as(admin)
    admin_page.goto(live_server.url + "/admin/users")
    form = admin_page.locator("#new-user")
    form.get_by_label("Name").fill("Anna Agent")
    form.get_by_label("Email").fill("anna@live.test")
    form.get_by_label("Password").fill("anna-secret-password")
    form.get_by_label("Role").select_option(label="Agent")
    form.get_by_role("button", name="Add user").click()
    expect(admin_page.locator("#users")).to_contain_text("anna@live.test")

    # B: the new agent logs in with what the admin chose and watches the open conversations.
    agent = browser_as(User("anna@live.test", "Anna Agent", "anna-secret-password"))
    agent.goto(live_server.url + "/inbox?view=all_open")
    expect_live(agent)
    mark_page(agent)

    # C: a customer, not logged in, writes through the public form with a file attached.
    customer = new_context(viewport=VIEWPORT).new_page()
    customer.goto(live_server.url + "/contact")
    customer.get_by_label("Your name").fill("Klaus Kunde")
    customer.get_by_label("Your email").fill("klaus@example.de")
    customer.get_by_label("Subject").fill("My kettle stopped working")
    customer.get_by_label("Message").fill("It worked for two days, then nothing.\nThe receipt is attached.")
    customer.get_by_label("Attachment (optional)").set_input_files(
        files=[{"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"Kettle 2000, 39.90 EUR"}]
    )
    customer.get_by_role("button", name="Send message").click()
    expect(customer.locator("#reference")).to_have_text(re.compile(r"^#\d+$"))
    number = customer.locator("#reference").inner_text()

    # B sees it arrive without reloading.
    row = agent.locator(".row", has_text="My kettle stopped working")
    expect(row).to_contain_text(f"{number} · Klaus Kunde", timeout=LIVE)
    all_open = agent.locator(".nav a", has_text="All open").locator(".count")
    expect(all_open).to_have_text(str(agent.locator(".row").count()), timeout=LIVE)
    expect_not_reloaded(agent)
    agent.screenshot(path=str(artifacts / "inbox.png"))

    # D: a colleague already has the conversation open.
    href = row.get_attribute("href")
    assert href
    watcher = browser_as(colleague)
    watcher.goto(live_server.url + href)
    expect(watcher.locator("#thread")).to_contain_text("The receipt is attached.")
    expect_live(watcher)
    mark_page(watcher)

    # B opens it, sees the message and its attachment, and replies.
    row.click()
    expect(agent).to_have_url(live_server.url + href)
    expect(agent.get_by_role("heading", name="My kettle stopped working")).to_be_visible()
    expect(agent.locator("#thread")).to_contain_text("It worked for two days, then nothing.")
    expect(agent.locator("#thread .attachments")).to_contain_text("receipt.txt")
    agent.locator("#reply-body").fill("Sorry to hear that, Klaus. A new kettle is on its way.")
    agent.get_by_role("button", name="Send", exact=True).click()
    reply = agent.locator("#thread .msg.outbound", has_text="A new kettle is on its way.")
    expect(reply).to_contain_text("Anna Agent")
    expect(agent.locator("#reply-body")).to_have_value("")
    expect(agent.locator("#conv-meta .badge")).to_have_text("Open", timeout=LIVE)  # answered: no longer new
    expect(agent.locator("#p-status")).to_have_value("open")
    expect(agent.locator("#collision")).to_have_text("Béla Bodnár is viewing")
    agent.screenshot(path=str(artifacts / "conversation.png"))

    # D sees the reply and the new status appear without reloading.
    expect(watcher.locator("#thread .msg.outbound")).to_contain_text("A new kettle is on its way.", timeout=LIVE)
    expect(watcher.locator("#conv-meta .badge")).to_have_text("Open", timeout=LIVE)
    expect(watcher.locator("#p-status")).to_have_value("open")
    expect_not_reloaded(watcher)


def test_collision_shows_who_else_is_viewing_and_replying(
    live_server: Server, browser_as: Callable[[User], Page], api: Callable[[str], httpx.Client]
) -> None:
    first = create_user(live_server, "cecil@collide.test", "Cecil Csizmadia")
    second = create_user(live_server, "dora@collide.test", "Dóra Deák")
    created = start_conversation(
        api(first.email),
        contact={"email": "erik@example.se", "name": "Erik Ek"},
        subject="Two agents, one customer",
        message={"body": "Who is answering me?"},
    )
    url = f"{live_server.url}/conversations/{created['id']}"

    cecil = browser_as(first)
    cecil.goto(url)
    expect_live(cecil)
    dora = browser_as(second)
    dora.goto(url)
    expect_live(dora)

    expect(cecil.locator("#collision")).to_have_text("Dóra Deák is viewing")
    expect(dora.locator("#collision")).to_have_text("Cecil Csizmadia is viewing")

    dora.locator("#reply-body").press_sequentially("Hello Erik")
    expect(cecil.locator("#collision")).to_have_text("Dóra Deák is replying")
    expect(dora.locator("#collision")).to_have_text("Cecil Csizmadia is viewing")

    dora.close()
    expect(cecil.locator("#collision")).to_be_hidden()
