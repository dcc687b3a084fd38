"""Files in the live chat: what a visitor may upload, the upload's wait for its message, and the
signed links through which the widget shows the chat's files.

**What may be uploaded** is decided from the bytes, never from the name or the type the browser
declares: images (PNG, JPEG, GIF, WebP), PDF, plain text (no markup: an HTML or SVG page is refused)
and office documents (Word, Excel, PowerPoint, OpenDocument, RTF; macro-enabled ones are refused).
The stored name keeps the visitor's words but always ends in an extension of the type found, so
``../../x.html`` holding a PNG is kept as ``x.html.png``.

**A pending upload** is an outbox timer (``jobs`` row of kind ``chat.pending_upload``) that carries
the stored file's details and runs when the upload expires (``PENDING``). Its id is the
``attachment_id`` the widget names in its next ``message`` frame; only that visitor session can
claim it, once, before it expires: claiming deletes the timer and hands the file to the
conversation service, which writes the real attachment with the message. The timer needs no
table of its own (no migration) and expires unused uploads by itself; the file stays in the
content-addressed store, which never deletes (another attachment may share the same bytes).

**Links for the visitor**: ``/widget/v1/files/{attachment_id}?expires=…&signature=…``, an HMAC of
the id and the expiry under the app's secret key. Only the chat log's frames hand them out (never
for internal notes), they work from any origin without a cookie and cannot be guessed. Images are
shown inline (``nosniff``, so never as anything but an image); everything else is a download.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.channels.chat.models import ChatSession
from helpline.db import utcnow
from helpline.errors import DomainError, Invalid, TooLarge
from helpline.jobs import Job, JobContext, enqueue, job_handler
from helpline.storage import StoredFile, safe_filename
from helpline.validation import N_

UPLOAD_JOB = "chat.pending_upload"
PENDING = timedelta(hours=24)  # an upload not sent with a message by then is gone
MAX_FILES_PER_MESSAGE = 10
LINK_SECONDS = 7 * 24 * 3600  # a file link in a frame works for a week (frames are rebuilt on every replay)
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_ID = 2**63 - 1


class UnsupportedType(DomainError):
    status_code = 415


class BadToken(DomainError):
    status_code = 401


@dataclass(frozen=True)
class FileType:
    content_type: str
    extensions: tuple[str, ...]  # the first is added to a name that has none of them


PNG = FileType("image/png", ("png",))
JPEG = FileType("image/jpeg", ("jpg", "jpeg"))
GIF = FileType("image/gif", ("gif",))
WEBP = FileType("image/webp", ("webp",))
PDF = FileType("application/pdf", ("pdf",))
RTF = FileType("application/rtf", ("rtf",))
TEXT = FileType("text/plain", ("txt", "log", "md", "tsv"))
CSV = FileType("text/csv", ("csv",))
OOXML = {  # the folder inside the ZIP names the program
    "word/": FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",)),
    "xl/": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",)),
    "ppt/": FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation", ("pptx",)),
}
ODF = {  # the first entry, "mimetype", says what it is
    "application/vnd.oasis.opendocument.text": FileType("application/vnd.oasis.opendocument.text", ("odt",)),
    "application/vnd.oasis.opendocument.spreadsheet": FileType(
        "application/vnd.oasis.opendocument.spreadsheet", ("ods",)),
    "application/vnd.oasis.opendocument.presentation": FileType(
        "application/vnd.oasis.opendocument.presentation", ("odp",)),
}
# Old binary Office files share one container (OLE2) with installers (.msi): the name decides.
OLE2 = {
    "doc": FileType("application/msword", ("doc",)),
    "xls": FileType("application/vnd.ms-excel", ("xls",)),
    "ppt": FileType("application/vnd.ms-powerpoint", ("ppt",)),
}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Bytes a text file has (as file(1) decides): printable, tab, line breaks, form feed, escape, 8-bit.
TEXT_BYTES = bytes({7, 8, 9, 10, 12, 13, 27} | set(range(0x20, 0x100)) - {0x7F})
MACROS = ("vbaproject.bin", "basic/", "scripts/")


def refused_type() -> UnsupportedType:
    return UnsupportedType(
        N_("this type of file is not allowed (images, PDF, text and office documents are)"), field="file"
    )


def _extension(filename: str) -> str:
    return PurePosixPath(filename).suffix.lower().lstrip(".")


def _zip_type(data: bytes) -> FileType | None:
    """An office document inside a ZIP, or None (a plain archive, macros, or not a ZIP at all)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if any(name.lower().endswith(MACROS) or name.lower().startswith(MACROS) for name in names):
                return None
            if "mimetype" in names:
                if archive.getinfo("mimetype").file_size > 100:
                    return None
                return ODF.get(archive.read("mimetype").decode("ascii", "replace").strip())
            if "[Content_Types].xml" in names:
                return next((kind for folder, kind in OOXML.items() if any(n.startswith(folder) for n in names)),
                            None)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, KeyError, EOFError):
        return None
    return None


def _text_type(data: bytes, extension: str) -> FileType | None:
    """Plain text, but never markup: a page (HTML, SVG, XML) is active content in a browser."""
    if data.translate(None, TEXT_BYTES):
        return None
    if data.lstrip(b"\xef\xbb\xbf \t\r\n\f")[:1] == b"<":
        return None
    return CSV if extension == "csv" else TEXT


