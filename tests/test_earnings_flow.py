"""Earnings flow: resolution posts to pending, the end of the reopen window releases to
available (a periodic, idempotent sweep), a reopen inside the window reverses; with no
window the pay is available at once. Every hold says why and until when."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payouts.ledger import Owner, Purpose, account_for, release_key
from payouts.models import Earning, LedgerTransaction
from payouts.selectors import balance, earnings_summary
from payouts.services import earnings_release_due
from tasks import services
from tasks.models import Offer

from .factories import AgentFactory

pytestmark = pytest.mark.django_db


def account(agent, purpose):
    return account_for(owner_kind=Owner.AGENT, owner_id=agent.pk, purpose=purpose, currency="SEK")


def resolved(brand, handover, agent=None, **fields):
    agent = agent or AgentFactory(brands=[brand], available=True)
    ticket = handover(**fields)
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, state=Offer.State.PENDING).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    return agent, ticket


def test_a_resolved_case_is_pending_with_its_reason_and_release_date(brand, handover):
    agent, ticket = resolved(brand, handover)

    summary = earnings_summary(agent_id=agent.pk, currency="SEK")

    assert (summary.pending, summary.available) == (4500, 0)
    (line,) = summary.lines
    assert line.status == "pending"
    release = timezone.localtime(ticket.resolved_at + timedelta(hours=72))
    assert f"{release:%Y-%m-%d %H:%M}" in line.hold_reason
    assert "reopen" in line.hold_reason
    assert line.explanation == "Base 45.00 (default rate) = 45.00 SEK"


def test_the_window_closing_releases_the_pay_once_however_often_the_sweep_runs(brand, handover):
    agent, ticket = resolved(brand, handover)
    assert earnings_release_due() == 0  # still inside the window

    later = timezone.now() + timedelta(hours=72, minutes=1)
    assert earnings_release_due(now=later) == 1
    assert earnings_release_due(now=later) == 0

    assert balance(account(agent, Purpose.AGENT_PENDING)) == 0
    assert balance(account(agent, Purpose.AGENT_AVAILABLE)) == 4500
    assert LedgerTransaction.objects.filter(kind="release").count() == 1
    assert earnings_summary(agent_id=agent.pk, currency="SEK").lines[0].status == "available"


def test_a_reopen_inside_the_window_reverses_pending_pay_and_nothing_is_released_later(brand, handover):
    agent, ticket = resolved(brand, handover)

    services.ticket_reopen(ticket=ticket)

    assert earnings_release_due(now=timezone.now() + timedelta(days=10)) == 0
    assert balance(account(agent, Purpose.AGENT_PENDING)) == 0
    assert balance(account(agent, Purpose.AGENT_AVAILABLE)) == 0
    statuses = {line.earning.kind: line.status for line in earnings_summary(agent_id=agent.pk, currency="SEK").lines}
    assert statuses == {"case": "reversed", "reversal": "reversed"}


def test_a_reversal_of_pay_already_released_takes_it_back_from_available(brand, handover):
    agent, ticket = resolved(brand, handover)
    earnings_release_due(now=timezone.now() + timedelta(hours=73))
    credit = Earning.objects.get(ticket=ticket)
    assert LedgerTransaction.objects.filter(key=release_key(credit.pk)).exists()

    from payouts.services import earning_reverse

    earning_reverse(ticket=ticket)

    assert balance(account(agent, Purpose.AGENT_PENDING)) == 0
    assert balance(account(agent, Purpose.AGENT_AVAILABLE)) == 0


def test_with_no_reopen_window_the_pay_is_available_at_once(brand, handover, settings):
    settings.REOPEN_WINDOW_HOURS = 0
    agent, _ = resolved(brand, handover)

    assert balance(account(agent, Purpose.AGENT_AVAILABLE)) == 4500
    assert balance(account(agent, Purpose.AGENT_PENDING)) == 0
    assert earnings_release_due() == 0


def test_today_and_this_week_count_credited_pay_but_not_reversed_cases(brand, handover):
    agent, first = resolved(brand, handover)
    resolved(brand, handover, agent=agent, customer={"external_id": "c-2", "name": "Ola"})
    services.ticket_reopen(ticket=first)

    summary = earnings_summary(agent_id=agent.pk, currency="SEK")

    assert summary.today == 4500
    assert summary.this_week == 4500


def test_the_embedded_sweeper_releases_pay_when_there_is_no_beat(brand, handover, settings):
    from tasks.sweeper import Sweeper

    agent, ticket = resolved(brand, handover)
    Earning.objects.filter(ticket=ticket).update(available_at=timezone.now() - timedelta(seconds=1))

    result = Sweeper().sweep_once()

    assert result["earnings_released"] == 1
    assert balance(account(agent, Purpose.AGENT_AVAILABLE)) == 4500
