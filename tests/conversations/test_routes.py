"""The conversations API, as an integrator uses it."""

from __future__ import annotations

import httpx

from tests.conftest import Person


async def create(client: httpx.AsyncClient, person: Person, **overrides: object) -> dict:
    body = {"contact": {"email": "kunde@example.de", "name": "Klaus Kunde"}, "subject": "Rückerstattung",
            "message": {"body": "Ich bitte um Rückerstattung meiner Bestellung."}}
    body.update(overrides)
    response = await client.post("/api/v1/conversations", json=body, headers=person.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_conversation_returns_it_with_id_and_first_message(client: httpx.AsyncClient, admin: Person):
    created = await create(client, admin)
    assert created["id"] > 0 and created["number"] == 1
    assert created["status"] == "new"
    fetched = (await client.get(f"/api/v1/conversations/{created['id']}", headers=admin.headers)).json()
    assert fetched["subject"] == "Rückerstattung"
    assert [m["body_text"] for m in fetched["messages"]] == ["Ich bitte um Rückerstattung meiner Bestellung."]


async def test_known_email_attaches_to_the_same_contact(client: httpx.AsyncClient, admin: Person):
    first = await create(client, admin)
    second = await create(client, admin, subject="Noch eine Frage")
    assert first["contact_id"] == second["contact_id"]
    assert second["number"] == first["number"] + 1


async def test_search_folds_diacritics(client: httpx.AsyncClient, admin: Person):
    await create(client, admin, contact={"email": "anna@example.hu", "name": "Kovács Anna"},
                 subject="Számla", message={"body": "Köszönöm a gyors választ!"})
    await create(client, admin)
    found = (await client.get("/api/v1/search", params={"q": "koszonom"}, headers=admin.headers)).json()
    assert [hit["conversation"]["subject"] for hit in found["conversations"]] == ["Számla"]
    refund = (await client.get("/api/v1/search", params={"q": "ruckerstattung"}, headers=admin.headers)).json()
    assert [hit["conversation"]["subject"] for hit in refund["conversations"]] == ["Rückerstattung"]
    people = (await client.get("/api/v1/search", params={"q": "kovacs"}, headers=admin.headers)).json()
    assert [c["name"] for c in people["contacts"]] == ["Kovács Anna"]


async def test_hostile_search_strings_never_fail(client: httpx.AsyncClient, admin: Person):
    await create(client, admin)
    for query in ['"', "'", "a OR b", "NEAR(x y)", "*", "-", "'; DROP TABLE conversations; --", "^", "rück*",
                  "title:x", "((", "AND", "\x00", "ö" * 400]:
        response = await client.get("/api/v1/search", params={"q": query}, headers=admin.headers)
        assert response.status_code in (200, 422), (query, response.text)
    still = await client.get("/api/v1/search", params={"q": "Rückerstattung"}, headers=admin.headers)
    assert len(still.json()["conversations"]) == 1


async def test_cursor_pagination_walks_every_conversation_once(client: httpx.AsyncClient, admin: Person):
    for i in range(7):
        await create(client, admin, subject=f"Frage {i}")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, "view": "all"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/conversations", params=params, headers=admin.headers)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7


async def test_filters_by_status_and_tag(client: httpx.AsyncClient, admin: Person):
    a = await create(client, admin, tags=["billing", "VIP"])
    await create(client, admin, subject="Other")
    await client.patch(f"/api/v1/conversations/{a['id']}", json={"status": "pending"}, headers=admin.headers)
    pending = (await client.get("/api/v1/conversations", params={"status": "pending"}, headers=admin.headers)).json()
    assert [c["id"] for c in pending["items"]] == [a["id"]]
    tagged = (await client.get("/api/v1/conversations", params={"tag": "vip", "view": "all"},
                               headers=admin.headers)).json()
    assert [c["id"] for c in tagged["items"]] == [a["id"]]
    assert tagged["items"][0]["tags"] == ["billing", "vip"]


async def test_changes_land_on_the_timeline_with_who_and_when(client: httpx.AsyncClient, admin: Person, agent: Person):
    created = await create(client, admin)
    response = await client.patch(f"/api/v1/conversations/{created['id']}",
                                  json={"status": "open", "priority": "urgent", "assignee_id": agent.id},
                                  headers=admin.headers)
    assert response.status_code == 200
    events = (await client.get(f"/api/v1/conversations/{created['id']}/timeline", headers=admin.headers)).json()
    kinds = {e["kind"]: e for e in events}
    assert kinds["status"]["details"] == {"old": "new", "new": "open"}
    assert kinds["priority"]["details"] == {"old": "normal", "new": "urgent"}
    assert kinds["assignee"]["actor_user_id"] == admin.id


async def test_reply_and_note_and_customer_reply_reopens_solved(client: httpx.AsyncClient, admin: Person):
    created = await create(client, admin)
    cid = created["id"]
    reply = await client.post(f"/api/v1/conversations/{cid}/messages",
                              json={"body": "Wir erstatten den Betrag.", "status": "solved"}, headers=admin.headers)
    assert reply.status_code == 201 and reply.json()["direction"] == "outbound"
    note = await client.post(f"/api/v1/conversations/{cid}/notes", json={"body": "Kunde ist VIP"},
                             headers=admin.headers)
    assert note.json()["direction"] == "note"
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=admin.headers)).json()["status"] == "solved"
    await client.post(f"/api/v1/conversations/{cid}/messages", json={"body": "Danke, aber...", "direction": "inbound"},
                      headers=admin.headers)
    after = (await client.get(f"/api/v1/conversations/{cid}", headers=admin.headers)).json()
    assert after["status"] == "open"
    assert [m["direction"] for m in after["messages"]] == ["inbound", "outbound", "note", "inbound"]
    assert after["first_response_at"] is not None


