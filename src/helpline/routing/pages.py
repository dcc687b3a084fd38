"""Admin pages for routing: queues (and the routing settings), skills, reason codes, routing rules,
and an agent's routing profile (reachable from the users page; supervisors edit their teams' agents).

Forms work without JavaScript: rows (a queue's expansion steps, a rule's conditions) are added and
removed with submit buttons that re-render the form with what was typed, and a refused save shows
the service's error, naming the field, above the form with everything still filled in.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from helpline.accounts import service as accounts
from helpline.conversations.models import Priority
from helpline.errors import DomainError, Invalid
from helpline.routing import configuration as service
from helpline.routing import models as m
from helpline.routing.config import Strategy
from helpline.routing.rules import FIELDS, OPERATORS
from helpline.web.deps import Ctx, admin_page_context, page_context
from helpline.web.i18n import gettext_for
from helpline.web.pages import error_text, render

router = APIRouter(include_in_schema=False)
LEVELS = range(1, 6)
CHANNELS = service.CAPACITY_CHANNELS


def _error(request: Request, ctx: Ctx, exc: DomainError) -> str:
    """The error in the viewer's language, with the field it is about in front (unless it is there already)."""
    if exc.field and exc.message.startswith(exc.field):  # the routing core's "field: problem"
        return exc.translated(gettext_for(ctx.actor.language).gettext, capitalised=False)
    text = error_text(request, exc, ctx)
    if exc.field:
        _ = gettext_for(ctx.actor.language).gettext
        return _("%(field)s: %(problem)s") % {"field": exc.field, "problem": text}
    return text


def _text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def _number(raw: str, field: str, *, optional: bool = False) -> float | None:
    if not raw:
        if optional:
            return None
        raise Invalid("enter a number", field=field)
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise Invalid("enter a number", field=field) from None
    if not math.isfinite(value) or abs(value) > 1e9:
        raise Invalid("enter a number", field=field)
    return value


def _whole(raw: str, field: str, *, optional: bool = False) -> int | None:
    value = _number(raw, field, optional=optional)
    if value is None:
        return None
    if value != int(value):
        raise Invalid("enter a whole number", field=field)
    return int(value)


def _id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _words(raw: str) -> list[str]:
    return [w.strip() for w in raw.replace(";", ",").split(",") if w.strip()]


