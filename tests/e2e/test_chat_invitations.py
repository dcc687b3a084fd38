"""Proactive invitations and business hours in the widget, in real Chromium on a customer's website
(another origin): a rule for */pricing* opens the chat with its greeting after 2 s on /pricing but not on
/about, not again once the visitor closed it, never while nobody is there; outside business hours the
leave-a-message form shows the hours message and when the chat is back; a single-page site (history.pushState)
gets the rules of the page it moved to."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.conftest import Server
from tests.e2e.conftest import VIEWPORT, User, create_user
from tests.e2e.test_chat_widget import dialog, launcher, make_channel, wait_until_online

pytestmark = pytest.mark.e2e

GREETING = "Fragen zu unseren <b>Tarifen</b>? Wir helfen gern."
RULES = [{"url": "*/pricing*", "seconds": 2, "greeting": GREETING},
         {"url": "/checkout", "seconds": 0, "greeting": "Hilfe beim Bezahlen?"}]


@pytest.fixture(scope="module")
def admin(live_server: Server) -> User:
    # Everyone up front, before the routing engine loads (see test_chat_widget.admin).
    create_user(live_server, "ines@invite.test", "Ines Ipsen")
    return create_user(live_server, "ida@invite.test", "Ida Admin", role="admin")


def set_state(api: Callable[[str], httpx.Client], state: str) -> None:
    answer = api("ines@invite.test").put("/api/v1/routing/agents/me/state", json={"state": state})
    assert answer.status_code == 200, answer.text


def on_page(host_origin: str, live_server: Server, channel: dict, path: str) -> str:
    return f"{host_origin}{path}?helpline={live_server.url}&channel={channel['public_key']}&lang=de"


def invitation(page: Page) -> Locator:
    return dialog(page).locator(".greet.invite:visible")  # in the list, or above the pre-chat form


def test_a_pricing_rule_invites_after_two_seconds_on_pricing_only_and_not_again_once_closed(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], artifacts: Path,
) -> None:
    set_state(api, "available")
    channel = make_channel(api(admin.email), host_origin, name="Bohne Tarife", invitations=RULES)
    wait_until_online(live_server, host_origin, channel)
    page = new_context(viewport=VIEWPORT).new_page()

    page.goto(on_page(host_origin, live_server, channel, "/about"))
    expect(launcher(page)).to_be_visible()
    page.wait_for_timeout(3500)
    expect(dialog(page)).to_be_hidden()  # no rule for /about

    page.goto(on_page(host_origin, live_server, channel, "/pricing"))
    expect(launcher(page)).to_be_visible()
    shown_at = time.monotonic()
    expect(dialog(page)).to_be_hidden()
    expect(invitation(page)).to_have_text(GREETING, timeout=5000)  # the markup is text
    assert time.monotonic() - shown_at >= 1.5, "the invitation came before the visitor spent 2 s on the page"
    expect(dialog(page)).to_be_visible()
    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("() => document.activeElement === document.body"), "the invitation took the focus"
    page.screenshot(path=str(artifacts / "chat-invitation.png"))

    dialog(page).get_by_role("button", name="Chat schließen").click()  # no, thank you
    expect(dialog(page)).to_be_hidden()
    page.goto(on_page(host_origin, live_server, channel, "/checkout/pay"))  # another rule, same visit
    page.goto(on_page(host_origin, live_server, channel, "/pricing"))
    page.wait_for_timeout(3500)
    expect(dialog(page)).to_be_hidden()

    fresh = new_context(viewport=VIEWPORT).new_page()  # another visitor: invited at once on /checkout
    fresh.goto(on_page(host_origin, live_server, channel, "/checkout/pay"))
    expect(invitation(fresh)).to_have_text("Hilfe beim Bezahlen?")


def test_a_single_page_site_is_invited_where_it_moved_to_not_where_it_was(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext],
) -> None:
    set_state(api, "available")
    channel = make_channel(api(admin.email), host_origin, name="Bohne SPA", invitations=RULES)
    wait_until_online(live_server, host_origin, channel)
    page = new_context(viewport=VIEWPORT).new_page()
    page.goto(on_page(host_origin, live_server, channel, "/pricing"))
    expect(launcher(page)).to_be_visible()
    page.wait_for_timeout(800)
    # The site moves on with history.pushState (no page load, no event) before the 2 s are up.
    page.evaluate("() => history.pushState({}, '', '/about' + location.search)")
    page.wait_for_timeout(3500)
    expect(dialog(page)).to_be_hidden()  # the /pricing invitation left with its page
    page.evaluate("() => history.pushState({}, '', '/pricing/business' + location.search)")
    expect(invitation(page)).to_have_text(GREETING, timeout=5000)


def test_nobody_is_invited_while_the_chat_is_offline(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client], page: Page,
) -> None:
    set_state(api, "offline")
    channel = make_channel(api(admin.email), host_origin, name="Bohne nachts", invitations=RULES)
    page.goto(on_page(host_origin, live_server, channel, "/checkout"))
    expect(launcher(page)).to_be_visible()
    page.wait_for_timeout(2500)
    expect(dialog(page)).to_be_hidden()


def test_outside_business_hours_the_form_shows_the_hours_message_and_when_the_chat_is_back(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client], page: Page,
    artifacts: Path,
) -> None:
    set_state(api, "available")  # someone is there, but the shop is closed today
    today = datetime.now(UTC).date()
    channel = make_channel(
        api(admin.email), host_origin, name="Bohne Feiertag", invitations=RULES, time_zone="UTC",
        opening_hours={d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        holidays=[today.isoformat(), (today + timedelta(days=1)).isoformat()],
        hours_message="Über die Feiertage ist unser Team nicht da.",
        offline_message="Gerade ist niemand frei.",
    )
    page.goto(on_page(host_origin, live_server, channel, "/checkout"))
    expect(launcher(page)).to_be_visible()
    page.wait_for_timeout(1500)
    expect(dialog(page)).to_be_hidden()  # no invitation outside business hours
    launcher(page).click()
    panel = dialog(page)
    expect(panel.get_by_role("heading", name="Hinterlassen Sie uns eine Nachricht")).to_be_visible()
    intro = panel.locator(".intro")
    expect(intro).to_contain_text("Über die Feiertage ist unser Team nicht da.")
    expect(intro).to_contain_text("Wieder erreichbar:")
    expect(intro).not_to_contain_text("Gerade ist niemand frei.")
    expect(panel).to_contain_text("Wir sind offline")
    page.screenshot(path=str(artifacts / "chat-widget-closed-hours.png"))
