"""The end of a chat: the visitor's satisfaction rating, and the transcript by email.

Both act as the tenant's system actor on the visitor session's current conversation (a merged one
continues in the conversation it was merged into). The rating is the conversation core's
(``conversations.rate_conversation``: 1-5 and a comment; a new one replaces the last). The
transcript is written here from the chat log, which holds only what the visitor saw (internal notes
never get a row), in the visitor's language and time zone, and goes out through the email outbox
from the mailbox of the channel's team, else the tenant's first (``sending.sending_mailbox``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import Actor
from helpline.channels.chat import service
from helpline.channels.chat.models import ChatChannel, ChatSession
from helpline.channels.email import sending
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation
from helpline.db import utcnow
from helpline.errors import Conflict, Invalid, TooManyRequests
from helpline.validation import text_value
from helpline.web.i18n import LANGUAGES, gettext_for

TRANSCRIPT_EVENT = "chat_transcript"  # the timeline entry of a transcript sent
MAX_TRANSCRIPTS = 3  # per conversation within TRANSCRIPT_WINDOW: a visitor's socket cannot mail-bomb anyone
TRANSCRIPT_WINDOW = timedelta(hours=1)
PAGE = 500  # chat log rows per query


async def _current_conversation(session: AsyncSession, chat: ChatSession) -> Conversation:
    if chat.conversation_id is None:
        raise Invalid("there is no chat yet", field="conversation")
    actor = Actor.system(chat.tenant_id)
    conversation = await conversations.get_conversation(
        session=session, actor=actor, conversation_id=chat.conversation_id
    )
    if conversation.merged_into_id is not None:
        conversation = await conversations.get_conversation(
            session=session, actor=actor, conversation_id=conversation.merged_into_id
        )
    return conversation


async def rate(*, session: AsyncSession, chat: ChatSession, score: object, comment: object) -> Conversation:
    """The visitor rates their chat: 1-5 and an optional comment (``invalid`` names ``score`` or ``comment``)."""
    conversation = await _current_conversation(session, chat)
    return await conversations.rate_conversation(
        session=session, actor=Actor.system(chat.tenant_id), conversation_id=conversation.id,
        score=score, comment=comment,
    )


async def send_transcript(
    *, session: AsyncSession, channel: ChatChannel, chat: ChatSession, email: object
) -> str:
    """Queue the chat's transcript to ``email``; the address it goes to.

    Raises ``Invalid`` (field ``email`` or ``conversation``), ``TooManyRequests`` (over the hourly
    limit) or ``Conflict`` (field ``mailbox``: the tenant has no mailbox that can send).
    """
    address = sending.clean_address(text_value(email, "email"), "email")
    conversation = await _current_conversation(session, chat)
    actor = Actor.system(chat.tenant_id)
    since = utcnow() - TRANSCRIPT_WINDOW
    sent = [e for e in await conversations.timeline_of(session=session, actor=actor, conversation_id=conversation.id)
            if e.kind == TRANSCRIPT_EVENT and e.created_at >= since]
    if len(sent) >= MAX_TRANSCRIPTS:
        raise TooManyRequests("at most %(limit)s transcripts an hour; try again later", field="email",
                              limit=MAX_TRANSCRIPTS)
    mailbox = await sending.sending_mailbox(session, chat.tenant_id, channel.team_id)
    if mailbox is None:
        raise Conflict("transcripts by email are not available: no mailbox is set up to send from",
                       field="mailbox")
    language = _language(chat, conversation)
    _ = gettext_for(language).gettext
    log = await _chat_log(session, conversation)
    sending.queue_chat_transcript(
        session, mailbox=mailbox, conversation=conversation, to=address, language=language,
        subject=_("Your chat transcript [#%(number)s]") % {"number": conversation.number},
        text=transcript_text(log, language=language, zone=_zone(chat), channel_name=channel.name,
                             number=conversation.number),
    )
    await conversations.record_timeline(
        session=session, actor=actor, conversation_id=conversation.id, kind=TRANSCRIPT_EVENT, to=address
    )
    return address


def _language(chat: ChatSession, conversation: Conversation) -> str:
    """The widget's language (it says so in ``hello``), else the conversation's, else English."""
    for code in ((chat.language or "").split("-", 1)[0].lower(), conversation.language or ""):
        if code in LANGUAGES:
            return code
    return "en"


def _zone(chat: ChatSession) -> ZoneInfo:
    try:
        return ZoneInfo(chat.time_zone) if chat.time_zone else ZoneInfo("UTC")
    except (ValueError, KeyError):  # an unknown or malformed zone from the browser
        return ZoneInfo("UTC")


async def _chat_log(session: AsyncSession, conversation: Conversation) -> list[service.VisibleMessage]:
    log: list[service.VisibleMessage] = []
    while True:
        page = await service.messages_after(
            session, tenant_id=conversation.tenant_id, conversation_id=conversation.id,
            after=log[-1].seq if log else 0, limit=PAGE,
        )
        log.extend(page)
        if len(page) < PAGE:
            return log


def _when(at: datetime, zone: ZoneInfo, language: str) -> str:
    return format_datetime(at.astimezone(zone), format="short", locale=language)


def transcript_text(
    log: list[service.VisibleMessage], *, language: str, zone: ZoneInfo, channel_name: str, number: int
) -> str:
    """Plain text, one block per message: who and when, then what they wrote (the email adds an HTML copy)."""
    _ = gettext_for(language).gettext
    blocks = [_("The transcript of your chat with %(name)s.") % {"name": channel_name}]
    for row in log:
        who = {"visitor": _("You"), "agent": row.name or _("Support")}.get(row.kind, channel_name)
        blocks.append(f"{who} · {_when(row.at, zone, language)}\n{row.text.strip()}")
    blocks.append(_("Your reference number is [#%(number)s]. To write to us about this chat, answer this email.")
                  % {"number": number})
    return "\n\n".join(blocks)
