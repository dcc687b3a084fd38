"""Stored rows → the core's configuration and records, and back.

The one place that knows how a ``Queue`` row becomes a ``QueueConfig`` and an ``AgentPresence``
row an ``AgentRecord``: the configuration service validates with it, the engine host loads with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.models import User
from helpline.routing import models as m
from helpline.routing.config import AgentProfile, Capacity, EngineSettings, Expansion, Presence, QueueConfig
from helpline.routing.records import AgentRecord, ItemRecord, ItemStatus, RoutingSnapshot


def queue_key(queue_id: int) -> str:
    return str(queue_id)


def expansion(data: dict[str, Any]) -> Expansion:
    return Expansion(
        after_seconds=float(data.get("after_seconds", 0)),
        lower_levels_by=int(data.get("lower_levels_by", 0)),
        drop_languages=bool(data.get("drop_languages", False)),
        drop_skills=frozenset(data.get("drop_skills") or ()),
    )


def queue_config(queue: m.Queue) -> QueueConfig:
    return QueueConfig(
        id=queue_key(queue.id),
        skills=dict(queue.skills or {}),
        languages=frozenset(queue.languages or ()),
        strategy=queue.strategy,  # type: ignore[arg-type]  # QueueConfig turns it into a Strategy
        seconds_per_priority_level=queue.seconds_per_priority_level,
        expansions=tuple(expansion(e) for e in queue.expansions or ()),
        sticky_seconds=queue.sticky_seconds,
        overflow_queue_id=queue_key(queue.overflow_queue_id) if queue.overflow_queue_id else None,
        overflow_after_seconds=queue.overflow_after_seconds,
        overflow_when_full=queue.overflow_when_full,
        max_size=queue.max_size,
        wrap_up_seconds=queue.wrap_up_seconds,
        offer_timeout_seconds=queue.offer_timeout_seconds,
        push=queue.push,
    )


def agent_profile(
    user_id: int, profile: m.AgentRoutingProfile | None, skills: Iterable[tuple[str, int]]
) -> AgentProfile:
    if profile is None:
        capacity = Capacity(limits=dict(m.DEFAULT_CAPACITY))
        languages: frozenset[str] = frozenset()
    else:
        capacity = Capacity(limits=dict(profile.capacity or {}), mixing_allowed=profile.mixing_allowed)
        languages = frozenset(profile.languages or ())
    return AgentProfile(id=str(user_id), skills=dict(skills), languages=languages, capacity=capacity)


def engine_settings(row: m.RoutingSettings | None) -> EngineSettings:
    if row is None:
        return EngineSettings()
    return EngineSettings(
        max_missed_offers=row.max_missed_offers,
        away_grace_seconds=row.away_grace_seconds,
        declines_count_as_missed=row.declines_count_as_missed,
    )


async def load_settings(session: AsyncSession, tenant_id: int) -> m.RoutingSettings | None:
    return await session.get(m.RoutingSettings, tenant_id)


async def load_queues(session: AsyncSession, tenant_id: int) -> list[m.Queue]:
    return list(
        (await session.scalars(select(m.Queue).where(m.Queue.tenant_id == tenant_id).order_by(m.Queue.id))).all()
    )


async def load_profiles(session: AsyncSession, tenant_id: int) -> dict[int, AgentProfile]:
    """Every active user of the tenant as a routing agent, in joining order (user id)."""
    users = (
        await session.scalars(
            select(User.id).where(User.tenant_id == tenant_id, User.is_active.is_(True)).order_by(User.id)
        )
    ).all()
    rows = {
        p.user_id: p
        for p in (
            await session.scalars(select(m.AgentRoutingProfile).where(m.AgentRoutingProfile.tenant_id == tenant_id))
        ).all()
    }
    skills: dict[int, list[tuple[str, int]]] = {}
    result = await session.execute(
        select(m.AgentSkill.user_id, m.Skill.name, m.AgentSkill.proficiency)
        .join(m.Skill, m.Skill.id == m.AgentSkill.skill_id)
        .where(m.AgentSkill.tenant_id == tenant_id)
    )
    for user_id, name, level in result.all():
        skills.setdefault(user_id, []).append((name, level))
    return {uid: agent_profile(uid, rows.get(uid), skills.get(uid, ())) for uid in users}


def agent_record(profile: AgentProfile, row: m.AgentPresence | None) -> AgentRecord:
    if row is None:
        return AgentRecord(profile=profile)
    return AgentRecord(
        profile=profile,
        chosen_state=Presence(row.chosen_state),
        reason=row.reason,
        resume_state=Presence(row.resume_state) if row.resume_state else None,
        state_since=row.state_since,
        idle_since=row.idle_since,
        wrap_up_until=row.wrap_up_until,
        away_until=row.away_until,
        missed_offers=row.missed_offers,
    )


def _not_after(record: ItemRecord, now: float) -> ItemRecord:
    """Rows written by another process's clock: an item never arrives in the engine's future."""
    if record.arrived_at <= now and record.queue_entered_at <= now:
        return record
    return replace(record, arrived_at=min(record.arrived_at, now), queue_entered_at=min(record.queue_entered_at, now))


def item_record(item: m.WorkItem) -> ItemRecord:
    return ItemRecord(
        id=str(item.id),
        queue_id=queue_key(item.queue_id) if item.queue_id else "",
        channel=item.channel,
        priority=item.priority,
        arrived_at=item.arrived_at,
        queue_entered_at=item.queue_entered_at,
        status=ItemStatus(item.status),
        agent_id=str(item.agent_id) if item.agent_id else None,
        attempts=item.attempts,
        offered_at=item.offered_at,
        offer_expires_at=item.offer_expires_at,
        answered_at=item.answered_at,
        assigned_at=item.assigned_at,
        last_agent_id=str(item.last_agent_id) if item.last_agent_id else None,
        sticky_until=item.sticky_until,
        declined_by=frozenset(str(a) for a in item.declined_by or ()),
    )


async def load_snapshot(session: AsyncSession, tenant_id: int, now: float) -> RoutingSnapshot:
    """Everything the engine needs to carry on where the stored rows left off."""
    queues = await load_queues(session, tenant_id)
    skill_names = (await session.scalars(select(m.Skill.name).where(m.Skill.tenant_id == tenant_id))).all()
    profiles = await load_profiles(session, tenant_id)
    presence = {
        p.user_id: p
        for p in (await session.scalars(select(m.AgentPresence).where(m.AgentPresence.tenant_id == tenant_id))).all()
    }
    items = (
        await session.scalars(
            select(m.WorkItem)
            .where(
                m.WorkItem.tenant_id == tenant_id,
                m.WorkItem.status.in_(m.WorkItemStatus.ACTIVE),
                m.WorkItem.queue_id.is_not(None),
            )
            .order_by(m.WorkItem.id)
        )
    ).all()
    latest = (
        select(func.max(m.OfferRecord.id))
        .where(m.OfferRecord.tenant_id == tenant_id, m.OfferRecord.queue_id.is_not(None))
        .group_by(m.OfferRecord.queue_id)
    )
    result = await session.execute(
        select(m.OfferRecord.queue_id, m.OfferRecord.agent_id).where(m.OfferRecord.id.in_(latest))
    )
    last_offered = {queue_key(queue_id): str(agent_id) for queue_id, agent_id in result.all() if queue_id}
    return RoutingSnapshot(
        taken_at=now,
        skills=tuple(sorted(skill_names)),
        queues=tuple(queue_config(q) for q in queues),
        agents=tuple(agent_record(profile, presence.get(uid)) for uid, profile in profiles.items()),
        items=tuple(
            _not_after(item_record(i), now) for i in items if i.agent_id is None or int(i.agent_id) in profiles
        ),
        last_offered_agent=last_offered,
    )
