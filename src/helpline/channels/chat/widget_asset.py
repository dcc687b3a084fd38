"""GET /widget.js: the live chat widget, as the snippet on a customer's website loads it.

The file is read, hashed and gzipped once per process: every page view of every visitor asks for
it, so it is served from memory with an ETag (a revalidation costs a 304 and no body) and a short
public cache lifetime (a new release reaches visitors within minutes).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

WIDGET = Path(__file__).parent / "static" / "widget.js"
MEDIA_TYPE = "application/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=300"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    plain: bytes
    gzipped: bytes
    etag: str  # strong: the same bytes whichever encoding is sent (the encoding is in Vary)


@lru_cache(maxsize=1)
def widget_asset() -> Asset:
    plain = WIDGET.read_bytes()
    return Asset(plain, gzip.compress(plain, compresslevel=9, mtime=0), f'"{hashlib.sha256(plain).hexdigest()[:32]}"')


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False


def _etag_matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/widget.js")
async def widget_js(request: Request) -> Response:
    asset = widget_asset()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        # The script itself is public; what it may do on a site is decided by the channel's allowed origins.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=MEDIA_TYPE, headers=headers)
    return Response(asset.plain, media_type=MEDIA_TYPE, headers=headers)
