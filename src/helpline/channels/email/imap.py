"""IMAP intake: one poller per mailbox with IMAP on, in the app process.

Each poller holds one connection to its mailbox, asks for messages not yet processed
(``UNSEEN`` and without the ``$HelplineImported`` keyword, by UID), hands each raw message to
``intake.ingest`` and only **after ingest returned** (it commits) flags the message
(``\\Seen`` + ``$HelplineImported``) or moves it to ``imap_move_to``. A crash between the commit
and the flag leaves the message unflagged; the next run fetches it again and ``ingest`` answers
``duplicate`` (it dedupes by Message-ID), so nothing is imported twice and nothing is lost.

Between polls the poller waits with IMAP IDLE when the server offers it (new mail arrives
within a second), else it sleeps ``HELPLINE_IMAP_POLL_SECONDS``; IDLE is re-issued at least
every poll interval too, so a server that drops IDLE silently costs at most one interval.
Errors back off exponentially (1 s … 5 min) and are recorded on the mailbox
(``imap_last_error``) for the admin page; each successful poll records ``imap_last_checked_at``.

imap-tools is synchronous: every IMAP call runs in the poller's own worker thread (one thread
and one connection per mailbox), never on the event loop. A dedicated single-thread executor,
not ``asyncio.to_thread``: an idling connection holds its thread for up to a poll interval, and
a few mailboxes would otherwise fill the loop's shared default executor.

Scale-out: on PostgreSQL only the process holding a per-mailbox advisory lock polls that
mailbox (the other processes retry the lock now and then and take over when its holder dies).
SQLite means one process, so no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import io
import logging
import re
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from select import select as wait_readable
from typing import Any, Protocol, TypeVar, cast

import psycopg
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError
from imap_tools.mailbox import BaseMailBox
from sqlalchemy import select, update

from helpline.channels.email.models import Mailbox, ProcessedAction, Security
from helpline.channels.email.tls import client_context
from helpline.channels.email.workers import MailWorkers
from helpline.config import Settings
from helpline.crypto import decrypt_secret
from helpline.db import Database, utcnow
from helpline.events import EventBus
from helpline.routing.host import loading_conninfo
from helpline.storage import AttachmentStore

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$HelplineImported"
# Set on mail over the size limit: left on the server, never fetched again, error recorded.
TOO_LARGE_KEYWORD = "$HelplineTooLarge"
LOCK_CLASS = 0x484C494D  # "HLIM": advisory lock namespace, one lock per mailbox id
MAILBOXES_CHANGED = "email.mailboxes_changed"
CONNECT_TIMEOUT = 30.0
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
RELOAD_SECONDS = 60.0
LOCK_RETRY_SECONDS = 10.0
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
MAX_ERROR_CHARS = 500
MAX_IDLE_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE well within the servers' 30-minute cut-off
T = TypeVar("T")


class IntakeServices(Protocol):
    """What the poller needs from the app ``Runtime`` (what ``intake.ingest`` needs, and the bus)."""

    db: Database
    store: AttachmentStore
    settings: Settings
    mail_workers: MailWorkers | None
    bus: EventBus


class ImapError(Exception):
    """A failure an admin can act on; the message is shown on the mailbox page as is."""


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox's IMAP settings, decrypted: a snapshot safe to hand to the worker thread."""

    mailbox_id: int
    tenant_id: int
    host: str
    port: int
    security: Security
    user: str
    password: str = field(repr=False)
    folder: str
    action: ProcessedAction
    move_to: str
    tls_verify: bool = True
    tls_ca_pem: str = field(default="", repr=False)

    def tls(self) -> ssl.SSLContext:
        return client_context(self.tls_verify, self.tls_ca_pem)


def account_of(mailbox: Mailbox, secret_key: str) -> ImapAccount:
    return ImapAccount(
        mailbox_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        host=mailbox.imap_host.strip(),
        port=mailbox.imap_port,
        security=Security(mailbox.imap_security),
        user=mailbox.imap_user or mailbox.address,
        password=decrypt_secret(secret_key, mailbox.imap_password_encrypted),
        folder=mailbox.imap_folder or "INBOX",
        action=ProcessedAction(mailbox.imap_processed_action),
        move_to=mailbox.imap_move_to.strip(),
        tls_verify=bool(mailbox.tls_verify),
        tls_ca_pem=mailbox.tls_ca_pem or "",
    )


