"""The analytics rollups (tasks.models, "Analytics rollups"): how they are computed from the
source rows, kept current by a job, and rebuilt for a range.

Which hour a source row counts in:
- a ticket (volume, time to offer/assign/first reply, handle time, time to resolution,
  resolution rate) in the hour it was created, with its figures as they are now;
- a resolution (CSAT, reopen rate) in the hour it was resolved;
- an offer (declined, timed out) in the hour it was made;
- an earning (cost per resolved case) in the hour it was written;
- agent time (occupancy, online hours) where it was spent, cut at the hour boundaries.

A ticket's agent is the one it is or was last assigned to (`agent`, or `previous_agent` once
it went back to the queue); a resolution's, offer's and earning's agent is their own. Tier is
the agent's tier now: there is no record of past tiers, so when an agent's tier changes the
job files their past rows again under the new one.

Agent time, per agent, from AgentStatusChange and the tickets' assignments:
- online: status available or away;
- busy: online with at least one chat, a chat lasting from the ticket's `assigned_at` to its
  `resolved_at` (or to when it was given back to the queue or cancelled; an open chat until
  now). A ticket row keeps only its last assignment, so the earlier rounds of a reopened
  ticket are not counted;
- staffed: online and available, or online and busy (an agent who set away to finish their
  chats is still working; away without a chat is a break);
- occupancy = busy / staffed.

The job (`rollup_run`, every minute) is idempotent: it finds the brand-hours whose source rows
changed since its previous run (with an overlap for transactions that committed late),
computes those hours again from the source rows and replaces their rollup rows; a doubled
run finds the same rows and writes the same numbers, a missed one is caught up by the next.
Both it and `rebuild` hold one advisory lock, so they never interleave. PostgreSQL only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from marketplace.models import Brand

from . import histogram
from .models import (
    ROLLUP_ALL,
    AgentEarningHourlyRollup,
    AgentHourlyRollup,
    AgentTicketHourlyRollup,
    AgentTimeHourlyRollup,
    AnalyticsRollupState,
    EarningHourlyRollup,
    TicketHourlyRollup,
)

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
LOCK_KEY = 0x616E616C79746963  # "analytic": the advisory lock of the job and rebuilds
STATE = "rollups"
ONLINE = ("available", "away")
RESOLVED = ("resolved", "closed")
COUNTED_EARNINGS = ("case", "reversal", "floor_topup")

Key = tuple[int, datetime]  # (brand id, UTC hour)
# The rollups whose rows are a brand's hour (or part of one): what the job replaces.
BRAND_HOUR_MODELS = (TicketHourlyRollup, EarningHourlyRollup, AgentTicketHourlyRollup, AgentEarningHourlyRollup)


def supported() -> bool:
    return connection.vendor == "postgresql"


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = floor_hour(start)
    while hour < end:
        yield hour
        hour += HOUR


# --- Which source rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The source rows to read: those whose own time (see the module docstring) falls in
    [start, end), optionally of some brands or one agent; or, for the job, those in any of
    the brand-hours `keys`."""

    start: datetime | None = None
    end: datetime | None = None
    brand_ids: Sequence[int] | None = None
    agent_id: int | None = None
    keys: Sequence[Key] | None = None

    def query(
        self, select: str, source: str, *, time: str, brand: str, agent: str | None, where: str = "TRUE"
    ) -> tuple[str, list[Any]]:
        """SELECT `select` FROM `source` WHERE `where`, of the rows chosen; `time`, `brand` and
        `agent` are the expressions of the row's own time and brand and the condition (with
        %s) that it is the agent's."""
        conditions: list[str] = [where]
        params: list[Any] = []
        if self.start is not None:
            conditions.append(f"{time} >= %s")
            params.append(self.start)
        if self.end is not None:
            conditions.append(f"{time} < %s")
            params.append(self.end)
        if self.brand_ids is not None:
            conditions.append(f"{brand} = ANY(%s)")
            params.append(list(self.brand_ids))
        if self.agent_id is not None:
            if agent is None:
                conditions.append("FALSE")
            else:
                conditions.append(agent)
                params += [self.agent_id] * agent.count("%s")
        if self.keys is None:
            return f"SELECT {select} FROM {source} WHERE {' AND '.join(conditions)}", params  # noqa: S608 (only fixed SQL and placeholders are interpolated)
        # The job's brand-hours, an hour at a time with its brands: a lateral subquery, so
        # each hour is an index range scan (a join on the keys is planned as a hash join over
        # the whole table).
        brands: dict[datetime, list[int]] = defaultdict(list)
        for brand_id, hour in self.keys:
            brands[hour].append(brand_id)
        hours = sorted(brands)
        conditions.append(
            f"{time} >= k.hour AND {time} < k.hour + interval '1 hour' AND {brand} = ANY(k.brands::bigint[])"
        )
        sql = (
            "SELECT x.* FROM unnest(%s::timestamptz[], %s::text[]) AS k(hour, brands)"  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            f" CROSS JOIN LATERAL (SELECT {select} FROM {source} WHERE {' AND '.join(conditions)}) x"
        )
        # Each hour's brands as an array literal: unnest cannot take an array of arrays
        # of different lengths.
        lists = ["{" + ",".join(str(b) for b in sorted(brands[hour])) + "}" for hour in hours]
        return sql, [hours, lists, *params]


