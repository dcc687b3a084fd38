"""Pages: the contact list, the contact's 360° page, and the admin's custom fields."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from helpline.accounts import service as accounts
from helpline.contacts import service
from helpline.contacts.models import FieldEntity, FieldType, IdentityKind
from helpline.conversations import service as conversations
from helpline.errors import DomainError
from helpline.web.deps import Ctx, admin_page_context, page_context
from helpline.web.pages import error_text, render

router = APIRouter(include_in_schema=False)


@router.get("/contacts")
async def contact_list(
    request: Request, name: str = "", cursor: str = "", ctx: Ctx = Depends(page_context)
) -> Response:
    async with ctx.read() as session:
        after = int(cursor) if cursor.isdigit() else None
        items = await service.list_contacts(
            session=session, actor=ctx.actor, after_id=after, limit=51, name=name[:200] or None
        )
        more = len(items) > 50
        items = items[:50]
        identities = await service.identities_of(session, [c.id for c in items])
        organisations = {
            o.id: o for o in await service.list_organisations(session=session, actor=ctx.actor, limit=1000)
        }
    return render(
        request,
        "contacts/list.html",
        ctx=ctx,
        contacts=items,
        identities=identities,
        organisations=organisations,
        name=name,
        next_cursor=items[-1].id if more and items else None,
        error=None,
    )


@router.post("/contacts")
async def contact_create(
    request: Request,
    name: str = Form(""),
    email: str = Form(""),
    phone: str = Form(""),
    ctx: Ctx = Depends(page_context),
) -> Response:
    identities: list[tuple[IdentityKind, str]] = []
    if email.strip():
        identities.append((IdentityKind.email, email))
    if phone.strip():
        identities.append((IdentityKind.phone, phone))
    try:
        async with ctx.transaction() as session:
            contact = await service.create_contact(
                session=session, actor=ctx.actor, name=name, identities=identities
            )
    except DomainError as exc:
        return render(
            request,
            "contacts/list.html",
            ctx=ctx,
            contacts=[],
            identities={},
            organisations={},
            name="",
            next_cursor=None,
            error=error_text(request, exc, ctx),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/contacts/{contact.id}", status_code=303)


async def _contact_page(
    request: Request, ctx: Ctx, contact_id: int, error: str | None = None, status_code: int = 200
) -> Response:
    async with ctx.read() as session:
        contact = await service.get_contact(session=session, actor=ctx.actor, contact_id=contact_id)
        if contact.merged_into_id is not None:
            return RedirectResponse(f"/contacts/{contact.merged_into_id}", status_code=303)
        identities = (await service.identities_of(session, [contact.id]))[contact.id]
        organisation = (
            await service.get_organisation(
                session=session, actor=ctx.actor, organisation_id=contact.organisation_id
            )
            if contact.organisation_id
            else None
        )
        organisations = await service.list_organisations(session=session, actor=ctx.actor, limit=1000)
        timeline = await conversations.contact_timeline(
            session=session, actor=ctx.actor, contact_id=contact.id
        )
        fields = await service.list_custom_fields(
            session=session, actor=ctx.actor, entity=FieldEntity.contact
        )
        users = {
            u.id: u
            for u in await accounts.list_users(session=session, actor=ctx.actor, include_inactive=True)
        }
    return render(
        request,
        "contacts/detail.html",
        ctx=ctx,
        contact=contact,
        identities=identities,
        organisation=organisation,
        organisations=organisations,
        timeline=timeline,
        fields=fields,
        users=users,
        kinds=list(IdentityKind),
        error=error,
        status_code=status_code,
    )


@router.get("/contacts/{contact_id}")
async def contact_detail(contact_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    return await _contact_page(request, ctx, contact_id)


@router.post("/contacts/{contact_id}")
async def contact_update(contact_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    form = await request.form()
    changes: dict[str, object] = {}
    for key in ("name", "notes"):
        if key in form:
            changes[key] = str(form[key])
    if "language" in form:
        changes["language"] = str(form["language"]) or None
    if "time_zone" in form:
        changes["time_zone"] = str(form["time_zone"]) or None
    if "organisation_id" in form:
        value = str(form["organisation_id"])
        changes["organisation_id"] = int(value) if value.isdigit() else None
    custom = {str(k)[3:]: str(v) for k, v in form.items() if str(k).startswith("cf_")}
    if custom:
        changes["custom_fields"] = custom
    try:
        async with ctx.transaction() as session:
            await service.update_contact(
                session=session, actor=ctx.actor, contact_id=contact_id, changes=changes
            )
    except DomainError as exc:
        return await _contact_page(request, ctx, contact_id, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)


@router.post("/contacts/{contact_id}/identities")
async def contact_add_identity(
    contact_id: int,
    request: Request,
    kind: str = Form("email"),
    value: str = Form(""),
    ctx: Ctx = Depends(page_context),
) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.add_identity(
                session=session,
                actor=ctx.actor,
                contact_id=contact_id,
                kind=IdentityKind(kind) if kind in IdentityKind.__members__ else IdentityKind.email,
                value=value,
            )
    except DomainError as exc:
        return await _contact_page(request, ctx, contact_id, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)


@router.post("/contacts/{contact_id}/merge")
async def contact_merge(
    contact_id: int, request: Request, merged_id: str = Form(""), ctx: Ctx = Depends(page_context)
) -> Response:
    try:
        async with ctx.transaction() as session:
            other = int(merged_id.lstrip("#")) if merged_id.strip().lstrip("#").isdigit() else 0
            await service.merge_contacts(
                session=session, actor=ctx.actor, survivor_id=contact_id, merged_id=other
            )
    except DomainError as exc:
        return await _contact_page(request, ctx, contact_id, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)


async def _fields_page(
    request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200
) -> Response:
    async with ctx.read() as session:
        fields = await service.list_custom_fields(session=session, actor=ctx.actor)
    return render(
        request,
        "contacts/admin_fields.html",
        ctx=ctx,
        fields=fields,
        types=list(FieldType),
        entities=list(FieldEntity),
        error=error,
        status_code=status_code,
        tab="fields",
    )


@router.get("/admin/fields")
async def admin_fields(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _fields_page(request, ctx)


@router.post("/admin/fields")
async def admin_create_field(
    request: Request,
    entity: str = Form("contact"),
    key: str = Form(""),
    label: str = Form(""),
    field_type: str = Form("text"),
    choices: str = Form(""),
    ctx: Ctx = Depends(admin_page_context),
) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.define_custom_field(
                session=session,
                actor=ctx.actor,
                entity=FieldEntity(entity) if entity in FieldEntity.__members__ else FieldEntity.contact,
                key=key.strip(),
                label=label,
                field_type=FieldType(field_type) if field_type in FieldType.__members__ else FieldType.text,
                choices=[c for c in choices.split(",")],
            )
    except DomainError as exc:
        return await _fields_page(request, ctx, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse("/admin/fields", status_code=303)


@router.post("/admin/fields/{field_id}/delete")
async def admin_delete_field(
    field_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)
) -> Response:
    async with ctx.transaction() as session:
        await service.delete_custom_field(session=session, actor=ctx.actor, field_id=field_id)
    return RedirectResponse("/admin/fields", status_code=303)
