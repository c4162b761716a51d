"""Reads behind the staffing plan: per hour of a day, the contacts a brand can expect, how
long one takes, how many agents Erlang C asks for (tasks.staffing) and how many are booked
on shifts.

- Forecast: the brand's tickets created in the same hour of the same weekday in four earlier
  weeks, averaged (a week without tickets counts as 0). The four weeks are those just before
  the day, or, for a day after today, the four latest whose day is over.
- Handle time: the mean of resolved_at - assigned_at over the brand's tickets resolved in
  the 28 days before the day (before now, for a day still to come); without any,
  settings.DEFAULT_HANDLE_SECONDS.
- Booked: agents with a live booking (status booked) on an open shift of the brand that
  overlaps the hour at all.
- Target: the brand's staffing_target_seconds and staffing_target_share.

Hours are those of the day on the wall clock of `zone`: 24, or 23 and 25 on the days the
clocks change; each hour is the hour of real time that starts there.
"""

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, Q, QuerySet
from django.utils import timezone

from marketplace.errors import DomainError
from marketplace.models import Brand, User

from .models import Shift, ShiftBooking, Ticket
from .staffing import MAX_AHT_SECONDS, StaffingInputError, agents_needed

WEEKS_OF_HISTORY = 4
HANDLE_TIME_WINDOW = timedelta(days=28)
HOUR = timedelta(hours=1)
ZONE_NAME_MAX_LENGTH = 64


@dataclass(frozen=True)
class HourPlan:
    """One hour of a day's staffing plan."""

    start: datetime  # aware, in the plan's zone
    arrivals_forecast: float
    aht_seconds: float
    agents_needed: int
    agents_booked: int

    @property
    def gap(self) -> int:
        """Agents missing: needed but not booked (0 when covered)."""
        return max(0, self.agents_needed - self.agents_booked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "hour": self.start.isoformat(),
            "arrivals_forecast": round(self.arrivals_forecast, 2),
            "aht_seconds": round(self.aht_seconds, 1),
            "agents_needed": self.agents_needed,
            "agents_booked": self.agents_booked,
        }


@functools.cache
def _zone_names() -> frozenset[str]:
    # Reading the zone database walks a directory tree: once per process is enough.
    return frozenset(zoneinfo.available_timezones())


