"""Email intake: raw RFC 5322 bytes → a conversation message (or a suspended mail, or a bounce note).

The one door every inbound email goes through, whether it came over our SMTP listener or from
an IMAP poller. In order:

1. the raw ``.eml`` is stored first (content-addressed), so whatever happens next nothing is lost;
2. ``parse_message`` (never raises) reads what it can;
3. in one transaction (shared with the mails that arrived with it, see "group commit"):
   duplicate? (same Message-ID in this tenant) → nothing new; our own mailbox, spam, a bounce,
   a flooding sender, an auto-reply to our auto-reply → held back or attached as a note; else
   threaded into its conversation or a new one, with its ``email_messages`` row and attachments;
4. commit, and only then answer (the listener's 250, the poller's flag).

Idempotent: a redelivered message (same Message-ID, or the same bytes when it has none) is a
``duplicate`` and writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import Actor
from helpline.channels.email import sending
from helpline.channels.email import service as mailboxes
from helpline.channels.email.models import EmailMessage, Mailbox, SendStatus, SuspendedEmail, SuspendReason
from helpline.channels.email.parsing import ParsedAttachment, ParsedEmail
from helpline.channels.email.preparing import MAX_RFC_ID, Prepared, prepare_now
from helpline.channels.email.workers import MailWorkers
from helpline.config import Settings
from helpline.contacts import service as contacts
from helpline.contacts.models import IdentityKind
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation, Direction, Message
from helpline.db import Database, utcnow
from helpline.errors import Conflict, DomainError
from helpline.sqlite_inline import bind_value, execute_now, inline_connection_flushed, write_new
from helpline.storage import AttachmentStore, StoredFile

log = logging.getLogger(__name__)

CHANNEL = "email"
# Parsing and hashing a big message takes milliseconds; off the event loop, other mail keeps flowing.
THREAD_ABOVE_BYTES = 256 * 1024
# A sender we cannot read at all still gets a conversation (never lose a mail); example.com never delivers.
UNKNOWN_SENDER = "unknown-sender@example.com"
EMPTY_BODY = "(no text)"
RATE_WINDOW = timedelta(hours=1)
MAX_EXTERNAL_ID = 300  # messages.external_id
_TOKEN = re.compile(r"\[#(\d{1,9})\]")
# sending.new_message_id: <{24 hex}.{conversation number}@{mailbox domain}>
_OUR_ID = re.compile(r"^<[0-9a-f]{24}\.(\d{1,9})@([^<>@\s]+)>$", re.IGNORECASE)
_CID_SRC = re.compile(r"""(["'])cid:([^"'\s<>)]+)\1""", re.IGNORECASE)
_DIAGNOSTIC = re.compile(r"^(?:Diagnostic-Code|Status|Action):\s*(.+)$", re.IGNORECASE | re.MULTILINE)


class IntakeServices(Protocol):
    """What intake needs from the app (the ``Runtime`` has all three)."""

    db: Database
    store: AttachmentStore
    settings: Settings
    mail_workers: MailWorkers | None


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # created | threaded | duplicate | suspended | bounce | ignored
    conversation_id: int | None = None
    message_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Delivery:
    """Where a mail goes: a mailbox (which gives the tenant) and the checks to skip."""

    mailbox_id: int | None
    tenant_id: int
    source: str
    envelope_from: str = ""
    skip: frozenset[SuspendReason] = frozenset()
    releasing_id: int | None = None  # an agent's "not spam": this suspended row, not a new one
    mailbox: Mailbox | None = None  # loaded in the intake's transaction


class _StaleTenant(Exception):
    """The remembered tenant of a mailbox id is no longer right (the id was reused)."""


# Mailbox id → tenant id, per database: every mail needs the tenant before its transaction (the
# raw file is stored under it), and a mailbox never moves between tenants.
_TENANTS: weakref.WeakKeyDictionary[Database, dict[int, int]] = weakref.WeakKeyDictionary()


# --- the entry point -----------------------------------------------------------------------


async def ingest(
    services: IntakeServices, raw: bytes, *, mailbox_id: int, envelope_from: str = "", source: str = "smtp"
) -> IntakeResult:
    """Take one received mail for one mailbox; returns after the commit (or writes nothing)."""
    for _attempt in range(2):
        tenant_id = await _tenant_of(services.db, mailbox_id)
        if tenant_id is None:
            log.warning("email for unknown mailbox %s ignored (%s, %d bytes)", mailbox_id, source, len(raw))
            return IntakeResult("ignored", reason="no such mailbox")
        prepared = await prepare(services, raw, tenant_id=tenant_id)
        delivery = Delivery(mailbox_id=mailbox_id, tenant_id=tenant_id, source=source, envelope_from=envelope_from)
        try:
            return await deliver(services, prepared, delivery)
        except _StaleTenant:
            _TENANTS.get(services.db, {}).pop(mailbox_id, None)
    raise RuntimeError(f"mailbox {mailbox_id} keeps changing tenant")


async def _tenant_of(db: Database, mailbox_id: int) -> int | None:
    known = _TENANTS.setdefault(db, {})
    if mailbox_id not in known:
        async with db.read() as session:
            tenant_id = await session.scalar(select(Mailbox.tenant_id).where(Mailbox.id == mailbox_id))
        if tenant_id is None:
            return None
        if len(known) > 10_000:
            known.clear()
        known[mailbox_id] = tenant_id
    return known[mailbox_id]


async def prepare(services: IntakeServices, raw: bytes, *, tenant_id: int) -> Prepared:
    """Store the raw mail, parse it, store its attachments: in a mail worker process when the
    server has them (ADR 0013), else in a thread when the mail is big, else here."""
    store = services.store
    # The raw mail may be bigger than one attachment may be: its own limit is the listener's.
    job = (store.root, store.max_bytes, max(store.max_bytes, services.settings.email_max_bytes), raw, tenant_id)
    workers = services.mail_workers
    if workers is not None:
        prepared = await workers.prepare(*job)
        if prepared is not None:
            return prepared
        return await asyncio.to_thread(prepare_now, *job)  # off the loop: this mail may be what stopped the worker
    if len(raw) > THREAD_ABOVE_BYTES:
        return await asyncio.to_thread(prepare_now, *job)
    return prepare_now(*job)


def _external_id(rfc_message_id: str) -> str:
    if len(rfc_message_id) <= MAX_EXTERNAL_ID:
        return rfc_message_id
    return f"<{hashlib.sha256(rfc_message_id.encode()).hexdigest()}@helpline.invalid>"


async def deliver(services: IntakeServices, prepared: Prepared, delivery: Delivery) -> IntakeResult:
    """Decide and write; returns after the commit. Mail arriving together is committed together."""
    return await _group_commit(services.db).deliver(prepared, delivery)


async def _deliver_alone(db: Database, prepared: Prepared, delivery: Delivery) -> IntakeResult:
    """One mail in its own transaction; a concurrent redelivery loses the race as a duplicate."""
    try:
        async with db.transaction() as session:
            result = await _decide(session, prepared, delivery)
    except (IntegrityError, Conflict):
        # PostgreSQL: the same mail committed by another connection meanwhile (unique keys, or
        # the conversation core's own "received already" check).
        async with db.read() as session:
            if await _is_duplicate(session, delivery.tenant_id, prepared.rfc_message_id, delivery.releasing_id):
                return IntakeResult("duplicate", reason="received already")
        raise
    return result


# --- group commit ----------------------------------------------------------------------------
#
# The mails waiting when the writer comes round are decided in one transaction and committed
# together (ADR 0010): the write lock, BEGIN, the commit and the look-ups every mail needs
# (mailbox, the tenant's own addresses) are paid once per batch instead of once per mail. Each
# caller still returns only after the commit that holds its mail, so the SMTP listener's 250 and
# the IMAP poller's flag keep their meaning. If anything in a batch fails, the whole transaction
# is rolled back and each of its mails is delivered again on its own: only the mail that fails
# alone is refused (451), the others are stored.

MAX_BATCH = 16  # a batch takes a few ms per mail; its senders wait for all of it
GATHER_TURNS = 8  # at most this many turns of the event loop before a batch starts


@dataclass
class _Waiting:
    prepared: Prepared
    delivery: Delivery
    done: asyncio.Future[IntakeResult]


class _GroupCommit:
    """The one writer of received mail for a database, in this process and event loop."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loop = asyncio.get_running_loop()
        self.queue: list[_Waiting] = []
        self.worker: asyncio.Task[None] | None = None

    async def deliver(self, prepared: Prepared, delivery: Delivery) -> IntakeResult:
        waiting = _Waiting(prepared, delivery, self.loop.create_future())
        self.queue.append(waiting)
        if self.worker is None or self.worker.done():
            self.worker = self.loop.create_task(self._work(), name="email-intake-commit")
        # Cancelled (the sender hung up): the mail may still be committed; a retry is a duplicate.
        return await waiting.done

    async def _work(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self.queue:
                await self._gather()
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                await self._commit(batch)
        finally:
            for waiting in (*batch, *self.queue):  # only when cancelled: nobody waits forever
                if not waiting.done.done():
                    waiting.done.cancel()

    async def _gather(self) -> None:
        """Let the event loop run what is ready first: mails other connections have read by now
        are parsed and join the batch. A few turns of the loop and no timer: the wait ends as soon
        as the queue stops growing. Waiting longer for senders still mid-transaction (a time-boxed
        hold) filled every batch but left the CPU idle meanwhile: throughput fell by half."""
        quiet = 0
        for _turn in range(GATHER_TURNS):
            before = len(self.queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self.queue) == before else 0
            if quiet >= 2 or len(self.queue) >= MAX_BATCH:
                return

    async def _commit(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                async with self.db.transaction() as session:
                    results = [await _decide(session, w.prepared, w.delivery) for w in batch]
            except Exception:
                log.info("a batch of %d emails failed; delivering each on its own", len(batch), exc_info=True)
            else:
                for waiting, result in zip(batch, results, strict=True):
                    _log_result(waiting.prepared, waiting.delivery, result)
                    _settle(waiting, result)
                return
        for waiting in batch:
            try:
                result = await _deliver_alone(self.db, waiting.prepared, waiting.delivery)
            except Exception as exc:
                _settle(waiting, exc)
            else:
                _log_result(waiting.prepared, waiting.delivery, result)
                _settle(waiting, result)


def _settle(waiting: _Waiting, outcome: IntakeResult | Exception) -> None:
    if waiting.done.done():  # its caller was cancelled
        return
    if isinstance(outcome, Exception):
        waiting.done.set_exception(outcome)
    else:
        waiting.done.set_result(outcome)


_COMMITTERS: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()


def _group_commit(db: Database) -> _GroupCommit:
    committer = _COMMITTERS.get(db)
    if committer is None or committer.loop is not asyncio.get_running_loop():
        committer = _COMMITTERS[db] = _GroupCommit(db)
    return committer


def _log_result(prepared: Prepared, delivery: Delivery, result: IntakeResult) -> None:
    if result.outcome in ("suspended", "ignored"):
        log.info(
            "email %s from %s %s (%s): %s",
            prepared.rfc_message_id,
            _sender(prepared.parsed, delivery) or "?",
            result.outcome,
            delivery.source,
            result.reason,
        )


# --- deciding --------------------------------------------------------------------------------


async def _decide(session: AsyncSession, prepared: Prepared, delivery: Delivery) -> IntakeResult:
    parsed, tenant_id = prepared.parsed, delivery.tenant_id
    if delivery.mailbox_id is not None:
        mailbox = await _mailbox(session, delivery.mailbox_id)
        if mailbox is not None and mailbox.tenant_id != tenant_id:
            if delivery.releasing_id is None:
                raise _StaleTenant()
            mailbox = None  # a released mail's mailbox is gone and its id now someone else's
        if delivery.releasing_id is None and (mailbox is None or not mailbox.is_active):
            return IntakeResult("ignored", reason="no such mailbox")
        delivery = replace(delivery, mailbox=mailbox)
    if await _is_duplicate(session, tenant_id, prepared.rfc_message_id, delivery.releasing_id):
        return IntakeResult("duplicate", reason="received already")
    sender = _sender(parsed, delivery)
    own = await _own_addresses(session, tenant_id)
    if sender and SuspendReason.own_mailbox not in delivery.skip and sender in own:
        return await _suspend(session, prepared, delivery, SuspendReason.own_mailbox)
    if parsed.is_spam and SuspendReason.spam not in delivery.skip:
        return await _suspend(session, prepared, delivery, SuspendReason.spam)
    if parsed.is_bounce:
        return await _bounce(session, prepared, delivery)
    if sender and await _over_rate_limit(session, delivery, sender):
        return await _suspend(session, prepared, delivery, SuspendReason.rate_limited)
    if (
        parsed.is_auto_submitted
        and SuspendReason.auto_reply_loop not in delivery.skip
        and await _answers_our_auto_reply(session, tenant_id, parsed, own)
    ):
        return await _suspend(session, prepared, delivery, SuspendReason.auto_reply_loop)
    return await _store(session, prepared, delivery, sender, own)


async def _mailbox(session: AsyncSession, mailbox_id: int) -> Mailbox | None:
    """The mailbox, read once per transaction: the session holds its objects weakly, so without
    this every mail of a batch would read it again."""
    known: dict[int, Mailbox | None] = session.info.setdefault(_MAILBOXES, {})
    if mailbox_id not in known:
        known[mailbox_id] = await session.get(Mailbox, mailbox_id)
    return known[mailbox_id]


async def _own_addresses(session: AsyncSession, tenant_id: int) -> frozenset[str]:
    """The tenant's mailbox addresses, read once per transaction (a batch of mail asks for each)."""
    known: dict[int, frozenset[str]] = session.info.setdefault(_OWN_ADDRESSES, {})
    if tenant_id not in known:
        known[tenant_id] = frozenset(await mailboxes.own_addresses(session, tenant_id))
    return known[tenant_id]


_OWN_ADDRESSES = "helpline.email.own_addresses"
_MAILBOXES = "helpline.email.mailboxes"
_DUPLICATE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM email_messages WHERE tenant_id = ? AND rfc_message_id = ?),"
    " EXISTS (SELECT 1 FROM suspended_emails WHERE tenant_id = ? AND rfc_message_id = ? AND id IS NOT ?)"
)


