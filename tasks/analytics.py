"""Supervisor analytics (selectors): figures per hour, day or week, and the tickets behind each.

The figures are read from the hourly rollups (tasks.analytics_rollups, whose docstring says
which hour each source row counts in and how agent time is defined): a brand's rows per
language and tier, or one agent's rows when filtered to one agent; a few thousand rows for
any range, so a page answers as fast at a million tickets as at a hundred.

Buckets: an hour is a UTC hour (shown on the chosen zone's clock); a day or a week (from
Monday) is the chosen zone's calendar day or week. Hours are whole UTC hours, so in a zone
whose offset is not whole hours (India, Nepal, parts of Australia) a day starts at the
first whole UTC hour after local midnight: the figures and the tickets behind them use
that same edge.

Figures (a duration's p50/p90 are read from fixed bins, see tasks.histogram):
- created: tickets created; each is a conversation the brand's AI handed over to a person;
- offer, assign, reply: created -> first offer, -> assigned (`assigned_at`, the last
  assignment), -> first agent message;
- handle: assigned -> resolved; resolution_time: created -> resolved (tickets resolved or
  closed now; a reopened ticket counts once it is resolved again);
- resolution_rate: of the tickets created, those resolved or closed now;
- csat: of the resolutions in the bucket that were rated, the mean rating and the share of
  4 and 5; reopen: of the resolutions in the bucket, those the customer reopened;
- declined, expired: offers made in the bucket that the agent declined or let time out;
- occupancy: busy / staffed agent time; online: agent hours available or away. Agents are
  those certified for the chosen brands, speaking the chosen language, of the chosen tier;
- cost: case pay + reversals + shift floor top-ups earned in the bucket, per currency,
  divided by the cases paid in it (one per resolution). Floor top-ups belong to no
  ticket: a language filter leaves them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from agents.models import AgentLanguage, AgentProfile
from agents.quality.selectors import supervised_brand_ids
from marketplace.models import Brand, User
from payouts.models import Earning, minor_to_decimal

from . import analytics_rollups as rollups
from . import histogram
from .models import ROLLUP_ALL, Message, Offer, Resolution, Ticket

GRANULARITIES = ("hour", "day", "week")
# Points per chart at most: a month of hours, about thirteen months of days, three years of weeks.
MAX_DAYS = {"hour": 31, "day": 400, "week": 1100}
HOUR = timedelta(hours=1)

DURATIONS = {
    "offer": "offer",
    "assign": "assign",
    "reply": "reply",
    "handle": "handle",
    "resolution_time": "resolve",
}
# The figures a point can be opened on (the `figure` of the drill-down).
FIGURES = (
    "created",
    *DURATIONS,
    "resolution_rate",
    "csat",
    "reopen",
    "declined",
    "expired",
    "occupancy",
    "online",
    "cost",
)
TICKET_COHORT = ("created", "resolution_rate", *DURATIONS)


def scope_brands(user: User) -> list[Brand]:
    """The brands whose analytics `user` may read: every brand for platform staff, their own
    for a supervisor, none for anyone else."""
    return list(Brand.objects.filter(pk__in=supervised_brand_ids(user)).order_by("name"))


def scope_agents(brand_ids: Iterable[int]) -> list[tuple[int, str]]:
    """(id, name) of the agents certified for any of these brands: the ones a filter may name."""
    agents = AgentProfile.objects.filter(brands__in=list(brand_ids)).order_by("display_name", "pk")
    return list(dict.fromkeys(agents.values_list("pk", "display_name")))


def scope_languages(brand_ids: Iterable[int]) -> list[str]:
    """The languages the agents of these brands speak: the ones a filter may name."""
    codes = AgentLanguage.objects.filter(agent__brands__in=list(brand_ids)).values_list("code", flat=True)
    return sorted(set(codes))


# --- Filters and buckets ----------------------------------------------------------------------


def ceil_hour(moment: datetime) -> datetime:
    floored = rollups.floor_hour(moment)
    return floored if floored == moment else floored + HOUR


@dataclass(frozen=True)
class Filters:
    """What a supervisor asked for. `brand_ids` are inside their scope (the view checks);
    "" in `language` or `tier` means all; `end` is the last day included."""

    brand_ids: tuple[int, ...]
    start: date
    end: date
    granularity: str = "day"
    zone_name: str = "UTC"
    language: str = ""
    tier: str = ""
    agent_id: int | None = None
    brand_slug: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    def hour_range(self) -> tuple[datetime, datetime]:
        """The UTC hours [start, end) the chosen days cover."""
        return ceil_hour(self.local_midnight(self.start)), ceil_hour(self.local_midnight(self.end + timedelta(days=1)))

    def bucket_of(self, hour: datetime) -> datetime:
        """The start of the bucket a UTC hour belongs to, as an instant (aware, in the zone)."""
        local = hour.astimezone(self.zone)
        if self.granularity == "hour":
            return local
        day = local.date()
        if self.granularity == "week":
            day -= timedelta(days=day.weekday())
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def bucket_hours(self, bucket: datetime) -> tuple[datetime, datetime]:
        """The UTC hours [start, end) of the bucket starting at `bucket` (any aware instant
        inside its first hour, as the drill-down links give it)."""
        if self.granularity == "hour":
            start = rollups.floor_hour(bucket)
            return start, start + HOUR
        day = bucket.astimezone(self.zone).date()
        if self.granularity == "week":
            day -= timedelta(days=day.weekday())
            following = day + timedelta(days=7)
        else:
            following = day + timedelta(days=1)
        return ceil_hour(self.local_midnight(day)), ceil_hour(self.local_midnight(following))

    def bucket_sql(self) -> tuple[str, list[Any]]:
        """The SQL of bucket_of over a rollup's `hour` column, grouped on in the database;
        read back by `bucket_from_sql`."""
        if self.granularity == "hour":
            return "r.hour", []
        if self.granularity == "week":
            return "date_trunc('week', r.hour AT TIME ZONE %s)::date", [self.zone_name]
        return "(r.hour AT TIME ZONE %s)::date", [self.zone_name]

    def bucket_from_sql(self, value: datetime | date) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(self.zone)
        return datetime.combine(value, time(0), tzinfo=self.zone)

    def query(self) -> dict[str, str]:
        """The filters as the page's query string (and the audit detail of an export)."""
        found = {
            "brand": self.brand_slug,
            "language": self.language,
            "agent": str(self.agent_id or ""),
            "tier": self.tier,
            "granularity": self.granularity,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "time_zone": self.zone_name,
        }
        return {key: value for key, value in found.items() if value}


