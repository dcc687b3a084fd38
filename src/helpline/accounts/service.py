"""Tenants, users, teams, API tokens, passwords and the audit log — the only writers of these tables."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from helpline.accounts.models import ApiToken, AuditEntry, Role, Team, TeamMembership, Tenant, User
from helpline.db import utcnow
from helpline.errors import Conflict, Invalid, NotFound, PermissionDenied, TooManyRequests
from helpline.events import Event, on_commit
from helpline.sqlite_inline import execute_now, inline_connection_flushed

_hasher = PasswordHasher()
LANGUAGES = ("en", "de", "hu")
TOKEN_PREFIX = "hl_"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user of a tenant, or the system acting for a channel."""

    tenant_id: int
    user_id: int | None
    role: Role
    name: str = ""
    team_ids: frozenset[int] = field(default_factory=frozenset)
    language: str = "en"
    time_zone: str = "UTC"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_supervisor(self) -> bool:
        return self.role in (Role.supervisor, Role.admin)

    @classmethod
    def system(cls, tenant_id: int) -> Actor:
        return cls(tenant_id=tenant_id, user_id=None, role=Role.admin, name="Helpline")


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("only an admin may do this")


# --- passwords -------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise Invalid("the password needs at least 8 characters", field="password")
    if len(password) > 1024:
        raise Invalid("the password is too long", field="password")


class SlidingWindowLimiter:
    """At most N attempts a minute per key: slows down password guessing and form spam."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._attempts: dict[tuple[str, str], deque[float]] = {}

    def check(self, address: str, email: str) -> None:
        now = time.monotonic()
        # The same key authenticate() matches on: " Ada@x " must not buy a fresh allowance.
        window = self._attempts.setdefault((address, email.strip().lower()), deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            raise TooManyRequests("too many attempts; wait a minute and try again")
        window.append(now)
        if len(self._attempts) > 100_000:  # bound memory under a spray attack
            self._attempts.clear()

    def reset(self, address: str, email: str) -> None:
        self._attempts.pop((address, email.strip().lower()), None)


# --- tenants ---------------------------------------------------------------------------


async def create_tenant(
    *, session: AsyncSession, slug: str, name: str, default_language: str = "en", time_zone: str = "UTC"
) -> Tenant:
    if default_language not in LANGUAGES:
        raise Invalid(
            "language must be one of %(languages)s", field="default_language", languages=", ".join(LANGUAGES)
        )
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict("a tenant %(slug)r exists already", field="slug", slug=slug)
    tenant = Tenant(slug=slug, name=name, default_language=default_language, time_zone=time_zone)
    session.add(tenant)
    await session.flush()
    return tenant


async def get_tenant(*, session: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


async def update_tenant(
    *,
    session: AsyncSession,
    actor: Actor,
    name: str | None = None,
    default_language: str | None = None,
    time_zone: str | None = None,
) -> Tenant:
    require_admin(actor)
    tenant = await get_tenant(session=session, tenant_id=actor.tenant_id)
    changes: dict[str, str] = {}
    if name is not None:
        if not name.strip():
            raise Invalid("the name must not be empty", field="name")
        tenant.name, changes["name"] = name.strip(), name.strip()
    if default_language is not None:
        if default_language not in LANGUAGES:
            raise Invalid(
                "language must be one of %(languages)s", field="default_language", languages=", ".join(LANGUAGES)
            )
        tenant.default_language, changes["default_language"] = default_language, default_language
    if time_zone is not None:
        validate_time_zone(time_zone)
        tenant.time_zone, changes["time_zone"] = time_zone, time_zone
    audit(session, actor, "tenant.updated", f"tenant:{tenant.id}", changes)
    return tenant


def validate_time_zone(time_zone: str, field_name: str = "time_zone") -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid("unknown time zone %(time_zone)r", field=field_name, time_zone=time_zone) from exc


# --- audit -----------------------------------------------------------------------------


def audit(session: AsyncSession, actor: Actor, action: str, target: str, details: Mapping[str, object]) -> None:
    session.add(
        AuditEntry(
            tenant_id=actor.tenant_id, actor_id=actor.user_id, action=action, target=target, details=dict(details)
        )
    )


async def list_audit(*, session: AsyncSession, actor: Actor, limit: int = 100) -> list[AuditEntry]:
    require_admin(actor)
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == actor.tenant_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return list(rows)


# --- users -----------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    normalised, reason = _validated_email(email.strip())
    if reason is not None:
        raise Invalid("not a valid email address: %(reason)s", field="email", reason=reason)
    return normalised


@lru_cache(maxsize=8192)
def _validated_email(email: str) -> tuple[str, str | None]:
    """Validation is pure and costs ~0.1 ms; intake asks for the same addresses again and again."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized.lower(), None
    except EmailNotValidError as exc:
        return "", str(exc)


