"""Queue rules: aging, bullseye expansion, overflow, sticky agent, strategies, capacity, bad config."""

from __future__ import annotations

import pytest

from helpline.routing import (
    AgentProfile,
    Capacity,
    Expansion,
    Presence,
    QueueConfig,
    QueueFull,
    RoutingConfigError,
    Strategy,
)
from helpline.routing.events import ItemCriteriaExpanded, ItemOverflowed
from tests.routing.floor import Floor

# ---------------------------------------------------------------- aging


@pytest.mark.parametrize(
    ("high_arrives_at", "first_offered"),
    [(29.0, "high"), (30.0, "low"), (31.0, "low")],
)
def test_an_old_low_priority_item_beats_a_new_high_one_only_after_the_configured_seconds(
    floor: Floor, high_arrives_at: float, first_offered: str
) -> None:
    # 3 priority levels × 10 s: the high item is worth 30 s of extra waiting.
    floor.queue(seconds_per_priority_level=10)
    floor.call("low", priority=0)  # t = 0
    floor.at(high_arrives_at)
    floor.call("high", priority=3)
    floor.at(100)
    floor.agent("ana")
    # Ties (exactly 30 s) go to the item that arrived first.
    assert floor.offered_to(first_offered) == "ana"


def test_priority_order_never_needs_resorting_as_items_age(floor: Floor) -> None:
    floor.queue(seconds_per_priority_level=5)
    arrivals = [(0, 0), (2, 1), (4, 3), (6, 0), (8, 2)]  # (time, priority)
    for n, (at, priority) in enumerate(arrivals):
        floor.at(at)
        floor.call(f"c{n}", priority=priority)
    floor.at(1000)
    floor.agent("ana", capacity=Capacity(limits={"voice": 5}, mixing_allowed=True))
    # effective key = arrival - 5 × priority: c2 -11, c4 -2, c0 0, c1 -3 → c2, c1, c4, c0, c3
    assert [item for item, _ in floor.offers_made()] == ["c2", "c1", "c4", "c0", "c3"]


# ---------------------------------------------------------------- bullseye


def test_bullseye_lowers_the_minimum_level_at_the_configured_second() -> None:
    floor = Floor()
    floor.queue(skills={"billing": 4}, expansions=(Expansion(after_seconds=30, lower_levels_by=1),))
    floor.agent("junior", skills={"billing": 3})
    floor.call("c1")
    floor.at(29.999)
    assert floor.offered_to("c1") is None
    floor.at(30)
    assert floor.offered_to("c1") == "junior"
    assert [(e.item_id, e.stage, e.at) for e in floor.of(ItemCriteriaExpanded)] == [("c1", 1, 30)]


def test_bullseye_drops_the_language_requirement_in_a_later_ring() -> None:
    floor = Floor()
    floor.queue(
        skills={"billing": 4},
        languages={"de"},
        expansions=(Expansion(after_seconds=30, lower_levels_by=1), Expansion(after_seconds=60, drop_languages=True)),
    )
    floor.agent("english-speaker", skills={"billing": 5}, languages={"en"})
    floor.call("c1")
    floor.at(59.999)
    assert floor.offered_to("c1") is None
    floor.at(60)
    assert floor.offered_to("c1") == "english-speaker"


def test_a_qualified_agent_is_preferred_only_by_availability_not_by_ring(floor: Floor) -> None:
    floor.queue(skills={"billing": 4}, expansions=(Expansion(after_seconds=30, lower_levels_by=1),))
    floor.agent("junior", skills={"billing": 3})
    floor.call("c1")
    floor.at(10)
    floor.agent("senior", skills={"billing": 5})
    assert floor.offered_to("c1") == "senior"  # the senior qualifies from ring 0 on


# ---------------------------------------------------------------- overflow


def test_overflow_after_n_seconds_to_another_queue() -> None:
    floor = Floor(skills=("billing", "general"))
    floor.queue("general", skills={"general": 1})
    floor.queue("billing", skills={"billing": 1}, overflow_queue_id="general", overflow_after_seconds=45)
    floor.agent("gus", skills={"general": 1})
    floor.call("c1", "billing")
    floor.at(44.999)
    assert floor.offered_to("c1") is None
    floor.at(45)
    assert floor.offered_to("c1") == "gus"
    assert [(e.from_queue_id, e.to_queue_id, e.cause, e.at) for e in floor.of(ItemOverflowed)] == [
        ("billing", "general", "wait", 45)
    ]


def test_overflow_when_full() -> None:
    floor = Floor(skills=("billing", "general"))
    floor.queue("general", skills={"general": 1})
    floor.queue("billing", skills={"billing": 1}, max_size=2, overflow_queue_id="general", overflow_when_full=True)
    for n in range(3):
        floor.call(f"c{n}", "billing")
    assert [floor.engine.item(f"c{n}").queue_id for n in range(3)] == ["billing", "billing", "general"]
    assert [(e.item_id, e.cause) for e in floor.of(ItemOverflowed)] == [("c2", "full")]


