"""Settings from the environment (HELPLINE_*), read once into one object."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc


def _secret_key(var_dir: Path) -> str:
    """HELPLINE_SECRET_KEY, else a key generated once and kept under var/."""
    key = os.environ.get("HELPLINE_SECRET_KEY")
    if key:
        return key
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    host: str
    port: int
    secret_key: str
    redis_url: str | None
    attachment_dir: Path
    attachment_max_bytes: int
    max_body_bytes: int
    max_upload_bytes: int
    login_attempts_per_minute: int
    form_posts_per_minute: int
    secure_cookies: bool
    extra: dict[str, str] = field(default_factory=dict)
    # Helpline's own SMTP listener (inbound mail for the configured mailboxes); port 0 = off.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # The listener offers STARTTLS with this certificate chain and key (PEM files); "" = no TLS.
    smtp_tls_cert: str = ""
    smtp_tls_key: str = ""
    # Largest inbound email (whole message, attachments included); bigger mail gets SMTP 552.
    email_max_bytes: int = 30 * 1024 * 1024
    # Processes that store and parse received mail beside the server (ADR 0013); 0 = in the server.
    email_workers: int = 0
    # IMAP intake: seconds between polls of each mailbox (IDLE brings new mail sooner); 0 = no pollers.
    imap_poll_seconds: int = 60

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    var_dir = Path(os.environ.get("HELPLINE_VAR_DIR", "var")).resolve()
    default_db = f"sqlite:///{var_dir / 'helpline.db'}"
    return Settings(
        var_dir=var_dir,
        database_url=os.environ.get("HELPLINE_DATABASE_URL") or default_db,
        host=os.environ.get("HELPLINE_HOST", "127.0.0.1"),
        port=_int("HELPLINE_PORT", 8000),
        secret_key=_secret_key(var_dir),
        redis_url=os.environ.get("HELPLINE_REDIS_URL") or None,
        attachment_dir=Path(os.environ.get("HELPLINE_ATTACHMENT_DIR") or var_dir / "attachments"),
        attachment_max_bytes=_int("HELPLINE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        max_body_bytes=_int("HELPLINE_MAX_BODY_BYTES", 1024 * 1024),
        max_upload_bytes=_int("HELPLINE_MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        login_attempts_per_minute=_int("HELPLINE_LOGIN_ATTEMPTS_PER_MINUTE", 10),
        form_posts_per_minute=_int("HELPLINE_FORM_POSTS_PER_MINUTE", 10),
        secure_cookies=os.environ.get("HELPLINE_SECURE_COOKIES", "") in ("1", "true", "yes"),
        smtp_host=os.environ.get("HELPLINE_SMTP_HOST") or "127.0.0.1",
        smtp_port=_int("HELPLINE_SMTP_PORT", 2525),
        smtp_tls_cert=os.environ.get("HELPLINE_SMTP_TLS_CERT", ""),
        smtp_tls_key=os.environ.get("HELPLINE_SMTP_TLS_KEY", ""),
        email_max_bytes=_int("HELPLINE_EMAIL_MAX_BYTES", 30 * 1024 * 1024),
        imap_poll_seconds=_int("HELPLINE_IMAP_POLL_SECONDS", 60),
        email_workers=_int("HELPLINE_EMAIL_WORKERS", 1 if (os.cpu_count() or 1) > 1 else 0),
    )
