"""Pay for resolved cases: credited to pending on resolution, released to available when the
reopen window closes, reversed by a reopen. Pay for shifts: the hourly floor's top-up once a
shift has ended, and the compensation for a shift its supervisor cancelled at short notice,
both available at once. Earning rows are append-only; every one is mirrored by a ledger
transaction in the same database transaction."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from marketplace.prepared import PreparedInsert

from ..ledger import Owner, Purpose, accounts_for, earning_key, ledger_post, release_key
from ..models import Earning, LedgerTransaction

if TYPE_CHECKING:
    # Names for the type checker only: the ledger imports no app at run time (the callers
    # hand it their rows), and Earning's foreign keys already name these models.
    from agents.models import AgentProfile
    from tasks.models import Ticket

RELEASE = "release"

# A case's credit is written on every resolve: compiled once (marketplace/prepared.py).
_insert_earning = PreparedInsert(Earning)


def earning_credit(*, ticket: "Ticket", agent: "AgentProfile", amount_minor: int) -> Earning:
    """Credit the agent for one resolution of `ticket`. Called inside the resolve transaction.

    The unique (ticket, round, kind) constraint makes a retried resolution harmless. The
    credit is mirrored in the ledger (brand payable -> agent pending) in the same transaction;
    with no reopen window (REOPEN_WINDOW_HOURS=0) it is released to available at once.
    """
    window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    assert ticket.resolved_at is not None, "credited only once resolved"
    # ON CONFLICT DO NOTHING rather than a savepoint to catch the unique index: the resolve
    # path pays no extra statements for a retry that almost never comes.
    earning = _insert_earning.if_new(
        Earning(
            agent=agent,
            brand_id=ticket.brand_id,
            ticket=ticket,
            kind=Earning.Kind.CASE,
            round=ticket.resolution_count,
            amount_minor=amount_minor,
            currency=ticket.brand.currency,
            available_at=ticket.resolved_at + window,
            calculation=ticket.pay_calculation or {},
        )
    )
    if earning is None:
        # The first credit posted its ledger transaction in its own transaction.
        return Earning.objects.get(ticket=ticket, round=ticket.resolution_count, kind=Earning.Kind.CASE)
    _earning_post(earning=earning)
    if not window:
        _release(earning)
    return earning


def earning_floor_topup(
    *,
    agent_id: int,
    brand_id: int,
    booking_id: int,
    shift_id: int,
    amount_minor: int,
    currency: str,
    calculation: dict[str, Any],
) -> Earning:
    """Credit what a shift's hourly floor owes the agent beyond the cases they were paid.

    The caller (the shift sweep) works the amount out and passes its `calculation`, which the
    agent sees. Once per booking (a rerun returns the first credit). Posted brand payable ->
    agent pending and released to available in the same transaction: unlike a case's pay,
    nothing later can make it too large (a case reopened after the shift only lowers what the
    cases paid), so holding it back would protect nobody.
    """
    return _shift_earning(
        kind=Earning.Kind.FLOOR_TOPUP,
        agent_id=agent_id,
        brand_id=brand_id,
        booking_id=booking_id,
        shift_id=shift_id,
        amount_minor=amount_minor,
        currency=currency,
        calculation=calculation,
    )


def earning_compensation(
    *,
    agent_id: int,
    brand_id: int,
    booking_id: int,
    shift_id: int,
    amount_minor: int,
    currency: str,
    calculation: dict[str, Any],
) -> Earning:
    """Credit the brand's compensation for a booked shift it withdrew at short notice.
    Once per booking; available at once, as the floor top-up is (nothing can reopen it)."""
    return _shift_earning(
        kind=Earning.Kind.COMPENSATION,
        agent_id=agent_id,
        brand_id=brand_id,
        booking_id=booking_id,
        shift_id=shift_id,
        amount_minor=amount_minor,
        currency=currency,
        calculation=calculation,
    )


def _shift_earning(
    *,
    kind: str,
    agent_id: int,
    brand_id: int,
    booking_id: int,
    shift_id: int,
    amount_minor: int,
    currency: str,
    calculation: dict[str, Any],
) -> Earning:
    if amount_minor <= 0:
        raise ValueError("a shift's earning is a positive credit")
    # The unique (booking_id, kind) settles a repeated credit in the INSERT, as for a case.
    earning = _insert_earning.if_new(
        Earning(
            agent_id=agent_id,
            brand_id=brand_id,
            ticket=None,
            shift_id=shift_id,
            booking_id=booking_id,
            kind=kind,
            amount_minor=amount_minor,
            currency=currency,
            available_at=timezone.now(),
            calculation=calculation,
        )
    )
    if earning is None:
        # Credited already, and posted in that transaction.
        return Earning.objects.get(booking_id=booking_id, kind=kind)
    _earning_post(earning=earning)
    _release(earning)
    return earning


def earning_reverse(*, ticket: "Ticket") -> Earning | None:
    """Reverse the credit of the ticket's latest resolution (a reopen costs the case's pay),
    in the Earning rows and in the ledger alike.

    Locks the credit row, as the release does, so a reopen racing the window's end either
    reverses pending money or, if the release won, available money: never both, never neither.
    """
    credit = (
        Earning.objects.select_for_update(of=("self",))
        .filter(ticket=ticket, kind=Earning.Kind.CASE)
        .exclude(Exists(Earning.objects.filter(reverses=OuterRef("pk"))))
        .order_by("-round")
        .first()
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
        calculation=credit.calculation,
    )
    released = LedgerTransaction.objects.filter(key=release_key(credit.pk)).exists()
    _earning_post(earning=reversal, purpose=Purpose.AGENT_AVAILABLE if released else Purpose.AGENT_PENDING)
    return reversal


def earnings_release_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Move credits whose reopen window has closed from pending to available.

    An idempotent sweep (Celery beat, and the embedded sweeper): rows are claimed with SKIP
    LOCKED, a credit already reversed or released is skipped, and the release transaction's
    key makes a doubled run harmless. Returns how many were released.
    """
    now = now or timezone.now()
    released_or_reversed = Exists(LedgerTransaction.objects.filter(earning_id=OuterRef("pk"), kind=RELEASE)) | Exists(
        Earning.objects.filter(reverses=OuterRef("pk"))
    )
    done = 0
    with transaction.atomic():
        due = list(
            Earning.objects.select_for_update(skip_locked=True)
            .filter(kind=Earning.Kind.CASE, available_at__lte=now)
            .exclude(released_or_reversed)
            .order_by("available_at")[:limit]
        )
        for earning in due:
            _release(earning)
            done += 1
    return done


