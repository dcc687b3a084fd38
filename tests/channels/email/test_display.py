"""How an email shows in the workspace, over HTTP: remote images blocked until asked for, hostile
HTML never reaching the page, quoted history collapsed, the original .eml as a tenant-checked download."""

from __future__ import annotations

import re
from email.message import EmailMessage as MimeMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from helpline.channels.email import intake
from helpline.channels.email import service as mailboxes
from helpline.config import Settings
from helpline.db import Database
from tests.conftest import Person

TRACKER = "https://tracker.example/pixel.png?u=clara"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f80f000001010100"
    "1e2b1b8d0000000049454e44ae426082"
)


def html_mail(message_id: str = "<html-1@kunde.example>", in_reply_to: str = "") -> bytes:
    msg = MimeMessage()
    msg["From"] = "Clara Kunde <clara@kunde.example>"
    msg["To"] = "support@acme.test"
    msg["Cc"] = "Chef <chef@kunde.example>"
    msg["Subject"] = "Re: Ihre Bestellung"
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 24 Nov 2026 09:00:00 +0100"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(
        "Hallo,\n\ndas Paket ist noch nicht da.\n\n"
        "Am 20.11.2026 um 10:00 schrieb Acme Support <support@acme.test>:\n> Ihr Paket ist unterwegs.\n"
    )
    msg.add_alternative(
        "<p>Hallo,</p><p>das Paket ist noch nicht da.</p>"
        f'<p><img src="{TRACKER}" alt="Kunde-Logo" width="120"></p>'
        "<script>alert('xss')</script><img src=x onerror=\"alert('onerror')\">"
        '<a href="javascript:alert(3)">klick</a><iframe src="https://evil.example/"></iframe>'
        '<div style="background:url(https://tracker.example/bg.png)">Gruß Clara</div>'
        "<div>Am 20.11.2026 um 10:00 schrieb Acme Support &lt;support@acme.test&gt;:</div>"
        "<blockquote><p>Ihr Paket ist unterwegs.</p></blockquote>",
        subtype="html",
    )
    return msg.as_bytes()


def inline_image_mail() -> bytes:
    msg = MimeMessage()
    msg["From"] = "Dora <dora@kunde.example>"
    msg["To"] = "support@acme.test"
    msg["Subject"] = "Foto vom Schaden"
    msg["Message-ID"] = "<inline-1@kunde.example>"
    msg.set_content("Siehe Foto.")
    msg.add_alternative('<p>Siehe Foto:</p><img src="cid:schaden@kunde" alt="Schaden">', subtype="html")
    msg.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<schaden@kunde>",
                                     filename="schaden.png")
    return msg.as_bytes()


def plain_mail() -> bytes:
    return (
        b"From: Emil <emil@kunde.example>\r\nTo: support@acme.test\r\nSubject: Frage\r\n"
        b"Message-ID: <plain-1@kunde.example>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0100\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Wann kommt die Lieferung?\r\n\r\n-----Urspr\xc3\xbcngliche Nachricht-----\r\n"
        b"Von: Acme Support\r\nGesendet: Montag\r\n\r\nAlte Nachricht im Verlauf.\r\n"
    )


def broken_mail() -> bytes:
    return (
        b"From: Bob <bob@kunde.example>\r\nTo: support@acme.test\r\nSubject: kaputt\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain; charset=x-nonsense\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"SGFsbG8gV2VsdA==!!%%\r\n"
    )


@pytest.fixture
async def mailbox_id(db: Database, admin: Person, settings: Settings) -> int:
    async with db.transaction() as session:
        mailbox = await mailboxes.create_mailbox(
            session=session, actor=admin.actor, secret_key=settings.secret_key,
            values={"address": "support@acme.test", "display_name": "Acme Support"},
        )
        return mailbox.id


async def receive(app: Any, mailbox_id: int, raw: bytes) -> intake.IntakeResult:
    result = await intake.ingest(app.state.runtime, raw, mailbox_id=mailbox_id, source="smtp")
    assert result.outcome in ("created", "threaded"), result
    return result


async def log_in(client: httpx.AsyncClient, person: Person) -> None:
    response = await client.post("/login", data={"email": person.email, "password": person.password})
    assert response.status_code == 303, response.text


def message_html(page: str, message_id: int) -> str:
    found = re.search(rf'<article[^>]*id="message-{message_id}".*?</article>', page, re.S)
    assert found, f"message {message_id} is not on the page"
    return found.group(0)


async def test_remote_images_are_blocked_by_default_and_shown_on_request(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, html_mail())
    await log_in(client, agent)
    page = await client.get(f"/conversations/{result.conversation_id}")
    assert page.status_code == 200
    shown = message_html(page.text, result.message_id or 0)
    assert "tracker.example" not in re.sub(r'title="[^"]*"', "", shown), "a remote image would load"
    assert "Show remote images" in shown and "email-blocked-image" in shown
    assert "https:" in page.headers["content-security-policy"].split("img-src", 1)[1].split(";")[0]

    url = f"/conversations/{result.conversation_id}/messages/{result.message_id}"
    allowed = await client.get(url, params={"images": "1"})
    assert allowed.status_code == 200
    assert f'<img src="{TRACKER.replace("&", "&amp;")}"' in allowed.text
    assert allowed.text.lstrip().startswith("<article") and "Show remote images" not in allowed.text

    # Blocked again on every other view: the plain fragment, the thread, the page.
    for again in (url, f"/conversations/{result.conversation_id}/thread", f"/conversations/{result.conversation_id}"):
        body = (await client.get(again)).text
        assert "<img src=\"https://tracker.example" not in body, again


