"""An honest wait: based on the online agents who match the ticket (the dispatch rule), their
free slots and the recent handle time, and never "about a minute" for minutes on end."""

import pytest

from agents.models import AgentProfile
from tasks import selectors
from tasks.selectors import Staffing, honest_wait, wait_estimate

from .factories import AgentFactory, TicketFactory

HANDLE = 300.0
OFFER = 20.0


def estimate(position: int, agents: int, free: int = 0, capacity: int = 1) -> int | None:
    staff = Staffing(agents=agents, slots=agents * capacity, free_slots=free)
    return wait_estimate(position=position, staff=staff, handle_seconds=HANDLE, offer_seconds=OFFER)


# --- the pure estimate -------------------------------------------------------------------------


def test_a_free_slot_means_about_the_offer_time():
    assert estimate(position=1, agents=1, free=1) == 20
    assert estimate(position=2, agents=2, free=2) == 20


def test_the_wait_grows_with_the_position_in_the_queue():
    waits = [estimate(position=n, agents=2) for n in range(1, 6)]
    assert waits == sorted(waits) and len(set(waits)) == 5


def test_the_wait_shrinks_with_more_agents():
    waits = [estimate(position=6, agents=k) for k in (1, 2, 3, 6)]
    assert waits == sorted(waits, reverse=True) and len(set(waits)) == 4


def test_busy_agents_free_a_slot_every_handle_time_between_them():
    # Position 3, one free slot, two busy slots: the second slot to free comes after
    # about two handle times shared by two slots, plus the offer's countdown.
    assert estimate(position=3, agents=2, free=1) == int(2 * HANDLE / 2 + OFFER)


def test_nobody_online_means_no_estimate():
    assert estimate(position=1, agents=0) is None


# --- honest over time ----------------------------------------------------------------------------


def test_without_news_the_estimate_counts_down():
    eta, memo = honest_wait(computed=120, basis=(1, 1, 0), memo=None, now=1000.0)
    assert eta == 120
    eta, _ = honest_wait(computed=120, basis=(1, 1, 0), memo=memo, now=1050.0)
    assert eta == 70


def test_a_wait_that_ran_past_its_estimate_is_never_told_less_than_the_time_spent():
    _, memo = honest_wait(computed=60, basis=(1, 1, 0), memo=None, now=0.0)
    for elapsed in (61.0, 120.0, 240.0):
        eta, _ = honest_wait(computed=60, basis=(1, 1, 0), memo=memo, now=elapsed)
        assert eta >= elapsed  # never "about 1 min" after four minutes of nothing happening


def test_new_information_gives_a_fresh_estimate():
    _, memo = honest_wait(computed=600, basis=(3, 1, 0), memo=None, now=0.0)
    eta, fresh = honest_wait(computed=20, basis=(1, 2, 1), memo=memo, now=900.0)
    assert eta == 20 and fresh.since == 900.0


# --- from the database ----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idle_eligible_agent_means_about_the_offer_time(brand, settings):
    AgentFactory(brands=[brand], available=True)
    ticket = TicketFactory(brand=brand)  # not dispatched yet
    wait = selectors.customer_wait(ticket, position=1)
    assert wait.agents_online and wait.eta_seconds == settings.OFFER_TIMEOUT_SECONDS


@pytest.mark.django_db
def test_agents_who_cannot_take_the_ticket_do_not_count(brand, other_brand):
    AgentFactory(brands=[brand], available=True, languages=["sv"])  # another language
    AgentFactory(brands=[brand], available=True, skills=[])  # lacks the skill
    AgentFactory(brands=[other_brand], available=True)  # another brand
    AgentFactory(brands=[brand], available=True, suspended=True)
    ticket = TicketFactory(brand=brand, tags=["cards"])
    wait = selectors.customer_wait(ticket, position=1)
    assert wait == selectors.Wait(agents_online=False, eta_seconds=None)


@pytest.mark.django_db
def test_a_widened_ticket_counts_the_agents_it_now_matches(brand):
    AgentFactory(brands=[brand], available=True, skills=[])
    ticket = TicketFactory(brand=brand, tags=["cards"], widen_level=1)
    assert selectors.customer_wait(ticket, position=1).agents_online


@pytest.mark.django_db
def test_busy_and_away_agents_count_but_their_slots_are_not_free(brand, settings):
    AgentFactory(brands=[brand], available=True, capacity=1, load=1)
    AgentFactory(brands=[brand], status=AgentProfile.Status.AWAY, connections=1, capacity=1)
    ticket = TicketFactory(brand=brand)
    staff = selectors.waiting_staff(ticket)
    assert staff == Staffing(agents=2, slots=2, free_slots=0)
    wait = selectors.customer_wait(ticket, position=1)
    assert wait.agents_online and wait.eta_seconds > settings.OFFER_TIMEOUT_SECONDS


@pytest.mark.django_db
def test_the_estimate_told_over_time_never_drops_below_the_time_waited(brand):
    AgentFactory(brands=[brand], available=True, capacity=1, load=1)
    ticket = TicketFactory(brand=brand)
    first = selectors.customer_waits([ticket], {ticket.pk: 1}, now=10_000.0)[ticket.pk].eta_seconds
    later = selectors.customer_waits([ticket], {ticket.pk: 1}, now=10_000.0 + first + 180)[ticket.pk].eta_seconds
    assert later >= first + 180
