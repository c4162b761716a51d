"""Reads about shifts: what an agent may book, their bookings, and their reliability."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from agents.models import AgentLanguage, AgentProfile, AgentSkill
from marketplace.models import User

from .models import Shift, ShiftBooking

# How much one event costs the reliability score (out of 100) when it is new; it halves
# every RELIABILITY_HALF_LIFE_DAYS, so an old slip stops mattering and nobody is banned by it.
LATE_CANCEL_WEIGHT = 5.0
NO_SHOW_WEIGHT = 15.0


def bookable_shifts(
    agent: AgentProfile, *, start: datetime | None = None, end: datetime | None = None, brand_slug: str = ""
) -> list[Shift]:
    """Open shifts not yet started, in [start, end), that the agent could book: a brand they
    are certified for, a language they speak, every skill asked. Full ones are included
    (shown as full). Languages and skills are matched here rather than in SQL, since the
    embedded SQLite has no JSON containment; the date range keeps the list short."""
    now = timezone.now()
    shifts = Shift.objects.filter(
        status=Shift.Status.OPEN, starts_at__gt=max(now, start) if start else now, brand__in=agent.brands.all()
    ).select_related("brand")
    if end:
        shifts = shifts.filter(starts_at__lt=end)
    if brand_slug:
        shifts = shifts.filter(brand__slug=brand_slug)
    speaks = set(AgentLanguage.objects.filter(agent=agent).values_list("code", flat=True))
    skills = set(AgentSkill.objects.filter(agent=agent).values_list("code", flat=True))
    return [
        shift
        for shift in shifts.order_by("starts_at", "pk")[:500]
        if speaks & set(shift.languages) and set(shift.skills) <= skills
    ]


def planned_shifts(user: User) -> QuerySet[Shift]:
    """The shifts of the brands a supervisor plans (every brand for staff)."""
    shifts = Shift.objects.select_related("brand")
    if user.is_platform_staff:
        return shifts
    return shifts.filter(brand__supervisors=user)


def my_booking_ids(agent: AgentProfile, shift_ids: list[int]) -> dict[int, int]:
    """{shift id: live booking id} of this agent among `shift_ids`."""
    rows = ShiftBooking.objects.filter(agent=agent, shift_id__in=shift_ids, status=ShiftBooking.Status.BOOKED)
    return dict(rows.values_list("shift_id", "pk"))


def agent_bookings(agent: AgentProfile) -> QuerySet[ShiftBooking]:
    return (
        ShiftBooking.objects.filter(agent=agent).select_related("shift", "shift__brand").order_by("-starts_at", "-pk")
    )


@dataclass(frozen=True)
class ReliabilityEvent:
    kind: str  # late_cancel | no_show
    at: datetime
    booking_id: int
    shift_starts_at: datetime
    weight_now: float


@dataclass(frozen=True)
class Reliability:
    score: float
    events: list[ReliabilityEvent]


def reliability(agent: AgentProfile, *, now: datetime | None = None) -> Reliability:
    """100 minus what late cancellations and no-shows cost, each halving every
    RELIABILITY_HALF_LIFE_DAYS: gradual, never a ban, and the agent sees each event."""
    now = now or timezone.now()
    half_life = settings.RELIABILITY_HALF_LIFE_DAYS * 86400
    events = []
    rows = ShiftBooking.objects.filter(agent=agent).filter(
        Q(status=ShiftBooking.Status.NO_SHOW) | Q(status=ShiftBooking.Status.CANCELLED, late=True)
    )
    for booking in rows.order_by("-starts_at"):
        if booking.status == ShiftBooking.Status.NO_SHOW:
            kind, at, weight = "no_show", booking.starts_at, NO_SHOW_WEIGHT
        else:
            kind, at, weight = "late_cancel", booking.cancelled_at or booking.starts_at, LATE_CANCEL_WEIGHT
        age = max(0.0, (now - at).total_seconds())
        events.append(
            ReliabilityEvent(
                kind=kind,
                at=at,
                booking_id=booking.pk,
                shift_starts_at=booking.starts_at,
                weight_now=round(weight * 0.5 ** (age / half_life), 2),
            )
        )
    score = max(0.0, 100.0 - sum(e.weight_now for e in events))
    return Reliability(score=round(score, 1), events=events)


def _checked_in_bookings(brand_id: int, now: datetime | None) -> QuerySet[ShiftBooking]:
    """Checked-in bookings on a running shift of this brand."""
    now = now or timezone.now()
    return ShiftBooking.objects.filter(
        status=ShiftBooking.Status.BOOKED,
        checked_in_at__isnull=False,
        starts_at__lte=now,
        ends_at__gt=now,
        shift__brand_id=brand_id,
    )


def _on_running_shift(brand_id: int, now: datetime | None) -> QuerySet[ShiftBooking]:
    """For an AgentProfile query: the outer agent's checked-in bookings on a running shift of
    this brand."""
    return _checked_in_bookings(brand_id, now).filter(agent=OuterRef("pk"))


def agents_checked_in_now(brand_id: int, *, now: datetime | None = None) -> QuerySet[ShiftBooking, Any]:
    """The ids of the agents checked in on a running shift of this brand, as a subquery: an
    agents query filtered by it starts from the few bookings rather than every agent."""
    return _checked_in_bookings(brand_id, now).values("agent_id")


def checked_in_now(brand_id: int, *, now: datetime | None = None) -> Exists:
    """The agent is checked in on a running shift of this brand (at `now`, by default now)."""
    return Exists(_on_running_shift(brand_id, now))


def shift_bonus_now(brand_id: int, *, now: datetime | None = None) -> Subquery:
    """The per-case bonus of that shift (None without one)."""
    return Subquery(_on_running_shift(brand_id, now).values("shift__bonus_per_case_minor")[:1])
