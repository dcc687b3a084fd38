"""The end of a chat over the visitor WebSocket of a real `helpline serve`: the satisfaction rating
(stored on the conversation, replaced by a second one, bad scores refused naming the field, shown
live and as text to the agent) and the transcript by email (a real SMTP sink receives it: the
visitor's and the agent's words, never an internal note, in the visitor's language, from the
mailbox of the channel's team; no mailbox or too many requests get a clear error)."""

from __future__ import annotations

import asyncio
import email
import re
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, cast

import httpx
import pytest

from tests.channels.chat.test_socket import SITE, Visitor, api, conversation_of, new_token, reply, start_chat
from tests.channels.email.test_sending_fixtures import Sink
from tests.conftest import Server
from tests.web.live import AgentSocket, login_cookie, make_user

ADMIN = "end-admin@acme.test"


@pytest.fixture(scope="module")
def admin_token(live_server: Server) -> str:
    return make_user(live_server, ADMIN, "admin")


@pytest.fixture(scope="module")
def relay() -> Iterator[Sink]:
    sink = Sink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def team(live_server: Server, admin_token: str) -> dict[str, Any]:
    created = api(live_server, admin_token, "POST", "/api/v1/teams", json={"name": "Webshop"})
    assert created.status_code == 201, created.text
    return dict(created.json())


def switch_mailbox(server: Server, token: str, mailbox: dict[str, Any], active: bool) -> None:
    switched = api(server, token, "PATCH", f"/api/v1/mailboxes/{mailbox['id']}", json={"is_active": active})
    assert switched.status_code == 200, switched.text


