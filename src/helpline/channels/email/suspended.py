"""Suspended email: mail held back from the inbox (spam, loops, floods, our own mailboxes).

Agents of the tenant see it, newest first, and decide: **release** runs the stored raw mail
through the normal intake again, without the check that held it back (it becomes a
conversation, or joins its thread); **delete** removes it and its stored files for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import Actor
from helpline.channels.email.intake import Delivery, IntakeResult, IntakeServices, deliver, prepare
from helpline.channels.email.models import EmailMessage, SuspendedEmail
from helpline.channels.email.parsing import parse_message
from helpline.conversations.models import Attachment
from helpline.errors import Conflict, NotFound, PermissionDenied

MAX_LIST = 200


def _require_user(actor: Actor) -> None:
    # Any agent of the tenant may sort spam; the system actor (no user) is not an agent.
    if actor.user_id is None:
        raise PermissionDenied("only agents may handle suspended email")


async def list_suspended(
    *, session: AsyncSession, actor: Actor, limit: int = 100, include_released: bool = False
) -> list[SuspendedEmail]:
    """The tenant's held-back mail, newest first (released mail only when asked for)."""
    _require_user(actor)
    query = select(SuspendedEmail).where(SuspendedEmail.tenant_id == actor.tenant_id)
    if not include_released:
        query = query.where(SuspendedEmail.released_conversation_id.is_(None))
    query = query.order_by(SuspendedEmail.received_at.desc(), SuspendedEmail.id.desc())
    return list(await session.scalars(query.limit(max(1, min(limit, MAX_LIST)))))


async def count_suspended(*, session: AsyncSession, actor: Actor) -> int:
    """How many wait for a decision (the navigation shows it)."""
    return int(
        await session.scalar(
            select(func.count(SuspendedEmail.id)).where(
                SuspendedEmail.tenant_id == actor.tenant_id, SuspendedEmail.released_conversation_id.is_(None)
            )
        )
        or 0
    )


async def get_suspended(*, session: AsyncSession, actor: Actor, suspended_id: int) -> SuspendedEmail:
    _require_user(actor)
    row = await session.get(SuspendedEmail, suspended_id)
    if row is None or row.tenant_id != actor.tenant_id:
        raise NotFound("suspended email not found", field="suspended_id")
    return row


async def release(services: IntakeServices, *, actor: Actor, suspended_id: int) -> IntakeResult:
    """Into the inbox after all: the normal intake, minus the check that held it back."""
    async with services.db.read() as session:
        row = await get_suspended(session=session, actor=actor, suspended_id=suspended_id)
        if row.released_conversation_id is not None:
            raise Conflict("this email was released already", field="suspended_id")
    try:
        raw = await asyncio.to_thread(services.store.path(row.raw_key).read_bytes)
    except OSError as exc:
        raise NotFound("the stored message is missing", field="suspended_id") from exc
    prepared = await prepare(services, raw, tenant_id=row.tenant_id)
    delivery = Delivery(
        mailbox_id=row.mailbox_id,
        tenant_id=row.tenant_id,
        source="release",
        envelope_from=row.from_address,
        skip=frozenset({row.reason}),
        releasing_id=row.id,
    )
    return await deliver(services, prepared, delivery)


async def delete(services: IntakeServices, *, actor: Actor, suspended_id: int) -> None:
    """Gone for good: the row, the raw mail and its attachments (unless something else uses them)."""
    async with services.db.transaction() as session:
        row = await get_suspended(session=session, actor=actor, suspended_id=suspended_id)
        tenant_id, raw_key = row.tenant_id, row.raw_key
        await session.delete(row)
    async with services.db.read() as session:
        await _forget_files(services, session, tenant_id, raw_key)


async def _forget_files(services: IntakeServices, session: AsyncSession, tenant_id: int, raw_key: str) -> None:
    """Remove the stored files of a deleted mail that no message or other suspended mail uses."""
    path = services.store.path(raw_key)
    try:
        raw = await asyncio.to_thread(path.read_bytes)
    except OSError:
        return
    keys = [raw_key]
    for part in parse_message(raw).attachments:
        # The store's content address (storage.py): tenant / first two hex digits / sha256.
        sha = hashlib.sha256(part.data).hexdigest()
        keys.append(f"{tenant_id}/{sha[:2]}/{sha}")
    for key in dict.fromkeys(keys):
        if await _in_use(session, key):
            continue
        with contextlib.suppress(OSError, ValueError):
            services.store.path(key).unlink(missing_ok=True)


async def _in_use(session: AsyncSession, key: str) -> bool:
    for query in (
        select(EmailMessage.id).where(EmailMessage.raw_key == key),
        select(SuspendedEmail.id).where(SuspendedEmail.raw_key == key),
        select(Attachment.id).where(Attachment.storage_key == key),
    ):
        if await session.scalar(query.limit(1)):
            return True
    return False