async def imap_accounts(db: Database, secret_key: str) -> list[ImapAccount]:
    """Every active mailbox with IMAP on, across tenants (the pollers serve the whole deployment)."""
    async with db.read() as session:
        mailboxes = await session.scalars(
            select(Mailbox).where(Mailbox.is_active.is_(True), Mailbox.imap_enabled.is_(True)).order_by(Mailbox.id)
        )
        return [account_of(m, secret_key) for m in mailboxes if m.imap_host.strip()]


async def record_imap_status(db: Database, mailbox_id: int, *, error: str = "") -> None:
    """Note the last check and its error (""= fine) on the mailbox, for the admin page.

    Its own short transaction, written here rather than in the mailbox service: it is a status
    stamp by the poller, not an admin's change, so it emits no event and needs no actor.
    """
    async with db.transaction() as session:
        await session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id)
            .values(imap_last_checked_at=utcnow(), imap_last_error=error[:MAX_ERROR_CHARS])
        )


def describe_error(exc: BaseException, account: ImapAccount) -> str:
    """A sentence an admin understands, naming the server; never the password."""
    where = f"{account.host}:{account.port}"
    if isinstance(exc, ImapError):
        return str(exc)
    if isinstance(exc, MailboxLoginError):
        return f"login to {where} as {account.user} failed: wrong user name or password ({_server_text(exc)})"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the IMAP host {account.host!r}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {where} refused: is the port right and the server up?"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where} within {CONNECT_TIMEOUT:.0f} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the TLS certificate of {where} is not trusted ({exc.verify_message or exc}): add its CA "
            "certificate to the mailbox, or turn off certificate verification"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed ({exc.reason or exc}): check the security setting and port"
    if isinstance(exc, imaplib.IMAP4.abort | EOFError | ConnectionError):
        return f"the connection to {where} was lost ({exc})"
    text = str(exc).replace(account.password, "***") if account.password else str(exc)
    return f"IMAP error with {where}: {type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


def _server_text(exc: MailboxLoginError) -> str:
    raw = repr(getattr(exc, "command_result", "")) or str(exc)
    found = re.search(r"\[([A-Z]+)\][^'\"]*", raw)
    return found.group(0).strip() if found else "the server refused the login"


# ---------------------------------------------------------------------- the worker thread's side