async def _is_duplicate(session: AsyncSession, tenant_id: int, rfc_message_id: str, releasing_id: int | None) -> bool:
    """Stored as a message, or held back, already (one round trip: every mail asks)."""
    connection = await inline_connection_flushed(session)
    if connection is not None:  # the SQLite writer: one prebuilt statement, no ORM query
        row = execute_now(
            connection, _DUPLICATE_SQL, (tenant_id, rfc_message_id, tenant_id, rfc_message_id, releasing_id)
        ).fetchone()
        return bool(row[0] or row[1])
    stored = select(EmailMessage.id).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.rfc_message_id == rfc_message_id
    )
    held = select(SuspendedEmail.id).where(
        SuspendedEmail.tenant_id == tenant_id, SuspendedEmail.rfc_message_id == rfc_message_id
    )
    if releasing_id is not None:
        held = held.where(SuspendedEmail.id != releasing_id)
    found = (await session.execute(select(exists(stored), exists(held)))).one()
    return bool(found[0] or found[1])


def _sender(parsed: ParsedEmail, delivery: Delivery) -> str:
    """The sender's address, lower-cased: From (or Sender), else the envelope's MAIL FROM."""
    for candidate in (parsed.from_.address if parsed.from_ else "", delivery.envelope_from):
        try:
            if candidate and candidate.strip("<>"):
                return contacts.normalise_identity(IdentityKind.email, candidate.strip("<>"))
        except DomainError:
            continue
    return ""


