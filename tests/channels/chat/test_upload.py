"""Files in the live chat against a real `helpline serve`: the visitor uploads (size, type and rate
limited, checked from the bytes), sends the upload with a message (files only too), the agent sees it,
the visitor sees it again after a reconnect through a signed link, an agent's file reaches the widget,
and nobody else's upload or link can be used: another visitor's, another tenant's, a forged one."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from helpline.accounts.models import Role
from helpline.db import Database, utcnow
from helpline.jobs import Job
from tests.channels.chat.test_socket import SITE, Visitor, api, conversation_of, new_token
from tests.conftest import Server, make_person, make_tenant
from tests.web.live import make_user


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x2f\x6f\xed\xff"))
            + chunk(b"IEND", b""))


def office(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


PNG = png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DOCX = office({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
ODT = office({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office:document/>"})
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


@pytest.fixture(scope="module")
def admin_token(live_server: Server) -> str:
    return make_user(live_server, "upload-admin@acme.test", "admin")


def make_channel(server: Server, token: str) -> dict[str, Any]:
    created = api(server, token, "POST", "/api/v1/chat-channels",
                  json={"name": f"Shop {uuid.uuid4().hex[:6]}", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.fixture
def channel(live_server: Server, admin_token: str) -> Iterator[dict[str, Any]]:
    yield make_channel(live_server, admin_token)


def upload(server: Server, channel: dict[str, Any], token: str | None, name: str, data: bytes,
           declared: str = "application/octet-stream", origin: str = SITE) -> httpx.Response:
    form = {"token": token} if token is not None else {}
    return httpx.post(f"{server.url}/widget/v1/channels/{channel['public_key']}/upload", data=form,
                      files={"file": (name, data, declared)}, headers={"Origin": origin}, timeout=30)


def uploaded(server: Server, channel: dict[str, Any], token: str, name: str, data: bytes) -> dict[str, Any]:
    answer = upload(server, channel, token, name, data)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def send_files(visitor: Visitor, client_id: str, ids: list[Any], text: str = "") -> dict[str, Any]:
    """Send a message naming uploads; the ack, or the error frame if refused."""
    await visitor.send({"type": "message", "client_id": client_id, "text": text, "attachment_ids": ids})

    async def answer() -> dict[str, Any]:
        while True:
            frame = json.loads(await visitor.ws.recv())
            visitor.received.append(frame)
            if frame.get("type") in ("ack", "error") and frame.get("client_id") == client_id:
                return dict(frame)

    return await asyncio.wait_for(answer(), 5.0)


def fetch(server: Server, url: str) -> httpx.Response:
    """What the widget's link gives: no cookie, no token, from wherever."""
    return httpx.get(server.url + url, timeout=10)


def messages(server: Server, token: str, conversation_id: int) -> list[dict[str, Any]]:
    return list(api(server, token, "GET", f"/api/v1/conversations/{conversation_id}/messages").json())


# --- the happy path ----------------------------------------------------------------------------------


