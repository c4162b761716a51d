"""Shifts: supervisors publish them (one, or a weekly pattern), change their slots and pay
before they start, boost a shift nobody fills and cancel them; agents book and cancel them,
going available near the start checks an agent in, and a sweep marks no-shows. The agents
a new, changed, boosted or cancelled shift concerns hear of it after commit (tasks.notify);
booked agents of a changed or cancelled one also get an e-mail (a job per agent).

Locks, in one order everywhere: the agent's profile row, then the shift row, then booking
rows. Booking takes the agent and the shift (FOR UPDATE), so two bookings of one agent are
checked one after the other (no overlap) and two bookings of one shift likewise (never more
than its slots); cancelling a booking or a whole shift takes the shift, then its bookings.
The database holds both rules too: a check constraint on `Shift.booked <= slots`, and an
exclusion constraint on an agent's live bookings (tasks.0006).
Changing or boosting a shift takes the shift's row alone.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from agents.models import AgentProfile
from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.models import Brand, User

from ..models import Shift, ShiftBooking
from ..notify import (
    SHIFT_BOOSTED,
    SHIFT_CANCELLED,
    SHIFT_PUBLISHED,
    SHIFT_UPDATED,
    notify_shift_changed,
    shift_audience,
)
from .shift_pay import shift_compensate

BookingStatus = ShiftBooking.Status
MAX_PATTERN_WEEKS = 12
MAX_SHIFT_HOURS = 24


@dataclass(frozen=True)
class ShiftTerms:
    """What a supervisor publishes; amounts in minor units."""

    starts_at: datetime
    ends_at: datetime
    languages: list[str]
    skills: list[str]
    slots: int
    hourly_floor_minor: int | None = None
    bonus_per_case_minor: int | None = None


def _may_plan(user: User, brand: Brand) -> bool:
    if user.is_platform_staff:
        return True
    return user.role == User.Role.SUPERVISOR and brand.supervisors.filter(pk=user.pk).exists()


def _check_terms(terms: ShiftTerms) -> None:
    if timezone.is_naive(terms.starts_at) or timezone.is_naive(terms.ends_at):
        raise DomainError("invalid_period", gettext("Give times with their UTC offset."), status=422)
    if terms.ends_at <= terms.starts_at:
        raise DomainError("invalid_period", gettext("A shift must end after it starts."), status=422)
    if terms.ends_at - terms.starts_at > timedelta(hours=MAX_SHIFT_HOURS):
        raise DomainError(
            "invalid_period", gettext("A shift lasts at most %(hours)s hours.") % {"hours": MAX_SHIFT_HOURS}, status=422
        )
    if terms.slots < 1:
        raise DomainError("invalid", gettext("A shift needs at least one slot."), status=422, fields={"slots": ["> 0"]})
    if not terms.languages:
        raise DomainError("invalid", gettext("Name the languages this shift needs."), status=422)


def shift_publish(
    *, user: User, brand: Brand, terms: ShiftTerms, weeks: int = 1, time_zone: str = "UTC"
) -> list[Shift]:
    """Publish one shift, or the same shift every week for `weeks` weeks.

    The weekly copies keep the wall-clock time in `time_zone` (an IANA name), so a 09:00
    shift stays at 09:00 local time across a daylight-saving change; they are stored in UTC.
    Refusals: `forbidden` (another brand's), `invalid_period`, `invalid`, `invalid_time_zone`.
    """
    if not _may_plan(user, brand):
        raise Forbidden("forbidden", gettext("You do not plan shifts for this brand."))
    _check_terms(terms)
    if not 1 <= weeks <= MAX_PATTERN_WEEKS:
        raise DomainError(
            "invalid", gettext("Repeat for 1 to %(weeks)s weeks.") % {"weeks": MAX_PATTERN_WEEKS}, status=422
        )
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError("invalid_time_zone", gettext("Unknown time zone."), status=422) from None
    local_start = terms.starts_at.astimezone(zone)
    length = terms.ends_at - terms.starts_at
    series = uuid.uuid4() if weeks > 1 else None
    shifts = []
    with transaction.atomic():
        for week in range(weeks):
            # Same local date + 7 days, same wall-clock time, then back to UTC.
            naive = local_start.replace(tzinfo=None) + timedelta(weeks=week)
            starts = naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
            shifts.append(
                Shift.objects.create(
                    brand=brand,
                    starts_at=starts,
                    ends_at=starts + length,
                    languages=terms.languages,
                    skills=terms.skills,
                    slots=terms.slots,
                    hourly_floor_minor=terms.hourly_floor_minor,
                    bonus_per_case_minor=terms.bonus_per_case_minor,
                    series=series,
                    created_by=user,
                )
            )
        # Agents who could book them hear of them once they are committed.
        notify_shift_changed(shifts=shifts, change=SHIFT_PUBLISHED)
    return shifts


def shift_eligible(agent: AgentProfile, shift: Shift) -> bool:
    """Certified for the brand, speaks one of its languages, has all its skills, not suspended."""
    if agent.suspended or not agent.brands.filter(pk=shift.brand_id).exists():
        return False
    if not agent.languages.filter(code__in=shift.languages).exists():
        return False
    return not set(shift.skills) - set(agent.skills.values_list("code", flat=True))


def shift_book(*, agent: AgentProfile, shift_id: int) -> ShiftBooking:
    """Book a place on a shift. Refusals: `shift_not_found`, `shift_cancelled`,
    `shift_started`, `shift_not_eligible`, `already_booked`, `shift_overlap`, `shift_full`.

    Locks the agent's row, then the shift's: concurrent bookings of one agent, or of one
    shift, are decided one after the other, so however many agents book at once there are
    never more bookings than slots and never two overlapping bookings of one agent.
    """
    with transaction.atomic():
        locked_agent = AgentProfile.objects.select_for_update().get(pk=agent.pk)
        shift = Shift.objects.select_for_update().filter(pk=shift_id).first()
        if shift is None:
            raise NotFound("shift_not_found", gettext("There is no such shift."))
        if shift.status == Shift.Status.CANCELLED:
            raise Conflict("shift_cancelled", gettext("This shift was cancelled."))
        if shift.starts_at <= timezone.now():
            raise Conflict("shift_started", gettext("This shift has already started."))
        if not shift_eligible(locked_agent, shift):
            raise Forbidden(
                "shift_not_eligible", gettext("This shift needs a brand, language or skill you do not have.")
            )
        mine = ShiftBooking.objects.filter(agent=locked_agent, status=BookingStatus.BOOKED)
        if mine.filter(shift=shift).exists():
            raise Conflict("already_booked", gettext("You have already booked this shift."))
        if mine.filter(starts_at__lt=shift.ends_at, ends_at__gt=shift.starts_at).exists():
            raise Conflict("shift_overlap", gettext("You have another shift at that time."))
        if shift.booked >= shift.slots:
            raise Conflict("shift_full", gettext("This shift is full."))
        try:
            with transaction.atomic():
                booking = ShiftBooking.objects.create(
                    shift=shift, agent=locked_agent, starts_at=shift.starts_at, ends_at=shift.ends_at
                )
                Shift.objects.filter(pk=shift.pk).update(booked=F("booked") + 1)
        except IntegrityError as exc:
            # Only reachable if a write went around these locks; the database still refuses.
            if "booking_no_overlap" in str(exc):
                raise Conflict("shift_overlap", gettext("You have another shift at that time.")) from None
            if "shift_never_overbooked" in str(exc):
                raise Conflict("shift_full", gettext("This shift is full.")) from None
            raise
    return booking


def booking_cancel_is_late(*, starts_at: datetime, now: datetime | None = None) -> bool:
    """Cancelling a booking starting at `starts_at` now is late: inside the cutoff. Pages
    ask it to warn before the agent cancels; `booking_cancel` records it."""
    now = now or timezone.now()
    return now > starts_at - timedelta(hours=settings.SHIFT_CANCEL_CUTOFF_HOURS)


def booking_cancel(*, agent: AgentProfile, booking_id: int) -> ShiftBooking:
    """Cancel the agent's own booking before its shift starts. Free until
    SHIFT_CANCEL_CUTOFF_HOURS before the start; later it is allowed and recorded as late
    (it lowers the reliability score). Refusals: `booking_not_found` (also for another
    agent's), `booking_not_active`, `shift_started`. Locks the shift, then the booking: the
    order `shift_cancel` takes them in, so the two never deadlock."""
    with transaction.atomic():
        shift_id = ShiftBooking.objects.filter(pk=booking_id, agent=agent).values_list("shift_id", flat=True).first()
        if shift_id is None:
            raise NotFound("booking_not_found", gettext("You have no such booking."))
        Shift.objects.select_for_update().filter(pk=shift_id).first()
        booking = ShiftBooking.objects.select_for_update().get(pk=booking_id)
        if booking.status != BookingStatus.BOOKED:
            raise Conflict(
                "booking_not_active",
                gettext("This booking is already %(status)s.") % {"status": booking.get_status_display().lower()},
            )
        now = timezone.now()
        if booking.starts_at <= now:
            raise Conflict("shift_started", gettext("This shift has already started."))
        Shift.objects.filter(pk=shift_id).update(booked=F("booked") - 1)
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        booking.late = booking_cancel_is_late(starts_at=booking.starts_at, now=now)
        booking.save(update_fields=["status", "cancelled_at", "late"])
    return booking


def shift_check_in(*, agent_id: int, at: datetime | None = None) -> int:
    """Going available within SHIFT_CHECK_IN_MINUTES of a booked shift's start (before or
    after) checks the agent in. Called when the agent goes available; returns how many."""
    at = at or timezone.now()
    window = timedelta(minutes=settings.SHIFT_CHECK_IN_MINUTES)
    return ShiftBooking.objects.filter(
        agent_id=agent_id,
        status=BookingStatus.BOOKED,
        checked_in_at__isnull=True,
        starts_at__gte=at - window,
        starts_at__lte=at + window,
    ).update(checked_in_at=at)


def shifts_mark_no_shows(*, now: datetime | None = None) -> int:
    """Bookings nobody checked in to by SHIFT_CHECK_IN_MINUTES after the start are
    no-shows. An idempotent sweep (beat): a marked booking is not booked any more."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.SHIFT_CHECK_IN_MINUTES)
    return ShiftBooking.objects.filter(
        status=BookingStatus.BOOKED, checked_in_at__isnull=True, starts_at__lt=cutoff
    ).update(status=BookingStatus.NO_SHOW)


def shift_cancel(*, user: User, shift_id: int, reason: str) -> Shift:
    """A supervisor withdraws a shift that has not started: every booking on it is cancelled
    (not the agents' doing: nothing is recorded against them), and the booked agents are
    told. Inside SHIFT_CANCEL_CUTOFF_HOURS of the start, each booked agent is paid the brand's
    compensation (`Brand.shift_cancel_compensation_minor`), in the same transaction.
    Refusals: `shift_not_found`, `forbidden`, `reason_required`, `shift_started`."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", gettext("Say why; the booked agents see it."), status=422)
    with transaction.atomic():
        shift = Shift.objects.select_for_update().select_related("brand").filter(pk=shift_id).first()
        if shift is None or not _may_plan(user, shift.brand):
            raise NotFound("shift_not_found", gettext("There is no such shift."))
        if shift.status == Shift.Status.CANCELLED:
            return shift
        now = timezone.now()
        if shift.starts_at <= now:
            raise Conflict("shift_started", gettext("This shift has already started."))
        live = ShiftBooking.objects.select_for_update().filter(shift=shift, status=BookingStatus.BOOKED)
        booked = list(live.values_list("pk", "agent_id"))
        live.update(status=BookingStatus.CANCELLED, cancelled_at=now)
        shift.status = Shift.Status.CANCELLED
        shift.cancelled_at = now
        shift.cancel_reason = reason[:300]
        shift.booked = 0
        shift.save(update_fields=["status", "cancelled_at", "cancel_reason", "booked"])
        shift_compensate(shift=shift, booked=booked, now=now, reason=shift.cancel_reason)
    return shift


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


# "Leave this term as it is", as opposed to None ("no floor", "no bonus").
UNCHANGED = _Unchanged.UNCHANGED
Keep = Literal[_Unchanged.UNCHANGED]


def _plannable_shift(user: User, shift_id: int) -> Shift:
    """The shift, locked, if the user plans its brand and it can still change. Refusals:
    `shift_not_found` (also another brand's), `shift_cancelled`, `shift_started`."""
    shift = Shift.objects.select_for_update().select_related("brand").filter(pk=shift_id).first()
    if shift is None or not _may_plan(user, shift.brand):
        raise NotFound("shift_not_found", gettext("There is no such shift."))
    if shift.status == Shift.Status.CANCELLED:
        raise Conflict("shift_cancelled", gettext("This shift was cancelled."))
    if shift.starts_at <= timezone.now():
        raise Conflict("shift_started", gettext("This shift has already started."))
    return shift


def _check_amount(value: int | None, field: str) -> None:
    if value is not None and value < 0:
        raise DomainError("invalid", gettext("An amount cannot be negative."), status=422, fields={field: [">= 0"]})


def shift_update(
    *,
    user: User,
    shift_id: int,
    slots: int | None = None,
    hourly_floor_minor: int | None | Keep = UNCHANGED,
    bonus_per_case_minor: int | None | Keep = UNCHANGED,
) -> Shift:
    """Change a shift's slots or pay terms before it starts (`slots` None and UNCHANGED leave
    a term as it is; None for an amount removes it). The booked agents hear of a change,
    on their sockets and by e-mail. Refusals: `shift_not_found`, `shift_cancelled`,
    `shift_started`, `invalid` (slots < 1, a negative amount), `slots_below_booked`.

    Locks the shift row only, as a booking does after the agent's row: a booking waiting on
    this lock sees the new slots, so the count checked here stays the count."""
    if slots is not None and slots < 1:
        raise DomainError("invalid", gettext("A shift needs at least one slot."), status=422, fields={"slots": ["> 0"]})
    if hourly_floor_minor is not UNCHANGED:
        _check_amount(hourly_floor_minor, "hourly_floor")
    if bonus_per_case_minor is not UNCHANGED:
        _check_amount(bonus_per_case_minor, "bonus_per_case")
    with transaction.atomic():
        shift = _plannable_shift(user, shift_id)
        if slots is not None and slots < shift.booked:
            raise DomainError(
                "slots_below_booked",
                ngettext(
                    "%(booked)s agent has booked this shift: keep at least %(booked)s slot.",
                    "%(booked)s agents have booked this shift: keep at least %(booked)s slots.",
                    shift.booked,
                )
                % {"booked": shift.booked},
                status=422,
                fields={"slots": [f">= {shift.booked}"]},
            )
        changed = []
        if slots is not None and slots != shift.slots:
            shift.slots = slots
            changed.append("slots")
        if hourly_floor_minor is not UNCHANGED and hourly_floor_minor != shift.hourly_floor_minor:
            shift.hourly_floor_minor = hourly_floor_minor
            changed.append("hourly_floor_minor")
        if bonus_per_case_minor is not UNCHANGED and bonus_per_case_minor != shift.bonus_per_case_minor:
            shift.bonus_per_case_minor = bonus_per_case_minor
            changed.append("bonus_per_case_minor")
        if changed:
            shift.save(update_fields=changed)
            notify_shift_changed(shifts=[shift], change=SHIFT_UPDATED)
            _email_booked_agents(shift, change=SHIFT_UPDATED)
    return shift


def shift_boost(*, user: User, shift_id: int, bonus_per_case_minor: int) -> Shift:
    """One click for a shift nobody fills: add `bonus_per_case_minor` (> 0) to its per-case
    bonus. Every eligible agent hears of it. Refusals: `shift_not_found`,
    `shift_cancelled`, `shift_started`, `shift_full` (it needs no more agents), `invalid`."""
    if bonus_per_case_minor <= 0:
        raise DomainError(
            "invalid",
            gettext("Add a bonus above zero."),
            status=422,
            fields={"bonus_per_case": ["> 0"]},
        )
    with transaction.atomic():
        shift = _plannable_shift(user, shift_id)
        if shift.is_full:
            raise Conflict("shift_full", gettext("This shift is full."))
        shift.bonus_per_case_minor = (shift.bonus_per_case_minor or 0) + bonus_per_case_minor
        shift.save(update_fields=["bonus_per_case_minor"])
        notify_shift_changed(shifts=[shift], change=SHIFT_BOOSTED)
    return shift


def shift_cancel_and_tell(*, user: User, shift_id: int, reason: str) -> Shift:
    """`shift_cancel`, and the agents whose bookings it cancelled hear of it (socket and
    e-mail) once it commits. Taking the shift's lock first makes the check "was it open?"
    and the cancellation one step, so two cancels tell the agents once."""
    with transaction.atomic():
        was_open = Shift.objects.select_for_update().filter(pk=shift_id, status=Shift.Status.OPEN).exists()
        shift = shift_cancel(user=user, shift_id=shift_id, reason=reason)
        if was_open and shift.status == Shift.Status.CANCELLED:
            notify_shift_changed(shifts=[shift], change=SHIFT_CANCELLED)
            _email_booked_agents(shift, change=SHIFT_CANCELLED)
    return shift


def _email_booked_agents(shift: Shift, *, change: str) -> None:
    """One e-mail job per agent concerned, enqueued after commit."""
    agent_ids = shift_audience(shift, change=change)
    if not agent_ids:
        return
    # Imported here: jobs import the services.
    from ..jobs import shift_changed_email_send

    shift_id = shift.pk
    for agent_id in agent_ids:
        transaction.on_commit(partial(shift_changed_email_send.delay, shift_id, agent_id, change), robust=True)