async def _over_rate_limit(session: AsyncSession, delivery: Delivery, sender: str) -> bool:
    if SuspendReason.rate_limited in delivery.skip or delivery.mailbox is None:
        return False
    limit = delivery.mailbox.sender_rate_limit_per_hour
    if limit <= 0:
        return False
    # Needs an index on (tenant_id, from_address, created_at) to stay cheap as mail piles up.
    since = utcnow() - RATE_WINDOW
    connection = await inline_connection_flushed(session)
    if connection is not None:
        row = execute_now(
            connection,
            "SELECT count(*) FROM email_messages WHERE tenant_id = ? AND from_address = ?"
            " AND direction = 'inbound' AND created_at >= ?",
            (delivery.tenant_id, sender, bind_value(session, EmailMessage.__table__.c.created_at, since)),
        ).fetchone()
        return int(row[0]) >= limit
    count = await session.scalar(
        select(func.count(EmailMessage.id)).where(
            EmailMessage.tenant_id == delivery.tenant_id,
            EmailMessage.from_address == sender,
            EmailMessage.direction == "inbound",
            EmailMessage.created_at >= since,
        )
    )
    return int(count or 0) >= limit


async def _answers_our_auto_reply(
    session: AsyncSession, tenant_id: int, parsed: ParsedEmail, own: frozenset[str]
) -> bool:
    """An automatic mail answering one of our acknowledgements (an out-of-office to it): the mail it
    answers (In-Reply-To, else the newest reference) is a stored acknowledgement (see sending)."""
    parent = next(iter(_thread_ids(parsed)), "")
    return await sending.answers_auto_acknowledgement(
        session, tenant_id, parent, our_format=bool(_our_ids([parent], own))
    )


