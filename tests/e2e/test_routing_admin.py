"""An admin sets up routing in the browser: a skill, queues with an expansion step and overflow,
and a refused overflow loop shown on the form with everything still filled in."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.conftest import User, create_user

pytestmark = pytest.mark.e2e


def test_admin_creates_a_skill_and_queues_and_sees_a_refused_overflow_loop(
    live_server: Server, browser_as: Callable[[User], Page], artifacts: Path
) -> None:
    admin = create_user(live_server, "ada@routing.test", "Ada Admin", role="admin")
    page = browser_as(admin)

    page.goto(live_server.url + "/admin/users")
    page.locator(".admin-tabs").get_by_role("link", name="Skills").click()
    expect(page).to_have_url(re.compile(r"/admin/skills$"))
    page.get_by_label("Name").fill("billing")
    page.get_by_role("button", name="Add skill").click()
    expect(page.locator("#skills input[name=name]")).to_have_value("billing")

    page.locator(".admin-tabs").get_by_role("link", name="Queues").click()
    page.get_by_role("link", name="Add a queue").click()
    page.get_by_label("Name", exact=True).fill("Support")
    page.get_by_role("button", name="Save queue").click()
    expect(page.locator("#queues")).to_contain_text("Support")

    page.get_by_role("link", name="Add a queue").click()
    page.get_by_label("Name", exact=True).fill("Billing")
    page.get_by_label("billing").select_option("3")
    page.get_by_role("button", name="Add a step").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Billing")  # nothing typed is lost
    page.locator("input[name='expansion-0-after_seconds']").fill("45")
    page.get_by_label("Overflow to queue").select_option(label="Support")
    page.get_by_label("Overflow after (seconds)").fill("120")
    page.get_by_role("button", name="Save queue").click()
    billing_row = page.get_by_role("row", name=re.compile(r"^Billing"))
    expect(billing_row).to_contain_text("billing ≥ 3")
    expect(billing_row).to_contain_text("→ Support")

    page.locator("#queues").get_by_role("link", name="Support").click()
    page.get_by_label("Overflow to queue").select_option(label="Billing")
    page.get_by_label("Overflow after (seconds)").fill("60")
    page.get_by_role("button", name="Save queue").click()

    error = page.get_by_role("alert")
    expect(error).to_contain_text("overflow_queue_id")
    expect(error).to_contain_text("loops back: Support → Billing → Support")
    overflow = page.get_by_label("Overflow to queue")
    expect(overflow).to_have_attribute("aria-invalid", "true")
    expect(overflow).to_have_value(re.compile(r"\d+"))  # the choice that was refused is still there
    expect(page.get_by_label("Overflow after (seconds)")).to_have_value("60")
    page.screenshot(path=str(artifacts / "routing-admin-overflow-loop.png"), full_page=True)

    page.goto(live_server.url + "/admin/queues")
    expect(page.get_by_role("row", name=re.compile(r"^Support"))).not_to_contain_text("→")
