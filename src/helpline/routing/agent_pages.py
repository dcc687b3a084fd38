"""The agent's and the supervisor's routing UI: the state and offers in the workspace header, "get next
item", transfer to a queue or an agent on the conversation page, and the wallboard.

The header fragment (``/agent/bar``) is loaded by every workspace page and fetched again when the
hub signals a change for this agent (an offer, a state change made by routing or a supervisor); the
wallboard fragment likewise on the hub's debounced ``wallboard`` signal. Every write goes through
``routing.service`` with a *read* session: the engine host writes in a transaction of its own.
Forms post without JavaScript too (then the answer is a redirect back).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape

from helpline.errors import Invalid
from helpline.routing import service as routing
from helpline.routing import transfer as transfers
from helpline.web.deps import Ctx, page_context
from helpline.web.i18n import gettext_for
from helpline.web.pages import render

router = APIRouter(include_in_schema=False)


def clock(seconds: float | None) -> str:
    """Seconds as mm:ss (h:mm:ss from an hour on), the way the browser ticks them on."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def _back(request: Request) -> Response:
    """Where a form posted without JavaScript returns to: the page it came from (same site only)."""
    referer = request.headers.get("referer", "")
    target = referer if referer.startswith(str(request.base_url)) else "/inbox"
    return RedirectResponse(target, status_code=303)


def _go(request: Request, url: str) -> Response:
    if _htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _toast(text: str) -> Markup:
    """An out-of-band toast to send along with a fragment."""
    return Markup('<div id="toasts" hx-swap-oob="innerHTML"><div class="toast" role="status">%s</div></div>') % escape(
        text
    )


async def _bar(request: Request, ctx: Ctx, *, note: str | None = None) -> Response:
    async with ctx.read() as session:
        status = await routing.agent_status(session=session, actor=ctx.actor, user_id=_me(ctx))
    return render(
        request,
        "routing/agent_bar.html",
        ctx=ctx,
        status=status,
        now=time.time(),
        clock=clock,
        note=_toast(note) if note else "",
    )


def _me(ctx: Ctx) -> int:
    assert ctx.actor.user_id is not None  # page actors are users
    return ctx.actor.user_id