def _our_ids(ids: Iterable[str], own: frozenset[str]) -> list[tuple[str, int]]:
    """The ids among these that Helpline made (sending.new_message_id), with their conversation number."""
    domains = {address.rsplit("@", 1)[-1] for address in own}
    out = []
    for value in ids:
        found = _OUR_ID.match(value)
        if found and found.group(2).lower() in domains:
            out.append((value, int(found.group(1))))
    return out


async def _suspend(
    session: AsyncSession, prepared: Prepared, delivery: Delivery, reason: SuspendReason
) -> IntakeResult:
    """Hold the mail back, whole, for an agent to release or delete."""
    parsed = prepared.parsed
    row = await session.get(SuspendedEmail, delivery.releasing_id) if delivery.releasing_id else None
    if row is None:
        row = SuspendedEmail(
            tenant_id=delivery.tenant_id,
            mailbox_id=delivery.mailbox.id if delivery.mailbox else None,
            reason=reason,
            rfc_message_id=prepared.rfc_message_id,
            from_address=_sender(parsed, delivery)[:254],
            from_name=(parsed.from_.name if parsed.from_ else "")[:200],
            subject=parsed.subject[:1000],
            preview=" ".join(parsed.text.split())[:300],
            raw_key=prepared.raw.key,
            raw_size=prepared.raw.size,
        )
        session.add(row)
    else:
        row.reason = reason  # released, but another check holds it: it stays, with the new reason
    await session.flush()
    return IntakeResult("suspended", reason=reason.value)


