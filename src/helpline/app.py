"""create_app(): the runtime (database, event bus, jobs, storage) and every domain's routes and pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline import __version__
from helpline.accounts import service as accounts
from helpline.accounts.service import Actor, SlidingWindowLimiter
from helpline.channels.chat.socket import VisitorRegistry
from helpline.channels.email.imap import ImapIntake
from helpline.channels.email.listener import SmtpListener
from helpline.channels.email.workers import MailWorkers
from helpline.config import Settings, load_settings
from helpline.db import Database
from helpline.errors import Conflict, DomainError, Invalid
from helpline.events import EventBus, make_bus
from helpline.jobs import Sweeper
from helpline.routing.clock import Clock
from helpline.routing.host import RoutingHost
from helpline.storage import AttachmentStore
from helpline.web.auth import SessionCodec
from helpline.web.deps import LoginRequired, NotAuthenticated
from helpline.web.hub import Hub
from helpline.web.templating import make_environment

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "web" / "static"
TOKEN_CACHE_SECONDS = 5.0


class Runtime:
    """Everything a request needs that outlives it, created once per process."""

    def __init__(self, settings: Settings, *, routing_clock: Clock | None = None) -> None:
        self.settings = settings
        self.bus: EventBus = make_bus(settings.redis_url, settings.database_url)
        self.db = Database(settings.database_url, self.bus)
        self.sweeper = Sweeper(self.db, services=self)
        self.store = AttachmentStore(settings.attachment_dir, settings.attachment_max_bytes)
        self.sessions = SessionCodec(settings.secret_key)
        self.login_limiter = SlidingWindowLimiter(settings.login_attempts_per_minute)
        self.form_limiter = SlidingWindowLimiter(settings.form_posts_per_minute)
        self.templates = make_environment()
        self.hub = Hub(self)
        # Live chat: this process's visitor sockets (/widget/v1/ws), fed by the event bus.
        self.chat = VisitorRegistry(self)
        self.routing = RoutingHost(self.db, self.bus, clock=routing_clock, database_url=settings.database_url)
        self._token_cache: dict[str, tuple[float, Actor]] = {}
        self._upkeep: asyncio.Task[None] | None = None
        # Mail workers: processes that store and parse received mail (HELPLINE_EMAIL_WORKERS; ADR 0013).
        self.mail_workers = MailWorkers(settings.email_workers) if settings.email_workers > 0 else None
        # Helpline's own SMTP listener (HELPLINE_SMTP_PORT; 0 = off), on this process's event loop.
        self.smtp = SmtpListener(self)
        # IMAP pollers, one per mailbox with IMAP on; HELPLINE_IMAP_POLL_SECONDS=0 turns them off.
        self.imap: ImapIntake | None = (
            ImapIntake(self, poll_seconds=settings.imap_poll_seconds) if settings.imap_poll_seconds > 0 else None
        )

    async def start(self) -> None:
        await self.db.refresh_statistics()
        await self.bus.start()
        if self.db.is_sqlite:
            self._upkeep = asyncio.create_task(self._sqlite_upkeep(), name="sqlite-upkeep")
        self.sweeper.start()
        self.hub.start()
        self.chat.start()
        await self.routing.start()
        if self.imap is not None:
            await self.imap.start()
        await self.smtp.start()

    async def _sqlite_upkeep(self) -> None:
        """SQLite upkeep: the search file follows the writes (every 0.25 s), the WAL is folded back
        (every second) and the pending search rows the index holds are deleted (every 10 s)."""
        ticks = 0
        while True:
            await asyncio.sleep(0.25)
            ticks += 1
            try:
                await self.db.index_pending_search()
                if ticks % 4 == 0:
                    await self.db.checkpoint_wal()
                if ticks % 40 == 0:
                    await self.db.forget_indexed_search()
            except Exception:  # a busy or failed step is retried on the next tick
                log.warning("SQLite upkeep failed", exc_info=True)

    async def stop(self) -> None:
        await self.smtp.stop()
        if self.imap is not None:
            await self.imap.stop()
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        await self.routing.stop()
        await self.chat.stop()
        await self.hub.stop()
        await self.sweeper.stop()
        await self.bus.stop()
        if self.mail_workers is not None:
            self.mail_workers.close()
        await self.db.dispose()

    async def token_actor(self, token: str) -> Actor | None:
        """The actor behind an API token; cached briefly, as every API call asks."""
        key = accounts.token_hash(token)
        cached = self._token_cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.read() as session:
            user = await accounts.user_for_token(session=session, token=token)
            if user is None:
                self._token_cache.pop(key, None)
                return None
            actor = await accounts.actor_for(session, user)
        if len(self._token_cache) > 10_000:
            self._token_cache.clear()
        self._token_cache[key] = (now + TOKEN_CACHE_SECONDS, actor)
        return actor

    def forget_tokens(self) -> None:
        self._token_cache.clear()


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-eval'; connect-src 'self' ws: wss:; frame-ancestors 'none'"
)
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
_HTML_ONLY = [(b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]


class SecurityHeaders:
    """Security headers on every response (plain ASGI: BaseHTTPMiddleware cost 0.2 ms a request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                is_html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                for name, value in _ALWAYS + (_HTML_ONLY if is_html else []):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """413 for bodies over the limit, counted as they stream in (Content-Length can lie)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = (
            self.settings.max_upload_bytes
            if content_type.startswith("multipart/form-data")
            else self.settings.max_body_bytes
        )
        # The chat widget calls from the customer's website: its 413 must be readable there (CORS),
        # or the visitor sees "upload failed" instead of "this file is too large".
        origin = headers.get(b"origin") if scope.get("path", "").startswith("/widget/") else None
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit, origin)
            return
        state = {"received": 0, "refused": False, "started": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        await _too_large(send, limit, origin)
                        state["started"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(send: Send, limit: int, origin: bytes | None = None) -> None:
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes", "field": "body"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if origin:  # nothing about the channel is told: any site may read that its body was too big
        headers += [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _wants_json(request):
            headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
            return JSONResponse(
                {"detail": exc.message, "field": exc.field}, status_code=exc.status_code, headers=headers
            )
        if isinstance(exc, NotAuthenticated):
            return RedirectResponse("/login", status_code=303)
        from helpline.web.pages import render_error

        return render_error(request, exc.status_code, exc)  # in the viewer's language

    # Safety nets: the database refusing a value is the client's problem, not a crash.
    @app.exception_handler(OverflowError)
    async def number_out_of_range(request: Request, exc: OverflowError) -> Response:
        return await domain_error(request, Invalid("a number is out of range", field="id"))

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        log.info("database refused a value: %s", exc.orig)
        return await domain_error(request, Invalid("a value is out of range or malformed"))

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        log.info("integrity conflict: %s", exc.orig)
        return await domain_error(request, Conflict("this conflicts with existing data (a duplicate?)"))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = "/login?next=" + request.url.path
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        if not _wants_json(request):
            from helpline.web.i18n import gettext_for
            from helpline.web.pages import page_language, render_error

            _ = gettext_for(page_language(request)).gettext
            # TRANSLATORS: a form field's name, then what is wrong with it (the validator's English text).
            framed = _("%(field)s: %(problem)s") % {"field": first["field"], "problem": first["message"]}
            return render_error(request, 422, framed)
        return JSONResponse(
            {"detail": f"{first['field']}: {first['message']}", "field": first["field"], "errors": errors},
            status_code=422,
        )


def create_app(settings: Settings | None = None, *, routing_clock: Clock | None = None) -> FastAPI:
    settings = settings or load_settings()
    rt = Runtime(settings, routing_clock=routing_clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await rt.start()
        # Start-up objects live for the whole process: keep the collector from re-scanning them.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title="Helpline API",
        version=__version__,
        description="Helpline's REST API. Authenticate with `Authorization: Bearer <token>` "
        "(create one with `helpline token create --email you@example.com`).",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.runtime = rt
    _install_error_handlers(app)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, settings=settings)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        try:
            async with rt.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # the point of a health check: say so, don't crash
            return JSONResponse({"status": "error", "detail": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/inbox", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    from helpline.accounts import pages as account_pages
    from helpline.accounts import routes as account_routes
    from helpline.channels.webform import pages as webform_pages
    from helpline.contacts import pages as contact_pages
    from helpline.contacts import routes as contact_routes
    from helpline.conversations import pages as conversation_pages
    from helpline.conversations import routes as conversation_routes
    from helpline.routing import agent_pages as routing_agent_pages
    from helpline.routing import agent_routes as routing_agent_routes
    from helpline.routing import pages as routing_pages
    from helpline.routing import routes as routing_routes
    from helpline.web import hub as hub_routes

    for module in (account_routes, contact_routes, conversation_routes, routing_routes, routing_agent_routes):
        app.include_router(module.router)
    pages = (account_pages, contact_pages, conversation_pages, routing_pages, routing_agent_pages, webform_pages)
    for module in (*pages, hub_routes):
        app.include_router(module.router)
    # Outbound email: registers the "email"/"webform" reply adapter and the email.send job handler.
    from helpline.channels.email import compose_routes as email_compose

    app.include_router(email_compose.router)
    app.include_router(email_compose.pages)
    # Support mailboxes: /api/v1/mailboxes and the /admin/mailboxes pages.
    from helpline.channels.email import pages as mailbox_pages
    from helpline.channels.email import routes as mailbox_routes

    app.include_router(mailbox_routes.router)
    app.include_router(mailbox_pages.router)
    # Suspended email (spam, loops, floods): /email/suspended and /api/v1/email/suspended.
    from helpline.channels.email import suspended_pages

    app.include_router(suspended_pages.router)
    app.include_router(suspended_pages.pages)
    # Live chat: /api/v1/chat-channels, /admin/chat, the widget's /widget/v1 HTTP calls and socket
    # (importing the service registers the "chat" reply adapter).
    from helpline.channels.chat import pages as chat_pages
    from helpline.channels.chat import routes as chat_routes
    from helpline.channels.chat import socket as chat_socket
    from helpline.channels.chat import visitor as chat_visitor

    for module in (chat_routes, chat_pages, chat_visitor, chat_socket):
        app.include_router(module.router)
    # The live chat widget script, GET /widget.js (embedded on customers' websites).
    from helpline.channels.chat import widget_asset

    app.include_router(widget_asset.router)
    # Canned replies: /api/v1/canned-replies and the /replies page (inserted by the composer's picker).
    from helpline.replies import pages as reply_pages
    from helpline.replies import routes as reply_routes

    app.include_router(reply_routes.router)
    app.include_router(reply_pages.router)
    return app
