"""REST API: /api/v1/contacts, /api/v1/organisations, /api/v1/custom-fields."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.contacts import service
from helpline.contacts.models import Contact, FieldEntity, IdentityKind
from helpline.contacts.schemas import (
    ContactCreate,
    ContactMerge,
    ContactPage,
    ContactRead,
    ContactUpdate,
    CustomFieldCreate,
    CustomFieldRead,
    IdentityIn,
    IdentityRead,
    OrganisationCreate,
    OrganisationPage,
    OrganisationRead,
    OrganisationUpdate,
)
from helpline.errors import Invalid
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1", tags=["contacts"])


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise Invalid("not a valid cursor", field="cursor")
    return int(value)


async def contact_read(session: AsyncSession, contact: Contact) -> ContactRead:
    identities = (await service.identities_of(session, [contact.id]))[contact.id]
    read = ContactRead.model_validate(contact)
    read.identities = [IdentityRead.model_validate(i) for i in identities]
    return read


@router.get("/contacts", response_model=ContactPage)
async def list_contacts(
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    organisation_id: int | None = None,
    name: str | None = Query(None, max_length=200),
    email: str | None = Query(None, max_length=320),
    ctx: Ctx = Depends(api_context),
) -> ContactPage:
    async with ctx.read() as session:
        if email:
            try:
                found = await service.find_by_identity(
                    session=session, tenant_id=ctx.actor.tenant_id, kind=IdentityKind.email, value=email
                )
            except Invalid as exc:
                raise exc.with_field("email") from exc
            items = [found] if found else []
        else:
            items = await service.list_contacts(
                session=session,
                actor=ctx.actor,
                after_id=_cursor(cursor),
                limit=limit + 1,
                organisation_id=organisation_id,
                name=name,
            )
        more = len(items) > limit
        items = items[:limit]
        identities = await service.identities_of(session, [c.id for c in items])
        reads = []
        for contact in items:
            read = ContactRead.model_validate(contact)
            read.identities = [IdentityRead.model_validate(i) for i in identities[contact.id]]
            reads.append(read)
    return ContactPage(items=reads, next_cursor=str(items[-1].id) if more and items else None)


@router.post("/contacts", response_model=ContactRead, status_code=status.HTTP_201_CREATED)
async def create_contact(body: ContactCreate, ctx: Ctx = Depends(api_context)) -> ContactRead:
    identities = [(i.kind, i.value) for i in body.identities]
    if body.email:
        identities.insert(0, (IdentityKind.email, body.email))
    if body.phone:
        identities.append((IdentityKind.phone, body.phone))
    async with ctx.transaction() as session:
        contact = await service.create_contact(
            session=session,
            actor=ctx.actor,
            name=body.name,
            language=body.language,
            time_zone=body.time_zone,
            organisation_id=body.organisation_id,
            notes=body.notes,
            identities=identities,
            custom_fields=body.custom_fields,
        )
        return await contact_read(session, contact)


@router.get("/contacts/{contact_id}", response_model=ContactRead)
async def get_contact(contact_id: int, ctx: Ctx = Depends(api_context)) -> ContactRead:
    async with ctx.read() as session:
        return await contact_read(
            session, await service.get_contact(session=session, actor=ctx.actor, contact_id=contact_id)
        )


@router.patch("/contacts/{contact_id}", response_model=ContactRead)
async def update_contact(
    contact_id: int, body: ContactUpdate, ctx: Ctx = Depends(api_context)
) -> ContactRead:
    async with ctx.transaction() as session:
        contact = await service.update_contact(
            session=session,
            actor=ctx.actor,
            contact_id=contact_id,
            changes=body.model_dump(exclude_unset=True),
        )
        return await contact_read(session, contact)


@router.post(
    "/contacts/{contact_id}/identities", response_model=IdentityRead, status_code=status.HTTP_201_CREATED
)
async def add_identity(contact_id: int, body: IdentityIn, ctx: Ctx = Depends(api_context)) -> IdentityRead:
    async with ctx.transaction() as session:
        identity = await service.add_identity(
            session=session, actor=ctx.actor, contact_id=contact_id, kind=body.kind, value=body.value
        )
    return IdentityRead.model_validate(identity)


@router.delete("/contacts/{contact_id}/identities/{identity_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_identity(contact_id: int, identity_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.remove_identity(
            session=session, actor=ctx.actor, contact_id=contact_id, identity_id=identity_id
        )


@router.post("/contacts/{contact_id}/merge", response_model=ContactRead)
async def merge_contact(contact_id: int, body: ContactMerge, ctx: Ctx = Depends(api_context)) -> ContactRead:
    async with ctx.transaction() as session:
        survivor = await service.merge_contacts(
            session=session, actor=ctx.actor, survivor_id=contact_id, merged_id=body.merged_id
        )
        return await contact_read(session, survivor)


@router.get("/organisations", response_model=OrganisationPage)
async def list_organisations(
    cursor: str | None = None, limit: int = Query(50, ge=1, le=200), ctx: Ctx = Depends(api_context)
) -> OrganisationPage:
    async with ctx.read() as session:
        items = await service.list_organisations(
            session=session, actor=ctx.actor, after_id=_cursor(cursor), limit=limit + 1
        )
    more = len(items) > limit
    items = items[:limit]
    return OrganisationPage(
        items=[OrganisationRead.model_validate(o) for o in items],
        next_cursor=str(items[-1].id) if more and items else None,
    )


@router.post("/organisations", response_model=OrganisationRead, status_code=status.HTTP_201_CREATED)
async def create_organisation(body: OrganisationCreate, ctx: Ctx = Depends(api_context)) -> OrganisationRead:
    async with ctx.transaction() as session:
        organisation = await service.create_organisation(
            session=session,
            actor=ctx.actor,
            name=body.name,
            domain=body.domain,
            notes=body.notes,
            custom_fields=body.custom_fields,
        )
    return OrganisationRead.model_validate(organisation)


@router.get("/organisations/{organisation_id}", response_model=OrganisationRead)
async def get_organisation(organisation_id: int, ctx: Ctx = Depends(api_context)) -> OrganisationRead:
    async with ctx.read() as session:
        return OrganisationRead.model_validate(
            await service.get_organisation(session=session, actor=ctx.actor, organisation_id=organisation_id)
        )


@router.patch("/organisations/{organisation_id}", response_model=OrganisationRead)
async def update_organisation(
    organisation_id: int, body: OrganisationUpdate, ctx: Ctx = Depends(api_context)
) -> OrganisationRead:
    async with ctx.transaction() as session:
        organisation = await service.update_organisation(
            session=session,
            actor=ctx.actor,
            organisation_id=organisation_id,
            changes=body.model_dump(exclude_unset=True),
        )
    return OrganisationRead.model_validate(organisation)


@router.get("/custom-fields", response_model=list[CustomFieldRead])
async def list_custom_fields(
    entity: FieldEntity | None = None, ctx: Ctx = Depends(api_context)
) -> list[CustomFieldRead]:
    async with ctx.read() as session:
        return [
            CustomFieldRead.model_validate(d)
            for d in await service.list_custom_fields(session=session, actor=ctx.actor, entity=entity)
        ]


@router.post("/custom-fields", response_model=CustomFieldRead, status_code=status.HTTP_201_CREATED)
async def create_custom_field(body: CustomFieldCreate, ctx: Ctx = Depends(api_context)) -> CustomFieldRead:
    async with ctx.transaction() as session:
        definition = await service.define_custom_field(
            session=session,
            actor=ctx.actor,
            entity=body.entity,
            key=body.key,
            label=body.label,
            field_type=body.field_type,
            choices=body.choices,
        )
    return CustomFieldRead.model_validate(definition)


@router.delete("/custom-fields/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom_field(field_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_custom_field(session=session, actor=ctx.actor, field_id=field_id)