# --- Sums and figures -------------------------------------------------------------------------


@dataclass
class Sums:
    """What a bucket adds up to: the rollups' columns summed (min/max for the extremes)."""

    tickets: dict[str, Any] = field(default_factory=rollups.empty_ticket_row)
    earnings: dict[str, dict[str, int]] = field(default_factory=dict)  # per currency
    time: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def add_tickets(self, row: dict[str, Any]) -> None:
        rollups.merge_row(self.tickets, row)

    def add_earnings(self, currency: str, row: dict[str, int]) -> None:
        mine = self.earnings.setdefault(currency, dict.fromkeys(rollups.EARNING_FIELDS, 0))
        for name, value in row.items():
            mine[name] += value

    def add_time(self, values: Sequence[float]) -> None:
        for i in range(3):
            self.time[i] += values[i]

    def add(self, other: Sums) -> None:
        self.add_tickets(other.tickets)
        for currency, row in other.earnings.items():
            self.add_earnings(currency, row)
        self.add_time(other.time)

    @property
    def empty(self) -> bool:
        row = self.tickets
        return not (row["tickets"] or row["resolutions"] or row["offers"] or self.earnings or any(self.time))


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def figures_of(sums: Sums) -> dict[str, Any]:
    """The figures of one bucket (or of the whole range) from its sums."""
    row = sums.tickets
    found: dict[str, Any] = {"created": row["tickets"]}
    for figure, name in DURATIONS.items():
        count, total, low, high, hist = rollups.DURATION_FIELDS[name]
        n = row[count]
        found[figure] = {
            "count": n,
            "mean": row[total] / n if n else None,
            "p50": histogram.quantile(row[hist], 0.5, low=row[low], high=row[high], total=n),
            "p90": histogram.quantile(row[hist], 0.9, low=row[low], high=row[high], total=n),
        }
    found["resolution_rate"] = {"share": _share(row["resolved"], row["tickets"]), "resolved": row["resolved"]}
    found["csat"] = {
        "rated": row["rated"],
        "mean": _share(row["rating_sum"], row["rated"]),
        "share_high": _share(row["rating_high"], row["rated"]),
    }
    found["reopen"] = {
        "share": _share(row["reopened"], row["resolutions"]),
        "reopened": row["reopened"],
        "resolutions": row["resolutions"],
    }
    found["declined"] = row["offers_declined"]
    found["expired"] = row["offers_expired"]
    found["offers"] = row["offers"]
    online, staffed, busy = sums.time
    found["occupancy"] = _share(busy, staffed)
    found["online"] = online / 3600
    cost = {}
    for currency, money in sorted(sums.earnings.items()):
        paid = money["case_minor"] + money["reversal_minor"] + money["floor_minor"]
        cost[currency] = {
            "total_minor": paid,
            "cases": money["cases"],
            "per_case": minor_to_decimal(round(paid / money["cases"]), currency) if money["cases"] else None,
            "total": minor_to_decimal(paid, currency),
        }
    found["cost"] = cost
    return found


