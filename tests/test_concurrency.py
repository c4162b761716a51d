"""Races on real PostgreSQL connections from real threads: no mocks, no shortcuts."""

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

# PostgreSQL's default max_connections is 100; keep headroom for the test itself.
MAX_CONNECTIONS = 80


def run_at_once(n: int, target) -> list:
    """Start `n` threads that call `target(i)` together; return their results or exceptions."""
    barrier = threading.Barrier(min(n, MAX_CONNECTIONS))
    gate = threading.Semaphore(MAX_CONNECTIONS)
    results: list = [None] * n

    def worker(i: int) -> None:
        with gate:
            try:
                try:
                    barrier.wait(timeout=10)
                except threading.BrokenBarrierError:
                    pass  # later waves start as soon as a connection frees up
                results[i] = target(i)
            except Exception as exc:  # collected and asserted by the caller
                results[i] = exc
            finally:
                connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_200_concurrent_accepts_of_one_offer_assign_exactly_once(brand):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)

    results = run_at_once(200, lambda i: services.offer_accept(agent=agent, offer_id=offer.pk))

    wins = [r for r in results if isinstance(r, Ticket)]
    refusals = [r for r in results if isinstance(r, DomainError)]
    assert len(wins) == 1
    assert len(refusals) == 199, [r for r in results if not isinstance(r, (Ticket, DomainError))][:3]
    assert {r.code for r in refusals} == {"offer_already_accepted"}
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED and ticket.agent == agent
    assert agent.load == 1


def test_accept_racing_the_expiry_sweeper_has_one_outcome(brand):
    for _ in range(20):
        agent = AgentFactory(brands=[brand], available=True)
        ticket = TicketFactory(brand=brand)
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() + timedelta(milliseconds=5))

        def act(i, offer=offer, agent=agent):
            if i == 0:
                return services.offer_accept(agent=agent, offer_id=offer.pk)
            return services.offers_expire_due()

        run_at_once(2, act)
        # The sweeper may have looked a moment before the offer was due, and the accept a
        # moment after: then the next sweep settles it.
        time.sleep(0.01)
        services.offers_expire_due()
        offer.refresh_from_db()
        ticket.refresh_from_db()
        agent.refresh_from_db()
        if offer.state == Offer.State.ACCEPTED:
            assert ticket.status == Ticket.Status.ASSIGNED and agent.load == 1
        else:
            assert offer.state == Offer.State.EXPIRED
            assert ticket.status == Ticket.Status.QUEUED and ticket.agent is None and agent.load == 0
        AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AWAY)  # out of later rounds


def test_two_sweepers_at_once_handle_each_expiry_once(brand):
    agents = [AgentFactory(brands=[brand], available=True, capacity=5) for _ in range(10)]
    tickets = [TicketFactory(brand=brand) for _ in range(40)]
    for ticket in tickets:
        services.ticket_dispatch(ticket_id=ticket.pk)
    assert Offer.objects.filter(state=Offer.State.PENDING).count() == 40
    # Everyone goes away first so that expired tickets are not re-offered during the race.
    AgentProfile.objects.update(status=AgentProfile.Status.AWAY)
    Offer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    handled = run_at_once(2, lambda i: services.offers_expire_due(batch=1000))

    assert sum(handled) == 40
    assert Offer.objects.filter(state=Offer.State.EXPIRED).count() == 40
    assert Ticket.objects.filter(status=Ticket.Status.QUEUED).count() == 40
    totals = AgentProfile.objects.aggregate(load=Sum("load"), timeouts=Sum("consecutive_timeouts"))
    assert totals == {"load": 0, "timeouts": 40}
    assert len(agents) == 10


def test_many_tickets_dispatched_at_once_never_overfill_an_agent(brand):
    agents = [AgentFactory(brands=[brand], available=True, capacity=2) for _ in range(5)]
    tickets = [TicketFactory(brand=brand) for _ in range(30)]

    run_at_once(30, lambda i: services.ticket_dispatch(ticket_id=tickets[i].pk))
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