class ImapConnection:
    """One connection to one mailbox. Every method blocks: call them in the poller's thread."""

    def __init__(self, account: ImapAccount, *, max_bytes: int) -> None:
        self.account = account
        self.max_bytes = max_bytes
        self.mailbox: BaseMailBox | None = None

    def open(self) -> None:
        account = self.account
        if not account.host:
            raise ImapError("no IMAP host is set")
        if not account.password:
            raise ImapError("no IMAP password is stored (or HELPLINE_SECRET_KEY changed since): enter it again")
        mailbox: BaseMailBox
        if account.security == Security.ssl:
            mailbox = MailBox(account.host, account.port, timeout=CONNECT_TIMEOUT, ssl_context=account.tls())
        elif account.security == Security.starttls:
            mailbox = MailBoxStartTls(account.host, account.port, timeout=CONNECT_TIMEOUT, ssl_context=account.tls())
        else:
            mailbox = MailBoxUnencrypted(account.host, account.port, timeout=CONNECT_TIMEOUT)
        self.mailbox = mailbox
        mailbox.login(account.user, account.password, initial_folder=None)
        self._refresh_capabilities()
        status, _data = mailbox.client.select(_quoted(account.folder))
        if status != "OK":
            raise ImapError(f"the folder {account.folder!r} cannot be opened on {account.host}")
        if account.action == ProcessedAction.move:
            self._ensure_folder(account.move_to)

    def _refresh_capabilities(self) -> None:
        """Servers announce MOVE, UIDPLUS, IDLE ... only after login; imaplib keeps the greeting's list."""
        client = self._client()
        status, data = client.capability()
        if status == "OK" and data and isinstance(data[-1], bytes):
            client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())

    def _ensure_folder(self, name: str) -> None:
        if not name:
            raise ImapError("processed mail should be moved, but no target folder is set")
        client = self._client()
        status, data = client.list('""', _quoted(name))
        if status == "OK" and any(item for item in data if item):
            return
        status, data = client.create(_quoted(name))
        if status != "OK":
            raise ImapError(f"the folder {name!r} does not exist and cannot be created: {data!r}")

    def _client(self) -> imaplib.IMAP4:
        if self.mailbox is None:
            raise ImapError("not connected")
        return self.mailbox.client

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self._client().capabilities

    def pending(self) -> list[str]:
        """UIDs of messages not yet processed, oldest first."""
        status, data = self._client().uid(
            "SEARCH", "UNSEEN", "UNKEYWORD", PROCESSED_KEYWORD, "UNKEYWORD", TOO_LARGE_KEYWORD
        )
        if status != "OK":
            raise ImapError(f"searching {self.account.folder!r} failed: {data!r}")
        uids = (data[0] or b"").split() if data else []
        return sorted((u.decode() for u in uids), key=int)

    def fetch(self, uid: str) -> bytes | None:
        """The whole raw message (without setting \\Seen); None when it is over the size limit."""
        client = self._client()
        status, data = client.uid("FETCH", uid, "(RFC822.SIZE)")
        size = _size_of(data) if status == "OK" else None
        if size is not None and size > self.max_bytes:
            return None
        status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
        if status != "OK":
            raise ImapError(f"fetching message {uid} failed: {data!r}")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return bytes(item[1])
        raise ImapError(f"message {uid} vanished from {self.account.folder!r}")  # expunged meanwhile

    def mark_processed(self, uid: str) -> None:
        """Flag (and move, if so configured): only ever called after ingest committed."""
        client = self._client()
        status, data = client.uid("STORE", uid, "+FLAGS", f"(\\Seen {PROCESSED_KEYWORD})")
        if status != "OK":
            raise ImapError(f"flagging message {uid} failed: {data!r}")
        if self.account.action == ProcessedAction.move:
            self._move(uid, self.account.move_to)

    def mark_too_large(self, uid: str) -> None:
        self._client().uid("STORE", uid, "+FLAGS", f"({TOO_LARGE_KEYWORD})")

    def _move(self, uid: str, folder: str) -> None:
        client = self._client()
        if "MOVE" in client.capabilities:
            status, data = client.uid("MOVE", uid, _quoted(folder))
        else:  # COPY, then expunge only this message (UIDPLUS), never the user's other deleted mail
            status, data = client.uid("COPY", uid, _quoted(folder))
            if status == "OK":
                client.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                if "UIDPLUS" in client.capabilities:
                    client.uid("EXPUNGE", uid)
        if status != "OK":
            raise ImapError(f"moving message {uid} to {folder!r} failed: {data!r}")

    def idle(self, timeout: float) -> None:
        """Block until the server announces a change or the timeout passes (RFC 2177 IDLE).

        Written out rather than imap-tools' ``idle.wait``: that one swallows an ``EXISTS`` the
        server sends *before* its ``+ idling`` (mail that arrived between our SEARCH and the
        IDLE) and then sleeps the whole interval with the mail waiting.
        """
        client = self._client()
        tag = client._command("IDLE")  # imaplib has no public IDLE before Python 3.14
        changed = False
        while True:
            line = client._get_line()
            if line.startswith(b"+"):
                break
            if line.startswith(tag):
                raise ImapError(f"the server refused IDLE: {line.decode(errors='replace')}")
            changed = changed or line.startswith(b"*")
        if not changed:
            _wait_readable(client, timeout)
        client.send(b"DONE\r\n")
        while not client._get_line().startswith(tag):
            pass
        client.tagged_commands.pop(tag, None)

    def noop(self) -> None:
        self._client().noop()

    def interrupt(self) -> None:
        """Cut the connection from another thread: a blocked IDLE returns at once."""
        client = self.mailbox.client if self.mailbox is not None else None
        sock = getattr(client, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def logout(self) -> None:
        if self.mailbox is not None:
            with contextlib.suppress(Exception):
                self.mailbox.logout()


def _wait_readable(client: imaplib.IMAP4, timeout: float) -> bool:
    """Whether the server said something within the timeout, counting what imaplib has buffered
    already (the server often sends ``* 3 EXISTS`` in the same packet as ``+ idling``)."""
    sock = client.sock
    previous = sock.gettimeout()
    sock.settimeout(0.0)  # peek must not block: it reads from the socket when its buffer is empty
    try:
        with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
            if cast(io.BufferedReader, client.file).peek(1):
                return True
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        return bool(wait_readable([sock], [], [], timeout)[0])
    finally:
        sock.settimeout(previous)


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as they are)."""
    from imap_tools.imap_utf7 import utf7_encode

    encoded = utf7_encode(folder).decode()
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size_of(data: list[Any]) -> int | None:
    for item in data:
        raw = item[0] if isinstance(item, tuple) else item
        if isinstance(raw, bytes) and (found := re.search(rb"RFC822\.SIZE (\d+)", raw)):
            return int(found.group(1))
    return None


# ---------------------------------------------------------------------- the event loop's side


class MailboxLease:
    """The right to poll one mailbox: a PostgreSQL advisory lock held on a connection of its own."""

    def __init__(self, database_url: str, mailbox_id: int, *, needed: bool) -> None:
        self._url = database_url
        self._mailbox_id = mailbox_id
        self._needed = needed
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @property
    def held(self) -> bool:
        return not self._needed or self._conn is not None

    async def acquire(self) -> bool:
        if not self._needed:
            return True
        if self._conn is not None:
            await self._conn.execute("SELECT 1")  # raises when the connection (and so the lock) is gone
            return True
        conn = await psycopg.AsyncConnection.connect(loading_conninfo(self._url), autocommit=True)
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self._mailbox_id))
        ).fetchone()
        if row and row[0]:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # closing the session frees its advisory locks
            self._conn = None


class MailboxPoller:
    """Polls one mailbox until cancelled; never raises (errors are recorded and retried)."""

    def __init__(self, services: IntakeServices, account: ImapAccount, *, poll_seconds: float) -> None:
        self.services = services
        self.account = account
        self.poll_seconds = poll_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{account.mailbox_id}")
        self._lease = MailboxLease(
            services.settings.database_url, account.mailbox_id, needed=not services.db.is_sqlite
        )
        self._backoff = FIRST_BACKOFF
        self._task: asyncio.Task[None] | None = None

    @property
    def polling(self) -> bool:
        """This process has the mailbox (on PostgreSQL: holds its lock); another may be standing by."""
        return self._task is not None and not self._task.done() and self._lease.held

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"imap-poller-{self.account.mailbox_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self) -> None:
        while True:
            try:
                if await self._lease.acquire():
                    await self._serve()
                else:
                    await asyncio.sleep(LOCK_RETRY_SECONDS)  # another process polls this mailbox
                    continue
            except asyncio.CancelledError:
                await self._lease.release()
                raise
            except Exception as exc:
                await self._failed(exc)

    async def _failed(self, exc: BaseException) -> None:
        message = describe_error(exc, self.account)
        log.warning("imap: mailbox %s: %s", self.account.mailbox_id, message, exc_info=not _expected(exc))
        with contextlib.suppress(Exception):
            await record_imap_status(self.services.db, self.account.mailbox_id, error=message)
        await self._lease.release()
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    async def _serve(self) -> None:
        """One connection's life: open, then drain and wait until something fails."""
        max_bytes = self.services.settings.email_max_bytes or DEFAULT_MAX_BYTES
        connection = ImapConnection(self.account, max_bytes=max_bytes)
        try:
            await self._call(connection.open)
            log.debug("imap: mailbox %s: connected to %s", self.account.mailbox_id, self.account.host)
            while True:
                await self._lease.acquire()  # still ours? (raises if the lock's connection died)
                error = await self.drain(connection)
                await record_imap_status(self.services.db, self.account.mailbox_id, error=error)
                self._backoff = FIRST_BACKOFF
                await self._wait(connection)
        finally:
            connection.interrupt()  # ends a blocked IDLE so the thread is free at once

    async def drain(self, connection: ImapConnection) -> str:
        """Import every pending message; returns "" or the (last) message-level problem."""
        from helpline.channels.email import intake  # imported late: intake imports the app's services

        problem = ""
        for uid in await self._call(connection.pending):
            raw = await self._call(connection.fetch, uid)
            if raw is None:
                limit_mb = connection.max_bytes // (1024 * 1024)
                problem = f"message {uid} is larger than {limit_mb} MB and was left on the server"
                log.warning("imap: mailbox %s: %s", self.account.mailbox_id, problem)
                await self._call(connection.mark_too_large, uid)
                continue
            try:
                result = await intake.ingest(self.services, raw, mailbox_id=self.account.mailbox_id, source="imap")
            except Exception as exc:  # left unflagged: retried on the next poll; the others still come in
                problem = f"message {uid} could not be imported ({type(exc).__name__}): retrying on the next poll"
                log.exception("imap: mailbox %s: importing uid %s failed", self.account.mailbox_id, uid)
                continue
            # ingest committed: only now may the server forget the message.
            await self._call(connection.mark_processed, uid)
            log.info("imap: mailbox %s: uid %s %s", self.account.mailbox_id, uid, result.outcome)
        return problem

    async def _wait(self, connection: ImapConnection) -> None:
        if connection.can_idle:
            log.debug("imap: mailbox %s: idling", self.account.mailbox_id)
            await self._call(connection.idle, min(self.poll_seconds, MAX_IDLE_SECONDS))
            log.debug("imap: mailbox %s: woken", self.account.mailbox_id)
        else:
            await asyncio.sleep(self.poll_seconds)
            await self._call(connection.noop)


