"""Rendering helpers shared by every domain's pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from helpline.errors import DomainError
from helpline.web.deps import Ctx
from helpline.web.i18n import LANGUAGE_NAMES, LANGUAGES, gettext_for, negotiate

LANG_COOKIE = "helpline_lang"


def public_language(request: Request, default: str = "en") -> str:
    """For visitors: ?lang=, else their earlier choice, else Accept-Language."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language"), default)


def page_language(request: Request, ctx: Ctx | None = None) -> str:
    """The viewer's language, as render() picks it: the logged-in user's, else the visitor's.

    Without a ctx (an exception handler has none), the user page_context found for this request counts.
    """
    if ctx is not None:
        return ctx.actor.language
    known = getattr(request.state, "language", None)
    return known if known in LANGUAGES else public_language(request)


def error_text(request: Request, exc: DomainError, ctx: Ctx | None = None, language: str | None = None) -> str:
    """A domain error's message for a page: in the viewer's language, capitalised."""
    return exc.translated(gettext_for(language or page_language(request, ctx)).gettext)


FieldLabels = Callable[[str | None, Callable[[str], str]], str | None]


def labelled_error_text(request: Request, ctx: Ctx, exc: DomainError, label_for: FieldLabels) -> str:
    """A form's error in the viewer's language, after the label of the field it is about (when known)."""
    _ = gettext_for(ctx.actor.language).gettext
    label = label_for(exc.field, _)
    if label is None:
        return error_text(request, exc, ctx)
    return _("%(field)s: %(problem)s") % {"field": label, "problem": exc.translated(_, capitalised=False)}


def form_text(form: FormData, name: str) -> str:
    """A text field of a posted form; "" when missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def render(
    request: Request,
    template: str,
    *,
    ctx: Ctx | None = None,
    language: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    from helpline.web.templating import i18n_context

    rt = request.app.state.runtime
    language = language or (ctx.actor.language if ctx else public_language(request))
    values = {
        **i18n_context(language),
        "request": request,
        "actor": ctx.actor if ctx else None,
        "csrf_token": ctx.csrf_token if ctx else "",
        "tz": ctx.actor.time_zone if ctx else "UTC",
        "languages": LANGUAGE_NAMES,
        "path": request.url.path,
        **context,
    }
    html = rt.templates.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)


def render_error(request: Request, status_code: int, message: str | DomainError) -> HTMLResponse:
    """An error page (an htmx toast for htmx requests); a DomainError is shown in the viewer's language."""
    language = page_language(request)
    if isinstance(message, DomainError):
        message = error_text(request, message, language=language)
    if request.headers.get("hx-request"):
        # htmx shows this in the page's toast area instead of replacing the target.
        from markupsafe import escape

        return HTMLResponse(
            f'<div class="toast error" role="alert">{escape(message)}</div>',
            status_code=status_code,
            headers={"HX-Retarget": "#toasts", "HX-Reswap": "innerHTML"},
        )
    return render(
        request, "error.html", language=language, status_code=status_code, message=message, code=status_code
    )
