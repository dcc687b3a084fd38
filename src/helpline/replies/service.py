"""Canned replies: the only writer of ``canned_replies``.

**Who sees what.** Everyone in the tenant uses the shared replies; a team's replies are for its
members; a personal reply is its owner's alone (nobody else sees it, admins included). Admins and
supervisors see, and may change, every shared and team reply: they look after them for the teams.
Anything an actor may not see is "not found", like another tenant's ids.

**Who changes what.** Admins and supervisors create, change and delete shared and team replies (each
such change goes to the audit log); every user keeps their own personal ones (not audited: a
private draft is nobody's business).

**Placeholders.** ``{{customer.first_name}}`` and the others in ``PLACEHOLDERS`` are filled in when a
reply is inserted into a conversation's composer (``render_for_conversation``, which also counts the
use). An unknown placeholder is refused when the reply is saved, naming the field ``body`` and
listing the known ones. A value that is empty (a customer without a name) leaves nothing behind,
not even the blank before it when punctuation or the end of the line follows: "Hello
{{customer.first_name}}," becomes "Hello," — right in every language, unlike a word like "there".

Nobody else cares when a canned reply changes, so no event is published.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.models import Team
from helpline.accounts.service import Actor, audit
from helpline.contacts import service as contacts
from helpline.contacts.models import IdentityKind
from helpline.conversations import service as conversations
from helpline.conversations.models import Conversation
from helpline.db import utcnow
from helpline.errors import Conflict, Invalid, NotFound, PermissionDenied
from helpline.replies.models import CannedReply, Visibility
from helpline.validation import N_, TEXT_CONTROL, one_line, text_value

MAX_TITLE = 120
MAX_BODY = 10_000
MAX_QUERY = 200
SHORTCUT = re.compile(r"^[a-z0-9-]{1,32}$")
FIELDS = ("title", "body", "shortcut", "visibility", "team_id")

# The placeholders a body may use, with what each stands for (shown on the page, translated there).
PLACEHOLDERS: dict[str, str] = {
    "customer.name": N_("the customer's name"),
    "customer.first_name": N_("the customer's first name (the first word of the name)"),
    "customer.email": N_("the customer's email address"),
    "agent.name": N_("your name"),
    "agent.first_name": N_("your first name"),
    "conversation.number": N_("the conversation's reference number"),
    "company.name": N_("the company's name"),
}
PLACEHOLDER = re.compile(r"(?P<blank>[ \t]?)\{\{\s*(?P<name>[^{}]*?)\s*\}\}")


# --- placeholders ------------------------------------------------------------------------------


def placeholder_names(body: str) -> list[str]:
    return [match.group("name") for match in PLACEHOLDER.finditer(body)]


def first_name(name: str) -> str:
    """The first word of a name: all we know without a separate field."""
    words = name.split()
    return words[0] if words else ""


def render_body(body: str, values: Mapping[str, str]) -> str:
    """The body with its placeholders filled in, in one pass (a value is never read as a placeholder)."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group("name"), "")
        if value:
            return match.group("blank") + value
        following = body[match.end() : match.end() + 1]
        # An empty value takes its blank along unless a word goes on right after it.
        return match.group("blank") if following.isalnum() else ""

    return PLACEHOLDER.sub(fill, body)


@dataclass(frozen=True)
class PlaceholderValues:
    customer_name: str = ""
    customer_email: str = ""
    agent_name: str = ""
    conversation_number: str = ""
    company_name: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "customer.name": self.customer_name,
            "customer.first_name": first_name(self.customer_name),
            "customer.email": self.customer_email,
            "agent.name": self.agent_name,
            "agent.first_name": first_name(self.agent_name),
            "conversation.number": self.conversation_number,
            "company.name": self.company_name,
        }