def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA time zone of that name ("Europe/Stockholm", "UTC"), or None. Only names in
    the zone database are looked up, so no text reaches the file system."""
    if not name or len(name) > ZONE_NAME_MAX_LENGTH or name not in _zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


def day_hours(day: date, zone: zoneinfo.ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[start, end) of each hour of `day` on the wall clock of `zone`, in that zone."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    hours = []
    moment = start
    while moment < end:
        hours.append((moment.astimezone(zone), min(moment + HOUR, end).astimezone(zone)))
        moment += HOUR
    return hours


def _first_week_back(day: date, today: date) -> int:
    """How many weeks back the history starts: 1 (the week before) unless that day has not
    ended yet, for days still to come."""
    return max(1, (day - today).days // 7 + 1)


def _weeks_back(start: datetime, weeks: int) -> datetime:
    # Wall-clock arithmetic (same tzinfo), then the real instant: the same local hour of an
    # earlier week, even across a change of the clocks.
    return (start - timedelta(weeks=weeks)).astimezone(UTC)


def arrivals_forecast(*, brand_id: int, hours: list[tuple[datetime, datetime]], first_week_back: int) -> list[float]:
    """Per hour, the mean count of the brand's tickets created in the same hours of
    WEEKS_OF_HISTORY earlier weeks. One query."""
    weeks = range(first_week_back, first_week_back + WEEKS_OF_HISTORY)
    windows = {
        (k, i): (_weeks_back(start, k), _weeks_back(end, k)) for k in weeks for i, (start, end) in enumerate(hours)
    }
    if not windows:
        return []
    anywhere = Q()
    for k in weeks:
        anywhere |= Q(created_at__gte=windows[(k, 0)][0], created_at__lt=windows[(k, len(hours) - 1)][1])
    counts = Ticket.objects.filter(anywhere, brand_id=brand_id).aggregate(
        **{
            f"w{k}_h{i}": Count("pk", filter=Q(created_at__gte=low, created_at__lt=high))
            for (k, i), (low, high) in windows.items()
        }
    )
    return [sum(counts[f"w{k}_h{i}"] for k in weeks) / WEEKS_OF_HISTORY for i in range(len(hours))]


def handle_seconds(*, brand_id: int, until: datetime) -> float:
    """The brand's mean handle time over the tickets resolved in the 28 days before `until`,
    or DEFAULT_HANDLE_SECONDS without any. At most a day: a longer mean says more about
    tickets left open than about the work."""
    stats = Ticket.objects.filter(
        brand_id=brand_id,
        resolved_at__gte=until - HANDLE_TIME_WINDOW,
        resolved_at__lt=until,
        assigned_at__isnull=False,
    ).aggregate(avg=Avg(F("resolved_at") - F("assigned_at")))
    avg: timedelta | None = stats["avg"]
    if avg is None:
        return float(settings.DEFAULT_HANDLE_SECONDS)
    return min(max(avg.total_seconds(), 1.0), MAX_AHT_SECONDS)


def agents_booked(*, brand_id: int, hours: list[tuple[datetime, datetime]]) -> list[int]:
    """Per hour, the agents with a live booking on an open shift of the brand overlapping it.
    One query."""
    if not hours:
        return []
    day_start, day_end = hours[0][0], hours[-1][1]
    counts = ShiftBooking.objects.filter(
        status=ShiftBooking.Status.BOOKED,
        shift__brand_id=brand_id,
        shift__status=Shift.Status.OPEN,
        shift__starts_at__lt=day_end,
        shift__ends_at__gt=day_start,
    ).aggregate(
        **{
            f"h{i}": Count("agent", distinct=True, filter=Q(shift__starts_at__lt=end, shift__ends_at__gt=start))
            for i, (start, end) in enumerate(hours)
        }
    )
    return [int(counts[f"h{i}"]) for i in range(len(hours))]


def staffing_day(*, brand: Brand, day: date, zone: zoneinfo.ZoneInfo, now: datetime | None = None) -> list[HourPlan]:
    """The staffing plan of one day of `brand`, hour by hour (see the module notes). Three
    queries. DomainError staffing_out_of_range when the history asks more than Erlang C is
    computed for here (tasks.staffing.MAX_TRAFFIC_ERLANGS)."""
    now = now or timezone.now()
    hours = day_hours(day, zone)
    forecast = arrivals_forecast(
        brand_id=brand.pk, hours=hours, first_week_back=_first_week_back(day, now.astimezone(zone).date())
    )
    aht = handle_seconds(brand_id=brand.pk, until=min(hours[0][0].astimezone(UTC), now))
    booked = agents_booked(brand_id=brand.pk, hours=hours)
    target_seconds = float(brand.staffing_target_seconds)
    target_share = float(brand.staffing_target_share)
    plan = []
    for (start, _end), arrivals, on_shift in zip(hours, forecast, booked, strict=True):
        try:
            needed = agents_needed(
                arrivals_per_hour=arrivals, aht_seconds=aht, target_seconds=target_seconds, target_share=target_share
            )
        except StaffingInputError as exc:
            raise DomainError(
                "staffing_out_of_range",
                f"This brand's history is beyond what the plan computes: {exc.message}",
                status=422,
            ) from None
        plan.append(
            HourPlan(
                start=start,
                arrivals_forecast=arrivals,
                aht_seconds=aht,
                agents_needed=needed.agents,
                agents_booked=on_shift,
            )
        )
    return plan


def staffing_week(
    *, brand: Brand, monday: date, zone: zoneinfo.ZoneInfo, now: datetime | None = None
) -> list[tuple[date, list[HourPlan]]]:
    """The plans of the seven days from `monday`."""
    now = now or timezone.now()
    days = [monday + timedelta(days=n) for n in range(7)]
    return [(day, staffing_day(brand=brand, day=day, zone=zone, now=now)) for day in days]


def staffing_brands(*, user: User) -> "QuerySet[Brand]":
    """The brands whose staffing plan the user may see: their own, or every brand for
    platform staff. Ordered by name."""
    brands = Brand.objects.all() if user.is_platform_staff else user.supervised_brands.all()
    return brands.order_by("name")