def test_a_full_queue_without_overflow_refuses_new_items(floor: Floor) -> None:
    floor.queue(max_size=1)
    floor.call("c1")
    with pytest.raises(QueueFull, match="'support' is full"):
        floor.call("c2")


def test_an_item_being_offered_overflows_only_if_the_offer_is_not_answered() -> None:
    floor = Floor(skills=("general",))
    floor.queue("general", skills={"general": 1})
    floor.queue("billing", overflow_queue_id="general", overflow_after_seconds=10, offer_timeout_seconds=15)
    floor.agent("ana")
    floor.agent("gus", skills={"general": 1}, available=False)
    floor.call("c1", "billing")
    floor.at(12)  # overflow time passes while ana is being offered the call
    assert floor.engine.item("c1").queue_id == "billing"
    floor.engine.set_state("gus", Presence.AVAILABLE)
    floor.at(15)  # ana missed it: now it overflows
    assert floor.engine.item("c1").queue_id == "general"
    assert floor.offered_to("c1") == "gus"


# ---------------------------------------------------------------- sticky agent


def test_the_contacts_last_agent_gets_the_first_chance_for_n_seconds_then_anyone(floor: Floor) -> None:
    floor.queue(sticky_seconds=30)
    floor.agent("ana")
    floor.agent("ben")
    floor.call("busy-ana")
    floor.answer("busy-ana")  # ana is on a call
    floor.call("c1", last_agent_id="ana")
    floor.at(29.999)
    assert floor.offered_to("c1") is None  # ben is free, but this is ana's customer
    floor.at(30)
    assert floor.offered_to("c1") == "ben"


def test_the_sticky_agent_gets_the_item_as_soon_as_they_are_free(floor: Floor) -> None:
    floor.queue(sticky_seconds=30)
    floor.agent("ana")
    floor.agent("ben")
    floor.call("busy-ana")
    floor.answer("busy-ana")
    floor.call("c1", last_agent_id="ana")
    floor.at(10)
    floor.engine.complete("busy-ana")
    floor.collect()
    assert floor.offered_to("c1") == "ana"


def test_no_stickiness_to_an_agent_who_is_not_logged_in(floor: Floor) -> None:
    floor.queue(sticky_seconds=30)
    floor.agent("ana", available=False)
    floor.agent("ben")
    floor.call("c1", last_agent_id="ana")
    assert floor.offered_to("c1") == "ben"


# ---------------------------------------------------------------- strategies


def test_least_occupied_picks_the_agent_with_the_lowest_load(floor: Floor) -> None:
    floor.queue(strategy=Strategy.LEAST_OCCUPIED)
    chat3 = Capacity(limits={"chat": 3})
    floor.agent("ana", capacity=chat3)
    floor.agent("ben", capacity=chat3)
    floor.engine.assign(floor_call(floor, "c1"), "ana")
    floor.engine.assign(floor_call(floor, "c2"), "ana")
    floor.call("c3", channel="chat")
    assert floor.offered_to("c3") == "ben"


def floor_call(floor: Floor, item_id: str) -> str:
    floor.engine.configure_queue(QueueConfig(id="parked", push=False))
    floor.call(item_id, "parked", channel="chat")
    return item_id


def test_round_robin_takes_agents_in_turn(floor: Floor) -> None:
    floor.queue(strategy=Strategy.ROUND_ROBIN)
    chat = Capacity(limits={"chat": 10})
    for name in ("ana", "ben", "cem"):
        floor.agent(name, capacity=chat)
    for n in range(7):
        floor.call(f"c{n}", channel="chat")
        floor.answer(f"c{n}")
    assert [agent for _, agent in floor.offers_made()] == ["ana", "ben", "cem", "ana", "ben", "cem", "ana"]


def test_skills_best_match_prefers_the_most_proficient(floor: Floor) -> None:
    floor.queue(skills={"billing": 2}, strategy=Strategy.SKILLS_BEST_MATCH)
    floor.agent("ana", skills={"billing": 2})
    floor.agent("ben", skills={"billing": 5})
    floor.agent("cem", skills={"billing": 4})
    floor.call("c1")
    assert floor.offered_to("c1") == "ben"


