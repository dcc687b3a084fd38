"""Suspended email: spam held back, listed for agents, released into the inbox or deleted for good."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from helpline.channels.email.intake import IntakeResult, ingest
from helpline.channels.email.models import SuspendedEmail
from helpline.db import Database
from tests.channels.email.test_intake import mail, make_mailbox
from tests.conftest import Person

API = "/api/v1/email/suspended"


async def suspend_spam(app: Any, db: Database, admin: Person, subject: str = "Cheap pills") -> IntakeResult:
    mailbox_id = await make_mailbox(db, admin)
    result = await ingest(app.state.runtime, mail(subject=subject, X_Spam_Flag="YES"), mailbox_id=mailbox_id)
    assert (result.outcome, result.reason) == ("suspended", "spam")
    return result


async def inbox_subjects(client: httpx.AsyncClient, person: Person) -> list[str]:
    response = await client.get("/api/v1/conversations", params={"view": "all"}, headers=person.headers)
    assert response.status_code == 200, response.text
    return [c["subject"] for c in response.json()["items"]]


async def test_spam_is_listed_for_agents_not_in_the_inbox(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, agent: Person
) -> None:
    await suspend_spam(app, db, admin)
    response = await client.get(API, headers=agent.headers)
    assert response.status_code == 200
    [row] = response.json()
    assert (row["reason"], row["subject"], row["from_address"]) == ("spam", "Cheap pills", "carla@customer.com")
    assert "please help" in row["preview"]
    assert await inbox_subjects(client, agent) == []


async def test_release_puts_it_in_the_inbox_once(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, agent: Person
) -> None:
    await suspend_spam(app, db, admin, subject="Not spam after all")
    [row] = (await client.get(API, headers=agent.headers)).json()
    released = await client.post(f"{API}/{row['id']}/release", headers=agent.headers)
    assert released.status_code == 200, released.text
    assert released.json()["outcome"] == "created"
    assert await inbox_subjects(client, agent) == ["Not spam after all"]
    assert (await client.get(API, headers=agent.headers)).json() == []
    everything = (await client.get(API, params={"include_released": True}, headers=agent.headers)).json()
    assert everything[0]["released_conversation_id"] == released.json()["conversation_id"]
    again = await client.post(f"{API}/{row['id']}/release", headers=agent.headers)
    assert again.status_code == 409 and again.json()["field"] == "suspended_id"


async def test_delete_removes_it_and_its_raw_mail(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, agent: Person
) -> None:
    await suspend_spam(app, db, admin)
    async with db.read() as session:
        stored = await session.scalar(select(SuspendedEmail))
    assert stored is not None
    raw_path = app.state.runtime.store.path(stored.raw_key)
    assert raw_path.exists()
    response = await client.delete(f"{API}/{stored.id}", headers=agent.headers)
    assert response.status_code == 204
    assert (await client.get(API, headers=agent.headers)).json() == []
    assert not raw_path.exists()
    assert await inbox_subjects(client, agent) == []


async def test_other_tenants_cannot_see_release_or_delete(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, other_tenant_admin: Person
) -> None:
    await suspend_spam(app, db, admin)
    async with db.read() as session:
        stored = await session.scalar(select(SuspendedEmail))
    assert stored is not None
    assert (await client.get(API, headers=other_tenant_admin.headers)).json() == []
    for response in (
        await client.post(f"{API}/{stored.id}/release", headers=other_tenant_admin.headers),
        await client.delete(f"{API}/{stored.id}", headers=other_tenant_admin.headers),
    ):
        assert response.status_code == 404 and response.json()["field"] == "suspended_id"
    assert (await client.get(API, headers=admin.headers)).json()[0]["id"] == stored.id


async def test_anonymous_and_bad_ids_get_clean_errors(client: httpx.AsyncClient, agent: Person) -> None:
    assert (await client.get(API)).status_code == 401
    assert (await client.post(f"{API}/999999/release", headers=agent.headers)).status_code == 404
    assert (await client.post(f"{API}/not-a-number/release", headers=agent.headers)).status_code == 422
    assert (await client.delete(f"{API}/{2**63}", headers=agent.headers)).status_code in (404, 422)


async def login(client: httpx.AsyncClient, person: Person) -> str:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303, response.text
    page = await client.get("/email/suspended")
    marker = 'data-csrf="'
    text = page.text
    return text[text.index(marker) + len(marker) :].split('"', 1)[0]


async def test_page_lists_and_releases_with_htmx(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, agent: Person
) -> None:
    await suspend_spam(app, db, admin, subject="<script>alert(1)</script> prize")
    csrf = await login(client, agent)
    page = await client.get("/email/suspended")
    assert page.status_code == 200
    assert "Suspended email" in page.text and "Spam" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; prize" in page.text and "<script>alert(1)" not in page.text
    nav = await client.get("/email/suspended/nav")
    assert 'href="/email/suspended"' in nav.text and ">1<" in nav.text
    async with db.read() as session:
        stored = await session.scalar(select(SuspendedEmail))
    assert stored is not None
    released = await client.post(
        f"/email/suspended/{stored.id}/release", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    assert released.status_code == 200 and "/conversations/" in released.text
    assert (await client.get("/email/suspended/nav")).text.strip() == ""


async def test_page_delete_without_csrf_is_refused(
    app: Any, client: httpx.AsyncClient, db: Database, admin: Person, agent: Person
) -> None:
    await suspend_spam(app, db, admin)
    await login(client, agent)
    async with db.read() as session:
        stored = await session.scalar(select(SuspendedEmail))
    assert stored is not None
    refused = await client.post(f"/email/suspended/{stored.id}/delete", headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert len((await client.get(API, headers=agent.headers)).json()) == 1
