"""The chat channel's admin page in Chromium: the snippet selects itself for copying, and deleting a
channel asks first (our Content-Security-Policy refuses inline handlers, so the page's script asks)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.conftest import User, create_user

pytestmark = pytest.mark.e2e


def test_deleting_a_chat_channel_asks_first(
    live_server: Server, api: Callable[[str], httpx.Client], browser_as: Callable[[User], Page]
) -> None:
    admin = create_user(live_server, "ada@chat-admin.test", "Ada Admin", role="admin")
    client = api(admin.email)
    created = client.post("/api/v1/chat-channels", json={"name": "Bohne Web", "allowed_origins": ["https://bohne.example"]})
    assert created.status_code == 201, created.text
    channel_id = created.json()["id"]
    page = browser_as(admin)
    page.goto(f"{live_server.url}/admin/chat/{channel_id}")

    snippet = page.locator("#snippet")
    snippet.click()
    assert page.evaluate("() => getSelection().toString() || document.activeElement.value.substring("
                         "document.activeElement.selectionStart, document.activeElement.selectionEnd)") \
        == snippet.input_value()

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete chat channel").click()
    assert questions == ["Delete this chat channel? The widget stops working on every website."]
    expect(page).to_have_url(f"{live_server.url}/admin/chat/{channel_id}")
    assert client.get(f"/api/v1/chat-channels/{channel_id}").status_code == 200  # still there

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete chat channel").click()
    expect(page).to_have_url(re.compile(r"/admin/chat(\?saved=1)?$"))
    assert client.get(f"/api/v1/chat-channels/{channel_id}").status_code == 404