@dataclass
class Bucket:
    start: datetime  # aware, in the chosen zone
    sums: Sums
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def iso(self) -> str:
        return self.start.isoformat()


@dataclass
class Report:
    filters: Filters
    buckets: list[Bucket]
    total: dict[str, Any]
    currencies: list[str]

    @property
    def empty(self) -> bool:
        return not self.buckets


# --- Reading the rollups ----------------------------------------------------------------------


def _brand_rows(filters: Filters) -> tuple[str, list[Any]]:
    """The brand rollups' rows of the filters: one language/tier row per brand and hour."""
    start, end = filters.hour_range()
    return (
        "r.language = %s AND r.tier = %s AND r.brand_id = ANY(%s) AND r.hour >= %s AND r.hour < %s",
        [filters.language or ROLLUP_ALL, filters.tier or ROLLUP_ALL, list(filters.brand_ids), start, end],
    )


def _agent_rows(filters: Filters) -> tuple[str, list[Any]]:
    """The agent rollups' rows of the filters: the agent's hours in the chosen brands, of
    the chosen language or all of them."""
    start, end = filters.hour_range()
    where = "r.agent_id = %s AND r.brand_id = ANY(%s) AND r.hour >= %s AND r.hour < %s"
    params: list[Any] = [filters.agent_id, list(filters.brand_ids), start, end]
    if filters.language:
        where += " AND r.language = %s"
        params.append(filters.language)
    return where, params


def _ticket_sums(filters: Filters, buckets: dict[datetime, Sums], table: str, where: str, params: list[Any]) -> None:
    bucket_sql, bucket_params = filters.bucket_sql()
    columns = rollups.TICKET_FIELDS
    aggregates = ", ".join(
        f"MIN(r.{c})" if c.endswith("_min") else f"MAX(r.{c})" if c.endswith("_max") else f"SUM(r.{c})" for c in columns
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bucket_sql}, {aggregates} FROM {table} r WHERE {where} GROUP BY 1",  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            bucket_params + params,
        )
        for bucket, *values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            for name in columns:
                if name.endswith("_hist"):
                    row[name] = int(row[name] or 0)
            buckets.setdefault(filters.bucket_from_sql(bucket), Sums()).add_tickets(row)