def _show(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _action(form: FormData) -> tuple[str, int]:
    """Which submit button was pressed: ("save", 0), ("add", 0) or ("remove", n)."""
    action = _text(form, "action", "save")
    if action.startswith("remove:") and action[7:].isdigit():
        return "remove", int(action[7:])
    return ("add", 0) if action == "add" else ("save", 0)


# --- queues and routing settings ------------------------------------------------------------------


async def _queues_page(
    request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200, saved: bool = False
) -> Response:
    async with ctx.read() as session:
        queues = await service.list_queues(session=session, actor=ctx.actor)
        settings = await service.get_settings(session=session, actor=ctx.actor)
        teams = {t.id: t.name for t in await accounts.list_teams(session=session, actor=ctx.actor)}
    names = {q.id: q.name for q in queues}
    return render(
        request, "routing/admin_queues.html", ctx=ctx, queues=queues, names=names, teams=teams,
        settings=settings, grace=_show(settings.away_grace_seconds), show=_show, error=error, saved=saved,
        status_code=status_code, tab="queues",
    )


@router.get("/admin/queues")
async def admin_queues(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _queues_page(request, ctx, saved=request.query_params.get("saved") == "1")


@router.post("/admin/routing-settings")
async def admin_save_settings(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    form = await request.form()
    try:
        default_queue = _text(form, "default_queue_id")
        async with ctx.transaction() as session:
            await service.update_settings(
                session=session,
                actor=ctx.actor,
                max_missed_offers=_whole(_text(form, "max_missed_offers"), "max_missed_offers"),
                away_grace_seconds=_number(_text(form, "away_grace_seconds"), "away_grace_seconds"),
                declines_count_as_missed=_text(form, "declines_count_as_missed") == "1",
                default_queue_id=_id(default_queue),
                clear_default_queue=not default_queue,
            )
    except DomainError as exc:
        return await _queues_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/queues?saved=1", status_code=303)


def _queue_form(queue: m.Queue | None) -> dict[str, Any]:
    """What the queue form shows: the stored queue, or a new queue's defaults."""
    values: dict[str, Any] = dict(service.QUEUE_DEFAULTS)
    if queue is not None:
        values = {k: getattr(queue, k) for k in service.QUEUE_FIELDS}
    return {
        "name": values.get("name", ""),
        "team_id": str(values["team_id"] or ""),
        "skills": {k: str(v) for k, v in (values["skills"] or {}).items()},
        "languages": ", ".join(values["languages"] or []),
        "strategy": values["strategy"],
        "seconds_per_priority_level": _show(values["seconds_per_priority_level"]),
        "expansions": [
            {
                "after_seconds": _show(e.get("after_seconds")),
                "lower_levels_by": str(e.get("lower_levels_by", 0)),
                "drop_languages": bool(e.get("drop_languages")),
                "drop_skills": ", ".join(e.get("drop_skills") or []),
            }
            for e in values["expansions"] or []
        ],
        "sticky_seconds": _show(values["sticky_seconds"]),
        "overflow_queue_id": str(values["overflow_queue_id"] or ""),
        "overflow_after_seconds": _show(values["overflow_after_seconds"]),
        "overflow_when_full": bool(values["overflow_when_full"]),
        "max_size": _show(values["max_size"]),
        "wrap_up_seconds": _show(values["wrap_up_seconds"]),
        "offer_timeout_seconds": _show(values["offer_timeout_seconds"]),
        "push": bool(values["push"]),
    }


def _queue_form_from_post(form: FormData) -> dict[str, Any]:
    """The form as it was posted (strings), to show again after an error or a row added/removed."""
    count = _whole(_text(form, "expansion_count", "0") or "0", "expansions") or 0
    expansions = [
        {
            "after_seconds": _text(form, f"expansion-{n}-after_seconds"),
            "lower_levels_by": _text(form, f"expansion-{n}-lower_levels_by", "0"),
            "drop_languages": _text(form, f"expansion-{n}-drop_languages") == "1",
            "drop_skills": _text(form, f"expansion-{n}-drop_skills"),
        }
        for n in range(min(max(count, 0), service.MAX_EXPANSIONS + 1))
    ]
    skills = {
        str(key)[6:]: value.strip()
        for key, value in form.multi_items()
        if str(key).startswith("skill.") and isinstance(value, str) and value.strip()
    }
    return {
        "name": _text(form, "name"),
        "team_id": _text(form, "team_id"),
        "skills": skills,
        "languages": _text(form, "languages"),
        "strategy": _text(form, "strategy", Strategy.LONGEST_IDLE.value),
        "seconds_per_priority_level": _text(form, "seconds_per_priority_level"),
        "expansions": expansions,
        "sticky_seconds": _text(form, "sticky_seconds"),
        "overflow_queue_id": _text(form, "overflow_queue_id"),
        "overflow_after_seconds": _text(form, "overflow_after_seconds"),
        "overflow_when_full": _text(form, "overflow_when_full") == "1",
        "max_size": _text(form, "max_size"),
        "wrap_up_seconds": _text(form, "wrap_up_seconds"),
        "offer_timeout_seconds": _text(form, "offer_timeout_seconds"),
        "push": _text(form, "push") == "1",
    }


def _queue_values(state: dict[str, Any]) -> dict[str, Any]:
    """The posted form as the service's values; a number that is not one names its field."""
    expansions = []
    for n, row in enumerate(state["expansions"]):
        expansions.append({
            "after_seconds": _number(row["after_seconds"], f"expansions[{n}].after_seconds"),
            "lower_levels_by": _whole(row["lower_levels_by"] or "0", f"expansions[{n}].lower_levels_by"),
            "drop_languages": row["drop_languages"],
            "drop_skills": _words(row["drop_skills"]),
        })
    return {
        "name": state["name"],
        "team_id": _id(state["team_id"]),
        "skills": {k: _whole(v, f"skills.{k}") for k, v in state["skills"].items()},
        "languages": _words(state["languages"]),
        "strategy": state["strategy"],
        "seconds_per_priority_level": _number(state["seconds_per_priority_level"], "seconds_per_priority_level"),
        "expansions": expansions,
        "sticky_seconds": _number(state["sticky_seconds"] or "0", "sticky_seconds"),
        "overflow_queue_id": _id(state["overflow_queue_id"]),
        "overflow_after_seconds": _number(state["overflow_after_seconds"], "overflow_after_seconds", optional=True),
        "overflow_when_full": state["overflow_when_full"],
        "max_size": _whole(state["max_size"], "max_size", optional=True),
        "wrap_up_seconds": _number(state["wrap_up_seconds"] or "0", "wrap_up_seconds"),
        "offer_timeout_seconds": _number(state["offer_timeout_seconds"], "offer_timeout_seconds"),
        "push": state["push"],
    }


async def _queue_page(
    request: Request,
    ctx: Ctx,
    queue_id: int | None,
    form: dict[str, Any],
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
) -> Response:
    async with ctx.read() as session:
        queues = [q for q in await service.list_queues(session=session, actor=ctx.actor) if q.id != queue_id]
        skills = await service.list_skills(session=session, actor=ctx.actor)
        teams = await accounts.list_teams(session=session, actor=ctx.actor)
    return render(
        request, "routing/admin_queue.html", ctx=ctx, queue_id=queue_id, form=form, queues=queues,
        skills=skills, teams=teams, strategies=[s.value for s in Strategy], levels=LEVELS, error=error,
        error_field=error_field or "", status_code=status_code, tab="queues",
    )


@router.get("/admin/queues/new")
async def admin_new_queue(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _queue_page(request, ctx, None, _queue_form(None))


@router.get("/admin/queues/{queue_id}")
async def admin_edit_queue(queue_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        queue = await service.get_queue(session=session, actor=ctx.actor, queue_id=queue_id)
    return await _queue_page(request, ctx, queue.id, _queue_form(queue))


async def _save_queue(request: Request, ctx: Ctx, queue_id: int | None) -> Response:
    if queue_id is not None:
        async with ctx.read() as session:
            await service.get_queue(session=session, actor=ctx.actor, queue_id=queue_id)
    posted = await request.form()
    action, row = _action(posted)
    try:
        state = _queue_form_from_post(posted)
    except DomainError as exc:
        return await _queue_page(request, ctx, queue_id, _queue_form(None), _error(request, ctx, exc), exc.field, 422)
    if action == "add":
        if len(state["expansions"]) < service.MAX_EXPANSIONS:
            state["expansions"].append(
                {"after_seconds": "", "lower_levels_by": "1", "drop_languages": False, "drop_skills": ""}
            )
        return await _queue_page(request, ctx, queue_id, state)
    if action == "remove":
        if 0 <= row < len(state["expansions"]):
            state["expansions"].pop(row)
        return await _queue_page(request, ctx, queue_id, state)
    try:
        values = _queue_values(state)
        async with ctx.transaction() as session:
            if queue_id is None:
                await service.create_queue(session=session, actor=ctx.actor, values=values)
            else:
                await service.update_queue(session=session, actor=ctx.actor, queue_id=queue_id, changes=values)
    except DomainError as exc:
        return await _queue_page(
            request, ctx, queue_id, state, _error(request, ctx, exc), exc.field, exc.status_code
        )
    return RedirectResponse("/admin/queues?saved=1", status_code=303)


@router.post("/admin/queues/new")
async def admin_create_queue(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save_queue(request, ctx, None)


@router.post("/admin/queues/{queue_id}")
async def admin_update_queue(queue_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save_queue(request, ctx, queue_id)


@router.post("/admin/queues/{queue_id}/delete")
async def admin_delete_queue(queue_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.delete_queue(session=session, actor=ctx.actor, queue_id=queue_id)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _queues_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/queues", status_code=303)


# --- skills --------------------------------------------------------------------------------------


async def _skills_page(request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200) -> Response:
    async with ctx.read() as session:
        skills = await service.list_skills(session=session, actor=ctx.actor)
        queues = await service.list_queues(session=session, actor=ctx.actor)
    used = {s.name: [q.name for q in queues if s.name in (q.skills or {})] for s in skills}
    return render(request, "routing/admin_skills.html", ctx=ctx, skills=skills, used=used, error=error,
                  status_code=status_code, tab="skills")


@router.get("/admin/skills")
async def admin_skills(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _skills_page(request, ctx)


@router.post("/admin/skills")
async def admin_create_skill(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    form = await request.form()
    try:
        async with ctx.transaction() as session:
            await service.create_skill(session=session, actor=ctx.actor, name=_text(form, "name"))
    except DomainError as exc:
        return await _skills_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/skills", status_code=303)


@router.post("/admin/skills/{skill_id}")
async def admin_rename_skill(skill_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    form = await request.form()
    try:
        async with ctx.transaction() as session:
            await service.rename_skill(session=session, actor=ctx.actor, skill_id=skill_id, name=_text(form, "name"))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _skills_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/skills", status_code=303)


@router.post("/admin/skills/{skill_id}/delete")
async def admin_delete_skill(skill_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.delete_skill(session=session, actor=ctx.actor, skill_id=skill_id)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _skills_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/skills", status_code=303)


# --- reason codes --------------------------------------------------------------------------------


async def _reasons_page(request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200) -> Response:
    async with ctx.read() as session:
        reasons = await service.list_reason_codes(session=session, actor=ctx.actor)
    return render(request, "routing/admin_reason_codes.html", ctx=ctx, reasons=reasons, error=error,
                  status_code=status_code, tab="reason_codes")


@router.get("/admin/reason-codes")
async def admin_reason_codes(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _reasons_page(request, ctx)


@router.post("/admin/reason-codes")
async def admin_create_reason_code(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    form = await request.form()
    try:
        async with ctx.transaction() as session:
            await service.create_reason_code(session=session, actor=ctx.actor, name=_text(form, "name"))
    except DomainError as exc:
        return await _reasons_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/reason-codes", status_code=303)


@router.post("/admin/reason-codes/{reason_code_id}")
async def admin_update_reason_code(
    reason_code_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)
) -> Response:
    form = await request.form()
    active = _text(form, "active")
    try:
        async with ctx.transaction() as session:
            await service.update_reason_code(
                session=session, actor=ctx.actor, reason_code_id=reason_code_id,
                name=_text(form, "name") or None, is_active=(active == "1") if active in ("0", "1") else None,
            )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return await _reasons_page(request, ctx, _error(request, ctx, exc), exc.status_code)
    return RedirectResponse("/admin/reason-codes", status_code=303)


# --- routing rules -------------------------------------------------------------------------------


async def _rules_page(request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200) -> Response:
    async with ctx.read() as session:
        rules = await service.list_rules(session=session, actor=ctx.actor)
        queues = {q.id: q.name for q in await service.list_queues(session=session, actor=ctx.actor)}
        settings = await service.get_settings(session=session, actor=ctx.actor)
    return render(request, "routing/admin_rules.html", ctx=ctx, rules=rules, queues=queues, settings=settings,
                  error=error, status_code=status_code, tab="rules")


@router.get("/admin/routing-rules")
async def admin_rules(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _rules_page(request, ctx)


def _rule_form(rule: m.RoutingRule | None) -> dict[str, Any]:
    if rule is None:
        return {"name": "", "queue_id": "", "match": "all", "priority": "", "is_active": True,
                "conditions": [{"field": "tag", "op": "is", "key": "", "value": ""}]}
    return {
        "name": rule.name,
        "queue_id": str(rule.queue_id),
        "match": rule.match,
        "priority": rule.priority or "",
        "is_active": rule.is_active,
        "conditions": [
            {
                "field": c.get("field", ""),
                "op": c.get("op", "is"),
                "key": c.get("key", ""),
                "value": ", ".join(c["value"]) if isinstance(c.get("value"), list) else str(c.get("value", "")),
            }
            for c in rule.conditions or []
        ],
    }


def _rule_form_from_post(form: FormData) -> dict[str, Any]:
    raw_count = _text(form, "condition_count", "0")
    count = int(raw_count) if raw_count.isdigit() and len(raw_count) < 4 else 0
    return {
        "name": _text(form, "name"),
        "queue_id": _text(form, "queue_id"),
        "match": _text(form, "match", "all"),
        "priority": _text(form, "priority"),
        "is_active": _text(form, "is_active") == "1",
        "conditions": [
            {
                "field": _text(form, f"condition-{n}-field"),
                "op": _text(form, f"condition-{n}-op", "is"),
                "key": _text(form, f"condition-{n}-key"),
                "value": _text(form, f"condition-{n}-value"),
            }
            for n in range(min(count, service.MAX_CONDITIONS + 1))
        ],
    }


def _rule_values(state: dict[str, Any]) -> dict[str, Any]:
    conditions = []
    for c in state["conditions"]:
        condition: dict[str, Any] = {"field": c["field"], "op": c["op"],
                                     "value": _words(c["value"]) if c["op"] == "in" else c["value"]}
        if c["key"]:
            condition["key"] = c["key"]
        conditions.append(condition)
    return {
        "name": state["name"],
        "queue_id": _id(state["queue_id"]),
        "match": state["match"],
        "priority": state["priority"] or None,
        "is_active": state["is_active"],
        "conditions": conditions,
    }


async def _rule_page(
    request: Request,
    ctx: Ctx,
    rule_id: int | None,
    form: dict[str, Any],
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
) -> Response:
    async with ctx.read() as session:
        queues = await service.list_queues(session=session, actor=ctx.actor)
    return render(
        request, "routing/admin_rule.html", ctx=ctx, rule_id=rule_id, form=form, queues=queues, fields=FIELDS,
        operators=OPERATORS, priorities=[p.value for p in Priority], error=error, error_field=error_field or "",
        status_code=status_code, tab="rules",
    )


@router.get("/admin/routing-rules/new")
async def admin_new_rule(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _rule_page(request, ctx, None, _rule_form(None))


@router.get("/admin/routing-rules/{rule_id}")
async def admin_edit_rule(rule_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        rule = await service.get_rule(session=session, actor=ctx.actor, rule_id=rule_id)
    return await _rule_page(request, ctx, rule.id, _rule_form(rule))


async def _save_rule(request: Request, ctx: Ctx, rule_id: int | None) -> Response:
    if rule_id is not None:
        async with ctx.read() as session:
            await service.get_rule(session=session, actor=ctx.actor, rule_id=rule_id)
    posted = await request.form()
    action, row = _action(posted)
    state = _rule_form_from_post(posted)
    if action == "add":
        if len(state["conditions"]) < service.MAX_CONDITIONS:
            state["conditions"].append({"field": "tag", "op": "is", "key": "", "value": ""})
        return await _rule_page(request, ctx, rule_id, state)
    if action == "remove":
        if 0 <= row < len(state["conditions"]):
            state["conditions"].pop(row)
        return await _rule_page(request, ctx, rule_id, state)
    try:
        values = _rule_values(state)
        async with ctx.transaction() as session:
            if rule_id is None:
                await service.create_rule(session=session, actor=ctx.actor, values=values)
            else:
                await service.update_rule(session=session, actor=ctx.actor, rule_id=rule_id, changes=values)
    except DomainError as exc:
        return await _rule_page(request, ctx, rule_id, state, _error(request, ctx, exc), exc.field, exc.status_code)
    return RedirectResponse("/admin/routing-rules", status_code=303)


@router.post("/admin/routing-rules/new")
async def admin_create_rule(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save_rule(request, ctx, None)


@router.post("/admin/routing-rules/{rule_id}")
async def admin_update_rule(rule_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _save_rule(request, ctx, rule_id)


@router.post("/admin/routing-rules/{rule_id}/move")
async def admin_move_rule(rule_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    form = await request.form()
    by = -1 if _text(form, "direction") == "up" else 1
    async with ctx.transaction() as session:
        await service.move_rule(session=session, actor=ctx.actor, rule_id=rule_id, by=by)
    return RedirectResponse("/admin/routing-rules", status_code=303)


@router.post("/admin/routing-rules/{rule_id}/delete")
async def admin_delete_rule(rule_id: int, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.delete_rule(session=session, actor=ctx.actor, rule_id=rule_id)
    return RedirectResponse("/admin/routing-rules", status_code=303)


# --- an agent's routing profile --------------------------------------------------------------------


async def _profile_page(
    request: Request,
    ctx: Ctx,
    user_id: int,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
    saved: bool = False,
) -> Response:
    async with ctx.read() as session:
        profile = await service.get_agent_profile(session=session, actor=ctx.actor, user_id=user_id)
        editable = await service.may_edit_profile(session=session, actor=ctx.actor, user_id=user_id)
        skills = await service.list_skills(session=session, actor=ctx.actor)
    if form is None:
        form = {
            "languages": ", ".join(profile.languages),
            "capacity": {k: str(v) for k, v in profile.capacity.items()},
            "mixing_allowed": profile.mixing_allowed,
            "skills": {k: str(v) for k, v in profile.skills.items()},
        }
    return render(
        request, "routing/agent_profile.html", ctx=ctx, profile=profile, form=form, skills=skills, levels=LEVELS,
        channels=CHANNELS, editable=editable, error=error, error_field=error_field or "", saved=saved,
        status_code=status_code, tab="users",
    )


@router.get("/admin/users/{user_id}/routing")
async def agent_profile(user_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """Everyone on the staff may look; admins, and supervisors of the agent's team, may change it."""
    return await _profile_page(request, ctx, user_id, saved=request.query_params.get("saved") == "1")


@router.post("/admin/users/{user_id}/routing")
async def save_agent_profile(user_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    posted = await request.form()
    state: dict[str, Any] = {
        "languages": _text(posted, "languages"),
        "capacity": {c: _text(posted, f"capacity.{c}") for c in CHANNELS},
        "mixing_allowed": _text(posted, "mixing_allowed") == "1",
        "skills": {
            str(k)[6:]: v.strip()
            for k, v in posted.multi_items()
            if str(k).startswith("skill.") and isinstance(v, str) and v.strip()
        },
    }
    try:
        capacity = {c: _whole(v or "0", f"capacity.{c}") or 0 for c, v in state["capacity"].items()}
        skills = {k: _whole(v, f"skills.{k}") or 0 for k, v in state["skills"].items()}
        async with ctx.transaction() as session:
            await service.update_agent_profile(
                session=session, actor=ctx.actor, user_id=user_id, languages=_words(state["languages"]),
                capacity=capacity, mixing_allowed=state["mixing_allowed"], skills=skills,
            )
    except DomainError as exc:
        if exc.status_code in (403, 404):
            raise
        return await _profile_page(
            request, ctx, user_id, state, _error(request, ctx, exc), exc.field, exc.status_code
        )
    return RedirectResponse(f"/admin/users/{user_id}/routing?saved=1", status_code=303)
