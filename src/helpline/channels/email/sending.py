"""Outbound email: agents' replies, forwards and auto-acknowledgements, sent through the outbox.

A reply on an email (or web-form) conversation is stored by ``conversations.service``, which hands
it to :func:`queue_reply` in the same transaction: we write the email side (an ``EmailMessage`` row,
``send_status=queued``) and enqueue an ``email.send`` job. The job composes the MIME message and
hands it to the mailbox's SMTP relay with aiosmtplib; a 5xx fails it for good, anything else is
retried with the sweeper's back-off. Header values are only ever built from cleaned strings
(``clean_line``, validated addresses, ``<id>`` tokens), so no CR/LF can reach a header.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.models import User
from helpline.accounts.service import Actor
from helpline.channels.email import service as mailboxes
from helpline.channels.email.models import EmailKind, EmailMessage, Mailbox, Security, SendStatus
from helpline.channels.email.parsing import clean_line
from helpline.channels.outbound import outbound_adapter
from helpline.config import Settings
from helpline.contacts.models import Contact, ContactIdentity, IdentityKind
from helpline.conversations import service as conversations
from helpline.conversations.models import Attachment, Conversation, Direction, Message
from helpline.db import utcnow
from helpline.errors import Invalid
from helpline.jobs import JobContext, PermanentJobError, enqueue, job_handler
from helpline.web.i18n import LANGUAGES, gettext_for

log = logging.getLogger(__name__)

SEND_JOB = "email.send"
MAX_RECIPIENTS = 50
MAX_REFERENCES = 20
MAX_NOTE_CHARS = 10_000
SMTP_TIMEOUT = 30.0
_MSGID = re.compile(r"<[^<>\s\"\\]{1,490}>")
_PREFIX = re.compile(r"^\s*((re|aw|wg|fwd?|vá|továbbítás)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TOKEN = re.compile(r"\s*\[#\d+\]")


# --- addresses, subjects, ids: every value that goes into a header passes through here -----------


def clean_address(value: str, field: str) -> str:
    """One validated, normalised address, or a clear ``Invalid`` naming the field."""
    raw = value or ""
    if "\r" in raw or "\n" in raw:
        raise Invalid("an address must not contain line breaks", field=field)
    raw = raw.strip()
    try:
        address = validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Invalid(
            "%(address)s is not a valid email address", field=field, address=clean_line(raw, 80)
        ) from exc
    return address.lower()


def clean_addresses(values: Iterable[str], field: str) -> list[str]:
    """Validated addresses without duplicates; at most ``MAX_RECIPIENTS``."""
    out: list[str] = []
    for value in values:
        if not (value or "").strip():
            continue
        address = clean_address(value, field)
        if address not in out:
            out.append(address)
        if len(out) > MAX_RECIPIENTS:
            raise Invalid("at most %(limit)s addresses", field=field, limit=MAX_RECIPIENTS)
    return out


def split_addresses(text: str) -> list[str]:
    """Addresses typed into one form field, separated by commas or semicolons."""
    return [part for part in re.split(r"[,;]", text or "") if part.strip()]


def _strip_subject(subject: str) -> str:
    base = _PREFIX.sub("", clean_line(subject or "", 900))
    return _TOKEN.sub("", base).strip()


def reply_subject(subject: str, number: int, prefix: str = "Re") -> str:
    """``Re: <subject> [#<number>]``, never ``Re: Re:`` and never the token twice."""
    base = _strip_subject(subject)
    return f"{prefix}: {base} [#{number}]" if base else f"{prefix}: [#{number}]"


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1] or "localhost"


def new_message_id(number: int, mailbox_address: str) -> str:
    """``<{random}.{number}@{domain}>``: the threading contract (intake recognises the number)."""
    return f"<{secrets.token_hex(12)}.{number}@{_domain(mailbox_address)}>"


def _msgids(values: Iterable[str]) -> list[str]:
    """Only well-formed ``<id>`` tokens: anything else from a stored header is dropped."""
    out: list[str] = []
    for value in values:
        for found in _MSGID.findall(value or ""):
            if found not in out:
                out.append(found)
    return out


