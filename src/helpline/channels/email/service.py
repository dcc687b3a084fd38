"""Support mailboxes: the only writer of ``mailboxes``, and the look-ups intake and sending need.

Admins create, change and delete a tenant's mailboxes; another tenant's id is "not found". Every
value is checked here, naming the field, so the API and the pages refuse the same things. An
address is globally unique (the SMTP listener finds the tenant from the recipient), stored
lower-cased. IMAP and SMTP passwords are encrypted at rest (``helpline.crypto``) and never leave
this module except through ``imap_password`` / ``smtp_password``, for the code that logs in.

Every write is audit-logged and queues an ``email.mailboxes_changed`` event
(``{"what": "created" | "updated" | "deleted", "mailbox_id": 7}``), published after the commit, so
the IMAP poller reloads its mailboxes.

``check_smtp`` / ``check_imap`` ("Test connection") log in with a mailbox's settings and answer
with a short ``CheckResult``; nothing they meet on the network raises.

TLS (``ssl`` or ``starttls``) checks the server's certificate against the system's CAs plus the
mailbox's own ``tls_ca_pem`` (a company CA, or a self-signed server certificate); ``tls_verify``
off accepts any certificate (``mailbox_tls``: the one context IMAP, SMTP and the checks use).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.accounts.models import Team
from helpline.accounts.service import LANGUAGES, Actor, audit, require_admin
from helpline.channels.email.models import Mailbox, ProcessedAction, Security
from helpline.channels.email.tls import client_context
from helpline.config import Settings
from helpline.crypto import decrypt_secret, encrypt_secret
from helpline.db import utcnow
from helpline.errors import Conflict, Invalid, NotFound, format_message
from helpline.events import Event, on_commit
from helpline.validation import CONTROL, N_, TEXT_CONTROL
from helpline.validation import one_line as _line
from helpline.validation import text_value as _string

MAILBOXES_CHANGED = "email.mailboxes_changed"
MAX_DISPLAY_NAME = 120
MAX_SIGNATURE = 5000
MAX_USER = 255
MAX_PASSWORD = 1024
MAX_FOLDER = 255
MAX_RATE_LIMIT = 100_000
MAX_CA_PEM = 64 * 1024  # a few certificates in PEM; a whole CA bundle belongs in the system store
CHECK_TIMEOUT = 15.0  # seconds a "Test connection" may take in all
# A DNS name (letters, digits, - _ .) or an IP address; no spaces, no CR/LF, nothing a command could hide in.
HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]{2,45}\]?$")

# What a new mailbox is when a value is not given (the model's defaults, spelled out so a draft
# that never reaches the database has them too).
DEFAULTS: dict[str, Any] = {
    "team_id": None,
    "display_name": "",
    "signature": "",
    "is_active": True,
    "auto_acknowledge": False,
    "default_language": "en",
    "sender_rate_limit_per_hour": 30,
    "imap_enabled": False,
    "imap_host": "",
    "imap_port": 993,
    "imap_security": Security.ssl,
    "imap_user": "",
    "imap_folder": "INBOX",
    "imap_processed_action": ProcessedAction.flag,
    "imap_move_to": "",
    "smtp_host": "",
    "smtp_port": 587,
    "smtp_security": Security.starttls,
    "smtp_user": "",
    "tls_verify": True,
    "tls_ca_pem": "",
}
FIELDS = ("address", *DEFAULTS)
PASSWORDS = ("imap_password", "smtp_password")


def normalise_address(value: object) -> str:
    """The address as stored: checked by email-validator, lower-cased."""
    text = _string(value, "address").strip()
    if not text:
        raise Invalid("enter the mailbox's email address", field="address")
    if CONTROL.search(text):
        raise Invalid("must be one line, without control characters", field="address")
    try:
        return accounts.normalise_email(text)
    except Invalid as exc:
        raise exc.with_field("address") from None


def _display_name(value: object) -> str:
    name = _line(value, "display_name", MAX_DISPLAY_NAME)
    if "<" in name or ">" in name:  # would read as an address in the From header
        raise Invalid("must not contain < or >", field="display_name")
    return name


def _signature(value: object) -> str:
    text = _string(value, "signature").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if TEXT_CONTROL.search(text):
        raise Invalid("must be plain text, without control characters", field="signature")
    if len(text) > MAX_SIGNATURE:
        raise Invalid("is too long (at most %(limit)s characters)", field="signature", limit=MAX_SIGNATURE)
    return text


def _host(value: object, name: str) -> str:
    host = _string(value, name).strip()
    if host and not (HOST_NAME.match(host) or (":" in host and IPV6.match(host))):
        raise Invalid("must be a host name like mail.example.com (no spaces)", field=name)
    return host.lower()


def _port(value: object, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 7:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid("must be a port number from 1 to 65535", field=name)
    return value


def _choice(value: object, name: str, kind: type[Security] | type[ProcessedAction]) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        raise Invalid(
            "must be one of %(choices)s", field=name, choices=", ".join(m.value for m in kind)
        ) from None


def _folder(value: object, name: str, *, required: bool) -> str:
    folder = _line(value, name, MAX_FOLDER)
    if required and not folder:
        raise Invalid("enter a folder name", field=name)
    if any(c in folder for c in "*%"):  # IMAP wildcards: a LIST pattern, not a folder
        raise Invalid("must not contain the IMAP wildcards %(chars)s", field=name, chars="* %")
    return folder


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false", field=name)
    return value


def _language(value: object) -> str:
    language = _string(value, "default_language").strip().lower()
    if language not in LANGUAGES:
        raise Invalid(
            "language must be one of %(languages)s", field="default_language", languages=", ".join(LANGUAGES)
        )
    return language


def _rate_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE_LIMIT:
        raise Invalid("must be a whole number from 0 to %(limit)s", field="sender_rate_limit_per_hour",
                      limit=MAX_RATE_LIMIT)
    return value


def _ca_pem(value: object) -> str:
    """Certificates (PEM) to trust for this mailbox's servers: checked to load, never a private key."""
    text = _string(value, "tls_ca_pem").replace("\r\n", "\n").strip()
    if not text:
        return ""
    if len(text) > MAX_CA_PEM:
        raise Invalid("is too long (at most %(limit)s characters)", field="tls_ca_pem", limit=MAX_CA_PEM)
    if "PRIVATE KEY" in text:  # pasted the wrong file: the key must stay on the server
        raise Invalid("paste only the certificate, never a private key", field="tls_ca_pem")
    if TEXT_CONTROL.search(text) or "-----BEGIN CERTIFICATE-----" not in text:
        raise Invalid("must be a certificate in PEM form (-----BEGIN CERTIFICATE-----)", field="tls_ca_pem")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise Invalid("is not a readable PEM certificate", field="tls_ca_pem") from exc
    return text