async def test_merge_interleaves_messages_by_time_and_points_to_survivor(client: httpx.AsyncClient, admin: Person):
    a = await create(client, admin, subject="A", message={"body": "a1"})
    b = await create(client, admin, subject="B", message={"body": "b1"})
    await client.post(f"/api/v1/conversations/{a['id']}/messages", json={"body": "a2"}, headers=admin.headers)
    await client.post(f"/api/v1/conversations/{b['id']}/messages", json={"body": "b2"}, headers=admin.headers)
    merged = await client.post(f"/api/v1/conversations/{a['id']}/merge", json={"merged_id": b["id"]},
                               headers=admin.headers)
    assert merged.status_code == 200
    assert [m["body_text"] for m in merged.json()["messages"]] == ["a1", "b1", "a2", "b2"]
    gone = (await client.get(f"/api/v1/conversations/{b['id']}", headers=admin.headers)).json()
    assert gone["merged_into_id"] == a["id"] and gone["status"] == "closed"
    again = await client.post(f"/api/v1/conversations/{a['id']}/merge", json={"merged_id": b["id"]},
                              headers=admin.headers)
    assert again.status_code == 409


async def test_follow_up_links_show_both_ways(client: httpx.AsyncClient, admin: Person):
    a = await create(client, admin, subject="First")
    b = await create(client, admin, subject="Again")
    response = await client.post(f"/api/v1/conversations/{b['id']}/links", json={"follows_up_id": a["id"]},
                                 headers=admin.headers)
    assert response.status_code == 201
    back = (await client.get(f"/api/v1/conversations/{a['id']}/links", headers=admin.headers)).json()
    assert [c["id"] for c in back] == [b["id"]]


async def test_other_tenants_ids_are_not_found(client: httpx.AsyncClient, admin: Person, other_tenant_admin: Person):
    created = await create(client, admin)
    for method, path, body in [
        ("GET", f"/api/v1/conversations/{created['id']}", None),
        ("PATCH", f"/api/v1/conversations/{created['id']}", {"status": "solved"}),
        ("POST", f"/api/v1/conversations/{created['id']}/messages", {"body": "hi"}),
        ("GET", f"/api/v1/contacts/{created['contact_id']}", None),
        ("GET", f"/api/v1/users/{admin.id}", None),
    ]:
        response = await client.request(method, path, json=body, headers=other_tenant_admin.headers)
        assert response.status_code == 404, (path, response.text)
    search = (await client.get("/api/v1/search", params={"q": "Rückerstattung"},
                               headers=other_tenant_admin.headers)).json()
    assert search["conversations"] == []
    listing = (await client.get("/api/v1/conversations", params={"view": "all"},
                                headers=other_tenant_admin.headers)).json()
    assert listing["items"] == []


