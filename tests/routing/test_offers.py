"""Offers: one agent at a time, accept/decline/timeout, missed-offer pause, push, pull, manual."""

from __future__ import annotations

import pytest

from helpline.routing import (
    MISSED_OFFERS_REASON,
    Capacity,
    EngineSettings,
    InvalidStateChange,
    OfferConflict,
    Presence,
)
from helpline.routing.events import (
    ItemAssigned,
    ItemTransferred,
    OfferAccepted,
    OfferDeclined,
    OfferMade,
    OfferTimedOut,
)
from tests.routing.floor import Floor


def test_a_new_item_is_offered_to_one_agent_only(floor: Floor) -> None:
    floor.queue()
    for name in ("ana", "ben", "cem"):
        floor.agent(name)
    offer = floor.call("c1")
    assert offer is not None and offer.agent_id == "ana"  # longest idle: the first to become available
    assert floor.offers_made() == [("c1", "ana")]
    assert [floor.engine.agent(a).offers for a in ("ana", "ben", "cem")] == [("c1",), (), ()]


def test_accept_makes_the_agent_busy_and_records_the_speed_of_answer(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana", available=False)
    floor.call("c1")
    floor.at(12)
    floor.engine.set_state("ana", Presence.AVAILABLE)
    floor.engine.accept("c1", "ana")
    accepted = floor.of(OfferAccepted)
    assert [(e.item_id, e.agent_id, e.waited_seconds) for e in accepted] == [("c1", "ana", 12)]
    assert floor.state("ana") is Presence.BUSY


def test_accept_of_someone_elses_offer_is_a_conflict(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben")
    floor.call("c1")
    with pytest.raises(OfferConflict, match="belongs to another agent"):
        floor.engine.accept("c1", "ben")


def test_accept_after_the_offer_timed_out_is_a_conflict(floor: Floor) -> None:
    floor.queue(offer_timeout_seconds=20)
    floor.agent("ana")
    floor.agent("ben")
    floor.call("c1")
    floor.clock.set(20)  # no tick: the accept itself must notice the offer expired
    with pytest.raises(OfferConflict, match="belongs to another agent"):
        floor.engine.accept("c1", "ana")  # it has gone on to ben
    floor.engine.withdraw("c1")
    with pytest.raises(OfferConflict, match="expired or was withdrawn"):
        floor.engine.accept("c1", "ben")


def test_accept_of_an_old_attempt_is_a_conflict(floor: Floor) -> None:
    floor.queue(offer_timeout_seconds=20)
    floor.agent("ana")
    floor.call("c1")
    floor.at(20)  # timed out; ana is the only agent, so it comes back to her as attempt 2
    assert floor.engine.offer_for("c1") is not None
    with pytest.raises(OfferConflict, match="offer 1 of work item 'c1' expired; the current one is 2"):
        floor.engine.accept("c1", "ana", attempt=1)
    floor.engine.accept("c1", "ana", attempt=2)


def test_a_declined_offer_goes_to_the_next_agent_and_not_back(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben")
    floor.call("c1")
    floor.engine.decline("c1", "ana")
    floor.collect()
    assert floor.offered_to("c1") == "ben"
    floor.engine.decline("c1", "ben")
    floor.collect()
    # Everybody refused and nobody else can take it: it goes round again rather than wait forever.
    assert floor.offered_to("c1") == "ana"
    assert [(e.item_id, e.agent_id) for e in floor.of(OfferDeclined)] == [("c1", "ana"), ("c1", "ben")]


def test_a_declined_item_waits_for_a_busy_colleague_rather_than_return_to_the_decliner(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben")
    floor.call("c0")
    floor.answer("c0")  # ana is busy now
    floor.call("c1")
    assert floor.offered_to("c1") == "ben"
    floor.engine.decline("c1", "ben")
    assert floor.offered_to("c1") is None  # ana could take it once she is free; ben refused
    floor.engine.complete("c0")
    floor.collect()
    assert floor.offered_to("c1") == "ana"


def test_a_timed_out_offer_goes_to_the_next_agent_at_the_configured_second(floor: Floor) -> None:
    floor.queue(offer_timeout_seconds=20)
    floor.agent("ana")
    floor.agent("ben")
    floor.call("c1")
    floor.at(19.999)
    assert floor.offered_to("c1") == "ana"
    floor.at(20)
    assert floor.offered_to("c1") == "ben"
    assert [(e.agent_id, e.at, e.missed_in_row) for e in floor.of(OfferTimedOut)] == [("ana", 20, 1)]


def test_k_missed_offers_in_a_row_pause_the_agent() -> None:
    floor = Floor(EngineSettings(max_missed_offers=3))
    floor.queue(offer_timeout_seconds=10)
    floor.agent("ana")
    for n in range(3):
        floor.call(f"c{n}")
        assert floor.offered_to(f"c{n}") == "ana"
        floor.at(10 * (n + 1))
        if n < 2:
            floor.engine.withdraw(f"c{n}")  # the caller hung up; ana is offered the next one
    assert floor.state("ana") is Presence.NOT_READY
    assert floor.engine.agent("ana").reason == MISSED_OFFERS_REASON
    assert floor.offered_to("c2") is None


def test_an_answered_offer_resets_the_missed_count() -> None:
    floor = Floor(EngineSettings(max_missed_offers=2))
    floor.queue(offer_timeout_seconds=10)
    floor.agent("ana")
    floor.call("c1")
    floor.at(10)  # missed once, offered again
    floor.engine.accept("c1", "ana")
    assert floor.engine.agent("ana").missed_offers == 0
    floor.engine.complete("c1")
    floor.call("c2")
    floor.at(20)  # missed once more: one in a row, not two
    assert floor.state("ana") is Presence.AVAILABLE


def test_declines_do_not_count_as_missed_unless_configured() -> None:
    floor = Floor(EngineSettings(max_missed_offers=1))
    floor.queue()
    floor.agent("ana")
    floor.call("c1")
    floor.engine.decline("c1", "ana")
    assert floor.state("ana") is Presence.AVAILABLE

    strict = Floor(EngineSettings(max_missed_offers=1, declines_count_as_missed=True))
    strict.queue()
    strict.agent("ana")
    strict.call("c1")
    strict.engine.decline("c1", "ana")
    assert strict.state("ana") is Presence.NOT_READY


def test_push_mode_offers_waiting_work_as_soon_as_an_agent_becomes_available(floor: Floor) -> None:
    floor.queue()
    floor.call("c1")
    floor.agent("ana")
    assert floor.offered_to("c1") == "ana"


def test_pull_mode_get_next_item_takes_the_best_item_of_all_the_agents_queues(floor: Floor) -> None:
    floor.queue("email", push=False, seconds_per_priority_level=60)
    floor.queue("vip-email", push=False, seconds_per_priority_level=60)
    floor.agent("ana", capacity=Capacity(limits={"email": 8}))
    floor.call("old", "email", channel="email")  # t=0, priority 0: key 0
    floor.at(100)
    floor.call("urgent", "vip-email", channel="email", priority=2)  # t=100, key 100-120 = -20
    floor.call("new", "email", channel="email")  # t=100, key 100
    assert floor.offers_made() == []  # pull queues never push

    assert floor.engine.next_item("ana") == "urgent"
    assert floor.engine.next_item("ana") == "old"
    assert floor.engine.next_item("ana") == "new"
    assert floor.engine.next_item("ana") is None
    assert [e.via for e in floor.of(ItemAssigned)] == ["pull", "pull", "pull"]


def test_pull_respects_capacity(floor: Floor) -> None:
    floor.queue(push=False)
    floor.agent("ana", capacity=Capacity(limits={"chat": 1}))
    floor.call("c1", channel="chat")
    floor.call("c2", channel="chat")
    assert floor.engine.next_item("ana") == "c1"
    assert floor.engine.next_item("ana") is None


def test_manual_assignment_bypasses_skills_and_capacity_and_retracts_a_pending_offer(floor: Floor) -> None:
    floor.queue(skills={"billing": 3})
    floor.agent("ana", skills={"billing": 5})
    floor.agent("novice")  # no billing skill at all
    floor.call("c0")
    floor.call("c1")
    assert floor.offered_to("c0") == "ana"
    floor.engine.assign("c0", "novice", note="training call")
    floor.engine.assign("c1", "novice")  # over capacity: a supervisor decided
    floor.collect()
    assert floor.engine.agent("novice").items == ("c0", "c1")
    assert [(e.item_id, e.via, e.note) for e in floor.of(ItemAssigned)] == [
        ("c0", "manual", "training call"),
        ("c1", "manual", None),
    ]
    assert floor.engine.agent("ana").offers == ()


def test_transfer_to_an_agent_moves_the_work(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben", available=False)
    floor.engine.set_state("ben", Presence.NOT_READY, reason="back office")
    floor.call("c1")
    floor.answer("c1")
    floor.engine.assign("c1", "ben", note="needs a refund")
    assigned = floor.of(ItemAssigned)[-1]
    assert (assigned.via, assigned.from_agent_id, assigned.waited_seconds) == ("transfer", "ana", None)
    assert floor.engine.agent("ana").items == ()
    assert floor.engine.agent("ben").items == ("c1",)


def test_transfer_to_a_queue_keeps_the_items_age() -> None:
    floor = Floor(skills=("refunds",))
    floor.queue()
    floor.queue("refunds", skills={"refunds": 1})
    floor.agent("ana")
    floor.call("c1")
    floor.answer("c1")
    floor.at(300)
    floor.engine.transfer("c1", "refunds", note="refund over 100 EUR")
    floor.agent("rita", skills={"refunds": 2})
    transferred = floor.of(ItemTransferred)
    assert [(e.from_queue_id, e.to_queue_id, e.from_agent_id) for e in transferred] == [("support", "refunds", "ana")]
    assert floor.offered_to("c1") == "rita"
    assert floor.engine.item("c1").arrived_at == 0


def test_manual_assignment_needs_a_logged_in_agent(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana", available=False)
    floor.call("c1")
    with pytest.raises(InvalidStateChange):
        floor.engine.assign("c1", "ana")


def test_withdrawing_an_offered_item_frees_the_agent(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.call("c1")
    floor.call("c2")
    floor.engine.withdraw("c1", reason="abandoned")
    floor.collect()
    assert floor.offered_to("c2") == "ana"
    assert [e.item_id for e in floor.of(OfferMade)] == ["c1", "c2"]


def test_next_deadline_tells_the_caller_when_to_tick(floor: Floor) -> None:
    floor.queue(offer_timeout_seconds=20)
    floor.agent("ana")
    assert floor.engine.next_deadline() is None
    floor.call("c1")
    assert floor.engine.next_deadline() == 20
    floor.engine.accept("c1", "ana")
    assert floor.engine.next_deadline() is None  # the answered offer's timer is void
