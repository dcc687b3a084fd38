"""Live chat tables: chat channels (the widget's settings), visitor sessions and the chat log.

A chat's messages live in ``messages`` like every channel's; ``chat_messages`` numbers the ones the
visitor may see (``seq`` 1, 2, 3… per conversation), which makes resume after a dropped socket one
indexed query and a visitor's resend (same ``client_id``) idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, UTCDateTime, utcnow


class ChatChannel(Base):
    """A website's chat: where the widget may run, how it looks, who answers."""

    __tablename__ = "chat_channels"
    __table_args__ = (
        # Globally unique: the widget names its channel by this key alone.
        UniqueConstraint("public_key"),
        Index("ix_chat_channels_tenant", "tenant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(String(32))
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)  # scheme://host[:port]; empty = none
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), default=None)
    colour: Mapped[str] = mapped_column(String(7), default="#2563eb")
    position: Mapped[str] = mapped_column(String(8), default="right")  # right | left
    greeting: Mapped[str] = mapped_column(Text, default="")
    # {"name": "off"|"optional"|"required", "email": ...}
    prechat: Mapped[dict[str, Any]] = mapped_column(default=dict)
    offline_message: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="auto")  # auto | en | de | hu
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Business hours (``channels.chat.hours``): wall-clock times in this IANA time zone.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": ["08:00-12:00", "13:00-17:00"], ...}: only days with opening times; {} = around the clock
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[str]] = mapped_column(default=list)  # "YYYY-MM-DD", closed all day
    hours_message: Mapped[str] = mapped_column(Text, default="")  # shown outside business hours
    # Proactive invitations (``channels.chat.invitations``), in order: [{"url", "seconds", "greeting"}]
    invitations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatSession(Base):
    """One visitor's browser (all its tabs): known by the SHA-256 of a token only the browser holds."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_chat_sessions_conversation", "conversation_id"),
        Index("ix_chat_sessions_channel", "tenant_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("chat_channels.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), default=None)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    pages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # last 20: {url, title, at}
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Read receipts (receipts.py), kept so a restarted process still shows them: the agents have
    # read the chat up to agent_read_seq; the visitor up to visitor_read_seq, whose last agent
    # reply is visitor_read_message_id.
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    visitor_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    visitor_read_message_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ChatMessage(Base):
    """A message the visitor may see, numbered within its conversation (never an internal note)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_conversation_seq"),
        UniqueConstraint("session_id", "client_id", name="uq_chat_messages_session_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("chat_sessions.id", ondelete="SET NULL"), default=None)
    seq: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), default=None)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)  # visitor messages only
    kind: Mapped[str] = mapped_column(String(16))  # visitor | agent | system
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["ChatChannel", "ChatMessage", "ChatSession"]