# A ticket's agent: the one assigned, or the one it was taken from when it went back to the queue.
TICKET_AGENT = "COALESCE(t.agent_id, t.previous_agent_id)"
TICKET_AGENT_IS = "(t.agent_id = %s OR (t.agent_id IS NULL AND t.previous_agent_id = %s))"


def _fetch(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(5000):
            yield from rows


def _epoch(column: str) -> str:
    # Times come back as seconds since 1970 (UTC), a float: parsing a million timestamps
    # into datetimes would be most of a rebuild's time.
    return f"date_part('epoch', {column})"


def ticket_facts(selection: Selection) -> Iterator[tuple[Any, ...]]:
    """(brand, language, agent, created, status, assigned, resolved, first offer made, first
    agent message) per ticket created in the selection; times in epoch seconds."""
    first_offer = "(SELECT min(o.created_at) FROM tasks_offer o WHERE o.ticket_id = t.id)"
    first_reply = "(SELECT min(m.sent_at) FROM tasks_message m WHERE m.ticket_id = t.id AND m.sender = 'agent')"
    return _fetch(
        *selection.query(
            f"""t.brand_id, t.language, {TICKET_AGENT}, {_epoch("t.created_at")}, t.status,
                {_epoch("t.assigned_at")}, {_epoch("t.resolved_at")}, {_epoch(first_offer)}, {_epoch(first_reply)}""",
            "tasks_ticket t",
            time="t.created_at",
            brand="t.brand_id",
            agent=TICKET_AGENT_IS,
        )
    )


def resolution_facts(selection: Selection) -> Iterator[tuple[Any, ...]]:
    """(brand, language, agent, resolved, outcome, rating) per resolution in the selection."""
    return _fetch(
        *selection.query(
            f"t.brand_id, t.language, r.agent_id, {_epoch('r.resolved_at')}, r.outcome, r.rating",
            "tasks_resolution r JOIN tasks_ticket t ON t.id = r.ticket_id",
            time="r.resolved_at",
            brand="t.brand_id",
            agent="r.agent_id = %s",
        )
    )


def offer_facts(selection: Selection) -> Iterator[tuple[Any, ...]]:
    """(brand, language, agent, made, state) per offer made in the selection."""
    return _fetch(
        *selection.query(
            f"t.brand_id, t.language, o.agent_id, {_epoch('o.created_at')}, o.state",
            "tasks_offer o JOIN tasks_ticket t ON t.id = o.ticket_id",
            time="o.created_at",
            brand="t.brand_id",
            agent="o.agent_id = %s",
        )
    )


def earning_facts(selection: Selection) -> Iterator[tuple[Any, ...]]:
    """(brand, language or "", agent, written, kind, amount, currency) per earning counted in
    the cost per case (case pay, reversals, floor top-ups) written in the selection."""
    return _fetch(
        *selection.query(
            f"""e.brand_id, COALESCE(t.language, ''), e.agent_id, {_epoch("e.created_at")}, e.kind, e.amount_minor,
                e.currency""",
            "payouts_earning e LEFT JOIN tasks_ticket t ON t.id = e.ticket_id",
            time="e.created_at",
            brand="e.brand_id",
            agent="e.agent_id = %s",
            where="e.kind IN ('case', 'reversal', 'floor_topup')",
        )
    )


# --- Adding facts up --------------------------------------------------------------------------

DURATION_FIELDS = {
    name: (f"{name}_count", f"{name}_sum", f"{name}_min", f"{name}_max", f"{name}_hist")
    for name in TicketHourlyRollup.DURATIONS
}
TICKET_COUNTERS = (
    "tickets",
    "resolved",
    "resolutions",
    "reopened",
    "rated",
    "rating_sum",
    "rating_high",
    "offers",
    "offers_declined",
    "offers_expired",
)
TICKET_FIELDS = (*TICKET_COUNTERS, *(field for fields in DURATION_FIELDS.values() for field in fields))
EARNING_FIELDS = ("case_minor", "reversal_minor", "floor_minor", "cases")
TIME_FIELDS = ("online_seconds", "staffed_seconds", "busy_seconds")
UNITS = [1 << (histogram.BITS * i) for i in range(histogram.BINS)]

CubeKey = tuple[int | None, datetime, str, str]
_hours: dict[float, datetime] = {}


def hour_of(epoch: float) -> datetime:
    """The UTC hour an epoch second falls in, as a datetime (cached: few distinct hours)."""
    start = epoch - epoch % 3600
    found = _hours.get(start)
    if found is None:
        found = _hours[start] = datetime.fromtimestamp(start, UTC)
    return found


def cube_keys(brand: int | None, hour: datetime, language: str, tier: str) -> tuple[CubeKey, ...]:
    """The rows one fact counts in: its language and tier, and the all-languages and
    all-tiers rows (grouping sets)."""
    return (
        (brand, hour, language, tier),
        (brand, hour, language, ROLLUP_ALL),
        (brand, hour, ROLLUP_ALL, tier),
        (brand, hour, ROLLUP_ALL, ROLLUP_ALL),
    )


def empty_ticket_row() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TICKET_COUNTERS, 0)
    for count, total, low, high, hist in DURATION_FIELDS.values():
        row.update({count: 0, total: 0.0, low: None, high: None, hist: 0})
    return row


