"""Agents who live on the keyboard: j/k, Enter, r, ? and Esc in the workspace."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.conftest import User, create_user, start_conversation

pytestmark = pytest.mark.e2e

# Notes (and stops) any attempt to leave the page: the Navigation API's "navigate" event fires
# the moment a script sets location.href, so "nothing happened" needs no waiting.
LEAVING = """() => navigation.addEventListener("navigate", (event) => {
  if (window.__letGo) return;
  window.__leavingFor = event.destination.url;
  event.preventDefault();
})"""


def test_keyboard_shortcuts_move_and_open(
    live_server: Server, browser_as: Callable[[User], Page], api: Callable[[str], httpx.Client]
) -> None:
    agent = create_user(live_server, "kata@keys.test", "Kata Kovács")
    client = api(agent.email)
    for n, subject in enumerate(["Invoice missing", "Parcel lost", "Password reset"]):
        start_conversation(client, contact={"email": f"c{n}@example.com", "name": f"Customer {n}"},
                           subject=subject, message={"body": f"Please help with: {subject}."})

    page = browser_as(agent)
    inbox = live_server.url + "/inbox?view=all_open"
    page.goto(inbox)
    rows = page.locator(".row[data-id]")
    expect(rows).to_have_count(3)
    hrefs = [rows.nth(i).get_attribute("href") for i in range(3)]
    subjects = rows.locator(".subject").all_inner_texts()
    selected = page.locator(".row.selected")
    shortcuts = page.locator("#shortcuts")

    page.keyboard.press("?")
    expect(shortcuts).to_be_visible()
    expect(shortcuts).to_contain_text("Next / previous conversation")
    page.keyboard.press("Escape")
    expect(shortcuts).to_be_hidden()
    expect(selected).to_have_count(0)

    for key, expected in [("j", 0), ("j", 1), ("j", 2), ("j", 2), ("k", 1)]:  # stops at the last row
        page.keyboard.press(key)
        expect(selected).to_have_count(1)
        expect(selected).to_have_attribute("href", hrefs[expected] or "")

    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + (hrefs[1] or ""))
    expect(page.get_by_role("heading", level=1)).to_have_text(subjects[1])

    reply = page.locator("#reply-body")
    expect(reply).not_to_be_focused()
    page.keyboard.press("r")
    expect(reply).to_be_focused()
    expect(reply).to_have_value("")  # the "r" itself is not typed
    page.keyboard.press("Escape")  # leaves the reply box, stays on the conversation
    expect(reply).not_to_be_focused()

    page.keyboard.press("?")
    expect(shortcuts).to_be_visible()
    page.evaluate(LEAVING)
    page.keyboard.press("Escape")  # closes the dialog, and only that
    expect(shortcuts).to_be_hidden()
    assert page.evaluate("() => window.__leavingFor") is None, "Escape in the dialog also left the conversation"
    page.evaluate("() => { window.__letGo = true; }")

    page.keyboard.press("Escape")  # now goes back to the inbox it came from
    expect(page).to_have_url(inbox)
