"""Signed session cookies, CSRF tokens and who is asking (cookie or bearer token)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "helpline_session"
SESSION_MAX_AGE = 14 * 24 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SessionData:
    user_id: int
    epoch: int
    sid: str


class SessionCodec:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="helpline-session")
        self._csrf_key = hashlib.sha256(("csrf:" + secret_key).encode()).digest()

    def dumps(self, user_id: int, epoch: int, sid: str | None = None) -> str:
        return self._serializer.dumps({"u": user_id, "e": epoch, "s": sid or secrets.token_urlsafe(16)})

    def loads(self, cookie: str | None) -> SessionData | None:
        if not cookie:
            return None
        try:
            data: Any = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
            return SessionData(user_id=int(data["u"]), epoch=int(data["e"]), sid=str(data["s"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def csrf_token(self, sid: str) -> str:
        """Bound to the session: a token from another session (or none) is refused."""
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(sid), token or "")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
