"""Canned replies in real Chromium: an agent writes her own on /replies (with placeholders and a live
preview), inserts them into a live chat with the "Canned reply" button and with /shortcut, and the
visitor's widget shows the texts filled in for her."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.conftest import LIVE, VIEWPORT, User, create_user, expect_live
from tests.e2e.test_chat_widget import (
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

KATI = User("kati@canned.test", "Kati Kardos")
DELAYED = ("Hello {{customer.first_name}}, this is {{agent.first_name}} from {{company.name}}. "
           "Your order (#{{conversation.number}}) is on its way.")
THANKS = "Thank you, {{customer.name}}! Anything else I can do?"


@pytest.fixture(scope="module")
def admin(live_server: Server) -> User:
    # Everyone up front: the routing engine knows the users that exist when it loads.
    create_user(live_server, KATI.email, KATI.name)
    return create_user(live_server, "ada@canned.test", "Ada Admin", role="admin")


def write_canned_reply(page: Page, title: str, shortcut: str, text: str) -> None:
    page.get_by_role("link", name="New canned reply").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Shortcut (optional)").fill(shortcut)
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_role("button", name="Save canned reply").click()
    expect(page.locator("#canned-replies")).to_contain_text(title)


def test_an_agent_inserts_her_canned_replies_into_a_chat_by_button_and_by_shortcut(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], browser_as: Callable[[User], Page], artifacts: Path,
) -> None:
    client = api(admin.email)
    set_up_routing(client)
    channel = make_channel(client, host_origin, name="Bohne Antworten")
    kati = browser_as(KATI)

    # Kati writes two canned replies of her own; the preview fills in a made-up customer as she types.
    kati.get_by_role("link", name="Canned replies").click()
    expect(kati).to_have_url(live_server.url + "/replies")
    kati.get_by_role("link", name="New canned reply").click()
    kati.get_by_label("Text", exact=True).fill("Hi {{customer.first_name}}, {{agent.name}} here.")
    expect(kati.locator("#cr-preview")).to_have_text("Hi Klara, Kati Kardos here.")
    kati.get_by_label("Text", exact=True).fill("Hi {{customer.phone}}")
    expect(kati.locator("#cr-preview")).to_contain_text("unknown placeholder {{customer.phone}}")
    kati.screenshot(path=str(artifacts / "canned-reply-form.png"))
    kati.go_back()
    write_canned_reply(kati, "Order delayed", "delay", DELAYED)
    write_canned_reply(kati, "Anything else?", "thanks", THANKS)

    # A visitor says who she is and asks; Kati takes the chat.
    expect_live(kati)
    become_available(kati)
    wait_until_online(live_server, host_origin, channel)
    visitor = new_context(viewport=VIEWPORT).new_page()
    visitor.goto(host_url(host_origin, live_server, channel, lang="en"))
    launcher(visitor).click()
    panel = dialog(visitor)
    panel.get_by_label("Your name").fill("Klara Kovács")
    panel.get_by_label("Your email").fill("klara@example.com")
    panel.get_by_role("button", name="Start chat").click()
    composer = panel.get_by_role("textbox", name="Write a message…")
    composer.fill("Where is my coffee grinder?")
    composer.press("Enter")
    offer = kati.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    offer.get_by_role("button", name="Accept").click()
    expect(kati).to_have_url(re.compile(r"/conversations/\d+$"), timeout=LIVE)
    number = kati.locator(".conv-head span.muted").inner_text().lstrip("#")
    expect_live(kati)

    # The button opens the list; arrows move, Esc closes and gives the reply box its focus back.
    reply_box = kati.locator("#reply-body")
    picker = kati.locator(".canned-picker")
    reply_form = kati.locator('form[data-pane="reply"]')
    reply_form.get_by_role("button", name="Canned reply").click()
    search = picker.get_by_role("combobox", name="Search canned replies…")
    expect(search).to_be_focused()
    options = picker.get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.first).to_have_attribute("aria-selected", "true")
    kati.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    kati.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(reply_box).to_be_focused()
    expect(kati).to_have_url(re.compile(r"/conversations/\d+$"))  # Esc closed the list, not the page

    # Typed to filter, Enter inserts the reply filled in for this chat; Kati sends it.
    reply_form.get_by_role("button", name="Canned reply").click()
    search.press_sequentially("delay", delay=20)
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Order delayed")
    kati.screenshot(path=str(artifacts / "canned-reply-picker.png"))
    kati.keyboard.press("Enter")
    delayed = (f"Hello Klara, this is Kati from Helpline. Your order (#{number}) is on its way.")
    expect(reply_box).to_have_value(delayed)
    expect(picker).to_be_hidden()
    reply_form.get_by_role("button", name="Send").click()
    expect(reply_box).to_have_value("", timeout=LIVE)
    expect(bubbles(panel, "them", "is on its way")).to_have_text(delayed, timeout=LIVE)

    # "/" at the start of an empty line opens the same list; the shortcut and Tab put the reply in its place.
    reply_box.press_sequentially("So sorry for the wait.\n/than", delay=20)
    expect(picker).to_be_visible()
    expect(search).to_be_hidden()
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("/thanks")
    reply_box.press("Tab")
    thanks = "So sorry for the wait.\nThank you, Klara Kovács! Anything else I can do?"
    expect(reply_box).to_have_value(thanks)
    expect(reply_box).to_be_focused()
    reply_box.press("Control+Enter")
    expect(reply_box).to_have_value("", timeout=LIVE)
    expect(bubbles(panel, "them", "Anything else I can do?")).to_have_text(thanks, timeout=LIVE)
    visitor.screenshot(path=str(artifacts / "canned-reply-visitor.png"))

    # A "/" inside a line is just a slash; each reply counts one use.
    reply_box.press_sequentially("and/or", delay=10)
    expect(picker).to_be_hidden()
    kati.goto(live_server.url + "/replies")
    rows = kati.locator("#canned-replies tbody tr")
    expect(rows.filter(has_text="Order delayed").locator(".usage")).to_have_text("1")
    expect(rows.filter(has_text="Anything else?").locator(".usage")).to_have_text("1")
    kati.screenshot(path=str(artifacts / "canned-replies-list.png"))
