"""The public contact form at /contact: the first channel, localised, with an attachment."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select

from helpline.accounts.models import Tenant
from helpline.channels.intake import InboundMessage, receive
from helpline.conversations.service import ContactDetails
from helpline.errors import DomainError, NotFound
from helpline.web.auth import client_address
from helpline.web.deps import runtime
from helpline.web.pages import LANG_COOKIE, public_language, render

router = APIRouter(include_in_schema=False)


async def _tenant(request: Request, brand: str | None) -> Tenant:
    async with runtime(request).db.read() as session:
        query = select(Tenant).order_by(Tenant.id).limit(1)
        if brand:
            query = select(Tenant).where(Tenant.slug == brand)
        tenant = await session.scalar(query)
    if tenant is None:
        raise NotFound("there is no such help desk", field="brand")
    return tenant


@router.get("/contact")
async def contact_form(request: Request, brand: str | None = None) -> Response:
    tenant = await _tenant(request, brand)
    language = public_language(request, tenant.default_language)
    response = render(
        request,
        "webform/form.html",
        language=language,
        tenant=tenant,
        brand=brand or "",
        errors={},
        values={},
    )
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response


@router.post("/contact")
async def submit(
    request: Request,
    name: str = Form("", max_length=200),
    email: str = Form("", max_length=320),
    subject: str = Form("", max_length=300),
    message: str = Form("", max_length=50_000),
    website: str = Form("", max_length=200),  # a honeypot: people leave it empty, bots fill it in
    brand: str = Form("", max_length=64),
    attachment: UploadFile | None = File(None),
) -> Response:
    from helpline.web.i18n import gettext_for

    rt = runtime(request)
    tenant = await _tenant(request, brand or None)
    language = public_language(request, tenant.default_language)
    _ = gettext_for(language).gettext
    values = {"name": name, "email": email, "subject": subject, "message": message}
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("Please tell us your name.")
    if not message.strip():
        errors["message"] = _("Please write your message.")
    if not subject.strip():
        errors["subject"] = _("Please add a subject.")
    try:
        from helpline.accounts.service import normalise_email

        normalise_email(email)
    except DomainError:
        errors["email"] = _("Please enter a valid email address.")
    if website:
        errors["form"] = _("Your message could not be sent.")
    stored = []
    if not errors:
        try:
            rt.form_limiter.check(client_address(request), "contact-form")
            if attachment is not None and attachment.filename:
                data = await attachment.read(rt.store.max_bytes + 1)
                stored.append(
                    rt.store.put(
                        tenant_id=tenant.id,
                        data=data,
                        filename=attachment.filename,
                        content_type=attachment.content_type or "application/octet-stream",
                    )
                )
        except DomainError as exc:
            errors["attachment" if exc.field == "attachment" else "form"] = (
                _("The attachment is too large.")
                if exc.status_code == 413
                else _("Too many messages. Please wait a minute.")
                if exc.status_code == 429
                else exc.translated(_)
            )
    if errors and "attachment" not in errors and attachment is not None and attachment.filename:
        # A browser cannot keep a chosen file across a reload: say so rather than drop it quietly.
        errors["attachment"] = _("Please choose your attachment again.")
    if errors:
        return render(
            request,
            "webform/form.html",
            language=language,
            tenant=tenant,
            brand=brand,
            errors=errors,
            values=values,
            status_code=422 if "form" not in errors else 429,
        )
    try:
        conversation = await receive(
            rt.db,
            InboundMessage(
                tenant_id=tenant.id,
                channel="webform",
                contact=ContactDetails(email=email, name=name.strip(), language=language),
                subject=subject.strip(),
                body_text=message.strip(),
                attachments=stored,
            ),
        )
    except DomainError as exc:
        field = (exc.field or "form").split(".")[-1]
        errors[field if field in values else "form"] = exc.translated(_)
        return render(
            request,
            "webform/form.html",
            language=language,
            tenant=tenant,
            brand=brand,
            errors=errors,
            values=values,
            status_code=exc.status_code,
        )
    return render(
        request,
        "webform/thanks.html",
        language=language,
        tenant=tenant,
        number=conversation.number,
        email=email,
    )
