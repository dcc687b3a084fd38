"""The contact pages in a logged-in browser session: list, the contact's 360° page, custom fields."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Person


async def log_in(client: httpx.AsyncClient, person: Person) -> None:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303, response.text


async def csrf_token(client: httpx.AsyncClient, page: str = "/profile") -> str:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, f"no csrf_token field on {page}"
    return match.group(1)


async def api_contact(client: httpx.AsyncClient, person: Person, **body: object) -> dict:
    response = await client.post("/api/v1/contacts", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def api_conversation(client: httpx.AsyncClient, person: Person, contact_id: int, subject: str,
                           channel: str) -> dict:
    response = await client.post("/api/v1/conversations", headers=person.headers, json={
        "contact_id": contact_id, "subject": subject, "channel": channel, "message": {"body": subject}})
    assert response.status_code == 201, response.text
    return response.json()


def timeline(page: httpx.Response) -> str:
    """The contact page's list of conversations (everything before the side column)."""
    return page.text.split('id="contact-timeline"', 1)[1].split('<div class="side">', 1)[0]


def timeline_subjects(page: httpx.Response) -> list[str]:
    return re.findall(r'<div class="subject">#\d+ ([^<]*)</div>', timeline(page))


async def test_contact_page_shows_conversations_on_every_channel_newest_first(client: httpx.AsyncClient,
                                                                              agent: Person):
    contact = await api_contact(client, agent, name="Klaus Kunde", email="klaus@example.de")
    by_mail = await api_conversation(client, agent, contact["id"], "Rechnung per Mail", "email")
    await api_conversation(client, agent, contact["id"], "Frage im Chat", "chat")
    await api_conversation(client, agent, contact["id"], "Formular: Rückgabe", "webform")
    other = await api_contact(client, agent, name="Someone Else", email="else@example.de")
    await api_conversation(client, agent, other["id"], "Not Klaus", "email")
    await client.post(f"/api/v1/conversations/{by_mail['id']}/messages", headers=agent.headers,
                      json={"body": "Und noch etwas", "direction": "inbound"})
    await log_in(client, agent)
    page = await client.get(f"/contacts/{contact['id']}")
    assert page.status_code == 200
    assert "Klaus Kunde" in page.text and "klaus@example.de" in page.text
    assert timeline_subjects(page) == ["Rechnung per Mail", "Formular: Rückgabe", "Frage im Chat"]
    channels = re.findall(r'<span class="channel">([^<]*)</span>', timeline(page))
    assert [c.strip() for c in channels] == ["Email", "Web form", "Chat"]


async def test_contact_page_without_conversations_says_so(client: httpx.AsyncClient, agent: Person):
    contact = await api_contact(client, agent, name="Quiet", email="quiet@example.de")
    await log_in(client, agent)
    page = await client.get(f"/contacts/{contact['id']}")
    assert page.status_code == 200 and "No conversations yet." in page.text


async def test_contact_page_needs_a_login(client: httpx.AsyncClient, agent: Person):
    contact = await api_contact(client, agent, name="Klaus", email="klaus@example.de")
    response = await client.get(f"/contacts/{contact['id']}")
    assert response.status_code == 303 and response.headers["location"] == f"/login?next=/contacts/{contact['id']}"


async def test_other_tenants_contact_page_is_404(client: httpx.AsyncClient, agent: Person,
                                                 other_tenant_admin: Person):
    theirs = await api_contact(client, other_tenant_admin, name="Greta Geheim", email="greta@globex.test")
    await log_in(client, agent)
    page = await client.get(f"/contacts/{theirs['id']}")
    assert page.status_code == 404 and "Greta Geheim" not in page.text
    listing = await client.get("/contacts")
    assert "Greta Geheim" not in listing.text


async def test_merged_contacts_page_leads_to_the_survivor(client: httpx.AsyncClient, agent: Person):
    survivor = await api_contact(client, agent, name="Klaus Kunde", email="klaus@example.de")
    merged = await api_contact(client, agent, name="K. Kunde", email="k.kunde@work.example")
    await client.post(f"/api/v1/contacts/{survivor['id']}/merge", json={"merged_id": merged["id"]},
                      headers=agent.headers)
    await log_in(client, agent)
    response = await client.get(f"/contacts/{merged['id']}")
    assert response.status_code == 303 and response.headers["location"] == f"/contacts/{survivor['id']}"


async def test_merge_through_the_contact_page(client: httpx.AsyncClient, agent: Person):
    survivor = await api_contact(client, agent, name="Klaus Kunde", email="klaus@example.de")
    merged = await api_contact(client, agent, name="K. Kunde", email="k.kunde@work.example")
    case = await api_conversation(client, agent, merged["id"], "Lieferung", "email")
    await log_in(client, agent)
    token = await csrf_token(client, f"/contacts/{survivor['id']}")
    response = await client.post(f"/contacts/{survivor['id']}/merge",
                                 data={"merged_id": f"#{merged['id']}", "csrf_token": token})
    assert response.status_code == 303
    page = await client.get(f"/contacts/{survivor['id']}")
    assert "k.kunde@work.example" in page.text and timeline_subjects(page) == ["Lieferung"]
    moved = (await client.get(f"/api/v1/conversations/{case['id']}", headers=agent.headers)).json()
    assert moved["contact_id"] == survivor["id"]


async def test_merge_form_with_an_unknown_number_shows_an_error(client: httpx.AsyncClient, agent: Person):
    contact = await api_contact(client, agent, name="Klaus", email="klaus@example.de")
    await log_in(client, agent)
    token = await csrf_token(client, f"/contacts/{contact['id']}")
    response = await client.post(f"/contacts/{contact['id']}/merge", data={"merged_id": "99999",
                                                                          "csrf_token": token})
    assert response.status_code == 404 and 'role="alert"' in response.text


