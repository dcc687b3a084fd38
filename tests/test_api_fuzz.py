"""Schemathesis drives every API operation with generated input: never a server error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import Server
from tests.web.live import make_user


def test_no_operation_answers_with_a_server_error(live_server: Server) -> None:
    token = make_user(live_server, "fuzz-admin@acme.test", "admin")
    for i in range(3):  # something to find, so that existing ids exercise real code paths too
        httpx.post(live_server.url + "/api/v1/conversations", headers={"Authorization": f"Bearer {token}"},
                   json={"contact": {"email": f"fuzz{i}@example.com"}, "subject": f"Fuzz {i}",
                         "message": {"body": "Köszönöm"}})
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis), "run", live_server.url + "/openapi.json", "--checks", "not_a_server_error",
         "-H", f"Authorization: Bearer {token}", "--max-examples", "30", "--request-timeout", "10",
         "--phases", "examples,coverage,fuzzing", "--seed", "2026"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
