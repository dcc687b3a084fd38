"""Read receipts in a live chat, in real Chromium: the visitor's widget shows "✓✓ Read" once the agent
has had the chat on screen, the agent's page shows "Seen" under the reply the visitor has read, both
survive a reload, and typing that starts before the agent's socket is up still reaches the visitor."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.conftest import Server
from tests.e2e.conftest import LIVE, VIEWPORT, User, create_user, expect_live
from tests.e2e.test_chat_widget import (
    agent_reply,
    become_available,
    dialog,
    host_url,
    launcher,
    make_channel,
    wait_until_online,
)
from tests.e2e.test_routing_browser import set_up_routing

pytestmark = pytest.mark.e2e

READ = LIVE + 1_500  # ms: the agent's page waits a second of the message on screen before it counts as read
RITA = User("rita@receipts.test", "Rita Reader")

# The agent page's WebSocket held shut until the test lets it open: typing starts while it is not up.
HOLD_SOCKETS = """
(() => {
  const Real = window.WebSocket;
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  window.__openSockets = () => release();
  function Held(url) {
    const holder = { onopen: null, onclose: null, onmessage: null, real: null };
    Object.defineProperty(holder, "readyState", { get: () => (holder.real ? holder.real.readyState : 0) });
    holder.send = (data) => holder.real.send(data);
    holder.close = () => holder.real && holder.real.close();
    gate.then(() => {
      const real = new Real(url);
      holder.real = real;
      real.onopen = (ev) => holder.onopen && holder.onopen(ev);
      real.onclose = (ev) => holder.onclose && holder.onclose(ev);
      real.onmessage = (ev) => holder.onmessage && holder.onmessage(ev);
    });
    return holder;
  }
  Object.assign(Held, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Held;
})();
"""


@pytest.fixture(scope="module")
def admin(live_server: Server) -> User:
    # Everyone up front: the routing engine knows the users that exist when it loads.
    create_user(live_server, RITA.email, RITA.name)
    return create_user(live_server, "ada@receipts.test", "Ada Admin", role="admin")


def visitor_writes(new_context: Callable[..., BrowserContext], url: str, text: str) -> tuple[Page, Locator, Locator]:
    """A visitor opens the chat (in English) and writes; (her page, the chat panel, her composer)."""
    visitor = new_context(viewport=VIEWPORT).new_page()
    visitor.goto(url)
    launcher(visitor).click()
    panel = dialog(visitor)
    composer = panel.get_by_role("textbox", name="Write a message…")
    composer.fill(text)
    composer.press("Enter")
    expect(panel.locator(".msg.me", has_text=text)).to_contain_text("✓ Sent", timeout=LIVE)
    return visitor, panel, composer


def test_the_visitor_sees_read_and_the_agent_sees_seen(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], browser_as: Callable[[User], Page], artifacts: Path,
) -> None:
    client = api(admin.email)
    set_up_routing(client)
    channel = make_channel(client, host_origin, name="Bohne Quittung", prechat={"name": "off", "email": "off"})
    agent = browser_as(RITA)
    expect_live(agent)
    become_available(agent)
    wait_until_online(live_server, host_origin, channel)

    # The visitor writes; nobody has the chat open yet: sent, not read.
    url = host_url(host_origin, live_server, channel, lang="en")
    visitor, panel, composer = visitor_writes(new_context, url, "Is my order 1234 on its way?")
    question = panel.locator(".msg.me", has_text="order 1234")

    # Rita accepts the chat: its page shows the question, and the visitor's widget says it was read.
    offer = agent.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    visitor.wait_for_timeout(500)
    expect(question).to_contain_text("✓ Sent")  # an offer on the screen is not the chat read
    offer.get_by_role("button", name="Accept").click()
    expect(agent).to_have_url(re.compile(r"/conversations/\d+$"), timeout=LIVE)
    expect(agent.locator("#thread")).to_contain_text("Is my order 1234 on its way?")
    expect(question).to_contain_text("✓✓ Read", timeout=READ)
    visitor.screenshot(path=str(artifacts / "chat-receipts-read.png"))

    # An internal note is nothing the visitor hears of; the next visitor message is read in turn.
    notes = agent.locator('.composer [data-tab="note"]')
    notes.click()
    agent.locator("#note-body").fill("Stammkunde, Paket prüfen")
    agent.locator('form[data-pane="note"]').get_by_role("button", name="Add note").click()
    expect(agent.locator("#thread .msg.note")).to_contain_text("Stammkunde", timeout=LIVE)
    agent.locator('.composer [data-tab="reply"]').click()
    composer.fill("It was due yesterday.")
    composer.press("Enter")
    follow_up = panel.locator(".msg.me", has_text="due yesterday")
    expect(follow_up).to_contain_text("✓✓ Read", timeout=READ)
    expect(question).to_contain_text("✓ Sent")  # "Read" stands under the newest read message only
    assert "Stammkunde" not in panel.inner_text()

    # Rita answers; the visitor has the chat open: "Seen" appears under the answer on Rita's page.
    agent_reply(agent, "It ships today, sorry for the wait.")
    answer = agent.locator("#thread article.msg.outbound", has_text="It ships today")
    expect(answer.locator(".chat-seen")).to_have_text("Seen", timeout=LIVE)
    expect(agent.locator("#thread .chat-seen")).to_have_count(1)
    agent.screenshot(path=str(artifacts / "chat-receipts-seen.png"))

    # Both survive a reload.
    visitor.reload()
    expect(dialog(visitor).locator(".msg.me", has_text="due yesterday")).to_contain_text("✓✓ Read", timeout=LIVE)
    agent.reload()
    expect(agent.locator("#thread article.msg.outbound", has_text="It ships today").locator(".chat-seen")
           ).to_have_text("Seen", timeout=LIVE)


def test_typing_before_the_agents_socket_is_up_reaches_the_visitor(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], browser_as: Callable[[User], Page],
) -> None:
    client = api(admin.email)
    for earlier in client.get("/api/v1/conversations", params={"limit": 200}).json()["items"]:
        solved = client.patch(f"/api/v1/conversations/{earlier['id']}", json={"status": "solved"})  # Rita is free
        assert solved.status_code == 200, solved.text
    channel = make_channel(client, host_origin, name="Bohne Tippen", prechat={"name": "off", "email": "off"})
    agent = browser_as(RITA)
    expect_live(agent)
    if "Available" not in agent.locator("#agent-bar .agent-state").inner_text():
        become_available(agent)
    wait_until_online(live_server, host_origin, channel)
    _visitor, panel, _composer = visitor_writes(new_context, host_url(host_origin, live_server, channel, lang="en"),
                                                "Hello?")
    listed = client.get("/api/v1/conversations", params={"limit": 200}).json()["items"]
    chat = max((c for c in listed if c["channel"] == "chat"), key=lambda c: c["number"])

    agent.add_init_script(HOLD_SOCKETS)
    agent.goto(f"{live_server.url}/conversations/{chat['id']}")
    expect(agent.locator("#live-status")).not_to_have_class(re.compile(r"\bon\b"))
    agent.locator("#reply-body").press_sequentially("Einen Moment", delay=20)
    agent.evaluate("() => window.__openSockets()")
    expect_live(agent)
    expect(panel.locator(".typing")).to_have_text("Rita Reader is typing…", timeout=LIVE)
