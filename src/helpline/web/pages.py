"""Rendering helpers shared by every domain's pages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from helpline.web.deps import Ctx
from helpline.web.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate

LANG_COOKIE = "helpline_lang"


def public_language(request: Request, default: str = "en") -> str:
    """For visitors: ?lang=, else their earlier choice, else Accept-Language."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language"), default)


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


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    if request.headers.get("hx-request"):
        # htmx shows this in the page's toast area instead of replacing the target.
        from markupsafe import escape

        return HTMLResponse(
            f'<div class="toast error" role="alert">{escape(message)}</div>',
            status_code=status_code,
            headers={"HX-Retarget": "#toasts", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", status_code=status_code, message=message, code=status_code)
