"""A company that installs Helpline without the demo gets routing from its first conversation."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import cli, new_database, start_server


def test_the_first_admin_gets_a_default_queue_and_the_first_conversation_is_offered(tmp_path: Path):
    url = new_database(tmp_path, "fresh")
    cli(url, tmp_path, "user", "create", "--email", "boss@example.com", "--role", "admin",
        "--password", "long-enough-pw")
    token = cli(url, tmp_path, "token", "create", "--email", "boss@example.com").strip().splitlines()[-1]
    server = start_server(url, tmp_path / "var")
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
            queues = api.get("/api/v1/routing/queues").json()
            assert [q["name"] for q in queues] == ["General"]
            assert api.get("/api/v1/routing/settings").json()["default_queue_id"] == queues[0]["id"]

            assert api.put("/api/v1/routing/agents/me/state", json={"state": "available"}).status_code == 200
            created = api.post(
                "/api/v1/conversations",
                json={"contact": {"email": "kunde@example.de"}, "subject": "Erste Frage", "message": {"body": "Hallo"}},
            )
            assert created.status_code == 201, created.text
            conversation_id = created.json()["id"]
            deadline = time.monotonic() + 10
            offers: list[dict[str, object]] = []
            while time.monotonic() < deadline and not offers:
                offers = api.get("/api/v1/routing/offers").json()
                time.sleep(0.1)
            assert [o["conversation_id"] for o in offers] == [conversation_id]
    finally:
        server.stop()


def test_an_agent_created_with_the_cli_while_the_server_runs_can_go_available(tmp_path: Path):
    """The CLI's process has no way to tell the running server (no Redis): the engine loads her on first use."""
    url = new_database(tmp_path, "late")
    cli(url, tmp_path, "user", "create", "--email", "boss@example.com", "--role", "admin",
        "--password", "long-enough-pw")
    boss = cli(url, tmp_path, "token", "create", "--email", "boss@example.com").strip().splitlines()[-1]
    server = start_server(url, tmp_path / "var")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as api:
            # The engine is loaded now, before the new agent exists.
            assert api.get("/api/v1/routing/wallboard", headers={"Authorization": f"Bearer {boss}"}).status_code == 200
            assert api.put("/api/v1/routing/agents/me/state", json={"state": "available"},
                           headers={"Authorization": f"Bearer {boss}"}).status_code == 200
            cli(url, tmp_path, "user", "create", "--email", "late@example.com", "--role", "agent",
                "--password", "long-enough-pw")
            late = cli(url, tmp_path, "token", "create", "--email", "late@example.com").strip().splitlines()[-1]
            answer = api.put("/api/v1/routing/agents/me/state", json={"state": "available"},
                             headers={"Authorization": f"Bearer {late}"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["state"] == "available"
    finally:
        server.stop()
