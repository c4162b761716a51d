"""QA sampling run by several workers at once: each case is decided once and reviewed at
most once, on real PostgreSQL connections from real threads."""

import pytest
from django.utils import timezone

from agents.models import AgentProfile, Review
from agents.quality import rules
from agents.quality import services as quality
from tasks.models import Resolution, Ticket

from .factories import AgentFactory, TicketFactory
from .test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def settled_case(agent, brand, *, rating: int) -> Resolution:
    ticket = TicketFactory(brand=brand, agent=agent, status=Ticket.Status.CLOSED, resolved_at=timezone.now())
    return Resolution.objects.create(
        ticket=ticket,
        agent=agent,
        number=1,
        resolved_at=ticket.resolved_at,
        outcome=Resolution.Outcome.CONFIRMED,
        confirmed_by=Resolution.ConfirmedBy.CUSTOMER,
        rating=rating,
    )


def test_concurrent_sampling_runs_review_each_case_exactly_once(brand):
    brand.qa_sample_percent = 50
    brand.save()
    agent = AgentFactory(brands=[brand], tier=AgentProfile.Tier.STANDARD)
    low = [settled_case(agent, brand, rating=1) for _ in range(30)]
    good = [settled_case(agent, brand, rating=5) for _ in range(30)]
    expected = {r.pk for r in low} | {r.pk for r in good if rules.sampled(key=f"{r.ticket_id}:{r.number}", percent=50)}

    def sample_until_done(i: int) -> int:
        opened = 0
        while True:
            batch = quality.reviews_sample_due(batch=7)
            opened += batch
            if not Resolution.objects.filter(qa_considered=False).exists():
                return opened

    opened = run_at_once(2, sample_until_done)
    assert sum(opened) == len(expected) == Review.objects.count()
    assert set(Review.objects.values_list("resolution_id", flat=True)) == expected
    # Running again, as beat will, finds nothing new.
    assert quality.reviews_sample_due() == 0