def mailbox_tls(mailbox: Mailbox) -> ssl.SSLContext:
    """The TLS context for this mailbox's IMAP server and SMTP relay."""
    return client_context(bool(mailbox.tls_verify), mailbox.tls_ca_pem or "")


def _password(value: object, name: str) -> str:
    password = _string(value, name)
    if CONTROL.search(password):
        raise Invalid("must not contain control characters", field=name)
    if len(password) > MAX_PASSWORD:
        raise Invalid("is too long (at most %(limit)s characters)", field=name, limit=MAX_PASSWORD)
    return password


_CHECKS: dict[str, Callable[[object], Any]] = {
    "address": normalise_address,
    "display_name": _display_name,
    "signature": _signature,
    "is_active": lambda v: _flag(v, "is_active"),
    "auto_acknowledge": lambda v: _flag(v, "auto_acknowledge"),
    "default_language": _language,
    "sender_rate_limit_per_hour": _rate_limit,
    "imap_enabled": lambda v: _flag(v, "imap_enabled"),
    "imap_host": lambda v: _host(v, "imap_host"),
    "imap_port": lambda v: _port(v, "imap_port"),
    "imap_security": lambda v: _choice(v, "imap_security", Security),
    "imap_user": lambda v: _line(v, "imap_user", MAX_USER),
    "imap_folder": lambda v: _folder(v, "imap_folder", required=True),
    "imap_processed_action": lambda v: _choice(v, "imap_processed_action", ProcessedAction),
    "imap_move_to": lambda v: _folder(v, "imap_move_to", required=False),
    "smtp_host": lambda v: _host(v, "smtp_host"),
    "smtp_port": lambda v: _port(v, "smtp_port"),
    "smtp_security": lambda v: _choice(v, "smtp_security", Security),
    "smtp_user": lambda v: _line(v, "smtp_user", MAX_USER),
    "tls_verify": lambda v: _flag(v, "tls_verify"),
    "tls_ca_pem": _ca_pem,
}