# --- bounces ---------------------------------------------------------------------------------


async def _bounce(session: AsyncSession, prepared: Prepared, delivery: Delivery) -> IntakeResult:
    """A delivery report: the outbound mail it reports on failed; the report goes on its conversation."""
    parsed = prepared.parsed
    outbound = None
    if parsed.bounced_message_id:
        outbound = await session.scalar(
            select(EmailMessage).where(
                EmailMessage.tenant_id == delivery.tenant_id,
                EmailMessage.rfc_message_id == parsed.bounced_message_id,
                EmailMessage.direction == "outbound",
            )
        )
    if outbound is None:
        # Nothing of ours bounced (or it cannot be told which): the raw mail stays stored, no note.
        log.info(
            "bounce %s for an unknown message %s: ignored, raw kept at %s",
            prepared.rfc_message_id,
            parsed.bounced_message_id,
            prepared.raw.key,
        )
        return IntakeResult("ignored", reason=f"bounce for an unknown message; raw kept as {prepared.raw.key}")
    reason = _bounce_reason(prepared)
    outbound.send_status = SendStatus.failed
    outbound.send_error = reason
    # The thread shows the reply as not delivered.
    await conversations.set_delivery_status(session, outbound.message_id, SendStatus.failed.value)
    conversation = await _follow_merges(session, delivery.tenant_id, outbound.conversation_id)
    note = await conversations.add_message(
        session=session,
        actor=Actor.system(delivery.tenant_id),
        conversation_id=conversation.id,
        direction=Direction.note,
        message=conversations.NewMessage(
            body_text=_bounce_note(parsed, reason),
            attachments=[stored for _part, stored in prepared.attachments],
            external_id=_external_id(prepared.rfc_message_id),
        ),
    )
    session.add(_email_row(prepared, delivery, note, conversation.id, _sender(parsed, delivery)))
    await _mark_released(session, delivery, conversation.id)
    return IntakeResult("bounce", conversation_id=conversation.id, message_id=note.id, reason=reason)


