"""Property test through the real services: whatever ratings customers give, in any order,
the agent's stored quality score stays within 1-5, moves toward each new rating and never
past it, and the history records every move with its cause."""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agents.models import AgentProfile, QualityScoreChange
from tasks import services
from tasks.models import Ticket

from .factories import AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db

ROUNDING = Decimal("0.001")


@pytest.fixture
def rated_agent(brand):
    # Made once for all generated examples (each example is rolled back).
    return AgentFactory(brands=[brand], available=True, capacity=1)


@given(ratings=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=8))
@hypothesis_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_each_rating_moves_the_stored_score_toward_itself_within_bounds(
    brand, rated_agent, django_capture_on_commit_callbacks, ratings
):
    with transaction.atomic():
        for n, rating in enumerate(ratings):
            before = AgentProfile.objects.get(pk=rated_agent.pk).quality_score
            ticket = TicketFactory(brand=brand)
            offer = services.ticket_dispatch(ticket_id=ticket.pk)
            services.offer_accept(agent=rated_agent, offer_id=offer.pk)
            services.ticket_resolve(agent=rated_agent, ticket_id=ticket.pk)
            # The recompute is enqueued on commit; run it as the commit would.
            with django_capture_on_commit_callbacks(execute=True):
                services.ticket_rate(ticket=Ticket.objects.get(pk=ticket.pk), score=rating)
            after = AgentProfile.objects.get(pk=rated_agent.pk).quality_score
            assert Decimal(1) <= after <= Decimal(5), (n, after)
            if rating > before:
                assert before - ROUNDING <= after <= rating, (n, before, rating, after)
            elif rating < before:
                assert rating <= after <= before + ROUNDING, (n, before, rating, after)
            if after != before:
                change = QualityScoreChange.objects.filter(agent=rated_agent).latest("pk")
                assert (change.before, change.after, change.cause, change.ticket_id) == (
                    before,
                    after,
                    "rating",
                    ticket.pk,
                )
        transaction.set_rollback(True)
