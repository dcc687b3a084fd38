"""Login, profile and the admin pages, driven like a browser: form posts, cookies, CSRF tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape

from helpline.accounts.models import Role
from helpline.config import Settings
from helpline.db import Database
from helpline.web.i18n import gettext_for
from tests.conftest import Person, make_person


async def log_in(client: httpx.AsyncClient, person: Person, **extra: str) -> httpx.Response:
    return await client.post("/login", data={"email": person.email, "password": person.password, **extra})


async def csrf_token(client: httpx.AsyncClient, page: str = "/profile") -> str:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, f"no csrf_token field on {page}"
    return match.group(1)


def german(english: str) -> str:
    """The German UI string, as the page shows it (and it must really be translated)."""
    translated = gettext_for("de").gettext(english)
    assert translated != english, f"{english!r} has no German translation"
    return str(escape(translated))


def html_lang(page: httpx.Response) -> str:
    match = re.search(r'<html lang="([^"]*)"', page.text)
    assert match, "no <html lang=...>"
    return match.group(1)


# --- logging in ----------------------------------------------------------------------------------


async def test_login_form_sets_a_session_cookie_and_opens_the_inbox(client: httpx.AsyncClient, agent: Person):
    response = await log_in(client, agent)
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    cookie = response.headers["set-cookie"]
    assert "helpline_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    inbox = await client.get("/inbox")
    assert inbox.status_code == 200 and "Anna Agent" in inbox.text


async def test_wrong_password_shows_the_message_with_401_and_no_cookie(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/login", data={"email": agent.email, "password": "not-my-password"})
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert "set-cookie" not in response.headers
    assert f'value="{agent.email}"' in response.text  # the email stays filled in
    assert (await client.get("/inbox")).status_code == 303


async def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/login", data={"email": "nobody@acme.test", "password": "not-my-password"})
    assert response.status_code == 401 and "Wrong email or password." in response.text


async def test_login_is_rate_limited_after_the_allowed_attempts(client: httpx.AsyncClient, settings: Settings,
                                                                agent: Person):
    allowed = settings.login_attempts_per_minute
    for _ in range(allowed):
        wrong = await client.post("/login", data={"email": agent.email, "password": "guess-guess"})
        assert wrong.status_code == 401
    blocked = await log_in(client, agent)  # even the right password waits now
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.text and "set-cookie" not in blocked.headers


async def test_login_rate_limit_cannot_be_dodged_by_respelling_the_email(client: httpx.AsyncClient,
                                                                          settings: Settings, agent: Person):
    for i in range(settings.login_attempts_per_minute):
        spelling = " " * i + (agent.email.upper() if i % 2 else agent.email) + " " * (i % 3)
        assert (await client.post("/login", data={"email": spelling, "password": "guess-guess"})).status_code == 401
    assert (await log_in(client, agent)).status_code == 429


async def test_successful_login_resets_the_attempt_count(client: httpx.AsyncClient, settings: Settings,
                                                         agent: Person):
    for _ in range(settings.login_attempts_per_minute - 1):
        await client.post("/login", data={"email": agent.email, "password": "guess-guess"})
    assert (await log_in(client, agent)).status_code == 303
    for _ in range(settings.login_attempts_per_minute - 1):
        assert (await client.post("/login", data={"email": agent.email, "password": "x" * 9})).status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example",
                                    "\\\\evil.example", "javascript:alert(1)", "http:/evil.example", ""])
async def test_next_never_leaves_the_site(client: httpx.AsyncClient, agent: Person, target: str):
    response = await log_in(client, agent, next=target)
    assert response.status_code == 303 and response.headers["location"] == "/inbox"


async def test_next_local_path_is_followed_after_login(client: httpx.AsyncClient, agent: Person):
    response = await log_in(client, agent, next="/contacts?name=x")
    assert response.status_code == 303 and response.headers["location"] == "/contacts?name=x"


async def test_login_page_refuses_to_carry_a_foreign_next(client: httpx.AsyncClient):
    page = await client.get("/login", params={"next": "//evil.example/phish"})
    assert page.status_code == 200
    assert 'name="next" value="/inbox"' in page.text and "evil.example" not in page.text


async def test_page_without_login_redirects_to_login_and_back(client: httpx.AsyncClient, agent: Person):
    response = await client.get("/contacts")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/contacts"
    page = await client.get(response.headers["location"])
    assert 'name="next" value="/contacts"' in page.text


async def test_cross_site_login_post_is_refused(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/login", data={"email": agent.email, "password": agent.password},
                                 headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "set-cookie" not in response.headers


async def test_deactivated_user_cannot_log_in(client: httpx.AsyncClient, admin: Person, agent: Person):
    await client.patch(f"/api/v1/users/{agent.id}", json={"is_active": False}, headers=admin.headers)
    response = await log_in(client, agent)
    assert response.status_code == 401 and "set-cookie" not in response.headers


async def test_logout_clears_the_cookie(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/inbox")).status_code == 303


async def test_logout_ends_the_session_even_for_a_copied_cookie(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    copied = client.cookies.get("helpline_session")
    token = await csrf_token(client)
    await client.post("/logout", data={"csrf_token": token})
    replay = await client.get("/inbox", cookies={"helpline_session": copied})
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


# --- sessions and CSRF ---------------------------------------------------------------------------


async def test_admin_deactivating_a_user_ends_their_session(app: object, client: httpx.AsyncClient,
                                                             admin: Person, agent: Person):
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as agents_browser:
        await log_in(agents_browser, agent)
        assert (await agents_browser.get("/inbox")).status_code == 200
        await log_in(client, admin)
        token = await csrf_token(client, "/admin/users")
        response = await client.post(f"/admin/users/{agent.id}", data={"csrf_token": token, "active": "0"})
        assert response.status_code == 303
        kicked = await agents_browser.get("/inbox")
        assert kicked.status_code == 303 and kicked.headers["location"].startswith("/login")


async def test_form_post_without_csrf_token_is_403(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    response = await client.post("/profile", data={"name": "Hacked Name"})
    assert response.status_code == 403
    assert "Anna Agent" in (await client.get("/profile")).text


async def test_form_post_with_a_wrong_csrf_token_is_403(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    response = await client.post("/profile", data={"name": "Hacked Name", "csrf_token": "0" * 64})
    assert response.status_code == 403


async def test_form_post_with_csrf_token_saves(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/profile", data={"name": "Anna Agentin", "csrf_token": token})
    assert response.status_code == 200 and "Saved." in response.text
    assert "Anna Agentin" in (await client.get("/profile")).text


async def test_htmx_post_with_csrf_header_works(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/profile", data={"time_zone": "Europe/Berlin"},
                                 headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 200 and 'value="Europe/Berlin"' in response.text


async def test_changing_the_password_ends_the_session_and_the_new_one_works(client: httpx.AsyncClient,
                                                                           agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/profile", data={"password": "a-brand-new-password", "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/inbox")).status_code == 303
    assert (await log_in(client, agent)).status_code == 401
    again = await client.post("/login", data={"email": agent.email, "password": "a-brand-new-password"})
    assert again.status_code == 303


async def test_profile_with_unknown_time_zone_is_422(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/profile", data={"time_zone": "Mars/Olympus", "csrf_token": token})
    assert response.status_code == 422 and "Mars/Olympus" in response.text


async def test_profile_token_is_shown_once_and_works(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    created = await client.post("/profile/tokens", data={"name": "my laptop", "csrf_token": token})
    match = re.search(r'<pre class="token" id="new-token">(hl_[^<]+)</pre>', created.text)
    assert created.status_code == 200 and match
    api_token = match.group(1)
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"})
    assert me.json()["id"] == agent.id
    assert api_token not in (await client.get("/profile")).text


# --- admin pages ---------------------------------------------------------------------------------


async def test_agent_cannot_open_admin_pages(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    for path in ("/admin/users", "/admin/teams", "/admin/settings", "/admin/audit"):
        response = await client.get(path)
        assert response.status_code == 403, path


async def test_agent_cannot_create_users_through_the_admin_form(client: httpx.AsyncClient, agent: Person):
    await log_in(client, agent)
    token = await csrf_token(client)
    response = await client.post("/admin/users", data={"email": "sneaky@acme.test", "role": "admin",
                                                       "password": "long-enough-pw", "csrf_token": token})
    assert response.status_code == 403


async def test_admin_creates_a_user_through_the_form(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/users")
    response = await client.post("/admin/users", data={
        "email": "neu@acme.test", "name": "Nora Neu", "role": "supervisor", "password": "long-enough-pw",
        "language": "de", "csrf_token": token})
    assert response.status_code == 303
    users = (await client.get("/api/v1/users", headers=admin.headers)).json()
    nora = next(u for u in users if u["email"] == "neu@acme.test")
    assert nora["role"] == "supervisor" and nora["language"] == "de"


async def test_admin_user_form_error_is_shown_with_the_input_kept(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/users")
    response = await client.post("/admin/users", data={"email": "agent-at-acme", "name": "Typo",
                                                       "csrf_token": token})
    assert response.status_code == 422
    assert 'role="alert"' in response.text and 'value="agent-at-acme"' in response.text


async def test_admin_cannot_deactivate_themself_through_the_form(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/users")
    response = await client.post(f"/admin/users/{admin.id}", data={"active": "0", "csrf_token": token})
    assert response.status_code == 422 and "deactivate yourself" in response.text
    assert (await client.get("/inbox")).status_code == 200


async def test_admin_creates_a_team_and_sets_its_members(client: httpx.AsyncClient, admin: Person,
                                                         agent: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/teams")
    assert (await client.post("/admin/teams", data={"name": "Billing", "csrf_token": token})).status_code == 303
    team = (await client.get("/api/v1/teams", headers=admin.headers)).json()[0]
    response = await client.post(f"/admin/teams/{team['id']}/members",
                                 data={"member_id": [str(agent.id), str(admin.id)], "csrf_token": token})
    assert response.status_code == 303
    team = (await client.get(f"/api/v1/teams/{team['id']}", headers=admin.headers)).json()
    assert sorted(team["member_ids"]) == sorted([admin.id, agent.id])


async def test_settings_with_unknown_time_zone_is_422_and_not_saved(client: httpx.AsyncClient, admin: Person):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/settings")
    response = await client.post("/admin/settings", data={"name": "Acme", "default_language": "en",
                                                          "time_zone": "Mars/Olympus", "csrf_token": token})
    assert response.status_code == 422 and "Mars/Olympus" in response.text
    assert 'id="t-tz" name="time_zone" type="text" value="UTC"' in (await client.get("/admin/settings")).text


async def test_settings_save_the_company_name_and_language(client: httpx.AsyncClient, admin: Person,
                                                           db: Database, tenant_id: int):
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/settings")
    response = await client.post("/admin/settings", data={"name": "Acme Hilfe", "default_language": "de",
                                                          "time_zone": "Europe/Berlin", "csrf_token": token})
    assert response.status_code == 200 and "Saved." in response.text
    newcomer = await make_person(db, tenant_id, "newcomer@acme.test", Role.agent)
    assert newcomer.actor.language == "de" and newcomer.actor.time_zone == "Europe/Berlin"


async def test_audit_log_shows_admin_actions_to_admins(client: httpx.AsyncClient, admin: Person):
    await client.post("/api/v1/users", headers=admin.headers, json={"email": "audited@acme.test"})
    await client.post("/api/v1/teams", headers=admin.headers, json={"name": "Audited team"})
    await log_in(client, admin)
    token = await csrf_token(client, "/admin/settings")
    await client.post("/admin/settings", data={"name": "Acme Renamed", "default_language": "en",
                                               "time_zone": "UTC", "csrf_token": token})
    page = await client.get("/admin/audit")
    assert page.status_code == 200
    for action in ("user.created", "team.created", "tenant.updated"):
        assert f"<code>{action}</code>" in page.text, action
    assert "audited@acme.test" in page.text and "Ada Admin" in page.text
    assert page.text.index("tenant.updated") < page.text.index("team.created") < page.text.index("user.created")


async def test_audit_log_is_not_shown_to_agents(client: httpx.AsyncClient, admin: Person, agent: Person):
    await client.post("/api/v1/users", headers=admin.headers, json={"email": "audited@acme.test"})
    await log_in(client, agent)
    page = await client.get("/admin/audit")
    assert page.status_code == 403 and "audited@acme.test" not in page.text


async def test_admin_link_is_only_in_the_admins_menu(client: httpx.AsyncClient, admin: Person, agent: Person):
    await log_in(client, agent)
    assert 'href="/admin/users"' not in (await client.get("/inbox")).text
    client.cookies.clear()
    await log_in(client, admin)
    assert 'href="/admin/users"' in (await client.get("/inbox")).text


# --- language ------------------------------------------------------------------------------------


async def test_german_speaking_user_gets_a_german_workspace(client: httpx.AsyncClient, db: Database,
                                                            tenant_id: int, admin: Person):
    response = await client.post("/api/v1/users", headers=admin.headers, json={
        "email": "dora@acme.test", "name": "Dora Deutsch", "language": "de", "password": "long-enough-pw"})
    assert response.status_code == 201
    await client.post("/login", data={"email": "dora@acme.test", "password": "long-enough-pw"})
    inbox = await client.get("/inbox")
    assert inbox.status_code == 200 and html_lang(inbox) == "de"
    assert german("Contacts") in inbox.text and german("Log out") in inbox.text
    assert ">Contacts<" not in inbox.text


async def test_accept_language_de_gives_a_german_login_page(client: httpx.AsyncClient):
    page = await client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert page.status_code == 200 and html_lang(page) == "de"
    assert german("Log in to Helpline") in page.text


async def test_unsupported_accept_language_falls_back_to_english(client: httpx.AsyncClient):
    page = await client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert html_lang(page) == "en"


async def test_language_picked_on_the_login_page_is_remembered(client: httpx.AsyncClient):
    chosen = await client.get("/login", params={"lang": "hu"})
    assert html_lang(chosen) == "hu" and "helpline_lang=hu" in chosen.headers["set-cookie"]
    later = await client.get("/login", headers={"Accept-Language": "de"})
    assert html_lang(later) == "hu"


async def test_failed_login_answers_in_the_visitors_language(client: httpx.AsyncClient, agent: Person):
    response = await client.post("/login", data={"email": agent.email, "password": "nope-nope"},
                                 headers={"Accept-Language": "de"})
    assert response.status_code == 401 and html_lang(response) == "de"
    assert german("Wrong email or password.") in response.text
    assert "Wrong email or password." not in response.text
