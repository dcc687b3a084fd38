"""Live chat: the only writer of ``chat_channels``, ``chat_sessions`` and ``chat_messages``.

Admins create, change and delete a tenant's chat channels; another tenant's id is "not found".
Every value is checked here, naming the field, so the API and the page refuse the same things.
Every channel write is audit-logged and queues ``chat.channels_changed``
(``{"what": "created" | "updated" | "deleted", "channel_id": 7}``), published after the commit.

Visitors have no user: the widget's calls act as the tenant's system actor, within the channel's
tenant, on the one session their token names. A visitor message is stored as a conversation
message on channel "chat" (``recipient`` = the channel's public key, so routing rules on "mailbox"
can pick a queue per website) plus its numbered ``chat_messages`` row. Agent replies get their row
from the outbound adapter below, inside the reply's transaction.

**Sequence numbers.** ``seq`` is 1, 2, 3… per conversation (``UNIQUE (conversation_id, seq)``).
Every writer first locks the conversation's chat session row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE`` and so already one at a time), then takes
``max(seq) + 1``: two writers of one conversation never read the same maximum.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, Update, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.models import Team, Tenant, User
from helpline.accounts.service import Actor, audit, require_admin
from helpline.channels.chat import hours, invitations, uploads
from helpline.channels.chat.models import ChatChannel, ChatMessage, ChatSession
from helpline.channels.outbound import outbound_adapter
from helpline.contacts import service as contacts
from helpline.conversations import service as conversations
from helpline.conversations.models import Attachment, Conversation, Direction, Message, Status
from helpline.db import utcnow
from helpline.errors import Invalid, NotFound
from helpline.events import Event, on_commit
from helpline.validation import CONTROL, TEXT_CONTROL
from helpline.validation import one_line as _line
from helpline.validation import text_value as _string
from helpline.web.i18n import gettext_for

CHANNELS_CHANGED = "chat.channels_changed"
CHAT_MESSAGE = "chat.message"  # a message entered the chat log (see _announce)
MAX_NAME = 120
MAX_TEXT = 2000  # greeting, offline message
MAX_ORIGINS = 50
MAX_MESSAGE = 5000  # characters of one visitor message
MAX_CLIENT_ID = 64
MAX_PAGES = 20  # pages visited kept per session
MAX_URL = 1000
MAX_TITLE = 200
POSITIONS = ("right", "left")
WIDGET_LANGUAGES = ("auto", *accounts.LANGUAGES)
PRECHAT_FIELDS = ("name", "email")
PRECHAT_MODES = ("off", "optional", "required")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$|^\[[0-9a-f:.]{2,45}\]$")

DEFAULTS: dict[str, Any] = {
    "allowed_origins": [],
    "team_id": None,
    "colour": "#2563eb",
    "position": "right",
    "greeting": "",
    "prechat": {"name": "optional", "email": "optional"},
    "offline_message": "",
    "language": "auto",
    "is_active": True,
    "time_zone": "UTC",  # a new channel takes the company's (create_channel)
    "opening_hours": {},
    "holidays": [],
    "hours_message": "",
    "invitations": [],
}
FIELDS = ("name", *DEFAULTS)


def _name(value: object) -> str:
    name = _line(value, "name", MAX_NAME)
    if not name:
        raise Invalid("enter a name for the chat channel", field="name")
    return name


def _text(value: object, name: str) -> str:
    text = _string(value, name).replace("\r\n", "\n").replace("\r", "\n").strip()
    if TEXT_CONTROL.search(text):
        raise Invalid("must be plain text, without control characters", field=name)
    if len(text) > MAX_TEXT:
        raise Invalid("is too long (at most %(limit)s characters)", field=name, limit=MAX_TEXT)
    return text


def normalise_origin(value: object) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower-case, no default port, no path)."""
    text = _string(value, "allowed_origins").strip().rstrip("/")
    bad = Invalid("each origin must look like https://www.example.com (scheme, host, optional port)",
                  field="allowed_origins")
    if not text or CONTROL.search(text) or " " in text:
        raise bad
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or parts.path or parts.query or parts.fragment:
        raise bad
    if parts.username is not None or parts.password is not None:
        raise bad
    host = (parts.hostname or "").lower()
    if parts.netloc.startswith("[") and host:
        host = f"[{host}]"
    if not HOST.match(host):
        raise bad
    try:
        port = parts.port
    except ValueError:
        raise bad from None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _origins(value: object) -> list[str]:
    if isinstance(value, str):  # the form: one origin per line
        value = [line for line in value.splitlines() if line.strip()]
    if not isinstance(value, list):
        raise Invalid("must be a list of origins", field="allowed_origins")
    if len(value) > MAX_ORIGINS:
        raise Invalid("at most %(limit)s origins", field="allowed_origins", limit=MAX_ORIGINS)
    origins: list[str] = []
    for item in value:
        origin = normalise_origin(item)
        if origin not in origins:
            origins.append(origin)
    return origins


