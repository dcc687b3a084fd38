"""Routing's tables: what admins configure (skills, queues, rules, reason codes, agent profiles)
and what the engine reports (agent presence and its history, work items, offers).

Times the engine works with are stored as epoch seconds (``Float``): they round-trip exactly into
the engine's clock, and reports subtract them without time-zone arithmetic. Engine ids are these
rows' ids as strings (agent = user id, queue = queue id, item = work item id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, UTCDateTime, utcnow

DEFAULT_CAPACITY = {"voice": 1, "chat": 3, "email": 8}


class RoutingSettings(Base):
    """One row per tenant: the engine's settings and the queue work goes to when no rule matches."""

    __tablename__ = "routing_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    max_missed_offers: Mapped[int] = mapped_column(Integer, default=3)
    away_grace_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    declines_count_as_missed: Mapped[bool] = mapped_column(Boolean, default=False)
    default_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"), default=None)


class Skill(Base):
    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentRoutingProfile(Base):
    """An agent's routing profile: languages and capacity per channel (skills are rows of their own).

    Users without a row route with the defaults (no languages, ``DEFAULT_CAPACITY``).
    """

    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[dict[str, int]] = mapped_column(JSON, default=lambda: dict(DEFAULT_CAPACITY))
    mixing_allowed: Mapped[bool] = mapped_column(Boolean, default=False)


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    __table_args__ = (UniqueConstraint("user_id", "skill_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    proficiency: Mapped[int] = mapped_column(Integer)


class Queue(Base):
    """A queue as admins define it; see ``helpline.routing.config.QueueConfig`` for the rules."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # The team whose supervisors may edit this queue and whose name new conversations take.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), default=None)
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # skill name -> minimum level
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    strategy: Mapped[str] = mapped_column(String(24), default="longest_idle")
    seconds_per_priority_level: Mapped[float] = mapped_column(Float, default=60.0)
    # [{"after_seconds": 30, "lower_levels_by": 1, "drop_languages": false, "drop_skills": []}]
    expansions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sticky_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    overflow_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"), default=None)
    overflow_after_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    overflow_when_full: Mapped[bool] = mapped_column(Boolean, default=False)
    max_size: Mapped[int | None] = mapped_column(Integer, default=None)
    wrap_up_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    offer_timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    push: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReasonCode(Base):
    """Why an agent is not ready: "Lunch", "Training", ... (admin-defined)."""

    __tablename__ = "reason_codes"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(Base):
    """Which queue (and priority) new work goes to; the first active rule that matches wins.

    ``conditions``: ``[{"field": "channel", "op": "is", "value": "email"}, ...]``, all of which
    must hold (``match == "all"``) or any (``"any"``).
    """

    __tablename__ = "routing_rules"
    __table_args__ = (Index("ix_routing_rules_order", "tenant_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120))
    match: Mapped[str] = mapped_column(String(8), default="all")
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    priority: Mapped[str | None] = mapped_column(String(16), default=None)  # sets the conversation's
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AgentPresence(Base):
    """The engine's ``AgentRecord`` as stored, plus the state shown (busy and wrap-up included)."""

    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    chosen_state: Mapped[str] = mapped_column(String(16), default="offline")
    shown_state: Mapped[str] = mapped_column(String(16), default="offline")
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    resume_state: Mapped[str | None] = mapped_column(String(16), default=None)
    state_since: Mapped[float] = mapped_column(Float, default=0.0)
    idle_since: Mapped[float] = mapped_column(Float, default=0.0)
    wrap_up_until: Mapped[float | None] = mapped_column(Float, default=None)
    away_until: Mapped[float | None] = mapped_column(Float, default=None)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0)


class AgentStateChange(Base):
    """Every change of an agent's shown state: occupancy and adherence are computed from these."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (Index("ix_agent_state_changes_user", "tenant_id", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    previous: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    changed_by: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[float] = mapped_column(Float)


class WorkItemStatus:
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    ACTIVE = ("queued", "offered", "assigned")


class WorkItem(Base):
    """One routing of a conversation: written with the conversation, then driven by the engine."""

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_active", "tenant_id", "status"),
        Index("ix_work_items_conversation", "conversation_id", "status"),
        Index("ix_work_items_queue_day", "tenant_id", "queue_id", "arrived_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))  # voice, chat or email (the capacity bucket)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=WorkItemStatus.QUEUED)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    arrived_at: Mapped[float] = mapped_column(Float)
    queue_entered_at: Mapped[float] = mapped_column(Float)
    offered_at: Mapped[float | None] = mapped_column(Float, default=None)
    offer_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    answered_at: Mapped[float | None] = mapped_column(Float, default=None)
    assigned_at: Mapped[float | None] = mapped_column(Float, default=None)
    waited_seconds: Mapped[float | None] = mapped_column(Float, default=None)  # arrival to first answer
    ended_at: Mapped[float | None] = mapped_column(Float, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    last_agent_id: Mapped[int | None] = mapped_column(Integer, default=None)  # for sticky agent
    sticky_until: Mapped[float | None] = mapped_column(Float, default=None)
    declined_by: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Bumped by every write of the engine host; each write is conditional on the version it read,
    # so two hosts that both believe they lead can never both claim (offer) the same item.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferRecord(Base):
    """One offer of a work item to an agent and how it ended."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("work_item_id", "attempt"),
        Index("ix_offers_agent", "tenant_id", "agent_id", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    attempt: Mapped[int] = mapped_column(Integer)
    offered_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")  # accepted, declined, timed_out, retracted
    answered_at: Mapped[float | None] = mapped_column(Float, default=None)
