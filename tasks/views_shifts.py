"""The agent's shifts screen: shifts suggested by the week they gave in their application,
every open shift they could book (filtered by brand, language and day), their bookings and
their reliability. Booking and cancelling go through the shift services; a refusal is shown
as a message and changes nothing. Every time is shown in the agent's time zone."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from agents.forms import LANGUAGE_CHOICES, SKILL_CHOICES
from marketplace.errors import DomainError
from payouts.views.agent import agent_page

from . import services, shift_selectors
from .models import Shift, ShiftBooking
from .shift_week import AgentWeek, agent_week, within_week

if TYPE_CHECKING:
    from agents.models import AgentProfile

# The list looks this far ahead unless a day is chosen (the page says "two weeks").
LOOKAHEAD = timedelta(days=14)
# Past and cancelled bookings shown, newest first.
HISTORY_LIMIT = 30

LANGUAGE_NAMES = dict(LANGUAGE_CHOICES)
SKILL_NAMES = dict(SKILL_CHOICES)
EVENT_KIND = {"late_cancel": gettext_lazy("Late cancellation"), "no_show": gettext_lazy("No-show")}


@dataclass
class Filters:
    brand: str = ""
    language: str = ""
    day: date | None = None
    day_error: bool = False

    def query(self) -> str:
        pairs = {"brand": self.brand, "language": self.language, "day": self.day.isoformat() if self.day else ""}
        return urlencode({key: value for key, value in pairs.items() if value})

    @property
    def active(self) -> bool:
        return bool(self.brand or self.language or self.day)


@dataclass
class ShiftRow:
    shift: Shift
    starts: datetime  # in the agent's zone
    ends: datetime
    ends_next_day: bool
    languages: list[str]
    skills: list[str]
    currency: str
    free: int
    booking_id: int | None


@dataclass
class BookingRow:
    booking: ShiftBooking
    starts: datetime
    ends: datetime
    ends_next_day: bool
    status: str
    can_cancel: bool
    # Cancelling now would be inside the cutoff: the row says so before the agent taps.
    late_if_cancelled: bool = False
    note: str = ""


@dataclass
class EventRow:
    kind: str
    label: str
    at: datetime
    shift_starts: datetime
    points: float


def _names(codes: list[str], names: dict[str, Any]) -> list[str]:
    return [str(names.get(code, code)) for code in codes]


def _local(value: datetime, week: AgentWeek) -> datetime:
    return timezone.localtime(value, week.zone)


def _when(starts_at: datetime, ends_at: datetime, week: AgentWeek) -> str:
    """ "Mon 3 Jun, 09:00–13:00" in the agent's zone, for messages."""
    starts, ends = _local(starts_at, week), _local(ends_at, week)
    return f"{date_format(starts, 'D j M, H:i')}–{date_format(ends, 'H:i')}"


def _filters(request: HttpRequest, agent: "AgentProfile") -> Filters:
    """The GET filters, each kept only if it is one of the agent's own brands or languages."""
    source = request.GET if request.method == "GET" else request.POST
    brand = source.get("brand", "").strip()
    language = source.get("language", "").strip()
    filters = Filters(
        brand=brand if brand and agent.brands.filter(slug=brand).exists() else "",
        language=language if language and agent.languages.filter(code=language).exists() else "",
    )
    day = source.get("day", "").strip()
    if day:
        try:
            filters.day = date.fromisoformat(day)
        except ValueError:
            filters.day_error = True
    return filters


def _shift_rows(agent: "AgentProfile", week: AgentWeek, filters: Filters) -> list[ShiftRow]:
    if filters.day:
        start = datetime.combine(filters.day, time(0), tzinfo=week.zone)
        end = datetime.combine(filters.day + timedelta(days=1), time(0), tzinfo=week.zone)
    else:
        start = timezone.now()
        end = start + LOOKAHEAD
    shifts = shift_selectors.bookable_shifts(agent, start=start, end=end, brand_slug=filters.brand)
    if filters.language:
        shifts = [shift for shift in shifts if filters.language in shift.languages]
    mine = shift_selectors.my_booking_ids(agent, [shift.pk for shift in shifts])
    rows = []
    for shift in shifts:
        starts, ends = _local(shift.starts_at, week), _local(shift.ends_at, week)
        rows.append(
            ShiftRow(
                shift=shift,
                starts=starts,
                ends=ends,
                ends_next_day=ends.date() != starts.date(),
                languages=_names(shift.languages, LANGUAGE_NAMES),
                skills=_names(shift.skills, SKILL_NAMES),
                currency=shift.brand.currency,
                free=max(0, shift.slots - shift.booked),
                booking_id=mine.get(shift.pk),
            )
        )
    return rows


def _booking_status(booking: ShiftBooking, now: datetime) -> tuple[str, str]:
    """What the agent reads about a booking, and a note (why the brand cancelled it)."""
    if booking.status == ShiftBooking.Status.NO_SHOW:
        return gettext("No-show"), ""
    if booking.status == ShiftBooking.Status.CANCELLED:
        if booking.late:
            return gettext("Cancelled, late"), ""
        if booking.shift.status == Shift.Status.CANCELLED:
            return gettext("Cancelled by the brand"), booking.shift.cancel_reason
        return gettext("Cancelled"), ""
    if booking.checked_in_at:
        return gettext("Checked in"), ""
    if booking.starts_at <= now:
        return gettext("Started, not checked in"), ""
    return gettext("Booked"), ""