def _release(earning: Earning) -> LedgerTransaction:
    pending, available = accounts_for(
        idents=[
            (Owner.AGENT, earning.agent_id, Purpose.AGENT_PENDING, earning.currency),
            (Owner.AGENT, earning.agent_id, Purpose.AGENT_AVAILABLE, earning.currency),
        ]
    )
    return ledger_post(
        key=release_key(earning.pk),
        kind=RELEASE,
        postings=[(pending, -earning.amount_minor), (available, earning.amount_minor)],
        currency=earning.currency,
        memo="reopen window closed" if earning.ticket_id else "shift pay: nothing to hold",
        ticket_id=earning.ticket_id,
        earning_id=earning.pk,
    )


def _earning_post(*, earning: Earning, purpose: str = Purpose.AGENT_PENDING) -> LedgerTransaction:
    """Mirror one Earning row in the ledger: the brand's payable account pays the agent's
    pending account (a reversal has a negative amount, so it runs the other way; it takes
    the money back from available when the credit was already released)."""
    brand_payable, agent_account = accounts_for(
        idents=[
            (Owner.BRAND, earning.brand_id, Purpose.BRAND_PAYABLE, earning.currency),
            (Owner.AGENT, earning.agent_id, purpose, earning.currency),
        ]
    )
    return ledger_post(
        key=earning_key(earning.pk),
        kind=earning.kind,
        postings=[(brand_payable, -earning.amount_minor), (agent_account, earning.amount_minor)],
        currency=earning.currency,
        memo=f"shift {earning.shift_id}, booking {earning.booking_id}" if earning.booking_id else "",
        ticket_id=earning.ticket_id,
        earning_id=earning.pk,
    )
