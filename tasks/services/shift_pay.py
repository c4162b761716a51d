"""The money side of shifts: the hourly floor paid once a shift has ended, and the brand's
compensation when a supervisor withdraws a booked shift at short notice.

The floor: for every booking that was checked in, the time the agent was available during
[start, end) (from the status log, agents.AgentStatusChange) times the shift's hourly floor,
rounded half up to a minor unit, minus what the agent was paid for that brand's cases
resolved during the shift (the shift's per-case bonus is already in those); a positive
difference is credited as a top-up (payouts.services.earning_floor_topup).

Locks: the sweep claims one ended, unsettled shift at a time with FOR UPDATE SKIP LOCKED and
settles it in its own transaction (Earning rows and ledger postings, then `settled_at`), so
two sweepers never settle the same shift and a shift that fails does not hold up the others.
The bookings of an ended shift no longer change, so they are read without a lock. Every
credit is once per booking (a unique constraint), so even a settlement run twice pays once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Sum
from django.utils import timezone

from agents.models import AgentProfile, AgentStatusChange
from payouts.models import Earning
from payouts.services import earning_compensation, earning_floor_topup

from ..models import Shift, ShiftBooking

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600
SETTLE_BATCH = 200
# A case resolved in the shift's last seconds is credited in its own transaction; settling a
# minute after the end lets that commit first, so the floor is weighed against it.
SETTLE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class FloorPay:
    """One booking's floor, worked out: what the agent sees on the earnings page."""

    available_seconds: int
    floor_minor: int
    cases: int
    cases_paid_minor: int

    @property
    def topup_minor(self) -> int:
        return max(0, self.floor_minor - self.cases_paid_minor)


def available_seconds(*, agent_id: int, start: datetime, end: datetime) -> int:
    """Whole seconds the agent was `available` in [start, end): the status at `start` is the
    last change at or before it (none: not available), then each change inside."""
    before = AgentStatusChange.objects.filter(agent_id=agent_id, at__lte=start).order_by("-at", "-pk").first()
    inside = AgentStatusChange.objects.filter(agent_id=agent_id, at__gt=start, at__lt=end).order_by("at", "pk")
    status = before.status if before else None
    since = start
    total = timedelta()
    for change in inside:
        if status == AgentProfile.Status.AVAILABLE:
            total += change.at - since
        status, since = change.status, change.at
    if status == AgentProfile.Status.AVAILABLE:
        total += end - since
    return int(total.total_seconds())


def floor_pay(*, shift: Shift, booking: ShiftBooking) -> FloorPay:
    """The floor and the case pay it is weighed against, for one checked-in booking."""
    seconds = available_seconds(agent_id=booking.agent_id, start=shift.starts_at, end=shift.ends_at)
    hourly = shift.hourly_floor_minor or 0
    floor = int((Decimal(seconds) * hourly / SECONDS_PER_HOUR).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    paid = Earning.objects.filter(
        agent_id=booking.agent_id,
        brand_id=shift.brand_id,
        currency=shift.brand.currency,
        kind=Earning.Kind.CASE,
        created_at__gte=shift.starts_at,
        created_at__lt=shift.ends_at,
    ).exclude(Exists(Earning.objects.filter(reverses=OuterRef("pk"))))
    totals = paid.aggregate(total=Sum("amount_minor"), n=Count("pk"))
    return FloorPay(
        available_seconds=seconds,
        floor_minor=floor,
        cases=totals["n"],
        cases_paid_minor=int(totals["total"] or 0),
    )


def _shift_facts(shift: Shift, booking_id: int) -> dict[str, Any]:
    return {
        "shift_id": shift.pk,
        "booking_id": booking_id,
        "shift_starts_at": shift.starts_at.isoformat(),
        "shift_ends_at": shift.ends_at.isoformat(),
    }


def shift_settle(*, shift: Shift) -> int:
    """Credit the floor top-ups of one ended shift (locked by the caller); returns how many.
    A shift without a floor, or cancelled, pays nothing here."""
    if not shift.hourly_floor_minor or shift.status != Shift.Status.OPEN:
        return 0
    paid = 0
    bookings = ShiftBooking.objects.filter(
        shift=shift, status=ShiftBooking.Status.BOOKED, checked_in_at__isnull=False
    ).order_by("pk")
    for booking in bookings:
        pay = floor_pay(shift=shift, booking=booking)
        if pay.topup_minor <= 0:
            continue
        earning_floor_topup(
            agent_id=booking.agent_id,
            brand_id=shift.brand_id,
            booking_id=booking.pk,
            shift_id=shift.pk,
            amount_minor=pay.topup_minor,
            currency=shift.brand.currency,
            calculation={
                **_shift_facts(shift, booking.pk),
                "available_seconds": pay.available_seconds,
                "hourly_floor_minor": shift.hourly_floor_minor,
                "floor_minor": pay.floor_minor,
                "cases": pay.cases,
                "cases_paid_minor": pay.cases_paid_minor,
                "topup_minor": pay.topup_minor,
            },
        )
        paid += 1
    return paid


def shifts_settle_due(*, now: datetime | None = None) -> int:
    """Settle every shift that ended (SETTLE_AFTER ago) and is not settled yet: pay its floor
    top-ups, set `settled_at`.

    An idempotent sweep (Celery beat, and the embedded sweeper): one shift per transaction,
    claimed with SKIP LOCKED; a shift whose settlement fails is logged, left unsettled for the
    next run, and does not stop the others. Returns how many shifts were settled.
    """
    now = now or timezone.now()
    settled = 0
    failed: list[int] = []
    for _ in range(SETTLE_BATCH):
        shift: Shift | None = None
        try:
            with transaction.atomic():
                shift = (
                    Shift.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("brand")
                    .filter(settled_at__isnull=True, ends_at__lte=now - SETTLE_AFTER)
                    .exclude(pk__in=failed)
                    .order_by("ends_at", "pk")
                    .first()
                )
                if shift is None:
                    break
                shift_settle(shift=shift)
                shift.settled_at = now
                shift.save(update_fields=["settled_at"])
        except Exception:
            if shift is None:
                raise
            log.exception("settling shift %s failed; left for the next run", shift.pk)
            failed.append(shift.pk)
            continue
        settled += 1
    return settled


def shift_compensate(*, shift: Shift, booked: list[tuple[int, int]], now: datetime, reason: str) -> int:
    """Pay the brand's compensation to each booked agent of a shift its supervisor cancels
    inside SHIFT_CANCEL_CUTOFF_HOURS of the start (`booked`: (booking id, agent id) pairs).
    Called inside the cancelling transaction; returns how many were paid."""
    amount = shift.brand.shift_cancel_compensation_minor
    cutoff_hours = settings.SHIFT_CANCEL_CUTOFF_HOURS
    if not amount or now <= shift.starts_at - timedelta(hours=cutoff_hours):
        return 0
    for booking_id, agent_id in booked:
        earning_compensation(
            agent_id=agent_id,
            brand_id=shift.brand_id,
            booking_id=booking_id,
            shift_id=shift.pk,
            amount_minor=amount,
            currency=shift.brand.currency,
            calculation={
                **_shift_facts(shift, booking_id),
                "cancelled_at": now.isoformat(),
                "notice_seconds": int((shift.starts_at - now).total_seconds()),
                "cutoff_hours": cutoff_hours,
                "reason": reason,
                "compensation_minor": amount,
            },
        )
    return len(booked)
