"""Domain errors: services raise these; the web layer turns them into clean 4xx answers.

An error carries a message *template*, an English msgid with %(name)s placeholders, and the values
for them, so a page can show it in the viewer's language while the JSON API keeps answering in English:

    raise Conflict("a user with the email %(email)s exists already", field="email", email=email)

    exc.message                    # "a user with the email anna@example.com exists already"
    exc.translated(gettext)        # "Ein Benutzer mit der E-Mail-Adresse anna@example.com existiert bereits"

The first argument must be a string literal: `python -m helpline.web.i18n_extract` finds it there
(these class names are Babel keywords in babel.cfg). Put the values in the keyword arguments, never
into the text with an f-string, or the message cannot be translated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self


def format_message(template: str, params: dict[str, object]) -> str:
    """The template with its %(name)s placeholders filled in (a template without values is the text)."""
    return template % params if params else template


def capitalise(text: str) -> str:
    """The first letter upper-cased: messages are written as lower-case sentences, pages show them as one."""
    return text[:1].upper() + text[1:]


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, /, *, field: str | None = None, **params: object) -> None:
        self.template = message
        self.params: dict[str, object] = params
        self.message = format_message(message, params)
        self.field = field
        super().__init__(self.message)

    def translated(self, translate: Callable[[str], str], *, capitalised: bool = True) -> str:
        """The message in the language of `translate` (a catalog's gettext), capitalised for display.

        Only prose is capitalised: a message that starts with a value (an email address) keeps it as is.
        """
        template = translate(self.template)
        try:
            text = format_message(template, self.params)
        except (KeyError, ValueError, TypeError):  # a broken translation must not break the error page
            template, text = self.template, self.message
        return capitalise(text) if capitalised and not template.startswith("%(") else text

    def with_field(self, field: str | None) -> Self:
        """The same error about another field: a re-raise that keeps the translatable template."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.args = self.args
        other.field = field
        return other


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