def _check_whole(mailbox: Mailbox) -> None:
    """Rules between fields, on the mailbox as it would be."""
    if mailbox.imap_enabled:
        if not mailbox.imap_host:
            raise Invalid("enter the IMAP server's host name", field="imap_host")
        if not mailbox.imap_user:
            raise Invalid("enter the IMAP user name", field="imap_user")
    if mailbox.imap_processed_action == ProcessedAction.move:
        if not mailbox.imap_move_to:
            raise Invalid("enter the folder to move processed mail to", field="imap_move_to")
        if mailbox.imap_move_to == mailbox.imap_folder:
            raise Invalid("must be another folder than the one read", field="imap_move_to")


async def _apply(
    session: AsyncSession, actor: Actor, mailbox: Mailbox, values: Mapping[str, Any], secret_key: str
) -> list[str]:
    """Checks and sets the values given; returns the names of the fields that changed."""
    unknown = sorted(set(values) - set(FIELDS) - set(PASSWORDS))
    if unknown:
        raise Invalid("unknown field", field=unknown[0])
    with session.no_autoflush:  # a refused value must never reach the database half-set
        return await _set_values(session, actor, mailbox, values, secret_key)


async def _set_values(
    session: AsyncSession, actor: Actor, mailbox: Mailbox, values: Mapping[str, Any], secret_key: str
) -> list[str]:
    changed: list[str] = []
    for name in FIELDS:
        if name not in values:
            continue
        value = await _team(session, actor, values[name]) if name == "team_id" else _CHECKS[name](values[name])
        if getattr(mailbox, name) != value:
            setattr(mailbox, name, value)
            changed.append(name)
    for name in PASSWORDS:
        # None (or absent) keeps the stored password; "" removes it.
        if values.get(name) is None:
            continue
        password = _password(values[name], name)
        if password and not secret_key:  # a caller's mistake, never a user's: refuse to store it weakly
            raise ValueError("a secret key is needed to store a password")
        setattr(mailbox, f"{name}_encrypted", encrypt_secret(secret_key, password))
        changed.append(name)
    _check_whole(mailbox)
    return changed