async def test_hostile_html_in_an_email_never_reaches_the_page(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, html_mail())
    await log_in(client, agent)
    url = f"/conversations/{result.conversation_id}/messages/{result.message_id}"
    for body in ((await client.get(f"/conversations/{result.conversation_id}")).text,
                 (await client.get(url, params={"images": "1"})).text):
        shown = message_html(body, result.message_id or 0)
        assert "<script" not in shown and "alert('xss')" not in shown
        assert "onerror" not in shown and "javascript:" not in shown
        assert "<iframe" not in shown and "evil.example" not in shown
        assert "style=" not in shown.split("email-quote")[0].split('class="msg-body"', 1)[1]
        assert "Gruß Clara" in shown


async def test_header_line_and_collapsed_quote(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, html_mail())
    await log_in(client, agent)
    shown = message_html((await client.get(f"/conversations/{result.conversation_id}")).text, result.message_id or 0)
    head = re.search(r'<div class="email-head">.*?</div>', shown, re.S)
    assert head, shown
    assert "Clara Kunde &lt;clara@kunde.example&gt;" in head.group(0)
    assert "support@acme.test" in head.group(0) and "chef@kunde.example" in head.group(0)
    before, quote = shown.split('<details class="email-quote">', 1)
    assert "das Paket ist noch nicht da" in before
    assert "Ihr Paket ist unterwegs" not in before, "the quoted history should be collapsed"
    assert "Ihr Paket ist unterwegs" in quote and "Show full text" in quote


async def test_plain_text_mail_shows_text_with_history_collapsed(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, plain_mail())
    await log_in(client, agent)
    shown = message_html((await client.get(f"/conversations/{result.conversation_id}")).text, result.message_id or 0)
    before, quote = shown.split('<details class="email-quote">', 1)
    assert "Wann kommt die Lieferung?" in before and "Alte Nachricht" not in before
    assert "Alte Nachricht im Verlauf." in quote
    assert "Show remote images" not in shown


async def test_inline_cid_image_shows_inline_from_our_own_server(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, inline_image_mail())
    await log_in(client, agent)
    shown = message_html((await client.get(f"/conversations/{result.conversation_id}")).text, result.message_id or 0)
    found = re.search(r'<img src="(/attachments/\d+)"', shown)
    assert found, shown
    assert "Show remote images" not in shown and "cid:" not in shown
    image = await client.get(found.group(1))
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"


async def test_damaged_email_says_so_discreetly(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, broken_mail())
    await log_in(client, agent)
    shown = message_html((await client.get(f"/conversations/{result.conversation_id}")).text, result.message_id or 0)
    assert "This email was damaged; what could be read is shown." in shown


async def test_original_eml_downloads_as_an_attachment(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    raw = html_mail()
    result = await receive(app, mailbox_id, raw)
    await log_in(client, agent)
    page = (await client.get(f"/conversations/{result.conversation_id}")).text
    link = f"/conversations/{result.conversation_id}/messages/{result.message_id}/original.eml"
    assert f'href="{link}"' in page and "Download original (.eml)" in page
    response = await client.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("message/rfc822")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert ".eml" in response.headers["content-disposition"]
    assert response.content == raw


async def test_other_tenants_cannot_see_an_email_or_its_original(
    app: Any, client: httpx.AsyncClient, agent: Person, other_tenant_admin: Person, mailbox_id: int
) -> None:
    result = await receive(app, mailbox_id, html_mail())
    ours = f"/conversations/{result.conversation_id}/messages/{result.message_id}"
    await log_in(client, other_tenant_admin)
    for url in (ours, ours + "?images=1", ours + "/original.eml"):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert "Paket" not in response.text and "tracker" not in response.text

    # Our own conversation, with a message id that belongs elsewhere or nowhere: 404 as well.
    client.cookies.clear()
    await log_in(client, agent)
    other = await receive(app, mailbox_id, plain_mail())
    wrong = f"/conversations/{result.conversation_id}/messages/{other.message_id}/original.eml"
    assert (await client.get(wrong)).status_code == 404
    assert (await client.get(f"/conversations/{result.conversation_id}/messages/999999999")).status_code == 404
    assert (await client.get(f"/conversations/{result.conversation_id}/messages/abc")).status_code in (404, 422)


async def test_thread_needs_the_same_queries_for_one_email_or_many(
    app: Any, client: httpx.AsyncClient, agent: Person, mailbox_id: int
) -> None:
    first = await receive(app, mailbox_id, html_mail())
    lonely = await receive(app, mailbox_id, plain_mail())
    for n in range(2, 6):
        reply = await receive(app, mailbox_id, html_mail(f"<html-{n}@kunde.example>", "<html-1@kunde.example>"))
        assert reply.conversation_id == first.conversation_id
    await log_in(client, agent)
    engine = app.state.runtime.db.reader.sync_engine
    counted: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("PRAGMA"):  # the WAL checkpointer's timer, not the page
            counted.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        per_thread = []
        for conversation_id in (lonely.conversation_id, first.conversation_id):
            counted.clear()
            assert (await client.get(f"/conversations/{conversation_id}/thread")).status_code == 200
            # Only the thread's own tables: background tasks (sweeper, routing) share the engine.
            per_thread.append(
                [sum(f"FROM {table} " in q or f"FROM {table}\n" in q for q in counted)
                 for table in ("messages", "email_messages", "attachments")]
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert per_thread[0] == per_thread[1] == [1, 1, 1], f"1 email vs 5 emails: {per_thread}"