def merge_row(into: dict[str, Any], row: dict[str, Any]) -> None:
    """Add one rollup row to another: sums add up, minima and maxima stay extreme."""
    for name, value in row.items():
        if value is None:
            continue
        if name.endswith("_min"):
            mine = into[name]
            into[name] = value if mine is None or value < mine else mine
        elif name.endswith("_max"):
            mine = into[name]
            into[name] = value if mine is None or value > mine else mine
        else:
            into[name] += value


def add_duration(row: dict[str, Any], name: str, seconds: float) -> None:
    count, total, low, high, hist = DURATION_FIELDS[name]
    if seconds < 0:
        seconds = 0.0  # clock skew between processes
    row[count] += 1
    row[total] += seconds
    if row[low] is None or seconds < row[low]:
        row[low] = seconds
    if row[high] is None or seconds > row[high]:
        row[high] = seconds
    row[hist] += UNITS[histogram.bin_of(seconds)]


def ticket_durations(fact: tuple[Any, ...]) -> dict[str, float]:
    """The durations of one ticket fact, in seconds, those it has."""
    _brand, _language, _agent, created, status, assigned, resolved, first_offer, first_reply = fact
    found: dict[str, float] = {}
    if first_offer is not None:
        found["offer"] = first_offer - created
    if assigned is not None:
        found["assign"] = assigned - created
    if first_reply is not None:
        found["reply"] = first_reply - created
    if status in RESOLVED and resolved is not None:
        found["resolve"] = resolved - created
        if assigned is not None and resolved >= assigned:
            found["handle"] = resolved - assigned
    return found


def tier_of(tiers: dict[int, str], agent_id: int | None) -> str:
    return tiers.get(agent_id, "") if agent_id is not None else ""


Rows = dict[tuple[Any, ...], Any]


def _cube(exact: Rows, tiers: dict[int, str], merge: Any, empty: Any) -> Rows:
    """Rows of exact (brand, hour, language, agent, ...) keys into a brand's grouping-set
    rows, by the agents' tiers. Adding facts up per exact key first and then per row is a
    quarter of the work of adding each fact to its four rows."""
    rows: Rows = {}
    for (brand, hour, language, agent, *rest), row in exact.items():
        for key in cube_keys(brand, hour_of(hour), language, tier_of(tiers, agent)):
            full = (*key, *rest)
            target = rows.get(full)
            if target is None:
                target = rows[full] = empty()
            merge(target, row)
    return rows


def _per_agent(exact: Rows) -> Rows:
    """The exact rows that have an agent, keyed (agent, brand, hour, language, ...)."""
    return {
        (agent, brand, hour_of(hour), language, *rest): row
        for (brand, hour, language, agent, *rest), row in exact.items()
        if agent is not None
    }


