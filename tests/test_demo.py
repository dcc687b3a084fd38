"""``helpline demo``: the demo tenant loads through the services, once, with believable data."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
from sqlalchemy import func, select

from helpline import migrate
from helpline.accounts import service as accounts
from helpline.accounts.models import Role, Team, TeamMembership, Tenant, User
from helpline.contacts.models import Contact, ContactIdentity, IdentityKind, Organisation
from helpline.conversations.models import Conversation, Direction, Message, Status
from helpline.db import Database
from helpline.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, load_demo

HUNGARIAN = re.compile(r"[őűŐŰ]")  # letters only Hungarian uses (of en/de/hu)
GERMAN = re.compile(r"[äöüßÄÖÜ]")


async def count(db: Database, model: type, tenant_id: int) -> int:
    async with db.read() as session:
        return int(await session.scalar(
            select(func.count()).select_from(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
        ) or 0)


async def test_demo_loads_once_with_realistic_data(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "demo.db")
    migrate.upgrade(url)
    db = Database(url)
    try:
        summary = await load_demo(db, progress=False)
        assert summary.created
        assert summary.admin_email == DEMO_ADMIN_EMAIL
        assert summary.admin_password == DEMO_ADMIN_PASSWORD
        tid = summary.tenant_id

        async with db.read() as session:
            tenants = list(await session.scalars(select(Tenant)))
            users = list(await session.scalars(select(User).where(User.tenant_id == tid)))
            teams = list(await session.scalars(select(Team).where(Team.tenant_id == tid)))
            memberships = list(await session.scalars(
                select(TeamMembership).where(TeamMembership.tenant_id == tid)))
            contacts = list(await session.scalars(select(Contact).where(Contact.tenant_id == tid)))
            identities = list(await session.scalars(
                select(ContactIdentity).where(ContactIdentity.tenant_id == tid)))
            organisations = list(await session.scalars(
                select(Organisation).where(Organisation.tenant_id == tid)))
            convs = list(await session.scalars(select(Conversation).where(Conversation.tenant_id == tid)))
            messages = list(await session.scalars(select(Message).where(Message.tenant_id == tid)))

        assert [(t.slug, t.name, t.default_language, t.time_zone) for t in tenants] == [
            ("demo", "Acme Support", "en", "Europe/Budapest")
        ]
        assert len(users) == 7
        assert Counter(u.role for u in users) == {Role.agent: 5, Role.supervisor: 1, Role.admin: 1}
        assert {u.language for u in users if u.role == Role.agent} == {"en", "de", "hu"}
        assert sorted(t.name for t in teams) == ["Billing", "Technical support"]
        agents = {u.id for u in users if u.role == Role.agent}
        by_team = {t.id: {m.user_id for m in memberships if m.team_id == t.id} & agents for t in teams}
        assert all(by_team.values()) and set.union(*by_team.values()) == agents
        assert not set.intersection(*by_team.values())  # agents are split between the teams

        assert len(contacts) == 200
        assert 25 <= len(organisations) <= 35
        assert sum(c.organisation_id is not None for c in contacts) > 150
        assert {c.language for c in contacts} == {"en", "de", "hu"}
        emails = [i for i in identities if i.kind == IdentityKind.email]
        phones = [i for i in identities if i.kind == IdentityKind.phone]
        assert len({i.contact_id for i in emails}) == 200
        assert 70 <= len(phones) <= 130
        for phone in phones:
            number = phonenumbers.parse(phone.value, None)
            assert phonenumbers.is_valid_number(number) and phone.value.startswith("+")
        assert {p.value[:3] for p in phones} >= {"+36", "+49", "+44"}

        assert len(convs) == 1000
        assert sorted(c.number for c in convs) == list(range(1, 1001))
        assert set(Counter(c.status for c in convs)) == set(Status)
        assert set(Counter(c.channel for c in convs)) == {"webform", "email", "chat", "phone"}
        assert len({c.priority for c in convs}) == 4
        assert any(c.assignee_id is None for c in convs)
        assert sum(c.assignee_id is not None for c in convs) > 800
        assert {c.team_id for c in convs} >= {t.id for t in teams}
        tags = Counter(tag for c in convs for tag in c.tags)
        assert {"billing", "refund", "delivery", "login", "vip"} <= set(tags)
        assert len({c.subject for c in convs}) > 100  # varied, not one template
        assert {c.language for c in convs} == {"en", "de", "hu"}

        per_conversation = Counter(m.conversation_id for m in messages)
        assert len(per_conversation) == 1000
        assert min(per_conversation.values()) >= 1 and max(per_conversation.values()) <= 6
        assert all(c.message_count == per_conversation[c.id] for c in convs)
        directions = Counter(m.direction for m in messages)
        assert directions[Direction.inbound] and directions[Direction.outbound] and directions[Direction.note]
        staff = {u.id for u in users}
        assert all(m.author_user_id in staff for m in messages if m.direction != Direction.inbound)
        # Varied, not one template: short thanks repeat, replies and openings hardly ever do.
        replies = [m.body_text for m in messages if m.direction == Direction.outbound]
        assert len(set(replies)) > 0.9 * len(replies)
        assert len({m.body_text for m in messages}) > 0.7 * len(messages)
        bodies = [m.body_text for m in messages]
        assert any("Rückerstattung" in b for b in bodies)
        assert any(GERMAN.search(b) for b in bodies)
        assert any(HUNGARIAN.search(b) for b in bodies)
        assert any("Köszönöm a gyors választ!" in b for b in bodies)
        assert all("{" not in b and "}" not in b for b in bodies)  # every placeholder was filled
        spread = max(m.created_at for m in messages) - min(m.created_at for m in messages)
        assert spread.days >= 150  # about six months of history
        assert max(m.created_at for m in messages) <= datetime.now(UTC)  # nothing happens in the future

        # Hungarian conversations are answered by someone who speaks Hungarian.
        hu_speakers = {u.id for u in users if u.language == "hu"}
        hu_replies = {m.author_user_id for m in messages if m.direction == Direction.outbound
                      and m.conversation_id in {c.id for c in convs if c.language == "hu"}}
        assert hu_replies and hu_replies <= hu_speakers

        # A second run finds the tenant and writes nothing.
        again = await load_demo(db, progress=False)
        assert not again.created
        assert again.tenant_id == tid
        assert again.counts == summary.counts
        assert summary.counts["conversations"] == 1000 and summary.counts["contacts"] == 200
        for model, expected in ((User, 7), (Team, 2), (Contact, 200), (Conversation, 1000),
                                (Message, len(messages)), (Organisation, len(organisations))):
            assert await count(db, model, tid) == expected
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Tenant)) == 1

        async with db.read() as session:
            admin = await accounts.authenticate(
                session=session, email=DEMO_ADMIN_EMAIL, password=DEMO_ADMIN_PASSWORD)
            assert admin is not None and admin.role == Role.admin and admin.tenant_id == tid
            agent = await accounts.authenticate(
                session=session, email=next(u.email for u in users if u.role == Role.agent),
                password=DEMO_ADMIN_PASSWORD,
            )
            assert agent is not None
            wrong = await accounts.authenticate(session=session, email=DEMO_ADMIN_EMAIL, password="wrong")
            assert wrong is None
    finally:
        await db.dispose()
