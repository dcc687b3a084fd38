"""How an email shows in the agent workspace: header line, safe body, collapsed history.

The thread asks for every message's email side in **one** query (``email_views``) and gets a
ready-to-render ``EmailView`` per email message:

- From / To / Cc in one compact line;
- the sanitised HTML (nh3, at intake) with **remote images blocked**: every ``<img>`` whose
  source is not our own origin becomes a placeholder until the agent asks for them (a tracking
  pixel tells the sender when and where the mail was read). Inline ``cid:`` images were
  rewritten by the intake to ``/attachments/<id>``: same origin, so they always show;
- plain-text mail as text;
- quoted history and signature (``strip_quoted``) split off, for a collapsed "Show full text";
- parser defects that mean real damage, for a discreet notice;
- whether the raw ``.eml`` can be downloaded.

The conversation page relaxes its Content-Security-Policy for images (``EMAIL_PAGE_CSP``) so
that "Show remote images" can work at all; what keeps remote images out by default is the
rewrite here, done on every view.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import Actor
from helpline.channels.email.models import EmailKind, EmailMessage
from helpline.channels.email.parsing import strip_quoted
from helpline.conversations import service as conversations
from helpline.conversations.models import Message
from helpline.errors import NotFound
from helpline.html import sanitise_html

# Remote images are held back by the rewrite below, not by the browser: the page must allow them.
EMAIL_IMG_SRC = "img-src 'self' data: http: https:"

# Defects that do not make a mail "damaged" in the reader's eyes (a missing Date is common).
_COSMETIC = ("missing Date header", "unparseable Date header", "missing Message-ID header")
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""\b(src|alt|width|height)\s*=\s*"([^"]*)\"""", re.IGNORECASE)
_TOKEN = re.compile(r"<[^>]*>|[^<]+")
_VOID = {"br", "img", "hr", "wbr"}
_MIN_MARKER = 6  # characters of the quote header needed to find it in the HTML


@dataclass(frozen=True)
class EmailView:
    message_id: int
    conversation_id: int
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    html: Markup = field(default_factory=Markup)
    quoted_html: Markup = field(default_factory=Markup)
    text: str = ""
    quoted_text: str = ""
    blocked_images: int = 0
    images_allowed: bool = False
    damaged: bool = False
    defects: tuple[str, ...] = field(default=())
    has_raw: bool = False
    send_error: str = ""  # outbound: the relay's answer when it refused the mail
    automatic: bool = False  # Helpline's auto-acknowledgement, not an agent's reply

    @property
    def has_quote(self) -> bool:
        return bool(self.quoted_html or self.quoted_text)


def address_line(name: str, address: str) -> str:
    if name and address and name != address:
        return f"{name} <{address}>"
    return address or name


async def email_views(
    session: AsyncSession, messages: Sequence[Message], *, images_for: Iterable[int] = ()
) -> dict[int, EmailView]:
    """Views for the messages that are emails, keyed by message id (one query for all of them)."""
    ids = [m.id for m in messages]
    if not ids:
        return {}
    rows = {
        row.message_id: row
        for row in await session.scalars(select(EmailMessage).where(EmailMessage.message_id.in_(ids)))
    }
    allowed = set(images_for)
    return {
        m.id: email_view(m, rows[m.id], allow_images=m.id in allowed) for m in messages if m.id in rows
    }


def email_view(message: Message, row: EmailMessage, *, allow_images: bool = False) -> EmailView:
    text, quoted_text = _split_text(message.body_text or "")
    html, quoted_html = Markup(""), Markup("")
    blocked = 0
    if message.body_html:
        main, quoted = split_quoted_html(message.body_html, quoted_text)
        main, blocked_main = block_remote_images(main, allow=allow_images)
        quoted, blocked_quoted = block_remote_images(quoted, allow=allow_images)
        html, quoted_html, blocked = Markup(main), Markup(quoted), blocked_main + blocked_quoted
    defects = tuple(row.defects or ())
    return EmailView(
        message_id=message.id,
        conversation_id=message.conversation_id,
        sender=address_line(row.from_name, row.from_address),
        to=tuple(row.to_addresses or ()),
        cc=tuple(row.cc_addresses or ()),
        html=html,
        quoted_html=quoted_html,
        text=text,
        quoted_text=quoted_text,
        blocked_images=blocked,
        images_allowed=allow_images,
        damaged=any(not d.startswith(_COSMETIC) for d in defects),
        defects=defects,
        has_raw=bool(row.raw_key),
        send_error=row.send_error or "",
        automatic=row.kind == EmailKind.auto_ack,
    )


@lru_cache(maxsize=4096)
def _split_text(text: str) -> tuple[str, str]:
    """strip_quoted, remembered: the same bodies are shown again on every refresh of a thread."""
    return strip_quoted(text)


def _is_own(src: str) -> bool:
    """Same origin: a path on this server (``/attachments/12``), not ``//host`` or a scheme."""
    return src.startswith("/") and not src.startswith("//")


