"""REST API: /api/v1/users, /api/v1/teams, /api/v1/tokens, /api/v1/me."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from helpline.accounts import service
from helpline.accounts.schemas import (
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.get("/me", response_model=UserRead)
async def me(ctx: Ctx = Depends(api_context)) -> UserRead:
    async with ctx.read() as session:
        user = await service.get_user(session=session, actor=ctx.actor, user_id=ctx.actor.user_id or 0)
        return UserRead.model_validate(user)


@router.get("/users", response_model=list[UserRead])
async def list_users(include_inactive: bool = False, ctx: Ctx = Depends(api_context)) -> list[UserRead]:
    async with ctx.read() as session:
        users = await service.list_users(session=session, actor=ctx.actor, include_inactive=include_inactive)
        return [UserRead.model_validate(u) for u in users]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, ctx: Ctx = Depends(api_context)) -> UserRead:
    async with ctx.transaction() as session:
        user = await service.create_user(
            session=session,
            actor=ctx.actor,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            language=body.language,
            team_ids=body.team_ids,
        )
    return UserRead.model_validate(user)


@router.get("/users/{user_id}", response_model=UserRead)
async def get_user(user_id: int, ctx: Ctx = Depends(api_context)) -> UserRead:
    async with ctx.read() as session:
        return UserRead.model_validate(
            await service.get_user(session=session, actor=ctx.actor, user_id=user_id)
        )


@router.patch("/users/{user_id}", response_model=UserRead)
async def update_user(user_id: int, body: UserUpdate, ctx: Ctx = Depends(api_context)) -> UserRead:
    async with ctx.transaction() as session:
        user = await service.update_user(
            session=session, actor=ctx.actor, user_id=user_id, **body.model_dump(exclude_unset=True)
        )
    ctx.runtime.forget_tokens()
    return UserRead.model_validate(user)


async def _team_read(session: object, ctx: Ctx, team_id: int) -> TeamRead:
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession)
    team = await service.get_team(session=session, actor=ctx.actor, team_id=team_id)
    members = await service.team_members(session=session, actor=ctx.actor, team_id=team_id)
    return TeamRead(id=team.id, name=team.name, member_ids=[m.id for m in members])


@router.get("/teams", response_model=list[TeamRead])
async def list_teams(ctx: Ctx = Depends(api_context)) -> list[TeamRead]:
    async with ctx.read() as session:
        return [
            await _team_read(session, ctx, t.id)
            for t in await service.list_teams(session=session, actor=ctx.actor)
        ]


@router.post("/teams", response_model=TeamRead, status_code=status.HTTP_201_CREATED)
async def create_team(body: TeamCreate, ctx: Ctx = Depends(api_context)) -> TeamRead:
    async with ctx.transaction() as session:
        team = await service.create_team(
            session=session, actor=ctx.actor, name=body.name, member_ids=body.member_ids
        )
        return await _team_read(session, ctx, team.id)


@router.get("/teams/{team_id}", response_model=TeamRead)
async def get_team(team_id: int, ctx: Ctx = Depends(api_context)) -> TeamRead:
    async with ctx.read() as session:
        return await _team_read(session, ctx, team_id)


@router.patch("/teams/{team_id}", response_model=TeamRead)
async def update_team(team_id: int, body: TeamUpdate, ctx: Ctx = Depends(api_context)) -> TeamRead:
    async with ctx.transaction() as session:
        if body.name is not None:
            await service.rename_team(session=session, actor=ctx.actor, team_id=team_id, name=body.name)
        if body.member_ids is not None:
            await service.set_team_members(
                session=session, actor=ctx.actor, team_id=team_id, member_ids=body.member_ids
            )
        result = await _team_read(session, ctx, team_id)
    ctx.runtime.forget_tokens()
    return result


@router.get("/tokens", response_model=list[TokenRead])
async def list_tokens(ctx: Ctx = Depends(api_context)) -> list[TokenRead]:
    async with ctx.read() as session:
        return [
            TokenRead.model_validate(t) for t in await service.list_tokens(session=session, actor=ctx.actor)
        ]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, ctx: Ctx = Depends(api_context)) -> TokenCreated:
    async with ctx.transaction() as session:
        row, token = await service.create_token(
            session=session, actor=ctx.actor, user_id=body.user_id or ctx.actor.user_id or 0, name=body.name
        )
    return TokenCreated(**TokenRead.model_validate(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
async def revoke_token(token_id: int, ctx: Ctx = Depends(api_context)) -> TokenRead:
    async with ctx.transaction() as session:
        row = await service.revoke_token(session=session, actor=ctx.actor, token_id=token_id)
    ctx.runtime.forget_tokens()
    return TokenRead.model_validate(row)