@router.get("/agent/bar")
async def agent_bar(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """The header fragment: state, time in it, the state menu, and pending offers."""
    return await _bar(request, ctx)


@router.post("/agent/state")
async def change_state(
    request: Request,
    state: str = Form(..., max_length=100),
    reason: str = Form("", max_length=100),
    ctx: Ctx = Depends(page_context),
) -> Response:
    # A menu button carries "not_ready:<reason code>" in one value.
    chosen, _sep, coded = state.partition(":")
    async with ctx.read() as session:
        await routing.set_agent_state(
            session=session,
            host=ctx.runtime.routing,
            actor=ctx.actor,
            user_id=_me(ctx),
            state=chosen,
            reason=(coded or reason) or None,
        )
    return await _bar(request, ctx) if _htmx(request) else _back(request)


@router.post("/agent/end-wrap-up")
async def end_wrap_up(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    await routing.end_wrap_up(host=ctx.runtime.routing, actor=ctx.actor)
    return await _bar(request, ctx) if _htmx(request) else _back(request)


@router.post("/agent/next")
async def get_next_item(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """Pull mode: the best waiting item is assigned at once and opened."""
    taken = await routing.next_item(host=ctx.runtime.routing, actor=ctx.actor)
    if taken and taken.get("conversation_id"):
        return _go(request, f"/conversations/{int(taken['conversation_id'])}")
    _ = gettext_for(ctx.actor.language).gettext
    if not _htmx(request):
        return _back(request)
    return await _bar(request, ctx, note=_("Nothing is waiting for you right now."))


def _attempt(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise Invalid("the offer attempt must be a whole number", field="attempt")
    return int(raw)


@router.post("/agent/offers/{conversation_id}/accept")
async def accept_offer(
    conversation_id: int,
    request: Request,
    attempt: str = Form("", max_length=20),
    ctx: Ctx = Depends(page_context),
) -> Response:
    taken = await routing.accept_offer(
        host=ctx.runtime.routing, actor=ctx.actor, conversation_id=conversation_id, attempt=_attempt(attempt)
    )
    target = (taken or {}).get("conversation_id") or conversation_id
    return _go(request, f"/conversations/{int(target)}")


@router.post("/agent/offers/{conversation_id}/decline")
async def decline_offer(
    conversation_id: int,
    request: Request,
    attempt: str = Form("", max_length=20),
    ctx: Ctx = Depends(page_context),
) -> Response:
    await routing.decline_offer(
        host=ctx.runtime.routing, actor=ctx.actor, conversation_id=conversation_id, attempt=_attempt(attempt)
    )
    return await _bar(request, ctx) if _htmx(request) else _back(request)


# ---------------------------------------------------------------------- transfer


@router.get("/conversations/{conversation_id}/transfer")
async def transfer_form(conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return await _transfer_card(request, ctx, conversation_id)


async def _transfer_card(request: Request, ctx: Ctx, conversation_id: int, **extra: Any) -> Response:
    from helpline.conversations import service as conversations

    async with ctx.read() as session:
        await conversations.get_conversation(session=session, actor=ctx.actor, conversation_id=conversation_id)
        queues = await routing.queues_for_transfer(session, ctx.actor)
        agents = await transfers.agents_for_transfer(session, ctx.actor)
    return render(
        request,
        "routing/agent_transfer.html",
        ctx=ctx,
        conversation_id=conversation_id,
        queues=queues,
        agents=agents,
        **extra,
    )


def _transfer_target(target: str) -> dict[str, int]:
    """``queue:12`` or ``agent:7`` from the form's one select."""
    kind, _, number = target.partition(":")
    if kind not in ("queue", "agent") or not number.isdigit() or len(number) > 9:
        raise Invalid("choose a queue or an agent", field="target")
    return {f"{kind}_id": int(number)}


@router.post("/conversations/{conversation_id}/transfer")
async def transfer(
    conversation_id: int,
    request: Request,
    target: str = Form("", max_length=20),
    note: str = Form("", max_length=1000),
    ctx: Ctx = Depends(page_context),
) -> Response:
    done = await transfers.transfer(
        db=ctx.runtime.db,
        host=ctx.runtime.routing,
        actor=ctx.actor,
        conversation_id=conversation_id,
        note=note,
        **_transfer_target(target),
    )
    if not _htmx(request):
        return _back(request)
    return await _transfer_card(request, ctx, conversation_id, done=done.target.name)


# ---------------------------------------------------------------------- wallboard


async def _board(ctx: Ctx) -> dict[str, Any]:
    async with ctx.read() as session:
        board = await routing.wallboard(session=session, actor=ctx.actor)
        reasons = await routing.reason_codes(session, ctx.actor.tenant_id)
    # Logged-in agents first (by name), then those offline.
    agents = sorted(board.agents, key=lambda a: (a.state == "offline", a.name.casefold()))
    return {"board": board, "agents_in_order": agents, "clock": clock, "reason_codes": reasons}


@router.get("/wallboard")
async def wallboard(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """Supervisors' live view of queues and agents; agents get the 403 page."""
    return render(request, "routing/wallboard.html", ctx=ctx, **await _board(ctx))


@router.get("/wallboard/board")
async def wallboard_board(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return render(request, "routing/wallboard_board.html", ctx=ctx, **await _board(ctx))


@router.post("/wallboard/agents/{user_id}/state")
async def set_agent_state_from_wallboard(
    user_id: int,
    request: Request,
    state: str = Form(..., max_length=100),
    ctx: Ctx = Depends(page_context),
) -> Response:
    """A supervisor sets an agent's state (their own team's agents; admins anyone's)."""
    chosen, _sep, reason = state.partition(":")
    async with ctx.read() as session:
        await routing.set_agent_state(
            session=session,
            host=ctx.runtime.routing,
            actor=ctx.actor,
            user_id=user_id,
            state=chosen,
            reason=reason or None,
        )
    if _htmx(request):
        return render(request, "routing/wallboard_board.html", ctx=ctx, **await _board(ctx))
    return RedirectResponse("/wallboard", status_code=303)


@router.get("/wallboard/conversation/{number}")
async def wallboard_conversation(number: int, ctx: Ctx = Depends(page_context)) -> Response:
    """The wallboard knows conversations by their number: open the one with this number."""
    from helpline.conversations import service as conversations

    async with ctx.read() as session:
        found = await conversations.get_by_number(session=session, actor=ctx.actor, number=number)
    return RedirectResponse(f"/conversations/{found.id}", status_code=303)
