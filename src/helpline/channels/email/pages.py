"""Admin pages for support mailboxes: the list, the new/edit form, "Test connection" and delete.

The form works without JavaScript; with htmx, "Test connection" answers inline under the button.
A refused save shows the service's error above the form, naming the field, with everything typed
still there except the passwords: a password is never written into a page (the form says whether
one is set; leaving the field blank keeps it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from helpline.accounts import service as accounts
from helpline.accounts.service import LANGUAGES
from helpline.channels.email import service
from helpline.channels.email.models import Mailbox, ProcessedAction, Security
from helpline.channels.email.service import CheckResult
from helpline.errors import DomainError
from helpline.web.deps import Ctx, admin_page_context
from helpline.web.pages import form_text, labelled_error_text, render

router = APIRouter(include_in_schema=False)

TEXT_FIELDS = (
    "address", "display_name", "signature", "default_language", "sender_rate_limit_per_hour",
    "imap_host", "imap_port", "imap_security", "imap_user", "imap_folder", "imap_processed_action", "imap_move_to",
    "smtp_host", "smtp_port", "smtp_security", "smtp_user",
)
CHECKBOXES = ("is_active", "auto_acknowledge", "imap_enabled")


def _field_label(field: str | None, _: Callable[[str], str]) -> str | None:
    """What the error line calls a field: the label the admin sees next to it."""
    labels = {
        "address": _("Email address"),
        "display_name": _("Display name"),
        "team_id": _("Team"),
        "signature": _("Signature"),
        "default_language": _("Language"),
        "sender_rate_limit_per_hour": _("New mails per sender per hour"),
        "imap_host": _("IMAP server"),
        "imap_port": _("IMAP port"),
        "imap_security": _("IMAP security"),
        "imap_user": _("IMAP user name"),
        "imap_password": _("IMAP password"),
        "imap_folder": _("Folder to read"),
        "imap_processed_action": _("After import"),
        "imap_move_to": _("Move to folder"),
        "smtp_host": _("SMTP server"),
        "smtp_port": _("SMTP port"),
        "smtp_security": _("SMTP security"),
        "smtp_user": _("SMTP user name"),
        "smtp_password": _("SMTP password"),
        "tls_verify": _("Verify the servers' certificates"),
        "tls_ca_pem": _("Trusted CA certificate (PEM)"),
    }
    return labels.get(field or "")


def _error(request: Request, ctx: Ctx, exc: DomainError) -> str:
    return labelled_error_text(request, ctx, exc, _field_label)


def _form(mailbox: Mailbox | None) -> dict[str, Any]:
    """What the form shows: the stored mailbox, or a new one's defaults (never a password)."""
    values: dict[str, Any] = {"address": "", **service.DEFAULTS}
    if mailbox is not None:
        values = {name: getattr(mailbox, name) for name in service.FIELDS}
    state: dict[str, Any] = {name: "" if values[name] is None else str(values[name]) for name in TEXT_FIELDS}
    state.update({name: bool(values[name]) for name in CHECKBOXES})
    state["team_id"] = str(values["team_id"] or "")
    state["tls_ca_pem"] = values["tls_ca_pem"] or ""
    state["tls_skip_verify"] = not values["tls_verify"]
    state["imap_password_set"] = bool(mailbox and mailbox.imap_password_encrypted)
    state["smtp_password_set"] = bool(mailbox and mailbox.smtp_password_encrypted)
    return state


def _form_from_post(form: FormData, mailbox: Mailbox | None) -> dict[str, Any]:
    """The form as posted, to show again (passwords left out; whether one is stored still shows)."""
    state: dict[str, Any] = {name: form_text(form, name).strip() for name in TEXT_FIELDS}
    state["signature"] = form_text(form, "signature")
    state.update({name: form_text(form, name) == "1" for name in CHECKBOXES})
    state["team_id"] = form_text(form, "team_id").strip()
    state["tls_ca_pem"] = form_text(form, "tls_ca_pem")
    # Unchecked (or left out) means verify: only an explicit tick turns certificate checks off.
    state["tls_skip_verify"] = form_text(form, "tls_skip_verify") == "1"
    state["imap_password_set"] = bool(mailbox and mailbox.imap_password_encrypted)
    state["smtp_password_set"] = bool(mailbox and mailbox.smtp_password_encrypted)
    return state


def _values(form: FormData, state: dict[str, Any]) -> dict[str, Any]:
    """The posted form as the service's values; the service names whatever is wrong."""
    values: dict[str, Any] = {name: state[name] for name in (*TEXT_FIELDS, *CHECKBOXES)}
    values["signature"] = state["signature"]
    values["tls_ca_pem"] = state["tls_ca_pem"]
    values["tls_verify"] = not state["tls_skip_verify"]
    team = state["team_id"]
    values["team_id"] = int(team) if team.isdigit() and len(team) < 10 else (team or None)
    rate = state["sender_rate_limit_per_hour"]
    values["sender_rate_limit_per_hour"] = int(rate) if rate.isdigit() and len(rate) < 10 else rate
    for name in service.PASSWORDS:
        typed = form_text(form, name)
        if form_text(form, f"{name}_clear") == "1":
            values[name] = ""
        elif typed:
            values[name] = typed
    return values


