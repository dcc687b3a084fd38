"""Secrets kept in the database (mailbox passwords) are encrypted with a key derived from HELPLINE_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

_CONTEXT = b"helpline stored secrets v1"


def _fernet(secret_key: str) -> Fernet:
    # A separate key for stored secrets, so cookies and secrets never share one.
    key = hashlib.sha256(_CONTEXT + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret_key: str, plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt_secret(secret_key: str, token: str) -> str:
    """The stored secret; "" when none is stored or the secret key has changed since."""
    if not token:
        return ""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