def _references(values: list[str]) -> list[str]:
    # RFC 5322 practice: keep the first (the thread's root) and the most recent ones.
    return values if len(values) <= MAX_REFERENCES else [values[0], *values[-(MAX_REFERENCES - 1) :]]


def _base_address(address: str) -> str:
    local, _, domain = address.lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


# --- picking the mailbox, the customer's address and the thread ---------------------------------


async def mailbox_for_conversation(session: AsyncSession, conversation: Conversation) -> Mailbox:
    """The mailbox a reply goes out from (see docs: last inbound, recipient, team, first active)."""
    tenant = conversation.tenant_id
    last_mailbox_id = await session.scalar(
        select(EmailMessage.mailbox_id)
        .where(
            EmailMessage.conversation_id == conversation.id,
            EmailMessage.direction == "inbound",
            EmailMessage.mailbox_id.is_not(None),
        )
        .order_by(EmailMessage.id.desc())
        .limit(1)
    )
    candidates = []
    if last_mailbox_id is not None:
        candidates.append(select(Mailbox).where(Mailbox.id == last_mailbox_id))
    if conversation.recipient:
        written_to = await mailboxes.mailbox_for_address(session, conversation.recipient)
        if written_to is not None:
            candidates.append(select(Mailbox).where(Mailbox.id == written_to.id))
    if conversation.team_id is not None:
        candidates.append(select(Mailbox).where(Mailbox.team_id == conversation.team_id))
    candidates.append(select(Mailbox))
    for query in candidates:
        mailbox = await session.scalar(
            query.where(Mailbox.tenant_id == tenant, Mailbox.is_active.is_(True)).order_by(Mailbox.id).limit(1)
        )
        if mailbox is not None:
            return mailbox
    raise Invalid("no mailbox is set up to send email from", field="mailbox")


async def _last_email(session: AsyncSession, conversation_id: int) -> EmailMessage | None:
    """The email a reply continues; an acknowledgement is skipped (the reply answers the customer's mail)."""
    return await session.scalar(
        select(EmailMessage)
        .where(EmailMessage.conversation_id == conversation_id, EmailMessage.kind != EmailKind.auto_ack)
        .order_by(EmailMessage.id.desc())
        .limit(1)
    )


async def customer_address(session: AsyncSession, conversation: Conversation) -> tuple[str, str]:
    """The contact's address (the one they last wrote from, if still theirs) and their name."""
    contact = await session.get(Contact, conversation.contact_id)
    emails = list(
        await session.scalars(
            select(ContactIdentity.value)
            .where(
                ContactIdentity.contact_id == conversation.contact_id,
                ContactIdentity.kind == IdentityKind.email,
            )
            .order_by(ContactIdentity.id)
        )
    )
    if not emails:
        raise Invalid("the contact has no email address to reply to", field="contact")
    last_from = await session.scalar(
        select(EmailMessage.from_address)
        .where(EmailMessage.conversation_id == conversation.id, EmailMessage.direction == "inbound")
        .order_by(EmailMessage.id.desc())
        .limit(1)
    )
    chosen = last_from.lower() if last_from and last_from.lower() in emails else emails[0]
    return clean_address(chosen, "contact"), clean_line(contact.name if contact else "", 200)


@dataclass(frozen=True)
class Thread:
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    subject: str = ""


async def thread_of(session: AsyncSession, conversation: Conversation) -> Thread:
    """In-Reply-To / References continuing the conversation's last email."""
    last = await _last_email(session, conversation.id)
    if last is None:
        return Thread()
    own = _msgids([last.rfc_message_id])
    refs = _references(_msgids([*(last.references or []), *own]))
    return Thread(in_reply_to=own[0] if own else "", references=refs, subject=last.subject)


# --- the outbound adapter: an agent's reply ------------------------------------------------------


