"""Which queue new work goes to: ordered routing rules over the facts of a conversation.

Rules are evaluated in ``position`` order; the first active rule whose conditions hold names the
queue (and may set a priority). No rule → the tenant's default queue. No default queue → the work
is not routed (it waits in the unassigned view, as before routing existed).
"""

from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from helpline import events
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


@dataclass(frozen=True)
class RuleSnapshot:
    """A routing rule as intake evaluates it, detached from any session (cached per tenant)."""

    id: int
    queue_id: int
    priority: str | None
    match: str
    conditions: list[dict[str, Any]]


def rule_matches(rule: m.RoutingRule | RuleSnapshot, facts: RoutingFacts) -> bool:
    conditions = rule.conditions or []
    if not conditions:
        return True
    results = (condition_holds(facts, c) for c in conditions)
    return any(results) if rule.match == "any" else all(results)


@dataclass(frozen=True)
class TenantRules:
    """What every intake of a tenant reads: its active rules in order and its default queue."""

    rules: tuple[RuleSnapshot, ...]
    default_queue_id: int | None
    expires: float


# Every new conversation used to read the rules and the settings (two queries under the write
# lock). They change rarely; a change queues ``routing.config_changed`` (heard here when it is
# queued, and after the commit from this or, over Redis, any other process). The short lifetime
# bounds what a change no event told us about (another process without Redis, a manual edit) costs.
RULES_CACHE_SECONDS = 5.0
CONFIG_EVENTS = ("routing.config_changed",)
# Per database engine, then per tenant: a new database (a test's, a restored one) starts empty
# even where tenant ids repeat.
_caches: weakref.WeakKeyDictionary[Any, dict[int, TenantRules]] = weakref.WeakKeyDictionary()
_generation = 0


def forget_tenant_rules(tenant_id: int | None = None) -> None:
    """Drop the cached rules of a tenant (all tenants: None); the next intake reads them again."""
    global _generation
    _generation += 1
    for cache in list(_caches.values()):
        if tenant_id is None:
            cache.clear()
        else:
            cache.pop(tenant_id, None)


events.watch(CONFIG_EVENTS, forget_tenant_rules)


async def _load_rules(session: AsyncSession, tenant_id: int) -> TenantRules:
    rows = (
        await session.scalars(
            select(m.RoutingRule)
            .where(m.RoutingRule.tenant_id == tenant_id, m.RoutingRule.is_active.is_(True))
            .order_by(m.RoutingRule.position, m.RoutingRule.id)
        )
    ).all()
    settings = await session.get(m.RoutingSettings, tenant_id)
    return TenantRules(
        rules=tuple(
            RuleSnapshot(r.id, r.queue_id, r.priority, r.match, copy.deepcopy(list(r.conditions or [])))
            for r in rows
        ),
        default_queue_id=settings.default_queue_id if settings is not None else None,
        expires=time.monotonic() + RULES_CACHE_SECONDS,
    )


async def tenant_rules(session: AsyncSession, tenant_id: int) -> TenantRules:
    """The tenant's rules, cached; read fresh while this transaction itself changes the configuration."""
    # Changed in this very transaction: what it sees is not committed yet, so it is not cached.
    changing = bool(events.pending_event_types(session).intersection(CONFIG_EVENTS))
    bind = session.bind
    # A writer of a SQLite commit group is bound to the group's connection: key by its engine.
    engine = bind.engine if isinstance(bind, AsyncConnection) else bind
    if engine is None:  # not bound to one engine: nothing to key a cache by
        return await _load_rules(session, tenant_id)
    cache = _caches.setdefault(engine, {})
    cached = cache.get(tenant_id)
    if cached is not None and not changing and cached.expires > time.monotonic():
        return cached
    generation = _generation
    loaded = await _load_rules(session, tenant_id)
    if not changing and generation == _generation:  # nobody changed them while we read
        cache[tenant_id] = loaded
    return loaded


async def choose_queue(session: AsyncSession, tenant_id: int, facts: RoutingFacts) -> QueueChoice | None:
    routing = await tenant_rules(session, tenant_id)
    for rule in routing.rules:
        if rule_matches(rule, facts):
            return QueueChoice(rule.queue_id, rule.priority, rule.id)
    if routing.default_queue_id is not None:
        return QueueChoice(routing.default_queue_id, None, None)
    return None
