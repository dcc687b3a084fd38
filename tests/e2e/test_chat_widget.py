"""The live chat widget on a customer's website (another origin), in real Chromium: isolated from the
site's CSS, in the page's language, chatting with an agent in the workspace through a dropped
connection without losing or doubling a message, and the leave-a-message form when nobody is there."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.conftest import Server
from tests.e2e.conftest import LIVE, VIEWPORT, User, create_user, expect_live

pytestmark = pytest.mark.e2e

CHANNEL_COLOUR = "#0f766e"
CHANNEL_RGB = "rgb(15, 118, 110)"


@pytest.fixture(scope="module")
def admin(live_server: Server) -> User:
    # Everyone is created up front: a user created after the routing engine has loaded is unknown to it
    # ("no agent in the routing engine") until the server restarts.
    create_user(live_server, "anna@chat.test", "Anna Angyal")
    return create_user(live_server, "ada@chat.test", "Ada Admin", role="admin")


def make_channel(client: httpx.Client, origin: str, **values: object) -> dict:
    body = {"name": "Bohne Support", "allowed_origins": [origin], "colour": CHANNEL_COLOUR,
            "greeting": "Hallo! Wie können wir helfen?", "prechat": {"name": "optional", "email": "optional"},
            **values}
    response = client.post("/api/v1/chat-channels", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def host_url(host_origin: str, live_server: Server, channel: dict, lang: str = "de", plain: bool = False,
             csp: bool = False) -> str:
    url = f"{host_origin}/?helpline={live_server.url}&channel={channel['public_key']}&lang={lang}"
    return url + ("&plain=1" if plain else "") + ("&csp=1" if csp else "")


def widget(page: Page) -> Locator:
    return page.locator("helpline-chat")


def launcher(page: Page) -> Locator:
    return widget(page).locator("button.launch")


def dialog(page: Page) -> Locator:
    return widget(page).get_by_role("dialog")


def styles(locator: Locator) -> dict[str, str]:
    return locator.evaluate(
        """el => { const s = getComputedStyle(el);
        return {color: s.color, font: s.fontSize + ' ' + s.fontFamily, background: s.backgroundColor,
                border: s.borderTopWidth + ' ' + s.borderTopStyle, radius: s.borderTopLeftRadius,
                padding: s.paddingTop, display: s.display, width: s.width}; }"""
    )


def test_widget_on_another_origin_is_untouched_by_the_sites_css(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], artifacts: Path,
) -> None:
    client = api(admin.email)
    set_everyone_offline(client)  # a known view: the leave-a-message form
    channel = make_channel(client, host_origin)
    looks: list[dict[str, dict[str, str]]] = []
    errors: list[str] = []
    for plain in (True, False):
        page = new_context(viewport=VIEWPORT).new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(host_url(host_origin, live_server, channel, plain=plain))
        expect(launcher(page)).to_be_visible()
        assert page.evaluate("() => !!document.querySelector('helpline-chat').shadowRoot"), "no shadow root"
        launcher(page).click()
        expect(dialog(page)).to_be_visible()
        expect(dialog(page).get_by_role("heading", name="Bohne Support")).to_be_visible()
        parts = {
            "launcher": launcher(page), "dialog": dialog(page),
            "title": dialog(page).get_by_role("heading", name="Bohne Support"),
            "intro": dialog(page).locator(".intro"), "name": dialog(page).get_by_label("Ihr Name"),
            "message": dialog(page).get_by_label("Nachricht", exact=True),
            "send": dialog(page).get_by_role("button", name="Nachricht senden"),
            "close": dialog(page).get_by_role("button", name="Chat schließen"),
        }
        looks.append({name: styles(part) for name, part in parts.items()})
        page.screenshot(path=str(artifacts / f"chat-widget-{'plain' if plain else 'hostile'}-site.png"))
        if not plain:
            # The site's CSS does apply to the site, and the widget's CSS never reaches the site.
            assert styles(page.locator("h1"))["color"] == "rgb(255, 0, 0)"
            assert styles(page.locator("#site-button"))["background"] == "rgb(255, 255, 0)"
            assert styles(page.locator("#site-panel"))["border"] == "3px dashed"
            assert styles(page.locator("header.site"))["background"] == "rgb(59, 42, 26)"
        assert errors == []
    plain_look, hostile_look = looks
    assert hostile_look == plain_look, "the site's stylesheet changed the widget"
    assert plain_look["launcher"]["background"] == CHANNEL_RGB
    assert plain_look["intro"]["color"] != "rgb(255, 0, 0)"
    assert plain_look["intro"]["font"].startswith("14px")
    assert plain_look["send"]["background"] == CHANNEL_RGB


def test_widget_works_on_a_site_with_a_strict_content_security_policy(
    live_server: Server,
    host_origin: str,
    admin: User,
    api: Callable[[str], httpx.Client],
    page: Page,
) -> None:
    channel = make_channel(api(admin.email), host_origin, name="Streng")
    page.goto(host_url(host_origin, live_server, channel, csp=True))
    expect(launcher(page)).to_be_visible()
    assert styles(launcher(page))["background"] == CHANNEL_RGB
    assert styles(page.locator("h1"))["color"] != "rgb(255, 0, 0)", "the site's own inline CSS is blocked"
    launcher(page).click()
    expect(dialog(page).get_by_role("heading", name="Streng")).to_be_visible()
    assert styles(dialog(page))["radius"] == "16px"


def test_widget_speaks_the_pages_language_or_the_channels(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client], page: Page,
) -> None:
    client = api(admin.email)
    auto = make_channel(client, host_origin, name="Auto")
    for lang, label in (("hu", "Csevegjen velünk"), ("de", "Chatten Sie mit uns"), ("en-GB", "Chat with us"),
                        ("fr", "Chat with us")):
        page.goto(host_url(host_origin, live_server, auto, lang=lang))
        expect(launcher(page)).to_have_accessible_name(label)
    german_site_hungarian_channel = make_channel(client, host_origin, name="Magyar", language="hu")
    page.goto(host_url(host_origin, live_server, german_site_hungarian_channel, lang="de"))
    launcher(page).click()
    expect(dialog(page).get_by_role("heading", name="Hagyjon nekünk üzenetet")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()


def test_widget_refuses_to_run_on_a_site_not_allowed(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client], page: Page,
) -> None:
    elsewhere = make_channel(api(admin.email), "https://www.example.com", name="Elsewhere")
    page.goto(host_url(host_origin, live_server, elsewhere))
    page.wait_for_load_state("networkidle")
    expect(launcher(page)).to_have_count(0)


def set_everyone_offline(client: httpx.Client) -> None:
    for user in client.get("/api/v1/users").json():
        client.put(f"/api/v1/routing/agents/{user['id']}/state", json={"state": "offline"})


def test_nobody_available_turns_the_widget_into_a_leave_a_message_form(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client], page: Page,
    artifacts: Path,
) -> None:
    client = api(admin.email)
    set_everyone_offline(client)
    channel = make_channel(client, host_origin, name="Nachts", prechat={"name": "required", "email": "optional"})
    page.goto(host_url(host_origin, live_server, channel))
    launcher(page).click()
    panel = dialog(page)
    expect(panel.get_by_role("heading", name="Hinterlassen Sie uns eine Nachricht")).to_be_visible()
    expect(panel).to_contain_text("Wir sind offline")

    panel.get_by_label("Ihr Name").fill("Vera Vogel")
    panel.get_by_label("Ihre E-Mail-Adresse").fill("vera.example.de")
    panel.get_by_label("Nachricht", exact=True).fill("Liefern Sie auch nach Österreich?")
    panel.get_by_role("button", name="Nachricht senden").click()
    email = panel.get_by_label("Ihre E-Mail-Adresse")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("Bitte geben Sie eine gültige E-Mail-Adresse ein.")
    page.screenshot(path=str(artifacts / "chat-widget-offline-form.png"))

    email.fill("vera@example.de")
    panel.get_by_role("button", name="Nachricht senden").click()
    reference = panel.get_by_text(re.compile(r"Ihre Vorgangsnummer ist #\d+\."))
    expect(reference).to_be_visible(timeout=LIVE)
    expect(panel).to_contain_text("Wir antworten an vera@example.de.")
    page.screenshot(path=str(artifacts / "chat-widget-offline-thanks.png"))
    number = int(re.search(r"#(\d+)", reference.inner_text()).group(1))  # type: ignore[union-attr]
    conversation = find_conversation(client, number)
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages").json()
    assert "Liefern Sie auch nach Österreich?" in messages[0]["body_text"], messages


def find_conversation(client: httpx.Client, number: int) -> dict:
    listed = client.get("/api/v1/conversations", params={"limit": 200})
    assert listed.status_code == 200, listed.text
    matches = [c for c in listed.json()["items"] if c["number"] == number]
    assert len(matches) == 1, f"no conversation #{number}"
    return matches[0]


def test_on_a_phone_the_chat_fills_the_screen_and_works_by_keyboard(
    live_server: Server,
    host_origin: str,
    admin: User,
    api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext],
    artifacts: Path,
) -> None:
    channel = make_channel(api(admin.email), host_origin, name="Mobil", position="left", colour="#fbbf24")
    phone = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    # A token the server never issued (forged, or from a wiped database): the widget starts afresh.
    key = f"helpline-chat:{channel['public_key']}"
    phone.add_init_script(f"localStorage.getItem('{key}') || localStorage.setItem('{key}', 'forged-token')")
    phone.goto(host_url(host_origin, live_server, channel, lang="en"))
    phone.wait_for_function(f"() => !['forged-token', null].includes(localStorage.getItem('{key}'))")
    assert len(phone.evaluate(f"() => localStorage.getItem('{key}')")) >= 32
    button = launcher(phone)
    expect(button).to_have_accessible_name("Chat with us")
    expect(button).to_have_attribute("aria-expanded", "false")
    box = button.bounding_box()
    assert box is not None and box["x"] < 100, "position: left puts the launcher on the left"
    assert styles(button)["color"] == "rgb(29, 35, 48)", "dark text on a light brand colour"
    button.focus()
    phone.keyboard.press("Enter")
    panel = dialog(phone)
    expect(panel).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(panel).to_have_accessible_name("Mobil")
    size = panel.bounding_box()
    assert size is not None and size["width"] == 390 and size["height"] == 844, size
    focused = phone.evaluate("() => document.querySelector('helpline-chat').shadowRoot.activeElement?.tagName")
    assert focused in ("INPUT", "TEXTAREA"), "focus moves into the dialog"
    phone.screenshot(path=str(artifacts / "chat-widget-phone.png"))
    phone.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_be_focused()


def become_available(agent: Page) -> None:
    state = agent.locator("#agent-bar .agent-state")
    state.locator("summary").click()
    agent.locator("#agent-bar .state-menu").get_by_role("button", name="Available").click()
    expect(state).to_contain_text("Available")


def wait_until_online(live_server: Server, origin: str, channel: dict) -> None:
    """Routing sees the agent's new state a moment after her page does."""
    url = f"{live_server.url}/widget/v1/channels/{channel['public_key']}/config"
    deadline = time.monotonic() + LIVE / 1000
    while not httpx.get(url, headers={"Origin": origin}).json()["online"]:
        assert time.monotonic() < deadline, "the chat channel never came online"
        time.sleep(0.1)


