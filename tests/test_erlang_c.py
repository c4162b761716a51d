"""Erlang C (tasks.staffing): the published worked examples, exact for hundreds and
thousands of agents, monotone, no agents for no contacts, and bad input refused."""

import math

import pytest

from tasks import staffing
from tasks.staffing import (
    StaffingInputError,
    agents_needed,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    service_level,
)


def textbook_erlang_c(traffic: float, agents: int) -> float:
    """The formula as printed, with powers and factorials: right for small counts only."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    bottom = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


# --- Worked examples ------------------------------------------------------------------------------


def test_a_hundred_calls_a_half_hour_at_three_minutes_need_fourteen_agents_for_80_in_20_seconds():
    """Call Centre Helper's worked example: 100 calls in 30 minutes (200 an hour), 180 s
    handle time, 80% answered within 20 s: 10 Erlangs, 14 agents, 17.4% wait, 88.8% in time,
    71.4% occupancy, before shrinkage."""
    result = agents_needed(arrivals_per_hour=200, aht_seconds=180, target_seconds=20, target_share=0.8)

    assert result.agents == 14
    assert result.probability_wait == pytest.approx(0.1741, abs=5e-5)
    assert result.service_level == pytest.approx(0.8884, abs=5e-5)
    assert result.service_level >= 0.8
    assert result.occupancy == pytest.approx(0.7143, abs=5e-5)
    assert result.average_speed_of_answer_seconds == pytest.approx(7.84, abs=5e-3)


def test_thirteen_agents_fall_short_of_that_target_so_fourteen_is_the_fewest():
    below = service_level(arrivals_per_hour=200, aht_seconds=180, agents=13, target_seconds=20)

    assert below == pytest.approx(0.7956, abs=5e-5)
    assert below < 0.8


def test_the_360_calls_a_half_hour_example_with_55_agents():
    """The widely copied step-by-step Erlang C explanation: 360 calls per half hour, 4-minute
    calls, 55 agents, a 15-second target. Worked through: 48 Erlangs, 87.3% occupancy, 23.9%
    wait, 8.2 s average speed of answer, 84.6% answered within 15 s."""
    call = {"arrivals_per_hour": 720, "aht_seconds": 240, "agents": 55}

    assert staffing.traffic_intensity(arrivals_per_hour=720, aht_seconds=240) == pytest.approx(48)
    assert occupancy(**call) == pytest.approx(0.8727, abs=5e-5)
    assert erlang_c(**call) == pytest.approx(0.2387, abs=5e-5)
    assert average_speed_of_answer(**call) == pytest.approx(8.18, abs=5e-3)
    assert service_level(**call, target_seconds=15) == pytest.approx(0.8459, abs=5e-5)


def test_55_agents_are_also_the_fewest_that_answer_80_percent_of_those_calls_in_15_seconds():
    result = agents_needed(arrivals_per_hour=720, aht_seconds=240, target_seconds=15, target_share=0.8)

    assert result.agents == 55
    assert service_level(arrivals_per_hour=720, aht_seconds=240, agents=54, target_seconds=15) < 0.8


@pytest.mark.parametrize("traffic, agents", [(0.5, 1), (2.0, 3), (10.0, 14), (48.0, 55), (80.0, 95)])
def test_the_erlang_b_recurrence_agrees_with_the_textbook_formula_where_that_one_still_works(traffic, agents):
    ours = erlang_c(arrivals_per_hour=traffic * 3600 / 300, aht_seconds=300, agents=agents)

    assert ours == pytest.approx(textbook_erlang_c(traffic, agents), rel=1e-9)


# --- Large queues ---------------------------------------------------------------------------------


def test_hundreds_of_agents_are_computed_where_the_textbook_formula_overflows():
    with pytest.raises(OverflowError):
        textbook_erlang_c(480.0, 520)

    wait = erlang_c(arrivals_per_hour=5760, aht_seconds=300, agents=520)

    assert 0 < wait < 1
    assert math.isfinite(wait)


def test_ten_thousand_contacts_an_hour_at_five_minutes_get_an_answer_just_above_the_traffic():
    result = agents_needed(arrivals_per_hour=10_000, aht_seconds=300, target_seconds=20, target_share=0.8)
    traffic = 10_000 * 300 / 3600

    assert traffic < result.agents < traffic * 1.1
    assert result.service_level >= 0.8
    assert service_level(arrivals_per_hour=10_000, aht_seconds=300, agents=result.agents - 1, target_seconds=20) < 0.8
    assert 0.9 < result.occupancy < 1


def test_the_largest_accepted_queue_with_a_very_strict_target_still_ends():
    result = agents_needed(arrivals_per_hour=120_000, aht_seconds=300, target_seconds=0, target_share=0.999_999_999)

    assert 10_000 < result.agents < 11_000
    assert result.service_level >= 0.999_999_999


def test_erlang_b_stays_a_probability_for_thousands_of_agents():
    for agents in (500, 1000, 5000):
        blocked = erlang_b(traffic=agents * 0.95, agents=agents)
        assert 0 < blocked < 1


# --- Monotone -------------------------------------------------------------------------------------


def test_more_agents_answer_more_contacts_in_time_and_make_fewer_wait():
    levels, waits, speeds = [], [], []
    for agents in range(101, 160):
        call = {"arrivals_per_hour": 1200, "aht_seconds": 300, "agents": agents}
        levels.append(service_level(**call, target_seconds=30))
        waits.append(erlang_c(**call))
        speeds.append(average_speed_of_answer(**call))

    assert levels == sorted(levels)
    assert waits == sorted(waits, reverse=True)
    assert speeds == sorted(speeds, reverse=True)


def test_more_contacts_never_need_fewer_agents():
    needed = [
        agents_needed(arrivals_per_hour=arrivals, aht_seconds=300, target_seconds=20, target_share=0.8).agents
        for arrivals in range(0, 12_001, 250)
    ]

    assert needed == sorted(needed)
    assert needed[0] == 0 and needed[-1] > 1000


def test_a_stricter_target_never_needs_fewer_agents():
    by_share = [
        agents_needed(arrivals_per_hour=600, aht_seconds=240, target_seconds=20, target_share=share).agents
        for share in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
    ]
    by_seconds = [
        agents_needed(arrivals_per_hour=600, aht_seconds=240, target_seconds=seconds, target_share=0.8).agents
        for seconds in (120, 60, 30, 10, 0)
    ]

    assert by_share == sorted(by_share)
    assert by_seconds == sorted(by_seconds)


# --- No contacts ----------------------------------------------------------------------------------


def test_no_contacts_need_no_agents():
    result = agents_needed(arrivals_per_hour=0, aht_seconds=300, target_seconds=20, target_share=0.8)

    assert result.agents == 0
    assert result.service_level == 1.0
    assert result.probability_wait == 0.0
    assert result.occupancy == 0.0
    assert result.average_speed_of_answer_seconds == 0.0


def test_with_no_contacts_nobody_waits_whatever_the_staffing():
    assert erlang_c(arrivals_per_hour=0, aht_seconds=300, agents=0) == 0.0
    assert service_level(arrivals_per_hour=0, aht_seconds=300, agents=3, target_seconds=0) == 1.0
    assert occupancy(arrivals_per_hour=0, aht_seconds=300, agents=0) == 0.0


def test_a_trickle_of_contacts_needs_one_agent():
    result = agents_needed(arrivals_per_hour=0.25, aht_seconds=300, target_seconds=60, target_share=0.8)

    assert result.agents == 1


def test_the_api_shape_rounds_shares_to_four_decimals_and_seconds_to_two():
    shown = agents_needed(arrivals_per_hour=200, aht_seconds=180, target_seconds=20, target_share=0.8).as_dict()

    assert shown == {
        "agents": 14,
        "service_level": 0.8884,
        "occupancy": 0.7143,
        "probability_wait": 0.1741,
        "average_speed_of_answer_seconds": 7.84,
    }


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "agents",
    [10, 9, 0],
    ids=["as many agents as Erlangs", "fewer agents than Erlangs", "no agents"],
)
def test_agents_must_exceed_the_traffic(agents):
    with pytest.raises(StaffingInputError) as refused:
        erlang_c(arrivals_per_hour=200, aht_seconds=180, agents=agents)

    assert refused.value.field == "agents"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"arrivals_per_hour": -1}, "arrivals_per_hour"),
        ({"arrivals_per_hour": math.nan}, "arrivals_per_hour"),
        ({"arrivals_per_hour": math.inf}, "arrivals_per_hour"),
        ({"arrivals_per_hour": "200"}, "arrivals_per_hour"),
        ({"arrivals_per_hour": True}, "arrivals_per_hour"),
        ({"arrivals_per_hour": 2_000_000}, "arrivals_per_hour"),
        ({"arrivals_per_hour": 200_000, "aht_seconds": 300}, "arrivals_per_hour"),
        ({"aht_seconds": 0}, "aht_seconds"),
        ({"aht_seconds": -180}, "aht_seconds"),
        ({"aht_seconds": 100_000}, "aht_seconds"),
        ({"target_seconds": -1}, "target_seconds"),
        ({"target_seconds": math.nan}, "target_seconds"),
        ({"target_seconds": 100_000}, "target_seconds"),
        ({"target_share": 0}, "target_share"),
        ({"target_share": -0.2}, "target_share"),
        ({"target_share": 1}, "target_share"),
        ({"target_share": 80}, "target_share"),
        ({"target_share": math.nan}, "target_share"),
    ],
)
def test_agents_needed_refuses_input_outside_the_model(changes, field):
    arguments = {"arrivals_per_hour": 200, "aht_seconds": 180, "target_seconds": 20, "target_share": 0.8, **changes}

    with pytest.raises(StaffingInputError) as refused:
        agents_needed(**arguments)

    assert refused.value.field == field
    assert isinstance(refused.value, ValueError)


def test_a_fractional_agent_count_is_refused():
    with pytest.raises(StaffingInputError) as refused:
        occupancy(arrivals_per_hour=200, aht_seconds=180, agents=14.5)  # type: ignore[arg-type]

    assert refused.value.field == "agents"


def test_the_functions_take_keywords_only():
    with pytest.raises(TypeError):
        agents_needed(200, 180, 20, 0.8)  # type: ignore[misc]
