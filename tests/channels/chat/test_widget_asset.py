"""GET /widget.js as a customer's website loads it: right type, cacheable, revalidated by ETag, small
enough to embed anywhere (under 30 KB gzipped)."""

from __future__ import annotations

import gzip
import re

import httpx

from helpline.channels.chat.widget_asset import WIDGET

GZIP_BUDGET = 30 * 1024


async def raw_get(client: httpx.AsyncClient, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent on the wire (httpx would otherwise inflate it)."""
    async with client.stream("GET", "/widget.js", headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


async def test_widget_is_served_as_cacheable_javascript(client: httpx.AsyncClient) -> None:
    response, body = await raw_get(client, **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["etag"].startswith('"')
    assert "content-encoding" not in response.headers
    assert body == WIDGET.read_bytes()
    assert body.startswith(b"/*! Helpline live chat widget")


async def test_widget_is_gzipped_when_accepted_and_under_30_kb(client: httpx.AsyncClient) -> None:
    response, body = await raw_get(client, **{"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert gzip.decompress(body) == WIDGET.read_bytes()
    assert len(body) < GZIP_BUDGET, f"widget.js is {len(body)} bytes gzipped, over the 30 KB budget"


async def test_refused_gzip_is_not_sent(client: httpx.AsyncClient) -> None:
    response, body = await raw_get(client, **{"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in response.headers
    assert body == WIDGET.read_bytes()


async def test_unchanged_widget_revalidates_with_304(client: httpx.AsyncClient) -> None:
    first, _ = await raw_get(client)
    etag = first.headers["etag"]
    again, body = await raw_get(client, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert body == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=300"
    # A browser that kept an older version gets the new file.
    stale, body = await raw_get(client, **{"If-None-Match": '"0123456789abcdef"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200
    assert body == WIDGET.read_bytes()


async def test_the_widget_never_writes_visitor_or_agent_text_as_html() -> None:
    """The widget builds its DOM node by node: no markup parser is ever handed text from the network."""
    source = WIDGET.read_text()
    assert "innerHTML" not in source
    assert "insertAdjacentHTML" not in source and "outerHTML" not in source and "document.write" not in source
    assert "eval(" not in source and "new Function" not in source


def test_every_widget_string_is_in_english_german_and_hungarian() -> None:
    source = WIDGET.read_text()
    table = source[source.index("var STRINGS = {"):source.index("var EMOJI")]
    blocks = dict(re.findall(r"\n    (\w\w): \{(.*?)\n    \}", table, flags=re.S))
    assert set(blocks) == {"en", "de", "hu"}
    keys = {lang: re.findall(r"(\w+): \"", block) for lang, block in blocks.items()}
    assert len(keys["en"]) > 40
    assert sorted(keys["de"]) == sorted(keys["en"])
    assert sorted(keys["hu"]) == sorted(keys["en"])
    placeholders = {lang: sorted(re.findall(r"\{\w+\}", block)) for lang, block in blocks.items()}
    assert placeholders["de"] == placeholders["en"] and placeholders["hu"] == placeholders["en"]
