"""Suspended email, for agents: the page /email/suspended (htmx Release / Delete) and its API.

API: ``GET /api/v1/email/suspended``, ``POST /api/v1/email/suspended/{id}/release``,
``DELETE /api/v1/email/suspended/{id}``. The service (``suspended.py``) checks tenancy.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from helpline.channels.email import suspended as service
from helpline.channels.email.intake import IntakeResult
from helpline.channels.email.models import SuspendedEmail
from helpline.web.deps import Ctx, api_context, page_context
from helpline.web.pages import render

router = APIRouter(prefix="/api/v1/email/suspended", tags=["email"])
pages = APIRouter(include_in_schema=False)


class SuspendedRead(BaseModel):
    id: int
    reason: str
    mailbox_id: int | None
    rfc_message_id: str
    from_address: str
    from_name: str
    subject: str
    preview: str
    raw_size: int
    received_at: datetime
    released_conversation_id: int | None

    @classmethod
    def of(cls, row: SuspendedEmail) -> SuspendedRead:
        return cls(
            id=row.id,
            reason=row.reason.value,
            mailbox_id=row.mailbox_id,
            rfc_message_id=row.rfc_message_id,
            from_address=row.from_address,
            from_name=row.from_name,
            subject=row.subject,
            preview=row.preview,
            raw_size=row.raw_size,
            received_at=row.received_at,
            released_conversation_id=row.released_conversation_id,
        )


class ReleaseRead(BaseModel):
    """What the release did: ``created``/``threaded``/``bounce`` (into the inbox), ``duplicate``
    (it was there already) or ``suspended`` (another check holds it; ``reason`` says which)."""

    outcome: str
    conversation_id: int | None
    message_id: int | None
    reason: str

    @classmethod
    def of(cls, result: IntakeResult) -> ReleaseRead:
        return cls(
            outcome=result.outcome,
            conversation_id=result.conversation_id,
            message_id=result.message_id,
            reason=result.reason,
        )


# --- API ---------------------------------------------------------------------------------------


@router.get("", response_model=list[SuspendedRead])
async def list_suspended(
    limit: int = 100, include_released: bool = False, ctx: Ctx = Depends(api_context)
) -> list[SuspendedRead]:
    async with ctx.read() as session:
        rows = await service.list_suspended(
            session=session, actor=ctx.actor, limit=limit, include_released=include_released
        )
    return [SuspendedRead.of(r) for r in rows]


@router.post("/{suspended_id}/release", response_model=ReleaseRead)
async def release(suspended_id: int, ctx: Ctx = Depends(api_context)) -> ReleaseRead:
    result = await service.release(ctx.runtime, actor=ctx.actor, suspended_id=suspended_id)
    return ReleaseRead.of(result)


@router.delete("/{suspended_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(suspended_id: int, ctx: Ctx = Depends(api_context)) -> None:
    await service.delete(ctx.runtime, actor=ctx.actor, suspended_id=suspended_id)


# --- pages -------------------------------------------------------------------------------------


@pages.get("/email/suspended")
async def suspended_page(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.read() as session:
        rows = await service.list_suspended(session=session, actor=ctx.actor, limit=200)
    return render(request, "email/suspended.html", ctx=ctx, rows=rows, view="suspended")


@pages.get("/email/suspended/nav")
async def suspended_nav(request: Request, current: str = "", ctx: Ctx = Depends(page_context)) -> Response:
    """The navigation's link with its count; nothing when no mail waits (one indexed COUNT)."""
    async with ctx.read() as session:
        count = await service.count_suspended(session=session, actor=ctx.actor)
    return render(request, "email/suspended_nav.html", ctx=ctx, count=count, current=current)


@pages.post("/email/suspended/{suspended_id}/release")
async def release_page(suspended_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    result = await service.release(ctx.runtime, actor=ctx.actor, suspended_id=suspended_id)
    if not request.headers.get("hx-request"):
        return RedirectResponse("/email/suspended", status_code=303)
    async with ctx.read() as session:
        row = await service.get_suspended(session=session, actor=ctx.actor, suspended_id=suspended_id)
    response = render(request, "email/suspended_row.html", ctx=ctx, row=row, result=result)
    response.headers["HX-Trigger"] = "refresh-nav"
    return response


@pages.post("/email/suspended/{suspended_id}/delete")
async def delete_page(suspended_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    await service.delete(ctx.runtime, actor=ctx.actor, suspended_id=suspended_id)
    if not request.headers.get("hx-request"):
        return RedirectResponse("/email/suspended", status_code=303)
    # An empty answer: htmx swaps the row away.
    return Response("", media_type="text/html", headers={"HX-Trigger": "refresh-nav"})