@outbound_adapter("email", "webform")
async def queue_reply(
    session: AsyncSession, conversation: Conversation, message: Message, new: conversations.NewMessage
) -> None:
    """Record the email side of an agent's reply and queue its delivery, in the reply's transaction."""
    if new.created_at is not None:
        # A message handed over with its own time is history being recorded (the demo, imports),
        # not a reply to send now.
        return
    cc = clean_addresses(new.recipients.cc, "cc")
    bcc = clean_addresses(new.recipients.bcc, "bcc")
    if conversation.channel == "webform" and not await _has_any_mailbox(session, conversation.tenant_id):
        # A tenant that has not set up email keeps web-form replies in Helpline, as before email existed.
        return
    mailbox = await mailbox_for_conversation(session, conversation)
    to, _name = await customer_address(session, conversation)
    thread = await thread_of(session, conversation)
    row = EmailMessage(
        tenant_id=conversation.tenant_id,
        message_id=message.id,
        conversation_id=conversation.id,
        mailbox_id=mailbox.id,
        direction="outbound",
        rfc_message_id=new_message_id(conversation.number, mailbox.address),
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        from_address=mailbox.address,
        from_name=clean_line(mailbox.display_name, 200),
        to_addresses=[to],
        cc_addresses=[a for a in cc if a != to],
        bcc_addresses=[a for a in bcc if a != to and a not in cc],
        subject=reply_subject(conversation.subject or thread.subject, conversation.number),
        send_status=SendStatus.queued,
    )
    session.add(row)
    await session.flush()
    await conversations.set_delivery_status(session, message.id, SendStatus.queued.value)
    enqueue(session, SEND_JOB, {"email_message_id": row.id}, tenant_id=conversation.tenant_id)


async def _has_any_mailbox(session: AsyncSession, tenant_id: int) -> bool:
    found = await session.scalar(select(Mailbox.id).where(Mailbox.tenant_id == tenant_id).limit(1))
    return found is not None


# --- auto-acknowledgement -----------------------------------------------------------------------


async def is_own_address(session: AsyncSession, address: str) -> bool:
    """One of the mailboxes served here (any tenant): answering it would start a loop."""
    found = await session.scalar(
        select(Mailbox.id).where(func.lower(Mailbox.address) == _base_address(address)).limit(1)
    )
    return found is not None


async def queue_auto_acknowledgement(
    session: AsyncSession, *, mailbox: Mailbox, conversation: Conversation, inbound: EmailMessage
) -> EmailMessage | None:
    """Record and queue the mailbox's auto-acknowledgement of a new conversation, in the intake's transaction.

    The caller has already decided it is due (mailbox setting on, the mail is not automatic,
    bulk, a bounce or spam). Never sent to one of our own mailboxes. It is a message of the
    conversation (shown as automatic, never an agent's first response) with an outbound
    ``email_messages`` row (``kind=auto_ack``), so it is sent, retried and audited like a reply
    and intake knows an answer to it by its Message-ID.
    """
    try:
        to = clean_address(inbound.from_address, "from")
    except Invalid:
        log.info("no auto-acknowledgement for conversation %s: no valid sender", conversation.id)
        return None
    if await is_own_address(session, to):
        return None
    contact = await session.get(Contact, conversation.contact_id)
    language = contact.language if contact is not None and contact.language in LANGUAGES else None
    language = language or (mailbox.default_language if mailbox.default_language in LANGUAGES else "en")
    message = await conversations.record_automatic_message(
        session=session,
        conversation=conversation,
        message=conversations.NewMessage(body_text=acknowledgement_text(language, conversation.number)),
    )
    own_id = _msgids([inbound.rfc_message_id])
    row = EmailMessage(
        tenant_id=conversation.tenant_id,
        message_id=message.id,
        conversation_id=conversation.id,
        mailbox_id=mailbox.id,
        direction="outbound",
        kind=EmailKind.auto_ack,
        rfc_message_id=new_message_id(conversation.number, mailbox.address),
        in_reply_to=own_id[0] if own_id else "",
        references=_references(_msgids([*(inbound.references or []), *own_id])),
        from_address=mailbox.address,
        from_name=clean_line(mailbox.display_name, 200),
        to_addresses=[to],
        subject=reply_subject(inbound.subject or conversation.subject, conversation.number),
        is_auto_submitted=True,
        send_status=SendStatus.queued,
    )
    session.add(row)
    await session.flush()
    await conversations.set_delivery_status(session, message.id, SendStatus.queued.value)
    enqueue(session, SEND_JOB, {"email_message_id": row.id, "language": language}, tenant_id=conversation.tenant_id)
    return row


