"""Helpline's own SMTP listener: mail for the configured mailboxes, straight into intake.

aiosmtpd's ``SMTP`` protocol served by ``loop.create_server`` on the app's own event loop (not
its threaded ``Controller``): intake shares the loop, the database engine and the event bus
with the web app, so a mail is in the live inbox as soon as it is committed.

The SMTP contract: ``RCPT TO`` is accepted only for an active mailbox (plus-addressing too),
else ``550 5.1.1``; mail over ``HELPLINE_EMAIL_MAX_BYTES`` is refused with ``552`` (SIZE is
advertised) and nothing is stored; ``250`` only after the commit, ``451 4.3.0`` when intake
fails unexpectedly (the sender retries; Message-ID de-duplication makes the retry safe).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import weakref
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from helpline.channels.email import service as mailboxes
from helpline.channels.email.intake import IntakeServices, ingest
from helpline.channels.email.tls import listener_context

log = logging.getLogger(__name__)

END = b"\r\n.\r\n"  # the end of DATA
RCPT_CACHE_SECONDS = 5.0  # a mailbox switched off stops receiving within seconds
RCPT_CACHE_SIZE = 10_000
MAX_RECIPIENTS = 100


class HelplineSMTP(SMTP):
    """aiosmtpd's server with a faster DATA reader and a log line for every refused oversize mail."""

    # Real-world mail has lines far over RFC 5321's 1000 octets (generated HTML); accept them.
    line_length_limit = 256 * 1024

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """As aiosmtpd's, but the data is read in large blocks, not line by line.

        aiosmtpd reads (and debug-logs) every line: a 2 MB attachment is ~37,000 awaits and
        took half the server's CPU for such mail. Here the stream is read up to the end marker
        ``CRLF . CRLF`` in blocks; dot-stuffing is undone with one ``replace``.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await self._read_data()
        except asyncio.CancelledError:
            self._writer.close()  # the connection went away during DATA
            raise
        if content is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()
            return
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> bytes | None:
        """The message up to the end marker, un-dot-stuffed; None when it was over the size limit."""
        reader = self._reader
        data = _Data(self.data_size_limit)
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError as exc:
            raise asyncio.CancelledError() from exc
        if first in (b".", b"\r"):
            # The end marker may be the very first line (an empty message), or follow an empty
            # first line, where the block search below would miss it (its CRLF is already read).
            # Rare: go line by line, as aiosmtpd does.
            line = first + await self._read_until(reader, b"\r\n")
            if line == b".\r\n":
                return b""
            data.add(line)
            while True:
                at_line_start = data.last.endswith(b"\r\n")
                line = await self._read_until(reader, b"\r\n")
                if at_line_start and line == b".\r\n":
                    data.add(line)
                    break
                data.add(line)
            body = data.joined()
        else:
            data.add(first)
            while not data.last.endswith(END):
                data.add(await self._read_until(reader, END))
            body = data.joined()
        if data.too_big:
            return None
        body = body[:-3]  # drop ".\r\n", keep the last line's CRLF
        # RFC 5321 4.5.2: the sender doubled a leading dot; like aiosmtpd, drop any leading dot.
        body = body.replace(b"\r\n.", b"\r\n")
        return body[1:] if body.startswith(b".") else body

    @staticmethod
    async def _read_until(reader: asyncio.StreamReader, separator: bytes) -> bytes:
        """Up to and including the separator, or a block of what is buffered when it is not there yet."""
        try:
            return await reader.readuntil(separator)
        except asyncio.LimitOverrunError as exc:
            return await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError as exc:
            raise asyncio.CancelledError() from exc

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """As aiosmtpd's, minus the ``typing.Protocol`` class it defines on every call: making that
        class was a tenth of the listener's own time per mail (MAIL FROM and RCPT TO both ask)."""
        if not arg:
            return "", ""
        try:
            address, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
        except HeaderParseError:
            return None, None
        addr: str = address.addr_spec
        localpart = addr.rpartition("@")[0]
        if self.local_part_limit and len(localpart) > self.local_part_limit:
            return None, None
        return addr, rest

    async def push(self, status: AnyStr) -> None:
        text = status if isinstance(status, str) else status.decode("utf-8", "replace")
        if text.startswith("552"):
            peer = self.session.peer if self.session is not None else "?"
            log.warning(
                "refused an email over the %s byte limit from %s (MAIL FROM %s): %s",
                self.data_size_limit,
                peer,
                self.envelope.mail_from if self.envelope is not None else "?",
                text,
            )
        await super().push(status)


