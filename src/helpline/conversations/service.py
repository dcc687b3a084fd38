"""Conversations: the only writer of conversations, messages, attachments, tags, links, timeline."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.service import Actor
from helpline.channels import outbound
from helpline.channels.outbound import Recipients
from helpline.contacts import service as contacts
from helpline.contacts.models import Contact, IdentityKind
from helpline.conversations.models import (
    OPEN_STATUSES,
    Attachment,
    Conversation,
    ConversationLink,
    ConversationTag,
    Direction,
    Message,
    Priority,
    Status,
    Tag,
    TimelineEvent,
)
from helpline.db import utcnow
from helpline.errors import Conflict, Invalid, NotFound
from helpline.events import Event, on_commit
from helpline.html import html_to_text, sanitise_html
from helpline.language import detect_language
from helpline.routing import service as routing
from helpline.search import SearchDocument, SearchHit, index_for
from helpline.sqlite_inline import execute_now, inline_connection_flushed, write_new
from helpline.storage import StoredFile
from helpline.validation import TEXT_CONTROL

MAX_BODY_CHARS = 100_000
MAX_SUBJECT_CHARS = 300
MAX_TAGS = 30
PREVIEW_CHARS = 160

# Tags and attributes a customer's or agent's HTML may keep; everything else is dropped.
@dataclass(frozen=True)
class NewMessage:
    """A message as a channel or the API hands it over."""

    body_text: str = ""
    body_html: str = ""
    attachments: Sequence[StoredFile] = ()
    external_id: str | None = None
    created_at: datetime | None = None
    # Outbound only: extra recipients, for channels that have them (email CC/BCC).
    recipients: Recipients = field(default_factory=Recipients)
    # Outbound only, set by add_message: the replying agent's name, for channels that show it
    # (chat), so their adapter need not read the user back.
    author_name: str = ""
    # Set by a channel whose parser already ran the HTML through ``html.sanitise_html`` (email, in
    # its mail worker): a second pass changes nothing and cost the event loop more than the rest of
    # the checks together.
    html_sanitised: bool = False


@dataclass
class ConversationFilter:
    view: str = "all_open"  # mine | unassigned | all_open | all | team:<id> | contact:<id>
    status: list[Status] = field(default_factory=list)
    priority: list[Priority] = field(default_factory=list)
    channel: str | None = None
    tag: str | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    contact_id: int | None = None
    sort: str = "activity_desc"  # activity_desc | activity_asc | created_desc | created_asc | priority_desc


SORTS = ("activity_desc", "activity_asc", "created_desc", "created_asc", "priority_desc")


@dataclass(frozen=True)
class Page:
    items: list[Conversation]
    next_cursor: str | None


# --- reading -----------------------------------------------------------------------------


async def get_conversation(*, session: AsyncSession, actor: Actor, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.tenant_id != actor.tenant_id:
        raise NotFound("conversation not found", field="conversation_id")
    return conversation


async def get_by_number(*, session: AsyncSession, actor: Actor, number: int) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(Conversation.tenant_id == actor.tenant_id, Conversation.number == number)
    )
    if conversation is None:
        raise NotFound("conversation not found", field="number")
    return conversation


async def messages_of(
    *, session: AsyncSession, actor: Actor, conversation_id: int, include_notes: bool = True
) -> list[Message]:
    await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    query = select(Message).where(Message.conversation_id == conversation_id)
    if not include_notes:
        query = query.where(Message.direction != Direction.note)
    return list(await session.scalars(query.order_by(Message.created_at, Message.id)))


WRITTEN_MESSAGES = "helpline.written_messages"


def messages_in_session(session: AsyncSession, conversation_id: int) -> list[Message]:
    """The conversation's messages this session wrote, in order, without a query."""
    written = [m for m in session.info.get(WRITTEN_MESSAGES, []) if m.conversation_id == conversation_id]
    return sorted(written, key=lambda m: (m.created_at, m.id))


async def attachments_of(session: AsyncSession, message_ids: list[int]) -> dict[int, list[Attachment]]:
    out: dict[int, list[Attachment]] = {mid: [] for mid in message_ids}
    if message_ids:
        for attachment in await session.scalars(
            select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
        ):
            out[attachment.message_id].append(attachment)
    return out


async def get_attachment(*, session: AsyncSession, actor: Actor, attachment_id: int) -> Attachment:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.tenant_id != actor.tenant_id:
        raise NotFound("attachment not found", field="attachment_id")
    return attachment


async def timeline_of(*, session: AsyncSession, actor: Actor, conversation_id: int) -> list[TimelineEvent]:
    await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    return list(
        await session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.conversation_id == conversation_id)
            .order_by(TimelineEvent.created_at, TimelineEvent.id)
        )
    )