def ticket_rows(
    tickets: Iterable[tuple[Any, ...]],
    resolutions: Iterable[tuple[Any, ...]],
    offers: Iterable[tuple[Any, ...]],
    tiers: dict[int, str],
) -> tuple[Rows, Rows]:
    """TicketHourlyRollup rows from facts, keyed (brand, hour, language, tier), and
    AgentTicketHourlyRollup rows, keyed (agent, brand, hour, language)."""
    exact: Rows = {}

    def row_for(brand: int, moment: float, language: str, agent: int | None) -> dict[str, Any]:
        key = (brand, moment - moment % 3600, language, agent)
        row = exact.get(key)
        if row is None:
            row = exact[key] = empty_ticket_row()
        return row

    for fact in tickets:
        row = row_for(fact[0], fact[3], fact[1], fact[2])
        row["tickets"] += 1
        row["resolved"] += fact[4] in RESOLVED
        for name, seconds in ticket_durations(fact).items():
            add_duration(row, name, seconds)
    for brand, language, agent, resolved_at, outcome, rating in resolutions:
        row = row_for(brand, resolved_at, language, agent)
        row["resolutions"] += 1
        row["reopened"] += outcome == "reopened"
        if rating is not None:
            row["rated"] += 1
            row["rating_sum"] += rating
            row["rating_high"] += rating >= 4
    for brand, language, agent, made, state in offers:
        row = row_for(brand, made, language, agent)
        row["offers"] += 1
        row["offers_declined"] += state == "declined"
        row["offers_expired"] += state == "expired"
    return _cube(exact, tiers, merge_row, empty_ticket_row), _per_agent(exact)


def _empty_earning_row() -> dict[str, int]:
    return dict.fromkeys(EARNING_FIELDS, 0)


def _merge_sums(into: dict[str, int], row: dict[str, int]) -> None:
    for name, value in row.items():
        into[name] += value


def earning_rows(earnings: Iterable[tuple[Any, ...]], tiers: dict[int, str]) -> tuple[Rows, Rows]:
    """EarningHourlyRollup rows from facts, keyed (brand, hour, language, tier, currency),
    and AgentEarningHourlyRollup rows, keyed (agent, brand, hour, language, currency)."""
    exact: Rows = {}
    field = {"case": "case_minor", "reversal": "reversal_minor", "floor_topup": "floor_minor"}
    for brand, language, agent, written, kind, amount, currency in earnings:
        key = (brand, written - written % 3600, language, agent, currency)
        row = exact.get(key)
        if row is None:
            row = exact[key] = _empty_earning_row()
        row[field[kind]] += amount
        row["cases"] += kind == "case"
    return _cube(exact, tiers, _merge_sums, _empty_earning_row), _per_agent(exact)


# --- Agent time -------------------------------------------------------------------------------


def busy_until(status: str, assigned: float, resolved: Any, queued: Any, closed: Any, now: float) -> Any:
    """When a ticket's last assignment ended (None: it cannot be told); epoch seconds."""
    if status == "assigned":
        return now
    if resolved is not None and resolved >= assigned:
        return resolved
    if queued is not None and queued > assigned:
        return queued  # given back to the queue (the agent disconnected)
    if closed is not None and closed > assigned:
        return closed  # cancelled while assigned
    return None


def agent_time(
    start: datetime, end: datetime, now: datetime, agent_ids: Sequence[int] | None = None
) -> dict[tuple[int, datetime], list[float]]:
    """Seconds online, staffed and busy per (agent, hour) in [start, end), up to `now`."""
    end = min(end, now)
    if end <= start:
        return {}
    first, last, now_s = start.timestamp(), end.timestamp(), now.timestamp()
    ids = None if agent_ids is None else list(agent_ids)
    only = "" if ids is None else " WHERE a.id = ANY(%s)"
    events: dict[int, list[tuple[float, int, Any]]] = defaultdict(list)
    for agent, status in _fetch(
        f"""SELECT a.id, (SELECT s.status FROM agents_agentstatuschange s WHERE s.agent_id = a.id AND s.at < %s
                          ORDER BY s.at DESC, s.id DESC LIMIT 1)
            FROM agents_agentprofile a{only}""",  # noqa: S608 (only fixed SQL and placeholders are interpolated)
        [start] + ([] if ids is None else [ids]),
    ):
        events[agent].append((first, 0, status or "offline"))
    agent_filter = "" if ids is None else " AND agent_id = ANY(%s)"
    for agent, at, status in _fetch(
        f"SELECT agent_id, {_epoch('at')}, status FROM agents_agentstatuschange"  # noqa: S608 (only fixed SQL and placeholders are interpolated)
        f" WHERE at >= %s AND at < %s{agent_filter} ORDER BY agent_id, at, id",
        [start, end] + ([] if ids is None else [ids]),
    ):
        events[agent].append((at, 0, status))
    ticket_filter = "" if ids is None else " AND (agent_id = ANY(%s) OR previous_agent_id = ANY(%s))"
    wanted = None if ids is None else set(ids)
    for agent, assigned, status, resolved, queued, closed in _fetch(
        f"""SELECT COALESCE(agent_id, previous_agent_id), {_epoch("assigned_at")}, status, {_epoch("resolved_at")},
                   {_epoch("queued_at")}, {_epoch("closed_at")}
            FROM tasks_ticket
            WHERE assigned_at < %s
              AND (GREATEST(created_at, assigned_at, resolved_at, queued_at, closed_at) >= %s OR status = 'assigned')
              {ticket_filter}""",  # noqa: S608 (only fixed SQL and placeholders are interpolated)
        [end, start] + ([] if ids is None else [ids, ids]),
    ):
        if agent is None or (wanted is not None and agent not in wanted):
            continue
        until = busy_until(status, assigned, resolved, queued, closed, now_s)
        if until is None or until <= first:
            continue
        events[agent].append((max(assigned, first), 1, 1))
        events[agent].append((min(until, last), 1, -1))
    seconds: dict[tuple[int, float], list[float]] = {}
    for agent, agent_events in events.items():
        agent_events.sort(key=lambda e: (e[0], e[1]))
        _sweep(agent, agent_events, last, seconds)
    return {(agent, hour_of(hour)): values for (agent, hour), values in seconds.items()}