async def create_user(
    *,
    session: AsyncSession,
    actor: Actor,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    language: str | None = None,
    team_ids: list[int] | None = None,
) -> User:
    require_admin(actor)
    email = normalise_email(email)
    if await session.scalar(select(User.id).where(User.tenant_id == actor.tenant_id, User.email == email)):
        raise Conflict("a user with the email %(email)s exists already", field="email", email=email)
    if language is not None and language not in LANGUAGES:
        raise Invalid("language must be one of %(languages)s", field="language", languages=", ".join(LANGUAGES))
    if password is not None:
        check_password_strength(password)
    user = User(
        tenant_id=actor.tenant_id,
        email=email,
        name=name.strip() or email.split("@")[0],
        role=role,
        password_hash=hash_password(password) if password else None,
        language=language,
    )
    session.add(user)
    await session.flush()
    for team_id in team_ids or []:
        await _add_member(session, actor, team_id, user.id)
    audit(session, actor, "user.created", f"user:{user.id}", {"email": email, "role": role.value})
    on_commit(session, Event("user.created", actor.tenant_id, {"user_id": user.id}))
    return user


async def get_user(*, session: AsyncSession, actor: Actor, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != actor.tenant_id:
        raise NotFound("user not found", field="user_id")
    return user


async def list_users(*, session: AsyncSession, actor: Actor, include_inactive: bool = False) -> list[User]:
    query = select(User).where(User.tenant_id == actor.tenant_id)
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    return list(await session.scalars(query.order_by(User.name)))


async def update_user(
    *,
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    name: str | None = None,
    role: Role | None = None,
    language: str | None = None,
    time_zone: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    user = await get_user(session=session, actor=actor, user_id=user_id)
    is_self = actor.user_id == user.id
    if not (actor.is_admin or is_self):
        raise PermissionDenied("you may only change your own profile")
    if (role is not None or is_active is not None) and not actor.is_admin:
        raise PermissionDenied("only an admin may change roles or deactivate users")
    changes: dict[str, object] = {}
    if name is not None and name.strip():
        user.name = changes["name"] = name.strip()
    if role is not None and role != user.role:
        if is_self and role != Role.admin:
            raise Invalid("you cannot take away your own admin role", field="role")
        user.role, changes["role"] = role, role.value
    if language is not None:
        if language not in LANGUAGES:
            raise Invalid("language must be one of %(languages)s", field="language", languages=", ".join(LANGUAGES))
        user.language = changes["language"] = language
    if time_zone is not None:
        validate_time_zone(time_zone)
        user.time_zone = changes["time_zone"] = time_zone
    if is_active is not None and is_active != user.is_active:
        if is_self and not is_active:
            raise Invalid("you cannot deactivate yourself", field="is_active")
        user.is_active = changes["is_active"] = is_active
        user.session_epoch += 1
    if password is not None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
        user.session_epoch += 1
        changes["password"] = "changed"
    if changes and actor.is_admin:
        audit(session, actor, "user.updated", f"user:{user.id}", changes)
    on_commit(session, Event("user.updated", actor.tenant_id, {"user_id": user.id}))
    return user


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with this email and password, in whichever tenant has them."""
    email = email.strip().lower()
    users = list(await session.scalars(select(User).where(User.email == email, User.is_active.is_(True))))
    for user in users:
        if verify_password(user.password_hash, password):
            return user
    if not users:
        hash_password(password)  # same cost either way: no user enumeration by timing
    return None


async def actor_for(session: AsyncSession, user: User) -> Actor:
    # One query for the tenant's defaults and the user's teams (one row per team, or one with
    # NULL): every API token and browser session that is not cached yet asks this.
    rows = (
        await session.execute(
            select(Tenant.default_language, Tenant.time_zone, TeamMembership.team_id)
            .select_from(Tenant)
            .outerjoin(TeamMembership, TeamMembership.user_id == user.id)
            .where(Tenant.id == user.tenant_id)
        )
    ).all()
    assert rows, "the user's tenant exists"
    default_language, time_zone = rows[0][0], rows[0][1]
    return Actor(
        tenant_id=user.tenant_id,
        user_id=user.id,
        role=user.role,
        name=user.name,
        team_ids=frozenset(row[2] for row in rows if row[2] is not None),
        language=user.language or default_language,
        time_zone=user.time_zone or time_zone,
    )


# --- teams -----------------------------------------------------------------------------


async def create_team(
    *, session: AsyncSession, actor: Actor, name: str, member_ids: list[int] | None = None
) -> Team:
    require_admin(actor)
    name = name.strip()
    if not name:
        raise Invalid("the team needs a name", field="name")
    if await session.scalar(select(Team.id).where(Team.tenant_id == actor.tenant_id, Team.name == name)):
        raise Conflict("a team named %(name)r exists already", field="name", name=name)
    team = Team(tenant_id=actor.tenant_id, name=name)
    session.add(team)
    await session.flush()
    for user_id in member_ids or []:
        await _add_member(session, actor, team.id, user_id)
    audit(session, actor, "team.created", f"team:{team.id}", {"name": name})
    return team


async def get_team(*, session: AsyncSession, actor: Actor, team_id: int) -> Team:
    team = await session.get(Team, team_id)
    if team is None or team.tenant_id != actor.tenant_id:
        raise NotFound("team not found", field="team_id")
    return team


async def list_teams(*, session: AsyncSession, actor: Actor) -> list[Team]:
    return list(
        await session.scalars(select(Team).where(Team.tenant_id == actor.tenant_id).order_by(Team.name))
    )


async def team_members(*, session: AsyncSession, actor: Actor, team_id: int) -> list[User]:
    await get_team(session=session, actor=actor, team_id=team_id)
    rows = await session.scalars(
        select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id == team_id)
        .order_by(User.name)
    )
    return list(rows)


async def member_counts(*, session: AsyncSession, actor: Actor) -> dict[int, int]:
    rows = await session.execute(
        select(TeamMembership.team_id, func.count())
        .where(TeamMembership.tenant_id == actor.tenant_id)
        .group_by(TeamMembership.team_id)
    )
    return {team_id: count for team_id, count in rows.all()}


async def _add_member(session: AsyncSession, actor: Actor, team_id: int, user_id: int) -> None:
    await get_team(session=session, actor=actor, team_id=team_id)
    await get_user(session=session, actor=actor, user_id=user_id)
    if await session.get(TeamMembership, (team_id, user_id)) is None:
        session.add(TeamMembership(team_id=team_id, user_id=user_id, tenant_id=actor.tenant_id))


async def set_team_members(
    *, session: AsyncSession, actor: Actor, team_id: int, member_ids: list[int]
) -> Team:
    require_admin(actor)
    team = await get_team(session=session, actor=actor, team_id=team_id)
    current = set(
        await session.scalars(select(TeamMembership.user_id).where(TeamMembership.team_id == team_id))
    )
    wanted = set(member_ids)
    for user_id in wanted - current:
        await _add_member(session, actor, team_id, user_id)
    for user_id in current - wanted:
        membership = await session.get(TeamMembership, (team_id, user_id))
        if membership is not None:
            await session.delete(membership)
    audit(session, actor, "team.members_changed", f"team:{team.id}", {"members": sorted(wanted)})
    return team


async def rename_team(*, session: AsyncSession, actor: Actor, team_id: int, name: str) -> Team:
    require_admin(actor)
    team = await get_team(session=session, actor=actor, team_id=team_id)
    if not name.strip():
        raise Invalid("the team needs a name", field="name")
    team.name = name.strip()
    audit(session, actor, "team.renamed", f"team:{team.id}", {"name": team.name})
    return team


# --- API tokens ------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    *, session: AsyncSession, actor: Actor, user_id: int, name: str = ""
) -> tuple[ApiToken, str]:
    """A new API token for a user; the clear token is returned once and never stored."""
    if not (actor.is_admin or actor.user_id == user_id):
        raise PermissionDenied("you may only create tokens for yourself")
    user = await get_user(session=session, actor=actor, user_id=user_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        tenant_id=actor.tenant_id, user_id=user.id, name=name, token_hash=token_hash(token), prefix=token[:10]
    )
    session.add(row)
    await session.flush()
    audit(session, actor, "token.created", f"token:{row.id}", {"user_id": user.id, "name": name})
    return row, token


async def revoke_token(*, session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    row = await session.get(ApiToken, token_id)
    if (
        row is None
        or row.tenant_id != actor.tenant_id
        or not (actor.is_admin or row.user_id == actor.user_id)
    ):
        raise NotFound("token not found", field="token_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(session, actor, "token.revoked", f"token:{row.id}", {"user_id": row.user_id})
    return row


async def list_tokens(*, session: AsyncSession, actor: Actor) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.tenant_id == actor.tenant_id)
    if not actor.is_admin:
        query = query.where(ApiToken.user_id == actor.user_id)
    return list(await session.scalars(query.order_by(ApiToken.id.desc())))


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    # One query: every API call whose token is not cached asks this.
    return await session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None), User.is_active.is_(True))
    )


async def take_conversation_number(*, session: AsyncSession, tenant_id: int) -> int:
    """The tenant's next conversation reference number (the row lock serialises takers)."""
    # A statement on the table, not the mapped class: the ORM's bulk-UPDATE path (evaluating the
    # criteria against the identity map) cost several times the statement itself on every intake.
    connection = await inline_connection_flushed(session)
    if connection is not None:  # the SQLite writer: the prebuilt statement, without ~0.3 ms of SQLAlchemy
        rows = execute_now(connection, _TAKE_NUMBER_SQL, (tenant_id,)).fetchall()
        number = rows[0][0] if rows else None
    else:
        number = (await session.execute(_TAKE_NUMBER, {"tenant_id": tenant_id})).scalar()
    if number is None:
        raise NotFound("tenant not found")
    loaded = session.sync_session.identity_map.get(identity_key(Tenant, tenant_id))
    if loaded is not None:  # what the ORM's synchronisation did: the session sees the new value
        set_committed_value(loaded, "next_conversation_number", int(number))
    return int(number) - 1


_TENANTS: Table = Tenant.__table__  # type: ignore[assignment]
_TAKE_NUMBER_SQL = (
    "UPDATE tenants SET next_conversation_number = next_conversation_number + 1 WHERE id = ?"
    " RETURNING next_conversation_number"
)
_TAKE_NUMBER = (
    update(_TENANTS)
    .where(_TENANTS.c.id == bindparam("tenant_id"))
    .values(next_conversation_number=_TENANTS.c.next_conversation_number + 1)
    .returning(_TENANTS.c.next_conversation_number)
)


LoginRateLimiter = SlidingWindowLimiter


# --- browser sessions --------------------------------------------------------------------------

async def start_session(*, session: AsyncSession, user: User, address: str, user_agent: str) -> str:
    """Record a login; the returned id goes into the signed cookie."""
    from helpline.accounts.models import UserSession

    sid = secrets.token_urlsafe(24)
    session.add(UserSession(sid=sid, tenant_id=user.tenant_id, user_id=user.id, address=address[:64],
                            user_agent=user_agent[:300]))
    return sid


async def session_is_live(*, session: AsyncSession, sid: str, user_id: int) -> bool:
    from helpline.accounts.models import UserSession

    row = await session.get(UserSession, sid)
    return row is not None and row.user_id == user_id and row.revoked_at is None


async def end_session(*, session: AsyncSession, sid: str) -> None:
    from helpline.accounts.models import UserSession

    row = await session.get(UserSession, sid)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