async def answers_auto_acknowledgement(session: AsyncSession, tenant_id: int, parent: str, *, our_format: bool) -> bool:
    """Whether the mail a message answers (``parent``: its In-Reply-To) is one of our acknowledgements.

    Found by the stored Message-ID. ``our_format``: the id looks like ours (``new_message_id``);
    such an id that no stored email has is an acknowledgement from before they were stored.
    """
    if not parent:
        return False
    kind = await session.scalar(
        select(EmailMessage.kind).where(EmailMessage.tenant_id == tenant_id, EmailMessage.rfc_message_id == parent)
    )
    return kind == EmailKind.auto_ack or (kind is None and our_format)


def acknowledgement_text(language: str, number: int) -> str:
    _ = gettext_for(language).gettext
    return "\n\n".join(
        [
            _("Hello,"),
            _("We have received your message and will get back to you as soon as we can."),
            _(
                "Your reference number is [#%(number)s]. "
                "Please keep it in the subject when you write to us about this request."
            )
            % {"number": number},
            _("This is an automatic reply."),
        ]
    )


# --- forwarding ------------------------------------------------------------------------------------


async def forward_conversation(
    session: AsyncSession, actor: Actor, conversation_id: int, to: list[str], note: str
) -> Message:
    """Email the conversation's transcript and attachments to a third party; noted on the conversation."""
    conversation = await conversations.get_conversation(
        session=session, actor=actor, conversation_id=conversation_id
    )
    recipients = clean_addresses(to, "to")
    if not recipients:
        raise Invalid("give at least one address to forward to", field="to")
    note = (note or "").replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise Invalid("the note is longer than %(limit)s characters", field="note", limit=MAX_NOTE_CHARS)
    mailbox = await mailbox_for_conversation(session, conversation)
    _ = gettext_for(actor.language).gettext
    text = _("Forwarded to %(addresses)s") % {"addresses": ", ".join(recipients)}
    recorded = await conversations.add_message(
        session=session,
        actor=actor,
        conversation_id=conversation.id,
        direction=Direction.note,
        message=conversations.NewMessage(body_text=f"{text}\n\n{note}" if note else text),
    )
    row = EmailMessage(
        tenant_id=conversation.tenant_id,
        message_id=recorded.id,
        conversation_id=recorded.conversation_id,
        mailbox_id=mailbox.id,
        direction="outbound",
        kind=EmailKind.forward,
        rfc_message_id=new_message_id(conversation.number, mailbox.address),
        from_address=mailbox.address,
        from_name=clean_line(mailbox.display_name, 200),
        to_addresses=recipients,
        subject=reply_subject(conversation.subject, conversation.number, prefix="Fwd"),
        send_status=SendStatus.queued,
    )
    session.add(row)
    await session.flush()
    await conversations.set_delivery_status(session, recorded.id, SendStatus.queued.value)
    payload = {"email_message_id": row.id, "forward_note": note, "language": actor.language}
    enqueue(session, SEND_JOB, payload, tenant_id=conversation.tenant_id)
    return recorded