def _earning_sums(filters: Filters, buckets: dict[datetime, Sums], table: str, where: str, params: list[Any]) -> None:
    bucket_sql, bucket_params = filters.bucket_sql()
    sums_sql = ", ".join(f"SUM(r.{c})" for c in rollups.EARNING_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bucket_sql}, r.currency, {sums_sql} FROM {table} r WHERE {where} GROUP BY 1, 2",  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            bucket_params + params,
        )
        for bucket, currency, *values in cursor.fetchall():
            sums = buckets.setdefault(filters.bucket_from_sql(bucket), Sums())
            sums.add_earnings(currency, {c: int(v) for c, v in zip(rollups.EARNING_FIELDS, values, strict=True)})


def _agents_matching(filters: Filters) -> list[int]:
    """The agents whose time the figures count: certified for a chosen brand, speaking the
    chosen language, of the chosen tier (one agent when filtered to one)."""
    qs = AgentProfile.objects.filter(brands__in=filters.brand_ids)
    if filters.agent_id is not None:
        qs = qs.filter(pk=filters.agent_id)
    if filters.language:
        qs = qs.filter(languages__code=filters.language)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    return sorted(set(qs.values_list("pk", flat=True)))


def _time_sums(filters: Filters, buckets: dict[datetime, Sums]) -> None:
    bucket_sql, bucket_params = filters.bucket_sql()
    start, end = filters.hour_range()
    sums_sql = "SUM(r.online_seconds), SUM(r.staffed_seconds), SUM(r.busy_seconds)"
    every_brand = set(Brand.objects.values_list("pk", flat=True))
    if filters.agent_id is None and (len(filters.brand_ids) == 1 or set(filters.brand_ids) == every_brand):
        # One brand's row, or the all-brands row, of the agent-time cube.
        brand_sql = "r.brand_id = %s" if len(filters.brand_ids) == 1 else "r.brand_id IS NULL"
        sql = (
            f"SELECT {bucket_sql}, {sums_sql} FROM tasks_agenttimehourlyrollup r"  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            f" WHERE r.language = %s AND r.tier = %s AND {brand_sql} AND r.hour >= %s AND r.hour < %s GROUP BY 1"
        )
        params: list[Any] = [filters.language or ROLLUP_ALL, filters.tier or ROLLUP_ALL]
        params += [filters.brand_ids[0]] if len(filters.brand_ids) == 1 else []
        params += [start, end]
    else:
        # Some brands but not all, or one agent: each agent once, from their own hours.
        sql = (
            f"SELECT {bucket_sql}, {sums_sql} FROM tasks_agenthourlyrollup r"  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            " WHERE r.agent_id = ANY(%s) AND r.hour >= %s AND r.hour < %s GROUP BY 1"
        )
        params = [_agents_matching(filters), start, end]
    with connection.cursor() as cursor:
        cursor.execute(sql, bucket_params + params)
        for bucket, online, staffed, busy in cursor.fetchall():
            buckets.setdefault(filters.bucket_from_sql(bucket), Sums()).add_time((online or 0, staffed or 0, busy or 0))


def figures(filters: Filters) -> Report:
    """Every figure per bucket, and for the whole range, as the source rows say (through the
    rollups, which the job keeps within a minute of them)."""
    sums: dict[datetime, Sums] = {}
    if filters.brand_ids and rollups.supported():
        if filters.agent_id is None:
            where, params = _brand_rows(filters)
            _ticket_sums(filters, sums, "tasks_tickethourlyrollup", where, params)
            _earning_sums(filters, sums, "tasks_earninghourlyrollup", where, params)
        else:
            tier = AgentProfile.objects.filter(pk=filters.agent_id).values_list("tier", flat=True).first()
            if tier is not None and (not filters.tier or tier == filters.tier):
                where, params = _agent_rows(filters)
                _ticket_sums(filters, sums, "tasks_agenttickethourlyrollup", where, params)
                _earning_sums(filters, sums, "tasks_agentearninghourlyrollup", where, params)
        _time_sums(filters, sums)
    total = Sums()
    buckets = []
    for start in sorted(sums):
        bucket_sums = sums[start]
        if bucket_sums.empty:
            continue
        total.add(bucket_sums)
        buckets.append(Bucket(start=start, sums=bucket_sums, figures=figures_of(bucket_sums)))
    currencies = sorted(total.earnings)
    return Report(filters=filters, buckets=buckets, total=figures_of(total), currencies=currencies)