def _sweep(agent: int, events: list[tuple[float, int, Any]], end: float, rows: dict[Any, list[float]]) -> None:
    """Walk one agent's status changes and chat starts/ends in time order, adding each
    stretch between two of them to the hours it covers."""
    status, chats = "offline", 0
    for i, (at, kind, value) in enumerate(events):
        if kind == 0:
            status = value
        else:
            chats += value
        until = events[i + 1][0] if i + 1 < len(events) else end
        if until <= at or status not in ONLINE:
            continue
        busy = chats > 0
        staffed = busy or status == "available"
        moment = at
        while moment < until:
            hour = moment - moment % 3600
            stop = min(until, hour + 3600)
            length = stop - moment
            row = rows.get((agent, hour))
            if row is None:
                row = rows[(agent, hour)] = [0.0, 0.0, 0.0]
            row[0] += length
            if staffed:
                row[1] += length
            if busy:
                row[2] += length
            moment = stop


@dataclass(frozen=True)
class AgentAttributes:
    tier: str
    brands: tuple[int, ...]
    languages: tuple[str, ...]


def agent_attributes() -> dict[int, AgentAttributes]:
    """Every agent's tier, brands and languages now."""
    found: dict[int, AgentAttributes] = {}
    for agent, tier, brands, languages in _fetch(
        """SELECT a.id, a.tier,
                  ARRAY(SELECT b.brand_id FROM agents_agentprofile_brands b WHERE b.agentprofile_id = a.id
                        ORDER BY b.brand_id),
                  ARRAY(SELECT l.code FROM agents_agentlanguage l WHERE l.agent_id = a.id ORDER BY l.code)
           FROM agents_agentprofile a""",
        [],
    ):
        found[agent] = AgentAttributes(tier, tuple(brands), tuple(languages))
    return found


# AgentTimeHourlyRollup from the stored per-agent hours and the agents' brands, languages and
# tier as they are now: each agent in the row of each brand they are certified for and of all
# brands (agents certified for no brand are in neither), of each language they speak and of
# all, of their tier and of all.
AGENT_CUBE_SQL = """
    WITH cells AS (
        SELECT a.id AS agent_id, b.brand_id, l.code, t.tier
        FROM agents_agentprofile a
        JOIN LATERAL (
            SELECT ab.brand_id FROM agents_agentprofile_brands ab WHERE ab.agentprofile_id = a.id
            UNION ALL
            SELECT NULL::bigint WHERE EXISTS (
                SELECT 1 FROM agents_agentprofile_brands ab WHERE ab.agentprofile_id = a.id
            )
        ) b ON TRUE
        JOIN LATERAL (
            SELECT al.code FROM agents_agentlanguage al WHERE al.agent_id = a.id UNION ALL SELECT '*'
        ) l ON TRUE
        JOIN LATERAL (VALUES (a.tier), ('*')) t(tier) ON TRUE
    )
    INSERT INTO tasks_agenttimehourlyrollup
        (brand_id, hour, language, tier, online_seconds, staffed_seconds, busy_seconds)
    SELECT c.brand_id, r.hour, c.code, c.tier, SUM(r.online_seconds), SUM(r.staffed_seconds), SUM(r.busy_seconds)
    FROM tasks_agenthourlyrollup r JOIN cells c ON c.agent_id = r.agent_id
    WHERE {hours}
    GROUP BY c.brand_id, r.hour, c.code, c.tier
"""


def agent_cube_between(start: datetime, end: datetime) -> int:
    """The agent-time cube of the hours [start, end) again from the stored per-agent hours."""
    AgentTimeHourlyRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
    with connection.cursor() as cursor:
        cursor.execute(AGENT_CUBE_SQL.format(hours="r.hour >= %s AND r.hour < %s"), [start, end])
        return int(cursor.rowcount)


