"""Which queue new work goes to: ordered routing rules over the facts of a conversation.

Rules are evaluated in ``position`` order; the first active rule whose conditions hold names the
queue (and may set a priority). No rule → the tenant's default queue. No default queue → the work
is not routed (it waits in the unassigned view, as before routing existed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.routing import models as m

# The fields a condition can test, with the operators that make sense for them.
FIELDS = ("channel", "mailbox", "tag", "language", "subject", "priority", "contact_field", "organisation_field")
OPERATORS = ("is", "is_not", "contains", "in")
# What each conversation channel counts against in an agent's capacity.
CAPACITY_CHANNEL = {
    "voice": "voice",
    "chat": "chat",
    "sms": "chat",
    "whatsapp": "chat",
    "messenger": "chat",
    "instagram": "chat",
    "telegram": "chat",
}


def capacity_channel(conversation_channel: str) -> str:
    """Calls are voice, live messaging is chat, everything answered at leisure is email."""
    return CAPACITY_CHANNEL.get(conversation_channel, "email")


@dataclass(frozen=True)
class RoutingFacts:
    """What rules can look at when a conversation arrives."""

    channel: str
    subject: str = ""
    priority: str = "normal"
    language: str | None = None
    mailbox: str | None = None  # the address the customer wrote to (email channel)
    tags: Sequence[str] = ()
    contact_fields: Mapping[str, Any] = field(default_factory=dict)
    organisation_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueChoice:
    queue_id: int
    priority: str | None  # set by the rule, else None (keep the conversation's)
    rule_id: int | None  # None: the default queue


def _values(facts: RoutingFacts, condition: Mapping[str, Any]) -> list[str]:
    name = condition.get("field")
    if name == "tag":
        return [str(t).lower() for t in facts.tags]
    if name == "contact_field":
        value = facts.contact_fields.get(str(condition.get("key", "")))
        return [] if value is None else [str(value).lower()]
    if name == "organisation_field":
        value = facts.organisation_fields.get(str(condition.get("key", "")))
        return [] if value is None else [str(value).lower()]
    value = getattr(facts, str(name), None) if name in FIELDS else None
    return [] if value is None else [str(value).lower()]


def condition_holds(facts: RoutingFacts, condition: Mapping[str, Any]) -> bool:
    op = condition.get("op", "is")
    raw = condition.get("value")
    wanted = [str(v).lower() for v in raw] if isinstance(raw, list) else [str(raw or "").lower()]
    values = _values(facts, condition)
    if op == "is":
        return any(v == wanted[0] for v in values)
    if op == "is_not":
        return all(v != wanted[0] for v in values)
    if op == "contains":
        return any(wanted[0] in v for v in values)
    if op == "in":
        return any(v in wanted for v in values)
    return False


def rule_matches(rule: m.RoutingRule, facts: RoutingFacts) -> bool:
    conditions = rule.conditions or []
    if not conditions:
        return True
    results = (condition_holds(facts, c) for c in conditions)
    return any(results) if rule.match == "any" else all(results)


async def choose_queue(session: AsyncSession, tenant_id: int, facts: RoutingFacts) -> QueueChoice | None:
    rules = (
        await session.scalars(
            select(m.RoutingRule)
            .where(m.RoutingRule.tenant_id == tenant_id, m.RoutingRule.is_active.is_(True))
            .order_by(m.RoutingRule.position, m.RoutingRule.id)
        )
    ).all()
    for rule in rules:
        if rule_matches(rule, facts):
            return QueueChoice(rule.queue_id, rule.priority, rule.id)
    settings = await session.get(m.RoutingSettings, tenant_id)
    if settings is not None and settings.default_queue_id is not None:
        return QueueChoice(settings.default_queue_id, None, None)
    return None
