"""The /replies page driven like a browser (form posts, cookies, CSRF tokens), and the composer's
"Canned reply" button on the conversation page."""

from __future__ import annotations

import re

import httpx
from markupsafe import escape

from helpline.accounts import service as accounts
from helpline.accounts.models import Role
from helpline.db import Database
from helpline.replies import service
from tests.accounts.test_pages import csrf_token, log_in
from tests.conftest import Person, make_person

API = "/api/v1/canned-replies"


async def save(client: httpx.AsyncClient, path: str = "/replies/new", **fields: str) -> httpx.Response:
    token = await csrf_token(client, "/replies/new")
    return await client.post(path, data={"csrf_token": token, **fields})


def options(page: httpx.Response) -> list[str]:
    select = re.search(r'<select id="cr-audience".*?</select>', page.text, re.S)
    assert select, "no audience choice"
    return re.findall(r'<option value="([^"]+)"', select.group(0))


async def test_an_agent_adds_a_personal_reply_and_finds_it_in_the_list(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    form = await client.get("/replies/new")
    assert form.status_code == 200
    assert options(form) == ["personal"]  # sharing is for admins and supervisors
    assert "{{customer.first_name}}" in form.text  # the placeholders are listed
    saved = await save(client, title="Refund sent", shortcut="/Refund",
                       body="Hello {{customer.first_name}},\r\nyour refund is on its way.", audience="personal")
    assert saved.status_code == 303 and saved.headers["location"] == "/replies?saved=1"
    page = await client.get("/replies?saved=1")
    assert "Saved." in page.text
    row = re.search(r'<tr data-reply-id="\d+">.*?</tr>', page.text, re.S)
    assert row, page.text
    assert "Refund sent" in row.group(0) and "<code>/refund</code>" in row.group(0)
    assert "your refund is on its way." in row.group(0) and ">Edit<" in row.group(0)
    # The sidebar leads here for everyone.
    assert 'href="/replies"' in (await client.get("/inbox")).text


async def test_a_refused_save_names_the_field_and_keeps_what_was_typed(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    response = await save(client, title="Greeting", shortcut="hi", body="Dear {{customer.title}}", audience="personal")
    assert response.status_code == 422
    assert "Text: unknown placeholder {{customer.title}}" in response.text
    assert 'id="cr-body" name="body"' in response.text and "Dear {{customer.title}}</textarea>" in response.text
    assert 'value="Greeting"' in response.text
    assert re.search(r'id="cr-body"[^>]*aria-invalid="true"', response.text)
    shared = await save(client, title="Greeting", body="Hi", audience="shared")
    assert shared.status_code == 403 and "Who may use it: only admins and supervisors may share" in shared.text


async def test_hostile_titles_and_bodies_are_shown_as_text(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    xss = '<script>window.__xss=1</script><img src=x onerror=alert(1)>'
    assert (await save(client, title=xss, body=xss, audience="personal")).status_code == 303
    page = await client.get("/replies")
    assert xss not in page.text
    assert str(escape(xss)) in page.text


async def test_the_preview_fills_in_a_made_up_customer(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client, "/replies/new")
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    shown = await client.post("/replies/preview", headers=headers,
                              data={"body": "Hi {{customer.first_name}}, <b>{{agent.name}}</b> of {{company.name}}"})
    assert shown.status_code == 200
    assert "Hi Klara, &lt;b&gt;Anna Agent&lt;/b&gt; of Acme Support" in shown.text
    wrong = await client.post("/replies/preview", headers=headers, data={"body": "Hi {{nope}}"})
    assert "Text: unknown placeholder {{nope}}" in wrong.text


async def test_supervisors_share_with_everyone_or_a_team_and_agents_cannot_edit_those(
    client: httpx.AsyncClient, db: Database, tenant_id: int, agent: Person
):
    supervisor = await make_person(db, tenant_id, "sue@acme.test", Role.supervisor, "Sue Supervisor")
    async with db.transaction() as session:
        team = await accounts.create_team(session=session, actor=accounts.Actor.system(tenant_id), name="Billing",
                                          member_ids=[agent.id])
    await log_in(client, supervisor)
    assert options(await client.get("/replies/new")) == ["personal", "shared", f"team:{team.id}"]
    assert (await save(client, title="Invoices", body="See attached.", audience=f"team:{team.id}")).status_code == 303
    async with db.read() as session:
        [reply] = await service.list_replies(session=session, actor=supervisor.actor)
    assert reply.visibility == "team" and reply.team_id == team.id

    await client.post("/logout", data={"csrf_token": await csrf_token(client)})
    await log_in(client, agent)
    listed = await client.get("/replies")
    assert "Invoices" in listed.text and "Team: Billing" in listed.text
    assert f'href="/replies/{reply.id}"' not in listed.text
    assert (await client.get(f"/replies/{reply.id}")).status_code == 403
    taken = await save(client, f"/replies/{reply.id}", title="Mine now", body="x", audience="personal")
    assert taken.status_code == 403


async def test_delete_from_the_page_and_with_htmx(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    for title in ("First", "Second"):
        await save(client, title=title, body="text", audience="personal")
    replies = (await client.get(API)).json()
    token = await csrf_token(client, "/replies/new")
    plain = await client.post(f"/replies/{replies[0]['id']}/delete", data={"csrf_token": token})
    assert plain.status_code == 303
    htmx = await client.post(f"/replies/{replies[1]['id']}/delete", headers={"X-CSRF-Token": token, "HX-Request": "1"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/replies?saved=1"
    assert (await client.get(API)).json() == []


async def test_the_conversation_composer_offers_canned_replies(client: httpx.AsyncClient, agent: Person):
    created = await client.post("/api/v1/conversations", headers=agent.headers, json={
        "contact": {"email": "k@example.com"}, "subject": "Hi", "message": {"body": "Hello"}})
    await log_in(client, agent)
    page = await client.get(f"/conversations/{created.json()['id']}")
    assert page.text.count("data-canned-open") == 2  # the reply and the internal note
    assert re.search(r'<textarea name="body" id="reply-body"[^>]*data-canned', page.text)
    assert 'data-t-canned-search="Search canned replies…"' in page.text