def _bounce_reason(prepared: Prepared) -> str:
    for part, _stored in prepared.attachments:
        if part.content_type == "message/delivery-status":
            found = dict(
                (m.group(0).split(":", 1)[0].lower(), m.group(1).strip())
                for m in _DIAGNOSTIC.finditer(part.data.decode("utf-8", "replace"))
            )
            for key in ("diagnostic-code", "status", "action"):
                if found.get(key):
                    return found[key][:500]
    first = next((line.strip() for line in prepared.parsed.text.splitlines() if line.strip()), "")
    return first[:500] or "bounced"


def _bounce_note(parsed: ParsedEmail, reason: str) -> str:
    text = parsed.text.strip()[: conversations.MAX_BODY_CHARS - 1000]
    return f"Delivery failed: {reason}\n\n{text}" if text else f"Delivery failed: {reason}"


# --- threading -------------------------------------------------------------------------------


def _thread_ids(parsed: ParsedEmail) -> list[str]:
    """In-Reply-To first, then References from the newest; at most 50 (a header can be long)."""
    ids = [parsed.in_reply_to] if parsed.in_reply_to else []
    ids += [r for r in reversed(parsed.references) if r not in ids]
    return ids[:50]


async def _follow_merges(session: AsyncSession, tenant_id: int, conversation_id: int) -> Conversation:
    actor = Actor.system(tenant_id)
    conversation = await conversations.get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    for _hop in range(10):
        if conversation.merged_into_id is None:
            break
        conversation = await conversations.get_conversation(
            session=session, actor=actor, conversation_id=conversation.merged_into_id
        )
    return conversation


async def _thread_by_headers(session: AsyncSession, tenant_id: int, parsed: ParsedEmail) -> int | None:
    ids = _thread_ids(parsed)
    if not ids:
        return None
    connection = await inline_connection_flushed(session)
    if connection is not None:
        found = dict(
            execute_now(
                connection,
                "SELECT rfc_message_id, conversation_id FROM email_messages WHERE tenant_id = ?"
                f" AND rfc_message_id IN ({', '.join('?' for _ in ids)})",
                (tenant_id, *ids),
            ).fetchall()
        )
        return next((found[i] for i in ids if i in found), None)
    rows = await session.execute(
        select(EmailMessage.rfc_message_id, EmailMessage.conversation_id).where(
            EmailMessage.tenant_id == tenant_id, EmailMessage.rfc_message_id.in_(ids)
        )
    )
    found = {rfc: conversation_id for rfc, conversation_id in rows.all()}
    return next((found[i] for i in ids if i in found), None)


def _referenced_numbers(parsed: ParsedEmail, mailbox: Mailbox | None, own: frozenset[str]) -> list[int]:
    """Conversation numbers the mail names: in a reply to one of our unstored mails (an
    acknowledgement), ``[#123]`` in the subject, ``support+123@…`` as recipient."""
    numbers = [number for _id, number in _our_ids(_thread_ids(parsed), own)]
    numbers += [int(n) for n in _TOKEN.findall(parsed.subject)]
    if mailbox is not None and "@" in mailbox.address:
        local, domain = mailbox.address.lower().split("@", 1)
        for recipient in (*parsed.to, *parsed.cc):
            address = recipient.address.lower()
            if address.endswith("@" + domain):
                left = address.rsplit("@", 1)[0]
                if left.startswith(local + "+") and left[len(local) + 1 :].isdigit():
                    numbers.append(int(left[len(local) + 1 :]))
    return list(dict.fromkeys(numbers))


