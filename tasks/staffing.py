"""Erlang C: how many agents a queue of contacts needs to answer a share of them in time.

The model (M/M/N): contacts arrive at random (Poisson) at `arrivals_per_hour`, each takes
an agent `aht_seconds` on average (exponentially distributed), nobody hangs up, and N
agents take them in arrival order. The traffic intensity A = arrivals x handle time (in
Erlangs) is the number of agents the work would keep busy full time, so N must exceed A
or the queue grows without end.

Erlang B is computed by its recurrence, B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)), and
Erlang C from it, C = N·B / (N - A·(1 - B)). Every step stays between 0 and 1, so
thousands of agents are as exact as ten; the textbook form with A^N / N! overflows a float
from about 170 agents.

Pure functions, no database: the staffing API, the supervisor page and the tests share them.
"""

import math
from dataclasses import dataclass

# What the functions accept: beyond these the question is not a real queue, and the search
# for the agent count must stay quick whatever a caller sends.
MAX_ARRIVALS_PER_HOUR = 1_000_000.0
MAX_AHT_SECONDS = 86_400.0
MAX_TARGET_SECONDS = 86_400.0
# 10,000 Erlangs: 120,000 contacts an hour at five minutes each.
MAX_TRAFFIC_ERLANGS = 10_000.0


