"""REST API for canned replies: /api/v1/canned-replies (the service checks who may do what)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status

from helpline.replies import service
from helpline.replies.schemas import CannedReplyCreate, CannedReplyRead, CannedReplyUpdate, RenderedReply
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1/canned-replies", tags=["canned replies"])


@router.get("", response_model=list[CannedReplyRead])
async def list_replies(
    q: str = Query(default="", max_length=service.MAX_QUERY, description="Words to find in title, shortcut or body."),
    ctx: Ctx = Depends(api_context),
) -> list[CannedReplyRead]:
    async with ctx.read() as session:
        return [CannedReplyRead.of(r) for r in await service.list_replies(session=session, actor=ctx.actor, query=q)]


@router.post("", response_model=CannedReplyRead, status_code=status.HTTP_201_CREATED)
async def create_reply(body: CannedReplyCreate, ctx: Ctx = Depends(api_context)) -> CannedReplyRead:
    async with ctx.transaction() as session:
        return CannedReplyRead.of(await service.create_reply(session=session, actor=ctx.actor, values=body.values()))


@router.get("/{reply_id}", response_model=CannedReplyRead)
async def get_reply(reply_id: int, ctx: Ctx = Depends(api_context)) -> CannedReplyRead:
    async with ctx.read() as session:
        return CannedReplyRead.of(await service.get_reply(session=session, actor=ctx.actor, reply_id=reply_id))


@router.patch("/{reply_id}", response_model=CannedReplyRead)
async def update_reply(reply_id: int, body: CannedReplyUpdate, ctx: Ctx = Depends(api_context)) -> CannedReplyRead:
    async with ctx.transaction() as session:
        reply = await service.update_reply(session=session, actor=ctx.actor, reply_id=reply_id, changes=body.changes())
        return CannedReplyRead.of(reply)


@router.delete("/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_reply(reply_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_reply(session=session, actor=ctx.actor, reply_id=reply_id)


@router.post("/{reply_id}/render", response_model=RenderedReply)
async def render_reply(
    reply_id: int,
    conversation_id: int = Query(ge=1, le=2**31 - 1, description="Whose details fill the placeholders."),
    ctx: Ctx = Depends(api_context),
) -> RenderedReply:
    """The reply with the conversation's details filled in; counts as one use (call it on insert)."""
    async with ctx.transaction() as session:
        body = await service.render_for_conversation(
            session=session, actor=ctx.actor, reply_id=reply_id, conversation_id=conversation_id
        )
    return RenderedReply(body=body)
