"""Routing configuration as admins, supervisors and integrators use it: skills, queues, agents'
routing profiles, reason codes, routing rules and settings — over the API, the service and the pages."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from helpline.accounts import service as accounts
from helpline.accounts.models import AuditEntry, Role
from helpline.accounts.service import Actor
from helpline.conversations import service as conversations
from helpline.db import Database
from helpline.events import Event
from helpline.routing import configuration as config
from helpline.routing import models as m
from tests.conftest import Person, make_person

API = "/api/v1/routing"


async def post(client: httpx.AsyncClient, who: Person, path: str, body: object) -> httpx.Response:
    return await client.post(API + path, headers=who.headers, json=body)


async def make_skill(client: httpx.AsyncClient, admin: Person, name: str) -> dict:
    response = await post(client, admin, "/skills", {"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def make_queue(client: httpx.AsyncClient, admin: Person, **body: object) -> dict:
    response = await post(client, admin, "/queues", body)
    assert response.status_code == 201, response.text
    return response.json()


def refused(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.text


async def audit_actions(db: Database, tenant_id: int) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id)
        )
        return list(rows)


@pytest.fixture
async def supervisor(db: Database, tenant_id: int, admin: Person, agent: Person) -> Person:
    """Sam supervises the team "Billing", of which Anna (the agent fixture) is a member."""
    person = await make_person(db, tenant_id, "sam@acme.test", Role.supervisor, "Sam Supervisor")
    async with db.transaction() as session:
        await accounts.create_team(session=session, actor=admin.actor, name="Billing",
                                   member_ids=[person.id, agent.id])
    return person


# --- skills and queues ---------------------------------------------------------------------------


async def test_admin_builds_queues_with_skills_expansions_and_overflow(client, admin):
    await make_skill(client, admin, "Billing")  # names are lower-cased
    await make_skill(client, admin, "german")
    general = await make_queue(client, admin, name="General")
    billing = await make_queue(
        client, admin, name="Billing", skills={"billing": 3, "german": 2}, languages=["DE"], strategy="round_robin",
        expansions=[{"after_seconds": 30, "lower_levels_by": 1},
                    {"after_seconds": 90, "drop_languages": True, "drop_skills": ["german"]}],
        sticky_seconds=60, wrap_up_seconds=30, offer_timeout_seconds=20, overflow_queue_id=general["id"],
        overflow_after_seconds=300, max_size=50, push=True,
    )
    assert billing["skills"] == {"billing": 3, "german": 2} and billing["languages"] == ["de"]
    assert billing["expansions"][1] == {"after_seconds": 90.0, "lower_levels_by": 0, "drop_languages": True,
                                        "drop_skills": ["german"]}
    assert billing["overflow_queue_id"] == general["id"] and billing["strategy"] == "round_robin"

    changed = await client.patch(f"{API}/queues/{billing['id']}", headers=admin.headers,
                                 json={"wrap_up_seconds": 45, "max_size": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["wrap_up_seconds"] == 45 and changed.json()["max_size"] is None
    assert changed.json()["sticky_seconds"] == 60, "fields not sent stay as they were"

    listed = (await client.get(f"{API}/queues", headers=admin.headers)).json()
    assert [q["name"] for q in listed] == ["Billing", "General"]
    skills = (await client.get(f"{API}/skills", headers=admin.headers)).json()
    assert [s["name"] for s in skills] == ["billing", "german"]


async def test_overflow_that_loops_back_is_refused_naming_the_field(client, admin):
    a = await make_queue(client, admin, name="A")
    b = await make_queue(client, admin, name="B", overflow_queue_id=a["id"], overflow_after_seconds=60)
    c = await make_queue(client, admin, name="C", overflow_queue_id=b["id"], overflow_after_seconds=60)
    loop = await client.patch(f"{API}/queues/{a['id']}", headers=admin.headers,
                              json={"overflow_queue_id": c["id"], "overflow_after_seconds": 60})
    refused(loop, 422, "overflow_queue_id")
    assert loop.json()["detail"] == "the overflow loops back: A → C → B → A"
    itself = await client.patch(f"{API}/queues/{a['id']}", headers=admin.headers,
                                json={"overflow_queue_id": a["id"], "overflow_after_seconds": 60})
    refused(itself, 422, "overflow_queue_id")
    missing = await post(client, admin, "/queues", {"name": "D", "overflow_queue_id": 999_999,
                                                    "overflow_after_seconds": 30})
    refused(missing, 422, "overflow_queue_id")
    unchanged = (await client.get(f"{API}/queues/{a['id']}", headers=admin.headers)).json()
    assert unchanged["overflow_queue_id"] is None, "a refused change changes nothing"


async def test_unknown_skill_and_bad_levels_are_refused_naming_the_field(client, admin):
    await make_skill(client, admin, "billing")
    refused(await post(client, admin, "/queues", {"name": "Q", "skills": {"astrology": 2}}), 422, "skills.astrology")
    refused(await post(client, admin, "/queues", {"name": "Q", "skills": {"billing": 6}}), 422, "skills.billing")
    refused(await post(client, admin, "/queues", {"name": "Q", "offer_timeout_seconds": 0}), 422,
            "offer_timeout_seconds")
    refused(await post(client, admin, "/queues", {"name": "Q", "expansions": [
        {"after_seconds": 60}, {"after_seconds": 30}]}), 422, "expansions[1].after_seconds")
    refused(await post(client, admin, "/queues", {"name": "Q", "languages": ["german"]}), 422, "languages")
    refused(await post(client, admin, "/queues", {"name": "Q", "overflow_after_seconds": 30}), 422,
            "overflow_queue_id")
    await make_queue(client, admin, name="Q")
    refused(await post(client, admin, "/queues", {"name": "Q"}), 409, "name")
    refused(await post(client, admin, "/skills", {"name": "two words"}), 422, "name")
    refused(await post(client, admin, "/skills", {"name": "BILLING"}), 409, "name")


async def test_renaming_a_skill_renames_it_in_the_queues_that_require_it(client, admin):
    skill = await make_skill(client, admin, "billing")
    queue = await make_queue(client, admin, name="Billing", skills={"billing": 2},
                             expansions=[{"after_seconds": 60, "drop_skills": ["billing"]}])
    renamed = await client.patch(f"{API}/skills/{skill['id']}", headers=admin.headers, json={"name": "invoices"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "invoices"
    after = (await client.get(f"{API}/queues/{queue['id']}", headers=admin.headers)).json()
    assert after["skills"] == {"invoices": 2} and after["expansions"][0]["drop_skills"] == ["invoices"]


async def test_a_skill_a_queue_requires_cannot_be_deleted(client, admin, agent):
    skill = await make_skill(client, admin, "billing")
    queue = await make_queue(client, admin, name="Billing", skills={"billing": 2})
    await client.put(f"{API}/agents/{agent.id}/profile", headers=admin.headers, json={"skills": {"billing": 4}})
    refused(await client.delete(f"{API}/skills/{skill['id']}", headers=admin.headers), 409, "skill_id")
    await client.patch(f"{API}/queues/{queue['id']}", headers=admin.headers, json={"skills": {}})
    assert (await client.delete(f"{API}/skills/{skill['id']}", headers=admin.headers)).status_code == 204
    profile = (await client.get(f"{API}/agents/{agent.id}/profile", headers=admin.headers)).json()
    assert profile["skills"] == {}, "the agent's proficiency in a deleted skill goes with it"


async def test_a_queue_in_use_cannot_be_deleted(client, admin, db, tenant_id):
    general = await make_queue(client, admin, name="General")
    feeder = await make_queue(client, admin, name="Feeder", overflow_queue_id=general["id"],
                              overflow_after_seconds=60)
    refused(await client.delete(f"{API}/queues/{general['id']}", headers=admin.headers), 409, "queue_id")
    await client.patch(f"{API}/queues/{feeder['id']}", headers=admin.headers,
                       json={"overflow_queue_id": None, "overflow_after_seconds": None})

    rule = await post(client, admin, "/rules", {"name": "Everything", "queue_id": general["id"]})
    refused(await client.delete(f"{API}/queues/{general['id']}", headers=admin.headers), 409, "queue_id")
    await client.delete(f"{API}/rules/{rule.json()['id']}", headers=admin.headers)

    async with db.transaction() as session:
        conversation = await conversations.start_conversation(
            session=session, actor=Actor.system(tenant_id), channel="email", subject="Waiting",
            contact=conversations.ContactDetails(email="waiting@example.com"),
            message=conversations.NewMessage(body_text="hello"))
        item = m.WorkItem(tenant_id=tenant_id, conversation_id=conversation.id, queue_id=general["id"],
                          channel="email", arrived_at=time.time(), queue_entered_at=time.time())
        session.add(item)
    refused(await client.delete(f"{API}/queues/{general['id']}", headers=admin.headers), 409, "queue_id")
    async with db.transaction() as session:
        stored = await session.get(m.WorkItem, item.id)
        assert stored is not None
        stored.status = m.WorkItemStatus.COMPLETED

    await client.put(f"{API}/settings", headers=admin.headers, json={"default_queue_id": general["id"]})
    refused(await client.delete(f"{API}/queues/{general['id']}", headers=admin.headers), 409, "queue_id")
    await client.put(f"{API}/settings", headers=admin.headers, json={"default_queue_id": feeder["id"]})

    assert (await client.delete(f"{API}/queues/{general['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{API}/queues/{general['id']}", headers=admin.headers)).status_code == 404


# --- agents' routing profiles --------------------------------------------------------------------


async def test_admin_sets_an_agents_skills_languages_and_capacity(client, admin, agent):
    await make_skill(client, admin, "billing")
    await make_skill(client, admin, "german")
    default = (await client.get(f"{API}/agents/{agent.id}/profile", headers=agent.headers)).json()
    assert default["capacity"] == {"voice": 1, "chat": 3, "email": 8} and default["skills"] == {}
    response = await client.put(f"{API}/agents/{agent.id}/profile", headers=admin.headers, json={
        "skills": {"billing": 4, "german": 5}, "languages": ["DE", "en", "de"], "capacity": {"chat": 2},
        "mixing_allowed": True})
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["skills"] == {"billing": 4, "german": 5} and profile["languages"] == ["de", "en"]
    assert profile["capacity"] == {"voice": 1, "chat": 2, "email": 8} and profile["mixing_allowed"] is True
    fewer = await client.put(f"{API}/agents/{agent.id}/profile", headers=admin.headers,
                             json={"skills": {"german": 3}})
    assert fewer.json()["skills"] == {"german": 3}, "skills replace the agent's skills as a whole"
    assert fewer.json()["languages"] == ["de", "en"], "what is not sent stays"


async def test_bad_profiles_are_refused_naming_the_field(client, admin, agent):
    await make_skill(client, admin, "billing")
    url = f"{API}/agents/{agent.id}/profile"
    refused(await client.put(url, headers=admin.headers, json={"skills": {"billing": 6}}), 422, "skills.billing")
    refused(await client.put(url, headers=admin.headers, json={"skills": {"billing": 0}}), 422, "skills.billing")
    refused(await client.put(url, headers=admin.headers, json={"skills": {"magic": 3}}), 422, "skills.magic")
    refused(await client.put(url, headers=admin.headers, json={"capacity": {"chat": -1}}), 422, "capacity.chat")
    refused(await client.put(url, headers=admin.headers, json={"capacity": {"fax": 1}}), 422, "capacity.fax")
    refused(await client.put(url, headers=admin.headers, json={"languages": ["deutsch"]}), 422, "languages")
    profile = (await client.get(url, headers=admin.headers)).json()
    assert profile["skills"] == {} and profile["capacity"]["chat"] == 3


async def test_supervisors_edit_only_their_teams_agents_and_agents_only_read(client, db, tenant_id, admin, agent,
                                                                              supervisor):
    await make_skill(client, admin, "billing")
    outsider = await make_person(db, tenant_id, "otto@acme.test", Role.agent, "Otto Outside")
    mine = await client.put(f"{API}/agents/{agent.id}/profile", headers=supervisor.headers,
                            json={"skills": {"billing": 3}})
    assert mine.status_code == 200, mine.text
    other = await client.put(f"{API}/agents/{outsider.id}/profile", headers=supervisor.headers,
                             json={"skills": {"billing": 3}})
    assert other.status_code == 403
    assert (await post(client, supervisor, "/queues", {"name": "Mine"})).status_code == 403
    assert (await post(client, supervisor, "/skills", {"name": "sneaky"})).status_code == 403

    own = await client.put(f"{API}/agents/{agent.id}/profile", headers=agent.headers, json={"skills": {"billing": 5}})
    assert own.status_code == 403, "agents may not rate themselves"
    assert (await post(client, agent, "/reason-codes", {"name": "Nap"})).status_code == 403
    for path in ("/skills", "/queues", "/rules", "/reason-codes", "/settings", f"/agents/{outsider.id}/profile"):
        assert (await client.get(API + path, headers=agent.headers)).status_code == 200, path
    seen = (await client.get(f"{API}/agents/{agent.id}/profile", headers=agent.headers)).json()
    assert seen["skills"] == {"billing": 3}


# --- reason codes, rules, settings ---------------------------------------------------------------


async def test_reason_codes_are_created_renamed_and_deactivated(client, admin):
    lunch = await post(client, admin, "/reason-codes", {"name": "Lunch"})
    assert lunch.status_code == 201
    refused(await post(client, admin, "/reason-codes", {"name": "Lunch"}), 409, "name")
    code_id = lunch.json()["id"]
    renamed = await client.patch(f"{API}/reason-codes/{code_id}", headers=admin.headers, json={"name": "Lunch break"})
    assert renamed.json()["name"] == "Lunch break"
    off = await client.patch(f"{API}/reason-codes/{code_id}", headers=admin.headers, json={"is_active": False})
    assert off.json()["is_active"] is False
    active = await client.get(f"{API}/reason-codes?include_inactive=false", headers=admin.headers)
    assert active.json() == []


async def test_rules_are_ordered_moved_and_validated(client, admin, db):
    billing = await make_queue(client, admin, name="Billing")
    general = await make_queue(client, admin, name="General")
    first = (await post(client, admin, "/rules", {
        "name": "Billing tag", "queue_id": billing["id"], "priority": "high",
        "conditions": [{"field": "tag", "op": "is", "value": "billing"}]})).json()
    second = (await post(client, admin, "/rules", {
        "name": "German or Hungarian", "queue_id": general["id"], "match": "any",
        "conditions": [{"field": "language", "op": "in", "value": ["de", "hu"]},
                       {"field": "contact_field", "key": "tier", "op": "is", "value": "gold"}]})).json()
    third = (await post(client, admin, "/rules", {"name": "Email", "queue_id": general["id"],
                                                  "conditions": [{"field": "channel", "value": "email"}]})).json()
    assert [first["position"], second["position"], third["position"]] == [1, 2, 3]
    assert second["conditions"][1] == {"field": "contact_field", "op": "is", "value": "gold", "key": "tier"}

    order = await client.put(f"{API}/rules/order", headers=admin.headers,
                             json=[third["id"], first["id"], second["id"]])
    assert order.status_code == 200, order.text
    listed = (await client.get(f"{API}/rules", headers=admin.headers)).json()
    assert [r["name"] for r in listed] == ["Email", "Billing tag", "German or Hungarian"]
    refused(await client.put(f"{API}/rules/order", headers=admin.headers, json=[third["id"]]), 422, "rule_ids")

    async with db.transaction() as session:
        await config.move_rule(session=session, actor=admin.actor, rule_id=second["id"], by=-1)
    listed = (await client.get(f"{API}/rules", headers=admin.headers)).json()
    assert [r["name"] for r in listed] == ["Email", "German or Hungarian", "Billing tag"]

    changed = await client.patch(f"{API}/rules/{first['id']}", headers=admin.headers,
                                 json={"is_active": False, "priority": None})
    assert changed.json()["is_active"] is False and changed.json()["priority"] is None


async def test_bad_rules_are_refused_naming_the_condition(client, admin):
    queue = await make_queue(client, admin, name="General")
    base = {"name": "Bad", "queue_id": queue["id"]}
    refused(await post(client, admin, "/rules", {**base, "conditions": [{"field": "weather", "value": "sunny"}]}),
            422, "conditions[0].field")
    refused(await post(client, admin, "/rules", {**base, "conditions": [
        {"field": "tag", "value": "vip"}, {"field": "tag", "op": "resembles", "value": "x"}]}), 422, "conditions[1].op")
    refused(await post(client, admin, "/rules", {**base, "conditions": [{"field": "contact_field", "value": "x"}]}),
            422, "conditions[0].key")
    refused(await post(client, admin, "/rules", {**base, "match": "most"}), 422, "match")
    refused(await post(client, admin, "/rules", {**base, "priority": "whenever"}), 422, "priority")
    refused(await post(client, admin, "/rules", {"name": "Nowhere", "queue_id": 999_999}), 404, "queue_id")
    assert (await client.get(f"{API}/rules", headers=admin.headers)).json() == []


async def test_settings_are_validated(client, admin, other_tenant_admin):
    queue = await make_queue(client, admin, name="General")
    refused(await client.put(f"{API}/settings", headers=admin.headers, json={"max_missed_offers": 0}), 422,
            "max_missed_offers")
    refused(await client.put(f"{API}/settings", headers=admin.headers, json={"away_grace_seconds": -1}), 422,
            "away_grace_seconds")
    theirs = await make_queue(client, other_tenant_admin, name="Theirs")
    refused(await client.put(f"{API}/settings", headers=admin.headers, json={"default_queue_id": theirs["id"]}), 404,
            "default_queue_id")
    saved = await client.put(f"{API}/settings", headers=admin.headers, json={
        "max_missed_offers": 2, "away_grace_seconds": 90, "declines_count_as_missed": True,
        "default_queue_id": queue["id"]})
    assert saved.json() == {"max_missed_offers": 2, "away_grace_seconds": 90.0, "declines_count_as_missed": True,
                            "default_queue_id": queue["id"]}
    cleared = await client.put(f"{API}/settings", headers=admin.headers, json={"default_queue_id": None})
    assert cleared.json()["default_queue_id"] is None and cleared.json()["max_missed_offers"] == 2


# --- tenancy, audit, events ----------------------------------------------------------------------


async def test_other_tenants_configuration_is_not_found(client, admin, agent, other_tenant_admin):
    skill = await make_skill(client, admin, "billing")
    queue = await make_queue(client, admin, name="Billing")
    rule = (await post(client, admin, "/rules", {"name": "All", "queue_id": queue["id"]})).json()
    code = (await post(client, admin, "/reason-codes", {"name": "Lunch"})).json()
    them = other_tenant_admin.headers
    assert (await client.get(f"{API}/queues/{queue['id']}", headers=them)).status_code == 404
    assert (await client.patch(f"{API}/queues/{queue['id']}", headers=them, json={"name": "Mine"})).status_code == 404
    assert (await client.delete(f"{API}/queues/{queue['id']}", headers=them)).status_code == 404
    assert (await client.patch(f"{API}/skills/{skill['id']}", headers=them, json={"name": "x"})).status_code == 404
    assert (await client.delete(f"{API}/skills/{skill['id']}", headers=them)).status_code == 404
    assert (await client.get(f"{API}/rules/{rule['id']}", headers=them)).status_code == 404
    assert (await client.delete(f"{API}/rules/{rule['id']}", headers=them)).status_code == 404
    refused(await client.put(f"{API}/rules/order", headers=them, json=[rule["id"]]), 404, "rule_ids")
    assert (await client.patch(f"{API}/reason-codes/{code['id']}", headers=them, json={"is_active": False})
            ).status_code == 404
    assert (await client.get(f"{API}/agents/{agent.id}/profile", headers=them)).status_code == 404
    assert (await client.put(f"{API}/agents/{agent.id}/profile", headers=them, json={"languages": ["de"]})
            ).status_code == 404
    refused(await post(client, other_tenant_admin, "/rules", {"name": "Steal", "queue_id": queue["id"]}), 404,
            "queue_id")
    refused(await post(client, other_tenant_admin, "/queues", {"name": "Spill", "overflow_queue_id": queue["id"],
                                                              "overflow_after_seconds": 5}), 422, "overflow_queue_id")
    for path in ("/skills", "/queues", "/rules", "/reason-codes"):
        assert (await client.get(API + path, headers=them)).json() == [], path
    assert (await client.get(f"{API}/queues/{queue['id']}", headers=admin.headers)).json()["name"] == "Billing"


async def test_every_change_is_audited(client, db, admin, agent):
    skill = await make_skill(client, admin, "billing")
    queue = await make_queue(client, admin, name="Billing", skills={"billing": 1})
    await client.patch(f"{API}/queues/{queue['id']}", headers=admin.headers, json={"wrap_up_seconds": 10})
    await client.patch(f"{API}/skills/{skill['id']}", headers=admin.headers, json={"name": "invoices"})
    await client.put(f"{API}/agents/{agent.id}/profile", headers=admin.headers, json={"skills": {"invoices": 2}})
    await post(client, admin, "/reason-codes", {"name": "Lunch"})
    rule = (await post(client, admin, "/rules", {"name": "All", "queue_id": queue["id"]})).json()
    await client.put(f"{API}/rules/order", headers=admin.headers, json=[rule["id"]])
    await client.delete(f"{API}/rules/{rule['id']}", headers=admin.headers)
    await client.put(f"{API}/settings", headers=admin.headers, json={"max_missed_offers": 5})
    actions = await audit_actions(db, admin.tenant_id)
    for action in ("skill.created", "queue.created", "queue.updated", "skill.renamed", "agent_profile.updated",
                   "reason_code.created", "routing_rule.created", "routing_rule.reordered", "routing_rule.deleted",
                   "routing_settings.updated"):
        assert action in actions, action
    async with db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "queue.updated"))
    assert entry is not None and entry.actor_id == admin.id and entry.details == {"wrap_up_seconds": 10.0}


async def test_config_changed_is_published_after_commit_and_not_for_refused_changes(app, client, admin):
    subscription = app.state.runtime.bus.subscribe()
    try:
        queue = await make_queue(client, admin, name="General")
        event = await asyncio.wait_for(_next(subscription, "routing.config_changed"), 2)
        assert event == Event("routing.config_changed", admin.tenant_id, {"what": "queue", "id": queue["id"]})

        refused(await client.patch(f"{API}/queues/{queue['id']}", headers=admin.headers,
                                   json={"overflow_queue_id": queue["id"], "overflow_after_seconds": 1}),
                422, "overflow_queue_id")
        await client.put(f"{API}/settings", headers=admin.headers, json={"max_missed_offers": 4})
        event = await asyncio.wait_for(_next(subscription, "routing.config_changed"), 2)
        assert event.data == {"what": "settings", "id": admin.tenant_id}, "nothing was heard of the refused change"
    finally:
        subscription.close()


async def _next(subscription: object, kind: str) -> Event:
    while True:
        event = await subscription.get()  # type: ignore[attr-defined]
        if event.type == kind:
            return event


async def test_ensure_default_queue_creates_general_once(db, tenant_id):
    async with db.transaction() as session:
        first = await config.ensure_default_queue(session, tenant_id)
    async with db.transaction() as session:
        again = await config.ensure_default_queue(session, tenant_id)
        settings = await session.get(m.RoutingSettings, tenant_id)
        count = await session.scalar(select(func.count()).select_from(m.Queue).where(m.Queue.tenant_id == tenant_id))
    assert first.name == "General" and again.id == first.id and count == 1
    assert settings is not None and settings.default_queue_id == first.id


# --- pages ---------------------------------------------------------------------------------------


async def logged_in(client: httpx.AsyncClient, person: Person) -> str:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303
    page = await client.get("/admin/skills" if person.actor.is_admin else "/profile")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_admin_pages_create_a_queue_and_show_a_refused_overflow(client, admin):
    csrf = await logged_in(client, admin)
    assert (await client.post("/admin/skills", data={"csrf_token": csrf, "name": "billing"})).status_code == 303
    general = await client.post("/admin/queues/new", data={
        "csrf_token": csrf, "name": "General", "strategy": "longest_idle", "seconds_per_priority_level": "60",
        "offer_timeout_seconds": "30", "push": "1"})
    assert general.status_code == 303, general.text
    added_row = await client.post("/admin/queues/new", data={
        "csrf_token": csrf, "name": "Billing", "strategy": "longest_idle", "skill.billing": "3",
        "seconds_per_priority_level": "60", "offer_timeout_seconds": "30", "expansion_count": "0", "action": "add"})
    assert added_row.status_code == 200 and 'name="expansion-0-after_seconds"' in added_row.text
    assert 'value="Billing"' in added_row.text, "what was typed stays"

    general_id = (await client.get(f"{API}/queues", headers=admin.headers)).json()[0]["id"]
    billing = await client.post("/admin/queues/new", data={
        "csrf_token": csrf, "name": "Billing", "strategy": "longest_idle", "skill.billing": "3",
        "seconds_per_priority_level": "60", "offer_timeout_seconds": "30", "sticky_seconds": "60",
        "wrap_up_seconds": "30", "overflow_queue_id": str(general_id), "overflow_after_seconds": "300",
        "expansion_count": "1", "expansion-0-after_seconds": "45", "expansion-0-lower_levels_by": "1",
        "push": "1", "action": "save"})
    assert billing.status_code == 303, billing.text
    queues = {q["name"]: q for q in (await client.get(f"{API}/queues", headers=admin.headers)).json()}
    assert queues["Billing"]["skills"] == {"billing": 3} and queues["Billing"]["overflow_after_seconds"] == 300
    assert queues["Billing"]["expansions"][0]["after_seconds"] == 45

    loop = await client.post(f"/admin/queues/{general_id}", data={
        "csrf_token": csrf, "name": "General", "strategy": "longest_idle", "seconds_per_priority_level": "60",
        "offer_timeout_seconds": "30", "overflow_queue_id": str(queues["Billing"]["id"]),
        "overflow_after_seconds": "120", "push": "1"})
    assert loop.status_code == 422
    assert "loops back" in loop.text and 'id="q-overflow" name="overflow_queue_id" aria-invalid="true"' in loop.text
    listing = await client.get("/admin/queues")
    assert "Billing" in listing.text and "General" in listing.text


async def test_agent_profile_page_is_editable_by_the_teams_supervisor_only(client, admin, agent, supervisor):
    await make_skill(client, admin, "billing")
    csrf = await logged_in(client, supervisor)
    page = await client.get(f"/admin/users/{agent.id}/routing")
    assert page.status_code == 200 and "Save profile" in page.text
    saved = await client.post(f"/admin/users/{agent.id}/routing", data={
        "csrf_token": csrf, "skill.billing": "4", "languages": "hu, en", "capacity.voice": "1",
        "capacity.chat": "2", "capacity.email": "5"})
    assert saved.status_code == 303, saved.text
    bad = await client.post(f"/admin/users/{agent.id}/routing", data={
        "csrf_token": csrf, "skill.billing": "4", "capacity.chat": "lots"})
    assert bad.status_code == 422 and "capacity.chat" in bad.text

    csrf = await logged_in(client, agent)
    own = await client.get(f"/admin/users/{agent.id}/routing")
    assert own.status_code == 200 and "Save profile" not in own.text and 'value="hu, en"' in own.text
    refused_post = await client.post(f"/admin/users/{agent.id}/routing", data={"csrf_token": csrf,
                                                                              "skill.billing": "5"})
    assert refused_post.status_code == 403
    assert (await client.get("/admin/queues")).status_code == 403
    profile = (await client.get(f"{API}/agents/{agent.id}/profile", headers=agent.headers)).json()
    assert profile["skills"] == {"billing": 4} and profile["capacity"] == {"voice": 1, "chat": 2, "email": 5}
