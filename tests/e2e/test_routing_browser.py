"""Routing in a real browser: two available agents, a customer writes through the contact form, exactly
one agent is offered the conversation live, declines, the other gets it and accepts; the supervisor's
wallboard follows every step without a reload."""

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
)

pytestmark = pytest.mark.e2e


def set_up_routing(client: httpx.Client) -> int:
    """One queue everything goes to, and a reason code for breaks: what an admin sets up first."""
    queue = client.post("/api/v1/routing/queues", json={"name": "Kundenservice", "offer_timeout_seconds": 90})
    assert queue.status_code == 201, queue.text
    settings = client.put("/api/v1/routing/settings", json={"default_queue_id": queue.json()["id"]})
    assert settings.status_code == 200, settings.text
    reason = client.post("/api/v1/routing/reason-codes", json={"name": "Lunch"})
    assert reason.status_code == 201, reason.text
    return int(queue.json()["id"])


def become_available(page: Page, artifacts: Path | None = None) -> None:
    state = page.locator("#agent-bar .agent-state")
    expect(state).to_contain_text("Offline")
    state.locator("summary").click()
    menu = page.locator("#agent-bar .state-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("button", name="Lunch")).to_be_visible()
    if artifacts is not None:
        page.screenshot(path=str(artifacts / "agent-state-menu.png"))
    menu.get_by_role("button", name="Available").click()
    expect(state).to_contain_text("Available")
    expect(state.locator(".state-time")).to_have_text(re.compile(r"^00:0\d$"))


def queue_metric(board: Page, queue_id: int, metric: str) -> object:
    return board.locator(f'[data-queue="{queue_id}"] [data-metric="{metric}"]')


def test_an_offer_goes_to_one_agent_then_the_next_and_the_wallboard_follows(
    live_server: Server,
    new_context: Callable[..., BrowserContext],
    browser_as: Callable[[User], Page],
    api: Callable[[str], httpx.Client],
    artifacts: Path,
) -> None:
    admin = create_user(live_server, "ada@routing.test", "Ada Admin", role="admin")
    queue_id = set_up_routing(api(admin.email))
    anna_user = create_user(live_server, "anna@routing.test", "Anna Angyal")
    bela_user = create_user(live_server, "bela@routing.test", "Béla Bodnár")
    sophie_user = create_user(live_server, "sophie@routing.test", "Sophie Schmidt", role="supervisor")

    # The supervisor watches the wallboard.
    board = browser_as(sophie_user)
    board.set_viewport_size({"width": 1440, "height": 900})
    board.goto(live_server.url + "/wallboard")
    expect(board.get_by_role("heading", name="Wallboard")).to_be_visible()
    expect_live(board)
    mark_page(board)
    expect(queue_metric(board, queue_id, "waiting")).to_have_text("0")
    expect(queue_metric(board, queue_id, "agents-available")).to_have_text("0")

    # Two agents become available from the header of their workspace (Anna first: she idles longest).
    anna = browser_as(anna_user)
    expect_live(anna)
    become_available(anna, artifacts)
    bela = browser_as(bela_user)
    expect_live(bela)
    become_available(bela)
    mark_page(anna)
    mark_page(bela)
    expect(queue_metric(board, queue_id, "agents-available")).to_have_text("2", timeout=LIVE)

    # A customer writes through the public contact form.
    customer = new_context(viewport=VIEWPORT).new_page()
    customer.goto(live_server.url + "/contact")
    customer.get_by_label("Your name").fill("Klaus Kunde")
    customer.get_by_label("Your email").fill("klaus@example.de")
    customer.get_by_label("Subject").fill("Mein Wasserkocher ist kaputt")
    customer.get_by_label("Message").fill("Nach zwei Tagen ging nichts mehr.")
    customer.get_by_role("button", name="Send message").click()
    expect(customer.locator("#reference")).to_have_text(re.compile(r"^#\d+$"))
    number = customer.locator("#reference").inner_text()

    # Exactly one agent — Anna — gets the offer, live.
    offer = anna.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    expect(offer).to_contain_text("Mein Wasserkocher ist kaputt")
    expect(offer).to_contain_text(number)
    expect(offer).to_contain_text("Kundenservice")
    expect(offer.locator(".offer-left")).to_have_text(re.compile(r"^01:[23]\d$"))
    expect(bela.locator(".offer-card")).to_have_count(0)
    expect(anna.locator("#agent-bar .agent-state")).to_contain_text("Available")
    expect(anna.locator(".row", has_text="Mein Wasserkocher ist kaputt")).to_be_visible(timeout=LIVE)
    anna.wait_for_timeout(500)  # let the card's entrance animation finish
    anna.screenshot(path=str(artifacts / "offer.png"))

    # The wallboard shows one waiting, offered today, and the offer on Anna's card.
    expect(queue_metric(board, queue_id, "waiting")).to_have_text("1", timeout=LIVE)
    expect(queue_metric(board, queue_id, "offered")).to_have_text("1")
    anna_card = board.locator(".wb-agent", has_text="Anna Angyal")
    expect(anna_card.locator(".wb-chip.offered")).to_contain_text(number, timeout=LIVE)
    board.wait_for_timeout(2500)  # the longest wait ticks on in the browser
    expect(board.locator(".wb-kpi [data-elapsed]")).not_to_have_text("00:00")
    board.screenshot(path=str(artifacts / "wallboard-waiting.png"))

    # Anna declines: her card goes, and Béla gets the offer.
    offer.get_by_role("button", name="Decline").click()
    expect(anna.locator(".offer-card")).to_have_count(0, timeout=LIVE)
    bela_offer = bela.locator(".offer-card")
    expect(bela_offer).to_be_visible(timeout=LIVE)
    expect(bela_offer).to_contain_text("Mein Wasserkocher ist kaputt")
    expect(anna.locator(".offer-card")).to_have_count(0)
    expect(board.locator(".wb-agent", has_text="Béla Bodnár").locator(".wb-chip.offered")).to_contain_text(
        number, timeout=LIVE
    )
    expect_not_reloaded(anna)
    expect_not_reloaded(bela)

    # Béla accepts and lands on the conversation, now his.
    bela_offer.get_by_role("button", name="Accept").click()
    expect(bela).to_have_url(re.compile(r"/conversations/\d+$"), timeout=LIVE)
    expect(bela.get_by_role("heading", name="Mein Wasserkocher ist kaputt")).to_be_visible()
    expect(bela.locator("#p-assignee option:checked")).to_have_text("Béla Bodnár")
    expect(bela.locator("#agent-bar .agent-state")).to_contain_text("Busy", timeout=LIVE)
    expect(bela.locator("#transfer-box")).to_contain_text("Transfer")
    bela.screenshot(path=str(artifacts / "agent-busy-conversation.png"))

    # The wallboard followed without a reload: answered, nobody waiting, Béla busy with it.
    expect(queue_metric(board, queue_id, "waiting")).to_have_text("0", timeout=LIVE)
    expect(queue_metric(board, queue_id, "answered")).to_have_text("1", timeout=LIVE)
    expect(queue_metric(board, queue_id, "agents-busy")).to_have_text("1", timeout=LIVE)
    bela_card = board.locator(".wb-agent", has_text="Béla Bodnár")
    expect(bela_card).to_contain_text("Busy")
    expect(bela_card.locator(".wb-chip").first).to_contain_text(number)
    expect_not_reloaded(board)
    board.screenshot(path=str(artifacts / "wallboard.png"))

    # Anna takes a break; the wallboard says why.
    anna.locator("#agent-bar .agent-state summary").click()
    anna.locator("#agent-bar .state-menu").get_by_role("button", name="Lunch").click()
    expect(anna.locator("#agent-bar .agent-state")).to_contain_text("Not ready: Lunch")
    expect(board.locator(".wb-agent", has_text="Anna Angyal")).to_contain_text("Not ready: Lunch", timeout=LIVE)
    expect_not_reloaded(board)

    # An admin puts her back to available: her header follows by itself, without a reload.
    admin_api = api(admin.email)
    users = admin_api.get("/api/v1/users").json()
    anna_id = next(u["id"] for u in users if u["email"] == anna_user.email)
    mark_page(anna)
    changed = admin_api.put(f"/api/v1/routing/agents/{anna_id}/state", json={"state": "available"})
    assert changed.status_code == 200, changed.text
    expect(anna.locator("#agent-bar .agent-state")).to_contain_text("Available", timeout=LIVE)
    expect_not_reloaded(anna)

    # Béla hands the conversation to Anna with a note; it is hers, and she reads why.
    bela.reload()
    bela.locator("#transfer-target").select_option(label="Anna Angyal — Available")
    bela.locator("#transfer-note").fill("She asked for Anna by name")
    bela.locator("#transfer-box").get_by_role("button", name="Transfer").click()
    expect(bela.locator("#transfer-box .transfer-done")).to_have_text("Transferred to Anna Angyal.", timeout=LIVE)
    anna.goto(bela.url)
    expect(anna.locator("#p-assignee option:checked")).to_have_text("Anna Angyal")
    expect(anna.locator(".thread")).to_contain_text("She asked for Anna by name")
    expect(anna.locator(".thread")).to_contain_text("Transferred to Anna Angyal")


def test_agents_get_the_403_page_for_the_wallboard(live_server: Server, browser_as: Callable[[User], Page]) -> None:
    agent = browser_as(create_user(live_server, "cecil@routing.test", "Cecil Csizmadia"))
    expect(agent.locator(".sidebar").get_by_role("link", name="Wallboard")).to_have_count(0)
    response = agent.goto(agent.url.split("/inbox")[0] + "/wallboard")
    assert response is not None and response.status == 403
    expect(agent.locator(".error-message")).to_contain_text("supervisors")
