"""The public contact form, as a visitor sees it: in their language, and forgiving of typos."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.conftest import create_user

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def help_desk(live_server: Server) -> None:
    """The form belongs to a company, which exists once its first user does."""
    create_user(live_server, "ada@form.test", "Ada Admin", role="admin")


def test_contact_form_is_localised(live_server: Server, page: Page) -> None:
    submit = page.locator("#contact-form button[type=submit]")
    page.goto(live_server.url + "/contact")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    english = [page.locator("h1").inner_text(), page.locator("label[for=cf-name]").inner_text(),
               submit.inner_text()]

    page.get_by_role("link", name="Deutsch").click()
    expect(page).to_have_url(re.compile(r"/contact\?lang=de$"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator(".langs a.active")).to_have_text("Deutsch")
    german = [page.locator("h1").inner_text(), page.locator("label[for=cf-name]").inner_text(),
              submit.inner_text()]
    assert german[0] != english[0], "the German heading is still in English"
    assert german[1] != english[1], "the German name label is still in English"
    assert german[2] != english[2], "the German submit button is still in English"

    page.goto(live_server.url + "/contact")  # the visitor's choice is remembered
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(submit).to_have_text(german[2])


def test_validation_errors_are_shown_and_nothing_lost(live_server: Server, page: Page) -> None:
    page.goto(live_server.url + "/contact")
    page.get_by_label("Your name").fill("Zoltán Szabó")
    page.get_by_label("Your email").fill("zoltan.example.hu")
    page.get_by_label("Subject").fill("Számla kérdés")
    page.get_by_label("Message").fill("Good morning,\n\nthe invoice shows the wrong address.\nThanks!")
    page.get_by_role("button", name="Send message").click()

    email = page.get_by_label("Your email")
    expect(email).to_have_value("zoltan.example.hu")
    error = page.locator("#cf-email + .form-error")
    expect(error).to_have_text("Please enter a valid email address.")
    expect(email).to_have_accessible_description("Please enter a valid email address.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".form-error")).to_have_count(1)
    expect(page.locator("#reference")).to_have_count(0)
    expect(page.get_by_label("Your name")).to_have_value("Zoltán Szabó")
    expect(page.get_by_label("Subject")).to_have_value("Számla kérdés")
    expect(page.get_by_label("Message")).to_have_value(
        "Good morning,\n\nthe invoice shows the wrong address.\nThanks!"
    )

    email.fill("zoltan@example.hu")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("#reference")).to_have_text(re.compile(r"^#\d+$"))
    expect(page.get_by_text("zoltan@example.hu")).to_be_visible()
