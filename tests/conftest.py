"""Shared fixtures: a real database (SQLite, or PostgreSQL with HELPLINE_TEST_DATABASE_URL),
the app over ASGI, users with tokens, and a real `helpline serve` process for browser and
WebSocket tests."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from helpline.accounts import service as accounts
from helpline.accounts.models import Role
from helpline.config import Settings, load_settings
from helpline.db import Base, Database, sync_url
from helpline.migrate import upgrade
from helpline.search import CONTACT_TABLE, DOCUMENT_TABLE, search_file_path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
PG_URL = os.environ.get("HELPLINE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("HELPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def pytest_report_header() -> str:
    return f"helpline database: {'postgresql' if PG_URL else 'sqlite'}"


# --- databases -------------------------------------------------------------------------------

def _pg_admin_url() -> str:
    return sync_url(PG_URL)


def new_database(tmp: Path, label: str) -> str:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database."""
    if not PG_URL:
        url = f"sqlite:///{tmp / (label + '.db')}"
    else:
        name = f"helpline_{label}_{uuid.uuid4().hex[:8]}"
        engine = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        _created_pg_databases.append(name)
    upgrade(url)
    return url


_created_pg_databases: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_databases() -> Iterator[None]:
    yield
    if PG_URL and _created_pg_databases:
        engine = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in _created_pg_databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return new_database(tmp_path_factory.mktemp("db"), "suite")


def _reset(url: str) -> None:
    """Empty every table between tests (far quicker than migrating again)."""
    engine = create_engine(sync_url(url))
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)}, search_documents RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for table in [*reversed(tables), "search_pending"]:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()
    database = make_url(sync_url(url)).database
    if database and search_file_path(database).exists():
        # The search file follows the pending rows by their ids, which go on counting: only the
        # documents themselves are emptied.
        with sqlite3.connect(search_file_path(database)) as index:
            for table in (DOCUMENT_TABLE, CONTACT_TABLE):
                index.execute(f"DELETE FROM {table}")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    _reset(database_url)
    base = load_settings()
    # smtp_port=0: the in-process app keeps its SMTP listener off unless a test asks for one.
    return replace(base, database_url=database_url, var_dir=tmp_path, attachment_dir=tmp_path / "attachments",
                   redis_url=None, secret_key="test-secret-key", smtp_port=0)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    yield database
    await database.dispose()


# --- the app over ASGI ------------------------------------------------------------------------

@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    from helpline.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Person:
    id: int
    tenant_id: int
    email: str
    password: str
    token: str
    actor: accounts.Actor

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_person(db: Database, tenant_id: int, email: str, role: Role, name: str = "") -> Person:
    password = "correct-horse-battery"
    async with db.transaction() as session:
        user = await accounts.create_user(session=session, actor=accounts.Actor.system(tenant_id), email=email,
                                          name=name or email.split("@")[0].title(), role=role, password=password)
        _row, token = await accounts.create_token(session=session, actor=accounts.Actor.system(tenant_id),
                                                  user_id=user.id)
        actor = await accounts.actor_for(session, user)
    return Person(user.id, tenant_id, email, password, token, actor)


async def make_tenant(db: Database, slug: str, name: str = "") -> int:
    async with db.transaction() as session:
        tenant = await accounts.create_tenant(session=session, slug=slug, name=name or slug.title())
        return tenant.id


@pytest.fixture
async def tenant_id(db: Database) -> int:
    return await make_tenant(db, "acme", "Acme Support")


@pytest.fixture
async def admin(db: Database, tenant_id: int) -> Person:
    return await make_person(db, tenant_id, "admin@acme.test", Role.admin, "Ada Admin")


@pytest.fixture
async def agent(db: Database, tenant_id: int) -> Person:
    return await make_person(db, tenant_id, "agent@acme.test", Role.agent, "Anna Agent")


@pytest.fixture
async def other_tenant_admin(db: Database) -> Person:
    other = await make_tenant(db, "globex", "Globex")
    return await make_person(db, other, "admin@globex.test", Role.admin, "Greta Globex")


# --- a real server process ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    database_url: str
    var_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    smtp_port: int = 0  # Helpline's SMTP listener of this server (a free port of its own)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(database_url: str, var_dir: Path, redis_url: str | None = None, name: str = "server") -> Server:
    port = free_port()
    smtp_port = free_port()
    env = {**os.environ, "HELPLINE_DATABASE_URL": database_url, "HELPLINE_VAR_DIR": str(var_dir),
           "HELPLINE_PORT": str(port), "HELPLINE_SECRET_KEY": "e2e-secret", "HELPLINE_SMTP_PORT": str(smtp_port)}
    env.pop("HELPLINE_REDIS_URL", None)
    if redis_url:
        env["HELPLINE_REDIS_URL"] = redis_url
    log = var_dir / f"{name}.log"
    var_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "helpline.cli", "serve", "--log-level", "warning"], env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"helpline serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, port, database_url, var_dir, process, log, smtp_port)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"helpline serve did not come up: {log.read_text()[-2000:]}")


def cli(database_url: str, var_dir: Path, *args: str) -> str:
    env = {**os.environ, "HELPLINE_DATABASE_URL": database_url, "HELPLINE_VAR_DIR": str(var_dir)}
    result = subprocess.run([sys.executable, "-m", "helpline.cli", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"helpline {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("live")
    server = start_server(new_database(var_dir, "live"), var_dir)
    yield server
    server.stop()


# --- browsers (Debian chromium; never `playwright install`) ----------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in this thread
    for the rest of the session, which async tests after it cannot share."""
    items.sort(key=lambda item: "e2e" in item.path.parts)
