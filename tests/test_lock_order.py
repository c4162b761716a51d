"""Every pair of actions on one agent, sent at the same moment from two threads on real
PostgreSQL connections: no deadlock, no error other than a clear refusal, and the
dispatch invariants hold afterwards. One lock order for every path
(docs/architecture.md, "Lock order") is what makes this pass."""

import itertools
import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import AgentConnection, AgentProfile
from marketplace.errors import DomainError
from tasks import services
from tasks.models import Offer, Ticket

from .factories import TEST_CHANNEL, AgentFactory, BrandFactory, TicketFactory
from .live import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


# Users without a usable password: hashing one costs a second of CPU, and nobody logs in here.
class Scene:
    """An agent with one assigned chat and one pending offer, and a second available agent
    of the same (fresh) brand to take what the first lets go."""

    def __init__(self, *, offer_due_in: timedelta):
        self.brand = brand = BrandFactory()
        self.agent = AgentFactory(brands=[brand], available=True, capacity=3, user__password=None)
        self.other = AgentFactory(brands=[brand], available=True, capacity=3, user__password=None)
        AgentProfile.objects.filter(pk=self.other.pk).update(status=AgentProfile.Status.AWAY)
        self.assigned = TicketFactory(brand=brand)
        first = services.ticket_dispatch(ticket_id=self.assigned.pk)
        assert first.agent_id == self.agent.pk
        services.offer_accept(agent=self.agent, offer_id=first.pk)
        self.offered = TicketFactory(brand=brand)
        self.offer = services.ticket_dispatch(ticket_id=self.offered.pk)
        assert self.offer.agent_id == self.agent.pk
        Offer.objects.filter(pk=self.offer.pk).update(expires_at=timezone.now() + offer_due_in)
        AgentProfile.objects.filter(pk=self.other.pk).update(status=AgentProfile.Status.AVAILABLE)


def actions(scene: Scene) -> dict:
    agent = scene.agent
    return {
        "away": lambda: services.presence_set(agent=agent, status="away"),
        "available": lambda: services.presence_set(agent=agent, status="available"),
        "accept": lambda: services.offer_accept(agent=agent, offer_id=scene.offer.pk),
        "decline": lambda: services.offer_decline(agent=agent, offer_id=scene.offer.pk),
        "message": lambda: services.message_send_agent(agent=agent, ticket_id=scene.assigned.pk, text="On it"),
        "resolve": lambda: services.ticket_resolve(agent=agent, ticket_id=scene.assigned.pk),
        "connect": lambda: services.agent_connected(agent_id=agent.pk, channel_name="second", server="test"),
        "disconnect": lambda: services.agent_disconnected(
            agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk)
        ),
        "customer_message": lambda: services.message_send_customer(ticket=scene.offered, text="Still there?"),
        "brand_cancel_offered": lambda: services.ticket_cancel(ticket_id=scene.offered.pk, brand=scene.brand),
        "brand_cancel_assigned": lambda: services.ticket_cancel(ticket_id=scene.assigned.pk, brand=scene.brand),
        "expiry_sweep": lambda: services.offers_expire_due(),
        "drop_and_release": lambda: (
            services.agent_disconnected(agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk)),
            services.agents_release_disconnected(),
        ),
        "heartbeat": lambda: services.agent_connections_heartbeat(
            connections={TEST_CHANNEL.format(agent.pk): agent.pk}, server="test"
        ),
        "heartbeat_lost": lambda: (
            AgentConnection.objects.filter(agent=agent).update(seen_at=timezone.now() - timedelta(hours=1)),
            services.agent_connections_expire(),
        ),
        "new_ticket": lambda: services.ticket_dispatch(ticket_id=TicketFactory(brand=scene.brand).pk),
    }


def race(first, second) -> list[BaseException]:
    """Run both callables at once; return every exception that is not a DomainError."""
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker(action):
        try:
            barrier.wait(timeout=10)
            action()
        except DomainError:
            pass  # a clear refusal ("offer_expired", "ticket_not_assigned", ...) is a fine outcome
        except BaseException as exc:  # noqa: BLE001 - a deadlock or any other failure is the finding
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(a,)) for a in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing action hung"
    return failures


def check_invariants(brand) -> None:
    for agent in AgentProfile.objects.filter(brands=brand):
        pending = Offer.objects.filter(agent=agent, state=Offer.State.PENDING).count()
        assigned = Ticket.objects.filter(agent=agent, status=Ticket.Status.ASSIGNED).count()
        assert agent.load == pending + assigned, (agent, agent.load, pending, assigned)
        assert agent.connections == AgentConnection.objects.filter(agent=agent).count()
    for ticket in Ticket.objects.filter(brand=brand):
        pending = Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).count()
        assert pending == (1 if ticket.status == Ticket.Status.OFFERED else 0), (ticket, ticket.status, pending)
        if ticket.status in Ticket.WAITING:
            assert ticket.agent_id is None, ticket
        if ticket.status == Ticket.Status.ASSIGNED:
            assert ticket.agent_id is not None, ticket


def test_every_pair_of_agent_actions_races_without_deadlock_or_broken_invariant(settings):
    settings.AGENT_GRACE_SECONDS = 0
    failures = []
    pairs = 0
    # Round 0: the offer is far from due, so accept and decline really claim it. Round 1:
    # it falls due while the actions run, so the expiry sweep competes with them.
    for round_number, due_in in enumerate([timedelta(hours=1), timedelta(milliseconds=30)]):
        for first, second in itertools.combinations_with_replacement(ACTION_NAMES, 2):
            scene = Scene(offer_due_in=due_in)
            table = actions(scene)
            found = race(table[first], table[second])
            failures += [(first, second, round_number, repr(exc)[:300]) for exc in found]
            check_invariants(scene.brand)
            pairs += 1
    figures = ROOT / "test-output" / "reliability"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "lock_order.json").write_text(
        json.dumps({"actions": len(ACTION_NAMES), "races": pairs, "failures": len(failures)}, indent=2)
    )
    assert pairs == 2 * len(ACTION_NAMES) * (len(ACTION_NAMES) + 1) // 2
    assert not failures, failures


ACTION_NAMES = [
    "away",
    "available",
    "accept",
    "decline",
    "message",
    "resolve",
    "connect",
    "disconnect",
    "customer_message",
    "brand_cancel_offered",
    "brand_cancel_assigned",
    "expiry_sweep",
    "drop_and_release",
    "heartbeat",
    "heartbeat_lost",
    "new_ticket",
]
