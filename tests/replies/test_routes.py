"""Canned replies through the API: who may see, use and change which, the placeholders filled in for a
conversation, search, and bad or hostile input refused naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpline.accounts import service as accounts
from helpline.accounts.models import Role
from helpline.db import Database
from tests.conftest import Person, make_person, make_tenant

API = "/api/v1/canned-replies"


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.text
    return response.json()


async def create(client: httpx.AsyncClient, who: Person, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "Refund on its way")
    body.setdefault("body", "Hello {{customer.first_name}}, your refund is on its way.")
    response = await client.post(API, headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def titles(client: httpx.AsyncClient, who: Person, q: str = "") -> list[str]:
    response = await client.get(API, headers=who.headers, params={"q": q} if q else None)
    assert response.status_code == 200, response.text
    return [r["title"] for r in response.json()]


async def conversation(client: httpx.AsyncClient, who: Person, contact: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/api/v1/conversations", headers=who.headers, json={
        "contact": contact, "subject": "Where is my money?", "message": {"body": "I returned the kettle."}})
    assert response.status_code == 201, response.text
    return response.json()


async def render(client: httpx.AsyncClient, who: Person, reply_id: int, conversation_id: int) -> httpx.Response:
    return await client.post(f"{API}/{reply_id}/render", headers=who.headers,
                             params={"conversation_id": conversation_id})


@pytest.fixture
async def supervisor(db: Database, tenant_id: int) -> Person:
    return await make_person(db, tenant_id, "sue@acme.test", Role.supervisor, "Sue Supervisor")


@pytest.fixture
async def colleague(db: Database, tenant_id: int) -> Person:
    return await make_person(db, tenant_id, "carl@acme.test", Role.agent, "Carl Colleague")


async def make_team(db: Database, tenant_id: int, name: str, *members: Person) -> int:
    async with db.transaction() as session:
        team = await accounts.create_team(session=session, actor=accounts.Actor.system(tenant_id), name=name,
                                          member_ids=[m.id for m in members])
        return team.id


# --- who sees and changes what -----------------------------------------------------------------------


async def test_an_agents_personal_reply_is_theirs_alone(client, agent, colleague, admin):
    mine = await create(client, agent, shortcut="refund")
    assert mine["visibility"] == "personal" and mine["owner_id"] == agent.id and mine["usage_count"] == 0
    assert await titles(client, agent) == ["Refund on its way"]
    assert await titles(client, colleague) == []
    assert await titles(client, admin) == []  # not even an admin reads someone's personal replies
    for who in (colleague, admin):
        refused(await client.get(f"{API}/{mine['id']}", headers=who.headers), 404, "reply_id")
        refused(await client.patch(f"{API}/{mine['id']}", headers=who.headers, json={"title": "X"}), 404, "reply_id")
        refused(await client.delete(f"{API}/{mine['id']}", headers=who.headers), 404, "reply_id")
    changed = await client.patch(f"{API}/{mine['id']}", headers=agent.headers, json={"title": "Refund sent"})
    assert changed.status_code == 200 and changed.json()["title"] == "Refund sent"
    assert (await client.delete(f"{API}/{mine['id']}", headers=agent.headers)).status_code == 204
    assert await titles(client, agent) == []


async def test_agents_use_shared_and_their_teams_replies_but_may_not_change_them(
    client, db, tenant_id, agent, colleague, supervisor
):
    billing = await make_team(db, tenant_id, "Billing", agent)
    await make_team(db, tenant_id, "Technical", colleague)
    shared = await create(client, supervisor, title="Greeting", visibility="shared")
    team = await create(client, supervisor, title="Invoice copy", visibility="team", team_id=billing)
    assert team["team_id"] == billing and team["owner_id"] is None

    assert await titles(client, agent) == ["Greeting", "Invoice copy"]
    assert await titles(client, colleague) == ["Greeting"]  # another team's replies are not theirs
    refused(await client.get(f"{API}/{team['id']}", headers=colleague.headers), 404, "reply_id")
    for reply in (shared, team):
        refused(await client.patch(f"{API}/{reply['id']}", headers=agent.headers, json={"title": "Mine"}),
                403, "visibility")
        refused(await client.delete(f"{API}/{reply['id']}", headers=agent.headers), 403, "visibility")
    # Nor may an agent share a reply of their own.
    refused(await client.post(API, headers=agent.headers, json={"title": "T", "body": "B", "visibility": "shared"}),
            403, "visibility")
    refused(await client.post(API, headers=agent.headers,
                              json={"title": "T", "body": "B", "visibility": "team", "team_id": billing}),
            403, "visibility")
    personal = await create(client, agent, title="Mine")
    refused(await client.patch(f"{API}/{personal['id']}", headers=agent.headers, json={"visibility": "shared"}),
            403, "visibility")


async def test_supervisors_and_admins_look_after_every_shared_and_team_reply(
    client, db, tenant_id, admin, supervisor, colleague
):
    technical = await make_team(db, tenant_id, "Technical", colleague)
    team = await create(client, admin, title="Reset the router", visibility="team", team_id=technical)
    assert "Reset the router" in await titles(client, supervisor)  # not a member, but looks after it
    moved = await client.patch(f"{API}/{team['id']}", headers=supervisor.headers, json={"visibility": "shared"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["visibility"] == "shared" and moved.json()["team_id"] is None
    assert (await client.delete(f"{API}/{team['id']}", headers=admin.headers)).status_code == 204


async def test_shared_changes_are_audited_personal_ones_are_not(client, db, admin, agent):
    shared = await create(client, admin, title="Opening hours", visibility="shared", shortcut="hours")
    await client.patch(f"{API}/{shared['id']}", headers=admin.headers, json={"body": "We are open 8-17."})
    await client.delete(f"{API}/{shared['id']}", headers=admin.headers)
    personal = await create(client, agent, title="My draft")
    await client.patch(f"{API}/{personal['id']}", headers=agent.headers, json={"body": "Changed"})
    async with db.read() as session:
        log = await accounts.list_audit(session=session, actor=admin.actor)
    entries = [(e.action, e.target, e.actor_id) for e in log if e.target.startswith("canned_reply:")]
    target = f"canned_reply:{shared['id']}"
    assert entries == [("canned_reply.deleted", target, admin.id), ("canned_reply.updated", target, admin.id),
                       ("canned_reply.created", target, admin.id)]


async def test_other_tenants_ids_are_not_found(client, admin, other_tenant_admin):
    theirs = await create(client, other_tenant_admin, title="Globex greeting", visibility="shared")
    their_conversation = await conversation(client, other_tenant_admin, {"email": "g@globex.example"})
    mine = await create(client, admin, title="Acme greeting", visibility="shared")
    my_conversation = await conversation(client, admin, {"email": "k@example.com", "name": "Klara"})
    assert await titles(client, admin) == ["Acme greeting"]
    refused(await client.get(f"{API}/{theirs['id']}", headers=admin.headers), 404, "reply_id")
    refused(await client.patch(f"{API}/{theirs['id']}", headers=admin.headers, json={"title": "X"}), 404, "reply_id")
    refused(await client.delete(f"{API}/{theirs['id']}", headers=admin.headers), 404, "reply_id")
    refused(await render(client, admin, theirs["id"], my_conversation["id"]), 404, "reply_id")
    refused(await render(client, admin, mine["id"], their_conversation["id"]), 404, "conversation_id")
    refused(await render(client, admin, mine["id"], 2**31 - 1), 404, "conversation_id")
    unchanged = (await client.get(f"{API}/{theirs['id']}", headers=other_tenant_admin.headers)).json()
    assert unchanged["title"] == "Globex greeting" and unchanged["usage_count"] == 0


# --- placeholders --------------------------------------------------------------------------------------


async def test_render_fills_in_the_conversation_and_counts_the_use(db, client, agent):
    reply = await create(client, agent, body=(
        "Hello {{customer.first_name}},\r\n\r\nthis is {{ agent.first_name }} ({{agent.name}}) from "
        "{{company.name}} about #{{conversation.number}} for {{customer.name}} <{{customer.email}}>."))
    case = await conversation(client, agent, {"email": "klara@example.com", "name": "Klara Kovács"})
    first = await render(client, agent, reply["id"], case["id"])
    assert first.status_code == 200, first.text
    assert first.json() == {"body": (
        "Hello Klara,\n\nthis is Anna (Anna Agent) from Acme Support about "
        f"#{case['number']} for Klara Kovács <klara@example.com>.")}
    await render(client, agent, reply["id"], case["id"])
    assert (await client.get(f"{API}/{reply['id']}", headers=agent.headers)).json()["usage_count"] == 2


async def test_a_customer_without_a_name_is_left_out_with_the_space_before(client, agent):
    reply = await create(client, agent, body="Hello {{customer.first_name}}, thanks {{customer.name}}!\n"
                                              "Dear {{customer.name}}\nBye")
    # Known only by the address: the contact is named by it, which is no name to greet.
    case = await conversation(client, agent, {"email": "anon@example.com"})
    rendered = (await render(client, agent, reply["id"], case["id"])).json()["body"]
    assert rendered == "Hello, thanks!\nDear\nBye"


async def test_unknown_placeholders_are_refused_naming_the_body_and_listing_the_known_ones(client, agent):
    for body in ("Hi {{customer.phone}}", "Hi {{ }}", "Hi {{Customer.Name}}", "{{agent.name}} {{order.id}}"):
        error = refused(await client.post(API, headers=agent.headers, json={"title": "T", "body": body}), 422, "body")
        assert "unknown placeholder" in error["detail"]
        assert "{{customer.first_name}}" in error["detail"] and "{{company.name}}" in error["detail"]
    assert await titles(client, agent) == []
    # A single brace is just text.
    assert (await create(client, agent, title="Braces", body="Use {curly} or {{ in code"))["body"] == (
        "Use {curly} or {{ in code")


# --- search --------------------------------------------------------------------------------------------


async def test_search_finds_words_in_title_shortcut_and_body_ignoring_case_and_accents(client, agent):
    await create(client, agent, title="Rückerstattung", body="Ihr Geld kommt.", shortcut="refund-de")
    await create(client, agent, title="Refund policy", body="30 days.", shortcut="policy")
    await create(client, agent, title="Köszönjük", body="Ügyfélszolgálatunk hamarosan válaszol.", shortcut="koszi")
    await create(client, agent, title="Delivery times", body="Parcels take 2 days; a refund is rare.")
    assert await titles(client, agent, "refund") == ["Rückerstattung", "Refund policy", "Delivery times"]
    assert await titles(client, agent, "/refund-de") == ["Rückerstattung"]
    assert await titles(client, agent, "ruckerstattung") == ["Rückerstattung"]
    assert await titles(client, agent, "UGYFELSZOLGALAT") == ["Köszönjük"]
    assert await titles(client, agent, "days parcels") == ["Delivery times"]
    assert await titles(client, agent, "nothing like this") == []
    refused(await client.get(API, headers=agent.headers, params={"q": "a\x00b"}), 422, "q")


# --- bad and hostile input ------------------------------------------------------------------------------


async def test_bad_values_are_refused_naming_the_field(client, db, agent, supervisor, other_tenant_admin):
    other_team = await make_team(db, other_tenant_admin.tenant_id, "Theirs", other_tenant_admin)
    await create(client, agent, shortcut="taken")
    cases: list[tuple[Person, dict[str, Any], int, str]] = [
        (agent, {"title": "  "}, 422, "title"),
        (agent, {"title": "a" * 121}, 422, "title"),
        (agent, {"title": "Line\r\nX-Injected: yes"}, 422, "title"),
        (agent, {"body": "   "}, 422, "body"),
        (agent, {"body": "x" * 10_001}, 422, "body"),
        (agent, {"body": "bell \x07 rings"}, 422, "body"),
        (agent, {"body": "escape \x1b[31m red"}, 422, "body"),
        (agent, {"shortcut": "two words"}, 422, "shortcut"),
        (agent, {"shortcut": "a" * 33}, 422, "shortcut"),
        (agent, {"shortcut": "rück"}, 422, "shortcut"),
        (agent, {"shortcut": "Taken"}, 409, "shortcut"),
        (agent, {"visibility": "everyone"}, 422, "visibility"),
        (supervisor, {"visibility": "team"}, 422, "team_id"),
        (supervisor, {"visibility": "team", "team_id": other_team}, 422, "team_id"),
        (supervisor, {"visibility": "shared", "team_id": other_team}, 422, "team_id"),
        (agent, {"owner_id": 1}, 422, "body.owner_id"),
    ]
    for who, body, status, field in cases:
        values = {"title": "T", "body": "B", **body}
        refused(await client.post(API, headers=who.headers, json=values), status, field)
    assert await titles(client, agent) == ["Refund on its way"]


async def test_hostile_text_is_stored_as_text_and_crlf_becomes_lines(client, agent):
    xss = '<script>window.__xss=1</script><img src=x onerror="alert(1)">'
    reply = await create(client, agent, title=xss[:120], body=f"{xss}\r\nsecond line\rthird", shortcut="/XSS")
    assert reply["title"] == xss[:120]
    assert reply["body"] == f"{xss}\nsecond line\nthird"
    assert reply["shortcut"] == "xss"  # typed as /XSS: the slash and capitals are forgiven


async def test_render_needs_a_conversation_id(client, agent):
    reply = await create(client, agent)
    for params in ({}, {"conversation_id": "abc"}, {"conversation_id": 0}, {"conversation_id": 2**40}):
        response = await client.post(f"{API}/{reply['id']}/render", headers=agent.headers, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "query.conversation_id"


async def test_a_browser_session_needs_the_csrf_token_to_render(client, agent):
    reply = await create(client, agent)
    await client.post("/login", data={"email": agent.email, "password": agent.password})
    response = await client.post(f"{API}/{reply['id']}/render", params={"conversation_id": 1})
    assert response.status_code == 403, response.text


async def test_shortcuts_are_unique_per_company_not_across_companies(client, db, admin):
    await create(client, admin, shortcut="hello", visibility="shared")
    other = await make_tenant(db, "initech", "Initech")
    someone = await make_person(db, other, "bob@initech.test", Role.admin)
    # Shortcuts are unique per company, not across companies.
    assert (await create(client, someone, shortcut="hello"))["shortcut"] == "hello"


async def test_the_demo_shares_a_few_canned_replies_once(client, db, tenant_id, agent):
    from helpline.demo import _create_canned_replies

    for _ in range(2):  # loading the demo again adds nothing
        await _create_canned_replies(db, tenant_id)
    assert await titles(client, agent) == ["Anything else?", "Greeting", "Refund on its way"]
    greeting = (await client.get(API, headers=agent.headers, params={"q": "/hello"})).json()[0]
    assert greeting["title"] == "Greeting"  # the shortcut first, then the texts that say hello
    case = await conversation(client, agent, {"email": "klara@example.com", "name": "Klara Kovács"})
    rendered = (await render(client, agent, greeting["id"], case["id"])).json()["body"]
    assert rendered.startswith("Hello Klara,\n\nthank you for contacting Acme Support. I am Anna")
