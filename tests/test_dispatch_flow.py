"""Ranking, declines, timeouts, capacity and disconnects: the dispatch rules one by one."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agents.models import AgentProfile
from marketplace.errors import DomainError
from payouts.models import Earning
from tasks import services
from tasks.models import Message, Offer, Ticket

from .factories import TEST_CHANNEL, AgentFactory

pytestmark = pytest.mark.django_db


def pending_offer(ticket):
    return Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)


def expire(offer):
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    return services.offers_expire_due()


def test_longest_idle_agent_is_offered_first(brand, handover):
    now = timezone.now()
    AgentFactory(brands=[brand], available=True, last_assigned_at=now - timedelta(minutes=1))
    idle = AgentFactory(brands=[brand], available=True, last_assigned_at=now - timedelta(minutes=30))
    AgentFactory(brands=[brand], available=True, last_assigned_at=now - timedelta(minutes=5))
    assert pending_offer(handover()).agent == idle


def test_agent_never_assigned_counts_as_longest_idle(brand, handover):
    AgentFactory(brands=[brand], available=True, last_assigned_at=timezone.now() - timedelta(hours=3))
    fresh = AgentFactory(brands=[brand], available=True, last_assigned_at=None)
    assert pending_offer(handover()).agent == fresh


def test_higher_quality_score_ranks_before_idle_time(brand, handover):
    AgentFactory(brands=[brand], available=True, quality_score="3.0", last_assigned_at=None)
    better = AgentFactory(brands=[brand], available=True, quality_score="4.5", last_assigned_at=timezone.now())
    assert pending_offer(handover()).agent == better


def test_offer_carries_pay_from_the_rate_card_and_a_countdown(brand, handover):
    AgentFactory(brands=[brand], available=True)
    offer = pending_offer(handover())
    assert offer.pay_amount_minor == 4500 and offer.currency == "SEK"
    assert 19 <= (offer.expires_at - offer.created_at).total_seconds() <= 20


def test_accept_assigns_the_ticket_and_keeps_the_slot(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED and ticket.agent == agent
    assert agent.load == 1 and agent.last_assigned_at is not None


def test_decline_sends_the_ticket_to_the_next_agent(brand, handover):
    first = AgentFactory(brands=[brand], available=True, last_assigned_at=None)
    second = AgentFactory(brands=[brand], available=True, last_assigned_at=timezone.now())
    ticket = handover()
    offer = pending_offer(ticket)
    assert offer.agent == first
    services.offer_decline(agent=first, offer_id=offer.pk, reason="busy")
    offer.refresh_from_db()
    assert offer.state == Offer.State.DECLINED and offer.decline_reason == "busy"
    assert pending_offer(ticket).agent == second
    first.refresh_from_db()
    assert first.load == 0


def test_declining_agent_is_not_offered_the_same_ticket_again(brand, handover):
    only = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_decline(agent=only, offer_id=pending_offer(ticket).pk)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED
    assert services.dispatch_waiting() == 0


def test_timeout_sends_the_ticket_to_the_next_agent(brand, handover):
    first = AgentFactory(brands=[brand], available=True, last_assigned_at=None)
    second = AgentFactory(brands=[brand], available=True, last_assigned_at=timezone.now())
    ticket = handover()
    offer = pending_offer(ticket)
    assert expire(offer) == 1
    offer.refresh_from_db()
    assert offer.state == Offer.State.EXPIRED
    assert pending_offer(ticket).agent == second
    first.refresh_from_db()
    assert first.consecutive_timeouts == 1 and first.load == 0


def test_offer_not_yet_due_is_not_expired(brand, handover):
    AgentFactory(brands=[brand], available=True)
    handover()
    assert services.offers_expire_due() == 0


def test_three_timeouts_in_a_row_set_the_agent_away(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    for n in range(3):
        ticket = handover(customer={"external_id": f"c{n}", "name": f"C{n}"})
        expire(pending_offer(ticket))
    agent.refresh_from_db()
    assert agent.status == AgentProfile.Status.AWAY
    assert agent.consecutive_timeouts == 0


def test_an_accept_breaks_the_timeout_streak(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, capacity=3)
    expire(pending_offer(handover(customer={"external_id": "a", "name": "A"})))
    expire(pending_offer(handover(customer={"external_id": "b", "name": "B"})))
    services.offer_accept(agent=agent, offer_id=pending_offer(handover(customer={"external_id": "c", "name": "C"})).pk)
    expire(pending_offer(handover(customer={"external_id": "d", "name": "D"})))
    agent.refresh_from_db()
    assert agent.status == AgentProfile.Status.AVAILABLE and agent.consecutive_timeouts == 1


def test_ticket_waits_until_an_agent_becomes_available(brand, handover):
    agent = AgentFactory(brands=[brand], status=AgentProfile.Status.AWAY, connections=1)
    ticket = handover()
    assert ticket.status == Ticket.Status.QUEUED
    services.presence_set(agent=agent, status="available")
    assert pending_offer(ticket).agent == agent


def test_freed_capacity_offers_the_highest_priority_then_oldest_ticket(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, capacity=1)
    busy = handover(customer={"external_id": "busy", "name": "Busy"})
    services.offer_accept(agent=agent, offer_id=pending_offer(busy).pk)
    old_normal = handover(customer={"external_id": "n1", "name": "N1"})
    handover(customer={"external_id": "n2", "name": "N2"})
    urgent = handover(customer={"external_id": "u", "name": "U"}, priority="urgent")
    assert Ticket.objects.filter(status=Ticket.Status.QUEUED).count() == 3

    services.ticket_resolve(agent=agent, ticket_id=busy.pk)
    assert pending_offer(urgent).agent == agent
    services.offer_accept(agent=agent, offer_id=pending_offer(urgent).pk)
    services.ticket_resolve(agent=agent, ticket_id=urgent.pk)
    assert pending_offer(old_normal).agent == agent


def test_going_away_withdraws_pending_offers_without_counting_a_timeout(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    offer = pending_offer(ticket)
    services.presence_set(agent=agent, status="away")
    offer.refresh_from_db()
    agent.refresh_from_db()
    assert offer.state == Offer.State.RESCINDED
    assert agent.load == 0 and agent.consecutive_timeouts == 0
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED


def test_disconnected_agent_keeps_tickets_during_the_grace_period(brand, handover, settings):
    settings.AGENT_GRACE_SECONDS = 60
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.agent_disconnected(agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk))
    assert services.agents_release_disconnected() == 0
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED


def test_reconnecting_within_grace_keeps_everything(brand, handover, settings):
    settings.AGENT_GRACE_SECONDS = 0
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.agent_disconnected(agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk))
    services.agent_connected(agent_id=agent.pk, channel_name="reconnected", server="test")
    assert services.agents_release_disconnected() == 0
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED


def test_after_the_grace_period_tickets_are_requeued_with_history(brand, handover, settings):
    settings.AGENT_GRACE_SECONDS = 60
    agent = AgentFactory(brands=[brand], available=True)
    backup = AgentFactory(brands=[brand], status=AgentProfile.Status.AWAY, connections=1)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.message_send_customer(ticket=ticket, text="Hello?")
    services.agent_disconnected(agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk))
    AgentProfile.objects.filter(pk=agent.pk).update(disconnected_at=timezone.now() - timedelta(seconds=61))

    assert services.agents_release_disconnected() == 1
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED
    assert ticket.previous_agent == agent and ticket.queue_reason == "agent_disconnected"
    assert agent.status == AgentProfile.Status.OFFLINE and agent.load == 0
    texts = list(Message.objects.filter(ticket=ticket).values_list("sender", "text"))
    assert texts[0] == ("customer", "Hello?")
    assert texts[1][0] == "system" and "lost their connection" in texts[1][1]

    services.presence_set(agent=backup, status="available")
    assert pending_offer(ticket).agent == backup


def test_resolve_credits_the_case_pay_and_frees_the_slot(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    agent.refresh_from_db()
    assert agent.load == 0
    earning = Earning.objects.get(ticket=ticket)
    assert (earning.kind, earning.amount_minor, earning.currency) == ("case", 4500, "SEK")
    assert str(earning.amount) == "45.00"
    assert earning.available_at > timezone.now() + timedelta(hours=71)


def test_rating_closes_and_reopen_reverses_pay_and_prefers_the_previous_agent(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, last_assigned_at=None)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    other = AgentFactory(brands=[brand], available=True, last_assigned_at=None)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    services.ticket_rate(ticket=ticket, score=2, comment="meh")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating == 2

    services.ticket_reopen(ticket=ticket)
    assert pending_offer(ticket).agent == agent  # previous agent first, though `other` idles longer
    amounts = list(Earning.objects.filter(ticket=ticket).order_by("id").values_list("kind", "amount_minor"))
    assert amounts == [("case", 4500), ("reversal", -4500)]
    assert sum(a for _, a in amounts) == 0
    assert other.offers.count() == 0


def test_close_after_window_confirms_unrated_resolutions(brand, handover, settings):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    assert services.tickets_close_after_window() == 0
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    assert services.tickets_close_after_window() == 1
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED
    with pytest.raises(DomainError) as refused:
        services.ticket_reopen(ticket=ticket)
    assert refused.value.code == "reopen_window_passed"


# --- Bookkeeping under any sequence of events ------------------------------------------------

OPEN = [Ticket.Status.QUEUED, Ticket.Status.OFFERED, Ticket.Status.ASSIGNED]
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["handover", "accept", "decline", "expire", "resolve", "cancel", "away", "available"]),
        st.integers(min_value=0, max_value=2),  # which agent
    ),
    max_size=20,
)


@pytest.fixture
def crew(brand, settings):
    # Made once for all generated examples (each example is rolled back).
    return [AgentFactory(brands=[brand], available=True, capacity=2) for _ in range(3)]


def _happen(event: str, agent, brand, handover, n: int) -> None:
    """One event, only where it applies (an accept needs a pending offer, and so on)."""
    if event == "handover":
        handover(customer={"external_id": f"prop-{n}", "name": "Prop"})
    elif event in ("accept", "decline", "expire"):
        offer = Offer.objects.filter(agent=agent, state=Offer.State.PENDING).order_by("pk").first()
        if offer is None:
            return
        if event == "accept":
            services.offer_accept(agent=agent, offer_id=offer.pk)
        elif event == "decline":
            services.offer_decline(agent=agent, offer_id=offer.pk)
        else:
            expire(offer)
    elif event == "resolve":
        ticket = Ticket.objects.filter(agent=agent, status=Ticket.Status.ASSIGNED).order_by("pk").first()
        if ticket is not None:
            services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    elif event == "cancel":
        ticket = Ticket.objects.filter(brand=brand, status__in=OPEN).order_by("pk").first()
        if ticket is not None:
            services.ticket_cancel(ticket_id=ticket.pk, brand=brand)
    else:
        services.presence_set(agent=agent, status=event)


@given(events=EVENTS)
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_load_is_always_pending_offers_plus_assigned_tickets(brand, crew, handover, events):
    with transaction.atomic():
        for n, (event, who) in enumerate(events):
            _happen(event, crew[who], brand, handover, n)
            for agent in AgentProfile.objects.filter(pk__in=[a.pk for a in crew]):
                pending = Offer.objects.filter(agent=agent, state=Offer.State.PENDING).count()
                assigned = Ticket.objects.filter(agent=agent, status=Ticket.Status.ASSIGNED).count()
                assert agent.load == pending + assigned <= agent.capacity, (n, event, agent.pk)
            assert (
                not Ticket.objects.filter(status=Ticket.Status.OFFERED)
                .exclude(offers__state=Offer.State.PENDING)
                .exists()
            )
        transaction.set_rollback(True)  # the next example starts from the same crew