async def _team(session: AsyncSession, actor: Actor, value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be a team id", field="team_id")
    team = await session.get(Team, value)
    if team is None or team.tenant_id != actor.tenant_id:
        raise Invalid("no such team", field="team_id")
    return value


async def _address_free(session: AsyncSession, address: str, except_id: int | None) -> None:
    query = select(Mailbox.id).where(Mailbox.address == address)
    if except_id is not None:
        query = query.where(Mailbox.id != except_id)
    with session.no_autoflush:  # the changed row must not be written before it is found free
        taken = await session.scalar(query)
    if taken is not None:
        raise Conflict("the address %(address)s is used by another mailbox", field="address", address=address)


def _changed(session: AsyncSession, actor: Actor, what: str, mailbox_id: int) -> None:
    on_commit(session, Event(MAILBOXES_CHANGED, actor.tenant_id, {"what": what, "mailbox_id": mailbox_id}))


# --- reading -----------------------------------------------------------------------------------


async def list_mailboxes(*, session: AsyncSession, actor: Actor) -> list[Mailbox]:
    require_admin(actor)
    query = select(Mailbox).where(Mailbox.tenant_id == actor.tenant_id).order_by(Mailbox.address)
    return list(await session.scalars(query))


async def get_mailbox(*, session: AsyncSession, actor: Actor, mailbox_id: int) -> Mailbox:
    require_admin(actor)
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != actor.tenant_id:
        raise NotFound("mailbox not found", field="mailbox_id")
    return mailbox


# --- writing -----------------------------------------------------------------------------------


async def create_mailbox(
    *, session: AsyncSession, actor: Actor, secret_key: str, values: Mapping[str, Any]
) -> Mailbox:
    require_admin(actor)
    if "address" not in values:
        raise Invalid("enter the mailbox's email address", field="address")
    mailbox = Mailbox(tenant_id=actor.tenant_id, **DEFAULTS)
    await _apply(session, actor, mailbox, values, secret_key)
    await _address_free(session, mailbox.address, None)
    session.add(mailbox)
    await session.flush()
    audit(session, actor, "mailbox.created", f"mailbox:{mailbox.id}", {"address": mailbox.address})
    _changed(session, actor, "created", mailbox.id)
    return mailbox


async def update_mailbox(
    *, session: AsyncSession, actor: Actor, secret_key: str, mailbox_id: int, changes: Mapping[str, Any]
) -> Mailbox:
    """Only the fields given change; the mailbox as it would be is checked as a whole."""
    mailbox = await get_mailbox(session=session, actor=actor, mailbox_id=mailbox_id)
    changed = await _apply(session, actor, mailbox, changes, secret_key)
    if not changed:
        return mailbox
    if "address" in changed:
        await _address_free(session, mailbox.address, mailbox.id)
    mailbox.updated_at = utcnow()
    await session.flush()
    audit(session, actor, "mailbox.updated", f"mailbox:{mailbox.id}", {"address": mailbox.address, "changed": changed})
    _changed(session, actor, "updated", mailbox.id)
    return mailbox


async def delete_mailbox(*, session: AsyncSession, actor: Actor, mailbox_id: int) -> None:
    """Stored mail keeps its conversations; only the link to the mailbox goes (ON DELETE SET NULL)."""
    mailbox = await get_mailbox(session=session, actor=actor, mailbox_id=mailbox_id)
    address = mailbox.address
    await session.delete(mailbox)
    await session.flush()
    audit(session, actor, "mailbox.deleted", f"mailbox:{mailbox_id}", {"address": address})
    _changed(session, actor, "deleted", mailbox_id)


async def draft_mailbox(
    *,
    session: AsyncSession,
    actor: Actor,
    secret_key: str,
    values: Mapping[str, Any],
    mailbox_id: int | None = None,
) -> Mailbox:
    """The mailbox as the values would make it, never stored: for "Test connection" on an unsaved form.

    A password left out is the stored one (the form leaves password fields blank).
    """
    require_admin(actor)
    draft = Mailbox(tenant_id=actor.tenant_id, address="", **DEFAULTS)
    if mailbox_id is not None:
        stored = await get_mailbox(session=session, actor=actor, mailbox_id=mailbox_id)
        for column in Mailbox.__table__.columns:
            if column.key != "id":
                setattr(draft, column.key, getattr(stored, column.key))
    await _apply(session, actor, draft, values, secret_key)
    return draft


# --- for intake and sending ----------------------------------------------------------------------


async def mailbox_for_address(session: AsyncSession, address: str) -> Mailbox | None:
    """The active mailbox mail to ``address`` belongs to, in any tenant; ``local+tag@domain`` finds ``local@domain``.

    Not validated by email-validator (intake asks for every recipient): lower-cased and trimmed,
    an exact match first, then without the +tag.
    """
    wanted = (address or "").strip().strip("<>").lower()
    local, at, domain = wanted.rpartition("@")
    if not at or not local or not domain:
        return None
    candidates = [wanted]
    if "+" in local:
        candidates.append(f"{local.split('+', 1)[0]}@{domain}")
    rows = list(
        await session.scalars(
            select(Mailbox).where(Mailbox.address.in_(candidates), Mailbox.is_active.is_(True))
        )
    )
    rows.sort(key=lambda m: candidates.index(m.address))
    return rows[0] if rows else None


async def own_addresses(session: AsyncSession, tenant_id: int) -> set[str]:
    """Every address of the tenant's mailboxes (inactive too: mail from them is still our own)."""
    return set(await session.scalars(select(Mailbox.address).where(Mailbox.tenant_id == tenant_id)))


def smtp_password(settings: Settings, mailbox: Mailbox) -> str:
    """The SMTP relay password in clear, for logging in; "" when none is stored."""
    return decrypt_secret(settings.secret_key, mailbox.smtp_password_encrypted)


def imap_password(settings: Settings, mailbox: Mailbox) -> str:
    """The IMAP password in clear, for logging in; "" when none is stored."""
    return decrypt_secret(settings.secret_key, mailbox.imap_password_encrypted)


def inbound_kind(mailbox: Mailbox) -> str:
    """How mail reaches the mailbox: "imap" (polled) or "smtp" (Helpline's own SMTP listener)."""
    return "imap" if mailbox.imap_enabled else "smtp"


# --- "Test connection" ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What a connection test found: a message template (translatable) and its values."""

    ok: bool
    template: str
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return format_message(self.template, dict(self.params))

    def translated(self, translate: Callable[[str], str]) -> str:
        try:
            return format_message(translate(self.template), dict(self.params))
        except (KeyError, ValueError, TypeError):  # a broken translation must not break the page
            return self.message


def _failure(exc: BaseException, host: str, port: int) -> CheckResult:
    """A network or protocol error as a short sentence for an admin."""
    where = {"host": host, "port": port}
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | socket.timeout):
        return CheckResult(False, N_("no answer from %(host)s:%(port)s (timed out)"), where)
    if isinstance(exc, socket.gaierror):
        return CheckResult(False, N_("the host name %(host)s is not known"), where)
    if isinstance(exc, ConnectionRefusedError):
        return CheckResult(False, N_("%(host)s:%(port)s refused the connection (nothing listens there?)"), where)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CheckResult(
            False,
            N_("the server's TLS certificate is not trusted (%(reason)s): add its CA certificate to the "
               "mailbox, or turn off certificate verification if you trust the network"),
            {**where, "reason": exc.verify_message or str(exc)},
        )
    if isinstance(exc, ssl.SSLError):
        return CheckResult(False, N_("TLS failed (is the security setting right for this port?): %(reason)s"),
                           {**where, "reason": exc.reason or str(exc)})
    reason = str(exc).strip() or type(exc).__name__
    return CheckResult(False, N_("connecting to %(host)s:%(port)s failed: %(reason)s"),
                       {**where, "reason": reason[:300]})