# --- The tickets behind a point ---------------------------------------------------------------


def _ticket_agent_q(filters: Filters, prefix: str = "") -> Q:
    """A ticket's agent (assigned, or last assigned when back in the queue) as filtered."""
    q = Q()
    if filters.agent_id is not None:
        q &= Q(**{f"{prefix}agent_id": filters.agent_id}) | Q(
            **{f"{prefix}agent__isnull": True, f"{prefix}previous_agent_id": filters.agent_id}
        )
    if filters.tier:
        q &= Q(**{f"{prefix}agent__tier": filters.tier}) | Q(
            **{f"{prefix}agent__isnull": True, f"{prefix}previous_agent__tier": filters.tier}
        )
    return q


def _own_agent_q(filters: Filters) -> dict[str, Any]:
    """A resolution's, offer's or earning's own agent as filtered."""
    found: dict[str, Any] = {}
    if filters.agent_id is not None:
        found["agent_id"] = filters.agent_id
    if filters.tier:
        found["agent__tier"] = filters.tier
    return found


def drilldown(filters: Filters, bucket: datetime, figure: str) -> QuerySet[Ticket]:
    """The tickets behind one point: those the figure of that bucket counts (for occupancy,
    the chats of the chosen brands open during it), oldest first."""
    start, end = filters.bucket_hours(bucket)
    tickets = Ticket.objects.filter(brand_id__in=filters.brand_ids)
    if filters.language:
        tickets = tickets.filter(language=filters.language)
    if figure in TICKET_COHORT:
        tickets = tickets.filter(_ticket_agent_q(filters), created_at__gte=start, created_at__lt=end)
        if figure == "offer":
            tickets = tickets.filter(Exists(Offer.objects.filter(ticket=OuterRef("pk"))))
        elif figure == "assign":
            tickets = tickets.filter(assigned_at__isnull=False)
        elif figure == "reply":
            tickets = tickets.filter(Exists(Message.objects.filter(ticket=OuterRef("pk"), sender=Message.Sender.AGENT)))
        elif figure == "handle":
            tickets = tickets.filter(
                status__in=rollups.RESOLVED, assigned_at__isnull=False, resolved_at__gte=F("assigned_at")
            )
        elif figure == "resolution_time":
            tickets = tickets.filter(status__in=rollups.RESOLVED, resolved_at__isnull=False)
    elif figure in ("csat", "reopen"):
        resolutions = Resolution.objects.filter(
            ticket=OuterRef("pk"), resolved_at__gte=start, resolved_at__lt=end, **_own_agent_q(filters)
        )
        if figure == "csat":
            resolutions = resolutions.filter(rating__isnull=False)
        tickets = tickets.filter(Exists(resolutions))
    elif figure in ("declined", "expired"):
        state = Offer.State.DECLINED if figure == "declined" else Offer.State.EXPIRED
        offers = Offer.objects.filter(
            ticket=OuterRef("pk"), state=state, created_at__gte=start, created_at__lt=end, **_own_agent_q(filters)
        )
        tickets = tickets.filter(Exists(offers))
    elif figure == "cost":
        earnings = Earning.objects.filter(
            ticket=OuterRef("pk"),
            kind__in=Earning.TICKET_KINDS,
            created_at__gte=start,
            created_at__lt=end,
            **_own_agent_q(filters),
        )
        tickets = tickets.filter(Exists(earnings))
    elif figure in ("occupancy", "online"):
        tickets = tickets.filter(
            _ticket_agent_q(filters),
            Q(status=Ticket.Status.ASSIGNED)
            | Q(resolved_at__gte=start)
            | Q(queued_at__gte=start, queued_at__gt=F("assigned_at"))
            | Q(closed_at__gte=start),
            assigned_at__lt=end,
        )
        if filters.agent_id is None:
            agents = _agents_matching(filters)
            tickets = tickets.filter(Q(agent_id__in=agents) | Q(agent__isnull=True, previous_agent_id__in=agents))
    else:
        raise ValueError(f"unknown figure {figure!r}")
    return tickets.order_by("created_at", "pk")


