"""Chat channels as admins set them up (API and page), and the widget's HTTP calls with CORS."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from helpline.channels.chat import service
from helpline.events import Event
from tests.conftest import Person

API = "/api/v1/chat-channels"
SITE = "https://shop.acme.example"


def refused(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.text


async def create(client: httpx.AsyncClient, who: Person, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Shop")
    body.setdefault("allowed_origins", [SITE])
    response = await client.post(API, headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- admin API -------------------------------------------------------------------------------------


async def test_admin_creates_a_channel_with_a_public_key_and_normalised_origins(client, admin):
    created = await create(client, admin, allowed_origins=["HTTPS://Shop.Acme.Example:443/", "http://localhost:8000"],
                           colour="#A1B2C3", prechat={"name": "required", "email": "off"})
    assert created["allowed_origins"] == [SITE, "http://localhost:8000"]
    assert created["colour"] == "#a1b2c3" and created["prechat"] == {"name": "required", "email": "off"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", created["public_key"])
    listed = (await client.get(API, headers=admin.headers)).json()
    assert [c["id"] for c in listed] == [created["id"]]


async def test_patch_changes_only_what_is_sent_and_delete_removes(client, admin):
    created = await create(client, admin, greeting="Hello!")
    patched = await client.patch(f"{API}/{created['id']}", headers=admin.headers, json={"position": "left"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["position"] == "left" and patched.json()["greeting"] == "Hello!"
    assert (await client.delete(f"{API}/{created['id']}", headers=admin.headers)).status_code == 204
    refused(await client.get(f"{API}/{created['id']}", headers=admin.headers), 404, "channel_id")


async def test_bad_values_are_refused_naming_the_field(client, admin):
    cases = [
        ({"allowed_origins": ["ftp://shop.acme.example"]}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.acme.example/path"]}, "allowed_origins"),
        ({"allowed_origins": ["https://user@shop.acme.example"]}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.acme.example\r\nX: y"]}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.acme.example:99999"]}, "allowed_origins"),
        ({"colour": "red"}, "colour"),
        ({"colour": "#12345g"}, "colour"),
        ({"position": "top"}, "position"),
        ({"language": "fr"}, "language"),
        ({"prechat": {"name": "maybe"}}, "prechat.name"),
        ({"prechat": {"phone": "required"}}, "prechat.phone"),
        ({"name": "  "}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"team_id": 999}, "team_id"),
    ]
    for body, field in cases:
        refused(await client.post(API, headers=admin.headers, json={"name": "Shop", **body}), 422, field)
    assert (await client.get(API, headers=admin.headers)).json() == []


async def test_agents_and_other_tenants_get_nothing(client, admin, agent, other_tenant_admin):
    created = await create(client, admin)
    assert (await client.get(API, headers=agent.headers)).status_code == 403
    assert (await client.post(API, headers=agent.headers, json={"name": "X"})).status_code == 403
    for call in (client.get, client.delete):
        refused(await call(f"{API}/{created['id']}", headers=other_tenant_admin.headers), 404, "channel_id")
    assert (await client.get(API, headers=other_tenant_admin.headers)).json() == []


async def test_changes_are_announced_after_commit(app, client, admin):
    subscription = app.state.runtime.bus.subscribe()
    try:
        created = await create(client, admin)
        event = await asyncio.wait_for(_next_of(subscription, service.CHANNELS_CHANGED), 5)
        expected = {"what": "created", "channel_id": created["id"]}
        assert event == Event(service.CHANNELS_CHANGED, admin.tenant_id, expected)
    finally:
        subscription.close()


async def _next_of(subscription: Any, kind: str) -> Event:
    while True:
        event = await subscription.get()
        if event.type == kind:
            return event


# --- admin page -------------------------------------------------------------------------------------


async def _log_in(client: httpx.AsyncClient, person: Person) -> str:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303
    page = await client.get("/admin/chat/new")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def test_admin_page_creates_a_channel_and_shows_the_snippet(client, admin):
    csrf = await _log_in(client, admin)
    form = {"csrf_token": csrf, "name": "Web shop", "allowed_origins": f"{SITE}\nhttp://localhost:8000",
            "colour": "#112233", "position": "right", "language": "auto", "greeting": "Hi <b>there</b>",
            "offline_message": "", "prechat_name": "optional", "prechat_email": "required", "is_active": "1"}
    saved = await client.post("/admin/chat/new", data=form)
    assert saved.status_code == 303, saved.text
    page = await client.get("/admin/chat")
    key = (await client.get(API)).json()[0]["public_key"]
    assert "Web shop" in page.text and "http://localhost:8000" in page.text
    assert f'data-channel=&#34;{key}&#34;' in page.text or f"data-channel=&quot;{key}&quot;" in page.text
    assert "/widget.js" in page.text


async def test_admin_page_shows_a_refused_value_next_to_its_label(client, admin):
    csrf = await _log_in(client, admin)
    form = {"csrf_token": csrf, "name": "Web shop", "allowed_origins": "shop.acme.example", "colour": "#112233",
            "position": "right", "language": "auto", "prechat_name": "off", "prechat_email": "off"}
    answer = await client.post("/admin/chat/new", data=form)
    assert answer.status_code == 422
    assert "Allowed websites" in answer.text and 'aria-invalid="true"' in answer.text
    assert "shop.acme.example" in answer.text  # what was typed is still there


# --- the widget's HTTP calls ---------------------------------------------------------------------------


async def test_config_answers_an_allowed_origin_with_cors_and_offline(client, admin):
    created = await create(client, admin, greeting="Hello!", offline_message="Leave us a note")
    answer = await client.get(f"/widget/v1/channels/{created['public_key']}/config", headers={"Origin": SITE})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SITE
    assert "origin" in answer.headers["vary"].lower()
    body = answer.json()
    assert body["online"] is False  # no agent is available
    assert body["channel"]["greeting"] == "Hello!" and body["channel"]["offline_message"] == "Leave us a note"
    assert "public_key" not in body["channel"] and "allowed_origins" not in body["channel"]


async def test_other_origins_and_no_origin_get_403_naming_origin(client, admin):
    created = await create(client, admin)
    url = f"/widget/v1/channels/{created['public_key']}/config"
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "http://shop.acme.example"}, {}):
        answer = await client.get(url, headers=headers)
        refused(answer, 403, "origin")
        assert "access-control-allow-origin" not in answer.headers
    refused(await client.get("/widget/v1/channels/nosuchchannelkey000000/config", headers={"Origin": SITE}),
            404, "public_key")


async def test_preflight_is_answered_for_allowed_origins_only(client, admin):
    created = await create(client, admin)
    url = f"/widget/v1/channels/{created['public_key']}/sessions"
    headers = {"Origin": SITE, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
    answer = await client.options(url, headers=headers)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == SITE
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "content-type" in answer.headers["access-control-allow-headers"].lower()
    refused(await client.options(url, headers={**headers, "Origin": "https://evil.example"}), 403, "origin")


async def test_inactive_channel_refuses_the_widget(client, admin):
    created = await create(client, admin, is_active=False)
    refused(await client.get(f"/widget/v1/channels/{created['public_key']}/config", headers={"Origin": SITE}),
            403, "public_key")


async def test_a_session_token_is_issued_once_and_only_its_hash_is_stored(client, admin, db):
    created = await create(client, admin)
    answer = await client.post(f"/widget/v1/channels/{created['public_key']}/sessions", json={},
                               headers={"Origin": SITE, "User-Agent": "Mozilla/5.0 Firefox/120.0"})
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    assert len(token) >= 43 and answer.headers["access-control-allow-origin"] == SITE
    from sqlalchemy import select

    from helpline.channels.chat.models import ChatSession

    async with db.read() as session:
        row = await session.scalar(select(ChatSession))
    assert row is not None and row.token_hash == service.token_hash(token) and token not in row.token_hash


async def test_leave_a_message_becomes_an_email_conversation(client, admin):
    created = await create(client, admin)
    url = f"/widget/v1/channels/{created['public_key']}/offline"
    answer = await client.post(url, headers={"Origin": SITE},
                               json={"name": "Vera Visitor", "email": "vera@example.org", "message": "Call me back"})
    assert answer.status_code == 201, answer.text
    number = answer.json()["conversation_number"]
    listed = (await client.get("/api/v1/conversations", headers=admin.headers)).json()
    found = [c for c in listed["items"] if c["number"] == number]
    assert found and found[0]["channel"] == "email"
    refused(await client.post(url, headers={"Origin": SITE}, json={"name": "V", "email": "nope", "message": "x"}),
            422, "email")
    refused(await client.post(url, headers={"Origin": SITE}, json={"email": "v@example.org", "message": " "}),
            422, "message")
    refused(await client.post(url, headers={"Origin": SITE}, content=b"{not json"), 422, "body")
    refused(await client.post(url, headers={"Origin": SITE},
                              json={"email": "v@example.org", "message": "x" * 5001}), 422, "message")


def test_browser_of_names_common_browsers():
    assert service.browser_of("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0") == \
        "Firefox 120 (Linux)"
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/119.0.0.0 Safari/537.36")
    assert service.browser_of(chrome) == "Chrome 119 (Windows)"
