"""An email as an agent sees it in Chromium: quoted history collapsed, the inline photo shown,
the remote image not loaded (no request reaches its host) until "Show remote images"; a live refresh
of the thread keeps both as the agent opened them."""

from __future__ import annotations

import re
import smtplib
import struct
import time
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, Route, expect
from sqlalchemy import create_engine, text

from helpline.db import sync_url
from tests.conftest import Server
from tests.e2e.conftest import User, create_user

SUPPORT = "hilfe@acme-display.example"
REMOTE_HOST = "shop.kettles.example"
REMOTE_IMAGE = f"https://{REMOTE_HOST}/img/kettle-classic.png"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG (enough to see that an image is there)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def customer_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Clara Kunde <clara@kunde.example>"
    msg["To"] = f"Acme Support <{SUPPORT}>"
    msg["Cc"] = "Jonas Kunde <jonas@kunde.example>"
    msg["Subject"] = "Re: Your order #4711 has shipped"
    msg["Message-ID"] = "<display-e2e-1@kunde.example>"
    msg["Date"] = "Tue, 24 Nov 2026 09:12:00 +0100"
    msg.set_content(
        "Hello Acme team,\n\nmy order #4711 arrived today, but the lid of the kettle is cracked "
        "(photo attached). It is this model from your shop.\n\nCould you send a replacement lid?\n\n"
        "On Mon, 23 Nov 2026 at 10:00, Acme Support <hilfe@acme-display.example> wrote:\n"
        "> Dear Clara,\n> your order #4711 has shipped and should arrive tomorrow.\n> Kind regards, Acme Support\n"
    )
    msg.add_alternative(
        "<p>Hello Acme team,</p>"
        "<p>my order #4711 arrived today, but the lid of the kettle is cracked:</p>"
        '<p><img src="cid:lid-photo@kunde.example" alt="Photo of the cracked lid" width="220" height="90"></p>'
        "<p>It is this model from your shop:</p>"
        f'<p><img src="{REMOTE_IMAGE}" alt="Kettle Classic" width="220" height="60"></p>'
        "<p>Could you send a replacement lid?</p>"
        "<div>On Mon, 23 Nov 2026 at 10:00, Acme Support &lt;hilfe@acme-display.example&gt; wrote:</div>"
        "<blockquote><p>Dear Clara,<br>your order #4711 has shipped and should arrive tomorrow.</p>"
        "<p>Kind regards, Acme Support</p></blockquote>",
        subtype="html",
    )
    msg.get_payload()[1].add_related(
        png(220, 90, (196, 120, 84)), maintype="image", subtype="png", cid="<lid-photo@kunde.example>",
        filename="cracked-lid.png",
    )
    return msg.as_bytes()


def add_mailbox(server: Server) -> None:
    """The support mailbox, receiving through Helpline's own SMTP listener (as an admin would set it up)."""
    engine = create_engine(sync_url(server.database_url))
    with engine.begin() as conn:
        tenant_id = conn.execute(text("SELECT id FROM tenants ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO mailboxes (tenant_id, address, display_name, signature, is_active, auto_acknowledge, "
                "default_language, sender_rate_limit_per_hour, imap_enabled, imap_host, imap_port, imap_security, "
                "imap_user, imap_password_encrypted, imap_folder, imap_processed_action, imap_move_to, "
                "imap_last_error, smtp_host, smtp_port, smtp_security, smtp_user, smtp_password_encrypted, "
                "created_at, updated_at) VALUES (:tenant, :address, 'Acme Support', '', :yes, :no, 'en', 30, :no, "
                "'', 993, 'ssl', '', '', 'INBOX', 'flag', '', '', '', 587, 'starttls', '', '', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"tenant": tenant_id, "address": SUPPORT, "yes": True, "no": False},
        )
    engine.dispose()


def conversation_of(server: Server, rfc_message_id: str) -> int:
    engine = create_engine(sync_url(server.database_url))
    try:
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                found = conn.execute(
                    text("SELECT conversation_id FROM email_messages WHERE rfc_message_id = :id"),
                    {"id": rfc_message_id},
                ).scalar()
            if found or time.monotonic() > deadline:
                assert found, f"{rfc_message_id} never became a conversation"
                return int(found)
            time.sleep(0.1)
    finally:
        engine.dispose()


def loaded_width(page: Page, image: Locator) -> int:
    """The image's real width once it has loaded (a sized <img> is "visible" before its bytes arrive)."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return int(image.evaluate("img => img.naturalWidth"))


def test_email_shows_collapsed_history_inline_photo_and_blocks_remote_images(
    live_server: Server, browser_as: Callable[[User], Page], artifacts: Path, api: Callable[[str], httpx.Client]
) -> None:
    agent = create_user(live_server, "greta@acme-display.example", "Greta Agent")
    add_mailbox(live_server)
    with smtplib.SMTP("127.0.0.1", live_server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("clara@kunde.example", [SUPPORT], customer_mail())
    conversation_id = conversation_of(live_server, "<display-e2e-1@kunde.example>")

    page = browser_as(agent)
    remote_hits: list[str] = []

    def remote(route: Route) -> None:
        remote_hits.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=png(220, 60, (37, 99, 235)))

    page.route(re.compile(rf"https?://{re.escape(REMOTE_HOST)}/.*"), remote)
    page.goto(f"{live_server.url}/conversations/{conversation_id}")

    mail = page.locator("#thread article.msg.email").first
    expect(mail.locator(".email-head")).to_contain_text("Clara Kunde <clara@kunde.example>")
    expect(mail.locator(".email-head")).to_contain_text("jonas@kunde.example")
    expect(mail).to_contain_text("the lid of the kettle is cracked")

    # The quoted history is collapsed, one click away.
    history = mail.get_by_text("should arrive tomorrow")
    expect(history).to_be_hidden()

    # The inline photo (a cid: part, served by us) shows; the remote image did not even get requested.
    photo = mail.locator('img[alt="Photo of the cracked lid"]')
    expect(photo).to_be_visible()
    assert loaded_width(page, photo) == 220
    expect(mail.locator(".email-blocked-image")).to_contain_text("Kettle Classic")
    page.wait_for_load_state("networkidle")
    assert remote_hits == [], f"a remote image was requested before the agent allowed it: {remote_hits}"
    mail.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "email-display-blocked.png"), full_page=True)

    mail.get_by_text("Show full text").click()
    expect(history).to_be_visible()

    mail.get_by_role("button", name="Show remote images").click()
    shown = page.locator(f'#thread img[src="{REMOTE_IMAGE}"]')
    expect(shown).to_be_visible()
    assert loaded_width(page, shown) == 220
    expect(page.locator("#thread .email-blocked-image")).to_have_count(0)
    assert remote_hits == [REMOTE_IMAGE]
    page.screenshot(path=str(artifacts / "email-display-images.png"), full_page=True)

    # A colleague's note refreshes the thread live: the email stays as the agent opened it up.
    mail.get_by_text("Show full text").click()
    expect(history).to_be_visible()
    note = api(agent.email).post(f"/api/v1/conversations/{conversation_id}/notes", json={"body": "Lid ordered."})
    assert note.status_code == 201, note.text
    expect(page.locator("#thread")).to_contain_text("Lid ordered.")
    expect(shown).to_be_visible()
    expect(page.locator("#thread .email-blocked-image")).to_have_count(0)
    expect(history).to_be_visible()

    # Blocked again on the next view: the choice is for this view only.
    page.reload()
    expect(page.locator("#thread .email-blocked-image")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    assert remote_hits == [REMOTE_IMAGE]