def agent_cube_hours(hours: Sequence[datetime]) -> int:
    """The agent-time cube of these hours again (after an agent's tier, brands or languages
    changed: their past hours move to other rows)."""
    AgentTimeHourlyRollup.objects.filter(hour__in=list(hours)).delete()
    with connection.cursor() as cursor:
        cursor.execute(AGENT_CUBE_SQL.format(hours="r.hour = ANY(%s)"), [list(hours)])
        return int(cursor.rowcount)


# --- Writing ----------------------------------------------------------------------------------


def _copy(model: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into a rollup table: far faster than INSERTs for a rebuild."""
    table = model._meta.db_table
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def write_ticket_rows(rows: Rows, per_agent: Rows) -> int:
    columns = ("brand_id", "hour", "language", "tier", *TICKET_FIELDS)
    written = _copy(TicketHourlyRollup, columns, ((*k, *(row[f] for f in TICKET_FIELDS)) for k, row in rows.items()))
    columns = ("agent_id", "brand_id", "hour", "language", *TICKET_FIELDS)
    return written + _copy(
        AgentTicketHourlyRollup, columns, ((*k, *(row[f] for f in TICKET_FIELDS)) for k, row in per_agent.items())
    )


def write_earning_rows(rows: Rows, per_agent: Rows) -> int:
    columns = ("brand_id", "hour", "language", "tier", "currency", *EARNING_FIELDS)
    written = _copy(EarningHourlyRollup, columns, ((*k, *(row[f] for f in EARNING_FIELDS)) for k, row in rows.items()))
    columns = ("agent_id", "brand_id", "hour", "language", "currency", *EARNING_FIELDS)
    return written + _copy(
        AgentEarningHourlyRollup, columns, ((*k, *(row[f] for f in EARNING_FIELDS)) for k, row in per_agent.items())
    )


def write_agent_rows(rows: dict[tuple[int, datetime], list[float]]) -> int:
    columns = ("agent_id", "hour", *TIME_FIELDS)
    return _copy(AgentHourlyRollup, columns, ((*key, *values) for key, values in rows.items()))


def _delete_keys(model: Any, keys: Sequence[Key]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} r USING unnest(%s::bigint[], %s::timestamptz[]) AS k(brand_id, hour)"  # noqa: S608 (only fixed SQL and placeholders are interpolated)
            " WHERE r.brand_id = k.brand_id AND r.hour = k.hour",
            [[b for b, _h in keys], [h for _b, h in keys]],
        )


def refresh_ticket_keys(keys: Sequence[Key], tiers: dict[int, str]) -> int:
    """Compute the ticket and earning rollups of these brand-hours again from the source rows."""
    written = 0
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        selection = Selection(keys=chunk)
        rows = ticket_rows(ticket_facts(selection), resolution_facts(selection), offer_facts(selection), tiers)
        earnings = earning_rows(earning_facts(selection), tiers)
        for model in BRAND_HOUR_MODELS:
            _delete_keys(model, chunk)
        written += write_ticket_rows(*rows) + write_earning_rows(*earnings)
    return written


def refresh_agent_hours(start: datetime, end: datetime, now: datetime) -> int:
    """Compute every agent's time in [start, end) again (whole hours), and its cube."""
    start, end = floor_hour(start), floor_hour(end - timedelta(microseconds=1)) + HOUR
    per_agent = agent_time(start, end, now)
    AgentHourlyRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
    return write_agent_rows(per_agent) + agent_cube_between(start, end)


# --- The job and the rebuild ------------------------------------------------------------------


def _db_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        moment: datetime = cursor.fetchone()[0]
    return moment


def _keys(sql: str, params: list[Any]) -> set[Key]:
    return {(brand, floor_hour(hour)) for brand, hour in _fetch(sql, params)}


def touched_keys(since: datetime) -> set[Key]:
    """The brand-hours whose ticket, resolution, offer or earning rows changed since `since`."""
    timeouts = Brand.objects.exclude(offer_timeout_seconds=None).values_list("offer_timeout_seconds", flat=True)
    longest_offer = max([settings.OFFER_TIMEOUT_SECONDS, *(s for s in timeouts if s is not None)])
    offers_since = since - timedelta(seconds=longest_offer)
    ratable_since = since - timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    found = _keys(
        "SELECT DISTINCT brand_id, date_trunc('hour', created_at, 'UTC') FROM tasks_ticket"
        " WHERE GREATEST(created_at, assigned_at, resolved_at, queued_at, closed_at) >= %s",
        [since],
    )
    # A first reply and a first offer change the figures of the ticket's creation hour.
    found |= _keys(
        "SELECT DISTINCT t.brand_id, date_trunc('hour', t.created_at, 'UTC') FROM tasks_message m"
        " JOIN tasks_ticket t ON t.id = m.ticket_id WHERE m.sender = 'agent' AND m.sent_at >= %s",
        [since],
    )
    # An offer is declined or expires within its countdown of being made.
    found |= _keys(
        "SELECT DISTINCT t.brand_id, date_trunc('hour', o.created_at, 'UTC') FROM tasks_offer o"
        " JOIN tasks_ticket t ON t.id = o.ticket_id WHERE o.created_at >= %s"
        " UNION SELECT DISTINCT t.brand_id, date_trunc('hour', t.created_at, 'UTC') FROM tasks_offer o"
        " JOIN tasks_ticket t ON t.id = o.ticket_id WHERE o.created_at >= %s",
        [offers_since, offers_since],
    )
    # Ratings and reopens come within the reopen window after the resolution.
    found |= _keys(
        "SELECT DISTINCT t.brand_id, date_trunc('hour', r.resolved_at, 'UTC') FROM tasks_resolution r"
        " JOIN tasks_ticket t ON t.id = r.ticket_id"
        " WHERE r.resolved_at >= %s AND GREATEST(r.resolved_at, r.outcome_at, r.rated_at) >= %s",
        [ratable_since, since],
    )
    found |= _keys(
        "SELECT DISTINCT brand_id, date_trunc('hour', created_at, 'UTC') FROM payouts_earning WHERE created_at >= %s",
        [since],
    )
    return found


def agent_keys(agent_ids: Sequence[int]) -> set[Key]:
    """Every brand-hour with a row of these agents (their tier changed)."""
    ids = list(agent_ids)
    return _keys(
        "SELECT DISTINCT brand_id, date_trunc('hour', created_at, 'UTC') FROM tasks_ticket"
        " WHERE agent_id = ANY(%s) OR previous_agent_id = ANY(%s)"
        " UNION SELECT DISTINCT t.brand_id, date_trunc('hour', r.resolved_at, 'UTC') FROM tasks_resolution r"
        " JOIN tasks_ticket t ON t.id = r.ticket_id WHERE r.agent_id = ANY(%s)"
        " UNION SELECT DISTINCT t.brand_id, date_trunc('hour', o.created_at, 'UTC') FROM tasks_offer o"
        " JOIN tasks_ticket t ON t.id = o.ticket_id WHERE o.agent_id = ANY(%s)"
        " UNION SELECT DISTINCT brand_id, date_trunc('hour', created_at, 'UTC') FROM payouts_earning"
        " WHERE agent_id = ANY(%s)",
        [ids] * 5,
    )


def _snapshot(attributes: dict[int, AgentAttributes]) -> dict[str, list[Any]]:
    return {str(agent): [a.tier, list(a.brands), list(a.languages)] for agent, a in attributes.items()}


def _lock(wait: bool) -> bool:
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


def rollup_run() -> dict[str, Any]:
    """Bring the rollups up to date with the source rows (the minute job)."""
    if not supported():
        return {"skipped": "the analytics need PostgreSQL"}
    with transaction.atomic():
        if not _lock(wait=False):
            return {"skipped": "another run is under way"}
        now = _db_now()
        state, _created = AnalyticsRollupState.objects.select_for_update().get_or_create(name=STATE)
        if state.ran_at is None:
            first = earliest_source_time()
            result = _rebuild(first or now, now, now, brand_ids=None) if first else {}
            _save_state(state, now, agent_attributes())
            return {"rebuilt_from": first, **result}
        since = state.ran_at - timedelta(seconds=settings.ANALYTICS_ROLLUP_OVERLAP_SECONDS)
        attributes = agent_attributes()
        previous = state.agents or {}
        changed = [
            agent for agent, found in attributes.items() if previous.get(str(agent)) != _snapshot({0: found})["0"]
        ]
        keys = touched_keys(since)
        retiered = [a for a in changed if str(a) in previous and previous[str(a)][0] != attributes[a].tier]
        if retiered:
            keys |= agent_keys(retiered)
        tiers = {agent: found.tier for agent, found in attributes.items()}
        written = refresh_ticket_keys(sorted(keys), tiers)
        written += refresh_agent_hours(since, now, now)
        refiled: list[datetime] = []
        if changed:
            refiled = sorted(
                set(
                    AgentHourlyRollup.objects.filter(agent_id__in=changed, hour__lt=floor_hour(since))
                    .values_list("hour", flat=True)
                    .distinct()
                )
            )
            written += agent_cube_hours(refiled)
        _save_state(state, now, attributes)
    return {"brand_hours": len(keys), "agents_changed": len(changed), "hours_refiled": len(refiled), "rows": written}


def _save_state(state: AnalyticsRollupState, now: datetime, attributes: dict[int, AgentAttributes]) -> None:
    state.ran_at = now
    state.agents = _snapshot(attributes)
    state.save()


def earliest_source_time() -> datetime | None:
    """The oldest moment any source row of the rollups is about, or None for an empty database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT LEAST((SELECT min(created_at) FROM tasks_ticket), (SELECT min(at) FROM agents_agentstatuschange),"
            " (SELECT min(created_at) FROM payouts_earning))"
        )
        moment: datetime | None = cursor.fetchone()[0]
    return moment


def _rebuild(
    start: datetime, end: datetime, now: datetime, *, brand_ids: Sequence[int] | None, progress: Any = None
) -> dict[str, int]:
    """Replace the rollups of [start, end) (whole hours) with rows computed from the source,
    a day at a time. Inside the caller's transaction, holding the lock."""
    start, end = floor_hour(start), floor_hour(end - timedelta(microseconds=1)) + HOUR
    attributes = agent_attributes()
    tiers = {agent: found.tier for agent, found in attributes.items()}
    ticket_filter: dict[str, Any] = {"hour__gte": start, "hour__lt": end}
    if brand_ids is not None:
        ticket_filter["brand_id__in"] = list(brand_ids)
    for model in BRAND_HOUR_MODELS:
        model.objects.filter(**ticket_filter).delete()
    written = {"ticket_rows": 0, "earning_rows": 0, "agent_rows": 0}
    day = start
    while day < end:
        until = min(day + timedelta(days=1), end)
        selection = Selection(start=day, end=until, brand_ids=brand_ids)
        rows, agent_rows = ticket_rows(
            ticket_facts(selection), resolution_facts(selection), offer_facts(selection), tiers
        )
        earnings, agent_earnings = earning_rows(earning_facts(selection), tiers)
        # Written in the order the page reads them (language and tier first; an agent's
        # rows together), so the rows of one read sit on few pages instead of one page each.
        written["ticket_rows"] += write_ticket_rows(
            dict(sorted(rows.items(), key=_read_order)), dict(sorted(agent_rows.items(), key=_first))
        )
        written["earning_rows"] += write_earning_rows(
            dict(sorted(earnings.items(), key=_read_order)), dict(sorted(agent_earnings.items(), key=_first))
        )
        if progress is not None:
            progress("rollups", (until - start) // timedelta(hours=1), (end - start) // timedelta(hours=1))
        day = until
    written["agent_rows"] = rebuild_agent_time(start, end, now, list(attributes), progress=progress)
    return written


def _first(item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    return item[0]


def _read_order(item: tuple[tuple[Any, ...], Any]) -> tuple[Any, ...]:
    brand, hour, language, tier, *rest = item[0]
    return (language, tier, brand, hour, *rest)


def rebuild_agent_time(
    start: datetime, end: datetime, now: datetime, agents: Sequence[int], *, progress: Any = None
) -> int:
    """Every agent's time in [start, end) (whole hours) again, some agents at a time: one
    agent's tickets and status changes come through their own indexes, where a pass over
    all agents a day at a time would rescan every later ticket each day."""
    AgentHourlyRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
    written = 0
    agents = sorted(agents)
    for first in range(0, len(agents), 50):
        written += write_agent_rows(agent_time(start, end, now, agents[first : first + 50]))
        if progress is not None:
            progress("agents", min(first + 50, len(agents)), len(agents))
    return written + agent_cube_between(start, end)


def rebuild(
    start: datetime,
    end: datetime,
    *,
    brand_ids: Sequence[int] | None = None,
    progress: Any = None,
    mark_current: bool = False,
) -> dict[str, int]:
    """Recompute the rollups of [start, end) from the source rows (`manage.py analytics_rebuild`).
    Agent time is not per brand: it is recomputed for every agent whatever `brand_ids`.
    `mark_current`: the range covers every source row, so the job need only follow changes
    from now on (without it, the job's first run rebuilds everything itself)."""
    if not supported():
        raise RuntimeError("The analytics rollups need PostgreSQL.")
    with transaction.atomic():
        _lock(wait=True)
        with connection.cursor() as cursor:
            # Room to add up a rebuild's hours in memory instead of spilling to disk.
            cursor.execute("SET LOCAL work_mem = '128MB'")
        now = _db_now()
        result = _rebuild(start, min(end, now + HOUR), now, brand_ids=brand_ids, progress=progress)
        if sum(result.values()) > 10_000:
            # Fresh statistics, or the planner reads the rebuilt tables as nearly empty.
            with connection.cursor() as cursor:
                for model in (*BRAND_HOUR_MODELS, AgentHourlyRollup, AgentTimeHourlyRollup):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
        if mark_current:
            state, _created = AnalyticsRollupState.objects.select_for_update().get_or_create(name=STATE)
            _save_state(state, now, agent_attributes())
    return result
