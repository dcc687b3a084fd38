"""A received mail's file and parse work: raw ``.eml`` stored, MIME parsed, attachments stored.

Everything here runs without the database, so it can run in a mail worker process (ADR 0013),
in a thread, or on the event loop; ``intake.prepare`` picks. It imports only the parser and the
file store, which keeps a worker small.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from helpline.channels.email.parsing import ParsedAttachment, ParsedEmail, parse_message
from helpline.errors import DomainError, TooLarge
from helpline.storage import AttachmentStore, StoredFile

MAX_RFC_ID = 500  # email_messages.rfc_message_id
# Bytes of an attachment that intake reads again after storing it: a bounce's delivery report.
_READ_AGAIN = frozenset({"message/delivery-status"})


@dataclass(frozen=True)
class Prepared:
    """A received mail after the file work: the raw stored, parsed, attachments stored."""

    raw: StoredFile
    parsed: ParsedEmail
    rfc_message_id: str
    attachments: tuple[tuple[ParsedAttachment, StoredFile], ...]
    defects: tuple[str, ...]

    def without_stored_bytes(self) -> Prepared:
        """The same, minus attachment bytes already on disk (a worker's answer need not carry them)."""
        return replace(
            self,
            attachments=tuple(
                (part if part.content_type in _READ_AGAIN else replace(part, data=b""), stored)
                for part, stored in self.attachments
            ),
        )


def prepare_now(store_root: Path, store_max_bytes: int, raw_max_bytes: int, raw: bytes, tenant_id: int) -> Prepared:
    """Store the raw mail first (whatever happens next, nothing is lost), parse it, store its parts."""
    raw_file = AttachmentStore(store_root, raw_max_bytes).put(
        tenant_id=tenant_id, data=raw, filename="message.eml", content_type="message/rfc822"
    )
    parsed = parse_message(raw)
    store = AttachmentStore(store_root, store_max_bytes)
    defects = list(parsed.defects)
    kept: list[tuple[ParsedAttachment, StoredFile]] = []
    for attachment in parsed.attachments:
        stored = _store_attachment(store, tenant_id, attachment, defects)
        if stored is not None:
            kept.append((attachment, stored))
    return Prepared(
        raw=raw_file,
        parsed=parsed,
        rfc_message_id=_rfc_id(parsed.message_id, raw_file.sha256),
        attachments=tuple(kept),
        defects=tuple(defects),
    )


def prepare_in_worker(
    store_root: Path, store_max_bytes: int, raw_max_bytes: int, raw: bytes, tenant_id: int
) -> Prepared:
    return prepare_now(store_root, store_max_bytes, raw_max_bytes, raw, tenant_id).without_stored_bytes()


def _store_attachment(
    store: AttachmentStore, tenant_id: int, attachment: ParsedAttachment, defects: list[str]
) -> StoredFile | None:
    """One attachment into the store; one too big is dropped with a defect (the mail is kept)."""
    try:
        return store.put(
            tenant_id=tenant_id,
            data=attachment.data,
            filename=attachment.filename,
            content_type=attachment.content_type,
        )
    except TooLarge:
        defects.append(
            f"attachment {attachment.filename!r} ({len(attachment.data)} bytes) dropped: larger than the "
            f"{store.max_bytes // (1024 * 1024)} MB limit; it is still in the raw message"
        )
        return None
    except DomainError:  # a content type the store refuses: keep the bytes as what they are, unknown
        return store.put(
            tenant_id=tenant_id,
            data=attachment.data,
            filename=attachment.filename,
            content_type="application/octet-stream",
        )


def _rfc_id(message_id: str | None, raw_sha256: str) -> str:
    """The Message-ID, or one made from the bytes (a resend of the same bytes is then a duplicate)."""
    if message_id and len(message_id) <= MAX_RFC_ID:
        return message_id
    if message_id:
        return f"<{hashlib.sha256(message_id.encode()).hexdigest()}@helpline.invalid>"
    return f"<{raw_sha256}@helpline.invalid>"