async def _transcript(
    session: AsyncSession, conversation: Conversation, before_message_id: int, language: str
) -> tuple[str, list[Attachment]]:
    """The conversation's messages (never internal notes) up to the forward, and their files."""
    _ = gettext_for(language).gettext
    messages = list(
        await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction != Direction.note,
                Message.id < before_message_id,
                Message.id.not_in(
                    select(EmailMessage.message_id).where(
                        EmailMessage.conversation_id == conversation.id, EmailMessage.kind == EmailKind.auto_ack
                    )
                ),
            )
            .order_by(Message.created_at, Message.id)
        )
    )
    contact = await session.get(Contact, conversation.contact_id)
    files = await conversations.attachments_of(session, [m.id for m in messages])
    authors = {
        u.id: u.name
        for u in await session.scalars(
            select(User).where(User.id.in_({m.author_user_id for m in messages if m.author_user_id}))
        )
    }
    title = _("Conversation #%(number)s: %(subject)s")
    parts = [title % {"number": conversation.number, "subject": conversation.subject}]
    attachments: list[Attachment] = []
    for message in messages:
        if message.direction == Direction.inbound:
            who = (contact.name if contact else "") or _("Customer")
        else:
            who = authors.get(message.author_user_id or 0) or "Helpline"
        when = format_datetime(message.created_at)
        parts.append(f"---------- {who} · {when} ----------\n{message.body_text.strip()}")
        attachments.extend(files[message.id])
    return "\n\n".join(parts), attachments


# --- composing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """Everything one email needs, already cleaned; ``compose`` turns it into MIME."""

    from_name: str
    from_address: str
    to: Sequence[tuple[str, str]]  # (name, address)
    cc: Sequence[str]
    subject: str
    message_id: str
    text: str
    signature: str = ""
    in_reply_to: str = ""
    references: Sequence[str] = ()
    auto_submitted: str = ""
    language: str = ""
    files: Sequence[OutgoingFile] = ()


def _address(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=clean_line(name, 200), username=local, domain=domain)


def _html_body(text: str, signature: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join("<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>\n" for p in paragraphs)
    if signature:
        lines = "<br>\n".join(html.escape(line) for line in signature.split("\n"))
        body += f'<p class="signature">--&nbsp;<br>\n{lines}</p>\n'
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}</body></html>\n'


def compose(mail: Outgoing) -> MimeMessage:
    """The MIME message; every header value is cleaned or validated before it gets here."""
    msg = MimeMessage()
    msg["From"] = _address(mail.from_name, clean_address(mail.from_address, "from"))
    msg["To"] = tuple(_address(name, clean_address(address, "to")) for name, address in mail.to)
    if mail.cc:
        msg["Cc"] = tuple(_address("", clean_address(address, "cc")) for address in mail.cc)
    msg["Subject"] = clean_line(mail.subject, 998)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = _msgids([mail.message_id])[0]
    reply_to_id = _msgids([mail.in_reply_to])
    if reply_to_id:
        msg["In-Reply-To"] = reply_to_id[0]
    references = _msgids(mail.references)
    if references:
        msg["References"] = " ".join(references)
    if mail.auto_submitted:
        msg["Auto-Submitted"] = mail.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answer to this
    text = mail.text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    signature = mail.signature.replace("\r\n", "\n").replace("\r", "\n").strip()
    plain = f"{text}\n\n-- \n{signature}\n" if signature else f"{text}\n"
    msg.set_content(plain)
    msg.add_alternative(_html_body(text, signature), subtype="html")
    for item in mail.files:
        maintype, _, subtype = item.content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=clean_line(item.filename, 200))
    if mail.language in LANGUAGES:  # after the body: set_content() drops Content-* headers
        msg["Content-Language"] = mail.language
    return msg


# --- the email.send job --------------------------------------------------------------------------


class RelayRefused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code


def wire_bytes(msg: MimeMessage) -> bytes:
    """The message as it goes over SMTP (CRLF line ends), and as it is kept for audit."""
    return msg.as_bytes(policy=SMTP)


