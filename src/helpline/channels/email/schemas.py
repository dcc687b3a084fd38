"""What the mailboxes API speaks.

Types and sizes are bounded here; what the values mean (a valid address, a host name, the
tenant's team) is checked by ``channels.email.service``, so the API and the pages get the same
errors naming the same fields. Passwords are write-only: a read says only whether one is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.channels.email.models import ProcessedAction, Security
from helpline.channels.email.service import MAX_CA_PEM, MAX_PASSWORD, MAX_SIGNATURE

PASSWORD_HELP = "Write-only. Omit or null to keep the stored one; an empty string removes it."
TLS_VERIFY_HELP = "Check the IMAP and SMTP servers' TLS certificates (turn off only on a network you trust)."
TLS_CA_HELP = "Extra certificates (PEM) to trust for this mailbox's servers: a company CA or a self-signed one."


class MailboxFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="The team whose mail this is.")
    display_name: str = Field(default="", max_length=500, description="The From name, on one line.")
    signature: str = Field(default="", max_length=MAX_SIGNATURE * 2, description="Plain text.")
    is_active: bool = True
    auto_acknowledge: bool = Field(default=False, description="Answer new conversations with their reference number.")
    default_language: str = Field(default="en", max_length=8)
    sender_rate_limit_per_hour: int = Field(default=30, ge=-1, le=10**9)

    imap_enabled: bool = Field(default=False, description="Read mail by IMAP (else it comes by the SMTP listener).")
    imap_host: str = Field(default="", max_length=500)
    imap_port: int = Field(default=993, ge=-1, le=10**6)
    imap_security: Security = Security.ssl
    imap_user: str = Field(default="", max_length=500)
    imap_password: str | None = Field(default=None, max_length=MAX_PASSWORD * 2, description=PASSWORD_HELP)
    imap_folder: str = Field(default="INBOX", max_length=500)
    imap_processed_action: ProcessedAction = ProcessedAction.flag
    imap_move_to: str = Field(default="", max_length=500)

    smtp_host: str = Field(default="", max_length=500, description="The relay outgoing mail goes through.")
    smtp_port: int = Field(default=587, ge=-1, le=10**6)
    smtp_security: Security = Security.starttls
    smtp_user: str = Field(default="", max_length=500)
    smtp_password: str | None = Field(default=None, max_length=MAX_PASSWORD * 2, description=PASSWORD_HELP)

    tls_verify: bool = Field(default=True, description=TLS_VERIFY_HELP)
    tls_ca_pem: str = Field(default="", max_length=MAX_CA_PEM * 2, description=TLS_CA_HELP)


class MailboxCreate(MailboxFields):
    address: str = Field(min_length=1, max_length=500, description="The support address; unique across Helpline.")

    def values(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class MailboxUpdate(BaseModel):
    """Only the fields sent change; the mailbox as it would be is checked as a whole."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, min_length=1, max_length=500)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    display_name: str | None = Field(default=None, max_length=500)
    signature: str | None = Field(default=None, max_length=MAX_SIGNATURE * 2)
    is_active: bool | None = None
    auto_acknowledge: bool | None = None
    default_language: str | None = Field(default=None, max_length=8)
    sender_rate_limit_per_hour: int | None = Field(default=None, ge=-1, le=10**9)
    imap_enabled: bool | None = None
    imap_host: str | None = Field(default=None, max_length=500)
    imap_port: int | None = Field(default=None, ge=-1, le=10**6)
    imap_security: Security | None = None
    imap_user: str | None = Field(default=None, max_length=500)
    imap_password: str | None = Field(default=None, max_length=MAX_PASSWORD * 2, description=PASSWORD_HELP)
    imap_folder: str | None = Field(default=None, max_length=500)
    imap_processed_action: ProcessedAction | None = None
    imap_move_to: str | None = Field(default=None, max_length=500)
    smtp_host: str | None = Field(default=None, max_length=500)
    smtp_port: int | None = Field(default=None, ge=-1, le=10**6)
    smtp_security: Security | None = None
    smtp_user: str | None = Field(default=None, max_length=500)
    smtp_password: str | None = Field(default=None, max_length=MAX_PASSWORD * 2, description=PASSWORD_HELP)
    tls_verify: bool | None = None
    tls_ca_pem: str | None = Field(default=None, max_length=MAX_CA_PEM * 2)

    def changes(self) -> dict[str, Any]:
        """The fields sent; null clears the team and keeps a password; for the rest it means "unchanged"."""
        sent = self.model_dump(exclude_unset=True, mode="json")
        return {k: v for k, v in sent.items() if v is not None or k == "team_id"}


class MailboxRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    address: str
    team_id: int | None
    display_name: str
    signature: str
    is_active: bool
    auto_acknowledge: bool
    default_language: str
    sender_rate_limit_per_hour: int
    inbound: str = Field(description="How mail comes in: imap, or smtp (Helpline's own SMTP listener).")
    imap_enabled: bool
    imap_host: str
    imap_port: int
    imap_security: Security
    imap_user: str
    imap_password_set: bool
    imap_folder: str
    imap_processed_action: ProcessedAction
    imap_move_to: str
    imap_last_checked_at: datetime | None
    imap_last_error: str
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    smtp_user: str
    smtp_password_set: bool
    tls_verify: bool
    tls_ca_pem: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, mailbox: Any) -> MailboxRead:
        """From a ``Mailbox``: the passwords only as "set" or not."""
        values = {name: getattr(mailbox, name) for name in cls.model_fields if hasattr(mailbox, name)}
        values["inbound"] = "imap" if mailbox.imap_enabled else "smtp"
        values["imap_password_set"] = bool(mailbox.imap_password_encrypted)
        values["smtp_password_set"] = bool(mailbox.smtp_password_encrypted)
        return cls.model_validate(values)


class CheckRead(BaseModel):
    ok: bool
    message: str


class MailboxCheckRead(BaseModel):
    """A "Test connection": IMAP (null when the mailbox does not read by IMAP) and the SMTP relay."""

    imap: CheckRead | None
    smtp: CheckRead
