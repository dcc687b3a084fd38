"""Inbound email parsing: raw RFC 5322 bytes in, a `ParsedEmail` out.

Pure: no database, no I/O. The parser never raises; whatever is broken in a message is
reported in `ParsedEmail.defects` and the rest is still read. It uses the stdlib `email`
package. Most mail takes a fast path: the MIME tree is read with `compat32` (several times
cheaper than `policy.default`, whose header registry re-parses Content-Type on every look-up)
and header values get `policy.default`'s meaning: plain ASCII values, simple address lists and
well-formed encoded words are read here exactly as the modern header objects would read them;
anything else goes through `policy.default`'s own header parser. A message whose MIME headers
are not plain (comments, encoded words, RFC 2231 parameters, 8-bit bytes, ...) is parsed whole
with `policy.default` as before, falling back to `compat32` (and to a lenient raw decode)
wherever the modern policy chokes.
"""

from __future__ import annotations

import base64
import codecs
import email
import email.policy
import mimetypes
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email._encoded_words import decode_b  # what Message.get_payload(decode=True) uses for base64
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from mailparser_reply.parser import EmailMessage as _ReplyMessage

from helpline.html import html_to_text, sanitise_html

MAX_SUBJECT_CHARS = 1000
MAX_FILENAME_CHARS = 150
MAX_PARTS = 500
MAX_DEPTH = 50

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_CID_IN_HTML = re.compile(r"""cid:([^"'\s<>)]+)""", re.IGNORECASE)
_CID_WORD = re.compile(r"cid:", re.IGNORECASE)
_REMOTE_IMG = re.compile(r"""<img\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
# Longer header values are cut (with a defect): policy.default parses some headers in quadratic time,
# so a single 100 KB From: would cost the intake many seconds of CPU.
MAX_HEADER_CHARS = 16_384
_SURROGATES = re.compile(r"[\udc80-\udcff]")
_FILENAME_FORBIDDEN = re.compile(r'[\\/<>:"|?*\x00-\x1f\x7f-\x9f]')
# Big attachments (see _stand_ins): stretches of base64 lines at least this long skip the line parser.
BIG_RUN_BYTES = 64 * 1024
_PART_HEADER_BYTES = 64 * 1024
_BASE64_LINES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"
_DEFAULT_NAMES = {"text/rfc822-headers": "headers.txt", "text/calendar": "invite.ics"}
_DAEMON_LOCALPARTS = {"mailer-daemon", "postmaster", "mail-daemon", "maildaemon"}

# The fast path. "Plain" means: what `policy.default`'s header objects would make of the value is
# the value itself (unfolded), so it can be used without running the header registry's parser.
# Anything outside these deliberately narrow shapes goes through `policy.default` instead;
# tests/channels/email/test_parsing_fast.py checks that both ways give the same ParsedEmail.
_NOT_PLAIN = re.compile(r"[^\t\r\n\x20-\x7e]|=\?")  # non-ASCII, control characters, encoded words
_WS = r"[ \t\r\n]*"
_MIME_TOKEN = r"[A-Za-z0-9.+_-]+"
_MIME_PARAMS = rf"(?:{_WS};{_WS}[A-Za-z0-9_-]+=(?:[A-Za-z0-9._+-]+|\"[\x20\x21\x23-\x5b\x5d-\x7e]+\"))*{_WS};?{_WS}\Z"
_PLAIN_CONTENT_TYPE = re.compile(rf"{_WS}{_MIME_TOKEN}/{_MIME_TOKEN}{_MIME_PARAMS}")
_PLAIN_DISPOSITION = re.compile(rf"{_WS}{_MIME_TOKEN}{_MIME_PARAMS}")
_PLAIN_ENCODING = re.compile(r"[A-Za-z0-9-]+\Z")
_PARAM_NAME = re.compile(r";[ \t\r\n]*([A-Za-z0-9_-]+)=")
_NOT_ASCII_TEXT = re.compile(r"[^\t\r\n\x20-\x7e]")
# A well-formed RFC 2047 encoded word, in the shapes policy.default reads back exactly as we do.
_ENCODED_WORD = (
    r"=\?[A-Za-z0-9_-]+\?(?:[Qq]\?(?:=[0-9A-Fa-f]{2}|[^=?\s])+"
    r"|[Bb]\?(?=[A-Za-z0-9+/])(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)\?="
)
_ONE_ENCODED_WORD = re.compile(rf"{_ENCODED_WORD}\Z")
_Q_ESCAPE = re.compile(rb"=([a-fA-F0-9]{2})")
_BLANKS = re.compile(r"([ \t]+)")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR_SPEC = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# A display name: atoms (dots allowed, not first) and whole encoded words, separated by blanks.
_WORD = rf"(?:{_ENCODED_WORD}(?=[ \t\r\n])|(?:(?!=\?)[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-])+)"
_PHRASE = rf"(?!\.){_WORD}(?:[ \t\r\n]+{_WORD})*"
_QUOTED_TEXT = r"(?:(?!=\?)[\x20\x21\x23-\x5b\x5d-\x7e])+"
# A phrase ending in "." right before "<" makes policy.default raise: not plain. The alternatives
# exclude each other and each mailbox is an atomic group, so a long hostile list cannot make the
# regex backtrack exponentially.
_MAILBOX = (
    rf"(?>(?:\"{_QUOTED_TEXT}\"{_WS}|{_PHRASE}(?<!\.){_WS}|{_PHRASE}(?<=\.)[ \t\r\n]+)?<{_ADDR_SPEC}>|{_ADDR_SPEC})"
)
_PLAIN_ADDRESS_LIST = re.compile(rf"{_WS}{_MAILBOX}(?:{_WS},{_WS}{_MAILBOX})*{_WS}\Z")
_ONE_MAILBOX = re.compile(
    rf"(?:(?:\"(?P<quoted>{_QUOTED_TEXT})\"{_WS}|(?P<phrase>{_PHRASE})(?<!\.){_WS}"
    rf"|(?P<dotted>{_PHRASE})(?<=\.)[ \t\r\n]+)?<(?P<angle>{_ADDR_SPEC})>"
    rf"|(?P<bare>{_ADDR_SPEC}))"
)
# Message-ID is the one header read here that the registry gives structure to: only a well-formed
# id reads back unchanged.
_PLAIN_MESSAGE_ID = re.compile(rf"{_WS}<{_ATEXT}+(?:\.{_ATEXT}+)*@{_ATEXT}+(?:\.{_ATEXT}+)*>{_WS}\Z")
_STRUCTURE_HEADERS = {
    "content-type": _PLAIN_CONTENT_TYPE,
    "content-disposition": _PLAIN_DISPOSITION,
    "content-transfer-encoding": _PLAIN_ENCODING,
}

# Charset names seen in the wild that Python does not know, or knows as something narrower.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",  # what senders mean (WHATWG does the same)
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-sjis": "shift_jis",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
}
_UNDECLARED = {"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown", "default"}


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = ""
    from_: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None
    text: str = ""
    html: str = ""  # sanitised
    attachments: tuple[ParsedAttachment, ...] = ()
    cid_references: tuple[str, ...] = ()  # content ids the HTML points at, without "cid:" and brackets
    has_remote_images: bool = False
    is_auto_submitted: bool = False
    is_bulk: bool = False
    is_bounce: bool = False
    bounced_message_id: str | None = None
    is_spam: bool = False
    defects: tuple[str, ...] = ()


# ---------------------------------------------------------------- decoding helpers


def _codec(charset: str | None) -> str | None:
    name = (charset or "").strip().strip('"').lower()
    if name in _UNDECLARED:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Decode with the declared charset; unknown or missing charsets get utf-8, then windows-1252."""
    codec = _codec(charset)
    if codec is None:
        declared = (charset or "").strip().lower()
        if declared and declared not in _UNDECLARED and defects is not None:
            defects.append(f"unknown charset {declared[:40]!r}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")
    try:
        return data.decode(codec, errors="replace")
    except Exception:  # a codec that still fails (e.g. a stateful one on garbage)
        return data.decode("utf-8", errors="replace")


def _fix_surrogates(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes; read them as utf-8, else windows-1252."""
    if not _SURROGATES.search(value):
        return value
    data = value.encode("utf-8", errors="surrogateescape")
    return decode_bytes(data, None)


def _decode_words(value: str) -> str:
    """RFC 2047 decode a raw header value leniently."""
    value = _fix_surrogates(value)
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(out)


def clean_line(value: str, limit: int | None = None) -> str:
    """One line of text: no control characters (so no CR/LF injection), whitespace collapsed."""
    value = _WHITESPACE.sub(" ", _CONTROL.sub(" ", value)).strip()
    return value[:limit] if limit else value


def safe_filename(name: str, content_type: str = "application/octet-stream") -> str:
    """A file name fit to store and serve: no path parts, control characters or reserved characters."""
    name = unicodedata.normalize("NFC", _fix_surrogates(name))
    name = _FILENAME_FORBIDDEN.sub("_", _CONTROL.sub("", name))
    name = _WHITESPACE.sub(" ", name).strip(" .")
    if not name.strip("_"):
        name = ""
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    if not name:
        name = "attachment" + (mimetypes.guess_extension(content_type) or ".bin")
    return name


def _is_plain(value: str) -> bool:
    return _NOT_PLAIN.search(value) is None


def _unfold(value: str) -> str:
    """What `policy.default` does to a raw value before parsing it: line breaks removed."""
    return value.replace("\r", "").replace("\n", "") if "\r" in value or "\n" in value else value


def _decode_encoded_word(word: str) -> str | None:
    """One encoded word, decoded as policy.default does; None where it would see a defect."""
    charset, cte, text = word[2:-2].split("?")
    data = text.encode("ascii")
    try:
        if cte in "Bb":
            data = base64.b64decode(data, validate=True)
        else:
            data = _Q_ESCAPE.sub(lambda m: bytes.fromhex(m[1].decode()), data.replace(b"_", b" "))
        return data.decode(charset)
    except Exception:  # unknown charset, undecodable bytes: policy.default's parser decides
        return None


def _plain_unstructured(raw: str) -> str | None:
    """An unstructured header value as `policy.default` reads it (encoded words decoded, blanks
    between two of them dropped); None when the value is not ASCII text with only whole,
    well-formed encoded words, so the modern parser must look at it."""
    if _NOT_ASCII_TEXT.search(raw):
        return None
    value = _unfold(raw)
    if "=?" not in value:
        return value
    pieces = _BLANKS.split(value)  # word, blanks, word, ..., word
    out: list[str] = []
    previous_encoded = False
    for index in range(0, len(pieces), 2):
        word = pieces[index]
        encoded = "=?" in word
        if encoded:
            if not _ONE_ENCODED_WORD.match(word):
                return None
            decoded = _decode_encoded_word(word)
            if decoded is None:
                return None
            word = decoded
        if index and not (encoded and previous_encoded):
            out.append(pieces[index - 1])
        out.append(word)
        previous_encoded = encoded
    return "".join(out)


def _display_name(phrase: str) -> str | None:
    words = []
    for word in phrase.split():
        if "=?" in word:
            decoded = _decode_encoded_word(word)
            if decoded is None:
                return None
            word = decoded
        words.append(word)
    return " ".join(words)


def _plain_addresses(raw: str) -> list[tuple[str, str]] | None:
    """(display name, address) pairs of a list of simple mailboxes; None if it is anything more.

    Display names are whitespace-normalised differently from policy.default, which does not
    matter: every caller passes them through `clean_line`."""
    if _NOT_ASCII_TEXT.search(raw) or _PLAIN_ADDRESS_LIST.match(raw) is None:
        return None
    pairs: list[tuple[str, str]] = []
    for m in _ONE_MAILBOX.finditer(raw):
        address = m["angle"] or m["bare"]
        name = m["quoted"] or _display_name(m["phrase"] or m["dotted"] or "")
        if name is None or "=?" in address or "\r" in name or "\n" in name:  # CR/LF: policy.default raises
            return None
        pairs.append((name, address))
    return pairs


def _plain_structure(msg: Message) -> bool:
    """Every part's Content-Type/-Disposition/-Transfer-Encoding is plain, so compat32 builds the
    same MIME tree and reads the same parameters as `policy.default` would."""
    for part in msg.walk():
        for key, value in part.raw_items():
            pattern = _STRUCTURE_HEADERS.get(key.lower())
            if pattern is None:
                continue
            if not isinstance(value, str) or not _is_plain(value) or pattern.match(value) is None:
                return False
            if pattern is not _PLAIN_ENCODING:
                names = [n.lower() for n in _PARAM_NAME.findall(value)]
                if len(names) != len(set(names)):
                    return False
    return True


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    found = _MSGID.search(value)
    if found:
        return found.group(0)
    token = clean_line(value, 500).split(" ")[0]
    return f"<{token.strip('<>')}>" if token.strip("<>") else None


# ---------------------------------------------------------------- the parser


class _Reader:
    """Reads one parsed message. `modern`: header values mean what `policy.default` makes of them
    (else compat32 + lenient decoding). `fast`: the message was parsed with compat32 and modern
    header values are computed here: as they are when plain, else by `policy.default`'s parser."""

    def __init__(self, msg: Message, modern: bool, fast: bool = False) -> None:
        self.msg = msg
        self.modern = modern
        self.fast = fast
        self.top: dict[str, str] = {}
        for key, value in reversed(list(msg.raw_items())):  # the first of repeated headers wins, as msg.get
            self.top[key.lower()] = value if isinstance(value, str) else str(value)
        self.defects: list[str] = []
        self.text: list[str] = []
        self.html: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.is_bounce = False
        self.bounced_message_id: str | None = None
        self.parts_seen = 0

    # headers ------------------------------------------------------------

    def raw(self, name: str, msg: Message | None = None) -> str | None:
        if msg is None or msg is self.msg:
            return self.top.get(name.lower())
        for key, value in msg.raw_items():
            if key.lower() == name.lower():
                return value if isinstance(value, str) else str(value)
        return None

    def _capped(self, name: str, raw: str) -> str | None:
        """The value cut to MAX_HEADER_CHARS when longer (None when it fits), with a defect saying so."""
        if len(raw) <= MAX_HEADER_CHARS:
            return None
        self.defects.append(f"{name} header too long ({len(raw)} characters): only the first {MAX_HEADER_CHARS} read")
        cut = raw[:MAX_HEADER_CHARS]
        return cut[: cut.rfind(",")] if "," in cut else cut

    def header(self, name: str, msg: Message | None = None) -> str | None:
        msg = msg if msg is not None else self.msg
        raw = self.raw(name, msg)
        if raw is None:
            return None
        capped = self._capped(name, raw)
        if capped is not None:  # policy.default's header parser is quadratic: never hand it a huge value
            return _decode_words(capped)
        if self.modern and not _SURROGATES.search(raw):  # policy.default turns raw 8-bit into U+FFFD
            if self.fast:
                fast = _plain_unstructured(raw) if name != "Message-ID" else None
                if fast is not None:
                    return fast
                if name == "Message-ID" and _is_plain(raw) and _PLAIN_MESSAGE_ID.match(raw):
                    return _unfold(raw)
            try:
                value = email.policy.default.header_fetch_parse(name, raw) if self.fast else msg.get(name)
                if value is not None:
                    return _fix_surrogates(str(value))
            except Exception as exc:
                self.defects.append(f"unreadable {name} header ({type(exc).__name__})")
        return _decode_words(raw)

    def addresses(self, name: str) -> tuple[Address, ...]:
        raw = self.raw(name)
        if raw is None:
            return ()
        pairs: list[tuple[str, str]] = []
        capped = self._capped(name, raw)
        if capped is not None:  # too long for policy.default (quadratic): the legacy parser below reads it
            raw = capped
        plain = _plain_addresses(raw) if self.fast else None
        if plain is not None:
            pairs = plain
        elif capped is None and self.modern and not _SURROGATES.search(raw):
            try:
                value: Any = email.policy.default.header_fetch_parse(name, raw) if self.fast else self.msg.get(name)
                for a in getattr(value, "addresses", ()):
                    pairs.append((str(a.display_name or ""), str(a.addr_spec or "")))
            except Exception as exc:
                self.defects.append(f"unreadable {name} header ({type(exc).__name__})")
                pairs = []
        if not pairs:
            try:
                pairs = [(_decode_words(n), a) for n, a in getaddresses([_fix_surrogates(raw)])]
            except Exception:
                pairs = []
        out: list[Address] = []
        for display, addr in pairs:
            addr = _fix_surrogates(addr).strip()
            if addr.startswith("<") and addr.endswith(">"):
                addr = addr[1:-1]
            if not addr or _CONTROL.search(addr) or re.search(r"[\s<>,;]", addr) or len(addr) > 320:
                if addr or display:
                    self.defects.append(f"invalid address in {name}")
                continue
            out.append(Address(name=clean_line(_fix_surrogates(display), 200), address=addr))
        if not out and raw.strip():
            self.defects.append(f"no usable address in {name}")
        return tuple(out)

    def date(self) -> datetime | None:
        raw = self.raw("Date")
        if raw is None:
            self.defects.append("missing Date header")
            return None
        try:
            value = parsedate_to_datetime(clean_line(_fix_surrogates(raw)))
        except Exception:
            value = None
        if value is None:
            self.defects.append("unparseable Date header")
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    # body -----------------------------------------------------------------

    def walk(self, part: Message, depth: int = 0, in_related: bool = False) -> None:
        self.parts_seen += 1
        if self.parts_seen > MAX_PARTS or depth > MAX_DEPTH:
            if self.parts_seen == MAX_PARTS + 1 or depth == MAX_DEPTH + 1:
                self.defects.append("too many or too deeply nested parts; the rest was skipped")
            return
        try:
            ctype = part.get_content_type()
        except Exception:
            ctype = "application/octet-stream"
        if ctype in ("message/rfc822", "message/global"):
            self._forwarded(part)
            return
        if ctype == "message/delivery-status":
            self._delivery_status(part)
            return
        if part.is_multipart():
            if ctype == "multipart/report":
                try:
                    report_type = str(part.get_param("report-type") or "").lower()
                except Exception:
                    report_type = ""
                if report_type == "delivery-status":
                    self.is_bounce = True
            payload = part.get_payload()
            if not isinstance(payload, list) or not payload:
                self.defects.append(f"empty {ctype}")
                return
            for sub in payload:
                if isinstance(sub, Message):
                    self.walk(sub, depth + 1, in_related=ctype == "multipart/related")
            return
        self._leaf(part, ctype, in_related)

    def _payload(self, part: Message) -> bytes:
        data: object
        try:
            data = _big_base64(part)
            if data is None:
                data = part.get_payload(decode=True)
        except Exception as exc:
            self.defects.append(f"undecodable part ({type(exc).__name__})")
            data = None
        if isinstance(data, bytes):
            return data
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", errors="surrogateescape")
        return b""

    def _disposition(self, part: Message) -> str:
        try:
            return (part.get_content_disposition() or "").lower()
        except Exception:
            return ""

    def _filename(self, part: Message) -> str | None:
        try:
            name = part.get_filename()
        except Exception:
            name = None
        if name is None:
            try:
                name = part.get_param("name")  # type: ignore[assignment]
                if isinstance(name, tuple):
                    name = email.utils.collapse_rfc2231_value(name)
            except Exception:
                name = None
        if name is None:
            return None
        name = str(name)
        if "=?" in name:
            name = _decode_words(name)
        return name

    def _charset(self, part: Message) -> str | None:
        try:
            return part.get_content_charset()
        except Exception:
            return None

    def _leaf(self, part: Message, ctype: str, in_related: bool) -> None:
        disposition = self._disposition(part)
        filename = self._filename(part)
        if ctype == "text/rfc822-headers":
            self._bounced_headers(self._payload(part))
        if ctype.startswith("multipart/"):
            # A multipart whose boundary is missing or wrong: keep its text rather than lose it.
            self.defects.append(f"{ctype} without readable parts; kept as text")
            self.text.append(decode_bytes(self._payload(part), self._charset(part), self.defects))
            return
        is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and filename is None
        if is_body:
            data = self._payload(part)
            content = decode_bytes(data, self._charset(part), self.defects)
            (self.html if ctype == "text/html" else self.text).append(content)
            return
        data = self._payload(part)
        content_id = self.header("Content-ID", part)
        cid = clean_line(content_id).strip("<>") if content_id else None
        inline = disposition == "inline" or (disposition == "" and in_related and cid is not None)
        if filename is None:
            filename = _DEFAULT_NAMES.get(ctype, "")
        self.attachments.append(
            ParsedAttachment(
                filename=safe_filename(filename, ctype),
                content_type=ctype,
                data=data,
                content_id=cid or None,
                inline=inline,
            )
        )

    def _forwarded(self, part: Message) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
        data = b""
        if inner is not None:
            found = self.header("Message-ID", inner)
            if found and self.bounced_message_id is None:
                self.bounced_message_id = _msgid(found)
            try:
                data = inner.as_bytes(policy=email.policy.compat32)
            except Exception:
                try:
                    data = inner.as_string(policy=email.policy.compat32).encode("utf-8", "surrogateescape")
                except Exception:
                    self.defects.append("forwarded message could not be re-serialised")
        subject = (self.header("Subject", inner) or "") if inner is not None else ""
        self.attachments.append(
            ParsedAttachment(
                filename=safe_filename((clean_line(subject, 100) or "message") + ".eml", "message/rfc822"),
                content_type="message/rfc822",
                data=data,
                inline=False,
            )
        )

    def _delivery_status(self, part: Message) -> None:
        blocks = part.get_payload()
        data = b""
        if isinstance(blocks, list):
            chunks = []
            for block in blocks:
                try:
                    chunks.append(block.as_bytes(policy=email.policy.compat32) if isinstance(block, Message) else b"")
                except Exception:
                    self.defects.append("unreadable delivery-status block")
            data = b"\n".join(chunks)
        elif isinstance(blocks, str):
            data = blocks.encode("utf-8", "surrogateescape")
        self.attachments.append(
            ParsedAttachment(filename="delivery-status.txt", content_type="message/delivery-status", data=data)
        )

    def _bounced_headers(self, data: bytes) -> None:
        try:
            headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
            found = headers.get("Message-ID")
        except Exception:
            found = None
        if found and self.bounced_message_id is None:
            self.bounced_message_id = _msgid(_decode_words(str(found)))


def _big_base64(part: Message) -> bytes | None:
    """``get_payload(decode=True)`` of a big base64 part, the same bytes and defects, without the
    stdlib's list of lines (``b"".join(payload.splitlines())`` cost 30 ms for 2 MB); None for
    anything else."""
    payload = _raw_payload(part)
    if not isinstance(payload, str) or len(payload) < BIG_RUN_BYTES or not payload.isascii():
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    # bytes.splitlines() breaks only at \r, \n and \r\n: deleting those joins the same lines.
    value, defects = decode_b(payload.encode("ascii").translate(None, b"\r\n"))
    for defect in defects:
        part.policy.handle_defect(part, defect)
    return bytes(value)


def _stand_ins(raw: bytes) -> tuple[bytes, dict[str, str]] | None:
    """The message with each long stretch of base64 lines replaced by a one-line token, and the
    stretches by token; None when there is none.

    The stdlib's feed parser reads every line in Python, looking for MIME boundaries: a 2 MB
    attachment is ~37,000 lines and cost ~90 ms. Lines made only of base64 characters can be
    neither a boundary (``--…``) nor a header (``name: …``), and a stretch is taken only after a
    blank line, so it is body text wherever it is: the parser builds the same tree around the
    token, and ``_put_back`` puts the stretches into the payloads.
    """
    stretches: list[tuple[int, int]] = []
    start = 0
    while start < len(raw):
        # A line starting with "-" (a boundary, maybe) ends the stretch a part's body can hold.
        dash = raw.find(b"\n-", start)
        end = len(raw) if dash == -1 else dash + 1
        if end - start >= BIG_RUN_BYTES:
            # The part's headers end at its first blank line (looked for only where headers fit).
            head = min(end, start + _PART_HEADER_BYTES)
            blank = [i for i in (raw.find(b"\n\n", start, head), raw.find(b"\n\r\n", start, head)) if i != -1]
            if blank:
                body = min(blank)
                body += 2 if raw[body + 1] == 0x0A else 3
                last = raw.rfind(b"\n", body, end) + 1  # whole lines only
                if last - body >= BIG_RUN_BYTES and not raw[body:last].translate(None, _BASE64_LINES):
                    stretches.append((body, last))
        start = end
    if not stretches:
        return None
    prefix = "HelplineStandIn" + secrets.token_hex(8)
    while prefix.encode() in raw:  # pragma: no cover - 64 random bits
        prefix = "HelplineStandIn" + secrets.token_hex(8)
    pieces: list[bytes] = []
    runs: dict[str, str] = {}
    done = 0
    for number, (body, last) in enumerate(stretches):
        token = f"{prefix}{number:04d}"
        # The stretch's last line break stays, so the line structure around the token is the same.
        cut = last - (2 if raw[last - 2 : last] == b"\r\n" else 1)
        runs[token] = raw[body:cut].decode("ascii")
        pieces += [raw[done:body], token.encode(), raw[cut:last]]
        done = last
    pieces.append(raw[done:])
    return b"".join(pieces), runs


def _put_back(msg: Message, runs: dict[str, str]) -> bool:
    """The stretches back into the payloads (and pre-/epilogues) holding their tokens; False
    unless every token was found exactly once."""
    found = 0
    for part in msg.walk():
        payload = _raw_payload(part)
        if isinstance(payload, str) and "HelplineStandIn" in payload:
            for token, text in runs.items():
                if token in payload:
                    found += payload.count(token)
                    payload = payload.replace(token, text)
            part.set_payload(payload)
        for place in ("preamble", "epilogue"):
            value = getattr(part, place, None)
            if isinstance(value, str) and "HelplineStandIn" in value:
                for token, text in runs.items():
                    if token in value:
                        found += value.count(token)
                        value = value.replace(token, text)
                setattr(part, place, value)
    return found == len(runs)


def _raw_payload(part: Message) -> object:
    """The payload as parsed. ``get_payload()`` would hand back undecodable 8-bit bytes already
    replaced by U+FFFD; the stdlib itself keeps them as surrogate escapes in ``_payload``."""
    return part._payload  # type: ignore[attr-defined]


def _message_from_bytes(raw: bytes, policy: Any, stand_ins: tuple[bytes, dict[str, str]] | None) -> Message:
    if stand_ins is not None:
        short, runs = stand_ins
        msg = email.message_from_bytes(short, policy=policy)
        if _put_back(msg, runs):
            return msg
    return email.message_from_bytes(raw, policy=policy)


def _mentions_cid(html: str) -> bool:
    """Whether `_CID_IN_HTML` can match: a case-insensitive scan of all the HTML is slow, and
    colons are few."""
    at = html.find(":", 3)
    while at != -1:
        if _CID_WORD.match(html, at - 3, at + 1):
            return True
        at = html.find(":", at + 1)
    return False


def _truthy_header(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "no", "false", "0")


def _read(msg: Message, modern: bool, fast: bool = False) -> ParsedEmail:
    r = _Reader(msg, modern, fast)
    for defect in getattr(msg, "defects", []):
        r.defects.append(type(defect).__name__)

    subject_raw = r.header("Subject")
    subject = clean_line(subject_raw or "", MAX_SUBJECT_CHARS)
    message_id = _msgid(r.header("Message-ID"))
    if message_id is None:
        r.defects.append("missing Message-ID header")
    in_reply_to = _msgid(r.header("In-Reply-To"))
    references = tuple(_MSGID.findall(r.header("References") or ""))
    senders = r.addresses("From")
    if not senders:
        senders = r.addresses("Sender")
    if r.raw("From") is None:
        r.defects.append("missing From header")
    sender = senders[0] if senders else None

    r.walk(msg)
    for part in msg.walk() if msg.is_multipart() else ():
        for defect in getattr(part, "defects", []):
            r.defects.append(type(defect).__name__)

    html_raw = "\n".join(h for h in r.html if h.strip())
    html = ""
    if html_raw:
        try:
            html = sanitise_html(html_raw)
        except Exception:
            r.defects.append("HTML could not be sanitised and was dropped")
    text = "\n\n".join(t.strip("\r\n") for t in r.text if t.strip())
    if not text and html:
        text = html_to_text(html)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")

    cids: list[str] = []
    for found in _CID_IN_HTML.findall(html) if _mentions_cid(html) else ():
        cid = unquote(found).strip("<>")
        if cid not in cids:
            cids.append(cid)

    auto = (
        _truthy_header(r.raw("Auto-Submitted"))
        or r.raw("X-Autoreply") is not None
        or r.raw("X-Autorespond") is not None
        or r.raw("X-Autogenerated") is not None
    )
    precedence = clean_line(r.raw("Precedence") or "").lower()
    if precedence == "auto_reply":
        auto = True
    bulk = (
        precedence in ("bulk", "list", "junk") or r.raw("List-Id") is not None or r.raw("List-Unsubscribe") is not None
    )
    if sender and sender.address.split("@")[0].lower() in _DAEMON_LOCALPARTS:
        auto = True
    if r.is_bounce or clean_line(r.raw("Return-Path") or "") == "<>":
        auto = True
    spam_flag = clean_line(r.raw("X-Spam-Flag") or "").lower()
    spam_status = clean_line(r.raw("X-Spam-Status") or "").lower()
    is_spam = spam_flag.startswith("yes") or spam_status.startswith("yes")

    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        from_=sender,
        to=r.addresses("To"),
        cc=r.addresses("Cc"),
        reply_to=r.addresses("Reply-To"),
        date=r.date(),
        text=text,
        html=html,
        attachments=tuple(r.attachments),
        cid_references=tuple(cids),
        has_remote_images=bool(_REMOTE_IMG.search(html)),
        is_auto_submitted=auto,
        is_bulk=bulk,
        is_bounce=r.is_bounce,
        bounced_message_id=r.bounced_message_id if r.is_bounce else None,
        is_spam=is_spam,
        defects=tuple(dict.fromkeys(r.defects)),
    )


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse one raw message. Never raises: a broken message yields what can be read plus defects."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        return ParsedEmail(defects=("not bytes",))
    raw = bytes(raw)
    stand_ins = _stand_ins(raw) if len(raw) >= BIG_RUN_BYTES else None
    parsed = _parse_fast(raw, stand_ins)
    return parsed if parsed is not None else _parse_full(raw, stand_ins)


def _parse_fast(raw: bytes, stand_ins: tuple[bytes, dict[str, str]] | None = None) -> ParsedEmail | None:
    """compat32's MIME tree with `policy.default`'s header values; None unless the MIME headers are plain."""
    try:
        msg = _message_from_bytes(raw, email.policy.compat32, stand_ins)
        if not _plain_structure(msg):
            return None
        return _read(msg, modern=True, fast=True)
    except Exception:  # whatever went wrong, the full path decides (and reports it)
        return None


def _parse_full(raw: bytes, stand_ins: tuple[bytes, dict[str, str]] | None = None) -> ParsedEmail:
    """`policy.default` for everything, then compat32, then the raw text."""
    failures: list[str] = []
    for policy, modern in ((email.policy.default, True), (email.policy.compat32, False)):
        try:
            msg = _message_from_bytes(raw, policy, stand_ins)
            parsed = _read(msg, modern)
        except Exception as exc:  # fall back to the next, more lenient policy
            failures.append(f"{'default' if modern else 'compat32'} policy failed ({type(exc).__name__})")
            continue
        if failures:
            return _with_defects(parsed, failures)
        return parsed
    text = decode_bytes(raw, None)
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    return ParsedEmail(text=body or head, defects=(*failures, "message could not be parsed; raw text kept"))


def _with_defects(parsed: ParsedEmail, extra: Iterable[str]) -> ParsedEmail:
    from dataclasses import replace

    return replace(parsed, defects=(*extra, *parsed.defects))


# ---------------------------------------------------------------- quoted history and signatures

_Q = r"(?:> ?)*"
# Extra reply headers per language, added to what mail-parser-reply knows.
_EXTRA_PATTERNS: dict[str, dict[str, list[str]]] = {
    "hu": {
        "wrote_header": [
            # Gmail: "2024. márc. 5., K 10:12 időpontban Kovács Anna <anna@example.hu> ezt írta:"
            # Thunderbird: "2024. 03. 05. 10:12 keltezéssel, Kovács Anna írta:"
            r"^(" + _Q + r"[^\n]{0,40}\d{4}\.[^\n]*(?:\n" + _Q + r"[^\n]*)?\s(?:ezt\s)?írta:)$",
            r"^(" + _Q + r"[^\n]{1,160}\s(?:ezt\s)?írta:)$",
            r"^(-{3,}\s?Eredeti üzenet\s?-{3,})$",
        ],
        "from_header": [
            r"((?:(?:^|\n|\n" + _Q + r")[* ]*(?:Feladó|Elküldve|Küldve|Címzett|Tárgy|Dátum|Másolat):[ *]*"
            r"(?:\s{,2}).*){2,}(?:\n.*){,1})",
        ],
        "disclaimers": [r"(?:Fontos )?Figyelem:", "Jogi nyilatkozat:"],
        "signatures": ["Üdvözlettel", "Tisztelettel", "Köszönettel", "Üdv,", "Szép napot"],
        "sent_from": ["Küldve az én", "iPhone-ról küldve", "Android-ról küldve"],
    },
    "de": {
        "wrote_header": [r"^(-{3,}\s?Ursprüngliche Nachricht\s?-{3,})$"],
    },
}


class _ReplySplitter(_ReplyMessage):
    def _get_language_regex(self, language: str, regex_key: str) -> str:
        from mailparser_reply.constants import MAIL_LANGUAGES

        base = super()._get_language_regex(language, regex_key) if language in MAIL_LANGUAGES else ""
        extra = _EXTRA_PATTERNS.get(language, {}).get(regex_key, [])
        return "|".join(p for p in [base, *extra] if p)


def strip_quoted(text: str, languages: Iterable[str] = ("de", "hu", "en")) -> tuple[str, str]:
    """Split a plain-text body into (what the sender wrote now, quoted history + signature).

    The second part is empty when nothing was recognised; never raises.
    """
    if not text or not text.strip():
        return text.strip() if text else "", ""
    try:
        message = _ReplySplitter(text=text, languages=list(languages)).read()
        normalised = message.text
        new = message.replies[0].body if message.replies else normalised
    except Exception:
        return text.strip(), ""
    new = new.strip()
    # A trailing block of "> " lines with no header in front of it is quoted history too.
    lines = new.split("\n")
    cut = len(lines)
    while cut > 0 and (lines[cut - 1].startswith(">") or (not lines[cut - 1].strip() and cut < len(lines))):
        cut -= 1
    if cut < len(lines) and cut > 0:
        new = "\n".join(lines[:cut]).strip()
    if not new:
        return normalised.strip(), ""
    position = normalised.find(new)
    rest = normalised[position + len(new) :] if position >= 0 else normalised.replace(new, "", 1)
    return new, rest.strip()
