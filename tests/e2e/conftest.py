"""Helpers for the browser tests: people made through the CLI, the API as an integrator calls it,
and logged-in browser contexts. Every test module shares one `helpline serve` (live_server)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server, cli
from tests.e2e.chat_site import host_origin  # noqa: F401 - a fixture for the chat tests

PASSWORD = "correct-horse-battery-staple"
VIEWPORT = {"width": 1280, "height": 800}
LIVE = 2_000  # ms: how soon a change made elsewhere must show up on an open page


@dataclass(frozen=True)
class User:
    email: str
    name: str
    password: str = PASSWORD


def create_user(server: Server, email: str, name: str, role: str = "agent") -> User:
    cli(server.database_url, server.var_dir, "user", "create", "--email", email, "--name", name,
        "--role", role, "--password", PASSWORD)
    return User(email, name)


@pytest.fixture
def api(live_server: Server) -> Iterator[Callable[[str], httpx.Client]]:
    """api(email) -> an httpx client speaking for that user with a fresh bearer token."""
    clients: list[httpx.Client] = []

    def make(email: str) -> httpx.Client:
        token = cli(live_server.database_url, live_server.var_dir, "token", "create", "--email", email)
        client = httpx.Client(base_url=live_server.url, timeout=10,
                              headers={"Authorization": f"Bearer {token.strip().splitlines()[-1]}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def start_conversation(client: httpx.Client, **body: object) -> dict:
    response = client.post("/api/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def log_in(context: BrowserContext, server: Server, user: User) -> Page:
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/inbox"))
    return page


@pytest.fixture
def browser_as(new_context: Callable[..., BrowserContext], live_server: Server) -> Callable[[User], Page]:
    """browser_as(user) -> a page in a fresh browser context, logged in as that user."""

    def open_as(user: User) -> Page:
        return log_in(new_context(viewport=VIEWPORT), live_server, user)

    return open_as


def expect_live(page: Page) -> None:
    """Wait until the page's WebSocket is up (the green "Live" dot), so no event can be missed."""
    expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))


def mark_page(page: Page) -> None:
    """Leave a mark in the page's window: it survives only if the page is never reloaded."""
    page.evaluate("() => { window.__notReloaded = true; }")


def expect_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded"
