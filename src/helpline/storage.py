"""Attachment storage: content-addressed files under var/attachments (per tenant)."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
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
            _write_new(path, data)
        return StoredFile(
            key=key, sha256=sha, size=len(data), filename=safe_filename(filename), content_type=content_type
        )

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise Invalid("bad storage key")
        return path


# Folders known to exist, and names for files being written: every received email stores its raw
# .eml, and tempfile.mkstemp plus mkdir(exist_ok=True) cost more than the write itself.
_FOLDERS: set[Path] = set()
_TMP_NUMBERS = itertools.count()
_TMP_TAG = secrets.token_hex(4)  # with the pid: unique among processes sharing the folder


def _write_new(path: Path, data: bytes) -> None:
    """Write then rename: a crash never leaves half a file under the final name."""
    tmp = f"{path}.{_TMP_TAG}.{os.getpid()}.{next(_TMP_NUMBERS)}.tmp"
    if path.parent not in _FOLDERS:
        path.parent.mkdir(parents=True, exist_ok=True)
        if len(_FOLDERS) > 100_000:
            _FOLDERS.clear()
        _FOLDERS.add(path.parent)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:  # the folder went away since (removed by hand, or a test's tmp dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
