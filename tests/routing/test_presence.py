"""Agent presence: chosen states, busy and wrap-up laid over them, away with a grace period."""

from __future__ import annotations

import pytest

from helpline.routing import EngineSettings, InvalidStateChange, Presence, RoutingConfigError
from helpline.routing.events import AgentStateChanged, ItemRequeued, OfferRetracted
from tests.routing.floor import Floor


def transitions(floor: Floor, agent_id: str) -> list[tuple[float, Presence, Presence, str | None]]:
    return [(e.at, e.previous, e.state, e.reason) for e in floor.of(AgentStateChanged) if e.agent_id == agent_id]


def test_every_state_change_is_an_event_with_its_timestamp(floor: Floor) -> None:
    floor.queue(wrap_up_seconds=10)
    floor.agent("ana", available=False)
    floor.at(5)
    floor.engine.set_state("ana", Presence.AVAILABLE)
    floor.at(7)
    floor.call("c1")
    floor.answer("c1")
    floor.at(67)
    floor.engine.complete("c1")
    floor.at(77)
    floor.engine.set_state("ana", Presence.NOT_READY, reason="lunch")
    floor.at(100)
    floor.engine.set_state("ana", Presence.OFFLINE)
    floor.collect()

    assert transitions(floor, "ana") == [
        (5, Presence.OFFLINE, Presence.AVAILABLE, None),
        (7, Presence.AVAILABLE, Presence.BUSY, None),
        (67, Presence.BUSY, Presence.WRAP_UP, None),
        (77, Presence.WRAP_UP, Presence.AVAILABLE, None),
        (77, Presence.AVAILABLE, Presence.NOT_READY, "lunch"),
        (100, Presence.NOT_READY, Presence.OFFLINE, None),
    ]


def test_busy_and_wrap_up_cannot_be_chosen(floor: Floor) -> None:
    floor.agent("ana")
    for state in (Presence.BUSY, Presence.WRAP_UP):
        with pytest.raises(InvalidStateChange, match="follows from the agent's work"):
            floor.engine.set_state("ana", state)


def test_not_ready_needs_a_reason_code(floor: Floor) -> None:
    floor.agent("ana")
    with pytest.raises(RoutingConfigError) as refused:
        floor.engine.set_state("ana", Presence.NOT_READY)
    assert refused.value.field == "reason"


def test_a_supervisor_change_names_the_supervisor(floor: Floor) -> None:
    floor.agent("ana")
    floor.engine.set_state("ana", "not_ready", reason="coaching", changed_by="sup-1")
    change = floor.of(AgentStateChanged)[-1]
    assert (change.state, change.reason, change.changed_by) == (Presence.NOT_READY, "coaching", "sup-1")


def test_wrap_up_ends_by_itself_at_the_queues_time_and_the_agent_gets_the_next_call(floor: Floor) -> None:
    floor.queue(wrap_up_seconds=15)
    floor.agent("ana")
    floor.call("c1")
    floor.answer("c1")
    floor.at(100)
    floor.engine.complete("c1")
    floor.call("c2")

    floor.at(114.999)
    assert floor.state("ana") is Presence.WRAP_UP
    assert floor.offered_to("c2") is None

    floor.at(115)
    assert floor.offered_to("c2") == "ana"
    assert (115, Presence.WRAP_UP, Presence.AVAILABLE, None) in transitions(floor, "ana")


def test_an_agent_may_end_wrap_up_early(floor: Floor) -> None:
    floor.queue(wrap_up_seconds=60)
    floor.agent("ana")
    floor.call("c1")
    floor.answer("c1")
    floor.engine.complete("c1")
    floor.at(20)
    floor.engine.end_wrap_up("ana")
    assert floor.state("ana") is Presence.AVAILABLE
    assert floor.engine.next_deadline() is None  # the wrap-up timer is void


def test_an_agent_who_goes_away_loses_no_items_and_they_return_with_their_original_age() -> None:
    floor = Floor(EngineSettings(away_grace_seconds=60))
    floor.queue()
    floor.agent("ana")
    floor.call("old")  # arrives at 0
    floor.answer("old")
    floor.at(10)
    floor.engine.set_state("ana", Presence.AWAY)
    floor.at(20)
    floor.call("newer")  # arrives at 20, nobody to take it
    floor.agent("ben", available=False)

    floor.at(69.999)
    assert floor.engine.agent("ana").items == ("old",)  # kept during the grace period

    floor.at(70)
    assert floor.state("ana") is Presence.OFFLINE
    requeued = floor.of(ItemRequeued)
    assert [(e.item_id, e.from_agent_id, e.at) for e in requeued] == [("old", "ana", 70)]
    assert floor.engine.item("old").arrived_at == 0

    floor.engine.set_state("ben", Presence.AVAILABLE)
    floor.collect()
    assert floor.offered_to("old") == "ben"  # its original age puts it ahead of "newer"
    assert floor.offered_to("newer") is None


def test_an_agent_who_reconnects_within_the_grace_period_keeps_their_work() -> None:
    floor = Floor(EngineSettings(away_grace_seconds=60))
    floor.queue()
    floor.agent("ana")
    floor.call("c1")
    floor.answer("c1")
    floor.engine.set_state("ana", Presence.AWAY)
    floor.at(30)
    floor.engine.reconnect("ana")
    floor.at(500)
    assert floor.engine.agent("ana").items == ("c1",)
    assert floor.state("ana") is Presence.BUSY
    assert floor.of(ItemRequeued) == []


def test_going_away_retracts_pending_offers_without_counting_them_missed(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben", available=False)
    floor.call("c1")
    assert floor.offered_to("c1") == "ana"
    floor.engine.set_state("ben", Presence.AVAILABLE)
    floor.engine.set_state("ana", Presence.AWAY)
    floor.collect()
    assert [(e.item_id, e.reason) for e in floor.of(OfferRetracted)] == [("c1", "agent away")]
    assert floor.offered_to("c1") == "ben"
    assert floor.engine.agent("ana").missed_offers == 0


def test_logging_out_returns_assigned_work_to_the_queue(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.call("c1")
    floor.answer("c1")
    floor.engine.set_state("ana", Presence.OFFLINE)
    assert floor.engine.item("c1").status == "queued"
    assert [e.reason for e in floor.of(ItemRequeued)] == ["agent offline"]


def test_an_agent_can_log_in_as_not_ready(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana", available=False)
    floor.engine.set_state("ana", Presence.NOT_READY, reason="briefing")
    floor.call("c1")
    assert floor.state("ana") is Presence.NOT_READY
    assert floor.offered_to("c1") is None