async def test_a_visitor_sends_a_picture_without_text_and_the_agent_gets_it(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    answer = upload(live_server, channel, token, "lieferschein.png", PNG, "image/png")
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == SITE
    body = answer.json()
    assert body["name"] == "lieferschein.png" and body["size"] == len(PNG) and body["content_type"] == "image/png"
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        ack = await send_files(visitor, "f1", [body["attachment_id"]])
        assert ack["type"] == "ack"
        echoed = await visitor.next("message", seq=ack["seq"])
    [file] = echoed["attachments"]
    assert file["name"] == "lieferschein.png" and file["size"] == len(PNG) and file["content_type"] == "image/png"
    assert echoed["text"] == ""
    shown = fetch(live_server, file["url"])
    assert shown.status_code == 200 and shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.headers["x-content-type-options"] == "nosniff"
    # The agent sees the file like any attachment, and the chat is named after it.
    chat = next(c for c in api(live_server, admin_token, "GET", "/api/v1/conversations").json()["items"]
                if c["channel"] == "chat")
    assert chat["subject"] == "lieferschein.png"
    [message] = messages(live_server, admin_token, chat["id"])
    assert [(a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] == [
        ("lieferschein.png", "image/png", len(PNG))]
    download = api(live_server, admin_token, "GET", message["attachments"][0]["url"])
    assert download.content == PNG


async def test_files_come_again_with_their_message_after_a_reconnect(
        live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    first = uploaded(live_server, channel, token, "rechnung.pdf", PDF)
    second = uploaded(live_server, channel, token, "liste.csv", b"Menge;Artikel\n2;Bohnen\n")
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        await visitor.send({"type": "message", "client_id": "c1", "text": "Hallo"})
        await visitor.next("ack", client_id="c1")
        ack = await send_files(visitor, "c2", [first["attachment_id"], second["attachment_id"]], "Anbei zwei Dateien")
    async with Visitor(live_server, channel) as again:  # a reload: the whole log again
        await again.hello(token, after=0)
        replayed = await again.next("message", seq=ack["seq"])
    assert replayed["text"] == "Anbei zwei Dateien"
    assert [(a["name"], a["content_type"]) for a in replayed["attachments"]] == [
        ("rechnung.pdf", "application/pdf"), ("liste.csv", "text/csv")]
    pdf = fetch(live_server, replayed["attachments"][0]["url"])
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-disposition"].startswith("attachment")  # only pictures show in the page
    assert "sandbox" in pdf.headers["content-security-policy"]


async def test_an_agents_file_reaches_the_visitor_as_a_download(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        await visitor.send({"type": "message", "client_id": "c1", "text": "Wo ist die Anleitung?"})
        welcome_ack = await visitor.next("ack", client_id="c1")
        assert welcome_ack["seq"] == 1
        chat = next(c for c in api(live_server, admin_token, "GET", "/api/v1/conversations").json()["items"]
                    if c["channel"] == "chat" and c["subject"] == "Wo ist die Anleitung?")
        page = b"<html><script>alert(document.cookie)</script></html>"
        sent = await asyncio.to_thread(
            api, live_server, admin_token, "POST", f"/api/v1/conversations/{chat['id']}/messages/upload",
            data={"body": "Hier, bitte."},
            files=[("files", ("anleitung.pdf", PDF, "application/pdf")), ("files", ("seite.html", page, "text/html"))],
        )
        assert sent.status_code == 201, sent.text
        frame = await visitor.next("message", seq=2)
    assert frame["text"] == "Hier, bitte." and frame["author"]["kind"] == "agent"
    assert [a["name"] for a in frame["attachments"]] == ["anleitung.pdf", "seite.html"]
    html = fetch(live_server, frame["attachments"][1]["url"])
    assert html.status_code == 200 and html.content == page
    # An agent's HTML file is a download in a sandbox, never a page of Helpline's.
    assert html.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in html.headers["content-security-policy"]
    assert html.headers["x-content-type-options"] == "nosniff"


# --- limits and types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "kept_as", "content_type"), [
    ("foto.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "foto.jpg", "image/jpeg"),
    ("animation.gif", b"GIF89a" + b"\x00" * 32, "animation.gif", "image/gif"),
    ("bild.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32, "bild.webp", "image/webp"),
    ("notiz.txt", "Grüße aus Győr\n".encode(), "notiz.txt", "text/plain"),
    ("brief.docx", DOCX, "brief.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("brief.odt", ODT, "brief.odt", "application/vnd.oasis.opendocument.text"),
    ("alt.doc", OLE2, "alt.doc", "application/msword"),
    ("scan", PDF, "scan.pdf", "application/pdf"),  # no extension: the type's is added
    ("bild.pdf", PNG, "bild.pdf.png", "image/png"),  # the bytes decide, not the name
])
def test_allowed_types_are_kept_under_a_name_that_matches_them(
        live_server: Server, channel: dict[str, Any], name: str, data: bytes, kept_as: str, content_type: str):
    answer = upload(live_server, channel, new_token(live_server, channel), name, data)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["name"], answer.json()["content_type"]) == (kept_as, content_type)


@pytest.mark.parametrize(("name", "data", "declared"), [
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 200, "application/x-msdownload"),
    ("seite.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "image/png"),  # declared a picture
    ("bild.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml"),
    ("  <html>.txt", b"\xef\xbb\xbf  <html><body onload=alert(1)>", "text/plain"),
    ("archiv.zip", office({"a.txt": b"hallo"}), "application/zip"),
    ("makro.docm", office({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>",
                           "word/vbaProject.bin": b"\x00"}), "application/vnd.ms-word.document.macroEnabled.12"),
    ("installer.msi", OLE2, "application/x-msi"),
    ("binär.dat", bytes(range(256)), "application/octet-stream"),
])
def test_other_types_are_refused_415_whatever_they_claim(
        live_server: Server, channel: dict[str, Any], name: str, data: bytes, declared: str):
    answer = upload(live_server, channel, new_token(live_server, channel), name, data, declared)
    assert answer.status_code == 415, answer.text
    assert answer.json()["field"] == "file"
    assert answer.headers["access-control-allow-origin"] == SITE  # the widget can read why


def test_a_file_over_the_limit_is_refused_413(live_server: Server, channel: dict[str, Any]):
    config = httpx.get(f"{live_server.url}/widget/v1/channels/{channel['public_key']}/config",
                       headers={"Origin": SITE}).json()
    limit = config["upload"]["max_bytes"]
    assert limit == 10 * 1024 * 1024  # the default of HELPLINE_ATTACHMENT_MAX_BYTES
    token = new_token(live_server, channel)
    too_big = upload(live_server, channel, token, "riesig.png", PNG + b"\x00" * (limit + 1 - len(PNG)))
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["field"] == "file"
    assert upload(live_server, channel, token, "gerade.png", PNG + b"\x00" * (limit - len(PNG))).status_code == 201
    empty = upload(live_server, channel, token, "leer.txt", b"")
    assert empty.status_code == 422 and empty.json()["field"] == "file"
    # Over the server's own request limit (HELPLINE_MAX_UPLOAD_BYTES) the refusal comes before the
    # route, and the widget must still be able to read it.
    huge = upload(live_server, channel, token, "riesiger.png", PNG + b"\x00" * (25 * 1024 * 1024))
    assert huge.status_code == 413 and huge.json()["field"] == "body"
    assert huge.headers["access-control-allow-origin"] == SITE


def test_hostile_file_names_lose_their_path_and_control_characters(live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    assert uploaded(live_server, channel, token, "../../x.html", PNG)["name"] == "x.html.png"
    assert uploaded(live_server, channel, token, "..\\..\\windows\\win.ini", b"[x]\n")["name"] == "win.ini.txt"
    crlf = uploaded(live_server, channel, token, "a\r\nSet-Cookie: x=1.png", PNG)["name"]  # %-encoded by the client
    assert not set(crlf) & set("\r\n:=") and crlf.endswith(".png"), crlf
    # A filename with bare CR and LF inside the multipart header (a browser would %-encode them).
    boundary = "b0undary"
    raw = (f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n{token}\r\n'
           f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\rSet-Cookie: x=1\nb.png"\r\n'
           f"Content-Type: image/png\r\n\r\n").encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
    answer = httpx.post(f"{live_server.url}/widget/v1/channels/{channel['public_key']}/upload", content=raw,
                        headers={"Origin": SITE, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code in (201, 422), answer.text  # refused as a broken form (python-multipart), or cleaned
    if answer.status_code == 422:
        assert answer.json()["field"] == "file"
    else:
        name = answer.json()["name"]
        assert "\r" not in name and "\n" not in name and name.endswith(".png")


def test_uploads_are_rate_limited_per_visitor(live_server: Server, channel: dict[str, Any]):
    busy, other = new_token(live_server, channel), new_token(live_server, channel)
    answers = [upload(live_server, channel, busy, f"{i}.txt", f"Datei {i}".encode()).status_code for i in range(11)]
    assert answers == [201] * 10 + [429]
    refused = upload(live_server, channel, busy, "noch.txt", b"noch eine")
    assert refused.status_code == 429 and refused.json()["field"] == "file"
    assert upload(live_server, channel, other, "andere.txt", b"ein anderer Besucher").status_code == 201


# --- who may upload, and whose files may be sent ---------------------------------------------------


def test_a_missing_forged_or_other_channels_token_is_401(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    other_channel = make_channel(live_server, admin_token)
    for token in (None, "", "x" * 43, new_token(live_server, other_channel)):
        answer = upload(live_server, channel, token, "a.png", PNG)
        assert answer.status_code == 401, (token, answer.text)
        assert answer.json()["field"] == "token"


def test_the_upload_call_is_for_the_channels_websites_only(live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    refused = upload(live_server, channel, token, "a.png", PNG, origin="https://evil.example")
    assert refused.status_code == 403 and refused.json()["field"] == "origin"
    assert "access-control-allow-origin" not in refused.headers
    url = f"{live_server.url}/widget/v1/channels/{channel['public_key']}/upload"
    preflight = httpx.options(url, headers={"Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert httpx.options(url, headers={"Origin": "https://evil.example"}).status_code == 403


async def test_another_visitors_upload_cannot_be_sent_and_nothing_is_stored(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    owner, thief = new_token(live_server, channel), new_token(live_server, channel)
    theirs = uploaded(live_server, channel, owner, "privat.pdf", PDF)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(thief)
        refused = await send_files(visitor, "t1", [theirs["attachment_id"]], "Gib her")
        assert refused["code"] == "invalid" and refused["field"] == "attachment_ids"
    async with Visitor(live_server, channel) as visitor:
        welcome = await visitor.hello(thief)
        assert welcome["conversation"] is None  # the refused message started nothing
    async with Visitor(live_server, channel) as visitor:  # the owner still can
        await visitor.hello(owner)
        assert (await send_files(visitor, "o1", [theirs["attachment_id"]]))["type"] == "ack"


async def test_another_tenants_upload_cannot_be_sent(live_server: Server, channel: dict[str, Any]):
    db = Database(live_server.database_url)
    try:
        tenant = await make_tenant(db, f"globex-{uuid.uuid4().hex[:6]}", "Globex")
        globex = await make_person(db, tenant, f"admin-{uuid.uuid4().hex[:6]}@globex.test", Role.admin)
    finally:
        await db.dispose()
    their_channel = await asyncio.to_thread(make_channel, live_server, globex.token)
    their_token = await asyncio.to_thread(new_token, live_server, their_channel)
    theirs = await asyncio.to_thread(uploaded, live_server, their_channel, their_token, "globex.pdf", PDF)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(await asyncio.to_thread(new_token, live_server, channel))
        refused = await send_files(visitor, "x1", [theirs["attachment_id"]], "Fremd")
    assert refused["code"] == "invalid" and refused["field"] == "attachment_ids"


async def test_an_upload_is_sent_once_and_bad_ids_are_refused(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    mine = uploaded(live_server, channel, token, "einmal.png", PNG)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        ack = await send_files(visitor, "u1", [mine["attachment_id"]], "Erstes Mal")
        assert ack["type"] == "ack"
        again = await send_files(visitor, "u1", [mine["attachment_id"]], "Erstes Mal")  # a resend: the same ack
        assert again == ack
        used = await send_files(visitor, "u2", [mine["attachment_id"]], "Nochmal")
        assert used["type"] == "error" and used["field"] == "attachment_ids", used
        conversation = conversation_of(live_server, admin_token, (await _number(live_server, channel, token)))
    assert conversation["message_count"] == 1
    async with Visitor(live_server, channel) as visitor:  # another visitor (10 messages per 10 s each)
        await visitor.hello(new_token(live_server, channel))
        for i, ids in enumerate(("1", [True], [0], [2**70], [1.5], ["1"], list(range(1, 12)), [999_999_999])):
            refused = await send_files(visitor, f"bad{i}", ids, "Nochmal")
            assert refused["type"] == "error" and refused["field"] == "attachment_ids", (ids, refused)


async def test_an_upload_not_sent_within_a_day_expires(
        live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    stale = uploaded(live_server, channel, token, "alt.png", PNG)
    db = Database(live_server.database_url)
    try:
        async with db.transaction() as session:  # a day passes
            pending = await session.get(Job, stale["attachment_id"])
            assert pending is not None
            pending.payload = {**pending.payload, "expires_at": (utcnow() - timedelta(seconds=1)).isoformat()}
    finally:
        await db.dispose()
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        refused = await send_files(visitor, "late", [stale["attachment_id"]], "Zu spät")
    assert refused["field"] == "attachment_ids"


async def _number(server: Server, channel: dict[str, Any], token: str) -> int:
    async with Visitor(server, channel) as tab:
        return int((await tab.hello(token, after=99))["conversation"]["number"])


async def test_a_file_link_cannot_be_forged(live_server: Server, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    mine = uploaded(live_server, channel, token, "echt.png", PNG)
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(token)
        ack = await send_files(visitor, "l1", [mine["attachment_id"]])
        url = (await visitor.next("message", seq=ack["seq"]))["attachments"][0]["url"]
    assert fetch(live_server, url).status_code == 200
    path, query = url.split("?")
    attachment_id = int(path.rsplit("/", 1)[1])
    params = dict(part.split("=") for part in query.split("&"))
    forged = [
        f"/widget/v1/files/{attachment_id - 1}?{query}",  # another file, same signature
        f"/widget/v1/files/{attachment_id}?expires={int(params['expires']) + 3600}&signature={params['signature']}",
        f"/widget/v1/files/{attachment_id}?expires={params['expires']}&signature={'0' * 32}",
        f"/widget/v1/files/{attachment_id}",
    ]
    for link in forged:
        answer = fetch(live_server, link)
        assert answer.status_code == 403, link
        assert answer.json()["field"] == "signature"