@dataclass
class TicketLine:
    """One ticket of a drill-down and its value for the figure."""

    ticket: Ticket
    agent: str
    value: Any  # seconds for a duration, a rating, an outcome, money per currency...


def drilldown_lines(filters: Filters, bucket: datetime, figure: str, ids: Sequence[int]) -> list[TicketLine]:
    """The drill-down's tickets `ids` (one page) with what the figure counted of each."""
    start, end = filters.bucket_hours(bucket)
    qs = (
        Ticket.objects.filter(pk__in=list(ids))
        .select_related("brand", "agent", "previous_agent")
        .annotate(
            first_offer=Subquery(
                Offer.objects.filter(ticket=OuterRef("pk")).order_by("created_at").values("created_at")[:1]
            ),
            first_reply=Subquery(
                Message.objects.filter(ticket=OuterRef("pk"), sender=Message.Sender.AGENT)
                .order_by("sent_at")
                .values("sent_at")[:1]
            ),
        )
        .order_by("created_at", "pk")
    )
    extra: dict[int, Any] = defaultdict(list)
    if figure in ("csat", "reopen"):
        resolutions = Resolution.objects.filter(
            ticket_id__in=list(ids), resolved_at__gte=start, resolved_at__lt=end, **_own_agent_q(filters)
        ).order_by("resolved_at")
        for resolution in resolutions:
            if figure == "csat" and resolution.rating is not None:
                extra[resolution.ticket_id].append(resolution.rating)
            elif figure == "reopen":
                extra[resolution.ticket_id].append(resolution.get_outcome_display())
    elif figure in ("declined", "expired"):
        state = Offer.State.DECLINED if figure == "declined" else Offer.State.EXPIRED
        for offer in Offer.objects.filter(
            ticket_id__in=list(ids), state=state, created_at__gte=start, created_at__lt=end, **_own_agent_q(filters)
        ).select_related("agent"):
            extra[offer.ticket_id].append(offer.agent.display_name)
    elif figure == "cost":
        money: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for earning in Earning.objects.filter(
            ticket_id__in=list(ids),
            kind__in=Earning.TICKET_KINDS,
            created_at__gte=start,
            created_at__lt=end,
            **_own_agent_q(filters),
        ):
            if earning.ticket_id is not None:
                money[earning.ticket_id][earning.currency] += earning.amount_minor
        for ticket_id, amounts in money.items():
            extra[ticket_id] = [f"{minor_to_decimal(v, c)} {c}" for c, v in sorted(amounts.items())]
    lines = []
    for ticket in qs:
        agent = ticket.agent or ticket.previous_agent
        lines.append(
            TicketLine(ticket=ticket, agent=agent.display_name if agent else "", value=_value(ticket, figure, extra))
        )
    return lines


def _value(ticket: Any, figure: str, extra: dict[int, Any]) -> Any:
    def seconds(later: datetime | None, earlier: datetime | None) -> float | None:
        return max(0.0, (later - earlier).total_seconds()) if later and earlier else None

    if figure == "offer":
        return seconds(ticket.first_offer, ticket.created_at)
    if figure == "assign":
        return seconds(ticket.assigned_at, ticket.created_at)
    if figure == "reply":
        return seconds(ticket.first_reply, ticket.created_at)
    if figure == "handle":
        return seconds(ticket.resolved_at, ticket.assigned_at)
    if figure == "resolution_time":
        return seconds(ticket.resolved_at, ticket.created_at)
    if figure in ("csat", "reopen", "declined", "expired", "cost"):
        return ", ".join(str(v) for v in extra.get(ticket.pk, []))
    return None
