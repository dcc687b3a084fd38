"""The widget's HTTP API under /widget/v1: channel config, new visitor sessions, leave-a-message, files.

The widget runs on the customer's website, another origin, so these answers carry CORS headers,
done by hand for these paths only: ``Access-Control-Allow-Origin`` is the request's ``Origin``
when (and only when) it is one of the channel's allowed origins; any other origin (or none) gets
403 naming ``origin``. Preflight (``OPTIONS``) is answered the same way. No cookies are used
(the visitor token travels in the body), so credentials are never allowed.

Visitors have no account: the calls act as the tenant's system actor on the channel's tenant.
Errors are ``{"detail", "field"}`` with a 4xx, like everywhere in Helpline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from helpline.channels.chat import service, uploads
from helpline.channels.chat.availability import availability
from helpline.channels.chat.models import ChatChannel, ChatSession
from helpline.conversations.models import Attachment
from helpline.errors import DomainError, Invalid, TooManyRequests
from helpline.validation import N_
from helpline.web.auth import client_address
from helpline.web.deps import runtime

router = APIRouter(prefix="/widget/v1", include_in_schema=False)
PREFLIGHT_SECONDS = 600


def _refused(detail: str, field: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers={"Vary": "Origin"})


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def _channel(request: Request, public_key: str) -> ChatChannel | JSONResponse:
    """The channel, if the request's origin may use it; else the refusal to send."""
    async with runtime(request).db.read() as session:
        channel = await service.channel_by_key(session, public_key)
        if channel is not None:
            session.expunge(channel)
    if channel is None:
        return _refused("no such chat channel", "public_key", 404)
    if not channel.is_active:
        return _refused("this chat channel is switched off", "public_key", 403)
    if not service.origin_allowed(channel, request.headers.get("origin")):
        return _refused("this website may not use this chat channel", "origin", 403)
    return channel