async def links_of(*, session: AsyncSession, actor: Actor, conversation_id: int) -> list[Conversation]:
    """Conversations linked either way (follow-ups and what they follow up)."""
    await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    rows = await session.execute(
        select(ConversationLink.conversation_id, ConversationLink.linked_id).where(
            or_(
                ConversationLink.conversation_id == conversation_id,
                ConversationLink.linked_id == conversation_id,
            )
        )
    )
    ids = {a if b == conversation_id else b for a, b in rows.all()}
    if not ids:
        return []
    return list(
        await session.scalars(select(Conversation).where(Conversation.id.in_(ids)).order_by(Conversation.id))
    )


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return values
    except (ValueError, TypeError) as exc:
        raise Invalid("not a valid cursor", field="cursor") from exc


def _apply_filter(query: Select[Any], actor: Actor, flt: ConversationFilter) -> Select[Any]:
    query = query.where(Conversation.tenant_id == actor.tenant_id, Conversation.merged_into_id.is_(None))
    view = flt.view or "all_open"
    statuses = list(flt.status)
    if view == "mine":
        query = query.where(Conversation.assignee_id == actor.user_id)
    elif view == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    elif view.startswith("team:"):
        try:
            query = query.where(Conversation.team_id == int(view[5:]))
        except ValueError as exc:
            raise Invalid("unknown view", field="view") from exc
    elif view not in ("all_open", "all"):
        raise Invalid("unknown view; use mine, unassigned, all_open, all or team:<id>", field="view")
    if not statuses and view != "all":
        statuses = list(OPEN_STATUSES)
    if statuses:
        query = query.where(Conversation.status.in_(statuses))
    if flt.priority:
        query = query.where(Conversation.priority.in_(flt.priority))
    if flt.channel:
        query = query.where(Conversation.channel == flt.channel)
    if flt.assignee_id is not None:
        query = query.where(Conversation.assignee_id == flt.assignee_id)
    if flt.team_id is not None:
        query = query.where(Conversation.team_id == flt.team_id)
    if flt.contact_id is not None:
        query = query.where(Conversation.contact_id == flt.contact_id)
    if flt.tag:
        query = query.where(
            Conversation.id.in_(
                select(ConversationTag.conversation_id)
                .join(Tag, Tag.id == ConversationTag.tag_id)
                .where(Tag.tenant_id == actor.tenant_id, Tag.name == flt.tag.strip().lower())
            )
        )
    return query


def _sort_key(flt: ConversationFilter) -> tuple[Any, bool]:
    if flt.sort not in SORTS:
        raise Invalid("sort must be one of %(choices)s", field="sort", choices=", ".join(SORTS))
    column = {
        "activity_desc": Conversation.last_activity_at,
        "activity_asc": Conversation.last_activity_at,
        "created_desc": Conversation.id,
        "created_asc": Conversation.id,
        "priority_desc": Conversation.priority,
    }[flt.sort]
    return column, not flt.sort.endswith("_asc")


