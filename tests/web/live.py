"""Helpers for tests that talk to a real server: log in, open the agent WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.conftest import Server, cli


def make_user(server: Server, email: str, role: str = "agent", password: str = "correct-horse-battery") -> str:
    """Create a user through the CLI and return an API token for them."""
    cli(server.database_url, server.var_dir, "user", "create", "--email", email, "--role", role, "--password",
        password, "--name", email.split("@")[0].title())
    return cli(server.database_url, server.var_dir, "token", "create", "--email", email).strip().splitlines()[-1]


def login_cookie(server: Server, email: str, password: str = "correct-horse-battery") -> str:
    response = httpx.post(server.url + "/login", data={"email": email, "password": password},
                          follow_redirects=False)
    assert response.status_code == 303, response.text
    return f"helpline_session={response.cookies['helpline_session']}"


class AgentSocket:
    """The agent workspace's WebSocket, as the browser uses it."""

    def __init__(self, server: Server, cookie: str | None) -> None:
        self.url = server.url.replace("http://", "ws://") + "/ws"
        self.cookie = cookie
        self.ws: Any = None
        self._frames: list[dict[str, Any]] = []

    async def __aenter__(self) -> AgentSocket:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.ws = await websockets.connect(self.url, additional_headers=headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def next_frame(self, kind: str, timeout: float = 1.0, **match: Any) -> dict[str, Any]:
        """The next frame of this type (and with these fields), within the timeout."""
        async def wait() -> dict[str, Any]:
            while True:
                if not self._frames:
                    frame = json.loads(await self.ws.recv())
                    # frames that queued up on the server arrive as one batch
                    self._frames.extend(frame.get("frames", []) if frame.get("type") == "batch" else [frame])
                frame = self._frames.pop(0)
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                    return frame

        return await asyncio.wait_for(wait(), timeout)