class StaffingInputError(ValueError):
    """An argument outside what the model accepts; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StaffingResult:
    """The fewest agents that reach a target, and how that many agents perform."""

    agents: int
    service_level: float
    occupancy: float
    probability_wait: float
    average_speed_of_answer_seconds: float

    def as_dict(self) -> dict[str, int | float]:
        """The answer as the API and the page show it: shares to 4 decimals, seconds to 2."""
        return {
            "agents": self.agents,
            "service_level": round(self.service_level, 4),
            "occupancy": round(self.occupancy, 4),
            "probability_wait": round(self.probability_wait, 4),
            "average_speed_of_answer_seconds": round(self.average_speed_of_answer_seconds, 2),
        }


# --- Checks ----------------------------------------------------------------------------------------


def _number(field: str, value: float, *, low: float, high: float, low_inclusive: bool = True) -> float:
    # bool is an int to Python, but never a count of contacts.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StaffingInputError(field, f"{field} must be a number.")
    number = float(value)
    if not math.isfinite(number):
        raise StaffingInputError(field, f"{field} must be a finite number.")
    too_low = number < low if low_inclusive else number <= low
    if too_low:
        bound = "at least" if low_inclusive else "more than"
        raise StaffingInputError(field, f"{field} must be {bound} {low:g}.")
    if number > high:
        raise StaffingInputError(field, f"{field} must be at most {high:g}.")
    return number


def check_share(value: float) -> float:
    """A target share: strictly between 0 and 1. Erlang C never answers every contact within
    a time (some always wait longer), so 1 (100 %) has no answer and is refused."""
    share = _number("target_share", value, low=0.0, high=1.0, low_inclusive=False)
    if share >= 1.0:
        raise StaffingInputError("target_share", "target_share must be less than 1 (no agent count answers 100%).")
    return share


def traffic_intensity(*, arrivals_per_hour: float, aht_seconds: float) -> float:
    """A, in Erlangs: the agents the work would keep busy all the time. Checks both inputs."""
    arrivals = _number("arrivals_per_hour", arrivals_per_hour, low=0.0, high=MAX_ARRIVALS_PER_HOUR)
    aht = _number("aht_seconds", aht_seconds, low=0.0, high=MAX_AHT_SECONDS, low_inclusive=False)
    traffic = arrivals * aht / 3600.0
    if traffic > MAX_TRAFFIC_ERLANGS:
        raise StaffingInputError(
            "arrivals_per_hour",
            f"arrivals_per_hour x aht_seconds / 3600 must be at most {MAX_TRAFFIC_ERLANGS:g} Erlangs.",
        )
    return traffic


def _agents(value: int, traffic: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StaffingInputError("agents", "agents must be a whole number.")
    if value < 0:
        raise StaffingInputError("agents", "agents must be at least 0.")
    if traffic > 0 and value <= traffic:
        raise StaffingInputError(
            "agents", f"agents must exceed the traffic intensity ({traffic:.2f} Erlangs), or the queue never ends."
        )
    return value


# --- The formulas -----------------------------------------------------------------------------------


def erlang_b(*, traffic: float, agents: int) -> float:
    """Erlang B: the share of contacts that would find all `agents` busy if they could not wait."""
    blocked = 1.0
    for n in range(1, agents + 1):
        blocked = traffic * blocked / (n + traffic * blocked)
    return blocked


def _erlang_c_from_b(*, traffic: float, agents: int, blocked: float) -> float:
    return agents * blocked / (agents - traffic * (1.0 - blocked))


def _service_level(*, traffic: float, agents: int, wait: float, aht: float, target: float) -> float:
    return max(0.0, 1.0 - wait * math.exp(-(agents - traffic) * target / aht))


def erlang_c(*, arrivals_per_hour: float, aht_seconds: float, agents: int) -> float:
    """The probability that a contact has to wait at all (all agents busy when it arrives)."""
    traffic = traffic_intensity(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds)
    count = _agents(agents, traffic)
    if traffic == 0:
        return 0.0
    return _erlang_c_from_b(traffic=traffic, agents=count, blocked=erlang_b(traffic=traffic, agents=count))


def service_level(*, arrivals_per_hour: float, aht_seconds: float, agents: int, target_seconds: float) -> float:
    """The share of contacts answered within `target_seconds`: 1 - C·e^(-(N - A)·t / AHT)."""
    target = _number("target_seconds", target_seconds, low=0.0, high=MAX_TARGET_SECONDS)
    wait = erlang_c(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds, agents=agents)
    traffic = arrivals_per_hour * aht_seconds / 3600.0
    return _service_level(traffic=traffic, agents=agents, wait=wait, aht=float(aht_seconds), target=target)


def average_speed_of_answer(*, arrivals_per_hour: float, aht_seconds: float, agents: int) -> float:
    """The mean wait in seconds over all contacts (those answered at once count as 0): C·AHT / (N - A)."""
    wait = erlang_c(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds, agents=agents)
    if wait == 0:
        return 0.0
    traffic = arrivals_per_hour * aht_seconds / 3600.0
    return wait * aht_seconds / (agents - traffic)


def occupancy(*, arrivals_per_hour: float, aht_seconds: float, agents: int) -> float:
    """The share of their time the agents spend handling contacts: A / N."""
    traffic = traffic_intensity(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds)
    count = _agents(agents, traffic)
    return traffic / count if count else 0.0


def agents_needed(
    *, arrivals_per_hour: float, aht_seconds: float, target_seconds: float, target_share: float
) -> StaffingResult:
    """The fewest agents that answer `target_share` of the contacts within `target_seconds`,
    with that staffing's service level, occupancy, probability of waiting and average speed
    of answer. No contacts need no agents.

    The search walks up from the first count above A, carrying Erlang B one step at a time,
    so it costs one multiplication per agent: a few milliseconds for thousands of agents.
    """
    traffic = traffic_intensity(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds)
    target = _number("target_seconds", target_seconds, low=0.0, high=MAX_TARGET_SECONDS)
    share = check_share(target_share)
    if traffic == 0:
        return StaffingResult(
            agents=0, service_level=1.0, occupancy=0.0, probability_wait=0.0, average_speed_of_answer_seconds=0.0
        )
    aht = float(aht_seconds)
    agents = math.floor(traffic) + 1
    blocked = erlang_b(traffic=traffic, agents=agents)
    while True:
        wait = _erlang_c_from_b(traffic=traffic, agents=agents, blocked=blocked)
        level = _service_level(traffic=traffic, agents=agents, wait=wait, aht=aht, target=target)
        # The service level reaches 1.0 in floating point a few dozen agents past A at the
        # latest (C falls faster than exponentially), so any share below 1 ends the loop.
        if level >= share:
            return StaffingResult(
                agents=agents,
                service_level=level,
                occupancy=traffic / agents,
                probability_wait=wait,
                average_speed_of_answer_seconds=wait * aht / (agents - traffic),
            )
        agents += 1
        blocked = traffic * blocked / (agents + traffic * blocked)
