"""The widget's HTTP API under /widget/v1: channel config, new visitor sessions, leave-a-message.

The widget runs on the customer's website, another origin, so these answers carry CORS headers,
done by hand for these paths only: ``Access-Control-Allow-Origin`` is the request's ``Origin``
when (and only when) it is one of the channel's allowed origins; any other origin (or none) gets
403 naming ``origin``. Preflight (``OPTIONS``) is answered the same way. No cookies are used
(the visitor token travels in the body), so credentials are never allowed.

Visitors have no account: the calls act as the tenant's system actor on the channel's tenant.
Errors are ``{"detail", "field"}`` with a 4xx, like everywhere in Helpline.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from helpline.channels.chat import service
from helpline.channels.chat.availability import chat_online
from helpline.channels.chat.models import ChatChannel
from helpline.errors import DomainError, Invalid
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
        online = await chat_online(session, rt.routing, channel)
    body = {
        "channel": {
            "name": channel.name, "colour": channel.colour, "position": channel.position,
            "greeting": channel.greeting, "language": channel.language,
            "prechat": {k: (channel.prechat or {}).get(k, "off") for k in service.PRECHAT_FIELDS},
            "offline_message": channel.offline_message,
        },
        "online": online,
    }
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
