"""The `helpline` command: serve, migrate, demo, user, token."""

from __future__ import annotations

import asyncio
import getpass
import logging
import secrets
from typing import Annotated

import typer
from sqlalchemy import select

from helpline.config import load_settings

app = typer.Typer(
    help="Helpline — an open-source, self-hosted omnichannel contact center.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: HELPLINE_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: HELPLINE_PORT or 8000")] = None,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Serve the workspace, the API and the public pages."""
    import uvicorn

    settings = load_settings()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    smtp = f"smtp://{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_port else "off"
    typer.echo(f"Helpline on http://{host or settings.host}:{port or settings.port} · SMTP listener: {smtp}")
    _raise_open_files_limit()
    _freeze_survivors_of_full_collections()
    uvicorn.run(
        "helpline.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        ws_max_size=65536,
        # Our frames are tiny signals; compressing each one cost more CPU than it saved bytes.
        ws_per_message_deflate=False,
    )


# How often the frozen objects are handed back to the collector, so cycles among long-lived objects
# that have since become garbage (a closed socket's) are freed after all.
GC_THAW_SECONDS = 600.0


def _freeze_survivors_of_full_collections() -> None:
    """Objects that survive a full collection are long-lived (open sockets, caches): freeze them.

    With 10,000 chat sockets a full collection scanned some 500 MB of objects and stopped the event
    loop for 0.3-0.9 s, every few seconds under load. Frozen, they are not scanned again; every
    ``GC_THAW_SECONDS`` they are thawed, so the next full collection (one such pause) frees what
    has become garbage among them, then freezes the rest again.
    """
    import gc
    import time

    thawed = {"at": time.monotonic()}

    def after_collection(phase: str, info: dict[str, int]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        now = time.monotonic()
        if now - thawed["at"] >= GC_THAW_SECONDS:
            thawed["at"] = now
            gc.unfreeze()  # the next full collection looks at everything once
        else:
            gc.freeze()

    gc.callbacks.append(after_collection)


def _raise_open_files_limit() -> None:
    """Every chat visitor and agent holds a socket: lift the soft open-files limit to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # a container may refuse; serving still works, with fewer sockets
            logging.getLogger(__name__).warning("could not raise the open-files limit above %s", soft)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run again)."""
    from helpline.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def demo() -> None:
    """Load the demo company: agents, teams, 200 contacts, 1,000 conversations (once)."""
    from helpline.demo import load_demo
    from helpline.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)

    async def go() -> None:
        from helpline.db import Database

        db = Database(settings.database_url)
        try:
            summary = await load_demo(db, progress=True)
        finally:
            await db.dispose()
        typer.echo(f"demo company ready: log in at http://{settings.host}:{settings.port}/login")
        typer.echo(f"  email:    {summary.admin_email}")
        typer.echo(f"  password: {summary.admin_password}")

    asyncio.run(go())


async def _default_tenant_id(create: bool) -> int:
    from helpline.accounts import service as accounts
    from helpline.accounts.models import Tenant
    from helpline.db import Database
    from helpline.routing.configuration import ensure_default_queue

    db = Database(load_settings().database_url)
    try:
        async with db.transaction() as session:
            tenant_id = await session.scalar(select(Tenant.id).order_by(Tenant.id).limit(1))
            if tenant_id is None:
                if not create:
                    raise typer.BadParameter(
                        "there is no company yet: run `helpline user create` or `helpline demo`"
                    )
                tenant = await accounts.create_tenant(session=session, slug="default", name="Helpline")
                tenant_id = tenant.id
                # Routing works from the first conversation: a "General" queue, the default.
                await ensure_default_queue(session, tenant.id)
            return int(tenant_id)
    finally:
        await db.dispose()


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="The user's email (also the login)")],
    role: Annotated[str, typer.Option(help="agent, supervisor or admin")] = "agent",
    password: Annotated[str | None, typer.Option(help="Omit to be asked (or to generate one)")] = None,
    name: Annotated[str, typer.Option()] = "",
    tenant: Annotated[str | None, typer.Option(help="The company's slug; default: the first one")] = None,
) -> None:
    """Create a user (and the company, on a fresh installation)."""
    from helpline.accounts import service as accounts
    from helpline.accounts.models import Role, Tenant
    from helpline.db import Database
    from helpline.errors import DomainError

    if role not in Role.__members__:
        raise typer.BadParameter("role must be agent, supervisor or admin", param_hint="--role")
    generated = False
    if password is None:
        if typer.get_text_stream("stdin").isatty():
            password = getpass.getpass("Password: ")
        else:
            password, generated = secrets.token_urlsafe(12), True

    async def go() -> None:
        tenant_id = await _default_tenant_id(create=True)
        db = Database(load_settings().database_url)
        try:
            async with db.transaction() as session:
                tid = tenant_id
                if tenant:
                    found = await session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
                    if found is None:
                        raise typer.BadParameter(f"no company {tenant!r}", param_hint="--tenant")
                    tid = int(found)
                user = await accounts.create_user(
                    session=session,
                    actor=accounts.Actor.system(tid),
                    email=email,
                    name=name,
                    role=Role(role),
                    password=password,
                )
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
            if generated:
                typer.echo(f"password: {password}")
        except DomainError as exc:
            raise typer.BadParameter(exc.message, param_hint=f"--{exc.field or 'email'}") from exc
        finally:
            await db.dispose()

    asyncio.run(go())


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="Whose token it is")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
) -> None:
    """Create an API token; the token alone is printed on the last line."""
    from helpline.accounts import service as accounts
    from helpline.accounts.models import User
    from helpline.db import Database

    async def go() -> str:
        db = Database(load_settings().database_url)
        try:
            async with db.transaction() as session:
                user = await session.scalar(
                    select(User).where(User.email == email.strip().lower()).order_by(User.id)
                )
                if user is None:
                    raise typer.BadParameter(f"no user with the email {email}", param_hint="--email")
                _row, token = await accounts.create_token(
                    session=session, actor=accounts.Actor.system(user.tenant_id), user_id=user.id, name=name
                )
            return token
        finally:
            await db.dispose()

    token = asyncio.run(go())
    typer.echo(f"API token for {email} (shown once):")
    typer.echo(token)


@app.command()
def simulate(
    calls: Annotated[float, typer.Option(help="Calls arriving per interval (all queues)")] = 100,
    interval: Annotated[float, typer.Option(help="The interval, in seconds")] = 1800,
    handle_time: Annotated[float, typer.Option(help="Mean handle time, seconds")] = 180,
    agents: Annotated[int, typer.Option(help="Agents logged in")] = 14,
    queues: Annotated[int, typer.Option(help="Queues (skills); each agent serves --queues-per-agent")] = 1,
    queues_per_agent: Annotated[int | None, typer.Option(help="Default: every queue")] = None,
    hours: Annotated[float, typer.Option(help="Simulated hours")] = 24,
    patience: Annotated[float | None, typer.Option(help="Mean patience before abandoning, seconds")] = None,
    wrap_up: Annotated[float, typer.Option(help="Wrap-up after each call, seconds")] = 0,
    threshold: Annotated[float, typer.Option(help="Service level threshold T, seconds")] = 20,
    strategy: Annotated[str, typer.Option(help="longest_idle, least_occupied, round_robin, skills_best_match")] = (
        "longest_idle"
    ),
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Simulate a contact center through the real routing engine (virtual clock, Poisson arrivals)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from helpline.errors import DomainError
    from helpline.routing.config import Strategy
    from helpline.routing.simulate import SimulationParams, SimulationProgress, run_simulation

    if strategy not in {s.value for s in Strategy}:
        raise typer.BadParameter(f"unknown strategy {strategy!r}", param_hint="--strategy")
    try:
        params = SimulationParams.per_interval(
            calls, interval, mean_handle_seconds=handle_time, agents=agents, duration_seconds=hours * 3600,
            queues=queues, queues_per_agent=queues_per_agent, seed=seed, sl_threshold_seconds=threshold,
            mean_patience_seconds=patience, wrap_up_seconds=wrap_up, strategy=Strategy(strategy),
        )
        params.validate()
    except (DomainError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("", total=1.0)

        def report(step: SimulationProgress) -> None:
            tally = f"{step.offered:,} offered · {step.answered:,} answered · {step.abandoned:,} abandoned"
            bar.update(task, completed=step.fraction, description=tally)

        result = run_simulation(params, progress=report)
    table = Table(title=f"{agents} agents · {params.traffic_erlangs:.1f} Erlangs offered · {hours:g} h simulated")
    table.add_column("figure")
    table.add_column("simulated", justify="right")
    table.add_column("Erlang C", justify="right")
    erlang = result.erlang_c
    table.add_row(f"service level ({threshold:g} s)", f"{result.service_level:.1%}",
                  f"{erlang.service_level:.1%}" if erlang else "—")
    table.add_row("average speed of answer", f"{result.asa_seconds:.1f} s",
                  f"{erlang.asa_seconds:.1f} s" if erlang else "—")
    table.add_row("abandon rate", f"{result.abandon_rate:.1%}", "—")
    table.add_row("occupancy", f"{result.occupancy:.1%}", f"{erlang.occupancy:.1%}" if erlang else "—")
    table.add_row("offered / answered", f"{result.offered:,} / {result.answered:,}", "")
    Console().print(table)
    typer.echo(
        f"service_level={result.service_level:.4f} asa_s={result.asa_seconds:.2f} "
        f"abandon_rate={result.abandon_rate:.4f} occupancy={result.occupancy:.4f}"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
