"""REST API for routing's configuration: /api/v1/routing/{skills,queues,rules,reason-codes,settings,agents}.

Reads are open to every staff role; writes to admins (and to supervisors for the routing profiles
of the agents in their teams). The service checks both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, status

from helpline.routing import configuration as service
from helpline.routing.schemas import (
    AgentProfileRead,
    AgentProfileUpdate,
    QueueCreate,
    QueueRead,
    QueueUpdate,
    ReasonCodeCreate,
    ReasonCodeRead,
    ReasonCodeUpdate,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    SettingsRead,
    SettingsUpdate,
    SkillCreate,
    SkillRead,
    SkillUpdate,
)
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])


# --- skills ------------------------------------------------------------------------------------


@router.get("/skills", response_model=list[SkillRead])
async def list_skills(ctx: Ctx = Depends(api_context)) -> list[SkillRead]:
    async with ctx.read() as session:
        return [SkillRead.model_validate(s) for s in await service.list_skills(session=session, actor=ctx.actor)]


@router.post("/skills", response_model=SkillRead, status_code=status.HTTP_201_CREATED)
async def create_skill(body: SkillCreate, ctx: Ctx = Depends(api_context)) -> SkillRead:
    async with ctx.transaction() as session:
        skill = await service.create_skill(session=session, actor=ctx.actor, name=body.name)
        return SkillRead.model_validate(skill)


@router.patch("/skills/{skill_id}", response_model=SkillRead)
async def rename_skill(skill_id: int, body: SkillUpdate, ctx: Ctx = Depends(api_context)) -> SkillRead:
    async with ctx.transaction() as session:
        skill = await service.rename_skill(session=session, actor=ctx.actor, skill_id=skill_id, name=body.name)
        return SkillRead.model_validate(skill)


@router.delete("/skills/{skill_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_skill(skill_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_skill(session=session, actor=ctx.actor, skill_id=skill_id)


# --- queues ------------------------------------------------------------------------------------


@router.get("/queues", response_model=list[QueueRead])
async def list_queues(ctx: Ctx = Depends(api_context)) -> list[QueueRead]:
    async with ctx.read() as session:
        return [QueueRead.model_validate(q) for q in await service.list_queues(session=session, actor=ctx.actor)]


@router.post("/queues", response_model=QueueRead, status_code=status.HTTP_201_CREATED)
async def create_queue(body: QueueCreate, ctx: Ctx = Depends(api_context)) -> QueueRead:
    async with ctx.transaction() as session:
        queue = await service.create_queue(session=session, actor=ctx.actor, values=body.model_dump(mode="json"))
        return QueueRead.model_validate(queue)


@router.get("/queues/{queue_id}", response_model=QueueRead)
async def get_queue(queue_id: int, ctx: Ctx = Depends(api_context)) -> QueueRead:
    async with ctx.read() as session:
        return QueueRead.model_validate(await service.get_queue(session=session, actor=ctx.actor, queue_id=queue_id))


@router.patch("/queues/{queue_id}", response_model=QueueRead)
async def update_queue(queue_id: int, body: QueueUpdate, ctx: Ctx = Depends(api_context)) -> QueueRead:
    async with ctx.transaction() as session:
        queue = await service.update_queue(session=session, actor=ctx.actor, queue_id=queue_id, changes=body.changes())
        return QueueRead.model_validate(queue)


@router.delete("/queues/{queue_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_queue(queue_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_queue(session=session, actor=ctx.actor, queue_id=queue_id)


# --- routing rules -----------------------------------------------------------------------------


@router.get("/rules", response_model=list[RuleRead])
async def list_rules(ctx: Ctx = Depends(api_context)) -> list[RuleRead]:
    async with ctx.read() as session:
        return [RuleRead.model_validate(r) for r in await service.list_rules(session=session, actor=ctx.actor)]


@router.post("/rules", response_model=RuleRead, status_code=status.HTTP_201_CREATED)
async def create_rule(body: RuleCreate, ctx: Ctx = Depends(api_context)) -> RuleRead:
    values = body.model_dump()
    values["conditions"] = [c.model_dump(exclude_none=True) for c in body.conditions]
    async with ctx.transaction() as session:
        rule = await service.create_rule(session=session, actor=ctx.actor, values=values)
        return RuleRead.model_validate(rule)


@router.put("/rules/order", response_model=list[RuleRead])
async def reorder_rules(
    rule_ids: Annotated[list[int], Body(max_length=1000, description="Every rule's id, in the new order.")],
    ctx: Ctx = Depends(api_context),
) -> list[RuleRead]:
    async with ctx.transaction() as session:
        rules = await service.reorder_rules(session=session, actor=ctx.actor, rule_ids=rule_ids)
        return [RuleRead.model_validate(r) for r in rules]


@router.get("/rules/{rule_id}", response_model=RuleRead)
async def get_rule(rule_id: int, ctx: Ctx = Depends(api_context)) -> RuleRead:
    async with ctx.read() as session:
        return RuleRead.model_validate(await service.get_rule(session=session, actor=ctx.actor, rule_id=rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleRead)
async def update_rule(rule_id: int, body: RuleUpdate, ctx: Ctx = Depends(api_context)) -> RuleRead:
    async with ctx.transaction() as session:
        rule = await service.update_rule(session=session, actor=ctx.actor, rule_id=rule_id, changes=body.changes())
        return RuleRead.model_validate(rule)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_rule(session=session, actor=ctx.actor, rule_id=rule_id)


# --- reason codes ------------------------------------------------------------------------------


@router.get("/reason-codes", response_model=list[ReasonCodeRead])
async def list_reason_codes(include_inactive: bool = True, ctx: Ctx = Depends(api_context)) -> list[ReasonCodeRead]:
    async with ctx.read() as session:
        rows = await service.list_reason_codes(session=session, actor=ctx.actor, include_inactive=include_inactive)
        return [ReasonCodeRead.model_validate(r) for r in rows]


@router.post("/reason-codes", response_model=ReasonCodeRead, status_code=status.HTTP_201_CREATED)
async def create_reason_code(body: ReasonCodeCreate, ctx: Ctx = Depends(api_context)) -> ReasonCodeRead:
    async with ctx.transaction() as session:
        row = await service.create_reason_code(session=session, actor=ctx.actor, name=body.name)
        return ReasonCodeRead.model_validate(row)


@router.patch("/reason-codes/{reason_code_id}", response_model=ReasonCodeRead)
async def update_reason_code(
    reason_code_id: int, body: ReasonCodeUpdate, ctx: Ctx = Depends(api_context)
) -> ReasonCodeRead:
    async with ctx.transaction() as session:
        row = await service.update_reason_code(
            session=session, actor=ctx.actor, reason_code_id=reason_code_id, name=body.name, is_active=body.is_active
        )
        return ReasonCodeRead.model_validate(row)


# --- settings ----------------------------------------------------------------------------------


@router.get("/settings", response_model=SettingsRead)
async def get_settings(ctx: Ctx = Depends(api_context)) -> SettingsRead:
    async with ctx.read() as session:
        return SettingsRead.model_validate(await service.get_settings(session=session, actor=ctx.actor))


@router.put("/settings", response_model=SettingsRead)
async def update_settings(body: SettingsUpdate, ctx: Ctx = Depends(api_context)) -> SettingsRead:
    sent = body.model_fields_set
    async with ctx.transaction() as session:
        row = await service.update_settings(
            session=session,
            actor=ctx.actor,
            max_missed_offers=body.max_missed_offers,
            away_grace_seconds=body.away_grace_seconds,
            declines_count_as_missed=body.declines_count_as_missed,
            default_queue_id=body.default_queue_id,
            clear_default_queue="default_queue_id" in sent and body.default_queue_id is None,
        )
        return SettingsRead.model_validate(row)


# --- agents' routing profiles --------------------------------------------------------------------


@router.get("/agents/{user_id}/profile", response_model=AgentProfileRead)
async def get_agent_profile(user_id: int, ctx: Ctx = Depends(api_context)) -> AgentProfileRead:
    async with ctx.read() as session:
        profile = await service.get_agent_profile(session=session, actor=ctx.actor, user_id=user_id)
        return AgentProfileRead.model_validate(profile)


@router.put("/agents/{user_id}/profile", response_model=AgentProfileRead)
async def update_agent_profile(
    user_id: int, body: AgentProfileUpdate, ctx: Ctx = Depends(api_context)
) -> AgentProfileRead:
    async with ctx.transaction() as session:
        profile = await service.update_agent_profile(
            session=session,
            actor=ctx.actor,
            user_id=user_id,
            languages=body.languages,
            capacity=body.capacity,
            mixing_allowed=body.mixing_allowed,
            skills=body.skills,
        )
        return AgentProfileRead.model_validate(profile)