async def _sender_knows_conversation(session: AsyncSession, conversation: Conversation, sender: str) -> bool:
    """The sender is the conversation's contact (an email identity) or was on one of its emails."""
    identities = (await contacts.identities_of(session, [conversation.contact_id])).get(conversation.contact_id, [])
    if any(i.kind == IdentityKind.email and i.value == sender for i in identities):
        return True
    rows = await session.execute(
        select(EmailMessage.from_address, EmailMessage.to_addresses, EmailMessage.cc_addresses).where(
            EmailMessage.conversation_id == conversation.id
        )
    )
    return any(sender == f or sender in (t or []) or sender in (c or []) for f, t, c in rows.all())


async def _thread_by_number(
    session: AsyncSession, delivery: Delivery, parsed: ParsedEmail, sender: str, own: frozenset[str]
) -> int | None:
    """A reference number finds a conversation only for someone who is part of it.

    Numbers are short and sequential: anyone can write "[#1234]" into a subject. Without this
    check a stranger could add messages to (and read replies of) another customer's case.
    """
    if not sender:
        return None
    for number in _referenced_numbers(parsed, delivery.mailbox, own):
        conversation = await session.scalar(
            select(Conversation).where(Conversation.tenant_id == delivery.tenant_id, Conversation.number == number)
        )
        if conversation is None:
            continue
        conversation = await _follow_merges(session, delivery.tenant_id, conversation.id)
        if await _sender_knows_conversation(session, conversation, sender):
            return conversation.id
    return None


# --- storing ---------------------------------------------------------------------------------


def _new_message(prepared: Prepared, defects: list[str]) -> conversations.NewMessage:
    parsed = prepared.parsed
    text, html = parsed.text, parsed.html
    if len(text) > conversations.MAX_BODY_CHARS:
        text = text[: conversations.MAX_BODY_CHARS]
        defects.append("the text was too long and was cut here; the whole message is in the raw .eml")
    if len(html) > conversations.MAX_BODY_CHARS * 2:
        html = ""
        defects.append("the HTML was too long to show; the text part is shown and the raw .eml has all")
    if not text.strip() and not html.strip() and not prepared.attachments:
        text = EMPTY_BODY
    now = utcnow()
    written = min(parsed.date, now) if parsed.date is not None else None  # a Date in the future is a lie
    return conversations.NewMessage(
        body_text=text,
        body_html=html,
        html_sanitised=True,  # parse_message sanitised it
        attachments=[stored for _part, stored in prepared.attachments],
        external_id=_external_id(prepared.rfc_message_id),
        created_at=written,
    )


async def _store(
    session: AsyncSession, prepared: Prepared, delivery: Delivery, sender: str, own: frozenset[str]
) -> IntakeResult:
    parsed = prepared.parsed
    actor = Actor.system(delivery.tenant_id)
    defects = list(prepared.defects)
    new = _new_message(prepared, defects)
    conversation_id = await _thread_by_headers(session, delivery.tenant_id, parsed)
    if conversation_id is not None:
        conversation_id = (await _follow_merges(session, delivery.tenant_id, conversation_id)).id
    else:
        conversation_id = await _thread_by_number(session, delivery, parsed, sender, own)
    if conversation_id is not None:
        message = await conversations.add_message(
            session=session, actor=actor, conversation_id=conversation_id, direction=Direction.inbound, message=new
        )
        outcome = "threaded"
    else:
        conversation = await conversations.start_conversation(
            session=session,
            actor=actor,
            contact=conversations.ContactDetails(
                email=sender or UNKNOWN_SENDER, name=parsed.from_.name if parsed.from_ else ""
            ),
            channel=CHANNEL,
            subject=parsed.subject[: conversations.MAX_SUBJECT_CHARS],
            message=new,
            recipient=delivery.mailbox.address if delivery.mailbox else None,
            team_id=delivery.mailbox.team_id if delivery.mailbox else None,
        )
        conversation_id = conversation.id
        message = conversations.messages_in_session(session, conversation.id)[-1]
        outcome = "created"
    row = _email_row(replace(prepared, defects=tuple(defects)), delivery, message, conversation_id, sender)
    # Written now (a prebuilt INSERT on SQLite): the next mail of the batch must see it as a duplicate.
    await write_new(session, row)
    await _mark_released(session, delivery, conversation_id)
    await _link_inline_images(session, message, prepared.attachments)
    if outcome == "created" and _acknowledge(prepared, delivery, sender):
        assert delivery.mailbox is not None
        conversation = await conversations.get_conversation(
            session=session, actor=actor, conversation_id=conversation_id
        )
        await session.flush()
        await sending.queue_auto_acknowledgement(
            session, mailbox=delivery.mailbox, conversation=conversation, inbound=row
        )
    return IntakeResult(outcome, conversation_id=conversation_id, message_id=message.id)