async def list_conversations(
    *,
    session: AsyncSession,
    actor: Actor,
    flt: ConversationFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """A page of conversations; the cursor continues exactly where the last page ended."""
    limit = max(1, min(limit, 200))
    column, descending = _sort_key(flt)
    query = _apply_filter(select(Conversation), actor, flt)
    if flt.sort == "priority_desc":
        # Priority is text in the table; order urgent > high > normal > low via a CASE.
        from sqlalchemy import case

        column = case({"urgent": 3, "high": 2, "normal": 1, "low": 0}, value=Conversation.priority)
    if cursor:
        value, last_id = _decode_cursor(cursor)
        if flt.sort.startswith("activity"):
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError) as exc:
                raise Invalid("not a valid cursor", field="cursor") from exc
        if descending:
            query = query.where(or_(column < value, and_(column == value, Conversation.id < last_id)))
        else:
            query = query.where(or_(column > value, and_(column == value, Conversation.id > last_id)))
    order = (column.desc(), Conversation.id.desc()) if descending else (column.asc(), Conversation.id.asc())
    items = list(await session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        if flt.sort.startswith("activity"):
            sort_value: Any = last.last_activity_at.isoformat()
        elif flt.sort.startswith("created"):
            sort_value = last.id
        else:
            sort_value = {"urgent": 3, "high": 2, "normal": 1, "low": 0}[last.priority.value]
        next_cursor = _encode_cursor([sort_value, last.id])
    return Page(items=items, next_cursor=next_cursor)


async def count_views(*, session: AsyncSession, actor: Actor, team_ids: list[int]) -> dict[str, int]:
    """Open-conversation counts for the inbox's view list."""
    from sqlalchemy import func

    out: dict[str, int] = {}
    for view in ["mine", "unassigned", "all_open", *[f"team:{t}" for t in team_ids]]:
        query = _apply_filter(select(func.count(Conversation.id)), actor, ConversationFilter(view=view))
        out[view] = int(await session.scalar(query) or 0)
    return out


async def contact_timeline(
    *, session: AsyncSession, actor: Actor, contact_id: int, limit: int = 100
) -> list[Conversation]:
    """Every conversation with a contact on every channel, newest first."""
    await contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
    return list(
        await session.scalars(
            select(Conversation)
            .where(Conversation.tenant_id == actor.tenant_id, Conversation.contact_id == contact_id)
            .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
    )


# --- writing -----------------------------------------------------------------------------


def _clean_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if len(subject) > MAX_SUBJECT_CHARS:
        raise Invalid(
            "the subject is longer than %(limit)s characters", field="subject", limit=MAX_SUBJECT_CHARS
        )
    return subject


# The last message's bodies: intake asks for them four times (checks, preview, the row), and
# sanitising an email's HTML costs more than the rest of those checks together.
_last_bodies: tuple[NewMessage, tuple[str, str]] | None = None


def _bodies(new: NewMessage) -> tuple[str, str]:
    global _last_bodies
    if _last_bodies is not None and _last_bodies[0] is new:
        return _last_bodies[1]
    bodies = _checked_bodies(new)
    _last_bodies = (new, bodies)
    return bodies


def _checked_bodies(new: NewMessage) -> tuple[str, str]:
    html = new.body_html if new.html_sanitised else sanitise_html(new.body_html) if new.body_html else ""
    text = new.body_text or (html_to_text(html) if html else "")
    if len(text) > MAX_BODY_CHARS or len(html) > MAX_BODY_CHARS * 2:
        raise Invalid(
            "the message is longer than %(limit)s characters", field="message.body", limit=MAX_BODY_CHARS
        )
    if not text.strip() and not html and not new.attachments:
        raise Invalid("the message is empty", field="message.body")
    return text, html


def _timeline_event(conversation: Conversation, actor: Actor, kind: str, **details: Any) -> TimelineEvent:
    return TimelineEvent(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        actor_user_id=actor.user_id,
        kind=kind,
        details=details,
    )


def _timeline(
    session: AsyncSession, conversation: Conversation, actor: Actor, kind: str, **details: Any
) -> None:
    session.add(_timeline_event(conversation, actor, kind, **details))


async def create_conversation(
    *,
    session: AsyncSession,
    actor: Actor,
    contact_id: int,
    channel: str,
    subject: str,
    message: NewMessage | None,
    direction: Direction = Direction.inbound,
    priority: Priority = Priority.normal,
    team_id: int | None = None,
    assignee_id: int | None = None,
    tags: list[str] | None = None,
    language: str | None = None,
    recipient: str | None = None,
) -> Conversation:
    contact = await contacts.get_contact(session=session, actor=actor, contact_id=contact_id)
    if contact.merged_into_id is not None:
        contact = await contacts.get_contact(session=session, actor=actor, contact_id=contact.merged_into_id)
    if team_id is not None:
        await accounts.get_team(session=session, actor=actor, team_id=team_id)
    if assignee_id is not None:
        await accounts.get_user(session=session, actor=actor, user_id=assignee_id)
    subject = _clean_subject(subject)
    if message is not None:
        _bodies(message)  # validate before taking a number
        if message.external_id and await _known_external_id(
            session, actor.tenant_id, channel, message.external_id
        ):
            raise Conflict("this message was received already", field="message.external_id")
    now = utcnow()
    # A channel may hand over when the first message was written (imports, email Date:).
    started = message.created_at if message is not None and message.created_at else now
    text, _html = _bodies(message) if message is not None else ("", "")
    conversation = Conversation(
        tenant_id=actor.tenant_id,
        number=await accounts.take_conversation_number(session=session, tenant_id=actor.tenant_id),
        subject=subject,
        status=Status.new if direction == Direction.inbound else Status.open,
        priority=priority,
        channel=channel,
        recipient=recipient,
        # Declared (by the channel or the contact) before detected from what the customer wrote.
        language=language or contact.language or detect_language(f"{subject} {text}"),
        contact_id=contact.id,
        assignee_id=assignee_id,
        team_id=team_id,
        tags=[],
        # Counters are right from the first INSERT: no UPDATE for the first message.
        message_count=1 if message is not None else 0,
        preview=" ".join(text.split())[:PREVIEW_CHARS],
        created_at=started,
        updated_at=now,
        last_activity_at=started,
        # Set before the INSERT: written once, not updated at commit.
        first_response_at=started if direction == Direction.outbound and message is not None else None,
    )
    # The new rows go straight to the database (write_new): the ORM's flush was most of what a
    # new conversation cost. The objects are in the session afterwards, as if loaded.
    await write_new(session, conversation)
    if tags:
        await _set_tags(session, actor, conversation, tags)
    # Indexed before the message: FTS5 flushes its pending terms to a new segment whenever a rowid
    # comes in below the last one (conversation id*4+1 < message id*4+2), which cost intake 15 %.
    await _reindex(session, conversation, fresh=True)
    # Routing adds the work item (and may query first); it is written with the timeline and message.
    queued = await routing.queue_new_conversation(session, conversation)
    rows: list[Any] = [queued.item] if queued is not None else []
    rows.append(_timeline_event(conversation, actor, "created", channel=channel))
    if message is not None:
        await _insert_message(
            session,
            actor,
            conversation,
            direction,
            message,
            author_contact_id=contact.id if direction == Direction.inbound else None,
            with_rows=rows,
        )
    else:
        await write_new(session, *rows)
    rule_priority = await routing.announce_work_item(session, conversation, queued)
    if rule_priority is not None:
        conversation.priority = rule_priority
    on_commit(session, Event("conversation.created", actor.tenant_id, _summary(conversation)))
    return conversation


@dataclass(frozen=True)
class ContactDetails:
    """A contact as a channel knows them: by an address, maybe with a name."""

    email: str | None = None
    phone: str | None = None
    name: str = ""
    language: str | None = None


async def resolve_contact(*, session: AsyncSession, actor: Actor, details: ContactDetails) -> Contact:
    """The contact for these details: a known identity finds its contact, else a new one is made."""
    contact = None
    if details.email:
        contact = await contacts.find_or_create_by_identity(
            session=session,
            actor=actor,
            kind=IdentityKind.email,
            value=details.email,
            name=details.name,
            language=details.language,
        )
        if details.phone:
            existing = await contacts.find_by_identity(
                session=session, tenant_id=actor.tenant_id, kind=IdentityKind.phone, value=details.phone
            )
            if existing is None:
                await contacts.add_identity(
                    session=session,
                    actor=actor,
                    contact_id=contact.id,
                    kind=IdentityKind.phone,
                    value=details.phone,
                )
    elif details.phone:
        contact = await contacts.find_or_create_by_identity(
            session=session,
            actor=actor,
            kind=IdentityKind.phone,
            value=details.phone,
            name=details.name,
            language=details.language,
        )
    if contact is None:
        raise Invalid("give the contact's email or phone", field="contact")
    if contact.merged_into_id is not None:
        contact = await contacts.get_contact(session=session, actor=actor, contact_id=contact.merged_into_id)
    return contact


async def start_conversation(
    *,
    session: AsyncSession,
    actor: Actor,
    contact: ContactDetails | int,
    channel: str,
    subject: str,
    message: NewMessage | None,
    **options: Any,
) -> Conversation:
    """Intake for every channel: find or create the contact, then open the conversation."""
    if message is not None:
        _bodies(message)  # refuse an empty or oversized message before creating a contact
    # Holding the contact keeps it in the session's identity map: no second SELECT for it.
    if isinstance(contact, int):
        contact_id = contact
    else:
        resolved = await resolve_contact(session=session, actor=actor, details=contact)
        contact_id = resolved.id
    return await create_conversation(
        session=session,
        actor=actor,
        contact_id=contact_id,
        channel=channel,
        subject=subject,
        message=message,
        **options,
    )


def _summary(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "number": conversation.number,
        "status": conversation.status.value,
        "priority": conversation.priority.value,
        "channel": conversation.channel,
        "contact_id": conversation.contact_id,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
    }


async def _known_external_id(session: AsyncSession, tenant_id: int, channel: str, external_id: str) -> bool:
    connection = await inline_connection_flushed(session)
    if connection is not None:  # the SQLite writer: one prebuilt statement (every intake asks)
        return (
            execute_now(
                connection,
                "SELECT 1 FROM messages WHERE tenant_id = ? AND channel = ? AND external_id = ? LIMIT 1",
                (tenant_id, channel, external_id),
            ).fetchone()
            is not None
        )
    return bool(
        await session.scalar(
            select(Message.id).where(
                Message.tenant_id == tenant_id, Message.channel == channel, Message.external_id == external_id
            )
        )
    )


async def _insert_message(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    direction: Direction,
    new: NewMessage,
    *,
    author_contact_id: int | None = None,
    with_rows: Sequence[Any] = (),
    searchable: bool = True,
) -> Message:
    """Store a message, its attachments and its search document; the caller keeps the counters.

    ``with_rows`` are other new rows to write in the same go (intake's work item and timeline).
    ``searchable=False``: no search document (the same automatic text on every conversation).
    """
    text, html = _bodies(new)
    message = Message(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        direction=direction,
        channel=conversation.channel,
        author_user_id=actor.user_id if direction != Direction.inbound else None,
        author_contact_id=author_contact_id,
        body_text=text,
        body_html=html,
        external_id=new.external_id,
        created_at=new.created_at or utcnow(),
    )
    await write_new(session, *with_rows, message)
    session.info.setdefault(WRITTEN_MESSAGES, []).append(message)
    if new.attachments:
        await write_new(
            session,
            *(
                Attachment(
                    tenant_id=conversation.tenant_id,
                    message_id=message.id,
                    filename=stored.filename,
                    content_type=stored.content_type,
                    size=stored.size,
                    sha256=stored.sha256,
                    storage_key=stored.key,
                )
                for stored in new.attachments
            ),
        )
    if searchable:
        await index_for(session).upsert(
            session,
            SearchDocument(
                tenant_id=conversation.tenant_id,
                kind="message",
                ref_id=message.id,
                title=conversation.subject,
                body=text,
                conversation_id=conversation.id,
                contact_id=conversation.contact_id,
            ),
            fresh=True,
        )
    on_commit(
        session,
        Event(
            "message.created",
            conversation.tenant_id,
            {**_summary(conversation), "message_id": message.id, "direction": direction.value},
        ),
    )
    return message


async def _store_message(
    session: AsyncSession,
    actor: Actor,
    conversation: Conversation,
    direction: Direction,
    new: NewMessage,
    *,
    author_contact_id: int | None = None,
) -> Message:
    message = await _insert_message(
        session, actor, conversation, direction, new, author_contact_id=author_contact_id
    )
    conversation.message_count += 1
    if direction != Direction.note:
        conversation.preview = " ".join(message.body_text.split())[:PREVIEW_CHARS]
        conversation.last_activity_at = max(conversation.last_activity_at, message.created_at)
    conversation.updated_at = utcnow()
    return message


async def add_message(
    *,
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    direction: Direction,
    message: NewMessage,
    status_after: Status | None = None,
) -> Message:
    """A reply, a customer message or an internal note on an existing conversation."""
    conversation = await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    if conversation.merged_into_id is not None:
        conversation = await get_conversation(
            session=session, actor=actor, conversation_id=conversation.merged_into_id
        )
    if message.external_id and await _known_external_id(
        session, actor.tenant_id, conversation.channel, message.external_id
    ):
        raise Conflict("this message was received already", field="message.external_id")
    author_contact_id = conversation.contact_id if direction == Direction.inbound else None
    stored = await _store_message(
        session, actor, conversation, direction, message, author_contact_id=author_contact_id
    )
    previous = conversation.status
    if direction == Direction.inbound and conversation.status in (
        Status.solved,
        Status.closed,
        Status.pending,
    ):
        # The customer wrote again: the case is open again (a closed one too — nothing is lost).
        await _change_status(session, actor, conversation, Status.open)
    elif direction == Direction.outbound:
        author_name = actor.name if actor.user_id is not None else ""  # the system signs nothing
        await outbound.dispatch(session, conversation, stored, replace(message, author_name=author_name))
        if conversation.first_response_at is None:
            conversation.first_response_at = stored.created_at
        if status_after is not None:
            await _change_status(session, actor, conversation, status_after)
        elif previous == Status.new:
            await _change_status(session, actor, conversation, Status.open)
    elif status_after is not None:
        await _change_status(session, actor, conversation, status_after)
    return stored


async def record_automatic_message(
    *, session: AsyncSession, conversation: Conversation, message: NewMessage
) -> Message:
    """A message Helpline itself sent the customer (an email auto-acknowledgement), for the thread.

    Not an agent's reply: it sets no first response, changes no status, is not handed to the
    outbound adapters (the channel that made it sends it), is not indexed for search, and the
    inbox keeps the customer's words as preview and activity time.
    """
    stored = await _insert_message(
        session, Actor.system(conversation.tenant_id), conversation, Direction.outbound, message, searchable=False
    )
    conversation.message_count += 1
    conversation.updated_at = utcnow()
    return stored


async def set_delivery_status(session: AsyncSession, message_id: int, status: str) -> None:
    """How an outbound message's delivery stands, as its channel reports it (queued, sent, failed).

    A change after the first report is published as ``message.updated`` after the commit, so the
    workspace shows it live; the first (written with the message) rides on ``message.created``.
    """
    message = await session.get(Message, message_id)
    if message is None or message.delivery_status == status:
        return
    first, message.delivery_status = message.delivery_status is None, status
    if first:
        return
    conversation = await session.get(Conversation, message.conversation_id)
    if conversation is not None:
        on_commit(
            session,
            Event(
                "message.updated",
                conversation.tenant_id,
                {**_summary(conversation), "message_id": message.id, "delivery_status": status},
            ),
        )


def rewrite_message_html(message: Message, html: str) -> None:
    """Replace a message's HTML in its own transaction (a channel rewriting ``cid:`` links to the stored
    attachments, whose ids exist only after the insert). The caller hands over already sanitised HTML."""
    message.body_html = html


async def _change_status(
    session: AsyncSession, actor: Actor, conversation: Conversation, status: Status
) -> None:
    if conversation.status == status:
        return
    previous, conversation.status = conversation.status, status
    conversation.solved_at = utcnow() if status in (Status.solved, Status.closed) else None
    _timeline(session, conversation, actor, "status", old=previous.value, new=status.value)
    on_commit(
        session,
        Event(
            "conversation.updated",
            conversation.tenant_id,
            {**_summary(conversation), "changes": {"status": [previous.value, status.value]}},
        ),
    )


async def update_conversation(
    *, session: AsyncSession, actor: Actor, conversation_id: int, changes: dict[str, Any]
) -> Conversation:
    """Change status, priority, assignee, team, subject or tags; each change lands on the timeline."""
    conversation = await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    if conversation.merged_into_id is not None:
        raise Conflict(
            "this conversation was merged; change the one it was merged into", field="conversation_id"
        )
    changed: dict[str, list[Any]] = {}
    if changes.get("status") is not None:
        status = Status(changes["status"])
        if status != conversation.status:
            changed["status"] = [conversation.status.value, status.value]
            conversation.status = status
            conversation.solved_at = utcnow() if status in (Status.solved, Status.closed) else None
            _timeline(session, conversation, actor, "status", old=changed["status"][0], new=status.value)
    if changes.get("priority") is not None:
        priority = Priority(changes["priority"])
        if priority != conversation.priority:
            changed["priority"] = [conversation.priority.value, priority.value]
            conversation.priority = priority
            _timeline(
                session, conversation, actor, "priority", old=changed["priority"][0], new=priority.value
            )
    if "assignee_id" in changes:
        assignee_id = changes["assignee_id"]
        if assignee_id is not None:
            user = await accounts.get_user(session=session, actor=actor, user_id=assignee_id)
            if not user.is_active:
                raise Invalid("that user is deactivated", field="assignee_id")
        if assignee_id != conversation.assignee_id:
            changed["assignee_id"] = [conversation.assignee_id, assignee_id]
            conversation.assignee_id = assignee_id
            _timeline(
                session, conversation, actor, "assignee", old=changed["assignee_id"][0], new=assignee_id
            )
    if "team_id" in changes:
        team_id = changes["team_id"]
        if team_id is not None:
            await accounts.get_team(session=session, actor=actor, team_id=team_id)
        if team_id != conversation.team_id:
            changed["team_id"] = [conversation.team_id, team_id]
            conversation.team_id = team_id
            _timeline(session, conversation, actor, "team", old=changed["team_id"][0], new=team_id)
    if changes.get("subject") is not None:
        subject = _clean_subject(changes["subject"])
        if subject != conversation.subject:
            changed["subject"] = [conversation.subject, subject]
            conversation.subject = subject
            _timeline(session, conversation, actor, "subject", old=changed["subject"][0], new=subject)
    if changes.get("tags") is not None:
        before = list(conversation.tags)
        await _set_tags(session, actor, conversation, list(changes["tags"]))
        if before != conversation.tags:
            changed["tags"] = [before, list(conversation.tags)]
            _timeline(session, conversation, actor, "tags", old=before, new=list(conversation.tags))
    if changed:
        conversation.updated_at = utcnow()
        if "subject" in changed or "tags" in changed:  # all the search document holds (see _reindex)
            await _reindex(session, conversation)
        on_commit(
            session,
            Event("conversation.updated", actor.tenant_id, {**_summary(conversation), "changes": changed}),
        )
    return conversation



async def record_timeline(
    *, session: AsyncSession, actor: Actor, conversation_id: int, kind: str, **details: Any
) -> Conversation:
    """A timeline entry another domain writes (a transfer, a rating, an automatic e-mail); open pages refresh."""
    conversation = await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    _timeline(session, conversation, actor, kind, **details)
    on_commit(
        session,
        Event("conversation.updated", actor.tenant_id, {**_summary(conversation), "changes": {kind: details}}),
    )
    return conversation


MAX_RATING_COMMENT = 2000


def _rating_score(value: object) -> int:
    # JSON gives bool, float and str as readily as int: only a whole number 1-5 is a rating.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise Invalid("give a rating from 1 to 5", field="score")
    return value


def _rating_comment(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("must be text", field="comment")
    text = TEXT_CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > MAX_RATING_COMMENT:
        raise Invalid("is too long (at most %(limit)s characters)", field="comment", limit=MAX_RATING_COMMENT)
    return text


async def rate_conversation(
    *, session: AsyncSession, actor: Actor, conversation_id: int, score: object, comment: object = None
) -> Conversation:
    """The customer's satisfaction: a whole number 1-5 and an optional comment (control characters removed).

    A new rating replaces the last one; each lands on the timeline ("Customer rated 4/5").
    """
    value, text = _rating_score(score), _rating_comment(comment)
    conversation = await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    if conversation.merged_into_id is not None:  # the chat goes on in the conversation it was merged into
        conversation = await get_conversation(
            session=session, actor=actor, conversation_id=conversation.merged_into_id
        )
    previous = conversation.satisfaction_score
    conversation.satisfaction_score, conversation.satisfaction_comment = value, text
    conversation.rated_at = conversation.updated_at = utcnow()
    _timeline(session, conversation, actor, "satisfaction", score=value, previous=previous)
    on_commit(
        session,
        Event(
            "conversation.updated",
            conversation.tenant_id,
            {**_summary(conversation), "changes": {"satisfaction": [previous, value]}},
        ),
    )
    return conversation


def normalise_tag(tag: str) -> str:
    tag = "-".join(tag.strip().lower().split())
    if not tag or len(tag) > 64 or any(c in tag for c in "<>\"'&,"):
        raise Invalid("not a valid tag: %(tag)r", field="tags", tag=tag)
    return tag


async def _set_tags(session: AsyncSession, actor: Actor, conversation: Conversation, tags: list[str]) -> None:
    wanted = list(dict.fromkeys(normalise_tag(t) for t in tags if t.strip()))
    if len(wanted) > MAX_TAGS:
        raise Invalid("at most %(limit)s tags", field="tags", limit=MAX_TAGS)
    current = set(conversation.tags or [])
    for name in wanted:
        tag = await session.scalar(select(Tag).where(Tag.tenant_id == actor.tenant_id, Tag.name == name))
        if tag is None:
            tag = Tag(tenant_id=actor.tenant_id, name=name, usage_count=0)
            session.add(tag)
            await session.flush()
        if name not in current:
            tag.usage_count += 1
            session.add(
                ConversationTag(conversation_id=conversation.id, tag_id=tag.id, tenant_id=actor.tenant_id)
            )
    for name in current - set(wanted):
        tag = await session.scalar(select(Tag).where(Tag.tenant_id == actor.tenant_id, Tag.name == name))
        if tag is not None:
            tag.usage_count = max(0, tag.usage_count - 1)
            link = await session.get(ConversationTag, (conversation.id, tag.id))
            if link is not None:
                await session.delete(link)
    conversation.tags = wanted


async def list_tags(*, session: AsyncSession, actor: Actor) -> list[Tag]:
    return list(
        await session.scalars(
            select(Tag).where(Tag.tenant_id == actor.tenant_id).order_by(Tag.usage_count.desc(), Tag.name)
        )
    )


async def link_follow_up(
    *, session: AsyncSession, actor: Actor, conversation_id: int, follows_up_id: int
) -> ConversationLink:
    """Mark ``conversation_id`` as a follow-up of ``follows_up_id`` (e.g. a closed case came back)."""
    if conversation_id == follows_up_id:
        raise Invalid("a conversation cannot follow up on itself", field="follows_up_id")
    conversation = await get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    earlier = await get_conversation(session=session, actor=actor, conversation_id=follows_up_id)
    existing = await session.scalar(
        select(ConversationLink).where(
            ConversationLink.conversation_id == conversation.id, ConversationLink.linked_id == earlier.id
        )
    )
    if existing is not None:
        return existing
    link = ConversationLink(tenant_id=actor.tenant_id, conversation_id=conversation.id, linked_id=earlier.id)
    session.add(link)
    _timeline(session, conversation, actor, "follow_up", of=earlier.number)
    _timeline(session, earlier, actor, "followed_up", by=conversation.number)
    await session.flush()
    on_commit(
        session,
        Event("conversation.updated", actor.tenant_id, {**_summary(conversation), "changes": {"links": []}}),
    )
    return link


async def merge_conversations(
    *, session: AsyncSession, actor: Actor, survivor_id: int, merged_id: int
) -> Conversation:
    """Move every message of ``merged_id`` into ``survivor_id`` (they interleave by time)."""
    if survivor_id == merged_id:
        raise Invalid("a conversation cannot be merged into itself", field="merged_id")
    survivor = await get_conversation(session=session, actor=actor, conversation_id=survivor_id)
    merged = await get_conversation(session=session, actor=actor, conversation_id=merged_id)
    if merged.merged_into_id is not None or survivor.merged_into_id is not None:
        raise Conflict("one of these conversations was merged already", field="merged_id")
    moved = list(await session.scalars(select(Message).where(Message.conversation_id == merged.id)))
    for message in moved:
        message.conversation_id = survivor.id
        await index_for(session).upsert(
            session,
            SearchDocument(
                tenant_id=survivor.tenant_id,
                kind="message",
                ref_id=message.id,
                title=survivor.subject,
                body=message.body_text,
                conversation_id=survivor.id,
                contact_id=survivor.contact_id,
            ),
        )
    survivor.message_count += len(moved)
    merged.message_count = 0
    survivor.last_activity_at = max(survivor.last_activity_at, merged.last_activity_at)
    await _set_tags(session, actor, survivor, [*survivor.tags, *merged.tags])
    merged.merged_into_id = survivor.id
    previous = merged.status
    merged.status = Status.closed
    _timeline(session, survivor, actor, "merged", number=merged.number, messages=len(moved))
    _timeline(session, merged, actor, "merged_into", number=survivor.number, old_status=previous.value)
    await index_for(session).delete(session, "conversation", merged.id)
    await _reindex(session, survivor)
    on_commit(
        session, Event("conversation.merged", actor.tenant_id, {**_summary(survivor), "merged_id": merged.id})
    )
    return survivor


async def move_contact(
    *, session: AsyncSession, actor: Actor, from_contact_id: int, to_contact_id: int
) -> int:
    """Contact merge: the merged contact's conversations now belong to the survivor."""
    rows = list(
        await session.scalars(
            select(Conversation).where(
                Conversation.tenant_id == actor.tenant_id, Conversation.contact_id == from_contact_id
            )
        )
    )
    for conversation in rows:
        conversation.contact_id = to_contact_id
        _timeline(session, conversation, actor, "contact_moved", old=from_contact_id, new=to_contact_id)
        await _reindex(session, conversation)
    for message in await session.scalars(select(Message).where(Message.author_contact_id == from_contact_id)):
        message.author_contact_id = to_contact_id
    return len(rows)


async def _reindex(session: AsyncSession, conversation: Conversation, *, fresh: bool = False) -> None:
    await index_for(session).upsert(
        session,
        SearchDocument(
            tenant_id=conversation.tenant_id,
            kind="conversation",
            ref_id=conversation.id,
            title=f"#{conversation.number} {conversation.subject}",
            body=" ".join(conversation.tags),
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
        ),
        fresh=fresh,
    )


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResults:
    conversations: list[tuple[Conversation, SearchHit]]
    contacts: list[tuple[Any, SearchHit]]


async def search(*, session: AsyncSession, actor: Actor, query: str, limit: int = 20) -> SearchResults:
    """Conversations (by subject, tags or any message) and contacts matching every word."""
    if len(query) > 500:
        raise Invalid("the search is longer than 500 characters", field="q")
    limit = max(1, min(limit, 100))
    index = index_for(session)
    hits = await index.search(session, actor.tenant_id, query, ("conversation", "message"), limit * 3)
    seen: dict[int, SearchHit] = {}
    for hit in hits:
        if hit.conversation_id is not None and hit.conversation_id not in seen:
            seen[hit.conversation_id] = hit
    ids = list(seen)[:limit]
    by_id = (
        {
            c.id: c
            for c in await session.scalars(
                select(Conversation).where(
                    Conversation.id.in_(ids), Conversation.tenant_id == actor.tenant_id
                )
            )
        }
        if ids
        else {}
    )
    conversation_hits = [(by_id[i], seen[i]) for i in ids if i in by_id]
    contact_hits = await index.search(session, actor.tenant_id, query, ("contact",), limit)
    contact_ids = [h.ref_id for h in contact_hits]
    contacts_by_id = (
        {
            c.id: c
            for c in await session.scalars(
                select(Contact).where(Contact.id.in_(contact_ids), Contact.tenant_id == actor.tenant_id)
            )
        }
        if contact_ids
        else {}
    )
    return SearchResults(
        conversations=conversation_hits,
        contacts=[(contacts_by_id[h.ref_id], h) for h in contact_hits if h.ref_id in contacts_by_id],
    )
