"""REST API for chat channels: /api/v1/chat-channels. Admins only (the service checks)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from helpline.channels.chat import service
from helpline.channels.chat.schemas import ChatChannelCreate, ChatChannelRead, ChatChannelUpdate
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1/chat-channels", tags=["chat"])


@router.get("", response_model=list[ChatChannelRead])
async def list_channels(ctx: Ctx = Depends(api_context)) -> list[ChatChannelRead]:
    async with ctx.read() as session:
        return [ChatChannelRead.of(c) for c in await service.list_channels(session=session, actor=ctx.actor)]


@router.post("", response_model=ChatChannelRead, status_code=status.HTTP_201_CREATED)
async def create_channel(body: ChatChannelCreate, ctx: Ctx = Depends(api_context)) -> ChatChannelRead:
    async with ctx.transaction() as session:
        channel = await service.create_channel(session=session, actor=ctx.actor, values=body.values())
        return ChatChannelRead.of(channel)


@router.get("/{channel_id}", response_model=ChatChannelRead)
async def get_channel(channel_id: int, ctx: Ctx = Depends(api_context)) -> ChatChannelRead:
    async with ctx.read() as session:
        return ChatChannelRead.of(await service.get_channel(session=session, actor=ctx.actor, channel_id=channel_id))


@router.patch("/{channel_id}", response_model=ChatChannelRead)
async def update_channel(channel_id: int, body: ChatChannelUpdate, ctx: Ctx = Depends(api_context)) -> ChatChannelRead:
    async with ctx.transaction() as session:
        channel = await service.update_channel(
            session=session, actor=ctx.actor, channel_id=channel_id, changes=body.changes()
        )
        return ChatChannelRead.of(channel)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_channel(session=session, actor=ctx.actor, channel_id=channel_id)
