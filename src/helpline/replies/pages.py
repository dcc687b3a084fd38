"""The canned replies page, /replies: for everyone (their own, their teams' and the shared replies);
admins and supervisors look after the shared and team replies here too.

The forms work without JavaScript. A refused save shows the service's error above the form, naming
the field, with everything typed still there. The preview (htmx) fills the placeholders with a
made-up customer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from starlette.datastructures import FormData

from helpline.accounts import service as accounts
from helpline.errors import DomainError, PermissionDenied
from helpline.replies import service
from helpline.replies.models import CannedReply, Visibility
from helpline.web.deps import Ctx, page_context
from helpline.web.i18n import gettext_for
from helpline.web.pages import error_text, form_text, labelled_error_text, render

router = APIRouter(include_in_schema=False)


def _field_label(field: str | None, _: Callable[[str], str]) -> str | None:
    labels = {
        "title": _("Title"),
        "body": _("Text"),
        "shortcut": _("Shortcut"),
        "visibility": _("Who may use it"),
        "team_id": _("Who may use it"),
    }
    return labels.get(field or "")


def _audience(reply: CannedReply) -> str:
    """The form's one choice of who may use a reply: shared, personal or team:<id>."""
    return f"team:{reply.team_id}" if reply.visibility == Visibility.team else reply.visibility.value


def _form(reply: CannedReply | None) -> dict[str, str]:
    if reply is None:
        return {"title": "", "body": "", "shortcut": "", "audience": Visibility.personal.value}
    return {"title": reply.title, "body": reply.body, "shortcut": reply.shortcut or "", "audience": _audience(reply)}


def _form_from_post(form: FormData) -> dict[str, str]:
    return {name: form_text(form, name) for name in ("title", "body", "shortcut", "audience")}


def _values(state: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"title": state["title"], "body": state["body"], "shortcut": state["shortcut"]}
    audience = state["audience"] or Visibility.personal.value
    if audience.startswith("team:"):
        team = audience.removeprefix("team:")
        values["visibility"] = Visibility.team.value
        values["team_id"] = int(team) if team.isdigit() and len(team) < 10 else team
    else:
        values["visibility"] = audience
    return values


async def _teams(ctx: Ctx) -> dict[int, str]:
    async with ctx.read() as session:
        return {t.id: t.name for t in await accounts.list_teams(session=session, actor=ctx.actor)}


@router.get("/replies")
async def replies_page(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    query = request.query_params.get("q", "")[: service.MAX_QUERY]
    error = None
    async with ctx.read() as session:
        try:
            replies = await service.list_replies(session=session, actor=ctx.actor, query=query)
        except DomainError as exc:  # a search with control characters: say so, show none
            replies, error = [], error_text(request, exc, ctx)
    editable = {r.id for r in replies if service.may_edit(ctx.actor, r)}
    return render(request, "replies/list.html", ctx=ctx, replies=replies, editable=editable, q=query,
                  teams=await _teams(ctx), error=error, saved=request.query_params.get("saved") == "1")


async def _form_page(request: Request, ctx: Ctx, reply: CannedReply | None, form: dict[str, str], *,
                     error: str | None = None, error_field: str | None = None, status_code: int = 200) -> Response:
    translate = gettext_for(ctx.actor.language).gettext  # the descriptions are N_() marked in the service
    placeholders = [(name, translate(help_text)) for name, help_text in service.PLACEHOLDERS.items()]
    return render(
        request, "replies/form.html", ctx=ctx, reply=reply, form=form, teams=await _teams(ctx), error=error,
        error_field=error_field or "", status_code=status_code, max_title=service.MAX_TITLE,
        max_body=service.MAX_BODY, placeholders=placeholders,
    )


@router.get("/replies/new")
async def new_reply(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return await _form_page(request, ctx, None, _form(None))


async def _editable(ctx: Ctx, reply_id: int) -> CannedReply:
    async with ctx.read() as session:
        reply = await service.get_reply(session=session, actor=ctx.actor, reply_id=reply_id)
    if not service.may_edit(ctx.actor, reply):
        raise PermissionDenied("only admins and supervisors may change shared and team replies")
    return reply


@router.get("/replies/{reply_id}")
async def edit_reply(reply_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    reply = await _editable(ctx, reply_id)
    return await _form_page(request, ctx, reply, _form(reply))


async def _save(request: Request, ctx: Ctx, reply_id: int | None) -> Response:
    state = _form_from_post(await request.form())
    try:
        async with ctx.transaction() as session:
            if reply_id is None:
                await service.create_reply(session=session, actor=ctx.actor, values=_values(state))
            else:
                await service.update_reply(session=session, actor=ctx.actor, reply_id=reply_id, changes=_values(state))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        stored = await _editable(ctx, reply_id) if reply_id is not None else None
        return await _form_page(request, ctx, stored, state, error=labelled_error_text(request, ctx, exc, _field_label),
                                error_field=exc.field, status_code=exc.status_code)
    return RedirectResponse("/replies?saved=1", status_code=303)


@router.post("/replies/new")
async def create_reply(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return await _save(request, ctx, None)


@router.post("/replies/preview")
async def preview_reply(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """The body with a made-up customer's details (htmx fragment); an unknown placeholder is named."""
    body = form_text(await request.form(), "body")
    if not body.strip():
        return HTMLResponse("")
    try:
        async with ctx.read() as session:
            text = await service.preview(session=session, actor=ctx.actor, body=body)
    except DomainError as exc:
        message = labelled_error_text(request, ctx, exc, _field_label)
        return HTMLResponse(f'<p class="error-message">{escape(message)}</p>')
    return HTMLResponse(f'<div class="reply-preview-text">{escape(text)}</div>')


@router.post("/replies/{reply_id}")
async def update_reply(reply_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return await _save(request, ctx, reply_id)


@router.post("/replies/{reply_id}/delete")
async def delete_reply(reply_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.delete_reply(session=session, actor=ctx.actor, reply_id=reply_id)
    if request.headers.get("hx-request"):  # asked to confirm first (hx-confirm); htmx goes to the list
        return Response(status_code=204, headers={"HX-Redirect": "/replies?saved=1"})
    return RedirectResponse("/replies?saved=1", status_code=303)