async def _list_page(request: Request, ctx: Ctx, *, saved: bool = False) -> Response:
    async with ctx.read() as session:
        mailboxes = await service.list_mailboxes(session=session, actor=ctx.actor)
        teams = {t.id: t.name for t in await accounts.list_teams(session=session, actor=ctx.actor)}
    return render(request, "email/mailboxes.html", ctx=ctx, mailboxes=mailboxes, teams=teams, saved=saved,
                  tab="mailboxes")


async def _form_page(
    request: Request,
    ctx: Ctx,
    mailbox_id: int | None,
    form: dict[str, Any],
    *,
    error: str | None = None,
    error_field: str | None = None,
    check: dict[str, CheckResult | None] | None = None,
    status_code: int = 200,
) -> Response:
    async with ctx.read() as session:
        teams = await accounts.list_teams(session=session, actor=ctx.actor)
    return render(
        request, "email/mailbox.html", ctx=ctx, mailbox_id=mailbox_id, form=form, teams=teams, error=error,
        error_field=error_field or "", check=check, securities=[s.value for s in Security],
        actions=[a.value for a in ProcessedAction], languages_available=LANGUAGES, status_code=status_code,
        tab="mailboxes",
    )


@router.get("/admin/mailboxes")
async def admin_mailboxes(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _list_page(request, ctx, saved=request.query_params.get("saved") == "1")


@router.get("/admin/mailboxes/new")
async def admin_new_mailbox(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _form_page(request, ctx, None, _form(None))


@router.get("/admin/mailboxes/{mailbox_id}")
async def admin_edit_mailbox(mailbox_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        mailbox = await service.get_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)
        return await _form_page(request, ctx, mailbox.id, _form(mailbox))


async def _stored(ctx: Ctx, mailbox_id: int | None) -> Mailbox | None:
    if mailbox_id is None:
        return None
    async with ctx.read() as session:
        mailbox = await service.get_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)
        session.expunge(mailbox)
        return mailbox


async def _save(request: Request, ctx: Ctx, mailbox_id: int | None) -> Response:
    stored = await _stored(ctx, mailbox_id)
    posted = await request.form()
    state = _form_from_post(posted, stored)
    secret_key = ctx.runtime.settings.secret_key
    try:
        values = _values(posted, state)
        async with ctx.transaction() as session:
            if mailbox_id is None:
                await service.create_mailbox(session=session, actor=ctx.actor, secret_key=secret_key, values=values)
            else:
                await service.update_mailbox(
                    session=session, actor=ctx.actor, secret_key=secret_key, mailbox_id=mailbox_id, changes=values
                )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _form_page(request, ctx, mailbox_id, state, error=_error(request, ctx, exc),
                                error_field=exc.field, status_code=exc.status_code)
    return RedirectResponse("/admin/mailboxes?saved=1", status_code=303)


@router.post("/admin/mailboxes/new")
async def admin_create_mailbox(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save(request, ctx, None)


@router.post("/admin/mailboxes/{mailbox_id}")
async def admin_update_mailbox(mailbox_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save(request, ctx, mailbox_id)


async def _check(request: Request, ctx: Ctx, mailbox_id: int | None) -> Response:
    """Test connection with the values in the form (saved or not); a blank password is the stored one."""
    stored = await _stored(ctx, mailbox_id)
    posted = await request.form()
    state = _form_from_post(posted, stored)
    # Only what connecting needs: an unfinished address or display name must not stop a test.
    values = {k: v for k, v in _values(posted, state).items() if k.startswith(("imap_", "smtp_", "tls_"))}
    check: dict[str, CheckResult | None] = {}
    error: str | None = None
    error_field: str | None = None
    try:
        async with ctx.read() as session:
            draft = await service.draft_mailbox(session=session, actor=ctx.actor,
                                                secret_key=ctx.runtime.settings.secret_key, values=values,
                                                mailbox_id=mailbox_id)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        error, error_field = _error(request, ctx, exc), exc.field
    else:
        result = await service.check_mailbox(ctx.runtime.settings, draft)
        check = {"imap": result.imap, "smtp": result.smtp}
    if request.headers.get("hx-request"):
        return render(request, "email/mailbox_check.html", ctx=ctx, check=check, check_error=error)
    return await _form_page(request, ctx, mailbox_id, state, error=error, error_field=error_field, check=check)


@router.post("/admin/mailboxes/new/check")
async def admin_check_new_mailbox(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _check(request, ctx, None)


@router.post("/admin/mailboxes/{mailbox_id}/check")
async def admin_check_mailbox(mailbox_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _check(request, ctx, mailbox_id)


@router.get("/admin/mailboxes/{mailbox_id}/delete")
async def admin_confirm_delete(mailbox_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        mailbox = await service.get_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)
        return render(request, "email/mailbox_delete.html", ctx=ctx, mailbox=mailbox, tab="mailboxes")


@router.post("/admin/mailboxes/{mailbox_id}/delete")
async def admin_delete_mailbox(mailbox_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.delete_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)
    return RedirectResponse("/admin/mailboxes?saved=1", status_code=303)