def _expected(exc: BaseException) -> bool:
    """Errors of the outside world: logged in one line, without a traceback."""
    return isinstance(exc, ImapError | MailboxLoginError | OSError | imaplib.IMAP4.error | EOFError)


class ImapIntake:
    """Starts, restarts and stops the mailbox pollers of this process."""

    def __init__(
        self, services: IntakeServices, *, poll_seconds: float, reload_seconds: float = RELOAD_SECONDS
    ) -> None:
        self.services = services
        self.poll_seconds = poll_seconds
        self.reload_seconds = reload_seconds
        self.pollers: dict[int, MailboxPoller] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()

    async def start(self) -> None:
        subscription = self.services.bus.subscribe()
        self._loops.append(asyncio.create_task(self._listen(subscription), name="imap-listen"))
        self._loops.append(asyncio.create_task(self._timer(), name="imap-reload"))

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        await asyncio.gather(*(p.stop() for p in self.pollers.values()))
        self.pollers.clear()

    async def reload(self) -> None:
        """Match the pollers to the mailboxes: start new, restart changed, stop removed ones."""
        async with self._reload_lock:
            wanted = {a.mailbox_id: a for a in await imap_accounts(self.services.db, self.services.settings.secret_key)}
            for mailbox_id, poller in list(self.pollers.items()):
                if wanted.get(mailbox_id) != poller.account:
                    await poller.stop()
                    del self.pollers[mailbox_id]
            for mailbox_id, account in wanted.items():
                if mailbox_id not in self.pollers:
                    poller = MailboxPoller(self.services, account, poll_seconds=self.poll_seconds)
                    self.pollers[mailbox_id] = poller
                    poller.start()

    async def _listen(self, subscription: Any) -> None:
        try:
            async for event in subscription:
                if event.type == MAILBOXES_CHANGED:
                    await self._quietly_reload()
        finally:
            subscription.close()

    async def _timer(self) -> None:
        while True:
            await self._quietly_reload()
            await asyncio.sleep(self.reload_seconds)

    async def _quietly_reload(self) -> None:
        try:
            await self.reload()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be briefly away; the timer tries again
            log.warning("imap: loading the mailboxes failed", exc_info=True)


__all__ = [
    "PROCESSED_KEYWORD",
    "ImapAccount",
    "ImapConnection",
    "ImapError",
    "ImapIntake",
    "MailboxPoller",
    "describe_error",
    "imap_accounts",
    "record_imap_status",
]
