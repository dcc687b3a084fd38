"""Operations: migrations, the CLI, health."""

from __future__ import annotations

from pathlib import Path

import httpx

from helpline.migrate import upgrade
from tests.conftest import cli, new_database


def test_migrate_twice_changes_nothing(tmp_path: Path):
    url = new_database(tmp_path, "twice")
    upgrade(url)  # a second time: idempotent
    assert "up to date" in cli(url, tmp_path, "migrate")


def test_user_and_token_commands(tmp_path: Path):
    url = new_database(tmp_path, "cli")
    out = cli(url, tmp_path, "user", "create", "--email", "Boss@Example.com", "--role", "admin",
              "--password", "long-enough-pw")
    assert "created admin boss@example.com" in out
    token = cli(url, tmp_path, "token", "create", "--email", "boss@example.com").strip().splitlines()[-1]
    assert token.startswith("hl_") and " " not in token


async def test_healthz(client: httpx.AsyncClient):
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_openapi_documents_the_api(client: httpx.AsyncClient):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/v1/conversations", "/api/v1/conversations/{conversation_id}", "/api/v1/search",
                 "/api/v1/contacts", "/api/v1/organisations", "/api/v1/users", "/api/v1/teams", "/api/v1/tags"):
        assert path in spec["paths"], path


def test_simulate_prints_service_level_asa_abandons_and_occupancy(tmp_path: Path):
    out = cli(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path, "simulate", "--hours", "4", "--patience", "120",
              "--seed", "7")
    figures = dict(pair.split("=") for pair in out.strip().splitlines()[-1].split())
    assert set(figures) == {"service_level", "asa_s", "abandon_rate", "occupancy"}
    assert 0.5 < float(figures["service_level"]) <= 1 and 0 < float(figures["occupancy"]) < 1
    assert float(figures["abandon_rate"]) > 0  # with patience, some callers give up


def test_simulate_refuses_nonsense(tmp_path: Path):
    import pytest

    with pytest.raises(RuntimeError, match="agents"):
        cli(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path, "simulate", "--agents", "0")
