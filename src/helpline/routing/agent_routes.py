"""REST API for the agent side of routing: state, offers, pull, wrap-up, transfer, wallboard.

The writes go to the routing engine through the service (it forwards them to the leading process
and persists them in a transaction of its own), so every handler here holds a *read* session only.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, status
from fastapi.responses import Response

from helpline.errors import PermissionDenied
from helpline.routing import service
from helpline.routing import transfer as transfers
from helpline.routing.agent_schemas import (
    AgentStateUpdate,
    AgentStatusRead,
    OfferAnswer,
    PendingOfferRead,
    RoutedItem,
    TransferRead,
    TransferRequest,
    WallboardRead,
)
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1", tags=["routing"])


def _own_id(ctx: Ctx) -> int:
    if ctx.actor.user_id is None:
        raise PermissionDenied("only an agent can do this", field="user_id")
    return ctx.actor.user_id


async def _status(ctx: Ctx, user_id: int) -> AgentStatusRead:
    async with ctx.read() as session:
        found = await service.agent_status(session=session, actor=ctx.actor, user_id=user_id)
    return AgentStatusRead.model_validate(found)


async def _set_state(ctx: Ctx, user_id: int, body: AgentStateUpdate) -> AgentStatusRead:
    async with ctx.read() as session:
        found = await service.set_agent_state(
            session=session,
            host=ctx.runtime.routing,
            actor=ctx.actor,
            user_id=user_id,
            state=body.state,
            reason=body.reason,
        )
    return AgentStatusRead.model_validate(found)


# --- agent state (``me`` first: ``{user_id}`` would claim it and fail as a number) ---------------


@router.get("/routing/agents/me/state", response_model=AgentStatusRead)
async def my_state(ctx: Ctx = Depends(api_context)) -> AgentStatusRead:
    return await _status(ctx, _own_id(ctx))


@router.put("/routing/agents/me/state", response_model=AgentStatusRead)
async def set_my_state(body: AgentStateUpdate, ctx: Ctx = Depends(api_context)) -> AgentStatusRead:
    return await _set_state(ctx, _own_id(ctx), body)


@router.get("/routing/agents/{user_id}/state", response_model=AgentStatusRead)
async def agent_state(user_id: int, ctx: Ctx = Depends(api_context)) -> AgentStatusRead:
    """An agent's state, pending offers and item count: their own, or (supervisors) their team's."""
    return await _status(ctx, user_id)


@router.put("/routing/agents/{user_id}/state", response_model=AgentStatusRead)
async def set_agent_state(user_id: int, body: AgentStateUpdate, ctx: Ctx = Depends(api_context)) -> AgentStatusRead:
    """Choose available, not_ready (with a reason code) or offline; supervisors for their team's agents."""
    return await _set_state(ctx, user_id, body)


# --- offers, pull, wrap-up -------------------------------------------------------------------


@router.get("/routing/offers", response_model=list[PendingOfferRead])
async def my_offers(ctx: Ctx = Depends(api_context)) -> list[PendingOfferRead]:
    """The offers waiting for the calling agent's answer."""
    found = await _status(ctx, _own_id(ctx))
    return found.offers


@router.post("/routing/offers/{conversation_id}/accept", response_model=RoutedItem)
async def accept_offer(
    conversation_id: int, body: OfferAnswer | None = Body(default=None), ctx: Ctx = Depends(api_context)
) -> RoutedItem:
    """Take the offered conversation: it is assigned to you. 409 if the offer is not (or no longer) yours."""
    result = await service.accept_offer(
        host=ctx.runtime.routing,
        actor=ctx.actor,
        conversation_id=conversation_id,
        attempt=body.attempt if body else None,
    )
    return RoutedItem.model_validate(result)


@router.post("/routing/offers/{conversation_id}/decline", response_model=RoutedItem)
async def decline_offer(
    conversation_id: int, body: OfferAnswer | None = Body(default=None), ctx: Ctx = Depends(api_context)
) -> RoutedItem:
    """Refuse the offer: it goes to the next agent. 409 if the offer is not (or no longer) yours."""
    result = await service.decline_offer(
        host=ctx.runtime.routing,
        actor=ctx.actor,
        conversation_id=conversation_id,
        attempt=body.attempt if body else None,
    )
    return RoutedItem.model_validate(result)


@router.post(
    "/routing/next",
    response_model=RoutedItem,
    responses={204: {"description": "Nothing waits in your queues"}},
)
async def next_item(ctx: Ctx = Depends(api_context)) -> RoutedItem | Response:
    """Pull mode: the best waiting item over your queues, assigned to you at once."""
    result = await service.next_item(host=ctx.runtime.routing, actor=ctx.actor)
    if result is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return RoutedItem.model_validate(result)


@router.post("/routing/wrap-up/end", status_code=status.HTTP_204_NO_CONTENT)
async def end_wrap_up(ctx: Ctx = Depends(api_context)) -> None:
    """End after-contact work early: you are available for the next offer."""
    await service.end_wrap_up(host=ctx.runtime.routing, actor=ctx.actor)


# --- transfer and the wallboard --------------------------------------------------------------


@router.post("/conversations/{conversation_id}/transfer", response_model=TransferRead)
async def transfer(conversation_id: int, body: TransferRequest, ctx: Ctx = Depends(api_context)) -> TransferRead:
    """Send the conversation to another queue (it keeps its age there) or to an agent; the note becomes
    an internal note for whoever takes it next."""
    done = await transfers.transfer(
        db=ctx.runtime.db,
        host=ctx.runtime.routing,
        actor=ctx.actor,
        conversation_id=conversation_id,
        queue_id=body.queue_id,
        agent_id=body.agent_id,
        note=body.note,
    )
    return TransferRead(
        conversation_id=conversation_id,
        to=done.target.kind,
        target_id=done.target.id,
        name=done.target.name,
        work_item_id=done.work_item_id,
    )


@router.get("/routing/wallboard", response_model=WallboardRead)
async def wallboard(ctx: Ctx = Depends(api_context)) -> WallboardRead:
    """Per queue and per agent, as the supervisors' wall shows it."""
    async with ctx.read() as session:
        board = await service.wallboard(session=session, actor=ctx.actor)
    return WallboardRead.model_validate(board)
