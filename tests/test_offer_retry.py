"""A missed or declined offer is no dead end: the agent is asked again once the retry
cooldown has passed, if nobody else took the ticket; a second agent is asked first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks import services
from tasks.models import Offer, Ticket
from tasks.sweeper import Sweeper

from .factories import AgentFactory

pytestmark = pytest.mark.django_db


def _pending(ticket) -> Offer | None:
    return Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).first()


def _age_misses(ticket, seconds: float) -> None:
    Offer.objects.filter(ticket=ticket).exclude(state=Offer.State.PENDING).update(
        responded_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_one_agent_who_missed_the_offer_gets_it_again_after_the_cooldown(brand, handover, settings):
    settings.OFFER_RETRY_COOLDOWN_SECONDS = 120
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    first = _pending(ticket)
    Offer.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    Sweeper().sweep_once()  # the offer expires; the only agent stays available
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED and _pending(ticket) is None
    services.dispatch_waiting()
    assert _pending(ticket) is None  # inside the cooldown: not asked again yet

    _age_misses(ticket, 121)
    Sweeper().sweep_once()

    again = _pending(ticket)
    assert again is not None and again.agent_id == agent.pk and again.pk != first.pk


def test_a_declined_ticket_comes_back_after_the_cooldown_without_penalty(brand, handover, settings):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_decline(agent=agent, offer_id=_pending(ticket).pk)
    agent.refresh_from_db()
    assert _pending(ticket) is None and agent.consecutive_timeouts == 0

    _age_misses(ticket, settings.OFFER_RETRY_COOLDOWN_SECONDS + 1)
    services.agent_dispatch(agent_id=agent.pk)  # the path a freed slot takes

    assert _pending(ticket).agent_id == agent.pk


def test_an_agent_who_has_not_missed_it_is_asked_before_one_who_has(brand, handover, settings):
    first = AgentFactory(brands=[brand], available=True, quality_score=5)
    ticket = handover()
    assert _pending(ticket).agent_id == first.pk
    services.offer_decline(agent=first, offer_id=_pending(ticket).pk)
    _age_misses(ticket, settings.OFFER_RETRY_COOLDOWN_SECONDS + 1)
    second = AgentFactory(brands=[brand], available=True, quality_score=1)

    services.dispatch_waiting()

    # The first agent ranks higher by quality, but has already said no.
    assert _pending(ticket).agent_id == second.pk


def test_with_a_zero_cooldown_the_only_agent_is_asked_again_at_once(brand, handover, settings):
    settings.OFFER_RETRY_COOLDOWN_SECONDS = 0
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_decline(agent=agent, offer_id=_pending(ticket).pk)

    assert _pending(ticket).agent_id == agent.pk
