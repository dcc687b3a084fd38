"""The discrete-event simulator drives the real engine; M/M/c must come out as Erlang C says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpline.routing import Strategy, erlang
from helpline.routing.simulate import SimulationParams, SimulationProgress, run_simulation

DAY = 86_400.0


def test_mmc_through_the_real_engine_reproduces_erlang_c() -> None:
    """100 calls per 30 minutes, AHT 180 s, 14 agents: Erlang C says SL(20 s) 88.8 %, ASA 7.8 s.

    Sample: 60 simulated days — about 288,000 calls — after a 1-hour warm-up, seed 2024.

    Tolerance: we ran this exact scenario for 40 independent seeds (100–139). The estimates'
    means matched Erlang C (SL 88.80 % vs 88.84 %, ASA 7.89 s vs 7.84 s, P(wait) 17.43 % vs
    17.41 %, occupancy 71.44 % vs 71.43 %) and their standard deviations were σ(SL) = 0.34 pp,
    σ(ASA) = 0.38 s, σ(P(wait)) = 0.38 pp, σ(occupancy) = 0.21 pp. Calls in one busy spell wait
    together, so these are wider than binomial. We allow about 4σ: ±1.4 pp, ±1.5 s, ±1.5 pp,
    ±1.0 pp; a correct engine fails that with probability below 1e-4 for any seed (this seed:
    89.05 %, 7.71 s, 17.10 %, 71.30 %), while an engine that served calls out of order, left an
    agent idle with calls waiting or lost calls would fall outside.
    """
    params = SimulationParams.per_interval(
        100,
        1800,
        mean_handle_seconds=180,
        agents=14,
        duration_seconds=60 * DAY,
        warmup_seconds=3600,
        sl_threshold_seconds=20,
        seed=2024,
    )
    result = run_simulation(params)
    theory = erlang.erlang_c(10.0, 14, aht_seconds=180, target_seconds=20)

    assert result.offered > 280_000
    assert result.answered == result.offered and result.abandoned == 0
    assert result.service_level == pytest.approx(theory.service_level, abs=0.014)
    assert result.asa_seconds == pytest.approx(theory.asa_seconds, abs=1.5)
    assert result.waited_share == pytest.approx(theory.probability_of_waiting, abs=0.015)
    assert result.occupancy == pytest.approx(theory.occupancy, abs=0.010)
    assert result.erlang_c == theory


def test_longest_idle_shares_work_fairly_between_identical_agents() -> None:
    """10,000 calls to 10 identical agents at 60 % occupancy: each gets 10 % ± 1 pp.

    (Observed spread with this seed: about ±0.3 pp. The counts cannot be exactly equal: handle
    times are random, and longest-idle equalises idle time, not the number of calls.)
    """
    params = SimulationParams(
        arrivals_per_hour=120, mean_handle_seconds=180, agents=10, duration_seconds=10_050 / 120 * 3600, seed=11
    )
    result = run_simulation(params)
    assert result.answered >= 10_000
    shares = [count / result.answered for count in result.answered_by_agent.values()]
    assert len(shares) == 10
    assert all(0.09 <= share <= 0.11 for share in shares), shares


def test_abandons_count_against_the_service_level() -> None:
    params = SimulationParams(
        arrivals_per_hour=220,
        mean_handle_seconds=180,
        agents=11,
        duration_seconds=2 * DAY,
        mean_patience_seconds=60,
        seed=3,
    )
    result = run_simulation(params)
    assert result.abandoned > 0
    assert result.offered == result.answered + result.abandoned
    assert result.abandon_rate == pytest.approx(result.abandoned / result.offered)
    assert result.service_level == pytest.approx(result.answered_within_threshold / result.offered)
    assert result.service_level < result.service_level_of_answered
    assert "abandon counts against" in result.sl_definition


def test_wrap_up_lowers_the_service_level_and_raises_occupancy() -> None:
    base = dict(arrivals_per_hour=180, mean_handle_seconds=180, agents=12, duration_seconds=3 * DAY, seed=5)
    plain = run_simulation(SimulationParams(**base))
    with_wrap_up = run_simulation(SimulationParams(**base, wrap_up_seconds=30))
    assert with_wrap_up.service_level < plain.service_level
    assert with_wrap_up.occupancy > plain.occupancy


def test_skills_split_over_several_queues_costs_service_level() -> None:
    """Four queues, each agent skilled for one: four small pools do worse than one big pool."""
    base = dict(arrivals_per_hour=200, mean_handle_seconds=180, agents=12, duration_seconds=3 * DAY, seed=9)
    pooled = run_simulation(SimulationParams(**base, queues=4))
    split = run_simulation(SimulationParams(**base, queues=4, queues_per_agent=1))
    assert split.service_level < pooled.service_level
    assert split.erlang_c is None  # Erlang C does not describe split pools


def test_the_same_seed_gives_the_same_result_and_another_seed_another() -> None:
    params = SimulationParams(arrivals_per_hour=200, mean_handle_seconds=180, agents=12, duration_seconds=DAY, seed=1)
    assert run_simulation(params) == run_simulation(params)
    other = run_simulation(replace(params, seed=2))
    assert other.offered != run_simulation(params).offered


def test_progress_is_reported_for_a_progress_bar() -> None:
    seen: list[SimulationProgress] = []
    params = SimulationParams(
        arrivals_per_hour=200, mean_handle_seconds=180, agents=12, duration_seconds=DAY, strategy=Strategy.ROUND_ROBIN
    )
    result = run_simulation(params, progress=seen.append)
    assert 100 <= len(seen) <= 260
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[-1].answered == result.answered and not seen[-1].draining


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agents": 0}, "agents"),
        ({"arrivals_per_hour": 0}, "arrivals_per_hour"),
        ({"queues": 2, "queues_per_agent": 3}, "queues_per_agent"),
        ({"mean_patience_seconds": -1}, "mean_patience_seconds"),
        ({"warmup_seconds": 10_000}, "warmup_seconds"),
    ],
)
def test_impossible_parameters_are_refused(change: dict, field: str) -> None:
    base = dict(arrivals_per_hour=100, mean_handle_seconds=180, agents=5, duration_seconds=3600)
    with pytest.raises(ValueError, match=field):
        run_simulation(SimulationParams(**{**base, **change}))