async def test_assigning_another_tenants_user_is_refused(client: httpx.AsyncClient, admin: Person,
                                                         other_tenant_admin: Person):
    created = await create(client, admin)
    response = await client.patch(f"/api/v1/conversations/{created['id']}",
                                  json={"assignee_id": other_tenant_admin.id}, headers=admin.headers)
    assert response.status_code == 404 and response.json()["field"] == "user_id"


async def test_bad_input_gets_a_clear_4xx_naming_the_field(client: httpx.AsyncClient, admin: Person):
    bad_email = await client.post("/api/v1/conversations", headers=admin.headers,
                                  json={"contact": {"email": "not-an-email"}, "subject": "x", "message": {"body": "x"}})
    assert bad_email.status_code == 422 and bad_email.json()["field"] == "body.contact.email"
    bad_phone = await client.post("/api/v1/conversations", headers=admin.headers,
                                  json={"contact": {"phone": "+36 12"}, "subject": "x", "message": {"body": "x"}})
    assert bad_phone.status_code == 422 and "phone" in bad_phone.json()["detail"]
    broken = await client.post("/api/v1/conversations", headers={**admin.headers, "content-type": "application/json"},
                               content=b'{"contact": {"email": ')
    assert broken.status_code == 422 and broken.json()["field"].startswith("body")
    empty = await client.post("/api/v1/conversations", headers=admin.headers,
                              json={"contact": {"email": "a@example.com"}, "subject": "x", "message": {"body": " "}})
    assert empty.status_code == 422 and empty.json()["field"] == "message.body"
    wrong_status = await client.post("/api/v1/conversations/1/messages", headers=admin.headers,
                                     json={"body": "x", "status": "finished"})
    assert wrong_status.status_code == 422 and wrong_status.json()["field"] == "body.status"


async def test_oversized_body_is_413(client: httpx.AsyncClient, admin: Person):
    huge = b'{"subject": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post("/api/v1/conversations", content=huge,
                                 headers={**admin.headers, "content-type": "application/json"})
    assert response.status_code == 413


async def test_html_is_sanitised(client: httpx.AsyncClient, admin: Person):
    created = await create(client, admin, message={
        "body": "", "html": '<p onclick="alert(1)">Hi <b>there</b><script>alert(2)</script>'
                            '<img src=x onerror=alert(3)><a href="javascript:alert(4)">x</a></p>'})
    html = created["messages"][0]["body_html"]
    assert "<b>there</b>" in html
    for bad in ("onclick", "<script", "onerror", "javascript:"):
        assert bad not in html
    assert created["messages"][0]["body_text"].startswith("Hi there")


async def test_attachment_upload_and_download_as_attachment(client: httpx.AsyncClient, admin: Person):
    created = await create(client, admin)
    files = {"files": ("evil.html", b"<script>alert(1)</script>", "text/html")}
    response = await client.post(f"/api/v1/conversations/{created['id']}/messages/upload", headers=admin.headers,
                                 data={"body": "see attached"}, files=files)
    assert response.status_code == 201, response.text
    attachment = response.json()["attachments"][0]
    download = await client.get(attachment["url"], headers=admin.headers)
    assert download.status_code == 200 and download.content == b"<script>alert(1)</script>"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"


async def test_api_needs_a_valid_token(client: httpx.AsyncClient, admin: Person):
    assert (await client.get("/api/v1/conversations")).status_code == 401
    wrong = await client.get("/api/v1/conversations", headers={"Authorization": "Bearer hl_nope"})
    assert wrong.status_code == 401
