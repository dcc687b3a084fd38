"""Attachment storage: content-addressed files under var/attachments (per tenant)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpline.errors import Invalid, TooLarge

_UNSAFE = re.compile(r"[^\w.\- ()\[\]]+", re.UNICODE)


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int
    filename: str
    content_type: str


def safe_filename(name: str) -> str:
    """A file name with no path, control characters or header-breaking bytes."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _UNSAFE.sub("_", base)[:200].strip("._ ")
    return base or "attachment"


class AttachmentStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def put(self, *, tenant_id: int, data: bytes, filename: str, content_type: str) -> StoredFile:
        if len(data) > self.max_bytes:
            raise TooLarge(
                "the attachment is larger than %(megabytes)s MB",
                field="attachment",
                megabytes=self.max_bytes // (1024 * 1024),
            )
        content_type = (content_type or "application/octet-stream").split(";")[0].strip().lower()
        if not re.fullmatch(r"[a-z0-9.+\-]+/[a-z0-9.+\-]+", content_type):
            raise Invalid("not a valid content type", field="attachment")
        sha = hashlib.sha256(data).hexdigest()
        key = f"{tenant_id}/{sha[:2]}/{sha}"
        path = self.root / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a crash never leaves half a file under the final name.
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return StoredFile(
            key=key, sha256=sha, size=len(data), filename=safe_filename(filename), content_type=content_type
        )

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise Invalid("bad storage key")
        return path