def test_longest_idle_picks_the_agent_free_for_longest(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.at(5)
    floor.agent("ben")
    floor.call("c1")
    floor.answer("c1")  # ana
    floor.at(50)
    floor.engine.complete("c1")  # ana idle since 50, ben since 5
    floor.call("c2")
    assert floor.offered_to("c2") == "ben"


# ---------------------------------------------------------------- capacity and mixing


def test_an_agent_gets_up_to_capacity_per_channel() -> None:
    floor = Floor()
    floor.queue()
    floor.agent("ana", capacity=Capacity(limits={"voice": 1, "chat": 3, "email": 8}))
    for n in range(4):
        floor.call(f"chat{n}", channel="chat")
    assert floor.engine.agent("ana").offers == ("chat0", "chat1", "chat2")
    assert floor.offered_to("chat3") is None


def test_no_chat_during_a_call_and_no_call_during_chats_unless_mixing_is_allowed() -> None:
    floor = Floor()
    floor.queue()
    floor.agent("ana", capacity=Capacity(limits={"voice": 1, "chat": 3}))
    floor.call("call")
    floor.answer("call")
    floor.call("chat", channel="chat")
    assert floor.offered_to("chat") is None  # on a call
    floor.engine.complete("call")
    floor.collect()
    assert floor.offered_to("chat") == "ana"
    floor.answer("chat")
    floor.call("call2")
    assert floor.offered_to("call2") is None  # chatting

    mixing = Floor()
    mixing.queue()
    mixing.agent("ana", capacity=Capacity(limits={"voice": 1, "chat": 3}, mixing_allowed=True))
    mixing.call("call")
    mixing.answer("call")
    mixing.call("chat", channel="chat")
    assert mixing.offered_to("chat") == "ana"


def test_a_channel_without_capacity_is_never_offered(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana", capacity=Capacity(limits={"email": 8}))
    floor.call("c1", channel="voice")
    assert floor.offered_to("c1") is None


# ---------------------------------------------------------------- invalid configuration


def refusal(action: object) -> RoutingConfigError:
    with pytest.raises(RoutingConfigError) as refused:
        assert callable(action)
        action()
    return refused.value


def test_an_overflow_chain_that_loops_back_is_refused(floor: Floor) -> None:
    floor.queue("a")
    floor.queue("b", overflow_queue_id="a", overflow_after_seconds=30)
    floor.queue("c", overflow_queue_id="b", overflow_after_seconds=30)
    error = refusal(lambda: floor.queue("a", overflow_queue_id="c", overflow_after_seconds=30))
    assert error.field == "overflow_queue_id"
    assert "overflow loops back: a → c → b → a" in str(error)
    assert floor.engine.queue("a").id == "a"  # nothing changed
    error = refusal(lambda: floor.queue("d", overflow_queue_id="d", overflow_after_seconds=1))
    assert "cannot overflow to itself" in str(error)
    assert refusal(lambda: floor.queue("e", overflow_queue_id="nowhere", overflow_when_full=True)).field == (
        "overflow_queue_id"
    )


def test_capacities_below_zero_are_refused(floor: Floor) -> None:
    error = refusal(lambda: floor.agent("ana", capacity=Capacity(limits={"voice": 1, "chat": -1})))
    assert error.field == "capacity.limits.chat"
    assert "must be 0 or more, not -1" in str(error)


def test_skills_that_do_not_exist_are_refused(floor: Floor) -> None:
    assert refusal(lambda: floor.queue(skills={"astrology": 2})).field == "skills.astrology"
    assert refusal(lambda: floor.agent("ana", skills={"astrology": 2})).field == "skills.astrology"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"skills": {"billing": 6}}, "skills.billing"),
        ({"skills": {"billing": 0}}, "skills.billing"),
        ({"max_size": 0}, "max_size"),
        ({"offer_timeout_seconds": 0}, "offer_timeout_seconds"),
        ({"wrap_up_seconds": -5}, "wrap_up_seconds"),
        ({"sticky_seconds": float("nan")}, "sticky_seconds"),
        ({"overflow_after_seconds": 30}, "overflow_queue_id"),
        ({"expansions": (Expansion(60), Expansion(30))}, "expansions[1].after_seconds"),
        ({"skills": {"billing": 3}, "expansions": (Expansion(30, drop_skills={"x"}),)}, "expansions[0].drop_skills"),
    ],
)
def test_invalid_queue_settings_are_refused_naming_the_field(floor: Floor, config: dict, field: str) -> None:
    assert refusal(lambda: floor.queue(**config)).field == field


def test_a_proficiency_outside_1_to_5_is_refused(floor: Floor) -> None:
    profile = AgentProfile(id="ana", skills={"billing": 7})
    assert refusal(lambda: floor.engine.add_agent(profile)).field == "skills.billing"


# ---------------------------------------------------------------- what the wallboard reads


def test_queue_and_agent_views_for_the_wallboard(floor: Floor) -> None:
    floor.queue()
    floor.agent("ana")
    floor.agent("ben", available=False)
    floor.engine.set_state("ben", Presence.NOT_READY, reason="lunch")
    floor.call("c1")
    floor.at(30)
    floor.call("c2")
    floor.at(45)
    view = floor.engine.queue("support")
    assert (view.waiting, view.offered, view.longest_wait_seconds) == (2, 1, 45)
    assert view.agents == {Presence.AVAILABLE: 1, Presence.NOT_READY: 1}
    ana = floor.engine.agent("ana")
    assert (ana.state, ana.offers, ana.load) == (Presence.AVAILABLE, ("c1",), {"voice": 1})
    ben = floor.engine.agent("ben")
    assert (ben.state, ben.reason) == (Presence.NOT_READY, "lunch")
