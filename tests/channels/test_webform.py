"""The public contact form: a customer's message becomes a conversation with a reference number."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Person


async def submit(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {"name": "Kovács Anna", "email": "anna@example.hu", "subject": "Számla kérdés",
            "message": "Köszönöm, de a számlám hibás."} | fields
    return await client.post("/contact", data=data, files={"attachment": ("szamla.pdf", b"%PDF-1.4 test",
                                                                          "application/pdf")})


async def test_form_creates_conversation_and_shows_reference(client: httpx.AsyncClient, admin: Person):
    response = await submit(client)
    assert response.status_code == 200
    number = re.search(r'id="reference">#(\d+)<', response.text)
    assert number is not None
    listing = (await client.get("/api/v1/conversations", headers=admin.headers)).json()
    created = listing["items"][0]
    assert created["number"] == int(number.group(1)) and created["channel"] == "webform"
    detail = (await client.get(f"/api/v1/conversations/{created['id']}", headers=admin.headers)).json()
    assert detail["messages"][0]["attachments"][0]["filename"] == "szamla.pdf"
    contact = (await client.get(f"/api/v1/contacts/{created['contact_id']}", headers=admin.headers)).json()
    assert contact["name"] == "Kovács Anna" and contact["language"] in ("en", "de", "hu")


async def test_invalid_email_is_shown_and_input_kept(client: httpx.AsyncClient, tenant_id: int):
    response = await submit(client, email="not an email")
    assert response.status_code == 422
    assert 'value="Kovács Anna"' in response.text and "a számlám hibás" in response.text
    assert "form-error" in response.text


async def test_bots_filling_the_honeypot_are_refused(client: httpx.AsyncClient, admin: Person):
    response = await submit(client, website="http://spam.example")
    assert response.status_code in (422, 429)
    listing = (await client.get("/api/v1/conversations", headers=admin.headers)).json()
    assert listing["items"] == []


async def test_header_and_html_injection_is_inert(client: httpx.AsyncClient, admin: Person):
    response = await submit(client, name="Eve\r\nBcc: victim@example.com", subject="<script>alert(1)</script>")
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    created = (await client.get("/api/v1/conversations", headers=admin.headers)).json()["items"][0]
    assert "\n" not in created["subject"]


async def test_form_speaks_the_visitors_language(client: httpx.AsyncClient, tenant_id: int):
    german = await client.get("/contact", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    hungarian = await client.get("/contact?lang=hu")
    assert '<html lang="hu">' in hungarian.text


async def test_oversized_attachment_is_refused_cleanly(client: httpx.AsyncClient, admin: Person, settings):
    big = b"x" * (settings.attachment_max_bytes + 1)
    response = await client.post("/contact", data={"name": "A", "email": "a@example.com", "subject": "s",
                                                   "message": "m"}, files={"attachment": ("big.bin", big)})
    assert response.status_code == 422
    listing = (await client.get("/api/v1/conversations", headers=admin.headers)).json()
    assert listing["items"] == []


async def test_form_floods_are_slowed_down_per_address(client: httpx.AsyncClient, admin: Person, settings):
    statuses = [(await submit(client, subject=f"Flood {i}")).status_code
                for i in range(settings.form_posts_per_minute + 1)]
    assert statuses[:-1] == [200] * settings.form_posts_per_minute and statuses[-1] == 429
    listing = (await client.get("/api/v1/conversations", params={"limit": 100}, headers=admin.headers)).json()
    assert len(listing["items"]) == settings.form_posts_per_minute
