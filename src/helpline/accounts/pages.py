"""Pages: login, logout, profile, and the admin's users, teams, settings and audit log."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from helpline.accounts import service
from helpline.accounts.models import Role
from helpline.errors import DomainError, TooManyRequests
from helpline.web.auth import SESSION_COOKIE, SESSION_MAX_AGE, client_address
from helpline.web.deps import Ctx, admin_page_context, page_context, runtime
from helpline.web.pages import LANG_COOKIE, error_text, public_language, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def _same_site(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    response = render(request, "accounts/login.html", next=_safe_next(next), error=None, email="")
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, public_language(request), max_age=365 * 86400, samesite="lax")
    return response


@router.post("/login")
async def login(
    request: Request, email: str = Form(""), password: str = Form(""), next: str = Form("/inbox")
) -> Response:
    rt = runtime(request)
    address = client_address(request)
    error = None
    status = 200
    if not _same_site(request):
        error, status = "cross-site login refused", 403
    else:
        try:
            rt.login_limiter.check(address, email)
        except TooManyRequests as exc:
            error, status = exc.message, 429
    if error is None:
        async with rt.db.read() as session:
            user = await service.authenticate(session=session, email=email, password=password)
        if user is not None:
            rt.login_limiter.reset(address, email)
            async with rt.db.transaction() as session:
                sid = await service.start_session(session=session, user=user, address=address,
                                                  user_agent=request.headers.get("user-agent", ""))
            response = RedirectResponse(_safe_next(next), status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                rt.sessions.dumps(user.id, user.session_epoch, sid),
                max_age=SESSION_MAX_AGE,
                httponly=True,
                samesite="lax",
                secure=rt.settings.secure_cookies,
            )
            return response
        error, status = "wrong", 401
    language = public_language(request)
    from helpline.web.i18n import gettext_for

    _ = gettext_for(language).gettext
    messages = {
        "wrong": _("Wrong email or password."),
        "cross-site login refused": _("Please log in from this page."),
    }
    shown = messages.get(error, _("Too many attempts. Wait a minute and try again."))
    return render(
        request, "accounts/login.html", status_code=status, next=_safe_next(next), error=shown, email=email
    )


@router.post("/logout")
async def logout(ctx: Ctx = Depends(page_context)) -> Response:
    if ctx.session_data is not None:
        async with ctx.transaction() as session:
            await service.end_session(session=session, sid=ctx.session_data.sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/profile")
async def profile(request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.read() as session:
        user = await service.get_user(session=session, actor=ctx.actor, user_id=ctx.actor.user_id or 0)
        tokens = await service.list_tokens(session=session, actor=ctx.actor)
    return render(
        request,
        "accounts/profile.html",
        ctx=ctx,
        user=user,
        saved=False,
        error=None,
        new_token=None,
        tokens=[t for t in tokens if t.user_id == ctx.actor.user_id],
    )


@router.post("/profile")
async def save_profile(
    request: Request,
    name: str = Form(""),
    language: str = Form(""),
    time_zone: str = Form(""),
    password: str = Form(""),
    ctx: Ctx = Depends(page_context),
) -> Response:
    error = None
    try:
        async with ctx.transaction() as session:
            await service.update_user(
                session=session,
                actor=ctx.actor,
                user_id=ctx.actor.user_id or 0,
                name=name or None,
                language=language or None,
                time_zone=time_zone or None,
                password=password or None,
            )
    except DomainError as exc:
        error = error_text(request, exc, ctx)
    if password and error is None:
        # The password change ended every session, this one too: log in again.
        return RedirectResponse("/login", status_code=303)
    new_ctx = ctx
    async with ctx.read() as session:
        user = await service.get_user(session=session, actor=ctx.actor, user_id=ctx.actor.user_id or 0)
        new_ctx = Ctx(
            runtime=ctx.runtime, actor=await service.actor_for(session, user), session_data=ctx.session_data
        )
        tokens = await service.list_tokens(session=session, actor=ctx.actor)
    return render(
        request,
        "accounts/profile.html",
        ctx=new_ctx,
        user=user,
        saved=error is None,
        error=error,
        new_token=None,
        tokens=[t for t in tokens if t.user_id == ctx.actor.user_id],
        status_code=422 if error else 200,
    )


@router.post("/profile/tokens")
async def create_own_token(
    request: Request, name: str = Form(""), ctx: Ctx = Depends(page_context)
) -> Response:
    async with ctx.transaction() as session:
        _row, token = await service.create_token(
            session=session, actor=ctx.actor, user_id=ctx.actor.user_id or 0, name=name[:120]
        )
    async with ctx.read() as session:
        user = await service.get_user(session=session, actor=ctx.actor, user_id=ctx.actor.user_id or 0)
        tokens = await service.list_tokens(session=session, actor=ctx.actor)
    return render(
        request,
        "accounts/profile.html",
        ctx=ctx,
        user=user,
        saved=False,
        error=None,
        new_token=token,
        tokens=[t for t in tokens if t.user_id == ctx.actor.user_id],
    )


@router.post("/profile/tokens/{token_id}/revoke")
async def revoke_own_token(token_id: int, ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.revoke_token(session=session, actor=ctx.actor, token_id=token_id)
    ctx.runtime.forget_tokens()
    return RedirectResponse("/profile", status_code=303)


# --- admin ---------------------------------------------------------------------------------


async def _users_page(
    request: Request,
    ctx: Ctx,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    async with ctx.read() as session:
        users = await service.list_users(session=session, actor=ctx.actor, include_inactive=True)
        teams = await service.list_teams(session=session, actor=ctx.actor)
    return render(
        request,
        "accounts/admin_users.html",
        ctx=ctx,
        users=users,
        teams=teams,
        roles=list(Role),
        error=error,
        form=form or {},
        status_code=status_code,
        tab="users",
    )


@router.get("/admin/users")
async def admin_users(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _users_page(request, ctx)


@router.post("/admin/users")
async def admin_create_user(
    request: Request,
    email: str = Form(""),
    name: str = Form(""),
    role: str = Form("agent"),
    password: str = Form(""),
    language: str = Form(""),
    team_id: str = Form(""),
    ctx: Ctx = Depends(admin_page_context),
) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.create_user(
                session=session,
                actor=ctx.actor,
                email=email,
                name=name,
                role=Role(role) if role in Role.__members__ else Role.agent,
                password=password or None,
                language=language or None,
                team_ids=[int(team_id)] if team_id.isdigit() else [],
            )
    except DomainError as exc:
        return await _users_page(
            request,
            ctx,
            error_text(request, exc, ctx),
            exc.status_code,
            {"email": email, "name": name, "role": role},
        )
    return RedirectResponse("/admin/users?created=1", status_code=303)


@router.post("/admin/users/{user_id}")
async def admin_update_user(
    user_id: int,
    request: Request,
    role: str = Form(""),
    active: str = Form(""),
    ctx: Ctx = Depends(admin_page_context),
) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.update_user(
                session=session,
                actor=ctx.actor,
                user_id=user_id,
                role=Role(role) if role in Role.__members__ else None,
                is_active=(active == "1") if active in ("0", "1") else None,
            )
    except DomainError as exc:
        return await _users_page(request, ctx, error_text(request, exc, ctx), exc.status_code)
    ctx.runtime.forget_tokens()
    return RedirectResponse("/admin/users", status_code=303)


async def _teams_page(
    request: Request, ctx: Ctx, error: str | None = None, status_code: int = 200
) -> Response:
    async with ctx.read() as session:
        teams = await service.list_teams(session=session, actor=ctx.actor)
        users = await service.list_users(session=session, actor=ctx.actor)
        members = {
            t.id: {u.id for u in await service.team_members(session=session, actor=ctx.actor, team_id=t.id)}
            for t in teams
        }
    return render(
        request,
        "accounts/admin_teams.html",
        ctx=ctx,
        teams=teams,
        users=users,
        members=members,
        error=error,
        status_code=status_code,
        tab="teams",
    )


@router.get("/admin/teams")
async def admin_teams(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    return await _teams_page(request, ctx)


@router.post("/admin/teams")
async def admin_create_team(
    request: Request, name: str = Form(""), ctx: Ctx = Depends(admin_page_context)
) -> Response:
    try:
        async with ctx.transaction() as session:
            await service.create_team(session=session, actor=ctx.actor, name=name)
    except DomainError as exc:
        return await _teams_page(request, ctx, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse("/admin/teams", status_code=303)


@router.post("/admin/teams/{team_id}/members")
async def admin_team_members(
    team_id: int, request: Request, ctx: Ctx = Depends(admin_page_context)
) -> Response:
    form = await request.form()
    member_ids = [int(v) for v in form.getlist("member_id") if isinstance(v, str) and v.isdigit()]
    try:
        async with ctx.transaction() as session:
            await service.set_team_members(
                session=session, actor=ctx.actor, team_id=team_id, member_ids=member_ids
            )
    except DomainError as exc:
        return await _teams_page(request, ctx, error_text(request, exc, ctx), exc.status_code)
    return RedirectResponse("/admin/teams", status_code=303)


@router.get("/admin/settings")
async def admin_settings(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        tenant = await service.get_tenant(session=session, tenant_id=ctx.actor.tenant_id)
    return render(
        request,
        "accounts/admin_settings.html",
        ctx=ctx,
        tenant=tenant,
        error=None,
        saved=False,
        tab="settings",
    )


@router.post("/admin/settings")
async def admin_save_settings(
    request: Request,
    name: str = Form(""),
    default_language: str = Form("en"),
    time_zone: str = Form("UTC"),
    ctx: Ctx = Depends(admin_page_context),
) -> Response:
    error = None
    try:
        async with ctx.transaction() as session:
            await service.update_tenant(
                session=session,
                actor=ctx.actor,
                name=name,
                default_language=default_language,
                time_zone=time_zone,
            )
    except DomainError as exc:
        error = error_text(request, exc, ctx)
    async with ctx.read() as session:
        tenant = await service.get_tenant(session=session, tenant_id=ctx.actor.tenant_id)
    return render(
        request,
        "accounts/admin_settings.html",
        ctx=ctx,
        tenant=tenant,
        error=error,
        saved=error is None,
        tab="settings",
        status_code=422 if error else 200,
    )


@router.get("/admin/audit")
async def admin_audit(request: Request, ctx: Ctx = Depends(admin_page_context)) -> Response:
    async with ctx.read() as session:
        entries = await service.list_audit(session=session, actor=ctx.actor, limit=200)
        users = {
            u.id: u for u in await service.list_users(session=session, actor=ctx.actor, include_inactive=True)
        }
    return render(request, "accounts/admin_audit.html", ctx=ctx, entries=entries, users=users, tab="audit")