async def sample_values(*, session: AsyncSession, actor: Actor) -> PlaceholderValues:
    """Made-up customer details for the page's preview; the agent and company are real."""
    tenant = await accounts.get_tenant(session=session, tenant_id=actor.tenant_id)
    return PlaceholderValues(
        customer_name="Klara Kovács", customer_email="klara.kovacs@example.com", agent_name=actor.name,
        conversation_number="1234", company_name=tenant.name,
    )


# What a contact is called when nobody told us a name (channels.chat.service names chat visitors so).
NAMELESS = frozenset({"chat visitor"})


async def conversation_values(*, session: AsyncSession, actor: Actor, conversation: Conversation) -> PlaceholderValues:
    contact = await contacts.get_contact(session=session, actor=actor, contact_id=conversation.contact_id)
    identities = (await contacts.identities_of(session, [contact.id]))[contact.id]
    email = next((i.value for i in identities if i.kind == IdentityKind.email), "")
    name = contact.name.strip()
    # A contact made from an address alone is named by it: "Hello klara@example.com," is no greeting.
    if name.casefold() in NAMELESS or name.casefold() in {i.value.casefold() for i in identities}:
        name = ""
    tenant = await accounts.get_tenant(session=session, tenant_id=actor.tenant_id)
    return PlaceholderValues(
        customer_name=name, customer_email=email, agent_name=actor.name,
        conversation_number=str(conversation.number), company_name=tenant.name,
    )


# --- checking values -----------------------------------------------------------------------------


def _title(value: object) -> str:
    title = one_line(value, "title", MAX_TITLE)
    if not title:
        raise Invalid("enter a title", field="title")
    return title


def _body(value: object) -> str:
    body = text_value(value, "body").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise Invalid("enter the text of the reply", field="body")
    if TEXT_CONTROL.search(body):
        raise Invalid("must be plain text, without control characters", field="body")
    if len(body) > MAX_BODY:
        raise Invalid("is too long (at most %(limit)s characters)", field="body", limit=MAX_BODY)
    unknown = [name for name in placeholder_names(body) if name not in PLACEHOLDERS]
    if unknown:
        raise Invalid(
            "unknown placeholder {{%(name)s}}; the known ones are %(known)s", field="body",
            name=unknown[0][:60], known=", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS),
        )
    return body


def _shortcut(value: object) -> str | None:
    """``refund`` (typed as /refund): lower-case letters, digits and hyphens; empty = none."""
    text = text_value(value, "shortcut").strip().removeprefix("/").lower()
    if not text:
        return None
    if not SHORTCUT.match(text):
        raise Invalid("use 1 to 32 lower-case letters, digits and hyphens, like refund", field="shortcut")
    return text


def _visibility(value: object) -> Visibility:
    text = text_value(value, "visibility").strip().lower()
    if text not in Visibility.__members__:
        raise Invalid("must be one of %(choices)s", field="visibility", choices=", ".join(Visibility))
    return Visibility(text)


async def _team(session: AsyncSession, actor: Actor, value: object) -> int:
    if value is None or value == "":
        raise Invalid("choose the team that may use this reply", field="team_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be a team id", field="team_id")
    team = await session.get(Team, value)
    if team is None or team.tenant_id != actor.tenant_id:
        raise Invalid("no such team", field="team_id")
    return value


async def _check_shortcut_free(session: AsyncSession, actor: Actor, shortcut: str, reply_id: int | None) -> None:
    query = select(CannedReply.id).where(CannedReply.tenant_id == actor.tenant_id, CannedReply.shortcut == shortcut)
    if reply_id is not None:
        query = query.where(CannedReply.id != reply_id)
    if await session.scalar(query) is not None:
        raise Conflict("the shortcut /%(shortcut)s is taken already", field="shortcut", shortcut=shortcut)


# --- who may see and change ----------------------------------------------------------------------


