"""The customer's website for the chat widget's browser tests: its own little server on an origin
of its own, serving ``chat_host/index.html`` with the snippet filled in."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import free_port

HOST_PAGE = Path(__file__).parent / "chat_host" / "index.html"


class HostPage(BaseHTTPRequestHandler):
    """Serves the customer's page with the snippet filled in: /?helpline=…&channel=…&lang=…[&plain=1][&csp=1]."""

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        page = HOST_PAGE.read_text()
        if query.get("plain"):
            page = re.sub(r'<style id="hostile">.*?</style>', "", page, flags=re.S)
        for key in ("helpline", "channel", "lang"):
            page = page.replace("{{" + key + "}}", html.escape(query.get(key, ""), quote=True))
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if query.get("csp"):  # a strict site: no inline styles, scripts and connections only where allowed
            helpline = query.get("helpline", "")
            socket = helpline.replace("http", "ws", 1)
            self.send_header("Content-Security-Policy", f"default-src 'self'; script-src {helpline}; "
                             f"connect-src {helpline} {socket}; style-src 'self'; img-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def host_origin() -> Iterator[str]:
    """The customer's website: its own little server, on a port (so an origin) of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), HostPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