async def _mark_released(session: AsyncSession, delivery: Delivery, conversation_id: int) -> None:
    """Remember where a released mail went (the suspended view links to it)."""
    if delivery.releasing_id is not None:
        released = await session.get(SuspendedEmail, delivery.releasing_id)
        if released is not None:
            released.released_conversation_id = conversation_id


def _acknowledge(prepared: Prepared, delivery: Delivery, sender: str) -> bool:
    """Auto-acknowledge only a person's first mail: never automatic mail, lists, bounces, spam."""
    parsed = prepared.parsed
    return (
        delivery.mailbox is not None
        and delivery.mailbox.auto_acknowledge
        and delivery.releasing_id is None  # a released mail arrives late; an agent is on it already
        and bool(sender)
        and not (parsed.is_auto_submitted or parsed.is_bulk or parsed.is_bounce or parsed.is_spam)
    )


def _email_row(
    prepared: Prepared, delivery: Delivery, message: Message, conversation_id: int, sender: str
) -> EmailMessage:
    parsed = prepared.parsed
    return EmailMessage(
        tenant_id=delivery.tenant_id,
        message_id=message.id,
        conversation_id=conversation_id,
        mailbox_id=delivery.mailbox.id if delivery.mailbox else None,
        direction="inbound",
        rfc_message_id=prepared.rfc_message_id,
        in_reply_to=(parsed.in_reply_to or "")[:MAX_RFC_ID],
        references=[r for r in parsed.references if len(r) <= MAX_RFC_ID][-50:],
        from_address=sender[:254],
        from_name=(parsed.from_.name if parsed.from_ else "")[:200],
        to_addresses=_addresses(parsed.to),
        cc_addresses=_addresses(parsed.cc),
        subject=parsed.subject[:1000],
        raw_key=prepared.raw.key,
        raw_size=prepared.raw.size,
        defects=list(prepared.defects),
        has_remote_images=parsed.has_remote_images,
        is_auto_submitted=parsed.is_auto_submitted,
    )


def _addresses(addresses: Iterable[object]) -> list[str]:
    return [str(getattr(a, "address", "")).lower()[:254] for a in addresses][:100]


async def _link_inline_images(
    session: AsyncSession, message: Message, attachments: Sequence[tuple[ParsedAttachment, StoredFile]]
) -> None:
    """``cid:`` in the HTML → the served attachment (its id exists only now, after the insert)."""
    if not message.body_html or "cid:" not in message.body_html.lower():
        return
    await session.flush()
    rows = (await conversations.attachments_of(session, [message.id]))[message.id]
    # The core inserts attachments in the order given, so the n-th row is the n-th kept part.
    pairs = zip(attachments, rows, strict=False)
    by_cid = {part.content_id: row.id for (part, _stored), row in pairs if part.content_id}
    if not by_cid:
        return

    def served(match: re.Match[str]) -> str:
        from urllib.parse import unquote

        attachment_id = by_cid.get(unquote(match.group(2)).strip("<>"))
        return f"{match.group(1)}/attachments/{attachment_id}{match.group(1)}" if attachment_id else match.group(0)

    # The served URL needs the attachment ids the insert produced.
    conversations.rewrite_message_html(message, _CID_SRC.sub(served, message.body_html))