def sniff(data: bytes, filename: str) -> FileType:
    """The file's type from its first bytes (and, for a few containers, its insides); 415 if not allowed."""
    extension = _extension(filename)
    found: FileType | None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        found = PNG
    elif data.startswith(b"\xff\xd8\xff"):
        found = JPEG
    elif data.startswith((b"GIF87a", b"GIF89a")):
        found = GIF
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        found = WEBP
    elif data.startswith(b"%PDF-"):
        found = PDF
    elif data.startswith(b"{\\rtf"):
        found = RTF
    elif data.startswith(b"PK\x03\x04"):
        found = _zip_type(data)
    elif data.startswith(OLE2_MAGIC):
        found = OLE2.get(extension)
    else:
        found = _text_type(data, extension)
    if found is None:
        raise refused_type()
    return found


def display_name(filename: str, kind: FileType) -> str:
    """The visitor's name for the file without any path or control characters, ending in the type's extension."""
    name = safe_filename(filename)
    if _extension(name) not in kind.extensions:
        name = f"{name}.{kind.extensions[0]}"
    return name


def check_file(data: bytes, *, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise TooLarge("the file is larger than %(megabytes)s MB", field="file",
                       megabytes=max_bytes // (1024 * 1024))
    if not data:
        raise Invalid("the file is empty", field="file")


# --- pending uploads -----------------------------------------------------------------------------


async def hold(session: AsyncSession, chat: ChatSession, stored: StoredFile) -> int:
    """Keep a stored upload for this visitor session until a message claims it: its id for ``attachment_ids``."""
    expires = utcnow() + PENDING
    job = enqueue(session, UPLOAD_JOB, {
        "session_id": chat.id, "key": stored.key, "sha256": stored.sha256, "size": stored.size,
        "filename": stored.filename, "content_type": stored.content_type, "expires_at": expires.isoformat(),
    }, tenant_id=chat.tenant_id, run_at=expires)
    await session.flush()
    return job.id


def _ids(value: object) -> list[int]:
    bad = Invalid("must be a list of at most %(limit)s ids of files you uploaded", field="attachment_ids",
                  limit=MAX_FILES_PER_MESSAGE)
    if not isinstance(value, list) or len(value) > MAX_FILES_PER_MESSAGE:
        raise bad
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 < i <= MAX_ID for i in value):
        raise bad
    if len(set(value)) != len(value):
        raise bad
    return value


def _usable(job: Job, chat: ChatSession, now: datetime) -> bool:
    payload = job.payload or {}
    try:
        expires = datetime.fromisoformat(str(payload.get("expires_at")))
    except ValueError:
        return False
    return payload.get("session_id") == chat.id and expires > now


async def claim(session: AsyncSession, chat: ChatSession, value: object) -> list[StoredFile]:
    """The files a visitor's message names, in the order named; each can be claimed once, by its uploader.

    Another visitor's (or tenant's) id, an unknown, expired or already sent one: all the same refusal,
    so ids reveal nothing. Runs in the message's transaction: a refused message claims nothing.
    """
    if value is None:
        return []
    ids = _ids(value)
    if not ids:
        return []
    jobs = {
        job.id: job
        for job in await session.scalars(
            select(Job)
            .where(Job.id.in_(ids), Job.kind == UPLOAD_JOB, Job.tenant_id == chat.tenant_id,
                   Job.status == "pending")
            .with_for_update()
        )
    }
    now = utcnow()
    if any(i not in jobs or not _usable(jobs[i], chat, now) for i in ids):
        raise Invalid("a file is unknown, expired or sent already; attach it again", field="attachment_ids")
    files = [_stored(jobs[i].payload) for i in ids]
    for job in jobs.values():
        await session.delete(job)
    return files


def _stored(payload: dict[str, Any]) -> StoredFile:
    return StoredFile(key=str(payload["key"]), sha256=str(payload["sha256"]), size=int(payload["size"]),
                      filename=str(payload["filename"]), content_type=str(payload["content_type"]))


@job_handler(UPLOAD_JOB)
async def expire_upload(ctx: JobContext, payload: dict[str, Any]) -> None:
    """An upload nobody sent: the timer's end is its end (the job is done, so it can no longer be claimed).

    The file itself stays: the store is content-addressed and never deletes, as the same bytes may
    belong to an attachment of any message.
    """


# --- links for the visitor ------------------------------------------------------------------------


def _signature(secret: str, attachment_id: int, expires: int) -> str:
    message = f"chat-file:{attachment_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def file_url(secret: str, attachment_id: int, *, now: datetime | None = None) -> str:
    """The widget's link to a file of the chat (relative to Helpline's address).

    The expiry is counted from the next full hour, so a link stays the same for an hour (cacheable).
    """
    hour = int((now or utcnow()).timestamp()) // 3600 + 1
    expires = hour * 3600 + LINK_SECONDS
    return f"/widget/v1/files/{attachment_id}?expires={expires}&signature={_signature(secret, attachment_id, expires)}"


def link_valid(secret: str, attachment_id: int, expires: int, signature: str, *, now: datetime | None = None
               ) -> bool:
    if not 0 < attachment_id <= MAX_ID or expires <= (now or utcnow()).timestamp():
        return False
    return hmac.compare_digest(_signature(secret, attachment_id, expires), signature)


def inline(content_type: str) -> bool:
    """Shown in the widget's page (a thumbnail) rather than downloaded."""
    return content_type in INLINE_TYPES
