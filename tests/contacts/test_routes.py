"""The contacts API (/api/v1/contacts, /organisations, /custom-fields), as an integrator uses it."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Person


async def create(client: httpx.AsyncClient, person: Person, **body: object) -> dict:
    response = await client.post("/api/v1/contacts", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def define(client: httpx.AsyncClient, person: Person, key: str, field_type: str, **extra: object) -> dict:
    body = {"entity": "contact", "key": key, "label": key.replace("_", " ").title(), "field_type": field_type,
            **extra}
    response = await client.post("/api/v1/custom-fields", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def start_conversation(client: httpx.AsyncClient, person: Person, email: str, subject: str,
                             channel: str = "email") -> dict:
    response = await client.post("/api/v1/conversations", headers=person.headers, json={
        "contact": {"email": email}, "subject": subject, "channel": channel, "message": {"body": subject}})
    assert response.status_code == 201, response.text
    return response.json()


# --- contacts and identities -----------------------------------------------------------------------


async def test_create_contact_with_email_and_phone_shortcuts(client: httpx.AsyncClient, agent: Person):
    contact = await create(client, agent, name="Kovács Anna", email="Anna@Example.HU", phone="+36 30 123 4567",
                           language="hu")
    assert contact["name"] == "Kovács Anna" and contact["language"] == "hu"
    assert [(i["kind"], i["value"]) for i in contact["identities"]] == [
        ("email", "anna@example.hu"), ("phone", "+36301234567")]
    fetched = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=agent.headers)).json()
    assert fetched["identities"] == contact["identities"]


async def test_phone_is_normalised_to_e164(client: httpx.AsyncClient, agent: Person):
    contact = await create(client, agent, phone="+36 30 123 4567")
    assert contact["identities"][0]["value"] == "+36301234567"


async def test_invalid_phone_is_422_naming_the_field(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/api/v1/contacts", json={"name": "X", "phone": "0630 123"},
                                 headers=agent.headers)
    assert response.status_code == 422
    assert response.json()["field"].endswith("phone") and "0630 123" in response.json()["detail"]
    listed = (await client.get("/api/v1/contacts", headers=agent.headers)).json()
    assert listed["items"] == []


async def test_invalid_email_is_422_naming_the_field(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/api/v1/contacts", json={"email": "klaus-at-example.de"}, headers=agent.headers)
    assert response.status_code == 422 and response.json()["field"].endswith("email")


async def test_same_email_on_two_contacts_is_409(client: httpx.AsyncClient, agent: Person):
    first = await create(client, agent, name="First", email="shared@example.com")
    response = await client.post("/api/v1/contacts", json={"name": "Second", "email": "Shared@Example.com"},
                                 headers=agent.headers)
    assert response.status_code == 409 and response.json()["field"].endswith("email")
    assert f"#{first['id']}" in response.json()["detail"]


async def test_adding_an_identity_and_removing_it(client: httpx.AsyncClient, agent: Person):
    contact = await create(client, agent, name="Klaus", email="klaus@example.de")
    added = await client.post(f"/api/v1/contacts/{contact['id']}/identities",
                              json={"kind": "whatsapp", "value": "+49 151 23456789"}, headers=agent.headers)
    assert added.status_code == 201 and added.json()["value"] == "+4915123456789"
    removed = await client.delete(f"/api/v1/contacts/{contact['id']}/identities/{added.json()['id']}",
                                  headers=agent.headers)
    assert removed.status_code == 204
    fetched = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=agent.headers)).json()
    assert [i["kind"] for i in fetched["identities"]] == ["email"]


async def test_lookup_by_email_finds_the_contact(client: httpx.AsyncClient, agent: Person):
    contact = await create(client, agent, name="Klaus", email="klaus@example.de")
    await create(client, agent, name="Other", email="other@example.de")
    found = (await client.get("/api/v1/contacts", params={"email": "KLAUS@example.de"},
                              headers=agent.headers)).json()
    assert [c["id"] for c in found["items"]] == [contact["id"]]
    none = (await client.get("/api/v1/contacts", params={"email": "nobody@example.de"},
                             headers=agent.headers)).json()
    assert none["items"] == []


async def test_lookup_by_a_malformed_email_is_422_naming_email(client: httpx.AsyncClient, agent: Person):
    response = await client.get("/api/v1/contacts", params={"email": "klaus-at-example.de"}, headers=agent.headers)
    assert response.status_code == 422 and response.json()["field"] == "email"


async def test_update_contact_details(client: httpx.AsyncClient, agent: Person):
    contact = await create(client, agent, name="Klaus", email="klaus@example.de")
    response = await client.patch(f"/api/v1/contacts/{contact['id']}", headers=agent.headers,
                                  json={"name": "Klaus Kunde", "time_zone": "Europe/Berlin", "notes": "VIP"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["time_zone"], response.json()["notes"]) == (
        "Klaus Kunde", "Europe/Berlin", "VIP")
    bad = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"time_zone": "Berlin"},
                             headers=agent.headers)
    assert bad.status_code == 422 and bad.json()["field"] == "time_zone"


async def test_contacts_are_found_by_name(client: httpx.AsyncClient, agent: Person):
    await create(client, agent, name="Kovács Anna", email="anna@example.hu")
    await create(client, agent, name="Klaus Kunde", email="klaus@example.de")
    await create(client, agent, name="100% Discount", email="spam@example.com")
    found = (await client.get("/api/v1/contacts", params={"name": "kovács"}, headers=agent.headers)).json()
    assert [c["name"] for c in found["items"]] == ["Kovács Anna"]
    literal = (await client.get("/api/v1/contacts", params={"name": "%"}, headers=agent.headers)).json()
    assert [c["name"] for c in literal["items"]] == ["100% Discount"]


async def test_cursor_pagination_walks_every_contact_once(client: httpx.AsyncClient, agent: Person):
    created = {(await create(client, agent, name=f"Kunde {i}", email=f"k{i}@example.de"))["id"] for i in range(7)}
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/contacts", params=params, headers=agent.headers)).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7 and set(seen) == created
    assert pages == 3


async def test_bad_cursor_is_422(client: httpx.AsyncClient, agent: Person):
    response = await client.get("/api/v1/contacts", params={"cursor": "abc"}, headers=agent.headers)
    assert response.status_code == 422 and response.json()["field"] == "cursor"


async def test_other_tenants_contacts_are_not_found(client: httpx.AsyncClient, admin: Person,
                                                    other_tenant_admin: Person):
    contact = await create(client, admin, name="Klaus", email="klaus@example.de")
    theirs = await create(client, other_tenant_admin, name="Greta", email="greta@example.com")
    identity_id = contact["identities"][0]["id"]
    for method, path, body in [
        ("GET", f"/api/v1/contacts/{contact['id']}", None),
        ("PATCH", f"/api/v1/contacts/{contact['id']}", {"name": "Mine now"}),
        ("POST", f"/api/v1/contacts/{contact['id']}/identities", {"kind": "email", "value": "x@example.com"}),
        ("DELETE", f"/api/v1/contacts/{contact['id']}/identities/{identity_id}", None),
        ("DELETE", f"/api/v1/contacts/{theirs['id']}/identities/{identity_id}", None),
        ("POST", f"/api/v1/contacts/{contact['id']}/merge", {"merged_id": theirs["id"]}),
        ("POST", f"/api/v1/contacts/{theirs['id']}/merge", {"merged_id": contact["id"]}),
    ]:
        response = await client.request(method, path, json=body, headers=other_tenant_admin.headers)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get("/api/v1/contacts", headers=other_tenant_admin.headers)).json()
    assert [c["id"] for c in listed["items"]] == [theirs["id"]]
    by_email = (await client.get("/api/v1/contacts", params={"email": "klaus@example.de"},
                                 headers=other_tenant_admin.headers)).json()
    assert by_email["items"] == []
    mine = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=admin.headers)).json()
    assert mine["name"] == "Klaus" and len(mine["identities"]) == 1


async def test_other_tenants_organisation_cannot_be_linked(client: httpx.AsyncClient, admin: Person,
                                                           other_tenant_admin: Person):
    theirs = (await client.post("/api/v1/organisations", json={"name": "Globex"},
                                headers=other_tenant_admin.headers)).json()
    response = await client.post("/api/v1/contacts", json={"name": "X", "organisation_id": theirs["id"]},
                                 headers=admin.headers)
    assert response.status_code == 404 and response.json()["field"] == "organisation_id"
    assert (await client.get(f"/api/v1/organisations/{theirs['id']}", headers=admin.headers)).status_code == 404


# --- custom fields ---------------------------------------------------------------------------------


async def test_number_field_stores_a_numeric_string_as_a_number(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "orders", "number")
    contact = await create(client, admin, name="Klaus", custom_fields={"orders": "12"})
    assert contact["custom_fields"] == {"orders": 12}
    fetched = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=admin.headers)).json()
    assert fetched["custom_fields"]["orders"] == 12


async def test_number_field_refuses_text_naming_the_key(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "orders", "number")
    response = await client.post("/api/v1/contacts", json={"name": "Klaus", "custom_fields": {"orders": "abc"}},
                                 headers=admin.headers)
    assert response.status_code == 422 and response.json()["field"] == "custom_fields.orders"


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e999", True])
async def test_number_field_refuses_values_that_are_not_finite_numbers(client: httpx.AsyncClient, admin: Person,
                                                                       value: object):
    await define(client, admin, "orders", "number")
    response = await client.post("/api/v1/contacts", json={"name": "Klaus", "custom_fields": {"orders": value}},
                                 headers=admin.headers)
    assert response.status_code == 422 and response.json()["field"] == "custom_fields.orders"


async def test_unknown_custom_field_is_422(client: httpx.AsyncClient, admin: Person):
    response = await client.post("/api/v1/contacts", json={"name": "Klaus", "custom_fields": {"shoe_size": 44}},
                                 headers=admin.headers)
    assert response.status_code == 422 and response.json()["field"] == "custom_fields.shoe_size"


async def test_choice_outside_the_list_is_422(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "tier", "choice", choices=["gold", "silver"])
    response = await client.post("/api/v1/contacts", json={"name": "Klaus", "custom_fields": {"tier": "platinum"}},
                                 headers=admin.headers)
    assert response.status_code == 422 and response.json()["field"] == "custom_fields.tier"
    assert "gold" in response.json()["detail"]
    ok = await create(client, admin, name="Klaus", custom_fields={"tier": "gold"})
    assert ok["custom_fields"] == {"tier": "gold"}


async def test_date_and_boolean_fields_are_typed(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "customer_since", "date")
    await define(client, admin, "vip", "boolean")
    contact = await create(client, admin, name="Klaus", custom_fields={"customer_since": "2023-11-05",
                                                                       "vip": "true"})
    assert contact["custom_fields"] == {"customer_since": "2023-11-05", "vip": True}
    bad_date = await client.patch(f"/api/v1/contacts/{contact['id']}", headers=admin.headers,
                                  json={"custom_fields": {"customer_since": "05.11.2023"}})
    assert bad_date.status_code == 422 and bad_date.json()["field"] == "custom_fields.customer_since"
    bad_bool = await client.patch(f"/api/v1/contacts/{contact['id']}", headers=admin.headers,
                                  json={"custom_fields": {"vip": "maybe"}})
    assert bad_bool.status_code == 422 and bad_bool.json()["field"] == "custom_fields.vip"


async def test_updating_one_field_keeps_the_others(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "orders", "number")
    await define(client, admin, "vip", "boolean")
    contact = await create(client, admin, name="Klaus", custom_fields={"orders": 3, "vip": False})
    response = await client.patch(f"/api/v1/contacts/{contact['id']}", json={"custom_fields": {"orders": "4"}},
                                  headers=admin.headers)
    assert response.status_code == 200 and response.json()["custom_fields"] == {"orders": 4, "vip": False}


async def test_agent_cannot_define_or_delete_custom_fields(client: httpx.AsyncClient, admin: Person,
                                                           agent: Person):
    response = await client.post("/api/v1/custom-fields", headers=agent.headers,
                                 json={"entity": "contact", "key": "vip", "label": "VIP", "field_type": "boolean"})
    assert response.status_code == 403
    field = await define(client, admin, "vip", "boolean")
    assert (await client.delete(f"/api/v1/custom-fields/{field['id']}", headers=agent.headers)).status_code == 403
    listed = (await client.get("/api/v1/custom-fields", headers=agent.headers)).json()
    assert [f["key"] for f in listed] == ["vip"]


async def test_duplicate_field_key_is_409(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "vip", "boolean")
    again = await client.post("/api/v1/custom-fields", headers=admin.headers,
                              json={"entity": "contact", "key": "vip", "label": "V.I.P.", "field_type": "text"})
    assert again.status_code == 409 and again.json()["field"] == "key"


async def test_other_tenants_custom_field_cannot_be_deleted(client: httpx.AsyncClient, admin: Person,
                                                            other_tenant_admin: Person):
    field = await define(client, admin, "vip", "boolean")
    response = await client.delete(f"/api/v1/custom-fields/{field['id']}", headers=other_tenant_admin.headers)
    assert response.status_code == 404
    assert [f["key"] for f in (await client.get("/api/v1/custom-fields", headers=admin.headers)).json()] == ["vip"]


# --- merging ---------------------------------------------------------------------------------------


async def test_merge_moves_identities_and_conversations_to_the_survivor(client: httpx.AsyncClient, agent: Person):
    survivor = await create(client, agent, name="Klaus Kunde", email="klaus@example.de")
    merged = await create(client, agent, name="K. Kunde", email="k.kunde@work.example", phone="+49 30 901820")
    case = await start_conversation(client, agent, "k.kunde@work.example", "Lieferung")
    assert case["contact_id"] == merged["id"]
    response = await client.post(f"/api/v1/contacts/{survivor['id']}/merge", json={"merged_id": merged["id"]},
                                 headers=agent.headers)
    assert response.status_code == 200, response.text
    assert sorted(i["value"] for i in response.json()["identities"]) == [
        "+4930901820", "k.kunde@work.example", "klaus@example.de"]
    gone = (await client.get(f"/api/v1/contacts/{merged['id']}", headers=agent.headers)).json()
    assert gone["merged_into_id"] == survivor["id"] and gone["identities"] == []
    moved = (await client.get(f"/api/v1/conversations/{case['id']}", headers=agent.headers)).json()
    assert moved["contact_id"] == survivor["id"]


async def test_after_a_merge_new_mail_from_the_merged_address_goes_to_the_survivor(client: httpx.AsyncClient,
                                                                                  agent: Person):
    survivor = await create(client, agent, name="Klaus Kunde", email="klaus@example.de")
    merged = await create(client, agent, name="K. Kunde", email="k.kunde@work.example")
    await client.post(f"/api/v1/contacts/{survivor['id']}/merge", json={"merged_id": merged["id"]},
                      headers=agent.headers)
    later = await start_conversation(client, agent, "k.kunde@work.example", "Noch eine Frage")
    assert later["contact_id"] == survivor["id"]
    by_email = (await client.get("/api/v1/contacts", params={"email": "k.kunde@work.example"},
                                 headers=agent.headers)).json()
    assert [c["id"] for c in by_email["items"]] == [survivor["id"]]


async def test_merging_the_same_contact_twice_is_409(client: httpx.AsyncClient, agent: Person):
    a = await create(client, agent, name="A", email="a@example.com")
    b = await create(client, agent, name="B", email="b@example.com")
    await client.post(f"/api/v1/contacts/{a['id']}/merge", json={"merged_id": b["id"]}, headers=agent.headers)
    again = await client.post(f"/api/v1/contacts/{a['id']}/merge", json={"merged_id": b["id"]},
                              headers=agent.headers)
    assert again.status_code == 409 and again.json()["field"] == "merged_id"
    back = await client.post(f"/api/v1/contacts/{b['id']}/merge", json={"merged_id": a["id"]},
                             headers=agent.headers)
    assert back.status_code == 409 and back.json()["field"] == "contact_id"
    itself = await client.post(f"/api/v1/contacts/{a['id']}/merge", json={"merged_id": a["id"]},
                               headers=agent.headers)
    assert itself.status_code == 422 and itself.json()["field"] == "merged_id"


async def test_contacts_merged_earlier_follow_their_survivor_into_the_next_merge(client: httpx.AsyncClient,
                                                                                  agent: Person):
    anna = await create(client, agent, name="Anna", email="anna@example.hu")
    anna_work = await create(client, agent, name="Anna (work)", email="anna@work.example")
    anna_old = await create(client, agent, name="Anna (old)", email="anna@old.example")
    await client.post(f"/api/v1/contacts/{anna_work['id']}/merge", json={"merged_id": anna_old["id"]},
                      headers=agent.headers)
    await client.post(f"/api/v1/contacts/{anna['id']}/merge", json={"merged_id": anna_work["id"]},
                      headers=agent.headers)
    oldest = (await client.get(f"/api/v1/contacts/{anna_old['id']}", headers=agent.headers)).json()
    assert oldest["merged_into_id"] == anna["id"]
    response = await client.post("/api/v1/conversations", headers=agent.headers, json={
        "contact_id": anna_old["id"], "subject": "Old link", "message": {"body": "Hallo"}})
    assert response.status_code == 201 and response.json()["contact_id"] == anna["id"]


# --- organisations ---------------------------------------------------------------------------------


async def test_organisation_create_read_update(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/custom-fields", headers=admin.headers, json={
        "entity": "organisation", "key": "employees", "label": "Employees", "field_type": "number"})
    created = await client.post("/api/v1/organisations", headers=admin.headers, json={
        "name": "Müller GmbH", "domain": "mueller.example", "custom_fields": {"employees": "120"}})
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["name"] == "Müller GmbH" and org["custom_fields"] == {"employees": 120}
    fetched = (await client.get(f"/api/v1/organisations/{org['id']}", headers=admin.headers)).json()
    assert fetched["domain"] == "mueller.example"
    updated = await client.patch(f"/api/v1/organisations/{org['id']}", headers=admin.headers,
                                 json={"name": "Müller AG", "notes": "Key account"})
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["notes"]) == ("Müller AG", "Key account")
    assert updated.json()["custom_fields"] == {"employees": 120}


async def test_organisation_with_bad_custom_field_is_422(client: httpx.AsyncClient, admin: Person):
    response = await client.post("/api/v1/organisations", headers=admin.headers,
                                 json={"name": "Müller GmbH", "custom_fields": {"employees": 10}})
    assert response.status_code == 422 and response.json()["field"] == "custom_fields.employees"


async def test_organisation_names_are_unique(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/organisations", json={"name": "Müller GmbH"}, headers=admin.headers)
    again = await client.post("/api/v1/organisations", json={"name": " Müller GmbH "}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["field"] == "name"


async def test_renaming_an_organisation_to_a_taken_name_is_409(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/organisations", json={"name": "Müller GmbH"}, headers=admin.headers)
    other = (await client.post("/api/v1/organisations", json={"name": "Schmidt KG"}, headers=admin.headers)).json()
    response = await client.patch(f"/api/v1/organisations/{other['id']}", json={"name": "Müller GmbH"},
                                  headers=admin.headers)
    assert response.status_code == 409 and response.json()["field"] == "name"
    fetched = (await client.get(f"/api/v1/organisations/{other['id']}", headers=admin.headers)).json()
    assert fetched["name"] == "Schmidt KG"


async def test_contacts_are_listed_by_organisation(client: httpx.AsyncClient, admin: Person):
    org = (await client.post("/api/v1/organisations", json={"name": "Müller GmbH"}, headers=admin.headers)).json()
    member = await create(client, admin, name="Maria Müller", email="maria@mueller.example", organisation_id=org["id"])
    await create(client, admin, name="Klaus", email="klaus@example.de")
    listed = (await client.get("/api/v1/contacts", params={"organisation_id": org["id"]},
                               headers=admin.headers)).json()
    assert [c["id"] for c in listed["items"]] == [member["id"]]


async def test_contacts_are_found_by_their_organisations_new_name(client: httpx.AsyncClient, admin: Person):
    org = (await client.post("/api/v1/organisations", json={"name": "Zebrafirma"}, headers=admin.headers)).json()
    await create(client, admin, name="Klaus", email="klaus@example.de", organisation_id=org["id"])
    await client.patch(f"/api/v1/organisations/{org['id']}", json={"name": "Giraffe AG"}, headers=admin.headers)
    new = (await client.get("/api/v1/search", params={"q": "giraffe"}, headers=admin.headers)).json()
    old = (await client.get("/api/v1/search", params={"q": "zebrafirma"}, headers=admin.headers)).json()
    assert [c["name"] for c in new["contacts"]] == ["Klaus"] and old["contacts"] == []


async def test_organisation_cursor_pagination_walks_every_one_once(client: httpx.AsyncClient, admin: Person):
    for i in range(5):
        await client.post("/api/v1/organisations", json={"name": f"Firma {i}"}, headers=admin.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/organisations", params=params, headers=admin.headers)).json()
        seen += [o["name"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"Firma {i}" for i in range(5)]


async def test_other_tenants_organisations_are_not_found(client: httpx.AsyncClient, admin: Person,
                                                         other_tenant_admin: Person):
    org = (await client.post("/api/v1/organisations", json={"name": "Müller GmbH"}, headers=admin.headers)).json()
    for method, body in [("GET", None), ("PATCH", {"name": "Globex now"})]:
        response = await client.request(method, f"/api/v1/organisations/{org['id']}", json=body,
                                        headers=other_tenant_admin.headers)
        assert response.status_code == 404, method
    assert (await client.get("/api/v1/organisations", headers=other_tenant_admin.headers)).json()["items"] == []


async def test_long_whole_numbers_keep_every_digit(client: httpx.AsyncClient, admin: Person):
    await define(client, admin, "customer_no", "number")
    contact = await create(client, admin, name="Klaus", custom_fields={"customer_no": "12345678901234567890"})
    assert contact["custom_fields"] == {"customer_no": 12345678901234567890}
