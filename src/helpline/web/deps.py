"""Request context: the runtime, the acting user, and the unit of work — for routes and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from helpline.accounts import service as accounts
from helpline.accounts.service import Actor
from helpline.errors import DomainError, PermissionDenied
from helpline.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SessionData

if TYPE_CHECKING:
    from helpline.app import Runtime


class NotAuthenticated(DomainError):
    status_code = 401


class CsrfFailed(DomainError):
    status_code = 403


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


@dataclass
class Ctx:
    runtime: Runtime
    actor: Actor
    session_data: SessionData | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.db.transaction() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.db.read() as session:
            yield session

    @property
    def csrf_token(self) -> str:
        return self.runtime.sessions.csrf_token(self.session_data.sid) if self.session_data else ""


async def _actor_from_cookie(rt: Runtime, request: HTTPConnection) -> tuple[Actor, SessionData] | None:
    data = rt.sessions.loads(request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None
    async with rt.db.read() as session:
        from helpline.accounts.models import User

        user = await session.get(User, data.user_id)
        if user is None or not user.is_active or user.session_epoch != data.epoch:
            return None
        if not await accounts.session_is_live(session=session, sid=data.sid, user_id=user.id):
            return None  # logged out (or a cookie from before sessions were recorded)
        return await accounts.actor_for(session, user), data


async def api_context(request: Request) -> Ctx:
    """Bearer token (or a logged-in browser session, for the workspace's own fetches)."""
    rt = runtime(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        actor = await rt.token_actor(header[7:].strip())
        if actor is None:
            raise NotAuthenticated("the API token is not valid or was revoked")
        return Ctx(runtime=rt, actor=actor)
    found = await _actor_from_cookie(rt, request)
    if found is None:
        raise NotAuthenticated("send an API token: Authorization: Bearer <token>")
    actor, data = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(rt, request, data)
    return Ctx(runtime=rt, actor=actor, session_data=data)


class LoginRequired(Exception):
    """Raised by pages: the handler redirects to /login."""


async def page_context(request: Request) -> Ctx:
    rt = runtime(request)
    found = await _actor_from_cookie(rt, request)
    if found is None:
        raise LoginRequired()
    actor, data = found
    request.state.language = actor.language  # an error page for this request speaks the user's language
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(rt, request, data)
    return Ctx(runtime=rt, actor=actor, session_data=data)


async def _check_csrf(rt: Runtime, request: Request, data: SessionData) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not rt.sessions.check_csrf(data.sid, token):
        raise CsrfFailed("the form expired or came from another site; reload the page and try again")


def admin_page_context(ctx: Ctx = Depends(page_context)) -> Ctx:
    if not ctx.actor.is_admin:
        raise PermissionDenied("only an admin may open this page")
    return ctx
