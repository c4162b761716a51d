"""Races on real PostgreSQL connections from real threads: no mocks, no shortcuts."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.errors import DomainError
from tasks import services
from tasks.models import Offer, Ticket

from .factories import AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Every racer needs a PostgreSQL connection of its own, and the server allows 100 in all,
# shared with the other test runs on this machine. 50 leaves room for them.
RACERS = 50


def run_at_once(n: int, target, *, before_start=None) -> list:
    """Run `target(i)` in `n` threads that start together; return what each returned.

    Each thread opens its connection first and then waits at one barrier, so the calls
    race in the database rather than in connection setup. `before_start` runs once,
    when everyone has arrived and before anyone is let go. A DomainError is a refusal
    and is returned like a result; anything else (a deadlock, a lost connection, a hung
    worker) fails the test here instead of hiding among the results.
    """
    barrier = threading.Barrier(n, action=before_start)
    results: list = [None] * n
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[i] = target(i)
        except DomainError as refusal:
            results[i] = refusal
        except BaseException as exc:  # re-raised below, in the test's own thread
            failures.append(exc)
            barrier.abort()  # nobody waits 30 s for a racer that will never arrive
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racer is still running after 60 s"
    # A broken barrier is only the echo of the failure that broke it: report the cause.
    causes = [f for f in failures if not isinstance(f, threading.BrokenBarrierError)] or failures
    if causes:
        raise causes[0]
    return results


def test_50_accepts_of_one_offer_started_together_assign_it_exactly_once(brand):
    """As many accepts as can truly run at once, all released by one barrier.

    Each accept is a transaction, so racing them needs one connection each. A pool would
    not help: 200 threads sharing a pool of 50 connections still race only 50 at a time,
    and the other 150 would meet an offer that is already settled, which proves nothing
    more. So the test races RACERS (what the server's connection limit leaves room for)
    and says so in its name.
    """
    agent = AgentFactory(brands=[brand], available=True)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)

    results = run_at_once(RACERS, lambda i: services.offer_accept(agent=agent, offer_id=offer.pk))

    wins = [r for r in results if isinstance(r, Ticket)]
    refusals = [r for r in results if isinstance(r, DomainError)]
    assert len(wins) == 1 and len(refusals) == RACERS - 1
    assert {r.code for r in refusals} == {"offer_already_accepted"}
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED and ticket.agent == agent
    assert agent.load == 1


def test_accept_racing_the_expiry_sweeper_has_one_outcome_and_either_can_win(brand):
    """Each round sets the offer to expire a few milliseconds before or after the moment
    both racers are let go, so the accept wins some rounds and the sweeper others; near
    zero the two claim the same row at the same time. Whoever wins, the loser changes
    nothing."""
    rng = random.Random(7)  # the same spread of expiry offsets on every run
    outcomes = {"accepted": 0, "expired": 0}
    for _ in range(40):
        agent = AgentFactory(brands=[brand], available=True)
        ticket = TicketFactory(brand=brand)
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        start = {}

        def set_the_clock(offer=offer, start=start):
            # Runs when both racers are connected: both are let go at `go`, and the offer
            # runs out up to 15 ms before or after it (the clock is read before the update, so
            # the update's own time does not shift the start).
            start["at"] = time.monotonic() + 0.05
            go = timezone.now() + timedelta(milliseconds=50)
            Offer.objects.filter(pk=offer.pk).update(
                expires_at=go + timedelta(microseconds=rng.randint(-15_000, 15_000))
            )

        def race(i, offer=offer, agent=agent, start=start):
            time.sleep(max(0.0, start["at"] - time.monotonic()))
            if i == 0:
                return services.offer_accept(agent=agent, offer_id=offer.pk)
            return services.offers_expire_due()

        accepted, swept = run_at_once(2, race, before_start=set_the_clock)
        # A sweep that looked a moment before the offer was due, with an accept that came
        # a moment after, leaves it pending: the next sweep settles it, as in production.
        offer.refresh_from_db()
        time.sleep(max(0.0, (offer.expires_at - timezone.now()).total_seconds()) + 0.005)
        services.offers_expire_due()

        offer.refresh_from_db()
        ticket.refresh_from_db()
        agent.refresh_from_db()
        if offer.state == Offer.State.ACCEPTED:
            outcomes["accepted"] += 1
            assert isinstance(accepted, Ticket) and accepted.pk == ticket.pk
            assert offer.responded_at < offer.expires_at  # never accepted after its time
            assert ticket.status == Ticket.Status.ASSIGNED and ticket.agent == agent
            assert agent.load == 1 and agent.consecutive_timeouts == 0
            assert swept == 0
        else:
            outcomes["expired"] += 1
            assert offer.state == Offer.State.EXPIRED
            assert isinstance(accepted, DomainError) and accepted.code == "offer_expired"
            assert ticket.status == Ticket.Status.QUEUED and ticket.agent is None
            assert agent.load == 0 and agent.consecutive_timeouts == 1
            assert swept in (0, 1)  # the racer's sweep, or the settling one after it
        assert not Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).exists()
        AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AWAY)  # out of later rounds
    assert outcomes["accepted"] > 0 and outcomes["expired"] > 0, outcomes


def test_two_sweepers_at_once_handle_each_expiry_once(brand):
    for _ in range(10):
        AgentFactory(brands=[brand], available=True, capacity=5)
    tickets = [TicketFactory(brand=brand) for _ in range(40)]
    for ticket in tickets:
        services.ticket_dispatch(ticket_id=ticket.pk)
    assert Offer.objects.filter(state=Offer.State.PENDING).count() == 40
    # Everyone goes away first so that expired tickets are not re-offered during the race.
    AgentProfile.objects.update(status=AgentProfile.Status.AWAY)
    Offer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    handled = run_at_once(2, lambda i: services.offers_expire_due(batch=1000))

    assert all(isinstance(n, int) for n in handled) and sum(handled) == 40
    assert Offer.objects.filter(state=Offer.State.EXPIRED).count() == 40
    assert Ticket.objects.filter(status=Ticket.Status.QUEUED).count() == 40
    totals = AgentProfile.objects.aggregate(load=Sum("load"), timeouts=Sum("consecutive_timeouts"))
    assert totals == {"load": 0, "timeouts": 40}


def test_many_tickets_dispatched_at_once_never_overfill_an_agent(brand):
    agents = [AgentFactory(brands=[brand], available=True, capacity=2) for _ in range(5)]
    tickets = [TicketFactory(brand=brand) for _ in range(30)]

    made = run_at_once(30, lambda i: services.ticket_dispatch(ticket_id=tickets[i].pk))
    assert {type(r) for r in made} <= {Offer, type(None)}
    # A dispatch that found every free agent locked by another leaves its ticket queued;
    # the sweeper's pass picks it up.
    services.dispatch_waiting()

    for agent in agents:
        agent.refresh_from_db()
        pending = Offer.objects.filter(agent=agent, state=Offer.State.PENDING).count()
        assert agent.load == pending <= 2
    assert Offer.objects.filter(state=Offer.State.PENDING).count() == 10
    for ticket in tickets:
        assert Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).count() <= 1