async def test_create_contact_through_the_form(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client, "/contacts")
    response = await client.post("/contacts", data={"name": "Kovács Anna", "email": "anna@example.hu",
                                                    "phone": "+36 30 123 4567", "csrf_token": token})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Kovács Anna" in page.text and "+36301234567" in page.text and "anna@example.hu" in page.text


async def test_contact_form_with_a_bad_phone_shows_the_error(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client, "/contacts")
    response = await client.post("/contacts", data={"name": "Anna", "phone": "0630 123", "csrf_token": token})
    assert response.status_code == 422 and 'role="alert"' in response.text and "0630 123" in response.text


async def test_contact_form_without_csrf_token_is_403(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    response = await client.post("/contacts", data={"name": "Forged", "email": "forged@example.com"})
    assert response.status_code == 403
    assert (await client.get("/api/v1/contacts", headers=agent.headers)).json()["items"] == []


async def test_edit_details_and_custom_fields_on_the_contact_page(client: httpx.AsyncClient, admin: Person):
    for key, kind in [("orders", "number"), ("vip", "boolean")]:
        await client.post("/api/v1/custom-fields", headers=admin.headers,
                          json={"entity": "contact", "key": key, "label": key.title(), "field_type": kind})
    org = (await client.post("/api/v1/organisations", json={"name": "Müller GmbH"}, headers=admin.headers)).json()
    contact = await api_contact(client, admin, name="Klaus", email="klaus@example.de")
    await log_in(client, admin)
    token = await csrf_token(client, f"/contacts/{contact['id']}")
    response = await client.post(f"/contacts/{contact['id']}", data={
        "name": "Klaus Kunde", "language": "de", "time_zone": "Europe/Berlin", "organisation_id": str(org["id"]),
        "notes": "Ruft gern an", "cf_orders": "7", "cf_vip": "true", "csrf_token": token})
    assert response.status_code == 303
    saved = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=admin.headers)).json()
    assert (saved["name"], saved["language"], saved["time_zone"], saved["organisation_id"], saved["notes"]) == (
        "Klaus Kunde", "de", "Europe/Berlin", org["id"], "Ruft gern an")
    assert saved["custom_fields"] == {"orders": 7, "vip": True}


async def test_a_bad_custom_field_value_on_the_contact_page_is_shown(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/custom-fields", headers=admin.headers,
                      json={"entity": "contact", "key": "orders", "label": "Orders", "field_type": "number"})
    contact = await api_contact(client, admin, name="Klaus", email="klaus@example.de")
    await log_in(client, admin)
    token = await csrf_token(client, f"/contacts/{contact['id']}")
    response = await client.post(f"/contacts/{contact['id']}", data={"cf_orders": "sieben", "csrf_token": token})
    assert response.status_code == 422 and "sieben" in response.text
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=admin.headers)).json()["custom_fields"] \
        == {}


async def test_add_an_identity_on_the_contact_page(client: httpx.AsyncClient, agent: Person):
    contact = await api_contact(client, agent, name="Klaus", email="klaus@example.de")
    await log_in(client, agent)
    token = await csrf_token(client, f"/contacts/{contact['id']}")
    response = await client.post(f"/contacts/{contact['id']}/identities",
                                 data={"kind": "phone", "value": "+49 30 901820", "csrf_token": token})
    assert response.status_code == 303
    assert "+4930901820" in (await client.get(f"/contacts/{contact['id']}")).text


async def test_contact_list_filters_by_name(client: httpx.AsyncClient, agent: Person):
    await api_contact(client, agent, name="Kovács Anna", email="anna@example.hu")
    await api_contact(client, agent, name="Klaus Kunde", email="klaus@example.de")
    await log_in(client, agent)
    page = await client.get("/contacts", params={"name": "Kov"})
    assert page.status_code == 200 and "Kovács Anna" in page.text and "Klaus Kunde" not in page.text


async def test_contact_list_pages_with_a_more_link(client: httpx.AsyncClient, agent: Person):
    for i in range(52):
        await api_contact(client, agent, name=f"Kunde {i:02d}")
    await log_in(client, agent)
    first = await client.get("/contacts")
    more = re.search(r'<a class="more" href="([^"]+)"', first.text)
    assert more
    second = await client.get(more.group(1).replace("&amp;", "&"))
    names = re.findall(r">(Kunde \d\d)</a>", first.text) + re.findall(r">(Kunde \d\d)</a>", second.text)
    assert sorted(names) == [f"Kunde {i:02d}" for i in range(52)]
    assert 'class="more"' not in second.text


async def test_admin_defines_a_choice_field_through_the_form(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/fields")
    response = await client.post("/admin/fields", data={"entity": "contact", "key": "tier", "label": "Tier",
                                                        "field_type": "choice", "choices": "gold, silver,",
                                                        "csrf_token": token})
    assert response.status_code == 303
    fields = (await client.get("/api/v1/custom-fields", headers=admin.headers)).json()
    assert [(f["key"], f["field_type"], f["choices"]) for f in fields] == [("tier", "choice", ["gold", "silver"])]


async def test_field_form_with_a_bad_key_shows_the_error(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/fields")
    response = await client.post("/admin/fields", data={"entity": "contact", "key": "Shoe Size", "label": "Shoe",
                                                        "field_type": "number", "csrf_token": token})
    assert response.status_code == 422 and 'role="alert"' in response.text


async def test_agent_cannot_open_or_post_the_custom_fields_admin(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    assert (await client.get("/admin/fields")).status_code == 403
    token = await csrf_token(client)
    response = await client.post("/admin/fields", data={"entity": "contact", "key": "vip", "label": "VIP",
                                                        "field_type": "boolean", "csrf_token": token})
    assert response.status_code == 403