def _visible_to(actor: Actor) -> ColumnElement[bool]:
    allowed: list[ColumnElement[bool]] = [CannedReply.visibility == Visibility.shared]
    if actor.is_supervisor:
        allowed.append(CannedReply.visibility == Visibility.team)
    elif actor.team_ids:
        allowed.append(and_(CannedReply.visibility == Visibility.team, CannedReply.team_id.in_(actor.team_ids)))
    if actor.user_id is not None:
        allowed.append(and_(CannedReply.visibility == Visibility.personal, CannedReply.owner_id == actor.user_id))
    return and_(CannedReply.tenant_id == actor.tenant_id, or_(false(), *allowed))


def may_see(actor: Actor, reply: CannedReply) -> bool:
    if reply.tenant_id != actor.tenant_id:
        return False
    if reply.visibility == Visibility.personal:
        return actor.user_id is not None and reply.owner_id == actor.user_id
    if reply.visibility == Visibility.team:
        return actor.is_supervisor or reply.team_id in actor.team_ids
    return True


def may_edit(actor: Actor, reply: CannedReply) -> bool:
    if not may_see(actor, reply):
        return False
    return reply.visibility == Visibility.personal or actor.is_supervisor


def _audited(*visibilities: Visibility) -> bool:
    return any(v != Visibility.personal for v in visibilities)


def _audit(session: AsyncSession, actor: Actor, what: str, reply: CannedReply, **details: Any) -> None:
    audit(session, actor, f"canned_reply.{what}", f"canned_reply:{reply.id}",
          {"title": reply.title, "visibility": reply.visibility.value, **details})


# --- reading -------------------------------------------------------------------------------------


async def get_reply(*, session: AsyncSession, actor: Actor, reply_id: int) -> CannedReply:
    reply = await session.get(CannedReply, reply_id)
    if reply is None or not may_see(actor, reply):
        raise NotFound("canned reply not found", field="reply_id")
    return reply


async def _editable(session: AsyncSession, actor: Actor, reply_id: int) -> CannedReply:
    reply = await get_reply(session=session, actor=actor, reply_id=reply_id)
    if not may_edit(actor, reply):
        raise PermissionDenied("only admins and supervisors may change shared and team replies", field="visibility")
    return reply


def fold(text: str) -> str:
    """Lower-case without accents, so "kovacs" finds "Kovács" and "UGYFEL" finds "ügyfél"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _rank(reply: CannedReply, words: list[str]) -> int | None:
    """How well a reply matches every word: shortcut (0, 1), title (2), body (3); None = no match."""
    shortcut, title, body = fold(reply.shortcut or ""), fold(reply.title), fold(reply.body)
    if not all(w in shortcut or w in title or w in body for w in words):
        return None
    first = words[0]
    if shortcut == first:
        return 0
    if shortcut.startswith(first):
        return 1
    return 2 if all(w in title or w in shortcut for w in words) else 3


async def list_replies(*, session: AsyncSession, actor: Actor, query: str = "") -> list[CannedReply]:
    """The replies the actor may use; with a query, those matching every word of it, best first.

    A tenant has hundreds of canned replies, not millions: matching in Python folds case and
    accents the same way on SQLite and PostgreSQL.
    """
    text = one_line(query, "q", MAX_QUERY).removeprefix("/")
    replies = list(await session.scalars(select(CannedReply).where(_visible_to(actor))))
    words = fold(text).split()
    if not words:
        return sorted(replies, key=lambda r: (fold(r.title), r.id))
    ranked = [(rank, r) for r in replies if (rank := _rank(r, words)) is not None]
    ranked.sort(key=lambda pair: (pair[0], -pair[1].usage_count, fold(pair[1].title), pair[1].id))
    return [reply for _rank_, reply in ranked]


# --- writing -------------------------------------------------------------------------------------


async def _apply(session: AsyncSession, actor: Actor, reply: CannedReply, values: Mapping[str, Any]) -> list[str]:
    """Checks and sets the values given (a new reply: all of them); returns the fields that changed."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise Invalid("unknown field", field=unknown[0])
    new: dict[str, Any] = {}
    if "title" in values:
        new["title"] = _title(values["title"])
    if "body" in values:
        new["body"] = _body(values["body"])
    if "shortcut" in values:
        new["shortcut"] = _shortcut(values["shortcut"])
    visibility = _visibility(values["visibility"]) if "visibility" in values else reply.visibility
    new["visibility"] = visibility
    if visibility != Visibility.personal and not actor.is_supervisor:
        raise PermissionDenied("only admins and supervisors may share canned replies", field="visibility")
    if visibility == Visibility.personal and actor.user_id is None:
        raise Invalid("only a user can keep a personal reply", field="visibility")
    if visibility == Visibility.team:
        new["team_id"] = await _team(session, actor, values.get("team_id", reply.team_id))
    elif values.get("team_id") not in (None, ""):
        raise Invalid("only a team reply belongs to a team", field="team_id")
    else:
        new["team_id"] = None
    new["owner_id"] = actor.user_id if visibility == Visibility.personal else None
    if visibility == Visibility.personal and reply.visibility == Visibility.personal and reply.owner_id:
        new["owner_id"] = reply.owner_id  # only its owner gets this far
    if new.get("shortcut"):
        await _check_shortcut_free(session, actor, new["shortcut"], reply.id)
    changed = [name for name, value in new.items() if getattr(reply, name) != value]
    for name in changed:
        setattr(reply, name, new[name])
    return changed


