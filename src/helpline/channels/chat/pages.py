"""Admin pages for chat channels: the list with each website's embed snippet, the new/edit form, delete.

The form works without JavaScript. A refused save shows the service's error above the form, naming
the field, with everything typed still there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from helpline.accounts import service as accounts
from helpline.channels.chat import invitations, service
from helpline.channels.chat.hours import WEEKDAYS
from helpline.channels.chat.models import ChatChannel
from helpline.errors import DomainError
from helpline.web.deps import Ctx, admin_page_context
from helpline.web.pages import form_text, labelled_error_text, render

router = APIRouter(include_in_schema=False)
TEXT_FIELDS = ("name", "colour", "position", "greeting", "offline_message", "language", "hours_message")
BLANK_INVITATIONS = 2  # empty rows under the rules, to add new ones without JavaScript


def _field_label(field: str | None, _: Callable[[str], str]) -> str | None:
    labels = {
        "name": _("Name"),
        "allowed_origins": _("Allowed websites"),
        "team_id": _("Team"),
        "colour": _("Colour"),
        "position": _("Position"),
        "greeting": _("Greeting"),
        "prechat.name": _("Ask for the name"),
        "prechat.email": _("Ask for the email address"),
        "offline_message": _("Message when nobody is available"),
        "language": _("Language"),
        "time_zone": _("Time zone"),
        "opening_hours": _("Opening hours"),
        "holidays": _("Holidays (closed all day)"),
        "hours_message": _("Message outside business hours"),
        "invitations": _("Invitations"),
        **{f"opening_hours.{day}": name for day, name in _weekday_names(_).items()},
    }
    if field and field.startswith("invitations.") and field.count(".") == 2:
        _prefix, index, part = field.split(".")
        parts = {"url": _("Page"), "seconds": _("After seconds"), "greeting": _("Greeting")}
        if index.isdigit() and part in parts:
            return _("Invitation %(number)s, %(part)s") % {"number": int(index) + 1, "part": parts[part]}
    return labels.get(field or "")


def _weekday_names(_: Callable[[str], str]) -> dict[str, str]:
    names = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))
    return dict(zip(WEEKDAYS, names, strict=True))


def _error(request: Request, ctx: Ctx, exc: DomainError) -> str:
    return labelled_error_text(request, ctx, exc, _field_label)


def _form(channel: ChatChannel | None) -> dict[str, Any]:
    values: dict[str, Any] = {"name": "", **service.DEFAULTS}
    if channel is not None:
        values = {name: getattr(channel, name) for name in service.FIELDS}
    state: dict[str, Any] = {name: str(values[name] or "") for name in TEXT_FIELDS}
    state["allowed_origins"] = "\n".join(values["allowed_origins"] or [])
    state["team_id"] = str(values["team_id"] or "")
    state["is_active"] = bool(values["is_active"])
    state["prechat_name"] = (values["prechat"] or {}).get("name", "off")
    state["prechat_email"] = (values["prechat"] or {}).get("email", "off")
    state["time_zone"] = str(values["time_zone"] or "") if channel is not None else ""  # new: the company's
    for day in WEEKDAYS:
        state[f"hours_{day}"] = ", ".join((values["opening_hours"] or {}).get(day, []))
    state["holidays"] = "\n".join(values["holidays"] or [])
    state["invitations"] = [{"url": r["url"], "seconds": str(r["seconds"]), "greeting": r["greeting"]}
                            for r in values["invitations"] or []]
    return state


def _invitation_rows(form: FormData) -> list[dict[str, str]]:
    """The rules typed into the rows, blank rows left out (so error indexes match the rows shown again)."""
    rows = []
    for index in range(invitations.MAX_RULES + BLANK_INVITATIONS):
        row = {part: form_text(form, f"invitation_{part}_{index}") for part in invitations.RULE_FIELDS}
        if any(value.strip() for value in row.values()):
            rows.append(row)
    return rows


def _form_from_post(form: FormData) -> dict[str, Any]:
    state: dict[str, Any] = {name: form_text(form, name) for name in TEXT_FIELDS}
    state["allowed_origins"] = form_text(form, "allowed_origins")
    state["team_id"] = form_text(form, "team_id").strip()
    state["is_active"] = form_text(form, "is_active") == "1"
    state["prechat_name"] = form_text(form, "prechat_name")
    state["prechat_email"] = form_text(form, "prechat_email")
    state["time_zone"] = form_text(form, "time_zone").strip()
    for day in WEEKDAYS:
        state[f"hours_{day}"] = form_text(form, f"hours_{day}")
    state["holidays"] = form_text(form, "holidays")
    state["invitations"] = _invitation_rows(form)
    return state


def _seconds(text: str) -> object:
    """Digits become a number for the service to check; anything else goes as typed, to be refused by name."""
    text = text.strip()
    if not text:
        return 0
    return int(text) if text.isdigit() and len(text) < 10 else text


def _values(state: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {name: state[name] for name in TEXT_FIELDS}
    values["allowed_origins"] = state["allowed_origins"]  # one per line; the service splits and checks
    team = state["team_id"]
    values["team_id"] = int(team) if team.isdigit() and len(team) < 10 else (team or None)
    values["is_active"] = state["is_active"]
    values["prechat"] = {"name": state["prechat_name"], "email": state["prechat_email"]}
    if state["time_zone"]:  # left empty: unchanged (a new channel takes the company's)
        values["time_zone"] = state["time_zone"]
    values["opening_hours"] = {day: state[f"hours_{day}"] for day in WEEKDAYS}  # the service parses each line
    values["holidays"] = state["holidays"]  # one date per line; the service splits and checks
    values["invitations"] = [{"url": row["url"], "seconds": _seconds(row["seconds"]), "greeting": row["greeting"]}
                             for row in state["invitations"]]
    return values


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/admin/chat")
async def admin_chat(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        channels = await service.list_channels(session=session, actor=ctx.actor)
        teams = {t.id: t.name for t in await accounts.list_teams(session=session, actor=ctx.actor)}
    snippets = {c.id: service.snippet(_base_url(request), c) for c in channels}
    return render(request, "chat/channels.html", ctx=ctx, channels=channels, teams=teams, snippets=snippets,
                  saved=request.query_params.get("saved") == "1", tab="chat")


async def _form_page(request: Request, ctx: Ctx, channel: ChatChannel | None, form: dict[str, Any], *,
                     error: str | None = None, error_field: str | None = None, status_code: int = 200) -> Response:
    async with ctx.read() as session:
        teams = await accounts.list_teams(session=session, actor=ctx.actor)
    return render(
        request, "chat/channel.html", ctx=ctx, channel=channel, form=form, teams=teams, error=error,
        error_field=error_field or "", status_code=status_code, positions=service.POSITIONS,
        widget_languages=service.WIDGET_LANGUAGES, prechat_modes=service.PRECHAT_MODES,
        snippet=service.snippet(_base_url(request), channel) if channel is not None else "", tab="chat",
        weekdays=WEEKDAYS, invitation_rows=_rows_to_show(form["invitations"]), max_greeting=invitations.MAX_GREETING,
        max_seconds=invitations.MAX_SECONDS, default_time_zone=ctx.actor.time_zone,
    )


def _rows_to_show(rules: list[dict[str, str]]) -> list[dict[str, str]]:
    blank = {part: "" for part in invitations.RULE_FIELDS}
    count = min(len(rules) + BLANK_INVITATIONS, invitations.MAX_RULES)
    return [*rules, *[dict(blank) for _ in range(count - len(rules))]]


@router.get("/admin/chat/new")
async def admin_new_channel(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _form_page(request, ctx, None, _form(None))


@router.get("/admin/chat/{channel_id}")
async def admin_edit_channel(channel_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        channel = await service.get_channel(session=session, actor=ctx.actor, channel_id=channel_id)
        return await _form_page(request, ctx, channel, _form(channel))


async def _save(request: Request, ctx: Ctx, channel_id: int | None) -> Response:
    state = _form_from_post(await request.form())
    try:
        async with ctx.transaction() as session:
            if channel_id is None:
                await service.create_channel(session=session, actor=ctx.actor, values=_values(state))
            else:
                await service.update_channel(session=session, actor=ctx.actor, channel_id=channel_id,
                                             changes=_values(state))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        stored = None
        if channel_id is not None:
            async with ctx.read() as session:
                stored = await service.get_channel(session=session, actor=ctx.actor, channel_id=channel_id)
        return await _form_page(request, ctx, stored, state, error=_error(request, ctx, exc),
                                error_field=exc.field, status_code=exc.status_code)
    return RedirectResponse("/admin/chat?saved=1", status_code=303)


@router.post("/admin/chat/new")
async def admin_create_channel(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save(request, ctx, None)


@router.post("/admin/chat/{channel_id}")
async def admin_update_channel(channel_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save(request, ctx, channel_id)


@router.post("/admin/chat/{channel_id}/delete")
async def admin_delete_channel(channel_id: int, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.delete_channel(session=session, actor=ctx.actor, channel_id=channel_id)
    return RedirectResponse("/admin/chat?saved=1", status_code=303)
