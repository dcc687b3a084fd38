"""Whatever customers, integrators or colleagues type, it is shown as text and never runs.

The browser ignores the pages' Content-Security-Policy here (bypass_csp), so these tests prove
the escaping and sanitising themselves, not just the CSP safety net behind them."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.conftest import (
    LIVE,
    VIEWPORT,
    create_user,
    expect_live,
    log_in,
    start_conversation,
)

pytestmark = pytest.mark.e2e

PAYLOADS = [
    "<script>window.__xss=1;alert('script')</script>",
    "<img src=x onerror=\"window.__xss=1;alert('img')\">",
    "<svg onload=\"window.__xss=1;alert('svg')\"><circle r=9></circle></svg>",
    "\"><script>window.__xss=1;alert('breakout')</script>",
    "'><img src=x onerror=window.__xss=1;alert('single-quote')>",
    "<a href=\"javascript:window.__xss=1;alert('link')\">click me</a>",
    "<iframe src=\"javascript:parent.__xss=1;parent.alert('iframe')\"></iframe>",
    "<iframe srcdoc=\"<script>parent.__xss=1;parent.alert('srcdoc')</script>\"></iframe>",
    "<div hx-get=\"/inbox\" hx-trigger=\"load\" hx-on:htmx:load=\"window.__xss=1;alert('htmx')\">htmx</div>",
]
ALL = " ".join(PAYLOADS)

# Elements and attributes that only an injection could have put into our pages.
FIND_INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    if (tag === "script" && !(el.getAttribute("src") || "").startsWith("/static/")) found.push("inline script");
    if (["iframe", "object", "embed", "svg"].includes(tag)) found.push(tag);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/\\s/g, "").toLowerCase();
      if (name.startsWith("on") || name.startsWith("hx-on")) found.push(`${tag}[${name}]`);
      if (name === "srcdoc" || value.startsWith("javascript:")) found.push(`${tag}[${name}=${attr.value}]`);
    }
  }
  return found;
}"""


class XssWatch:
    """Records every dialog a context opens; checks a page for signs of injected code."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []

    def attach(self, context: BrowserContext) -> BrowserContext:
        def on_dialog(dialog: object) -> None:
            self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
            dialog.dismiss()  # type: ignore[attr-defined]

        context.on("dialog", on_dialog)
        return context

    def assert_clean(self, page: Page) -> None:
        # A broken <img> fires onerror once it has failed to load: wait until every image is done.
        page.wait_for_function("() => Array.from(document.images).every((img) => img.complete)")
        assert page.evaluate("() => window.__xss") is None, f"injected script ran on {page.url}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert page.evaluate(FIND_INJECTED) == [], f"injected markup on {page.url}"


def test_xss_payloads_never_run_in_the_browser(
    live_server: Server,
    new_context: Callable[..., BrowserContext],
    api: Callable[[str], httpx.Client],
) -> None:
    admin = create_user(live_server, "ada@xss.test", "Ada Admin", role="admin")
    mallory = create_user(live_server, "mallory@xss.test", PAYLOADS[1], role="agent")
    watch = XssWatch()
    browser = watch.attach(new_context(viewport=VIEWPORT, bypass_csp=True))
    page = log_in(browser, live_server, admin)
    page.goto(live_server.url + "/inbox?view=all")
    expect_live(page)

    # Conversations arrive through the API while the inbox is open: the rows come in through htmx.
    integrator = api(admin.email)
    plain = start_conversation(
        integrator,
        contact={"email": "plain@example.com", "name": PAYLOADS[0]},
        subject="Zebrafish " + PAYLOADS[3],
        message={"body": "Zebrafish in plain text:\n" + ALL},
    )
    rich = start_conversation(
        integrator,
        contact={"email": "rich@example.com", "name": PAYLOADS[4]},
        subject="Zebrafish " + PAYLOADS[2],
        message={"body": "", "html": "<p>Zebrafish in <b>HTML</b>:</p>" + ALL},
    )
    expect(page.locator(".row")).to_have_count(2, timeout=LIVE)
    expect(page.locator(f"#conv-row-{plain['id']} .subject")).to_have_text("Zebrafish " + PAYLOADS[3])
    expect(page.locator(f"#conv-row-{rich['id']}")).to_contain_text(PAYLOADS[4])
    watch.assert_clean(page)

    # A customer types the same into the public form; once with an invalid email, once for real.
    visitor = watch.attach(new_context(viewport=VIEWPORT, bypass_csp=True)).new_page()
    visitor.goto(live_server.url + "/contact")
    visitor.get_by_label("Your name").fill(PAYLOADS[5])
    visitor.get_by_label("Your email").fill(PAYLOADS[3])
    visitor.get_by_label("Subject").fill("Zebrafish " + PAYLOADS[6])
    visitor.get_by_label("Message").fill(ALL)
    visitor.get_by_role("button", name="Send message").click()
    expect(visitor.get_by_label("Your email")).to_have_value(PAYLOADS[3])
    watch.assert_clean(visitor)
    visitor.get_by_label("Your email").fill("visitor@example.com")
    visitor.get_by_role("button", name="Send message").click()
    expect(visitor.locator("#reference")).to_have_text(re.compile(r"^#\d+$"))
    watch.assert_clean(visitor)
    expect(page.locator(".row")).to_have_count(3, timeout=LIVE)
    watch.assert_clean(page)

    # The conversations, with the thread refreshed live by a colleague whose name is a payload.
    page.goto(f"{live_server.url}/conversations/{plain['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Zebrafish " + PAYLOADS[3])
    expect(page.locator("#thread")).to_contain_text(PAYLOADS[8])
    watch.assert_clean(page)

    page.goto(f"{live_server.url}/conversations/{rich['id']}")
    expect(page.locator("#thread")).to_contain_text("Zebrafish in HTML:")
    expect_live(page)
    colleague = log_in(watch.attach(new_context(viewport=VIEWPORT, bypass_csp=True)), live_server, mallory)
    colleague.goto(f"{live_server.url}/conversations/{rich['id']}")
    expect(page.locator("#collision")).to_have_text(f"{PAYLOADS[1]} is viewing")
    api(mallory.email).post(f"/api/v1/conversations/{rich['id']}/messages",
                            json={"body": "", "html": "<p>Reply with payloads:</p>" + ALL})
    expect(page.locator("#thread .msg.outbound")).to_contain_text("Reply with payloads:", timeout=LIVE)
    expect(page.locator("#thread .msg.outbound")).to_contain_text(PAYLOADS[1])
    watch.assert_clean(page)
    watch.assert_clean(colleague)

    # The contact pages and the search results.
    for contact_id in (plain["contact_id"], rich["contact_id"]):
        page.goto(f"{live_server.url}/contacts/{contact_id}")
        expect(page.locator("#contact-timeline")).to_contain_text("Zebrafish")
        watch.assert_clean(page)
    page.goto(f"{live_server.url}/contacts")
    expect(page.locator("#contacts")).to_contain_text(PAYLOADS[0])
    watch.assert_clean(page)

    page.goto(live_server.url + "/search?q=zebrafish")
    expect(page.locator("#search-conversations .row")).to_have_count(3)
    watch.assert_clean(page)
    page.get_by_role("searchbox", name="Search").fill(PAYLOADS[3])
    page.get_by_role("searchbox", name="Search").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(PAYLOADS[3])
    watch.assert_clean(page)