async def relay(mailbox: Mailbox, settings: Settings, raw: bytes, sender: str, recipients: list[str]) -> str:
    """Hand the message to the mailbox's SMTP relay; the relay's answer for partly refused recipients."""
    if not mailbox.smtp_host:
        raise PermanentJobError(f"the mailbox {mailbox.address} has no SMTP relay set up")
    password = mailboxes.smtp_password(settings, mailbox)
    try:
        errors, _answer = await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=recipients,
            hostname=mailbox.smtp_host,
            port=mailbox.smtp_port,
            username=mailbox.smtp_user or None,
            password=password if mailbox.smtp_user else None,
            use_tls=mailbox.smtp_security == Security.ssl,
            start_tls=mailbox.smtp_security == Security.starttls,
            tls_context=mailboxes.mailbox_tls(mailbox),
            timeout=SMTP_TIMEOUT,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0] if exc.recipients else None
        code = first.code if first is not None else 550
        raise RelayRefused(code, first.message if first is not None else str(exc)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise RelayRefused(exc.code, exc.message) from exc
    return "; ".join(f"{address}: {r.code} {r.message}" for address, r in errors.items())


@job_handler(SEND_JOB)
async def send_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    if payload.get("kind") == "auto_ack":  # queued before acknowledgements were stored (migration 0008)
        await _send_auto_ack(ctx, payload)
    elif payload.get("kind") == CHAT_TRANSCRIPT:
        await _send_chat_transcript(ctx, payload)
    else:
        await _send_stored(ctx, int(payload["email_message_id"]), payload)


async def _files(ctx: JobContext, attachments: Iterable[Attachment]) -> list[OutgoingFile]:
    store = ctx.services.store
    out = []
    for attachment in attachments:
        path = store.path(attachment.storage_key)
        if not path.exists():
            raise PermanentJobError(f"the attachment {attachment.filename} is missing from storage")
        out.append(OutgoingFile(attachment.filename, attachment.content_type, path.read_bytes()))
    return out


async def _send_stored(ctx: JobContext, email_id: int, payload: dict[str, Any]) -> None:
    """Send one stored outbound email (a reply or a forward); nothing happens if it went already."""
    try:
        loaded = await _load_stored(ctx, email_id, payload)
    except PermanentJobError as exc:
        await _mark_failed(ctx, email_id, str(exc))
        raise
    if loaded is None:
        return
    mailbox, mail, recipients = loaded
    raw = wire_bytes(compose(mail))
    try:
        partial = await relay(mailbox, ctx.services.settings, raw, mailbox.address, recipients)
    except (PermanentJobError, RelayRefused, aiosmtplib.SMTPException, OSError) as exc:
        await _relay_failed(ctx, email_id, exc)
        raise  # _relay_failed raised already; this keeps type checkers sure the function ends here
    await _mark_sent(ctx, email_id, raw, partial)


async def _load_stored(
    ctx: JobContext, email_id: int, payload: dict[str, Any]
) -> tuple[Mailbox, Outgoing, list[str]] | None:
    """The mailbox, the composed-to-be email and the envelope recipients; None when it was sent already."""
    async with ctx.db.read() as session:
        row = await session.get(EmailMessage, email_id)
        if row is None or row.send_status == SendStatus.sent:
            return None
        mailbox = await session.get(Mailbox, row.mailbox_id) if row.mailbox_id else None
        message = await session.get(Message, row.message_id)
        conversation = await session.get(Conversation, row.conversation_id)
        if mailbox is None or message is None or conversation is None:
            raise PermanentJobError("the mailbox or the message was deleted")
        if message.direction == Direction.note:  # a forward: the agent's note, then the transcript
            language = str(payload.get("language") or "en")
            transcript, attachments = await _transcript(session, conversation, message.id, language)
            note = str(payload.get("forward_note") or "")
            text, to_name = (f"{note}\n\n{transcript}" if note else transcript), ""
        else:
            text = message.body_text
            attachments = (await conversations.attachments_of(session, [message.id]))[message.id]
            contact = await session.get(Contact, conversation.contact_id)
            to_name = clean_line(contact.name if contact is not None else "", 200)
        automatic = row.kind == EmailKind.auto_ack
        mail = Outgoing(
            from_name=row.from_name,
            from_address=row.from_address,
            to=[(to_name if len(row.to_addresses) == 1 else "", a) for a in row.to_addresses],
            cc=list(row.cc_addresses),
            subject=row.subject,
            message_id=row.rfc_message_id,
            text=text,
            signature=mailbox.signature,
            in_reply_to=row.in_reply_to,
            references=list(row.references or []),
            files=await _files(ctx, attachments),
            auto_submitted="auto-replied" if automatic else "",
            language=str(payload.get("language") or "") if automatic else "",
        )
        return mailbox, mail, [*row.to_addresses, *row.cc_addresses, *row.bcc_addresses]


async def _relay_failed(ctx: JobContext, email_id: int, exc: BaseException) -> None:
    """A 5xx (or the last try) fails the email for good; anything else is retried by the sweeper."""
    if isinstance(exc, PermanentJobError):
        await _mark_failed(ctx, email_id, str(exc))
        raise exc
    reason = str(exc) if isinstance(exc, RelayRefused) else f"{type(exc).__name__}: {exc}"
    permanent = isinstance(exc, RelayRefused) and exc.code >= 500
    if permanent or ctx.final_attempt:
        await _mark_failed(ctx, email_id, reason)
        raise PermanentJobError(reason) from exc
    await _note_retry(ctx, email_id, reason)
    raise exc


async def _set_delivery(session: AsyncSession, row: EmailMessage, status: SendStatus) -> None:
    await conversations.set_delivery_status(session, row.message_id, status.value)


async def _mark_sent(ctx: JobContext, email_id: int, raw: bytes, partial: str) -> None:
    row_tenant = ctx.tenant_id or 0
    stored = ctx.services.store.put(
        tenant_id=row_tenant, data=raw, filename=f"sent-{email_id}.eml", content_type="message/rfc822"
    )
    async with ctx.db.transaction() as session:
        row = await session.get(EmailMessage, email_id)
        if row is None:
            return
        row.send_status, row.sent_at, row.send_error = SendStatus.sent, utcnow(), partial
        row.raw_key, row.raw_size = stored.key, stored.size
        await _set_delivery(session, row, SendStatus.sent)
        if row.kind == EmailKind.auto_ack:
            await _note_acknowledged(session, row)


async def _note_acknowledged(session: AsyncSession, row: EmailMessage) -> None:
    """"Automatic acknowledgement sent to …" on the timeline of the conversation holding it now."""
    message = await session.get(Message, row.message_id)
    if message is not None:
        await conversations.record_timeline(
            session=session, actor=Actor.system(row.tenant_id), conversation_id=message.conversation_id,
            kind="auto_ack", to=", ".join(row.to_addresses),
        )


async def _mark_failed(ctx: JobContext, email_id: int, reason: str) -> None:
    async with ctx.db.transaction() as session:
        row = await session.get(EmailMessage, email_id)
        if row is None or row.send_status == SendStatus.sent:
            return
        row.send_status, row.send_error = SendStatus.failed, reason[:2000]
        await _set_delivery(session, row, SendStatus.failed)


async def _note_retry(ctx: JobContext, email_id: int, reason: str) -> None:
    """Still queued, but agents can see why it has not left yet."""
    async with ctx.db.transaction() as session:
        row = await session.get(EmailMessage, email_id)
        if row is not None and row.send_status == SendStatus.queued:
            row.send_error = reason[:2000]


async def _send_auto_ack(ctx: JobContext, payload: dict[str, Any]) -> None:
    """An acknowledgement queued as a bare job payload by a version before 0008 (no stored row)."""
    async with ctx.db.read() as session:
        mailbox = await session.get(Mailbox, int(payload["mailbox_id"]))
        conversation = await session.get(Conversation, int(payload["conversation_id"]))
        if mailbox is None or conversation is None or not mailbox.is_active:
            return  # the mailbox or conversation is gone: nobody to acknowledge for
        language = str(payload.get("language") or "en")
        mail = Outgoing(
            from_name=mailbox.display_name,
            from_address=mailbox.address,
            to=[(str(payload.get("to_name") or ""), str(payload["to"]))],
            cc=(),
            subject=str(payload.get("subject") or ""),
            message_id=str(payload["message_id"]),
            text=acknowledgement_text(language, conversation.number),
            signature=mailbox.signature,
            in_reply_to=str(payload.get("in_reply_to") or ""),
            references=[str(r) for r in payload.get("references") or []],
            auto_submitted="auto-replied",
            language=language,
        )
    raw = wire_bytes(compose(mail))
    try:
        await relay(mailbox, ctx.services.settings, raw, mailbox.address, [str(payload["to"])])
    except RelayRefused as exc:
        if exc.code >= 500:
            raise PermanentJobError(str(exc)) from exc
        raise


# --- a chat transcript, at the visitor's request ------------------------------------------------------

CHAT_TRANSCRIPT = "chat_transcript"


async def sending_mailbox(session: AsyncSession, tenant_id: int, team_id: int | None) -> Mailbox | None:
    """The team's active mailbox with an SMTP relay, else the tenant's first such; None when it has none.

    A mailbox without a relay could never deliver: offering it would promise mail that never comes.
    """
    candidates = [select(Mailbox).where(Mailbox.team_id == team_id)] if team_id is not None else []
    candidates.append(select(Mailbox))
    for query in candidates:
        mailbox = await session.scalar(
            query.where(Mailbox.tenant_id == tenant_id, Mailbox.is_active.is_(True), Mailbox.smtp_host != "")
            .order_by(Mailbox.id)
            .limit(1)
        )
        if mailbox is not None:
            return mailbox
    return None


def queue_chat_transcript(
    session: AsyncSession, *, mailbox: Mailbox, conversation: Conversation, to: str, language: str, subject: str,
    text: str,
) -> None:
    """Queue a chat transcript (already written, in the visitor's language) in the caller's transaction.

    A bare ``email.send`` job: the transcript is not a message of the conversation. Its Message-ID
    carries the conversation's number, so an answer to it threads into the chat's conversation.
    """
    payload = {
        "kind": CHAT_TRANSCRIPT,
        "mailbox_id": mailbox.id,
        "to": clean_address(to, "email"),
        "language": language if language in LANGUAGES else "en",
        "message_id": new_message_id(conversation.number, mailbox.address),
        "subject": clean_line(subject, 900),
        "text": text,
    }
    enqueue(session, SEND_JOB, payload, tenant_id=conversation.tenant_id)


async def _send_chat_transcript(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.db.read() as session:
        mailbox = await session.get(Mailbox, int(payload["mailbox_id"]))
    if mailbox is None or not mailbox.is_active:
        raise PermanentJobError("the mailbox was deleted or switched off")
    to = str(payload["to"])
    mail = Outgoing(
        from_name=mailbox.display_name,
        from_address=mailbox.address,
        to=[("", to)],
        cc=(),
        subject=str(payload.get("subject") or ""),
        message_id=str(payload["message_id"]),
        text=str(payload.get("text") or ""),
        signature=mailbox.signature,
        auto_submitted="auto-generated",  # machine-written: no out-of-office answers to it
        language=str(payload.get("language") or ""),
    )
    try:
        await relay(mailbox, ctx.services.settings, wire_bytes(compose(mail)), mailbox.address, [to])
    except RelayRefused as exc:
        if exc.code >= 500:  # the address is refused for good: retrying cannot help
            raise PermanentJobError(str(exc)) from exc
        raise


async def delivery_errors(session: AsyncSession, message_ids: list[int]) -> dict[int, str]:
    """Why outbound mail of these messages failed or is still waiting (for the thread's badges)."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(EmailMessage.message_id, EmailMessage.send_error).where(
            EmailMessage.message_id.in_(message_ids), EmailMessage.send_error != ""
        )
    )
    return {mid: error for mid, error in rows.all()}


__all__ = [
    "SEND_JOB",
    "answers_auto_acknowledgement",
    "clean_address",
    "clean_addresses",
    "compose",
    "delivery_errors",
    "forward_conversation",
    "mailbox_for_conversation",
    "queue_auto_acknowledgement",
    "queue_chat_transcript",
    "queue_reply",
    "reply_subject",
    "send_email",
    "sending_mailbox",
    "split_addresses",
]
