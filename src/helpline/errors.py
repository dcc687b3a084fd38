"""Domain errors: services raise these; the web layer turns them into clean 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """Unknown ids and other tenants' ids look the same: not found."""

    status_code = 404


class PermissionDenied(DomainError):
    status_code = 403


class Invalid(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409


class TooManyRequests(DomainError):
    status_code = 429


class TooLarge(DomainError):
    status_code = 413
