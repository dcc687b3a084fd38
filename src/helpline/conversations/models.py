"""Conversations (tickets), their messages, notes, attachments, tags, links and timeline."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, UTCDateTime, utcnow


class Status(enum.StrEnum):
    new = "new"
    open = "open"
    pending = "pending"
    on_hold = "on_hold"
    solved = "solved"
    closed = "closed"


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.urgent: 3}
OPEN_STATUSES = (Status.new, Status.open, Status.pending, Status.on_hold)


class Direction(enum.StrEnum):
    inbound = "inbound"  # from the customer
    outbound = "outbound"  # to the customer
    note = "note"  # internal, never leaves Helpline


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_conversations_inbox", "tenant_id", "status", "last_activity_at"),
        Index("ix_conversations_assignee", "tenant_id", "assignee_id", "status", "last_activity_at"),
        Index("ix_conversations_team", "tenant_id", "team_id", "status", "last_activity_at"),
        Index("ix_conversations_contact", "tenant_id", "contact_id", "last_activity_at"),
        Index("ix_conversations_activity", "tenant_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[Status] = mapped_column(Enum(Status, native_enum=False, length=16), default=Status.new)
    priority: Mapped[Priority] = mapped_column(
        Enum(Priority, native_enum=False, length=16), default=Priority.normal
    )
    channel: Mapped[str] = mapped_column(String(32))
    # The address the customer wrote to (a mailbox, a phone number, a chat channel); rules route on it.
    recipient: Mapped[str | None] = mapped_column(String(254), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), default=None)
    tags: Mapped[list[str]] = mapped_column(default=list)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    preview: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The customer's satisfaction (CSAT) at the end of a chat: 1-5 and an optional comment. A new
    # rating replaces the last (the customer may change their mind); the timeline keeps each one.
    satisfaction_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    satisfaction_comment: Mapped[str | None] = mapped_column(String(2000), default=None)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "created_at"),
        # A provider's message id makes inbound intake idempotent.
        UniqueConstraint("tenant_id", "channel", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(Enum(Direction, native_enum=False, length=16))
    channel: Mapped[str] = mapped_column(String(32))
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    body_text: Mapped[str] = mapped_column(Text, default="")
    # Sanitised HTML (nh3), safe to render as is.
    body_html: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str | None] = mapped_column(String(300), default=None)
    delivery_status: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationLink(Base):
    """A follow-up: ``conversation_id`` follows up on ``linked_id``."""

    __tablename__ = "conversation_links"
    __table_args__ = (UniqueConstraint("conversation_id", "linked_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    linked_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="follow_up")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimelineEvent(Base):
    """Who changed what, when, on a conversation."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_conversation", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tag(Base):
    """The tenant's tag vocabulary (conversations keep their tags as a list)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationTag(Base):
    """Which tags a conversation carries, for filtering (the list on the row is for display)."""

    __tablename__ = "conversation_tags"
    __table_args__ = (Index("ix_conversation_tags_tag", "tag_id", "conversation_id"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


__all__ = [
    "Attachment",
    "Conversation",
    "ConversationLink",
    "ConversationTag",
    "Direction",
    "Message",
    "Priority",
    "Status",
    "Tag",
    "TimelineEvent",
]