def bubbles(panel: Locator, kind: str, text: str) -> Locator:
    return panel.locator(f".msg.{kind} .bubble", has_text=text)


def agent_reply(agent: Page, text: str) -> None:
    box = agent.locator("#reply-body")
    box.fill(text)
    agent.locator('form[data-pane="reply"]').get_by_role("button", name="Send").click()
    expect(box).to_have_value("", timeout=LIVE)


def test_visitor_chats_with_an_agent_through_a_dropped_connection(
    live_server: Server, host_origin: str, admin: User, api: Callable[[str], httpx.Client],
    new_context: Callable[..., BrowserContext], browser_as: Callable[[User], Page], artifacts: Path,
) -> None:
    from tests.e2e.test_routing_browser import set_up_routing

    client = api(admin.email)
    set_up_routing(client)
    for earlier in client.get("/api/v1/conversations", params={"limit": 200}).json()["items"]:
        # Earlier tests' leave-a-message conversations must not be what Anna is offered first.
        solved = client.patch(f"/api/v1/conversations/{earlier['id']}", json={"status": "solved"})
        assert solved.status_code == 200, solved.text
    channel = make_channel(client, host_origin, name="Bohne Live")
    anna = browser_as(User("anna@chat.test", "Anna Angyal"))
    expect_live(anna)
    become_available(anna)
    wait_until_online(live_server, host_origin, channel)

    # A visitor on the shop's website opens the chat, says who she is and writes.
    visitor_context = new_context(viewport=VIEWPORT)
    visitor = visitor_context.new_page()
    sent: list[dict] = []  # what the widget says on its socket
    visitor.on("websocket", lambda ws: ws.on("framesent", lambda data: sent.append(json.loads(data))))
    visitor.goto(host_url(host_origin, live_server, channel))
    launcher(visitor).click()
    panel = dialog(visitor)
    expect(panel).to_contain_text("Wir sind online")
    expect(panel).to_contain_text("Hallo! Wie können wir helfen?")
    panel.get_by_label("Ihr Name").fill("Vera Vogel")
    panel.get_by_label("Ihre E-Mail-Adresse").fill("vera@example.de")
    panel.get_by_role("button", name="Chat starten").click()
    composer = panel.get_by_role("textbox", name="Nachricht schreiben…")
    expect(composer).to_be_focused()
    composer.fill("Hallo, meine Bestellung 1234 ist nicht angekommen.")
    composer.press("Enter")
    first = panel.locator(".msg.me", has_text="Bestellung 1234")
    expect(first).to_contain_text("✓ Gesendet", timeout=LIVE)

    # Anna is offered the chat, accepts, and the visitor sees who is answering.
    offer = anna.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    offer.get_by_role("button", name="Accept").click()
    expect(anna).to_have_url(re.compile(r"/conversations/\d+$"), timeout=LIVE)
    expect(anna.locator("#thread")).to_contain_text("meine Bestellung 1234 ist nicht angekommen.")
    expect_live(anna)  # her conversation page's socket is up: her typing is heard
    expect(panel).to_contain_text("Anna Angyal antwortet Ihnen", timeout=LIVE)

    # Anna types: the visitor sees it; then her reply arrives, as text (never as markup).
    anna.locator("#reply-body").press_sequentially("Das tut mir leid", delay=20)
    typing = panel.locator(".typing")
    expect(typing).to_have_text("Anna Angyal schreibt…", timeout=LIVE)
    visitor.screenshot(path=str(artifacts / "chat-widget-agent-typing.png"))
    agent_reply(anna, 'Das tut mir leid! <img src=x onerror="window.__xss=1"> Ich sehe nach.')
    expect(bubbles(panel, "them", "Ich sehe nach.")).to_have_text(
        'Das tut mir leid! <img src=x onerror="window.__xss=1"> Ich sehe nach.', timeout=LIVE
    )
    expect(typing).to_be_hidden()
    assert visitor.evaluate("() => window.__xss === undefined")

    # The widget reports that the reply was read.
    reply_seq = int(bubbles(panel, "them", "Ich sehe nach.").locator("xpath=..").get_attribute("data-seq") or 0)
    for _ in range(20):
        if {"type": "read", "seq": reply_seq} in sent:
            break
        visitor.wait_for_timeout(100)
    assert {"type": "read", "seq": reply_seq} in sent, sent

    # The visitor types: Anna sees it; the visitor stops (and clears the box): the mark goes.
    composer.press_sequentially("Okay, und", delay=30)
    visitor_typing = anna.locator("#visitor-typing")
    expect(visitor_typing).to_have_text("The customer is typing…", timeout=LIVE)
    expect(visitor_typing).to_be_visible()
    anna.screenshot(path=str(artifacts / "chat-agent-sees-visitor-typing.png"))
    composer.fill("")
    expect(visitor_typing).to_be_hidden(timeout=5_000)

    # The emoji picker adds to what the visitor writes.
    panel.get_by_role("button", name="Emoji einfügen").click()
    panel.get_by_role("menuitem", name="👍").click()
    expect(composer).to_have_value("👍")
    composer.press("Enter")
    expect(panel.locator(".msg.me", has_text="👍")).to_contain_text("✓ Gesendet", timeout=LIVE)
    expect(anna.locator("#thread")).to_contain_text("👍", timeout=LIVE)
    # The visitor's side of typing, as the widget sends it: typing, then not, around the message.
    kinds = [(f["type"], f.get("typing") if f["type"] == "typing" else f.get("text")) for f in sent]
    emoji_at = kinds.index(("message", "👍"))
    assert ("typing", True) in kinds[emoji_at - 2 : emoji_at], kinds
    assert ("typing", False) in kinds[emoji_at - 1 : emoji_at + 2], kinds
    visitor.screenshot(path=str(artifacts / "chat-widget-conversation.png"))

    # The connection drops. Meanwhile Anna writes twice and the visitor once.
    visitor_context.set_offline(True)
    visitor.evaluate("() => window.HelplineChat.disconnect()")
    expect(panel.locator(".notice")).to_have_text("Verbindung unterbrochen. Neuer Versuch…")
    agent_reply(anna, "Die Sendung liegt im Paketzentrum.")
    agent_reply(anna, "Sie kommt morgen an.")
    composer.fill("Sind Sie noch da?")
    composer.press("Enter")
    expect(panel.locator(".msg.me", has_text="Sind Sie noch da?")).to_contain_text("Wird gesendet…")
    visitor.screenshot(path=str(artifacts / "chat-widget-reconnecting.png"))

    # Back online: what was missed arrives once, in order; what was unsent is sent once.
    visitor_context.set_offline(False)
    expect(panel.locator(".notice")).to_be_hidden(timeout=10_000)
    expect(panel.locator(".msg.me", has_text="Sind Sie noch da?")).to_contain_text("✓ Gesendet", timeout=LIVE)
    expect(bubbles(panel, "them", "Sie kommt morgen an.")).to_have_count(1, timeout=LIVE)
    expected = [
        "Hallo, meine Bestellung 1234 ist nicht angekommen.",
        'Das tut mir leid! <img src=x onerror="window.__xss=1"> Ich sehe nach.',
        "👍",
        "Die Sendung liegt im Paketzentrum.",
        "Sie kommt morgen an.",
        "Sind Sie noch da?",
    ]

    def shown(page: Page) -> list[str]:
        return dialog(page).locator(".msg.me .bubble, .msg.them .bubble").all_inner_texts()

    assert shown(visitor) == expected
    expect(anna.locator("#thread").get_by_text("Sind Sie noch da?")).to_have_count(1, timeout=LIVE)

    # A reload, and a second tab, continue the same chat: the same messages, each once.
    visitor.reload()
    expect(dialog(visitor)).to_be_visible()
    expect(dialog(visitor).locator(".msg.me .bubble, .msg.them .bubble")).to_have_count(len(expected), timeout=LIVE)
    assert shown(visitor) == expected
    second_tab = visitor_context.new_page()
    second_tab.goto(host_url(host_origin, live_server, channel))
    launcher(second_tab).click()
    expect(dialog(second_tab).locator(".msg.me .bubble, .msg.them .bubble")).to_have_count(len(expected), timeout=LIVE)
    assert shown(second_tab) == expected
    agent_reply(anna, "Einen schönen Tag noch!")
    expect(bubbles(dialog(second_tab), "them", "Einen schönen Tag noch!")).to_have_count(1, timeout=LIVE)
    expect(bubbles(dialog(visitor), "them", "Einen schönen Tag noch!")).to_have_count(1, timeout=LIVE)
    dialog(visitor).get_by_role("textbox", name="Nachricht schreiben…").fill("Danke!")
    dialog(visitor).get_by_role("textbox", name="Nachricht schreiben…").press("Enter")
    expect(bubbles(dialog(second_tab), "me", "Danke!")).to_have_count(1, timeout=LIVE)
    expect(bubbles(dialog(visitor), "me", "Danke!")).to_have_count(1)
    visitor.screenshot(path=str(artifacts / "chat-widget-after-reload.png"))

    # With the chat closed (and no other tab showing it), a new answer shows as a badge on the launcher.
    second_tab.close()
    visitor.keyboard.press("Escape")
    expect(dialog(visitor)).to_be_hidden()
    agent_reply(anna, "Noch eine Frage?")
    expect(launcher(visitor).locator(".badge")).to_have_text("1", timeout=LIVE)
    expect(launcher(visitor)).to_have_accessible_name("Chatten Sie mit uns — 1 neue Nachricht")
    visitor.screenshot(path=str(artifacts / "chat-widget-unread.png"))
    launcher(visitor).click()
    expect(launcher(visitor).locator(".badge")).to_be_hidden()
    expect(bubbles(dialog(visitor), "them", "Noch eine Frage?")).to_have_count(1)

    # Anna solves the conversation: the visitor is asked for a rating and may have the transcript mailed.
    conversation_id = int(anna.url.rstrip("/").rsplit("/", 1)[1])
    solved = api("anna@chat.test").patch(f"/api/v1/conversations/{conversation_id}", json={"status": "solved"})
    assert solved.status_code == 200, solved.text
    panel = dialog(visitor)
    expect(panel).to_contain_text("Der Chat wurde beendet.", timeout=LIVE)
    expect(panel.get_by_role("radio", name="4 von 5")).to_be_visible()
    panel.get_by_role("radio", name="4 von 5").click()
    expect(panel.get_by_role("radio", name="4 von 5")).to_have_attribute("aria-checked", "true")
    panel.get_by_label("Kommentar (optional)").fill("Schnell und freundlich")
    visitor.screenshot(path=str(artifacts / "chat-widget-rating.png"))
    panel.get_by_role("button", name="Bewertung senden").click()
    expect(panel.get_by_role("status").filter(has_text="Vielen Dank für Ihr Feedback!")).to_be_visible()
    expect(panel.get_by_label("Ihre E-Mail-Adresse")).to_have_value("vera@example.de")  # from the pre-chat form
    panel.get_by_role("button", name="Verlauf per E-Mail senden").click()
    # This tenant has no mailbox to send from: the widget says so (test_chat_end.py has the transcript mailed).
    expect(panel.get_by_role("alert")).to_have_text(
        "Leider können wir den Verlauf von dieser Website aus nicht per E-Mail senden.", timeout=LIVE)


    # The visitor comes back with one more thing, then ends the chat herself.
    panel.get_by_role("button", name="Neuen Chat beginnen").click()
    composer = panel.get_by_role("textbox", name="Nachricht schreiben…")
    expect(composer).to_be_focused()
    composer.fill("Eine Sache noch: Rechnung bitte an die Firma.")
    composer.press("Enter")
    expect(panel.locator(".msg.me", has_text="Eine Sache noch")).to_contain_text("✓ Gesendet", timeout=LIVE)
    assert shown(visitor)[-2:] == ["Noch eine Frage?", "Eine Sache noch: Rechnung bitte an die Firma."]
    messages = api("anna@chat.test").get(f"/api/v1/conversations/{conversation_id}/messages").json()
    assert [m["body_text"] for m in messages].count("Eine Sache noch: Rechnung bitte an die Firma.") == 1
    panel.get_by_role("button", name="Chat beenden").click()
    expect(panel).to_contain_text("Der Chat wurde beendet.")
    expect(panel.get_by_role("button", name="Chat beenden")).to_be_hidden()
    ended = api("anna@chat.test").get(f"/api/v1/conversations/{conversation_id}").json()
    assert ended["status"] in ("solved", "closed"), ended["status"]


