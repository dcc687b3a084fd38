"""The accounts service: users, passwords, teams, tokens, tenants — as the other domains and the CLI use it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpline.accounts import service as accounts
from helpline.accounts.models import AuditEntry, Role
from helpline.db import Database
from helpline.errors import Conflict, Invalid, NotFound, PermissionDenied, TooManyRequests
from tests.conftest import Person, make_person, make_tenant


async def test_password_is_hashed_and_the_user_authenticates_with_it(db: Database, admin: Person):
    async with db.read() as session:
        user = await accounts.get_user(session=session, actor=admin.actor, user_id=admin.id)
        assert user.password_hash and admin.password not in user.password_hash
        found = await accounts.authenticate(session=session, email="  ADMIN@acme.test ", password=admin.password)
    assert found is not None and found.id == admin.id


async def test_wrong_password_does_not_authenticate(db: Database, admin: Person):
    async with db.read() as session:
        assert await accounts.authenticate(session=session, email=admin.email, password="wrong-password") is None
        assert await accounts.authenticate(session=session, email="nobody@acme.test", password="x" * 10) is None


async def test_deactivated_user_no_longer_authenticates(db: Database, admin: Person, agent: Person):
    async with db.transaction() as session:
        await accounts.update_user(session=session, actor=admin.actor, user_id=agent.id, is_active=False)
    async with db.read() as session:
        assert await accounts.authenticate(session=session, email=agent.email, password=agent.password) is None


async def test_agent_cannot_create_users(db: Database, agent: Person):
    with pytest.raises(PermissionDenied):
        async with db.transaction() as session:
            await accounts.create_user(session=session, actor=agent.actor, email="new@acme.test", name="New",
                                       role=Role.agent, password="long-enough-pw")


async def test_same_email_twice_in_one_tenant_conflicts(db: Database, admin: Person):
    with pytest.raises(Conflict) as caught:
        async with db.transaction() as session:
            await accounts.create_user(session=session, actor=admin.actor, email="Agent@ACME.test", name="Dup",
                                       role=Role.agent)
            await accounts.create_user(session=session, actor=admin.actor, email="agent@acme.test", name="Dup",
                                       role=Role.agent)
    assert caught.value.field == "email"


async def test_the_same_email_in_two_tenants_logs_into_the_one_whose_password_matches(db: Database, tenant_id: int):
    other = await make_tenant(db, "globex")
    async with db.transaction() as session:
        first = await accounts.create_user(session=session, actor=accounts.Actor.system(tenant_id),
                                           email="sam@example.test", name="Sam", role=Role.agent,
                                           password="password-for-acme")
        second = await accounts.create_user(session=session, actor=accounts.Actor.system(other),
                                            email="sam@example.test", name="Sam", role=Role.agent,
                                            password="password-for-globex")
    async with db.read() as session:
        acme = await accounts.authenticate(session=session, email="sam@example.test", password="password-for-acme")
        globex = await accounts.authenticate(session=session, email="sam@example.test",
                                             password="password-for-globex")
    assert acme is not None and acme.id == first.id
    assert globex is not None and globex.id == second.id


async def test_short_password_is_refused_naming_the_field(db: Database, admin: Person):
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await accounts.create_user(session=session, actor=admin.actor, email="new@acme.test", name="New",
                                       role=Role.agent, password="short")
    assert caught.value.field == "password"


async def test_admin_cannot_deactivate_themself(db: Database, admin: Person):
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await accounts.update_user(session=session, actor=admin.actor, user_id=admin.id, is_active=False)
    assert caught.value.field == "is_active"


async def test_admin_cannot_take_away_their_own_admin_role(db: Database, admin: Person):
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await accounts.update_user(session=session, actor=admin.actor, user_id=admin.id, role=Role.agent)
    assert caught.value.field == "role"


async def test_agent_cannot_promote_themself(db: Database, agent: Person):
    with pytest.raises(PermissionDenied):
        async with db.transaction() as session:
            await accounts.update_user(session=session, actor=agent.actor, user_id=agent.id, role=Role.admin)


async def test_user_language_falls_back_to_the_tenant_default(db: Database, tenant_id: int, admin: Person):
    async with db.transaction() as session:
        await accounts.update_tenant(session=session, actor=admin.actor, default_language="hu")
    person = await make_person(db, tenant_id, "hanna@acme.test", Role.agent)
    assert person.actor.language == "hu"
    async with db.transaction() as session:
        user = await accounts.update_user(session=session, actor=person.actor, user_id=person.id, language="de")
        assert (await accounts.actor_for(session, user)).language == "de"


async def test_tenant_update_with_unknown_time_zone_names_time_zone(db: Database, admin: Person):
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await accounts.update_tenant(session=session, actor=admin.actor, time_zone="Mars/Olympus_Mons")
    assert caught.value.field == "time_zone"
    async with db.read() as session:
        assert (await accounts.get_tenant(session=session, tenant_id=admin.tenant_id)).time_zone == "UTC"


async def test_tenant_update_is_audited_with_who_and_what(db: Database, admin: Person):
    async with db.transaction() as session:
        await accounts.update_tenant(session=session, actor=admin.actor, name="Acme Hilfe",
                                     time_zone="Europe/Budapest")
    async with db.read() as session:
        entry = (await accounts.list_audit(session=session, actor=admin.actor))[0]
    assert entry.action == "tenant.updated" and entry.actor_id == admin.id
    assert entry.details == {"name": "Acme Hilfe", "time_zone": "Europe/Budapest"}


async def test_agent_cannot_read_the_audit_log(db: Database, agent: Person):
    async with db.read() as session:
        with pytest.raises(PermissionDenied):
            await accounts.list_audit(session=session, actor=agent.actor)


async def test_audit_log_is_per_tenant(db: Database, admin: Person, other_tenant_admin: Person):
    async with db.transaction() as session:
        await accounts.create_team(session=session, actor=admin.actor, name="Billing")
    async with db.read() as session:
        theirs = await accounts.list_audit(session=session, actor=other_tenant_admin.actor)
        all_rows = list(await session.scalars(select(AuditEntry)))
    assert any(e.action == "team.created" for e in all_rows)
    assert not any(e.action == "team.created" for e in theirs)


async def test_team_members_are_set_and_replaced(db: Database, admin: Person, agent: Person):
    async with db.transaction() as session:
        team = await accounts.create_team(session=session, actor=admin.actor, name="Billing",
                                          member_ids=[admin.id])
        await accounts.set_team_members(session=session, actor=admin.actor, team_id=team.id, member_ids=[agent.id])
    async with db.read() as session:
        members = await accounts.team_members(session=session, actor=admin.actor, team_id=team.id)
    assert [m.id for m in members] == [agent.id]


async def test_other_tenants_user_cannot_join_a_team(db: Database, admin: Person, other_tenant_admin: Person):
    with pytest.raises(NotFound) as caught:
        async with db.transaction() as session:
            await accounts.create_team(session=session, actor=admin.actor, name="Billing",
                                       member_ids=[other_tenant_admin.id])
    assert caught.value.field == "user_id"


async def test_team_names_are_unique_per_tenant(db: Database, admin: Person, other_tenant_admin: Person):
    async with db.transaction() as session:
        await accounts.create_team(session=session, actor=admin.actor, name="Billing")
        await accounts.create_team(session=session, actor=other_tenant_admin.actor, name="Billing")
    with pytest.raises(Conflict):
        async with db.transaction() as session:
            await accounts.create_team(session=session, actor=admin.actor, name=" Billing ")


async def test_revoked_token_no_longer_finds_its_user(db: Database, admin: Person):
    async with db.transaction() as session:
        row, token = await accounts.create_token(session=session, actor=admin.actor, user_id=admin.id, name="ci")
    async with db.read() as session:
        user = await accounts.user_for_token(session=session, token=token)
        assert user is not None and user.id == admin.id
    async with db.transaction() as session:
        await accounts.revoke_token(session=session, actor=admin.actor, token_id=row.id)
    async with db.read() as session:
        assert await accounts.user_for_token(session=session, token=token) is None


async def test_agent_cannot_create_a_token_for_someone_else(db: Database, admin: Person, agent: Person):
    with pytest.raises(PermissionDenied):
        async with db.transaction() as session:
            await accounts.create_token(session=session, actor=agent.actor, user_id=admin.id)


async def test_login_limiter_allows_n_attempts_a_minute_per_address_and_email():
    limiter = accounts.SlidingWindowLimiter(per_minute=3)
    for _ in range(3):
        limiter.check("10.0.0.1", "ada@acme.test")
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.0.1", "ADA@acme.test")
    limiter.check("10.0.0.2", "ada@acme.test")  # another address has its own allowance
    limiter.check("10.0.0.1", "bob@acme.test")  # and so has another account
    limiter.reset("10.0.0.1", "ada@acme.test")
    limiter.check("10.0.0.1", "ada@acme.test")


async def test_conversation_numbers_count_up_per_tenant(db: Database, tenant_id: int, other_tenant_admin: Person):
    async with db.transaction() as session:
        numbers = [await accounts.take_conversation_number(session=session, tenant_id=tenant_id) for _ in range(3)]
        theirs = await accounts.take_conversation_number(session=session, tenant_id=other_tenant_admin.tenant_id)
    assert numbers == [1, 2, 3] and theirs == 1
