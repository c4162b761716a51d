"""Pay for resolved cases. Every write is append-only (see Earning)."""

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction

from .ledger import Owner, Purpose, accounts_for, earning_key, ledger_post
from .models import Earning, LedgerTransaction, RateCard

if TYPE_CHECKING:
    # Names for the type checker only: the ledger imports no app at run time (the callers
    # hand it their rows), and Earning's foreign keys already name these models.
    from agents.models import AgentProfile
    from tasks.models import Ticket


def rate_for(*, brand_id: int, category: str) -> int:
    """Pay per case in minor units: the category's rate, else the brand default, else 0."""
    rates = dict(
        RateCard.objects.filter(brand_id=brand_id, category__in=[category, ""]).values_list("category", "amount_minor")
    )
    return rates.get(category, rates.get("", 0))


def earning_credit(*, ticket: "Ticket", agent: "AgentProfile", amount_minor: int) -> Earning:
    """Credit the agent for one resolution of `ticket`. Called inside the resolve transaction.

    The unique (ticket, round, kind) constraint makes a retried resolution harmless. The
    credit is mirrored in the ledger (brand payable -> agent pending) in the same transaction.
    """
    window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    assert ticket.resolved_at is not None, "credited only once resolved"
    try:
        with transaction.atomic():
            earning = Earning.objects.create(
                agent=agent,
                brand_id=ticket.brand_id,
                ticket=ticket,
                kind=Earning.Kind.CASE,
                round=ticket.resolution_count,
                amount_minor=amount_minor,
                currency=ticket.brand.currency,
                available_at=ticket.resolved_at + window,
            )
    except IntegrityError:
        # The first credit posted its ledger transaction in its own transaction.
        return Earning.objects.get(ticket=ticket, round=ticket.resolution_count, kind=Earning.Kind.CASE)
    _earning_post(earning=earning)
    return earning


def earning_reverse(*, ticket: "Ticket") -> Earning | None:
    """Reverse the credit of the ticket's latest resolution (a reopen costs the case's pay),
    in the Earning rows and in the ledger alike."""
    credit = (
        Earning.objects.filter(ticket=ticket, kind=Earning.Kind.CASE, reversal__isnull=True).order_by("-round").first()
    )
    if credit is None:
        return None
    reversal = Earning.objects.create(
        agent_id=credit.agent_id,
        brand_id=credit.brand_id,
        ticket=ticket,
        kind=Earning.Kind.REVERSAL,
        round=credit.round,
        amount_minor=-credit.amount_minor,
        currency=credit.currency,
        reverses=credit,
        available_at=credit.created_at,
    )
    _earning_post(earning=reversal)
    return reversal


def _earning_post(*, earning: Earning) -> LedgerTransaction:
    """Mirror one Earning row in the ledger: the brand's payable account pays the agent's
    pending account (a reversal has a negative amount, so it runs the other way)."""
    brand_payable, agent_pending = accounts_for(
        idents=[
            (Owner.BRAND, earning.brand_id, Purpose.BRAND_PAYABLE, earning.currency),
            (Owner.AGENT, earning.agent_id, Purpose.AGENT_PENDING, earning.currency),
        ]
    )
    return ledger_post(
        key=earning_key(earning.pk),
        kind=earning.kind,
        postings=[(brand_payable, -earning.amount_minor), (agent_pending, earning.amount_minor)],
        currency=earning.currency,
        ticket_id=earning.ticket_id,
        earning_id=earning.pk,
    )