def test_a_message_whose_ack_was_lost_is_resent_and_stored_once(
    live_server: Server,
    host_origin: str,
    admin: User,
    api: Callable[[str], httpx.Client],
    page: Page,
) -> None:
    """The server stored the message, but the connection died before the widget heard so."""
    anna = api("anna@chat.test")
    assert anna.put("/api/v1/routing/agents/me/state", json={"state": "available"}).status_code == 200
    channel = make_channel(api(admin.email), host_origin, name="Lost ack", prechat={"name": "off", "email": "off"})
    wait_until_online(live_server, host_origin, channel)
    cut = {"armed": True, "connections": 0}

    def route(ws: WebSocketRoute) -> None:
        cut["connections"] += 1
        server = ws.connect_to_server()

        def to_page(data: str | bytes) -> None:
            frame = json.loads(data)
            if cut["armed"] and frame.get("client_id") and frame["type"] in ("ack", "message"):
                cut["armed"] = False
                ws.close(code=4000, reason="cut")  # the line dies before the ack arrives
                return
            ws.send(data)

        def to_server(data: str | bytes) -> None:
            said.append(json.loads(data))
            server.send(data)

        server.on_message(to_page)
        ws.on_message(to_server)

    said: list[dict] = []
    page.route_web_socket(re.compile(r"/widget/v1/ws"), route)
    page.goto(host_url(host_origin, live_server, channel))
    launcher(page).click()
    composer = dialog(page).get_by_role("textbox", name="Nachricht schreiben…")
    composer.fill("Nur einmal, bitte.")
    composer.press("Enter")
    mine = dialog(page).locator(".msg.me")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("✓ Gesendet", timeout=10_000)
    assert cut["connections"] >= 2, "the widget never reconnected"
    sends = [f for f in said if f["type"] == "message"]
    assert len(sends) == 2 and sends[0]["client_id"] == sends[1]["client_id"], sends  # resent, same client_id
    page.wait_for_timeout(500)  # a doubled message would show up by now
    expect(mine).to_have_count(1)
    conversations = api(admin.email).get("/api/v1/conversations", params={"limit": 200}).json()["items"]
    stored = [
        m["body_text"]
        for c in conversations
        for m in api(admin.email).get(f"/api/v1/conversations/{c['id']}/messages").json()
        if m["body_text"] == "Nur einmal, bitte."
    ]
    assert stored == ["Nur einmal, bitte."]


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x2f\x6f\xed\xff"))
            + chunk(b"IEND", b""))