def add_mailbox(server: Server, token: str, port: int, name: str, **values: Any) -> dict[str, Any]:
    body = {"address": f"{name}-{uuid.uuid4().hex[:6]}@acme.example", "display_name": f"Acme {name.title()}",
            "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", **values}
    created = api(server, token, "POST", "/api/v1/mailboxes", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.fixture(scope="module")
def mailboxes(live_server: Server, admin_token: str, relay: Sink, team: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tenant's first mailbox (no team) and the webshop team's, both relaying to the sink."""
    return {
        "general": add_mailbox(live_server, admin_token, relay.port, "info"),
        "team": add_mailbox(live_server, admin_token, relay.port, "shop", team_id=team["id"]),
    }


@pytest.fixture
def channel(live_server: Server, admin_token: str, team: dict[str, Any]) -> dict[str, Any]:
    created = api(live_server, admin_token, "POST", "/api/v1/chat-channels",
                  json={"name": f"Bohne {uuid.uuid4().hex[:6]}", "allowed_origins": [SITE], "team_id": team["id"]})
    assert created.status_code == 201, created.text
    return dict(created.json())


def conversation(server: Server, token: str, number: int) -> dict[str, Any]:
    found = conversation_of(server, token, number)
    detail = api(server, token, "GET", f"/api/v1/conversations/{found['id']}")
    assert detail.status_code == 200, detail.text
    return dict(detail.json())


def timeline(server: Server, token: str, conversation_id: int) -> list[dict[str, Any]]:
    return list(api(server, token, "GET", f"/api/v1/conversations/{conversation_id}/timeline").json())


async def number_of(server: Server, channel: dict[str, Any], token: str) -> int:
    """The chat's conversation number, as a second tab of the visitor hears it."""
    async with Visitor(server, channel) as tab:
        welcome = await tab.hello(token, after=999)
    return int(welcome["conversation"]["number"])


# --- the rating ----------------------------------------------------------------------------------------


async def test_a_rating_is_stored_on_the_conversation_and_a_second_one_replaces_it(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        number = await number_of(live_server, channel, token)
        await visitor.send({"type": "end"})
        await visitor.next("ended")
        assert conversation(live_server, admin_token, number)["satisfaction"] is None
        await visitor.send({"type": "rate", "score": 2, "comment": "  Zu langsam.  "})
        assert await visitor.next("rated") == {"type": "rated", "score": 2}
        first = conversation(live_server, admin_token, number)["satisfaction"]
        assert first["score"] == 2 and first["comment"] == "Zu langsam." and first["rated_at"]
        # The visitor changes their mind.
        await visitor.send({"type": "rate", "score": 4, "comment": "Doch gut gelöst, danke!"})
        assert await visitor.next("rated") == {"type": "rated", "score": 4}
        rated = conversation(live_server, admin_token, number)
        assert rated["satisfaction"]["score"] == 4
        assert rated["satisfaction"]["comment"] == "Doch gut gelöst, danke!"
        assert rated["satisfaction"]["rated_at"] >= first["rated_at"]
        assert rated["status"] == "solved", "rating does not reopen the chat"
        entries = [e["details"] for e in timeline(live_server, admin_token, rated["id"]) if e["kind"] == "satisfaction"]
        assert entries == [{"score": 2, "previous": None}, {"score": 4, "previous": 2}]
        listed = api(live_server, admin_token, "GET", "/api/v1/conversations", params={"view": "all"}).json()
        assert next(c for c in listed["items"] if c["number"] == number)["satisfaction"]["score"] == 4
    finally:
        await visitor.__aexit__()


@pytest.mark.parametrize("score", ["5", 0, 6, True, None, 4.0, -1, [4], {"score": 4}])
async def test_a_score_that_is_not_a_whole_number_from_1_to_5_is_refused_naming_score(
        live_server: Server, admin_token: str, channel: dict[str, Any], score: object):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        await visitor.send({"type": "rate", "score": score, "comment": "x"})
        refused = await visitor.next("error")
        assert refused["code"] == "invalid" and refused["field"] == "score" and refused["frame"] == "rate"
        assert "1 to 5" in refused["detail"]
        number = await number_of(live_server, channel, token)
        assert conversation(live_server, admin_token, number)["satisfaction"] is None
        await visitor.send({"type": "ping"})
        await visitor.next("pong")  # the socket lives on
    finally:
        await visitor.__aexit__()


async def test_the_comment_is_trimmed_cleaned_of_control_characters_and_limited(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        for comment in ("x" * 2001, 42, ["a"]):
            await visitor.send({"type": "rate", "score": 3, "comment": comment})
            refused = await visitor.next("error")
            assert (refused["code"], refused["field"]) == ("invalid", "comment")
        await visitor.send({"type": "rate", "score": 3, "comment": "\x00 Gut\x07,\r\naber\x1b[31m teuer \x7f "})
        await visitor.next("rated")
        number = await number_of(live_server, channel, token)
        assert conversation(live_server, admin_token, number)["satisfaction"]["comment"] == "Gut,\naber[31m teuer"
        await visitor.send({"type": "rate", "score": 5, "comment": "y" * 2000})  # exactly the limit
        await visitor.next("rated")
        await visitor.send({"type": "rate", "score": 5})  # no comment at all
        await visitor.next("rated")
        assert conversation(live_server, admin_token, number)["satisfaction"]["comment"] == ""
    finally:
        await visitor.__aexit__()


async def test_rating_before_there_is_a_chat_is_refused_naming_the_conversation(
        live_server: Server, channel: dict[str, Any]):
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(new_token(live_server, channel))
        await visitor.send({"type": "rate", "score": 5, "comment": ""})
        refused = await visitor.next("error")
        assert (refused["code"], refused["field"], refused["frame"]) == ("invalid", "conversation", "rate")


async def test_the_agents_open_page_hears_the_rating_and_shows_the_comment_as_text(
        live_server: Server, admin_token: str, channel: dict[str, Any]):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    cookie = login_cookie(live_server, ADMIN)
    try:
        number = await number_of(live_server, channel, token)
        conversation_id = conversation_of(live_server, admin_token, number)["id"]
        hostile = '<img src=x onerror="window.__xss=1"><script>alert(1)</script> & "quotes"'
        async with AgentSocket(live_server, cookie) as agent:
            await agent.send({"type": "view", "conversation_id": conversation_id})
            await visitor.send({"type": "rate", "score": 1, "comment": hostile})
            await visitor.next("rated")
            await agent.next_frame("conversation.updated", timeout=3, conversation_id=conversation_id)
        page = httpx.get(f"{live_server.url}/conversations/{conversation_id}", headers={"Cookie": cookie}).text
        panel = page[page.index('id="satisfaction"'):]
        panel = panel[:panel.index("</div>")]
        assert "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;&lt;script&gt;" in panel
        assert "<img" not in panel and "<script>" not in panel
        assert 'aria-label="Rated 1 out of 5"' in panel
        assert "Customer rated 1/5" in page  # the timeline
        rows = httpx.get(f"{live_server.url}/inbox/rows?view=all", headers={"Cookie": cookie}).text
        assert "★ 1/5" in rows
    finally:
        await visitor.__aexit__()


# --- the transcript -----------------------------------------------------------------------------------


def address() -> str:
    """A recipient of this test's own: the relay's other mail is never mistaken for it."""
    return f"vera.{uuid.uuid4().hex[:8]}@example.de"


def mails_to(relay: Sink, recipient: str, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
    """The ``count`` emails the relay received for ``recipient`` (waiting for them), parsed."""
    deadline = time.monotonic() + timeout
    found = []
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        found = [r for r in relay.received if r.rcpt_tos == [recipient]]
    assert len(found) == count, f"{len(found)} emails to {recipient}, not {count}"
    return [cast(EmailMessage, email.message_from_bytes(r.data, policy=default_policy)) for r in found]


async def mail_to(relay: Sink, recipient: str) -> EmailMessage:
    return (await asyncio.to_thread(mails_to, relay, recipient))[0]


def bodies(mail: EmailMessage) -> tuple[str, str]:
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content().replace("\r\n", "\n"), html.get_content()


async def test_the_transcript_reaches_the_visitor_in_their_language_without_internal_notes(
        live_server: Server, admin_token: str, channel: dict[str, Any], mailboxes: dict[str, dict[str, Any]],
        relay: Sink):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token, text="Wo ist <b>meine</b> Bestellung?")
    try:
        number = await number_of(live_server, channel, token)
        conversation_id = conversation_of(live_server, admin_token, number)["id"]
        await asyncio.to_thread(reply, live_server, admin_token, conversation_id, "Ich sehe sofort nach.")
        await asyncio.to_thread(reply, live_server, admin_token, conversation_id, "VIP: Rabatt geben", "note")
        await asyncio.to_thread(reply, live_server, admin_token, conversation_id, "Sie kommt morgen.")
        await visitor.next("message", seq=3)
        to = address()
        await visitor.send({"type": "transcript", "email": f"  {to.upper()} "})
        assert await visitor.next("transcript_queued") == {"type": "transcript_queued", "email": to}
        mail = await mail_to(relay, to)
    finally:
        await visitor.__aexit__()
    assert mail["From"].addresses[0].addr_spec == mailboxes["team"]["address"], "the channel's team's mailbox"
    assert mail["To"].addresses[0].addr_spec == to
    assert mail["Subject"].endswith(f"[#{number}]")
    assert mail["Content-Language"] == "de"  # the widget said de-DE in hello
    assert mail["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(rf"<[0-9a-f]+\.{number}@acme\.example>", mail["Message-ID"]), mail["Message-ID"]
    text, html = bodies(mail)
    assert "Wo ist <b>meine</b> Bestellung?" in text
    assert "Ich sehe sofort nach." in text and "Sie kommt morgen." in text
    assert "End-Admin · " in text  # the agent's name, then the time
    assert re.search(r"End-Admin · \d{2}\.\d{2}\.\d{2}, \d{2}:\d{2}\nIch sehe sofort nach\.", text), text
    assert text.index("Wo ist") < text.index("Ich sehe") < text.index("Sie kommt")
    assert "VIP" not in text and "Rabatt" not in text and "VIP" not in html
    assert "Wo ist &lt;b&gt;meine&lt;/b&gt; Bestellung?" in html and "<b>meine" not in html
    entries = timeline(live_server, admin_token, conversation_id)
    assert [e["details"] for e in entries if e["kind"] == "chat_transcript"] == [{"to": to}]


async def test_without_a_team_mailbox_the_transcript_comes_from_the_tenants_first(
        live_server: Server, admin_token: str, mailboxes: dict[str, dict[str, Any]], relay: Sink):
    created = api(live_server, admin_token, "POST", "/api/v1/chat-channels",
                  json={"name": "No team", "allowed_origins": [SITE]})
    channel = created.json()
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token, text="Hello there")
    try:
        to = address()
        await visitor.send({"type": "transcript", "email": to})
        await visitor.next("transcript_queued")
        mail = await mail_to(relay, to)
    finally:
        await visitor.__aexit__()
    assert mail["From"].addresses[0].addr_spec == mailboxes["general"]["address"]
    assert mail["Content-Language"] == "de"


@pytest.mark.parametrize("address", ["not-an-email", "vera@example.de\r\nBcc: all@example.com", "", 42, None,
                                     ["vera@example.de"]])
async def test_a_bad_address_is_refused_naming_email(
        live_server: Server, channel: dict[str, Any], mailboxes: dict[str, dict[str, Any]], address: object):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        await visitor.send({"type": "transcript", "email": address})
        refused = await visitor.next("error")
        assert (refused["code"], refused["field"], refused["frame"]) == ("invalid", "email", "transcript")
    finally:
        await visitor.__aexit__()


async def test_a_transcript_before_there_is_a_chat_is_refused_naming_the_conversation(
        live_server: Server, channel: dict[str, Any], mailboxes: dict[str, dict[str, Any]]):
    async with Visitor(live_server, channel) as visitor:
        await visitor.hello(new_token(live_server, channel))
        await visitor.send({"type": "transcript", "email": "vera@example.de"})
        refused = await visitor.next("error")
        assert (refused["code"], refused["field"]) == ("invalid", "conversation")


async def test_three_transcripts_an_hour_then_rate_limited(
        live_server: Server, admin_token: str, channel: dict[str, Any], mailboxes: dict[str, dict[str, Any]],
        relay: Sink):
    token = new_token(live_server, channel)
    visitor, _ = await start_chat(live_server, channel, token)
    try:
        to = address()
        for _ in range(3):
            await visitor.send({"type": "transcript", "email": to})
            await visitor.next("transcript_queued")
        await visitor.send({"type": "transcript", "email": address()})
        refused = await visitor.next("error")
        assert (refused["code"], refused["frame"]) == ("rate_limited", "transcript")
        assert "3 transcripts an hour" in refused["detail"]
        number = await number_of(live_server, channel, token)
    finally:
        await visitor.__aexit__()
    conversation_id = conversation_of(live_server, admin_token, number)["id"]
    sent = [e for e in timeline(live_server, admin_token, conversation_id) if e["kind"] == "chat_transcript"]
    assert len(sent) == 3
    await asyncio.to_thread(mails_to, relay, to, 3)


async def test_a_tenant_without_a_mailbox_that_can_send_says_so(
        live_server: Server, admin_token: str, channel: dict[str, Any], mailboxes: dict[str, dict[str, Any]],
        relay: Sink):
    for mailbox in mailboxes.values():
        switch_mailbox(live_server, admin_token, mailbox, False)
    try:
        add_mailbox(live_server, admin_token, 587, "norelay", smtp_host="")  # active, but it cannot send
        token = new_token(live_server, channel)
        visitor, _ = await start_chat(live_server, channel, token)
        try:
            to = address()
            await visitor.send({"type": "transcript", "email": to})
            refused = await visitor.next("error")
            assert (refused["code"], refused["frame"]) == ("not_available", "transcript")
            assert refused["detail"] == "transcripts by email are not available: no mailbox is set up to send from"
            number = await number_of(live_server, channel, token)
        finally:
            await visitor.__aexit__()
        await asyncio.sleep(1.0)
        assert not [r for r in relay.received if to in r.rcpt_tos]
        conversation_id = conversation_of(live_server, admin_token, number)["id"]
        assert not [e for e in timeline(live_server, admin_token, conversation_id) if e["kind"] == "chat_transcript"]
    finally:
        for mailbox in mailboxes.values():
            switch_mailbox(live_server, admin_token, mailbox, True)
