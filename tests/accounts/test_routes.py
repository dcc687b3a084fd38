"""The accounts API (/api/v1/users, /teams, /tokens, /me), as an integrator or an admin script uses it."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text

from helpline.db import Database
from tests.conftest import Person


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/login", data={"email": email, "password": password})


async def csrf_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/profile")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "no csrf_token field on /profile"
    return match.group(1)


async def test_admin_creates_a_user_who_can_then_log_in(client: httpx.AsyncClient, admin: Person):
    response = await client.post("/api/v1/users", headers=admin.headers, json={
        "email": "Neu@Acme.test", "name": "Nora Neu", "role": "agent", "password": "a-good-long-password"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "neu@acme.test" and created["role"] == "agent" and created["is_active"] is True
    login = await log_in(client, "neu@acme.test", "a-good-long-password")
    assert login.status_code == 303 and login.headers["location"] == "/inbox"
    assert "helpline_session" in login.cookies
    assert (await client.get("/inbox")).status_code == 200


async def test_agent_cannot_create_users(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/api/v1/users", headers=agent.headers,
                                 json={"email": "sneaky@acme.test", "role": "admin", "password": "long-enough-pw"})
    assert response.status_code == 403
    users = (await client.get("/api/v1/users", headers=agent.headers)).json()
    assert "sneaky@acme.test" not in [u["email"] for u in users]


async def test_agent_cannot_change_roles(client: httpx.AsyncClient, admin: Person, agent: Person):
    own = await client.patch(f"/api/v1/users/{agent.id}", json={"role": "admin"}, headers=agent.headers)
    assert own.status_code == 403
    other = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "agent"}, headers=agent.headers)
    assert other.status_code == 403
    assert (await client.get("/api/v1/me", headers=agent.headers)).json()["role"] == "agent"
    assert (await client.get("/api/v1/me", headers=admin.headers)).json()["role"] == "admin"


async def test_agent_may_change_their_own_language(client: httpx.AsyncClient, agent: Person):
    response = await client.patch(f"/api/v1/users/{agent.id}", json={"language": "hu"}, headers=agent.headers)
    assert response.status_code == 200 and response.json()["language"] == "hu"


async def test_agent_cannot_deactivate_other_users(client: httpx.AsyncClient, admin: Person, agent: Person):
    response = await client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=agent.headers)
    assert response.status_code == 403
    assert (await client.get("/api/v1/me", headers=admin.headers)).status_code == 200


async def test_admin_changes_an_agents_role(client: httpx.AsyncClient, admin: Person, agent: Person):
    response = await client.patch(f"/api/v1/users/{agent.id}", json={"role": "supervisor"}, headers=admin.headers)
    assert response.status_code == 200
    assert (await client.get("/api/v1/me", headers=agent.headers)).json()["role"] == "supervisor"


async def test_admin_cannot_deactivate_themself(client: httpx.AsyncClient, admin: Person):
    response = await client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=admin.headers)
    assert response.status_code == 422 and response.json()["field"] == "is_active"
    assert (await client.get("/api/v1/me", headers=admin.headers)).json()["is_active"] is True


async def test_deactivating_a_user_ends_their_api_tokens(client: httpx.AsyncClient, admin: Person, agent: Person):
    assert (await client.get("/api/v1/me", headers=agent.headers)).status_code == 200  # now cached
    response = await client.patch(f"/api/v1/users/{agent.id}", json={"is_active": False}, headers=admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=agent.headers)).status_code == 401


async def test_deactivating_a_user_ends_their_browser_session(client: httpx.AsyncClient, admin: Person,
                                                              agent: Person):
    assert (await log_in(client, agent.email, agent.password)).status_code == 303
    assert (await client.get("/inbox")).status_code == 200
    response = await client.patch(f"/api/v1/users/{agent.id}", json={"is_active": False}, headers=admin.headers)
    assert response.status_code == 200
    inbox = await client.get("/inbox")
    assert inbox.status_code == 303 and inbox.headers["location"].startswith("/login")
    again = await log_in(client, agent.email, agent.password)
    assert again.status_code == 401


async def test_deactivated_users_are_hidden_unless_asked_for(client: httpx.AsyncClient, admin: Person,
                                                             agent: Person):
    await client.patch(f"/api/v1/users/{agent.id}", json={"is_active": False}, headers=admin.headers)
    active = (await client.get("/api/v1/users", headers=admin.headers)).json()
    everyone = (await client.get("/api/v1/users", params={"include_inactive": True}, headers=admin.headers)).json()
    assert agent.id not in [u["id"] for u in active]
    assert agent.id in [u["id"] for u in everyone]


async def test_duplicate_user_email_is_409_naming_email(client: httpx.AsyncClient, admin: Person, agent: Person):
    response = await client.post("/api/v1/users", headers=admin.headers, json={"email": "AGENT@acme.test"})
    assert response.status_code == 409 and response.json()["field"] == "email"


async def test_bad_user_input_is_422_naming_the_field(client: httpx.AsyncClient, admin: Person, agent: Person):
    bad_email = await client.post("/api/v1/users", headers=admin.headers, json={"email": "not-an-email"})
    assert bad_email.status_code == 422 and bad_email.json()["field"] == "body.email"
    bad_zone = await client.patch(f"/api/v1/users/{agent.id}", json={"time_zone": "Europe/Atlantis"},
                                  headers=admin.headers)
    assert bad_zone.status_code == 422 and bad_zone.json()["field"] == "time_zone"
    bad_role = await client.patch(f"/api/v1/users/{agent.id}", json={"role": "owner"}, headers=admin.headers)
    assert bad_role.status_code == 422 and bad_role.json()["field"] == "body.role"


async def test_me_is_the_caller(client: httpx.AsyncClient, agent: Person):
    response = await client.get("/api/v1/me", headers=agent.headers)
    assert response.status_code == 200
    assert response.json()["id"] == agent.id and response.json()["email"] == "agent@acme.test"
    assert response.json()["name"] == "Anna Agent" and response.json()["role"] == "agent"


async def test_token_create_list_and_revoke(client: httpx.AsyncClient, agent: Person):
    created = await client.post("/api/v1/tokens", json={"name": "zapier"}, headers=agent.headers)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("hl_") and created.json()["user_id"] == agent.id
    listed = (await client.get("/api/v1/tokens", headers=agent.headers)).json()
    assert "zapier" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)
    new_headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=new_headers)).json()["id"] == agent.id
    revoked = await client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=agent.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers=new_headers)).status_code == 401
    assert (await client.get("/api/v1/me", headers=agent.headers)).status_code == 200


async def test_tokens_are_stored_hashed(client: httpx.AsyncClient, db: Database, admin: Person):
    token = (await client.post("/api/v1/tokens", json={"name": "script"}, headers=admin.headers)).json()["token"]
    async with db.read() as session:
        rows = (await session.execute(text("SELECT * FROM api_tokens"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert len(rows) == 2  # the fixture's token and this one
    assert token not in stored and admin.token not in stored
    assert token[:10] in stored  # the short prefix is kept so people can tell their tokens apart


async def test_agent_sees_only_their_own_tokens(client: httpx.AsyncClient, admin: Person, agent: Person):
    await client.post("/api/v1/tokens", json={"name": "admin-script"}, headers=admin.headers)
    mine = (await client.get("/api/v1/tokens", headers=agent.headers)).json()
    assert {t["user_id"] for t in mine} == {agent.id}
    everyone = (await client.get("/api/v1/tokens", headers=admin.headers)).json()
    assert {t["user_id"] for t in everyone} == {admin.id, agent.id}


async def test_agent_cannot_revoke_someone_elses_token(client: httpx.AsyncClient, admin: Person, agent: Person):
    theirs = (await client.get("/api/v1/tokens", headers=admin.headers)).json()
    admin_token = next(t for t in theirs if t["user_id"] == admin.id)
    response = await client.delete(f"/api/v1/tokens/{admin_token['id']}", headers=agent.headers)
    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers=admin.headers)).status_code == 200


async def test_admin_creates_a_token_for_an_agent(client: httpx.AsyncClient, admin: Person, agent: Person):
    created = await client.post("/api/v1/tokens", json={"name": "for anna", "user_id": agent.id},
                                headers=admin.headers)
    assert created.status_code == 201
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    assert (await client.get("/api/v1/me", headers=headers)).json()["id"] == agent.id


async def test_agent_cannot_create_a_token_for_the_admin(client: httpx.AsyncClient, admin: Person, agent: Person):
    response = await client.post("/api/v1/tokens", json={"user_id": admin.id}, headers=agent.headers)
    assert response.status_code == 403


async def test_teams_create_set_members_and_list_member_ids(client: httpx.AsyncClient, admin: Person,
                                                           agent: Person):
    created = await client.post("/api/v1/teams", json={"name": "Billing", "member_ids": [agent.id]},
                                headers=admin.headers)
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["name"] == "Billing" and team["member_ids"] == [agent.id]
    updated = await client.patch(f"/api/v1/teams/{team['id']}", json={"member_ids": [admin.id, agent.id]},
                                 headers=admin.headers)
    assert updated.status_code == 200 and sorted(updated.json()["member_ids"]) == sorted([admin.id, agent.id])
    await client.post("/api/v1/teams", json={"name": "Apps"}, headers=admin.headers)
    listed = (await client.get("/api/v1/teams", headers=agent.headers)).json()
    assert [t["name"] for t in listed] == ["Apps", "Billing"]
    assert sorted(listed[1]["member_ids"]) == sorted([admin.id, agent.id]) and listed[0]["member_ids"] == []


async def test_team_rename_and_removing_members(client: httpx.AsyncClient, admin: Person, agent: Person):
    team = (await client.post("/api/v1/teams", json={"name": "Billing", "member_ids": [agent.id]},
                              headers=admin.headers)).json()
    response = await client.patch(f"/api/v1/teams/{team['id']}", json={"name": "Invoices", "member_ids": []},
                                  headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == {"id": team["id"], "name": "Invoices", "member_ids": []}


async def test_duplicate_team_name_is_409(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/teams", json={"name": "Billing"}, headers=admin.headers)
    again = await client.post("/api/v1/teams", json={"name": "Billing"}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["field"] == "name"


async def test_agent_cannot_create_teams(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/api/v1/teams", json={"name": "Rebels"}, headers=agent.headers)
    assert response.status_code == 403


async def test_other_tenants_users_and_teams_are_not_found(client: httpx.AsyncClient, admin: Person, agent: Person,
                                                           other_tenant_admin: Person):
    team = (await client.post("/api/v1/teams", json={"name": "Billing"}, headers=admin.headers)).json()
    admin_token = (await client.get("/api/v1/tokens", headers=admin.headers)).json()[0]
    for method, path, body in [
        ("GET", f"/api/v1/users/{agent.id}", None),
        ("PATCH", f"/api/v1/users/{agent.id}", {"role": "admin"}),
        ("PATCH", f"/api/v1/users/{agent.id}", {"is_active": False}),
        ("GET", f"/api/v1/teams/{team['id']}", None),
        ("PATCH", f"/api/v1/teams/{team['id']}", {"name": "Ours now"}),
        ("DELETE", f"/api/v1/tokens/{admin_token['id']}", None),
    ]:
        response = await client.request(method, path, json=body, headers=other_tenant_admin.headers)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get("/api/v1/users", headers=other_tenant_admin.headers)).json()
    assert [u["id"] for u in listed] == [other_tenant_admin.id]
    assert (await client.get("/api/v1/teams", headers=other_tenant_admin.headers)).json() == []
    assert (await client.get("/api/v1/me", headers=agent.headers)).json()["role"] == "agent"


async def test_other_tenants_ids_cannot_join_our_team_or_user(client: httpx.AsyncClient, admin: Person,
                                                              other_tenant_admin: Person):
    theirs = (await client.post("/api/v1/teams", json={"name": "Globex team"},
                                headers=other_tenant_admin.headers)).json()
    foreign_member = await client.post("/api/v1/teams", json={"name": "Billing",
                                                              "member_ids": [other_tenant_admin.id]},
                                       headers=admin.headers)
    assert foreign_member.status_code == 404 and foreign_member.json()["field"] == "user_id"
    foreign_team = await client.post("/api/v1/users", headers=admin.headers,
                                     json={"email": "new@acme.test", "team_ids": [theirs["id"]]})
    assert foreign_team.status_code == 404 and foreign_team.json()["field"] == "team_id"
    assert (await client.get("/api/v1/teams", headers=admin.headers)).json() == []


async def test_cookie_authenticated_post_without_csrf_token_is_403(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin.email, admin.password)
    response = await client.post("/api/v1/teams", json={"name": "Billing"})
    assert response.status_code == 403
    assert (await client.get("/api/v1/teams")).json() == []


async def test_cookie_authenticated_post_with_csrf_header_works(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin.email, admin.password)
    token = await csrf_token(client)
    response = await client.post("/api/v1/teams", json={"name": "Billing"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 201, response.text
    assert [t["name"] for t in (await client.get("/api/v1/teams")).json()] == ["Billing"]


async def test_csrf_token_from_another_session_is_refused(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin.email, admin.password)
    stolen = await csrf_token(client)
    client.cookies.clear()
    await log_in(client, admin.email, admin.password)
    response = await client.post("/api/v1/teams", json={"name": "Billing"}, headers={"X-CSRF-Token": stolen})
    assert response.status_code == 403


async def test_api_without_credentials_is_401(client: httpx.AsyncClient, admin: Person):
    response = await client.get("/api/v1/me")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