PNG = png_1x1()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_visitor_sends_a_file_and_is_told_why_a_file_is_refused(
    live_server: Server,
    host_origin: str,
    admin: User,
    api: Callable[[str], httpx.Client],
    page: Page,
    browser_as: Callable[[User], Page],
    artifacts: Path,
) -> None:
    client = api(admin.email)
    channel = make_channel(client, host_origin, name="Dateien", prechat={"name": "off", "email": "off"})
    for earlier in client.get("/api/v1/conversations", params={"limit": 200}).json()["items"]:
        # Earlier tests' chats must not be what Anna is offered now.
        assert client.patch(f"/api/v1/conversations/{earlier['id']}", json={"status": "solved"}).status_code == 200
    agent = browser_as(User("anna@chat.test", "Anna Angyal"))
    expect_live(agent)
    anna = api("anna@chat.test")
    assert anna.put("/api/v1/routing/agents/me/state", json={"state": "available"}).status_code == 200
    wait_until_online(live_server, host_origin, channel)
    page.goto(host_url(host_origin, live_server, channel))
    launcher(page).click()
    panel = dialog(page)
    file_input = panel.locator("input[type=file]")

    file_input.set_input_files(files=[{"name": "setup.exe", "mimeType": "application/x-msdownload",
                                       "buffer": b"MZ\x90\x00" + b"\x00" * 200}])
    expect(panel.locator(".notice")).to_have_text("Dieser Dateityp ist nicht erlaubt.", timeout=LIVE)
    file_input.set_input_files(files=[{"name": "riesig.png", "mimeType": "image/png",
                                       "buffer": PNG + b"\x00" * (11 * 1024 * 1024)}])
    expect(panel.locator(".notice")).to_have_text("Diese Datei ist zu groß.", timeout=10_000)
    expect(panel.locator(".chip")).to_have_count(0)

    file_input.set_input_files(files=[{"name": "lieferschein.png", "mimeType": "image/png", "buffer": PNG}])
    chip = panel.locator(".chip", has_text="lieferschein.png")
    expect(chip).to_be_visible()
    expect(chip).not_to_have_class(re.compile(r"\bbusy\b"), timeout=LIVE)
    composer = panel.get_by_role("textbox", name="Nachricht schreiben…")
    composer.fill("Hier der Lieferschein.")
    composer.press("Enter")
    mine = panel.locator(".msg.me", has_text="Hier der Lieferschein.")
    expect(mine).to_contain_text("lieferschein.png")
    expect(mine).to_contain_text("✓ Gesendet", timeout=LIVE)
    page.screenshot(path=str(artifacts / "chat-widget-file.png"))
    # The picture shows in the chat, loaded from Helpline (another origin) through its signed link.
    thumbnail = mine.locator(".thumb img")
    expect(thumbnail).to_have_count(1, timeout=LIVE)
    expect(thumbnail).to_have_js_property("naturalWidth", 1, timeout=LIVE)
    conversations = api(admin.email).get("/api/v1/conversations", params={"limit": 200}).json()["items"]
    files = [
        (c["id"], a["filename"])
        for c in conversations
        for m in api(admin.email).get(f"/api/v1/conversations/{c['id']}/messages").json()
        if m["body_text"] == "Hier der Lieferschein."
        for a in m["attachments"]
    ]
    assert [name for _, name in files] == ["lieferschein.png"]

    # Anna is offered the chat, accepts, sees the file in the workspace and opens it.
    offer = agent.locator(".offer-card")
    expect(offer).to_be_visible(timeout=LIVE)
    offer.get_by_role("button", name="Accept").click()
    expect(agent).to_have_url(re.compile(rf"/conversations/{files[0][0]}$"), timeout=LIVE)
    link = agent.locator("#thread .attachments a", has_text="lieferschein.png")
    expect(link).to_be_visible()
    with agent.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == PNG

    # She answers with a file of her own: the visitor gets it as a link that works without any login.
    expect_live(agent)
    agent.locator("#reply-body").fill("Danke! Hier die Anleitung zur Rücksendung.")
    agent.locator('form[data-pane="reply"] input[type=file]').set_input_files(
        files=[{"name": "ruecksendung.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    agent.locator('form[data-pane="reply"]').get_by_role("button", name="Send").click()
    theirs = panel.locator(".msg.them", has_text="Anleitung zur Rücksendung")
    their_file = theirs.locator("a.file", has_text="ruecksendung.pdf")
    expect(their_file).to_be_visible(timeout=LIVE)
    href = their_file.get_attribute("href") or ""
    assert href.startswith(f"{live_server.url}/widget/v1/files/"), href
    fetched = page.request.get(href)  # the visitor's browser: no Helpline cookie
    assert fetched.ok and fetched.body() == PDF
    assert fetched.headers["content-disposition"].startswith("attachment")
    page.screenshot(path=str(artifacts / "chat-widget-agent-file.png"))
