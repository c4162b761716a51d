"""The customer's "Yes, it's solved" and the rating after it: confirming closes a resolved
case as confirmed by the customer, once; a resolved case can be rated while it is resolved,
a closed unrated one until the reopen window ends; the chat page tells its script whether
that window is still open."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.errors import Conflict
from tasks import services
from tasks.models import Resolution, Ticket

from .test_agent_quality_page import resolved

pytestmark = pytest.mark.django_db


def chat_window_flag(client, ticket) -> str:
    html = client.get(f"/chat/{ticket.customer_token}/").content.decode()
    start = html.index("data-window-open=")
    return html[start : start + len('data-window-open="false"')].split('"')[1]


def test_confirming_closes_a_resolved_case_once_as_confirmed_by_the_customer(agent, brand):
    ticket = resolved(agent, brand, subject="Card blocked abroad")
    services.ticket_confirm(ticket=ticket)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating is None
    resolution = ticket.resolutions.get()
    assert resolution.outcome == Resolution.Outcome.CONFIRMED and resolution.confirmed_by == "customer"
    with pytest.raises(Conflict) as refused:
        services.ticket_confirm(ticket=ticket)
    assert refused.value.code == "already_confirmed"


def test_only_a_resolved_case_can_be_confirmed(agent, brand, handover):
    ticket = handover()
    with pytest.raises(Conflict) as refused:
        services.ticket_confirm(ticket=ticket)
    assert refused.value.code == "ticket_not_resolved"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED


def test_a_confirmed_case_can_still_be_rated_within_the_window(agent, brand):
    ticket = resolved(agent, brand, subject="Card blocked abroad")
    services.ticket_confirm(ticket=ticket)
    services.ticket_rate(ticket=ticket, score=4, comment="Quick and kind")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating == 4
    assert ticket.resolutions.get().rating == 4
    with pytest.raises(Conflict) as refused:
        services.ticket_rate(ticket=ticket, score=5)
    assert refused.value.code == "already_rated"


def test_a_closed_case_cannot_be_rated_once_the_window_has_ended(agent, brand):
    ticket = resolved(agent, brand, subject="Card blocked abroad")
    services.ticket_confirm(ticket=ticket)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    with pytest.raises(Conflict) as refused:
        services.ticket_rate(ticket=ticket, score=4)
    assert refused.value.code == "rating_window_passed"
    ticket.refresh_from_db()
    assert ticket.rating is None and ticket.resolutions.get().rating is None


def test_a_resolved_case_can_be_rated_until_it_closes_even_with_no_window(agent, brand, settings):
    """A case closes when the window job runs; until then the customer's rating counts (and
    confirms it). With no reopen window at all, pay is released at once and a rating still
    lands."""
    settings.REOPEN_WINDOW_HOURS = 0
    ticket = resolved(agent, brand, subject="Card blocked abroad", rating=5)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating == 5
    assert ticket.resolutions.get().confirmed_by == "customer"


def test_the_chat_page_says_whether_rating_and_reopening_are_still_open(client, agent, brand, handover):
    waiting = handover()
    assert chat_window_flag(client, waiting) == "false"
    ticket = resolved(agent, brand, subject="Card blocked abroad")
    assert chat_window_flag(client, ticket) == "true"
    services.ticket_confirm(ticket=ticket)
    assert chat_window_flag(client, ticket) == "true"
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    assert chat_window_flag(client, ticket) == "false"