def _colour(value: object) -> str:
    colour = _string(value, "colour").strip()
    if not COLOUR.match(colour):
        raise Invalid("must be a colour like #1a2b3c", field="colour")
    return colour.lower()


def _choice(value: object, name: str, choices: Sequence[str]) -> str:
    text = _string(value, name).strip().lower()
    if text not in choices:
        raise Invalid("must be one of %(choices)s", field=name, choices=", ".join(choices))
    return text


def _prechat(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid("must name the fields asked before a chat", field="prechat")
    unknown = sorted(set(value) - set(PRECHAT_FIELDS))
    if unknown:
        raise Invalid("unknown field", field=f"prechat.{unknown[0]}")
    return {name: _choice(value.get(name, "off"), f"prechat.{name}", PRECHAT_MODES) for name in PRECHAT_FIELDS}


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false", field=name)
    return value


_CHECKS: dict[str, Callable[[object], Any]] = {
    "name": _name,
    "allowed_origins": _origins,
    "colour": _colour,
    "position": lambda v: _choice(v, "position", POSITIONS),
    "greeting": lambda v: _text(v, "greeting"),
    "prechat": _prechat,
    "offline_message": lambda v: _text(v, "offline_message"),
    "language": lambda v: _choice(v, "language", WIDGET_LANGUAGES),
    "is_active": lambda v: _flag(v, "is_active"),
    "time_zone": hours.check_time_zone,
    "opening_hours": hours.check_opening_hours,
    "holidays": hours.check_holidays,
    "hours_message": lambda v: _text(v, "hours_message"),
    "invitations": invitations.check_invitations,
}


async def _team(session: AsyncSession, actor: Actor, value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be a team id", field="team_id")
    team = await session.get(Team, value)
    if team is None or team.tenant_id != actor.tenant_id:
        raise Invalid("no such team", field="team_id")
    return value


async def _apply(session: AsyncSession, actor: Actor, channel: ChatChannel, values: Mapping[str, Any]) -> list[str]:
    """Checks and sets the values given; returns the names of the fields that changed."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise Invalid("unknown field", field=unknown[0])
    changed: list[str] = []
    with session.no_autoflush:  # a refused value must never reach the database half-set
        for name in FIELDS:
            if name not in values:
                continue
            value = await _team(session, actor, values[name]) if name == "team_id" else _CHECKS[name](values[name])
            if getattr(channel, name) != value:
                setattr(channel, name, value)
                changed.append(name)
    return changed


def _changed(session: AsyncSession, actor: Actor, what: str, channel_id: int) -> None:
    on_commit(session, Event(CHANNELS_CHANGED, actor.tenant_id, {"what": what, "channel_id": channel_id}))


# --- admin: reading and writing channels -------------------------------------------------------


async def list_channels(*, session: AsyncSession, actor: Actor) -> list[ChatChannel]:
    require_admin(actor)
    query = select(ChatChannel).where(ChatChannel.tenant_id == actor.tenant_id).order_by(ChatChannel.name)
    return list(await session.scalars(query))


async def get_channel(*, session: AsyncSession, actor: Actor, channel_id: int) -> ChatChannel:
    require_admin(actor)
    channel = await session.get(ChatChannel, channel_id)
    if channel is None or channel.tenant_id != actor.tenant_id:
        raise NotFound("chat channel not found", field="channel_id")
    return channel


async def create_channel(*, session: AsyncSession, actor: Actor, values: Mapping[str, Any]) -> ChatChannel:
    require_admin(actor)
    if "name" not in values:
        raise Invalid("enter a name for the chat channel", field="name")
    channel = ChatChannel(tenant_id=actor.tenant_id, public_key=secrets.token_urlsafe(18), **DEFAULTS)
    channel.allowed_origins, channel.prechat = [], dict(DEFAULTS["prechat"])
    channel.opening_hours, channel.holidays, channel.invitations = {}, [], []
    tenant = await session.get(Tenant, actor.tenant_id)
    channel.time_zone = tenant.time_zone if tenant is not None and tenant.time_zone else "UTC"
    await _apply(session, actor, channel, values)
    session.add(channel)
    await session.flush()
    audit(session, actor, "chat_channel.created", f"chat_channel:{channel.id}", {"name": channel.name})
    _changed(session, actor, "created", channel.id)
    return channel


async def update_channel(
    *, session: AsyncSession, actor: Actor, channel_id: int, changes: Mapping[str, Any]
) -> ChatChannel:
    channel = await get_channel(session=session, actor=actor, channel_id=channel_id)
    changed = await _apply(session, actor, channel, changes)
    if not changed:
        return channel
    channel.updated_at = utcnow()
    await session.flush()
    audit(session, actor, "chat_channel.updated", f"chat_channel:{channel.id}", {"changed": changed})
    _changed(session, actor, "updated", channel.id)
    return channel


async def delete_channel(*, session: AsyncSession, actor: Actor, channel_id: int) -> None:
    """Its conversations stay; its visitor sessions go (their tokens stop working)."""
    channel = await get_channel(session=session, actor=actor, channel_id=channel_id)
    name = channel.name
    await session.delete(channel)
    await session.flush()
    audit(session, actor, "chat_channel.deleted", f"chat_channel:{channel_id}", {"name": name})
    _changed(session, actor, "deleted", channel_id)


def snippet(base_url: str, channel: ChatChannel) -> str:
    """The one line an admin pastes into the website."""
    return f'<script src="{base_url.rstrip("/")}/widget.js" data-channel="{channel.public_key}" async></script>'


# --- visitors ----------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def channel_by_key(session: AsyncSession, public_key: str) -> ChatChannel | None:
    """The channel a widget names (any tenant); None for an unknown or malformed key."""
    if not isinstance(public_key, str) or not 8 <= len(public_key) <= 32:
        return None
    return await session.scalar(select(ChatChannel).where(ChatChannel.public_key == public_key))


def origin_allowed(channel: ChatChannel, origin: str | None) -> bool:
    if not origin or not channel.is_active:
        return False
    try:
        return normalise_origin(origin) in channel.allowed_origins
    except Invalid:
        return False


async def start_session(
    *, session: AsyncSession, channel: ChatChannel, user_agent: str = "", ip: str = ""
) -> tuple[ChatSession, str]:
    """A new visitor: the token is returned once and only its hash is stored."""
    token = secrets.token_urlsafe(32)  # 256 bits
    row = ChatSession(
        tenant_id=channel.tenant_id,
        channel_id=channel.id,
        token_hash=token_hash(token),
        pages=[],
        user_agent=user_agent[:500],
        ip=ip[:64],
    )
    session.add(row)
    await session.flush()
    return row, token


async def session_for_token(
    session: AsyncSession, channel: ChatChannel, token: object, *, lock: bool = False
) -> ChatSession | None:
    """The visitor session a token opens, only within this channel (a token never crosses channels)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    query = select(ChatSession).where(
        ChatSession.token_hash == token_hash(token), ChatSession.channel_id == channel.id
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


def clean_page(page: object) -> dict[str, str] | None:
    """A page the widget reports: an http(s) URL and a title, cut to size; None if unusable."""
    if not isinstance(page, Mapping):
        return None
    url, title = page.get("url"), page.get("title", "")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")) or CONTROL.search(url):
        return None
    title = title if isinstance(title, str) else ""
    return {"url": url[:MAX_URL], "title": CONTROL.sub(" ", title)[:MAX_TITLE], "at": utcnow().isoformat()}


def note_page(chat: ChatSession, page: object) -> bool:
    """Remember the visitor's current page (the last ``MAX_PAGES``); False when nothing changed."""
    cleaned = clean_page(page)
    if cleaned is None:
        return False
    pages = list(chat.pages or [])
    if pages and pages[-1].get("url") == cleaned["url"]:
        return False
    chat.pages = [*pages, cleaned][-MAX_PAGES:]
    return True


def note_hello(chat: ChatSession, *, page: object, language: object, time_zone: object, ip: str,
               user_agent: str) -> None:
    note_page(chat, page)
    if isinstance(language, str) and len(language) <= 16 and not CONTROL.search(language):
        chat.language = language
    if isinstance(time_zone, str) and len(time_zone) <= 64 and not CONTROL.search(time_zone):
        chat.time_zone = time_zone
    chat.ip = ip[:64]
    if user_agent:
        chat.user_agent = user_agent[:500]
    chat.last_seen_at = utcnow()


def _visitor_name(name: object) -> str:
    return _line(name, "name", 200)


async def identify(*, session: AsyncSession, chat: ChatSession, name: object, email: object) -> None:
    """Link the session (and its conversation's contact, from now on) to the CRM contact of this email."""
    actor = Actor.system(chat.tenant_id)
    visitor_name = _visitor_name(name)
    address = accounts.normalise_email(_string(email, "email")) if email else ""
    chat.name = visitor_name or chat.name
    if address:
        contact = await conversations.resolve_contact(
            session=session, actor=actor,
            details=conversations.ContactDetails(email=address, name=visitor_name),
        )
        anonymous = chat.contact_id if not chat.email else None  # the contact made for this visitor
        if anonymous is not None and anonymous != contact.id:
            # The chat so far joins the CRM record (and its history) of the address given.
            await conversations.move_contact(
                session=session, actor=actor, from_contact_id=anonymous, to_contact_id=contact.id
            )
        chat.email, chat.contact_id = address, contact.id
    chat.last_seen_at = utcnow()


async def _visitor_contact(session: AsyncSession, chat: ChatSession, language: str | None) -> int:
    if chat.contact_id is not None:
        return chat.contact_id
    contact = await contacts.create_contact(
        session=session, actor=Actor.system(chat.tenant_id), name=chat.name or await _nameless(session, chat),
        language=language,
    )
    chat.contact_id = contact.id
    return contact.id


async def _nameless(session: AsyncSession, chat: ChatSession) -> str:
    """A visitor who gave no name is "Chat visitor" in the company's language (the agents read it)."""
    tenant = await session.get(Tenant, chat.tenant_id)
    return gettext_for(tenant.default_language if tenant is not None else "en").gettext("Chat visitor")


async def next_seq(session: AsyncSession, conversation_id: int) -> int:
    """The conversation's next number; the caller holds the chat session's row lock."""
    last = await session.scalar(
        select(func.max(ChatMessage.seq)).where(ChatMessage.conversation_id == conversation_id)
    )
    return int(last or 0) + 1


def _language(chat: ChatSession) -> str | None:
    code = (chat.language or "").split("-", 1)[0].lower()
    return code if code in accounts.LANGUAGES else None


async def visitor_message(
    *, session: AsyncSession, channel: ChatChannel, chat: ChatSession, client_id: object, text: object,
    attachment_ids: object = None,
) -> tuple[ChatMessage, bool]:
    """Store a visitor's message once per ``client_id``: (its row, True if stored now).

    ``attachment_ids`` are the visitor's pending uploads (``uploads.claim``); a message may be files only.
    ``chat`` must have been loaded with ``lock=True`` in this transaction: the lock orders this
    conversation's writers (see the module's docstring).
    """
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID or CONTROL.search(client_id):
        raise Invalid("must be text of 1 to %(limit)s characters", field="client_id", limit=MAX_CLIENT_ID)
    existing = await session.scalar(
        select(ChatMessage).where(ChatMessage.session_id == chat.id, ChatMessage.client_id == client_id)
    )
    if existing is not None:
        return existing, False
    body = _string(text, "text").strip()
    if len(body) > MAX_MESSAGE:
        raise Invalid("is too long (at most %(limit)s characters)", field="text", limit=MAX_MESSAGE)
    files = await uploads.claim(session, chat, attachment_ids)
    if not body and not files:
        raise Invalid("write a message", field="text")
    actor = Actor.system(chat.tenant_id)
    new = conversations.NewMessage(body_text=body, attachments=files)
    conversation_id = chat.conversation_id
    if conversation_id is not None and await session.get(Conversation, conversation_id) is None:
        conversation_id = None
    if conversation_id is None:
        contact_id = await _visitor_contact(session, chat, _language(chat))
        conversation = await conversations.start_conversation(
            session=session, actor=actor, contact=contact_id, channel="chat",
            subject=_subject(body or ", ".join(f.filename for f in files)), message=new, team_id=channel.team_id,
            recipient=channel.public_key,
            language=_language(chat),
        )
        chat.conversation_id = conversation_id = conversation.id
        message = conversations.messages_in_session(session, conversation.id)[-1]
    else:
        message = await conversations.add_message(
            session=session, actor=actor, conversation_id=conversation_id, direction=Direction.inbound, message=new,
        )
        conversation_id = message.conversation_id  # a merged conversation continues in the survivor
        chat.conversation_id = conversation_id
    row = ChatMessage(
        tenant_id=chat.tenant_id, conversation_id=conversation_id, session_id=chat.id,
        seq=await next_seq(session, conversation_id), message_id=message.id, client_id=client_id, kind="visitor",
    )
    session.add(row)
    chat.last_seen_at = utcnow()
    await session.flush()
    _announce(session, row, message, name="", files=bool(files))
    return row, True


async def end_chat(*, session: AsyncSession, tenant_id: int, conversation_id: int) -> None:
    """The visitor ended the chat: an open conversation becomes solved (a new message reopens it)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.tenant_id != tenant_id or conversation.status in (
        Status.solved, Status.closed
    ):
        return
    await conversations.update_conversation(
        session=session, actor=Actor.system(tenant_id), conversation_id=conversation_id,
        changes={"status": Status.solved.value},
    )


def _subject(body: str) -> str:
    first = " ".join(body.split())
    return first if len(first) <= 80 else first[:79] + "…"


@outbound_adapter("chat")
async def record_agent_reply(
    session: AsyncSession, conversation: Conversation, message: Message, new: conversations.NewMessage
) -> None:
    """An agent's reply on a chat gets the conversation's next number in the reply's own transaction.

    The visitor sockets hear ``chat.message`` after the commit (see ``_announce``).
    """
    # Lock order is chat session, then conversation, as for visitor messages: the conversation's
    # pending UPDATE (its counters) must not be flushed before this lock, or the two could deadlock.
    with session.no_autoflush:
        chat = await session.scalar(
            select(ChatSession).where(ChatSession.conversation_id == conversation.id).limit(1).with_for_update()
        )
    row = ChatMessage(
        tenant_id=conversation.tenant_id, conversation_id=conversation.id,
        session_id=chat.id if chat is not None else None,
        seq=await next_seq(session, conversation.id), message_id=message.id, kind="agent",
    )
    session.add(row)
    await session.flush()
    _announce(session, row, message, name=new.author_name, files=bool(new.attachments))


def _announce(session: AsyncSession, row: ChatMessage, message: Message, *, name: str, files: bool) -> None:
    """``chat.message`` after the commit, with the frame itself when it needs nothing per socket (no
    file links): a socket that is up to date sends it as is, without reading the log back."""
    frame = None if files else VisibleMessage(
        row.seq, row.message_id, row.kind, name, message.body_text or "", message.body_html or "", row.created_at,
        row.client_id,
    ).frame()
    on_commit(session, Event(CHAT_MESSAGE, row.tenant_id,
                             {"conversation_id": row.conversation_id, "seq": row.seq, "frame": frame}))


async def offline_message(
    *, session: AsyncSession, channel: ChatChannel, chat: ChatSession | None, name: object, email: object,
    text: object,
) -> Conversation:
    """Leave a message: a conversation on the email channel, so the answer goes out by email."""
    visitor_name = _visitor_name(name)
    if not email:
        raise Invalid("enter your email address", field="email")
    address = accounts.normalise_email(_string(email, "email"))
    body = _string(text, "message").strip()
    if not body:
        raise Invalid("write a message", field="message")
    if len(body) > MAX_MESSAGE:
        raise Invalid("is too long (at most %(limit)s characters)", field="message", limit=MAX_MESSAGE)
    language = _language(chat) if chat is not None else None
    conversation = await conversations.start_conversation(
        session=session, actor=Actor.system(channel.tenant_id),
        contact=conversations.ContactDetails(email=address, name=visitor_name, language=language),
        channel="email", subject=_subject(body), message=conversations.NewMessage(body_text=body),
        team_id=channel.team_id, language=language,
    )
    if chat is not None:
        chat.contact_id, chat.email = conversation.contact_id, address
        chat.name = visitor_name or chat.name
    return conversation


# --- what the visitor sees -----------------------------------------------------------------------


@dataclass(frozen=True)
class VisibleFile:
    """An attachment of a message the visitor may see."""

    attachment_id: int
    name: str
    size: int
    content_type: str


FileUrl = Callable[[int], str]  # attachment id -> the widget's link (``uploads.file_url``)


@dataclass(frozen=True)
class VisibleMessage:
    seq: int
    message_id: int | None
    kind: str
    name: str
    text: str
    html: str
    at: datetime
    client_id: str | None
    files: tuple[VisibleFile, ...] = ()

    def frame(self, file_url: FileUrl | None = None) -> dict[str, Any]:
        """The ``message`` frame; without ``file_url`` the attachments carry no link."""
        attachments = [
            {"name": f.name, "url": file_url(f.attachment_id) if file_url else "", "size": f.size,
             "content_type": f.content_type}
            for f in self.files
        ]
        return {
            "type": "message", "seq": self.seq, "id": self.message_id,
            "author": {"kind": self.kind, "name": self.name}, "text": self.text, "html": self.html,
            "attachments": attachments, "at": self.at.isoformat(), "client_id": self.client_id,
        }


async def messages_after(
    session: AsyncSession, *, tenant_id: int, conversation_id: int, after: int, limit: int = 500
) -> list[VisibleMessage]:
    """The chat log after ``after``, in order: one query (agent names and attachments joined in).

    ``limit`` counts messages, not attachments: the log's rows are cut first, then joined, so a
    message never arrives with only some of its files.
    """
    log = (
        select(ChatMessage.seq, ChatMessage.message_id, ChatMessage.kind, ChatMessage.client_id,
               ChatMessage.created_at)
        .where(ChatMessage.tenant_id == tenant_id, ChatMessage.conversation_id == conversation_id,
               ChatMessage.seq > after)
        .order_by(ChatMessage.seq)
        .limit(limit)
        .subquery()
    )
    query = (
        select(log.c.seq, log.c.message_id, log.c.kind, log.c.client_id, log.c.created_at, Message.body_text,
               Message.body_html, User.name, Attachment.id, Attachment.filename, Attachment.size,
               Attachment.content_type)
        .select_from(log)
        .outerjoin(Message, Message.id == log.c.message_id)
        .outerjoin(User, User.id == Message.author_user_id)
        .outerjoin(Attachment, Attachment.message_id == log.c.message_id)
        .order_by(log.c.seq, Attachment.id)
    )
    visible: list[VisibleMessage] = []
    for (seq, message_id, kind, client_id, created, body, html, agent, file_id, filename, size,
         content_type) in (await session.execute(query)).all():
        file = () if file_id is None else (VisibleFile(file_id, filename, size, content_type),)
        if visible and visible[-1].seq == seq:
            last = visible[-1]
            visible[-1] = replace(last, files=last.files + file)
            continue
        visible.append(VisibleMessage(seq, message_id, kind, (agent or "") if kind == "agent" else "",
                                      body or "", html or "", created, client_id, file))
    return visible


async def agent_name(session: AsyncSession, tenant_id: int, user_id: int | None) -> str:
    if user_id is None:
        return ""
    user = await session.get(User, user_id)
    return user.name if user is not None and user.tenant_id == tenant_id else ""


@dataclass(frozen=True)
class VisitorPanel:
    """What the agent sees of a chat's visitor next to the conversation."""

    current_page: dict[str, str] | None
    pages: list[dict[str, str]]
    browser: str
    language: str
    time_zone: str
    ip: str
    name: str
    email: str


async def visitor_panel(session: AsyncSession, *, tenant_id: int, conversation_id: int) -> VisitorPanel | None:
    """One query: the chat session behind a conversation; None for other channels."""
    chat = await session.scalar(
        select(ChatSession)
        .where(ChatSession.tenant_id == tenant_id, ChatSession.conversation_id == conversation_id)
        .order_by(ChatSession.last_seen_at.desc())
        .limit(1)
    )
    if chat is None:
        return None
    pages = list(chat.pages or [])
    return VisitorPanel(
        current_page=pages[-1] if pages else None, pages=list(reversed(pages)), browser=browser_of(chat.user_agent),
        language=chat.language, time_zone=chat.time_zone, ip=chat.ip, name=chat.name, email=chat.email,
    )


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))


def browser_of(user_agent: str) -> str:
    """"Firefox 120 on Linux" from a User-Agent string; no outside service, no database of agents."""
    browser = next(((name, token) for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    if browser is None:
        return user_agent[:60]
    name, token = browser
    version = user_agent.split(token, 1)[1].split(" ", 1)[0].split(".", 1)[0]
    label = f"{name} {version}".strip() if version.isdigit() else name
    return f"{label} ({system})" if system else label


async def visitor_panel_for(session: AsyncSession, conversation: Conversation) -> VisitorPanel | None:
    """For the conversation page: the chat visitor's panel, or None (no query) for other channels."""
    if conversation.channel != "chat":
        return None
    return await visitor_panel(session, tenant_id=conversation.tenant_id, conversation_id=conversation.id)


# --- read receipts, kept (receipts.py holds them in memory and tells the other processes) -------

_SESSIONS = cast(Table, ChatSession.__table__)


def _raising(seq: str, **also: Any) -> Update:
    """An UPDATE of a conversation's chat sessions that only ever raises their ``seq`` mark."""
    sessions = _SESSIONS.c
    return (
        update(_SESSIONS)
        .where(
            sessions.tenant_id == bindparam("b_tenant"),
            sessions.conversation_id == bindparam("b_conversation"),
            sessions[seq] < bindparam("b_seq"),
        )
        .values({seq: bindparam("b_seq"), **also})
    )


_AGENT_READ = _raising("agent_read_seq")
_VISITOR_READ = _raising("visitor_read_seq", visitor_read_message_id=bindparam("b_message"))


async def save_read_marks(
    session: AsyncSession,
    *,
    agent: Sequence[tuple[int, int, int]] = (),
    visitor: Sequence[tuple[int, int, int, int]] = (),
) -> None:
    """Keep read marks: agent (tenant, conversation, seq), visitor (tenant, conversation, seq,
    message id). A mark only ever moves forward; it was published on the bus already."""
    if agent:
        await session.execute(
            _AGENT_READ, [{"b_tenant": t, "b_conversation": c, "b_seq": s} for t, c, s in agent]
        )
    if visitor:
        await session.execute(
            _VISITOR_READ,
            [{"b_tenant": t, "b_conversation": c, "b_seq": s, "b_message": m} for t, c, s, m in visitor],
        )


async def read_marks(
    session: AsyncSession, *, tenant_id: int, conversation_id: int
) -> tuple[int, tuple[int, int] | None]:
    """The kept marks of a conversation: the agents' seq, and the visitor's (seq, message id) if any."""
    rows = (
        await session.execute(
            select(ChatSession.agent_read_seq, ChatSession.visitor_read_seq, ChatSession.visitor_read_message_id)
            .where(ChatSession.tenant_id == tenant_id, ChatSession.conversation_id == conversation_id)
        )
    ).all()
    agent = max((int(r[0] or 0) for r in rows), default=0)
    seen = max(((int(r[1]), int(r[2])) for r in rows if r[1] and r[2] is not None), default=None)
    return agent, seen
