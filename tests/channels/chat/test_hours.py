"""Business hours and proactive invitations of a chat channel: when the chat is open (time zones, the
DST switch days, holidays), what admins may enter (API and page, each refusal naming its field), the
widget's config outside hours, and the `status` frame a connected visitor gets when the only agent
comes and goes, when the hours open, and when they close on a running chat (which goes on)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from helpline.accounts.models import AuditEntry, Role
from helpline.channels.chat.hours import BusinessHours, check_opening_hours
from helpline.config import Settings
from helpline.db import Database
from helpline.errors import Invalid
from helpline.routing import models as routing_models
from helpline.routing.clock import ManualClock
from tests.channels.chat.test_channels import _log_in
from tests.channels.chat.test_scaleout import two_processes
from tests.channels.chat.test_socket import SITE, Visitor, api, new_token, reply
from tests.conftest import Person, Server, make_person
from tests.web.live import make_user

__all__ = ["two_processes"]  # PostgreSQL + Redis, two `helpline serve` (a fixture of test_scaleout)
API = "/api/v1/chat-channels"
BERLIN = ZoneInfo("Europe/Berlin")
BUDAPEST = ZoneInfo("Europe/Budapest")
OFFICE = {day: ["08:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def hours(time_zone: str, week: dict[str, Any] | None = None, holidays: list[str] | None = None) -> BusinessHours:
    return BusinessHours.of(time_zone, check_opening_hours(week or {}), holidays or [])


def local(tz: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=tz, fold=fold)  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- when is the chat open ---------------------------------------------------------------------------


def test_two_intervals_a_day_with_a_lunch_break_and_a_closed_weekend():
    office = hours("Europe/Budapest", OFFICE)
    monday = (2026, 3, 2)
    assert not office.is_open(local(BUDAPEST, *monday, 7, 59))
    assert office.is_open(local(BUDAPEST, *monday, 8, 0))
    assert not office.is_open(local(BUDAPEST, *monday, 12, 0))  # the end is the first minute closed
    assert office.next_change(local(BUDAPEST, *monday, 12, 30)) == local(BUDAPEST, *monday, 13, 0)
    assert office.next_change(local(BUDAPEST, *monday, 13, 0)) == local(BUDAPEST, *monday, 17, 0)
    friday_evening = local(BUDAPEST, 2026, 3, 6, 17, 30)
    assert office.next_change(friday_evening) == local(BUDAPEST, 2026, 3, 9, 8, 0)  # Monday morning


def test_hours_are_the_wall_clock_of_the_channels_time_zone_not_utc():
    office = hours("America/New_York", {"mon": ["09:00-17:00"]})
    assert office.is_open(utc(2026, 1, 5, 14, 0))  # 09:00 in New York (UTC-5)
    assert not office.is_open(utc(2026, 1, 5, 13, 59))
    assert office.is_open(utc(2026, 7, 6, 13, 0))  # 09:00 in summer (UTC-4)


def test_on_the_spring_dst_day_hours_stay_on_the_wall_clock_and_a_skipped_start_opens_at_the_jump():
    # 29 March 2026: in Berlin the clocks jump from 02:00 to 03:00 (01:00 UTC).
    sunday = hours("Europe/Berlin", {"sun": ["02:30-06:00", "09:00-17:00"]})
    assert sunday.next_change(utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, after 02:30
    assert sunday.is_open(utc(2026, 3, 29, 1, 0))
    assert not sunday.is_open(utc(2026, 3, 29, 0, 59, 59))
    assert sunday.next_change(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 4, 0)  # 06:00 CEST
    assert sunday.next_change(utc(2026, 3, 29, 5, 0)) == utc(2026, 3, 29, 7, 0)  # 09:00 CEST = 07:00 UTC
    assert sunday.next_change(utc(2026, 3, 29, 7, 0)) == utc(2026, 3, 29, 15, 0)  # 17:00 CEST


def test_on_the_autumn_dst_day_a_wall_time_that_happens_twice_counts_twice():
    # 25 October 2026: in Berlin 02:00-03:00 happens twice (CEST, then CET from 01:00 UTC).
    night = hours("Europe/Berlin", {"sun": ["00:00-02:30", "09:00-17:00"]})
    assert night.is_open(utc(2026, 10, 25, 0, 15))  # 02:15 CEST
    assert night.next_change(utc(2026, 10, 25, 0, 15)) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert not night.is_open(utc(2026, 10, 25, 0, 45))  # 02:45 CEST
    assert night.next_change(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)  # 02:00 CET, the second time
    assert night.next_change(utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 25, 1, 30)  # 02:30 CET
    assert night.next_change(utc(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 8, 0)  # 09:00 CET = 08:00 UTC


def test_holidays_are_closed_all_day_and_the_next_opening_skips_them():
    office = hours("Europe/Berlin", {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                   ["2026-12-24", "2026-12-25"])
    assert not office.is_open(local(BERLIN, 2026, 12, 24, 10, 0))
    assert office.is_open(local(BERLIN, 2026, 12, 23, 10, 0))
    assert office.next_change(local(BERLIN, 2026, 12, 23, 17, 0)) == local(BERLIN, 2026, 12, 28, 9, 0)


def test_no_opening_times_means_around_the_clock_except_on_holidays():
    assert hours("Europe/Berlin").next_change(utc(2026, 5, 1, 12, 0)) is None
    always = hours("Europe/Berlin", holidays=["2026-05-01"])
    assert always.is_open(local(BERLIN, 2026, 4, 30, 23, 59))
    assert always.next_change(local(BERLIN, 2026, 4, 30, 12, 0)) == local(BERLIN, 2026, 5, 1, 0, 0)
    assert always.next_change(local(BERLIN, 2026, 5, 1, 0, 0)) == local(BERLIN, 2026, 5, 2, 0, 0)
    assert always.next_change(local(BERLIN, 2026, 5, 2, 0, 0)) is None  # past holidays do not count


def test_a_holiday_starts_when_the_day_does_even_where_midnight_is_skipped():
    # Chile moves its clocks at midnight: on 6 September 2026 the day begins at 01:00 (04:00 UTC).
    always = hours("America/Santiago", holidays=["2026-09-06"])
    change = always.next_change(utc(2026, 9, 5, 12, 0))
    assert change == utc(2026, 9, 6, 4, 0)
    assert always.is_open(change - timedelta(seconds=1)) and not always.is_open(change)


def test_evening_hours_past_midnight_go_on_two_lines_and_run_on_as_one():
    late = hours("Europe/Vienna", {"fri": ["20:00-24:00"], "sat": ["00:00-02:00"]})
    vienna = ZoneInfo("Europe/Vienna")
    assert late.next_change(local(vienna, 2026, 6, 5, 21, 0)) == local(vienna, 2026, 6, 6, 2, 0)  # not at midnight


@pytest.mark.parametrize(("day", "why"), [
    ("22:00-02:00", "end must be after the start"),
    ("12:00-12:00", "end must be after the start"),
    ("08:00-12:00, 11:00-14:00", "overlap"),
    ("24:00-24:00", "not an opening time"),
    ("08:00-25:00", "not an opening time"),
    ("08:60-09:00", "not an opening time"),
    ("8 to 5", "not an opening time"),
    ("<script>alert(1)</script>", "not an opening time"),
])
def test_bad_opening_times_are_refused_naming_the_day(day: str, why: str):
    with pytest.raises(Invalid) as refused:
        check_opening_hours({"wed": day})
    assert refused.value.field == "opening_hours.wed" and why in refused.value.message


def test_opening_times_are_stored_sorted_and_written_alike():
    assert check_opening_hours({"mon": "13:00 - 17:00; 8:00–12:00", "tue": "", "sun": ["10:00-11:00"]}) == {
        "mon": ["08:00-12:00", "13:00-17:00"], "sun": ["10:00-11:00"]}


# --- the admin API ------------------------------------------------------------------------------------


async def create(client: httpx.AsyncClient, who: Person, **body: Any) -> httpx.Response:
    return await client.post(API, headers=who.headers, json={"name": "Shop", "allowed_origins": [SITE], **body})


def refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text


RULES = [{"url": "*/pricing*", "seconds": 20, "greeting": "Fragen zu den Tarifen?"},
         {"url": "/checkout/", "seconds": 0, "greeting": "Brauchen Sie Hilfe beim Bezahlen?"}]


async def test_hours_and_invitations_round_trip_through_the_api_and_are_audit_logged(client, admin, db: Database):
    created = await create(client, admin, time_zone="Europe/Budapest", opening_hours={"mon": "8:00-12:00, 13:00-17:00"},
                           holidays=["2026-12-25", "2026-12-24", "2026-12-24"], hours_message="Wir sind zu.",
                           invitations=RULES)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["time_zone"] == "Europe/Budapest"
    assert body["opening_hours"] == {"mon": ["08:00-12:00", "13:00-17:00"]}
    assert body["holidays"] == ["2026-12-24", "2026-12-25"]
    assert body["hours_message"] == "Wir sind zu." and body["invitations"] == RULES
    patched = await client.patch(f"{API}/{body['id']}", headers=admin.headers,
                                 json={"opening_hours": {}, "invitations": RULES[1:]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["opening_hours"] == {} and patched.json()["invitations"] == RULES[1:]
    assert patched.json()["hours_message"] == "Wir sind zu."
    async with db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "chat_channel.updated"))
    assert entry is not None and entry.details == {"changed": ["opening_hours", "invitations"]}


async def test_a_new_channel_takes_the_companys_time_zone_and_is_open_around_the_clock(client, admin):
    body = (await create(client, admin)).json()
    assert body["time_zone"] == "UTC" and body["opening_hours"] == {} and body["holidays"] == []
    assert body["invitations"] == [] and body["hours_message"] == ""


async def test_bad_hours_and_invitations_are_refused_naming_the_field(client, admin):
    rule = RULES[0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"opening_hours": {"mon": "17:00-08:00"}}, "opening_hours.mon"),
        ({"opening_hours": {"fri": ["08:00-12:00", "11:59-13:00"]}}, "opening_hours.fri"),
        ({"opening_hours": {"monday": "08:00-12:00"}}, "opening_hours"),
        ({"opening_hours": {"mon": 8}}, "opening_hours.mon"),
        ({"holidays": ["2026-02-30"]}, "holidays"),
        ({"holidays": ["24.12.2026"]}, "holidays"),
        ({"holidays": [20261224]}, "holidays"),
        ({"holidays": ["2026-12-24\r\nX"]}, "holidays"),
        ({"hours_message": "x" * 2001}, "hours_message"),
        ({"hours_message": "Zu\x00"}, "hours_message"),
        ({"invitations": [rule] * 21}, "invitations"),
        ({"invitations": [{**rule, "seconds": 3601}]}, "invitations.0.seconds"),
        ({"invitations": [rule, {**rule, "seconds": -1}]}, "invitations.1.seconds"),
        ({"invitations": [{**rule, "seconds": True}]}, "invitations.0.seconds"),
        ({"invitations": [{**rule, "seconds": "5"}]}, "invitations.0.seconds"),
        ({"invitations": [{**rule, "greeting": "x" * 501}]}, "invitations.0.greeting"),
        ({"invitations": [{**rule, "greeting": " "}]}, "invitations.0.greeting"),
        ({"invitations": [{**rule, "greeting": "Hallo\x1b[31m"}]}, "invitations.0.greeting"),
        ({"invitations": [{**rule, "url": "javascript:alert(1)"}]}, "invitations.0.url"),
        ({"invitations": [{**rule, "url": "pricing"}]}, "invitations.0.url"),
        ({"invitations": [{**rule, "url": '/a"><script>'}]}, "invitations.0.url"),
        ({"invitations": [{**rule, "url": "/a b"}]}, "invitations.0.url"),
        ({"invitations": [{**rule, "colour": "red"}]}, "invitations.0"),
        ({"invitations": ["*/pricing*"]}, "invitations.0"),
    ]
    for body, field in cases:
        refused(await create(client, admin, **body), field)
    assert (await client.get(API, headers=admin.headers)).json() == []  # nothing half-stored


async def test_a_greeting_with_markup_is_kept_as_text(client, admin):
    greeting = '<img src=x onerror="alert(1)">Hallo & willkommen'
    created = await create(client, admin, invitations=[{"url": "/", "seconds": 0, "greeting": greeting}],
                           hours_message="<b>Zu</b>")
    assert created.status_code == 201, created.text
    config = await client.get(f"/widget/v1/channels/{created.json()['public_key']}/config", headers={"Origin": SITE})
    assert config.json()["channel"]["invitations"][0]["greeting"] == greeting  # the widget inserts it as text
    assert config.json()["channel"]["hours_message"] == "<b>Zu</b>"


# --- the admin page ---------------------------------------------------------------------------------------


def page_form(csrf: str, **extra: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "name": "Web shop", "allowed_origins": SITE, "colour": "#112233", "position": "right",
            "language": "auto", "prechat_name": "off", "prechat_email": "off", "is_active": "1"}
    return {**form, **extra}


async def test_admin_page_edits_the_weekly_grid_holidays_and_invitation_rows(client, admin):
    csrf = await _log_in(client, admin)
    form = page_form(csrf, time_zone="Europe/Berlin", hours_mon="08:00-12:00, 13:00-17:00", hours_sat="10:00-14:00",
                     holidays="2026-12-24\n2026-12-31\n", hours_message="Wir sind gerade geschlossen.",
                     invitation_url_0="*/pricing*", invitation_seconds_0="20", invitation_greeting_0="Fragen?",
                     invitation_url_1="", invitation_seconds_1="", invitation_greeting_1="",
                     invitation_url_2="/checkout", invitation_seconds_2="", invitation_greeting_2="Hilfe?")
    saved = await client.post("/admin/chat/new", data=form)
    assert saved.status_code == 303, saved.text
    channel = (await client.get(API)).json()[0]
    assert channel["opening_hours"] == {"mon": ["08:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]}
    assert channel["holidays"] == ["2026-12-24", "2026-12-31"] and channel["time_zone"] == "Europe/Berlin"
    assert channel["invitations"] == [{"url": "*/pricing*", "seconds": 20, "greeting": "Fragen?"},
                                      {"url": "/checkout", "seconds": 0, "greeting": "Hilfe?"}]
    page = await client.get(f"/admin/chat/{channel['id']}")
    assert 'value="08:00-12:00, 13:00-17:00"' in page.text and "2026-12-24\n2026-12-31" in page.text
    assert 'name="invitation_url_3"' in page.text  # two empty rows to add more


async def test_admin_page_shows_a_refused_interval_next_to_its_day_with_everything_typed_kept(client, admin):
    csrf = await _log_in(client, admin)
    form = page_form(csrf, time_zone="Europe/Berlin", hours_tue="18:00-09:00", holidays="2026-12-24",
                     invitation_url_0="/pricing", invitation_seconds_0="10", invitation_greeting_0="<b>Hallo</b>")
    answer = await client.post("/admin/chat/new", data=form)
    assert answer.status_code == 422
    assert "Tuesday: 18:00-09:00: the end must be after the start" in answer.text
    assert re.search(r'name="hours_tue"[^>]*value="18:00-09:00"[^>]*aria-invalid="true"', answer.text)
    assert "&lt;b&gt;Hallo&lt;/b&gt;" in answer.text and "<b>Hallo</b>" not in answer.text
    form = page_form(csrf, invitation_url_0="/pricing", invitation_seconds_0="soon", invitation_greeting_0="Hallo")
    answer = await client.post("/admin/chat/new", data=form)
    assert answer.status_code == 422 and "Invitation 1, After seconds" in answer.text


# --- the widget's config, on a clock the test moves ------------------------------------------------------


@dataclass
class Shop:
    http: httpx.AsyncClient
    clock: ManualClock
    admin: Person
    anna: Person
    runtime: Any

    async def config(self, channel: dict[str, Any]) -> dict[str, Any]:
        answer = await self.http.get(f"/widget/v1/channels/{channel['public_key']}/config", headers={"Origin": SITE})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


MONDAY_NOON_BUDAPEST = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 12:00 in Budapest


@pytest.fixture
async def shop(settings: Settings, tenant_id: int, admin: Person, db: Database) -> AsyncIterator[Shop]:
    from helpline.app import create_app

    anna = await make_person(db, tenant_id, "anna@acme.test", Role.agent, "Anna")
    clock = ManualClock(MONDAY_NOON_BUDAPEST.timestamp())
    app = create_app(settings, routing_clock=clock)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        async with runtime.db.transaction() as session:
            queue = routing_models.Queue(tenant_id=tenant_id, name="Chat")
            session.add(queue)
            await session.flush()
            session.add(routing_models.RoutingSettings(tenant_id=tenant_id, default_queue_id=queue.id))
        await runtime.routing.execute(tenant_id, "reload")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            yield Shop(http, clock, admin, anna, runtime)


async def test_outside_business_hours_the_widget_is_offline_with_the_hours_message_and_the_next_opening(shop: Shop):
    made = await create(shop.http, shop.admin, time_zone="Europe/Budapest", opening_hours=OFFICE,
                        hours_message="Unser Team ist Mo–Fr 8–17 Uhr da.", offline_message="Schreiben Sie uns.")
    channel = made.json()
    state = await shop.http.put("/api/v1/routing/agents/me/state", headers=shop.anna.headers,
                                json={"state": "available"})
    assert state.status_code == 200, state.text
    await shop.runtime.routing.idle()

    config = await shop.config(channel)  # Monday 12:00: lunch break, although Anna is available
    assert (config["online"], config["open"]) == (False, False)
    assert config["opens_at"] == "2026-03-02T12:00:00+00:00"  # 13:00 in Budapest
    assert config["channel"]["hours_message"] == "Unser Team ist Mo–Fr 8–17 Uhr da."

    shop.clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp())
    config = await shop.config(channel)
    assert (config["online"], config["open"], config["opens_at"]) == (True, True, None)

    shop.clock.set(datetime(2026, 3, 6, 16, 0, tzinfo=UTC).timestamp())  # Friday 17:00 in Budapest
    config = await shop.config(channel)
    assert (config["online"], config["open"]) == (False, False)
    assert config["opens_at"] == "2026-03-09T07:00:00+00:00"  # Monday 08:00


async def test_within_hours_the_widget_is_offline_when_nobody_could_take_a_chat(shop: Shop):
    channel = (await create(shop.http, shop.admin, time_zone="Europe/Budapest", opening_hours=OFFICE)).json()
    shop.clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp())
    config = await shop.config(channel)
    assert (config["online"], config["open"], config["opens_at"]) == (False, True, None)


# --- the status frame, against a real server ----------------------------------------------------------------


@dataclass
class Floor:
    server: Server
    admin: str
    agent: str


@pytest.fixture(scope="module")
def floor(live_server: Server) -> Floor:
    # Both before the routing engine loads: the agent is in it from the start.
    return Floor(live_server, make_user(live_server, "hours-admin@acme.test", "admin"),
                 make_user(live_server, "hours-agent@acme.test", "agent"))


@pytest.fixture
def channel(floor: Floor) -> Iterator[dict[str, Any]]:
    created = api(floor.server, floor.admin, "POST", API, json={"name": "Nachtschicht", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    yield created.json()
    set_state(floor, "offline")


def set_state(floor: Floor, state: str) -> None:
    answer = api(floor.server, floor.agent, "PUT", "/api/v1/routing/agents/me/state", json={"state": state})
    assert answer.status_code == 200, answer.text


async def test_visitors_hear_when_the_only_agent_goes_and_comes_back(floor: Floor, channel: dict[str, Any]):
    await asyncio.to_thread(set_state, floor, "available")
    token = new_token(floor.server, channel)
    async with Visitor(floor.server, channel) as visitor:
        welcome = await visitor.hello(token)
        assert (welcome["online"], welcome["open"]) == (True, True)
        await asyncio.to_thread(set_state, floor, "offline")
        assert (await visitor.next("status", timeout=3))["online"] is False
        await asyncio.to_thread(set_state, floor, "available")
        status = await visitor.next("status", timeout=3)
        assert status == {"type": "status", "online": True, "open": True, "opens_at": None}
        # A change that changes nothing for the visitor says nothing.
        await asyncio.to_thread(api, floor.server, floor.admin, "PATCH", f"{API}/{channel['id']}",
                                json={"greeting": "Hallo!"})
        assert [f for f in await visitor.quiet(1.5) if f["type"] == "status"] == []


async def test_a_flapping_agent_makes_at_most_one_status_a_second_and_the_last_one_is_right(
        floor: Floor, channel: dict[str, Any]):
    await asyncio.to_thread(set_state, floor, "available")
    token = new_token(floor.server, channel)
    async with Visitor(floor.server, channel) as visitor:
        assert (await visitor.hello(token))["online"] is True
        started = time.monotonic()
        for state in ["offline", "available"] * 4 + ["offline"]:
            await asyncio.to_thread(set_state, floor, state)
        flapping = time.monotonic() - started
        late = await visitor.quiet(2.5)  # the last check comes at most a second after the last change
    frames = [f for f in visitor.received + late if f["type"] == "status"]
    assert frames and frames[-1]["online"] is False
    # One status a second at most (the first at once): never one per change.
    assert len(frames) <= int(flapping) + 2, (flapping, frames)


async def test_closing_hours_tell_the_visitor_but_a_running_chat_goes_on(floor: Floor, channel: dict[str, Any]):
    await asyncio.to_thread(set_state, floor, "available")
    token = new_token(floor.server, channel)
    async with Visitor(floor.server, channel) as visitor:
        assert (await visitor.hello(token))["online"] is True
        await visitor.send({"type": "message", "client_id": "h1", "text": "Noch kurz eine Frage"})
        await visitor.next("ack", client_id="h1")
        today = datetime.now(UTC).date()
        closed = {"time_zone": "UTC", "holidays": [today.isoformat(), (today + timedelta(days=1)).isoformat()],
                  "hours_message": "Wir sind im Feiertag."}
        patched = await asyncio.to_thread(api, floor.server, floor.admin, "PATCH", f"{API}/{channel['id']}",
                                          json=closed)
        assert patched.status_code == 200, patched.text
        status = await visitor.next("status", timeout=3)
        assert (status["online"], status["open"]) == (False, False)
        assert status["opens_at"] == f"{today + timedelta(days=2)}T00:00:00+00:00"
        # The chat is not cut: the visitor writes on, the agent answers.
        await visitor.send({"type": "message", "client_id": "h2", "text": "Sind Sie noch da?"})
        assert (await visitor.next("ack", client_id="h2"))["seq"] == 2
        conversations = api(floor.server, floor.admin, "GET", "/api/v1/conversations").json()["items"]
        chat = next(c for c in conversations if c["subject"] == "Noch kurz eine Frage")
        await asyncio.to_thread(reply, floor.server, floor.admin, chat["id"], "Ja, ich bin noch da.")
        assert (await visitor.next("message", seq=3))["text"] == "Ja, ich bin noch da."


async def test_the_chat_comes_online_by_itself_when_the_hours_open(floor: Floor, channel: dict[str, Any]):
    await asyncio.to_thread(set_state, floor, "available")
    now = datetime.now(UTC)
    if now.second > 50:  # too close to the next minute to set up before it
        await asyncio.sleep(61 - now.second)
        now = datetime.now(UTC)
    opening = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[now.weekday()]
    start = "24:00" if opening.date() != now.date() else opening.strftime("%H:%M")
    week = {day: [f"{start}-24:00"]} if start != "24:00" else {}
    holidays = [now.date().isoformat()] if start == "24:00" else []  # opens at midnight: today closed, then always
    patched = api(floor.server, floor.admin, "PATCH", f"{API}/{channel['id']}",
                  json={"time_zone": "UTC", "opening_hours": week, "holidays": holidays})
    assert patched.status_code == 200, patched.text
    token = new_token(floor.server, channel)
    async with Visitor(floor.server, channel) as visitor:
        welcome = await visitor.hello(token)
        assert (welcome["online"], welcome["open"]) == (False, False)
        status = await visitor.next("status", timeout=(opening - datetime.now(UTC)).total_seconds() + 3)
        assert (status["online"], status["open"]) == (True, True)
        assert datetime.now(UTC) >= opening



@pytest.mark.scaleout
async def test_a_visitor_on_another_process_hears_the_agent_come_and_go(two_processes):
    a, b = two_processes
    admin = make_user(a, "hours-scale@acme.test", "admin")
    agent = make_user(a, "hours-scale-agent@acme.test", "agent")
    created = api(a, admin, "POST", API, json={"name": "Zwei Prozesse", "allowed_origins": [SITE]})
    assert created.status_code == 201, created.text
    channel = created.json()

    def state(value: str) -> None:  # through process A; the visitor is on B
        answer = api(a, agent, "PUT", "/api/v1/routing/agents/me/state", json={"state": value})
        assert answer.status_code == 200, answer.text

    async with Visitor(b, channel) as visitor:
        assert (await visitor.hello(new_token(b, channel)))["online"] is False
        await asyncio.to_thread(state, "available")
        assert (await visitor.next("status", timeout=5))["online"] is True
        await asyncio.to_thread(state, "offline")
        assert (await visitor.next("status", timeout=5))["online"] is False
