"""Routing configuration: skills, queues, agents' routing profiles, reason codes, routing rules and
the tenant's routing settings — the only writer of these tables.

Every write is tenant-scoped (another tenant's id is "not found"), audit-logged, and queues a
``routing.config_changed`` event (``{"what": "queue", "id": 7}``) to be published after the commit,
so the engine host reloads what changed. Queues are validated by the routing core itself: the row
as it would be is turned into a ``QueueConfig`` (``loading.queue_config``) and validated against
the tenant's skills and the would-be overflow chains, so the API refuses exactly what the engine
would refuse, naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.models import TeamMembership, User
from helpline.accounts.service import Actor, audit, require_admin
from helpline.conversations.models import Priority
from helpline.errors import Conflict, Invalid, NotFound, PermissionDenied
from helpline.events import Event, on_commit
from helpline.routing import loading
from helpline.routing import models as m
from helpline.routing.config import MAX_PROFICIENCY, MIN_PROFICIENCY, Strategy, check_overflow_chain
from helpline.routing.errors import RoutingConfigError
from helpline.routing.rules import FIELDS, OPERATORS

CONFIG_CHANGED = "routing.config_changed"
CAPACITY_CHANNELS = ("voice", "chat", "email")
MAX_CAPACITY = 100
MAX_LANGUAGES = 20
MAX_CONDITIONS = 20
MAX_EXPANSIONS = 10
DEFAULT_QUEUE_NAME = "General"
# Skill names are keys in queues' requirements and in error fields ("skills.billing"): no dots, no spaces.
SKILL_NAME = re.compile(r"^[^\W_][\w-]{0,63}$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")  # ISO 639-1 (de) or 639-2/3 (gsw)
KEYED_FIELDS = ("contact_field", "organisation_field")
MATCHES = ("all", "any")

QUEUE_DEFAULTS: dict[str, Any] = {
    "team_id": None,
    "skills": {},
    "languages": [],
    "strategy": Strategy.LONGEST_IDLE.value,
    "seconds_per_priority_level": 60.0,
    "expansions": [],
    "sticky_seconds": 0.0,
    "overflow_queue_id": None,
    "overflow_after_seconds": None,
    "overflow_when_full": False,
    "max_size": None,
    "wrap_up_seconds": 0.0,
    "offer_timeout_seconds": 30.0,
    "push": True,
}
QUEUE_FIELDS = ("name", *QUEUE_DEFAULTS)


def _changed(session: AsyncSession, actor: Actor, what: str, id_: int | None) -> None:
    on_commit(session, Event(CONFIG_CHANGED, actor.tenant_id, {"what": what, "id": id_}))


def _clean_name(name: str, field: str = "name", limit: int = 120) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("the name must not be empty", field=field)
    if len(name) > limit:
        raise Invalid("the name is too long (at most %(limit)s characters)", field=field, limit=limit)
    return name


def normalise_languages(languages: Iterable[str], field: str = "languages") -> list[str]:
    """ISO 639 codes, lower-cased, each once, in the order given."""
    result: list[str] = []
    for raw in languages:
        code = str(raw).strip().lower()
        if not code:
            continue
        if not LANGUAGE_CODE.match(code):
            raise Invalid("%(code)r is not an ISO 639 language code (like de or hu)", field=field, code=str(raw))
        if code not in result:
            result.append(code)
    if len(result) > MAX_LANGUAGES:
        raise Invalid("at most %(limit)s languages", field=field, limit=MAX_LANGUAGES)
    return result


def _check_level(level: object, field: str) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
        raise Invalid(
            "the proficiency must be %(low)s to %(high)s, not %(level)s",
            field=field,
            low=MIN_PROFICIENCY,
            high=MAX_PROFICIENCY,
            level=level,
        )
    return level


# --- skills ------------------------------------------------------------------------------------


async def list_skills(*, session: AsyncSession, actor: Actor) -> list[m.Skill]:
    return list(
        await session.scalars(select(m.Skill).where(m.Skill.tenant_id == actor.tenant_id).order_by(m.Skill.name))
    )


async def get_skill(*, session: AsyncSession, actor: Actor, skill_id: int) -> m.Skill:
    skill = await session.get(m.Skill, skill_id)
    if skill is None or skill.tenant_id != actor.tenant_id:
        raise NotFound("skill not found", field="skill_id")
    return skill


def _skill_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not SKILL_NAME.match(name):
        raise Invalid(
            "a skill name is one word of letters, digits, - and _ (at most 64 characters), like billing",
            field="name",
        )
    return name


async def _skill_name_free(session: AsyncSession, actor: Actor, name: str, except_id: int | None = None) -> None:
    query = select(m.Skill.id).where(m.Skill.tenant_id == actor.tenant_id, m.Skill.name == name)
    if except_id is not None:
        query = query.where(m.Skill.id != except_id)
    if await session.scalar(query):
        raise Conflict("a skill named %(name)r exists already", field="name", name=name)


async def create_skill(*, session: AsyncSession, actor: Actor, name: str) -> m.Skill:
    require_admin(actor)
    name = _skill_name(name)
    await _skill_name_free(session, actor, name)
    skill = m.Skill(tenant_id=actor.tenant_id, name=name)
    session.add(skill)
    await session.flush()
    audit(session, actor, "skill.created", f"skill:{skill.id}", {"name": name})
    _changed(session, actor, "skill", skill.id)
    return skill


async def rename_skill(*, session: AsyncSession, actor: Actor, skill_id: int, name: str) -> m.Skill:
    """Renames the skill in the queues that require it too: queues name their skills."""
    require_admin(actor)
    skill = await get_skill(session=session, actor=actor, skill_id=skill_id)
    name = _skill_name(name)
    if name == skill.name:
        return skill
    await _skill_name_free(session, actor, name, except_id=skill.id)
    old = skill.name
    skill.name = name
    for queue in await loading.load_queues(session, actor.tenant_id):
        if old in (queue.skills or {}) or any(old in (e.get("drop_skills") or ()) for e in queue.expansions or ()):
            queue.skills = {(name if k == old else k): v for k, v in (queue.skills or {}).items()}
            queue.expansions = [
                {**e, "drop_skills": [name if s == old else s for s in e.get("drop_skills") or ()]}
                for e in queue.expansions or ()
            ]
            _changed(session, actor, "queue", queue.id)
    audit(session, actor, "skill.renamed", f"skill:{skill.id}", {"from": old, "name": name})
    _changed(session, actor, "skill", skill.id)
    return skill


async def delete_skill(*, session: AsyncSession, actor: Actor, skill_id: int) -> None:
    require_admin(actor)
    skill = await get_skill(session=session, actor=actor, skill_id=skill_id)
    users = [q.name for q in await loading.load_queues(session, actor.tenant_id) if skill.name in (q.skills or {})]
    if users:
        raise Conflict(
            "the skill %(name)r is required by the queue %(queue)r; change the queue first",
            field="skill_id",
            name=skill.name,
            queue=users[0],
        )
    for row in await session.scalars(select(m.AgentSkill).where(m.AgentSkill.skill_id == skill.id)):
        await session.delete(row)
    await session.delete(skill)
    audit(session, actor, "skill.deleted", f"skill:{skill_id}", {"name": skill.name})
    _changed(session, actor, "skill", skill_id)


# --- queues ------------------------------------------------------------------------------------


async def list_queues(*, session: AsyncSession, actor: Actor) -> list[m.Queue]:
    return list(
        await session.scalars(select(m.Queue).where(m.Queue.tenant_id == actor.tenant_id).order_by(m.Queue.name))
    )


async def get_queue(*, session: AsyncSession, actor: Actor, queue_id: int, field: str = "queue_id") -> m.Queue:
    queue = await session.get(m.Queue, queue_id)
    if queue is None or queue.tenant_id != actor.tenant_id:
        raise NotFound("queue not found", field=field)
    return queue


def _seconds(value: object, field: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("must be a number of seconds", field=field)
    if not math.isfinite(value):
        raise Invalid("must be a number of seconds", field=field)
    return float(value)


def _expansions(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple):
        raise Invalid("must be a list", field="expansions")
    if len(raw) > MAX_EXPANSIONS:
        raise Invalid("at most %(limit)s expansion steps", field="expansions", limit=MAX_EXPANSIONS)
    steps: list[dict[str, Any]] = []
    for n, step in enumerate(raw):
        if not isinstance(step, Mapping):
            raise Invalid("must be an object", field=f"expansions[{n}]")
        lower = step.get("lower_levels_by", 0)
        if isinstance(lower, bool) or not isinstance(lower, int):
            raise Invalid("must be a whole number", field=f"expansions[{n}].lower_levels_by")
        drop = step.get("drop_skills") or []
        if not isinstance(drop, list | tuple | set | frozenset):
            raise Invalid("must be a list", field=f"expansions[{n}].drop_skills")
        steps.append(
            {
                "after_seconds": _seconds(step.get("after_seconds"), f"expansions[{n}].after_seconds"),
                "lower_levels_by": lower,
                "drop_languages": bool(step.get("drop_languages", False)),
                "drop_skills": sorted({str(s).strip().lower() for s in drop if str(s).strip()}),
            }
        )
    return steps


def _queue_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised column values (types checked here; what they mean is checked by the core)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in QUEUE_FIELDS:
            raise Invalid("unknown field %(name)r", field=key, name=key)
        if key == "name":
            out[key] = _clean_name(value)
        elif key == "skills":
            if not isinstance(value, Mapping):
                raise Invalid("must be an object of skill names and minimum levels", field="skills")
            skills: dict[str, int] = {}
            for name, level in value.items():
                skill = str(name).strip().lower()
                skills[skill] = _check_level(level, f"skills.{skill}")
            out[key] = skills
        elif key == "languages":
            out[key] = normalise_languages(value or [])
        elif key == "strategy":
            if value not in {s.value for s in Strategy}:
                raise Invalid(
                    "the strategy must be one of %(choices)s",
                    field="strategy",
                    choices=", ".join(s.value for s in Strategy),
                )
            out[key] = str(value)
        elif key == "expansions":
            out[key] = _expansions(value or [])
        elif key in ("seconds_per_priority_level", "sticky_seconds", "wrap_up_seconds", "offer_timeout_seconds"):
            out[key] = _seconds(value, key)
        elif key == "overflow_after_seconds":
            out[key] = _seconds(value, key, optional=True)
        elif key in ("overflow_queue_id", "team_id", "max_size"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise Invalid("must be a whole number", field=key)
            out[key] = value
        elif key in ("overflow_when_full", "push"):
            out[key] = bool(value)
    return out


async def _validate_queue(session: AsyncSession, actor: Actor, candidate: m.Queue, key: str) -> None:
    """Refuse what the engine would refuse: the core validates the queue as it would be."""
    if candidate.team_id is not None:
        await accounts.get_team(session=session, actor=actor, team_id=candidate.team_id)
    others = {loading.queue_key(q.id): q for q in await loading.load_queues(session, actor.tenant_id)}
    others.pop(key, None)
    known = list(await session.scalars(select(m.Skill.name).where(m.Skill.tenant_id == actor.tenant_id)))
    # The common mistakes first, in words a page can translate and with queue names, not ids;
    # the core's own validation below stays the last word.
    for name in candidate.skills or {}:
        if name not in known:
            raise Invalid("the skill %(name)r does not exist", field=f"skills.{name}", name=name)
    target = loading.queue_key(candidate.overflow_queue_id) if candidate.overflow_queue_id else None
    if target is None and (candidate.overflow_after_seconds is not None or candidate.overflow_when_full):
        raise Invalid("an overflow rule needs a queue to overflow to", field="overflow_queue_id")
    if target == key:
        raise Invalid("a queue cannot overflow to itself", field="overflow_queue_id")
    if target is not None and target not in others:
        raise Invalid("the queue to overflow to does not exist", field="overflow_queue_id")
    config = dataclasses.replace(loading.queue_config(candidate), id=key)
    config.validate(known, lambda queue: queue in others)
    overflow = {k: (loading.queue_key(q.overflow_queue_id) if q.overflow_queue_id else None) for k, q in others.items()}
    overflow[key] = config.overflow_queue_id
    try:
        check_overflow_chain(key, overflow.get)
    except RoutingConfigError:
        names = {k: q.name for k, q in others.items()} | {key: candidate.name}
        path, current = [key], overflow[key]
        while current is not None and current not in path:
            path.append(current)
            current = overflow.get(current)
        path.append(current or key)
        raise Invalid(
            "the overflow loops back: %(path)s", field="overflow_queue_id",
            path=" → ".join(names.get(k, k) for k in path),
        ) from None


async def _queue_name_free(session: AsyncSession, actor: Actor, name: str, except_id: int | None = None) -> None:
    query = select(m.Queue.id).where(m.Queue.tenant_id == actor.tenant_id, m.Queue.name == name)
    if except_id is not None:
        query = query.where(m.Queue.id != except_id)
    if await session.scalar(query):
        raise Conflict("a queue named %(name)r exists already", field="name", name=name)


async def create_queue(*, session: AsyncSession, actor: Actor, values: Mapping[str, Any]) -> m.Queue:
    """A new queue from ``values`` (``name`` and any of ``QUEUE_DEFAULTS``' keys)."""
    require_admin(actor)
    if "name" not in values:
        raise Invalid("the name must not be empty", field="name")
    clean = {**QUEUE_DEFAULTS, **_queue_values(values)}
    candidate = m.Queue(tenant_id=actor.tenant_id, **clean)
    await _validate_queue(session, actor, candidate, "new")
    await _queue_name_free(session, actor, clean["name"])
    session.add(candidate)
    await session.flush()
    audit(session, actor, "queue.created", f"queue:{candidate.id}", _jsonable(clean))
    _changed(session, actor, "queue", candidate.id)
    return candidate


async def update_queue(*, session: AsyncSession, actor: Actor, queue_id: int, changes: Mapping[str, Any]) -> m.Queue:
    """Change some of a queue's fields; the queue as it would be is validated before anything changes."""
    require_admin(actor)
    queue = await get_queue(session=session, actor=actor, queue_id=queue_id)
    clean = _queue_values(changes)
    current = {k: getattr(queue, k) for k in QUEUE_FIELDS}
    candidate = m.Queue(id=queue.id, tenant_id=queue.tenant_id, **{**current, **clean})
    await _validate_queue(session, actor, candidate, loading.queue_key(queue.id))
    if "name" in clean:
        await _queue_name_free(session, actor, clean["name"], except_id=queue.id)
    diff = {k: v for k, v in clean.items() if current[k] != v}
    for key, value in diff.items():
        setattr(queue, key, value)
    if diff:
        audit(session, actor, "queue.updated", f"queue:{queue.id}", _jsonable(diff))
        _changed(session, actor, "queue", queue.id)
    return queue


async def delete_queue(*, session: AsyncSession, actor: Actor, queue_id: int) -> None:
    require_admin(actor)
    queue = await get_queue(session=session, actor=actor, queue_id=queue_id)
    active = await session.scalar(
        select(func.count())
        .select_from(m.WorkItem)
        .where(
            m.WorkItem.tenant_id == actor.tenant_id,
            m.WorkItem.queue_id == queue.id,
            m.WorkItem.status.in_(m.WorkItemStatus.ACTIVE),
        )
    )
    if active:
        raise Conflict(
            "the queue has %(count)s work items waiting or in progress; move them first",
            field="queue_id",
            count=int(active),
        )
    feeder = await session.scalar(
        select(m.Queue.name).where(m.Queue.tenant_id == actor.tenant_id, m.Queue.overflow_queue_id == queue.id)
    )
    if feeder is not None:
        raise Conflict("the queue %(name)r overflows to this queue; change it first", field="queue_id", name=feeder)
    rule = await session.scalar(
        select(m.RoutingRule.name).where(m.RoutingRule.tenant_id == actor.tenant_id, m.RoutingRule.queue_id == queue.id)
    )
    if rule is not None:
        raise Conflict(
            "the routing rule %(name)r sends work to this queue; change it first", field="queue_id", name=rule
        )
    settings = await session.get(m.RoutingSettings, actor.tenant_id)
    if settings is not None and settings.default_queue_id == queue.id:
        raise Conflict("this is the default queue; choose another default queue first", field="queue_id")
    await session.delete(queue)
    audit(session, actor, "queue.deleted", f"queue:{queue_id}", {"name": queue.name})
    _changed(session, actor, "queue", queue_id)


async def ensure_default_queue(session: AsyncSession, tenant_id: int) -> m.Queue:
    """The tenant's default queue; a "General" queue (and the settings naming it) if it has no queues."""
    settings = await session.get(m.RoutingSettings, tenant_id)
    if settings is not None and settings.default_queue_id is not None:
        queue = await session.get(m.Queue, settings.default_queue_id)
        if queue is not None:
            return queue
    existing = await session.scalar(select(m.Queue).where(m.Queue.tenant_id == tenant_id).order_by(m.Queue.id).limit(1))
    if existing is not None:
        return existing
    system = Actor.system(tenant_id)
    queue = m.Queue(tenant_id=tenant_id, name=DEFAULT_QUEUE_NAME, **QUEUE_DEFAULTS)
    session.add(queue)
    await session.flush()
    if settings is None:
        settings = m.RoutingSettings(tenant_id=tenant_id)
        session.add(settings)
    settings.default_queue_id = queue.id
    audit(session, system, "queue.created", f"queue:{queue.id}", {"name": queue.name, "default": True})
    _changed(session, system, "queue", queue.id)
    _changed(session, system, "settings", tenant_id)
    return queue


# --- agents' routing profiles --------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRouting:
    """An agent's routing profile as shown and edited: defaults when nothing was stored yet."""

    user_id: int
    name: str
    languages: list[str]
    capacity: dict[str, int]
    mixing_allowed: bool
    skills: dict[str, int]  # skill name -> proficiency 1–5


async def _profile_view(session: AsyncSession, user: User) -> AgentRouting:
    row = await session.get(m.AgentRoutingProfile, user.id)
    skills = await session.execute(
        select(m.Skill.name, m.AgentSkill.proficiency)
        .join(m.Skill, m.Skill.id == m.AgentSkill.skill_id)
        .where(m.AgentSkill.user_id == user.id)
        .order_by(m.Skill.name)
    )
    capacity = {**m.DEFAULT_CAPACITY, **(row.capacity if row is not None and row.capacity else {})}
    return AgentRouting(
        user_id=user.id,
        name=user.name,
        languages=list(row.languages or []) if row is not None else [],
        capacity={k: int(capacity.get(k, 0)) for k in CAPACITY_CHANNELS},
        mixing_allowed=bool(row.mixing_allowed) if row is not None else False,
        skills={name: level for name, level in skills.all()},
    )


async def get_agent_profile(*, session: AsyncSession, actor: Actor, user_id: int) -> AgentRouting:
    user = await accounts.get_user(session=session, actor=actor, user_id=user_id)
    return await _profile_view(session, user)


async def may_edit_profile(*, session: AsyncSession, actor: Actor, user_id: int) -> bool:
    """Admins edit anyone's routing profile; supervisors those of the agents in their teams."""
    if actor.is_admin:
        return True
    if not actor.is_supervisor or not actor.team_ids:
        return False
    shared = await session.scalar(
        select(TeamMembership.team_id)
        .where(TeamMembership.user_id == user_id, TeamMembership.team_id.in_(sorted(actor.team_ids)))
        .limit(1)
    )
    return shared is not None


async def update_agent_profile(
    *,
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    languages: Sequence[str] | None = None,
    capacity: Mapping[str, int] | None = None,
    mixing_allowed: bool | None = None,
    skills: Mapping[str, int] | None = None,
) -> AgentRouting:
    """Set what is given: ``skills`` (name -> proficiency) replaces the agent's skills as a whole."""
    user = await accounts.get_user(session=session, actor=actor, user_id=user_id)
    if not await may_edit_profile(session=session, actor=actor, user_id=user.id):
        raise PermissionDenied("only an admin, or a supervisor of the agent's team, may change routing profiles")
    row = await session.get(m.AgentRoutingProfile, user.id)
    if row is None:
        row = m.AgentRoutingProfile(
            user_id=user.id,
            tenant_id=actor.tenant_id,
            languages=[],
            capacity=dict(m.DEFAULT_CAPACITY),
            mixing_allowed=False,
        )
        session.add(row)
    changes: dict[str, object] = {}
    if languages is not None:
        row.languages = changes["languages"] = normalise_languages(languages)
    if capacity is not None:
        limits = {**m.DEFAULT_CAPACITY, **(row.capacity or {})}
        for channel, limit in capacity.items():
            if channel not in CAPACITY_CHANNELS:
                raise Invalid(
                    "the channels are %(channels)s", field=f"capacity.{channel}", channels=", ".join(CAPACITY_CHANNELS)
                )
            if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_CAPACITY:
                raise Invalid(
                    "the capacity must be a whole number from 0 to %(limit)s",
                    field=f"capacity.{channel}",
                    limit=MAX_CAPACITY,
                )
            limits[channel] = limit
        row.capacity = changes["capacity"] = limits
    if mixing_allowed is not None:
        row.mixing_allowed = changes["mixing_allowed"] = bool(mixing_allowed)
    if skills is not None:
        known = {s.name: s for s in await list_skills(session=session, actor=actor)}
        wanted: dict[int, int] = {}
        for raw_name, level in skills.items():
            name = str(raw_name).strip().lower()
            if name not in known:
                raise Invalid("the skill %(name)r does not exist", field=f"skills.{name}", name=name)
            wanted[known[name].id] = _check_level(level, f"skills.{name}")
        current = {
            a.skill_id: a for a in await session.scalars(select(m.AgentSkill).where(m.AgentSkill.user_id == user.id))
        }
        for skill_id, row_skill in current.items():
            if skill_id not in wanted:
                await session.delete(row_skill)
            else:
                row_skill.proficiency = wanted[skill_id]
        for skill_id, level in wanted.items():
            if skill_id not in current:
                session.add(
                    m.AgentSkill(tenant_id=actor.tenant_id, user_id=user.id, skill_id=skill_id, proficiency=level)
                )
        changes["skills"] = {name.strip().lower(): level for name, level in skills.items()}
    await session.flush()
    if changes:
        audit(session, actor, "agent_profile.updated", f"user:{user.id}", changes)
        _changed(session, actor, "agent", user.id)
    return await _profile_view(session, user)


# --- reason codes ------------------------------------------------------------------------------


async def list_reason_codes(
    *, session: AsyncSession, actor: Actor, include_inactive: bool = True
) -> list[m.ReasonCode]:
    query = select(m.ReasonCode).where(m.ReasonCode.tenant_id == actor.tenant_id)
    if not include_inactive:
        query = query.where(m.ReasonCode.is_active.is_(True))
    return list(await session.scalars(query.order_by(m.ReasonCode.name)))


async def get_reason_code(*, session: AsyncSession, actor: Actor, reason_code_id: int) -> m.ReasonCode:
    row = await session.get(m.ReasonCode, reason_code_id)
    if row is None or row.tenant_id != actor.tenant_id:
        raise NotFound("reason code not found", field="reason_code_id")
    return row


async def _reason_name_free(session: AsyncSession, actor: Actor, name: str, except_id: int | None = None) -> None:
    query = select(m.ReasonCode.id).where(m.ReasonCode.tenant_id == actor.tenant_id, m.ReasonCode.name == name)
    if except_id is not None:
        query = query.where(m.ReasonCode.id != except_id)
    if await session.scalar(query):
        raise Conflict("a reason code named %(name)r exists already", field="name", name=name)


async def create_reason_code(*, session: AsyncSession, actor: Actor, name: str) -> m.ReasonCode:
    require_admin(actor)
    name = _clean_name(name, limit=64)
    await _reason_name_free(session, actor, name)
    row = m.ReasonCode(tenant_id=actor.tenant_id, name=name, is_active=True)
    session.add(row)
    await session.flush()
    audit(session, actor, "reason_code.created", f"reason_code:{row.id}", {"name": name})
    _changed(session, actor, "reason_code", row.id)
    return row


async def update_reason_code(
    *, session: AsyncSession, actor: Actor, reason_code_id: int, name: str | None = None, is_active: bool | None = None
) -> m.ReasonCode:
    """Rename, deactivate or reactivate. Reason codes are never deleted: agents' history names them."""
    require_admin(actor)
    row = await get_reason_code(session=session, actor=actor, reason_code_id=reason_code_id)
    changes: dict[str, object] = {}
    if name is not None:
        name = _clean_name(name, limit=64)
        if name != row.name:
            await _reason_name_free(session, actor, name, except_id=row.id)
            row.name = changes["name"] = name
    if is_active is not None and is_active != row.is_active:
        row.is_active = changes["is_active"] = is_active
    if changes:
        audit(session, actor, "reason_code.updated", f"reason_code:{row.id}", changes)
        _changed(session, actor, "reason_code", row.id)
    return row


# --- routing rules -----------------------------------------------------------------------------


async def list_rules(*, session: AsyncSession, actor: Actor) -> list[m.RoutingRule]:
    return list(
        await session.scalars(
            select(m.RoutingRule)
            .where(m.RoutingRule.tenant_id == actor.tenant_id)
            .order_by(m.RoutingRule.position, m.RoutingRule.id)
        )
    )


async def get_rule(*, session: AsyncSession, actor: Actor, rule_id: int) -> m.RoutingRule:
    rule = await session.get(m.RoutingRule, rule_id)
    if rule is None or rule.tenant_id != actor.tenant_id:
        raise NotFound("routing rule not found", field="rule_id")
    return rule


def validate_conditions(raw: object) -> list[dict[str, Any]]:
    """Conditions as ``rules.condition_holds`` reads them; errors name e.g. ``conditions[0].field``."""
    if not isinstance(raw, list | tuple):
        raise Invalid("must be a list", field="conditions")
    if len(raw) > MAX_CONDITIONS:
        raise Invalid("at most %(limit)s conditions", field="conditions", limit=MAX_CONDITIONS)
    result: list[dict[str, Any]] = []
    for n, condition in enumerate(raw):
        where = f"conditions[{n}]"
        if not isinstance(condition, Mapping):
            raise Invalid("must be an object", field=where)
        name = condition.get("field")
        if name not in FIELDS:
            raise Invalid("the field must be one of %(choices)s", field=f"{where}.field", choices=", ".join(FIELDS))
        op = condition.get("op", "is")
        if op not in OPERATORS:
            raise Invalid("the operator must be one of %(choices)s", field=f"{where}.op", choices=", ".join(OPERATORS))
        value = condition.get("value")
        if op == "in":
            items = value if isinstance(value, list | tuple) else str(value or "").split(",")
            cleaned: str | list[str] = [str(v).strip() for v in items if str(v).strip()]
            if not cleaned:
                raise Invalid("give at least one value", field=f"{where}.value")
        else:
            if isinstance(value, list | tuple | Mapping) or value is None:
                raise Invalid("give one value", field=f"{where}.value")
            cleaned = str(value).strip()
            if not cleaned and op != "is_not":
                raise Invalid("give a value", field=f"{where}.value")
        out: dict[str, Any] = {"field": name, "op": op, "value": cleaned}
        if name in KEYED_FIELDS:
            key = str(condition.get("key") or "").strip()
            if not key:
                raise Invalid("name the custom field to test", field=f"{where}.key")
            out["key"] = key
        result.append(out)
    return result


def _rule_values(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name":
            out[key] = _clean_name(value)
        elif key == "match":
            if value not in MATCHES:
                raise Invalid("match must be all or any", field="match")
            out[key] = value
        elif key == "conditions":
            out[key] = validate_conditions(value or [])
        elif key == "priority":
            if value is not None and value not in {p.value for p in Priority}:
                raise Invalid(
                    "the priority must be one of %(choices)s",
                    field="priority",
                    choices=", ".join(p.value for p in Priority),
                )
            out[key] = value
        elif key == "is_active":
            out[key] = bool(value)
        elif key == "queue_id":
            out[key] = value
        else:
            raise Invalid("unknown field %(name)r", field=key, name=key)
    return out


async def create_rule(*, session: AsyncSession, actor: Actor, values: Mapping[str, Any]) -> m.RoutingRule:
    """A new rule, last in the order: ``name``, ``queue_id``, ``conditions``, ``match``, ``priority``, ``is_active``."""
    require_admin(actor)
    clean = {"match": "all", "conditions": [], "priority": None, "is_active": True, **_rule_values(values)}
    if "name" not in clean:
        raise Invalid("the name must not be empty", field="name")
    if clean.get("queue_id") is None:
        raise Invalid("choose a queue", field="queue_id")
    await get_queue(session=session, actor=actor, queue_id=clean["queue_id"])
    last = await session.scalar(
        select(func.max(m.RoutingRule.position)).where(m.RoutingRule.tenant_id == actor.tenant_id)
    )
    rule = m.RoutingRule(tenant_id=actor.tenant_id, position=(last or 0) + 1, **clean)
    session.add(rule)
    await session.flush()
    audit(session, actor, "routing_rule.created", f"routing_rule:{rule.id}", _jsonable(clean))
    _changed(session, actor, "rule", rule.id)
    return rule


async def update_rule(
    *, session: AsyncSession, actor: Actor, rule_id: int, changes: Mapping[str, Any]
) -> m.RoutingRule:
    require_admin(actor)
    rule = await get_rule(session=session, actor=actor, rule_id=rule_id)
    clean = _rule_values(changes)
    if "queue_id" in clean:
        if clean["queue_id"] is None:
            raise Invalid("choose a queue", field="queue_id")
        await get_queue(session=session, actor=actor, queue_id=clean["queue_id"])
    diff = {k: v for k, v in clean.items() if getattr(rule, k) != v}
    for key, value in diff.items():
        setattr(rule, key, value)
    if diff:
        audit(session, actor, "routing_rule.updated", f"routing_rule:{rule.id}", _jsonable(diff))
        _changed(session, actor, "rule", rule.id)
    return rule


async def delete_rule(*, session: AsyncSession, actor: Actor, rule_id: int) -> None:
    require_admin(actor)
    rule = await get_rule(session=session, actor=actor, rule_id=rule_id)
    await session.delete(rule)
    audit(session, actor, "routing_rule.deleted", f"routing_rule:{rule_id}", {"name": rule.name})
    _changed(session, actor, "rule", rule_id)


async def reorder_rules(*, session: AsyncSession, actor: Actor, rule_ids: Sequence[int]) -> list[m.RoutingRule]:
    """Put the rules in this order; the list names every rule of the tenant once."""
    require_admin(actor)
    rules = {r.id: r for r in await list_rules(session=session, actor=actor)}
    for rule_id in rule_ids:
        if rule_id not in rules:
            raise NotFound("routing rule %(id)s not found", field="rule_ids", id=rule_id)
    if len(set(rule_ids)) != len(rule_ids) or set(rule_ids) != set(rules):
        raise Invalid("name every routing rule exactly once", field="rule_ids")
    for position, rule_id in enumerate(rule_ids, start=1):
        rules[rule_id].position = position
    audit(session, actor, "routing_rule.reordered", "routing_rules", {"order": list(rule_ids)})
    _changed(session, actor, "rule", None)
    return [rules[i] for i in rule_ids]


async def move_rule(*, session: AsyncSession, actor: Actor, rule_id: int, by: int) -> list[m.RoutingRule]:
    """Move a rule up (-1) or down (+1) in the order."""
    order = [r.id for r in await list_rules(session=session, actor=actor)]
    await get_rule(session=session, actor=actor, rule_id=rule_id)
    at = order.index(rule_id)
    to = max(0, min(len(order) - 1, at + by))
    order.insert(to, order.pop(at))
    return await reorder_rules(session=session, actor=actor, rule_ids=order)


# --- settings ----------------------------------------------------------------------------------


async def get_settings(*, session: AsyncSession, actor: Actor) -> m.RoutingSettings:
    """The tenant's routing settings (the defaults, unsaved, when none were stored)."""
    row = await session.get(m.RoutingSettings, actor.tenant_id)
    if row is None:
        return m.RoutingSettings(
            tenant_id=actor.tenant_id,
            max_missed_offers=3,
            away_grace_seconds=60.0,
            declines_count_as_missed=False,
            default_queue_id=None,
        )
    return row


async def update_settings(
    *,
    session: AsyncSession,
    actor: Actor,
    max_missed_offers: int | None = None,
    away_grace_seconds: float | None = None,
    declines_count_as_missed: bool | None = None,
    default_queue_id: int | None = None,
    clear_default_queue: bool = False,
) -> m.RoutingSettings:
    require_admin(actor)
    row = await session.get(m.RoutingSettings, actor.tenant_id)
    if row is None:
        row = m.RoutingSettings(
            tenant_id=actor.tenant_id, max_missed_offers=3, away_grace_seconds=60.0, declines_count_as_missed=False
        )
        session.add(row)
    changes: dict[str, object] = {}
    if max_missed_offers is not None:
        if isinstance(max_missed_offers, bool) or not isinstance(max_missed_offers, int) or max_missed_offers < 1:
            raise Invalid("must be 1 or more", field="max_missed_offers")
        row.max_missed_offers = changes["max_missed_offers"] = max_missed_offers
    if away_grace_seconds is not None:
        seconds = _seconds(away_grace_seconds, "away_grace_seconds")
        if seconds is None or seconds < 0:
            raise Invalid("must be 0 or more", field="away_grace_seconds")
        row.away_grace_seconds = changes["away_grace_seconds"] = seconds
    if declines_count_as_missed is not None:
        row.declines_count_as_missed = changes["declines_count_as_missed"] = bool(declines_count_as_missed)
    if default_queue_id is not None:
        await get_queue(session=session, actor=actor, queue_id=default_queue_id, field="default_queue_id")
        row.default_queue_id = changes["default_queue_id"] = default_queue_id
    elif clear_default_queue:
        row.default_queue_id = changes["default_queue_id"] = None
    await session.flush()
    if changes:
        audit(session, actor, "routing_settings.updated", f"tenant:{actor.tenant_id}", changes)
        _changed(session, actor, "settings", actor.tenant_id)
    return row


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple | set | frozenset) else v) for k, v in values.items()}