async def check_smtp(settings: Settings, mailbox: Mailbox) -> CheckResult:
    """Connects to the SMTP relay, says EHLO, upgrades with STARTTLS and logs in, as configured."""
    import aiosmtplib

    host, port = mailbox.smtp_host, mailbox.smtp_port
    if not host:
        return CheckResult(False, N_("no SMTP relay is set up for this mailbox"))
    client = aiosmtplib.SMTP(
        hostname=host, port=port, timeout=CHECK_TIMEOUT,
        use_tls=mailbox.smtp_security == Security.ssl, start_tls=mailbox.smtp_security == Security.starttls,
        tls_context=mailbox_tls(mailbox),
    )
    where = {"host": host, "port": port}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await client.connect()
            if mailbox.smtp_user:
                await client.login(mailbox.smtp_user, smtp_password(settings, mailbox))
            await client.quit()
    except aiosmtplib.SMTPAuthenticationError as exc:
        return CheckResult(False, N_("the SMTP server refused the user name or password: %(reason)s"),
                           {**where, "reason": exc.message[:300]})
    except aiosmtplib.SMTPNotSupported as exc:
        return CheckResult(False, N_("the SMTP server does not support this: %(reason)s"),
                           {**where, "reason": str(exc)[:300]})
    except (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
        return _failure(TimeoutError(str(exc)), host, port)
    except aiosmtplib.SMTPConnectError as exc:
        return _failure(exc.__cause__ or exc, host, port)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return _failure(exc, host, port)
    finally:
        if client.is_connected:
            client.close()
    if mailbox.smtp_user:
        return CheckResult(True, N_("connected to %(host)s:%(port)s and logged in as %(user)s"),
                           {**where, "user": mailbox.smtp_user})
    return CheckResult(True, N_("connected to %(host)s:%(port)s (no login set up)"), where)


def _imap_login(
    host: str, port: int, security: Security, user: str, password: str, folder: str, context: ssl.SSLContext
) -> int:
    """Logs in and selects the folder (blocking: run in a thread); returns how many messages it holds."""
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

    client: MailBox | MailBoxStartTls | MailBoxUnencrypted
    if security == Security.ssl:
        client = MailBox(host, port, timeout=CHECK_TIMEOUT, ssl_context=context)
    elif security == Security.starttls:
        client = MailBoxStartTls(host, port, timeout=CHECK_TIMEOUT, ssl_context=context)
    else:
        client = MailBoxUnencrypted(host, port, timeout=CHECK_TIMEOUT)
    try:
        client.login(user, password, initial_folder=folder)
        status = client.folder.status(folder, ["MESSAGES"])
        return int(status.get("MESSAGES", 0))
    finally:
        try:
            client.logout()
        except Exception:  # already closed by the server; the answer is what counts
            pass


async def check_imap(settings: Settings, mailbox: Mailbox) -> CheckResult:
    """Logs in to the IMAP server and selects the folder (in a thread, with a time limit)."""
    from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError, MailboxStarttlsError

    host, port, folder = mailbox.imap_host, mailbox.imap_port, mailbox.imap_folder
    if not host:
        return CheckResult(False, N_("no IMAP server is set up for this mailbox"))
    where = {"host": host, "port": port, "folder": folder}
    call = asyncio.to_thread(
        _imap_login, host, port, Security(mailbox.imap_security), mailbox.imap_user,
        imap_password(settings, mailbox), folder, mailbox_tls(mailbox),
    )
    try:
        count = await asyncio.wait_for(call, CHECK_TIMEOUT + 1)
    except MailboxLoginError:
        return CheckResult(False, N_("the IMAP server refused the user name or password"), where)
    except MailboxFolderSelectError:
        return CheckResult(False, N_("logged in, but the folder %(folder)s cannot be opened"), where)
    except MailboxStarttlsError as exc:
        return CheckResult(False, N_("the IMAP server does not support this: %(reason)s"),
                           {**where, "reason": str(exc)[:300]})
    except Exception as exc:  # imaplib raises its own errors, OSError and ssl errors: all become a message
        return _failure(exc, host, port)
    return CheckResult(True, N_("logged in to %(host)s:%(port)s; %(folder)s holds %(count)s messages"),
                       {**where, "count": count})


@dataclass(frozen=True)
class MailboxCheck:
    imap: CheckResult | None  # None: the mailbox does not read by IMAP
    smtp: CheckResult


async def check_mailbox(settings: Settings, mailbox: Mailbox) -> MailboxCheck:
    """Both directions as configured, at the same time: IMAP only when the mailbox reads by IMAP."""
    if not mailbox.imap_enabled:
        return MailboxCheck(None, await check_smtp(settings, mailbox))
    imap, smtp = await asyncio.gather(check_imap(settings, mailbox), check_smtp(settings, mailbox))
    return MailboxCheck(imap, smtp)


__all__ = [
    "MAILBOXES_CHANGED",
    "CheckResult",
    "MailboxCheck",
    "check_imap",
    "check_mailbox",
    "check_smtp",
    "create_mailbox",
    "delete_mailbox",
    "draft_mailbox",
    "get_mailbox",
    "imap_password",
    "inbound_kind",
    "list_mailboxes",
    "mailbox_for_address",
    "mailbox_tls",
    "normalise_address",
    "own_addresses",
    "smtp_password",
    "update_mailbox",
]
