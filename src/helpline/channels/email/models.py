"""Email tables: mailboxes, the email side of each message, and suspended (held back) mail.

A conversation's messages live in ``messages`` like every channel's; ``email_messages`` keeps
what only email has (RFC 5322 ids for threading, addresses, the raw ``.eml``, the send state).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, UTCDateTime, utcnow


class Security(enum.StrEnum):
    ssl = "ssl"  # TLS from the first byte (IMAPS 993, SMTPS 465)
    starttls = "starttls"
    none = "none"  # only for servers on the same host or a trusted network


class ProcessedAction(enum.StrEnum):
    """What the IMAP poller does to a message once it is committed."""

    flag = "flag"  # set \\Seen and the $HelplineImported keyword
    move = "move"  # move to ``imap_move_to``


class SendStatus(enum.StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"  # the relay refused it for good, or it bounced


class EmailKind(enum.StrEnum):
    """What an email is, beyond its direction."""

    message = "message"  # a customer's mail, or an agent's reply
    forward = "forward"  # a conversation forwarded to a third party (recorded as an internal note)
    auto_ack = "auto_ack"  # Helpline's automatic acknowledgement of a new conversation


class SuspendReason(enum.StrEnum):
    spam = "spam"  # X-Spam-Flag: YES
    own_mailbox = "own_mailbox"  # sent by one of our own mailboxes: a loop
    rate_limited = "rate_limited"  # the sender wrote too often in the last hour
    auto_reply_loop = "auto_reply_loop"  # an automatic reply to an automatic reply


class Mailbox(Base):
    """A support address of a tenant, with how mail comes in (IMAP, our SMTP listener) and goes out."""

    __tablename__ = "mailboxes"
    __table_args__ = (
        # Globally unique: the SMTP listener finds the tenant from the recipient address.
        UniqueConstraint("address"),
        Index("ix_mailboxes_tenant", "tenant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), default=None)
    address: Mapped[str] = mapped_column(String(254))  # lower-cased
    display_name: Mapped[str] = mapped_column(String(120), default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_acknowledge: Mapped[bool] = mapped_column(Boolean, default=False)
    # Language of auto-acknowledgements when the contact's language is unknown.
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    # New mail per sender per hour before further mail is suspended (0 = no limit).
    sender_rate_limit_per_hour: Mapped[int] = mapped_column(Integer, default=30)

    imap_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    imap_host: Mapped[str] = mapped_column(String(255), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[Security] = mapped_column(
        Enum(Security, native_enum=False, length=16), default=Security.ssl
    )
    imap_user: Mapped[str] = mapped_column(String(255), default="")
    # Encrypted with a key derived from HELPLINE_SECRET_KEY (see channels/email/secrets.py).
    imap_password_encrypted: Mapped[str] = mapped_column(Text, default="")
    imap_folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    imap_processed_action: Mapped[ProcessedAction] = mapped_column(
        Enum(ProcessedAction, native_enum=False, length=16), default=ProcessedAction.flag
    )
    imap_move_to: Mapped[str] = mapped_column(String(255), default="")
    imap_last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    imap_last_error: Mapped[str] = mapped_column(Text, default="")

    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[Security] = mapped_column(
        Enum(Security, native_enum=False, length=16), default=Security.starttls
    )
    smtp_user: Mapped[str] = mapped_column(String(255), default="")
    smtp_password_encrypted: Mapped[str] = mapped_column(Text, default="")

    # TLS to the IMAP server and the SMTP relay (ssl or starttls): check the server's certificate
    # (off only for a server the admin trusts otherwise), and an extra CA (PEM) to trust, for
    # servers with a certificate from a company CA or a self-signed one.
    tls_verify: Mapped[bool] = mapped_column(Boolean, default=True)
    tls_ca_pem: Mapped[str] = mapped_column(Text, default="")

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailMessage(Base):
    """The email side of one conversation message (inbound or outbound)."""

    __tablename__ = "email_messages"
    __table_args__ = (
        UniqueConstraint("message_id"),
        # Threading: a reply's In-Reply-To / References are looked up here.
        Index("ix_email_messages_rfc_id", "tenant_id", "rfc_message_id"),
        Index("ix_email_messages_conversation", "conversation_id"),
        # The per-sender hourly limit counts a sender's recent mail.
        Index("ix_email_messages_sender", "tenant_id", "from_address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"), default=None)
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound
    kind: Mapped[EmailKind] = mapped_column(
        Enum(EmailKind, native_enum=False, length=16), default=EmailKind.message
    )
    rfc_message_id: Mapped[str] = mapped_column(String(500))  # with the angle brackets
    in_reply_to: Mapped[str] = mapped_column(String(500), default="")
    references: Mapped[list[str]] = mapped_column(default=list)
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to_addresses: Mapped[list[str]] = mapped_column(default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(default=list)
    bcc_addresses: Mapped[list[str]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    # Storage key of the raw .eml (inbound as received, outbound as sent).
    raw_key: Mapped[str] = mapped_column(String(300), default="")
    raw_size: Mapped[int] = mapped_column(Integer, default=0)
    defects: Mapped[list[str]] = mapped_column(default=list)
    has_remote_images: Mapped[bool] = mapped_column(Boolean, default=False)
    is_auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Outbound only.
    send_status: Mapped[SendStatus | None] = mapped_column(
        Enum(SendStatus, native_enum=False, length=16), default=None
    )
    send_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuspendedEmail(Base):
    """Mail held back from the inbox (spam, loops, floods); kept whole so nothing is lost."""

    __tablename__ = "suspended_emails"
    __table_args__ = (
        Index("ix_suspended_emails_tenant", "tenant_id", "received_at"),
        UniqueConstraint("tenant_id", "rfc_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"), default=None)
    reason: Mapped[SuspendReason] = mapped_column(Enum(SuspendReason, native_enum=False, length=32))
    rfc_message_id: Mapped[str] = mapped_column(String(500))
    from_address: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    preview: Mapped[str] = mapped_column(String(300), default="")
    raw_key: Mapped[str] = mapped_column(String(300))
    raw_size: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when an agent released it into the inbox ("not spam").
    released_conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )


__all__ = [
    "EmailKind",
    "EmailMessage",
    "Mailbox",
    "ProcessedAction",
    "Security",
    "SendStatus",
    "SuspendReason",
    "SuspendedEmail",
]