async def create_reply(*, session: AsyncSession, actor: Actor, values: Mapping[str, Any]) -> CannedReply:
    for required in ("title", "body"):
        if required not in values:
            raise Invalid("this field is required", field=required)
    reply = CannedReply(tenant_id=actor.tenant_id, visibility=Visibility.personal, created_by_id=actor.user_id,
                        usage_count=0, shortcut=None, team_id=None, owner_id=None)
    with session.no_autoflush:
        await _apply(session, actor, reply, {"visibility": Visibility.personal.value, **values})
    session.add(reply)
    await session.flush()
    if _audited(reply.visibility):
        _audit(session, actor, "created", reply)
    return reply


async def update_reply(
    *, session: AsyncSession, actor: Actor, reply_id: int, changes: Mapping[str, Any]
) -> CannedReply:
    reply = await _editable(session, actor, reply_id)
    before = reply.visibility
    with session.no_autoflush:  # a refused value must never reach the database half-set
        changed = await _apply(session, actor, reply, changes)
    if not changed:
        return reply
    reply.updated_at = utcnow()
    await session.flush()
    if _audited(before, reply.visibility):
        _audit(session, actor, "updated", reply, changed=changed)
    return reply


async def delete_reply(*, session: AsyncSession, actor: Actor, reply_id: int) -> None:
    reply = await _editable(session, actor, reply_id)
    if _audited(reply.visibility):
        _audit(session, actor, "deleted", reply)
    await session.delete(reply)
    await session.flush()


async def render_for_conversation(
    *, session: AsyncSession, actor: Actor, reply_id: int, conversation_id: int
) -> str:
    """The reply as it goes into this conversation's composer; counts as one use."""
    reply = await get_reply(session=session, actor=actor, reply_id=reply_id)
    conversation = await conversations.get_conversation(
        session=session, actor=actor, conversation_id=conversation_id
    )
    values = await conversation_values(session=session, actor=actor, conversation=conversation)
    # One statement: two agents inserting the same reply at once both count.
    await session.execute(
        update(CannedReply).where(CannedReply.id == reply.id).values(usage_count=CannedReply.usage_count + 1)
        .execution_options(synchronize_session=False)
    )
    return render_body(reply.body, values.as_dict())


async def preview(*, session: AsyncSession, actor: Actor, body: object) -> str:
    """A body as it would read in a conversation (made-up customer); refused like a save would be."""
    values = await sample_values(session=session, actor=actor)
    return render_body(_body(body), values.as_dict())