def _booking_rows(agent: "AgentProfile", week: AgentWeek) -> tuple[list[BookingRow], list[BookingRow]]:
    """Upcoming (booked, not yet ended; soonest first) and the rest (newest first)."""
    now = timezone.now()
    upcoming_bookings = (
        shift_selectors.agent_bookings(agent)
        .filter(status=ShiftBooking.Status.BOOKED, ends_at__gt=now)
        .order_by("starts_at", "pk")
    )
    past_bookings = shift_selectors.agent_bookings(agent).exclude(status=ShiftBooking.Status.BOOKED, ends_at__gt=now)[
        :HISTORY_LIMIT
    ]

    def row(booking: ShiftBooking) -> BookingRow:
        starts, ends = _local(booking.starts_at, week), _local(booking.ends_at, week)
        status, note = _booking_status(booking, now)
        can_cancel = booking.status == ShiftBooking.Status.BOOKED and booking.starts_at > now
        return BookingRow(
            booking=booking,
            starts=starts,
            ends=ends,
            ends_next_day=ends.date() != starts.date(),
            status=status,
            can_cancel=can_cancel,
            late_if_cancelled=can_cancel and services.booking_cancel_is_late(starts_at=booking.starts_at, now=now),
            note=note,
        )

    return [row(b) for b in upcoming_bookings], [row(b) for b in past_bookings]


def _shifts_url(filters: Filters) -> str:
    query = filters.query()
    return f"{reverse('agent-shifts')}?{query}" if query else reverse("agent-shifts")


@agent_page
@require_GET
def shifts(request: HttpRequest, agent: "AgentProfile") -> HttpResponse:
    week = agent_week(agent)
    filters = _filters(request, agent)
    rows = _shift_rows(agent, week, filters)
    suggested = [
        row
        for row in rows
        if row.free and row.booking_id is None and within_week(row.shift.starts_at, row.shift.ends_at, week)
    ]
    upcoming, past = _booking_rows(agent, week)
    score = shift_selectors.reliability(agent)
    events = [
        EventRow(
            kind=event.kind,
            label=str(EVENT_KIND.get(event.kind, event.kind)),
            at=_local(event.at, week),
            shift_starts=_local(event.shift_starts_at, week),
            points=event.weight_now,
        )
        for event in score.events
    ]
    context = {
        "agent": agent,
        "week": week,
        "filters": filters,
        "brands": agent.brands.order_by("name"),
        "languages": [
            (code, LANGUAGE_NAMES.get(code, code)) for code in sorted(agent.languages.values_list("code", flat=True))
        ],
        "rows": rows,
        "suggested": suggested,
        "upcoming": upcoming,
        "past": past,
        "reliability": score,
        "events": events,
        "late_cancel_points": shift_selectors.LATE_CANCEL_WEIGHT,
        "no_show_points": shift_selectors.NO_SHOW_WEIGHT,
        "half_life_days": settings.RELIABILITY_HALF_LIFE_DAYS,
        "cutoff_hours": settings.SHIFT_CANCEL_CUTOFF_HOURS,
    }
    return render(request, "shifts/shifts.html", context)


def _refused(request: HttpRequest, exc: DomainError) -> None:
    # The code rides along as the message's extra tag: the page shows it as data-code.
    messages.error(request, exc.message, extra_tags=exc.code)


@agent_page
@require_POST
def shift_book(request: HttpRequest, agent: "AgentProfile", shift_id: int) -> HttpResponse:
    filters = _filters(request, agent)
    try:
        booking = services.shift_book(agent=agent, shift_id=shift_id)
    except DomainError as exc:
        _refused(request, exc)
    else:
        week = agent_week(agent)
        messages.success(
            request,
            gettext("Booked: %(brand)s, %(when)s (%(zone)s).")
            % {
                "brand": booking.shift.brand.name,
                "when": _when(booking.starts_at, booking.ends_at, week),
                "zone": week.zone_name,
            },
        )
    return redirect(_shifts_url(filters))


@agent_page
@require_POST
def booking_cancel(request: HttpRequest, agent: "AgentProfile", booking_id: int) -> HttpResponse:
    """Outside the cutoff the booking is cancelled at once. Inside it, a confirmation page
    first says it is late and what it costs; its button posts `confirm=late`."""
    filters = _filters(request, agent)
    week = agent_week(agent)
    booking = (
        shift_selectors.agent_bookings(agent)
        .filter(pk=booking_id, status=ShiftBooking.Status.BOOKED, starts_at__gt=timezone.now())
        .first()
    )
    if (
        booking is not None
        and request.POST.get("confirm") != "late"
        and services.booking_cancel_is_late(starts_at=booking.starts_at)
    ):
        starts, ends = _local(booking.starts_at, week), _local(booking.ends_at, week)
        return render(
            request,
            "shifts/cancel_confirm.html",
            {
                "booking": booking,
                "starts": starts,
                "ends": ends,
                "ends_next_day": ends.date() != starts.date(),
                "week": week,
                "filters": filters,
                "cutoff_hours": settings.SHIFT_CANCEL_CUTOFF_HOURS,
                "late_cancel_points": shift_selectors.LATE_CANCEL_WEIGHT,
                "half_life_days": settings.RELIABILITY_HALF_LIFE_DAYS,
                "back": _shifts_url(filters),
            },
        )
    try:
        cancelled = services.booking_cancel(agent=agent, booking_id=booking_id)
    except DomainError as exc:
        _refused(request, exc)
    else:
        when = _when(cancelled.starts_at, cancelled.ends_at, week)
        brand = cancelled.shift.brand.name
        if cancelled.late:
            messages.success(
                request,
                gettext("Cancelled late: %(brand)s, %(when)s. Your reliability is a little lower for a while.")
                % {"brand": brand, "when": when},
            )
        else:
            messages.success(
                request,
                gettext("Cancelled: %(brand)s, %(when)s. Your place is free for someone else.")
                % {"brand": brand, "when": when},
            )
    return redirect(_shifts_url(filters))