def block_remote_images(html: str, *, allow: bool) -> tuple[str, int]:
    """Replace every image not served by us with a placeholder; returns (html, how many were remote)."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        attrs = {k.lower(): v for k, v in _ATTR.findall(match.group(0))}
        src = html_lib.unescape(attrs.get("src", "")).strip()
        remote = src.lower().startswith(("http://", "https://", "//"))
        if _is_own(src) or (allow and remote):
            return match.group(0)
        # Relative junk and unresolved cid: never load anything useful: a placeholder, not counted.
        count += remote
        alt = html_lib.unescape(attrs.get("alt", "")).strip()[:80]
        return str(
            Markup('<span class="email-blocked-image" title="{title}"{size}>{alt}</span>').format(
                title=src[:200], size=_placeholder_size(attrs), alt=alt
            )
        )

    return _IMG.sub(replace, html), count


def _placeholder_size(attrs: dict[str, str]) -> Markup:
    """The blocked image's box keeps the size the sender gave it, so the layout does not jump;
    tracking pixels (a few pixels wide) stay invisible."""
    width, height = _pixels(attrs.get("width")), _pixels(attrs.get("height"))
    if width is None or height is None:
        return Markup("")
    if width < 16 or height < 16:
        return Markup(' style="display:none"')
    return Markup(' style="width:{w}px;height:{h}px"').format(w=min(width, 600), h=min(height, 400))


def _pixels(value: str | None) -> int | None:
    value = (value or "").strip().removesuffix("px")
    return int(value) if value.isdigit() and len(value) < 6 else None


def split_quoted_html(html: str, quoted_text: str) -> tuple[str, str]:
    """Cut sanitised HTML where its quoted history starts: (what is new, the history).

    ``quoted_text`` is what ``strip_quoted`` found in the plain text; its first line (the
    "On … wrote:" header) is looked for in the HTML's text, else the first ``<blockquote>``.
    Both halves are sanitised again, which also closes the tags the cut left open.
    """
    if not quoted_text.strip():
        return html, ""
    tokens = [(m.start(), m.group(0)) for m in _TOKEN.finditer(html)]
    cut = _marker_token(tokens, quoted_text)
    if cut is None:
        cut = next((i for i, (_p, t) in enumerate(tokens) if t.lower().startswith("<blockquote")), None)
    if cut is None:
        return html, ""
    while cut > 0 and _is_opening(tokens[cut - 1][1]):
        cut -= 1  # take the wrapping elements along (<div><p>On … wrote:)
    main, quoted = sanitise_html(html[: tokens[cut][0]]), sanitise_html(html[tokens[cut][0] :])
    if not _visible_text(main):
        return html, ""  # the whole mail would be collapsed: show it
    return main, quoted


def _marker_token(tokens: list[tuple[int, str]], quoted_text: str) -> int | None:
    first = next((ln.lstrip("> ").strip() for ln in quoted_text.splitlines() if ln.lstrip("> ").strip()), "")
    marker = " ".join(first.split())[:20]
    if len(marker) < _MIN_MARKER:
        return None
    for i, (_pos, token) in enumerate(tokens):
        if not token.startswith("<") and marker in " ".join(html_lib.unescape(token).split()):
            return i
    return None


def _is_opening(token: str) -> bool:
    if not token.startswith("<") or token.startswith(("</", "<!")):
        return False
    name = re.match(r"<\s*([a-zA-Z0-9]+)", token)
    return bool(name) and name.group(1).lower() not in _VOID  # type: ignore[union-attr]


def _visible_text(html: str) -> str:
    return "".join(t for t in _TOKEN.findall(html) if not t.startswith("<")).strip()


async def raw_email(*, session: AsyncSession, actor: Actor, conversation_id: int, message_id: int) -> EmailMessage:
    """The email side of one message of a conversation the actor may see (else NotFound)."""
    await message_of(session=session, actor=actor, conversation_id=conversation_id, message_id=message_id)
    row = await session.scalar(
        select(EmailMessage).where(EmailMessage.message_id == message_id, EmailMessage.tenant_id == actor.tenant_id)
    )
    if row is None or not row.raw_key:
        raise NotFound("email not found", field="message_id")
    return row


async def message_of(*, session: AsyncSession, actor: Actor, conversation_id: int, message_id: int) -> Message:
    """One message of a conversation the actor may see (else NotFound)."""
    await conversations.get_conversation(session=session, actor=actor, conversation_id=conversation_id)
    message = await session.get(Message, message_id)
    if message is None or message.conversation_id != conversation_id or message.tenant_id != actor.tenant_id:
        raise NotFound("message not found", field="message_id")
    return message


__all__ = [
    "EMAIL_IMG_SRC",
    "EmailView",
    "block_remote_images",
    "email_view",
    "email_views",
    "message_of",
    "raw_email",
    "split_quoted_html",
]