async def _body(request: Request) -> dict[str, Any]:
    """The JSON body (any content type: the widget may send text/plain to skip preflight)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the body must be JSON", field="body") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", field="body")
    return body


def _error(exc: DomainError, origin: str) -> JSONResponse:
    return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status_code,
                        headers=_cors(origin))


@router.options("/channels/{public_key}/{call}")
async def preflight(public_key: str, call: str, request: Request) -> Response:
    found = await _channel(request, public_key)
    if isinstance(found, JSONResponse):
        return found
    return Response(status_code=204, headers={
        **_cors(request.headers["origin"]),
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": str(PREFLIGHT_SECONDS),
    })


@router.get("/channels/{public_key}/config")
async def config(public_key: str, request: Request) -> Response:
    found = await _channel(request, public_key)
    if isinstance(found, JSONResponse):
        return found
    channel = found
    rt = runtime(request)
    async with rt.db.read() as session:
        state = await availability(session, rt.routing, channel)
    body = {
        "channel": {
            "name": channel.name, "colour": channel.colour, "position": channel.position,
            "greeting": channel.greeting, "language": channel.language,
            "prechat": {k: (channel.prechat or {}).get(k, "off") for k in service.PRECHAT_FIELDS},
            "offline_message": channel.offline_message,
            "hours_message": channel.hours_message,
            "invitations": list(channel.invitations or []),
        },
        "online": state.online,
        "open": state.open,  # within business hours
        "opens_at": state.opens_at.isoformat() if state.opens_at else None,
    }
    body["upload"] = {"max_bytes": rt.store.max_bytes}  # the widget refuses a bigger file before sending it
    return JSONResponse(body, headers={**_cors(request.headers["origin"]), "Cache-Control": "no-store"})


@router.post("/channels/{public_key}/sessions")
async def new_session(public_key: str, request: Request) -> Response:
    found = await _channel(request, public_key)
    if isinstance(found, JSONResponse):
        return found
    origin = request.headers["origin"]
    rt = runtime(request)
    try:
        rt.form_limiter.check(client_address(request), f"chat-session:{public_key}")
        await _body(request)
        async with rt.db.transaction() as session:
            channel = await session.merge(found, load=False)
            _row, token = await service.start_session(
                session=session, channel=channel, user_agent=request.headers.get("user-agent", ""),
                ip=client_address(request),
            )
    except DomainError as exc:
        return _error(exc, origin)
    return JSONResponse({"token": token}, status_code=201, headers=_cors(origin))


@router.post("/channels/{public_key}/offline")
async def leave_message(public_key: str, request: Request) -> Response:
    found = await _channel(request, public_key)
    if isinstance(found, JSONResponse):
        return found
    origin = request.headers["origin"]
    rt = runtime(request)
    try:
        rt.form_limiter.check(client_address(request), f"chat-offline:{public_key}")
        body = await _body(request)
        async with rt.db.transaction() as session:
            channel = await session.merge(found, load=False)
            chat = await service.session_for_token(session, channel, body.get("token")) if body.get("token") else None
            conversation = await service.offline_message(
                session=session, channel=channel, chat=chat, name=body.get("name"), email=body.get("email"),
                text=body.get("message"),
            )
            number = conversation.number
    except DomainError as exc:
        return _error(exc, origin)
    return JSONResponse({"conversation_number": number}, status_code=201, headers=_cors(origin))


async def _visitor_file(request: Request, form: Any, channel: ChatChannel) -> tuple[ChatSession, UploadFile]:
    """The visitor session the form's token opens (401 naming ``token``) and the form's file."""
    rt = runtime(request)
    async with rt.db.read() as session:
        chat = await service.session_for_token(session, channel, form.get("token"))
        if chat is not None:
            session.expunge(chat)
    if chat is None:
        raise uploads.BadToken(N_("unknown visitor token; start a new chat"), field="token")
    try:
        rt.form_limiter.check(f"chat-session:{chat.id}", "upload")  # per visitor, not per (shared) address
    except TooManyRequests as exc:
        raise exc.with_field("file") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise Invalid("choose a file to send", field="file")
    return chat, file


@router.post("/channels/{public_key}/upload")
async def upload(public_key: str, request: Request) -> Response:
    """A visitor's file, kept until a ``message`` frame names it in ``attachment_ids`` (see ``uploads``)."""
    found = await _channel(request, public_key)
    if isinstance(found, JSONResponse):
        return found
    origin = request.headers["origin"]
    rt = runtime(request)
    try:
        try:
            form = await request.form(max_files=1, max_fields=5)
        except (MultiPartException, HTTPException):
            raise Invalid("send the token and one file as multipart/form-data", field="file") from None
        try:
            chat, file = await _visitor_file(request, form, found)
            data = await file.read(rt.store.max_bytes + 1)
        finally:
            await form.close()
        uploads.check_file(data, max_bytes=rt.store.max_bytes)
        kind = uploads.sniff(data, file.filename or "")
        stored = await asyncio.to_thread(
            rt.store.put, tenant_id=chat.tenant_id, data=data,
            filename=uploads.display_name(file.filename or "", kind), content_type=kind.content_type,
        )
        async with rt.db.transaction() as session:
            upload_id = await uploads.hold(session, chat, stored)
    except DomainError as exc:
        return _error(exc, origin)
    body = {"attachment_id": upload_id, "name": stored.filename, "size": stored.size,
            "content_type": stored.content_type}
    return JSONResponse(body, status_code=201, headers=_cors(origin))


@router.get("/files/{attachment_id}")
async def chat_file(attachment_id: int, request: Request, expires: int = 0, signature: str = "") -> Response:
    """A file of the chat, through the signed link a ``message`` frame carries; any origin, no cookie."""
    rt = runtime(request)
    if not uploads.link_valid(rt.settings.secret_key, attachment_id, expires, signature):
        return _refused("this link is not valid or has expired", "signature", 403)
    async with rt.db.read() as session:
        attachment = await session.get(Attachment, attachment_id)
    path = rt.store.path(attachment.storage_key) if attachment is not None else None
    if attachment is None or path is None or not path.exists():
        return _refused("the file is no longer there", "attachment_id", 404)
    return FileResponse(
        path, media_type=attachment.content_type, filename=attachment.filename,
        content_disposition_type="inline" if uploads.inline(attachment.content_type) else "attachment",
        headers={
            # Never a page of ours: no sniffing, no scripts, even for an agent's HTML file.
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cross-Origin-Resource-Policy": "cross-origin", "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=3600",
        },
    )
