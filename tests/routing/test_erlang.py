"""Erlang C: the textbook figures, stability for large centers, staffing for a target."""

from __future__ import annotations

import math

import pytest

from helpline.routing import erlang


def test_ten_erlangs_on_fourteen_agents_gives_the_textbook_figures() -> None:
    traffic = erlang.traffic_erlangs(calls=100, interval_seconds=1800, aht_seconds=180)
    assert traffic == pytest.approx(10.0)
    figures = erlang.erlang_c(traffic, 14, aht_seconds=180, target_seconds=20)
    assert figures.probability_of_waiting == pytest.approx(0.1741, abs=5e-4)
    assert figures.service_level == pytest.approx(0.8884, abs=5e-4)
    assert figures.asa_seconds == pytest.approx(7.84, abs=0.01)
    assert figures.occupancy == pytest.approx(10 / 14)


def test_erlang_b_agrees_with_the_factorial_formula_where_that_one_still_works() -> None:
    for traffic, agents in ((2.0, 3), (10.0, 14), (42.5, 50)):
        terms = [traffic**k / math.factorial(k) for k in range(agents + 1)]
        assert erlang.erlang_b(traffic, agents) == pytest.approx(terms[-1] / sum(terms), rel=1e-12)
    assert erlang.erlang_b(2, 3) == pytest.approx(4 / 19)  # (8/6) / (1 + 2 + 2 + 8/6)
    assert erlang.erlang_b(5, 0) == 1.0


def test_large_centers_compute_without_overflow() -> None:
    # 170! overflows a float; the recurrence does not care.
    figures = erlang.erlang_c(2000.0, 2050, aht_seconds=300, target_seconds=20)
    assert 0 < figures.probability_of_waiting < 1
    assert 0 < figures.service_level <= 1
    assert math.isfinite(figures.asa_seconds)


def test_an_understaffed_queue_waits_forever() -> None:
    assert erlang.probability_of_waiting(10, 10) == 1.0
    assert erlang.service_level(10, 9, 180, 20) == 0.0
    assert erlang.average_speed_of_answer(10, 10, 180) == math.inf


def test_service_level_rises_and_asa_falls_with_every_agent() -> None:
    levels = [erlang.service_level(10, n, 180, 20) for n in range(11, 25)]
    speeds = [erlang.average_speed_of_answer(10, n, 180) for n in range(11, 25)]
    assert levels == sorted(levels)
    assert speeds == sorted(speeds, reverse=True)


def test_agents_needed_for_80_in_20() -> None:
    needed = erlang.agents_needed(10, 180, target_service_level=0.8, target_seconds=20)
    assert erlang.service_level(10, needed, 180, 20) >= 0.8
    assert erlang.service_level(10, needed - 1, 180, 20) < 0.8
    assert needed == 14  # 13 agents reach 79.6 %


def test_agents_needed_respects_a_maximum_occupancy() -> None:
    assert erlang.agents_needed(100, 180, target_service_level=0.5, target_seconds=20, max_occupancy=0.8) >= 125


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang.erlang_c(-1, 5, 180, 20), "traffic"),
        (lambda: erlang.erlang_c(float("inf"), 5, 180, 20), "traffic"),
        (lambda: erlang.service_level(10, 14, 0, 20), "aht_seconds"),
        (lambda: erlang.traffic_erlangs(10, 0, 180), "interval_seconds"),
        (lambda: erlang.agents_needed(10, 180, target_service_level=1.0, target_seconds=20), "target_service_level"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assert callable(call)
        call()