class _Data:
    """DATA as it arrives: kept while under the limit, only counted beyond it."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.pieces: list[bytes] = []
        self.size = 0
        self.too_big = False
        self.last = b""

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        self.last = piece if len(piece) >= len(END) else (self.last + piece)[-len(END) :]
        if self.limit and self.size > self.limit:
            self.too_big = True
            self.pieces.clear()  # keep reading to the end marker, keep nothing
        if not self.too_big:
            self.pieces.append(piece)

    def joined(self) -> bytes:
        return b"".join(self.pieces)


class IntakeHandler:
    """The aiosmtpd handler: recipients → mailboxes, DATA → ``ingest`` per mailbox."""

    def __init__(self, services: IntakeServices) -> None:
        self.services = services
        self._mailboxes: weakref.WeakKeyDictionary[Envelope, dict[int, None]] = weakref.WeakKeyDictionary()
        self._cache: dict[str, tuple[float, int | None]] = {}

    async def mailbox_id(self, address: str) -> int | None:
        """The active mailbox for an address, remembered for a few seconds (every RCPT asks)."""
        key = address.strip().lower()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.services.db.read() as session:
            mailbox = await mailboxes.mailbox_for_address(session, key)
        found = mailbox.id if mailbox is not None else None
        if len(self._cache) >= RCPT_CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (now + RCPT_CACHE_SECONDS, found)
        return found

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            mailbox_id = await self.mailbox_id(address)
        except Exception:
            log.exception("looking up the mailbox for %r failed", address)
            return "451 4.3.0 Temporary failure, try again later"
        if mailbox_id is None:
            return f"550 5.1.1 <{_printable(address)}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self._mailboxes.setdefault(envelope, {})[mailbox_id] = None
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else b""
        targets = list(self._mailboxes.pop(envelope, {}))
        if not targets:
            return "554 5.5.1 No valid recipients"
        try:
            for mailbox_id in targets:
                await ingest(
                    self.services, raw, mailbox_id=mailbox_id, envelope_from=envelope.mail_from or "", source="smtp"
                )
        except Exception:
            log.exception("intake of an email from %s failed; the sender will retry", envelope.mail_from)
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 OK: queued"


def _printable(address: str) -> str:
    return "".join(c for c in address if c.isprintable())[:254]


class SmtpListener:
    """Started and stopped by the app's ``Runtime``; off when ``HELPLINE_SMTP_PORT`` is 0."""

    def __init__(self, services: IntakeServices) -> None:
        self.services = services
        self.handler = IntakeHandler(services)
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> str | None:
        """host:port it listens on, or None when off."""
        if self._server is None or not self._server.sockets:
            return None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        settings = self.services.settings
        if not settings.smtp_port:
            return
        loop = asyncio.get_running_loop()
        # Looked up once: aiosmtpd would ask the resolver (getfqdn) for every connection.
        hostname = socket.gethostname() or "helpline"
        tls = listener_context(settings)  # STARTTLS when HELPLINE_SMTP_TLS_CERT/_KEY are set

        def protocol() -> Any:
            return HelplineSMTP(
                self.handler,
                data_size_limit=settings.email_max_bytes,
                enable_SMTPUTF8=True,
                decode_data=False,
                hostname=hostname,
                ident="Helpline ESMTP",
                tls_context=tls,
                loop=loop,
            )

        try:
            self._server = await loop.create_server(protocol, host=settings.smtp_host, port=settings.smtp_port)
        except OSError as exc:
            # The web app still serves; mail is not received here until the port is free.
            log.error(
                "SMTP listener could not listen on %s:%s (%s); no mail is received by this process "
                "(set HELPLINE_SMTP_PORT to a free port, or 0 to turn the listener off)",
                settings.smtp_host,
                settings.smtp_port,
                exc,
            )
            return
        log.info("SMTP listener on %s", self.address)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        except TimeoutError:
            log.warning("SMTP connections still open at shutdown")
        self._server = None
