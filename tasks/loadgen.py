"""A realistic data set for measuring the supervisor analytics (`manage.py generate_load_data`).

Brands with supervisors, agents with languages, tiers, brands and a working day each
(available, a break away, offline), customers, and tickets over the days on a daily curve
(busier by day, quieter at weekends), each with what really happens to a ticket: offers
(some declined or let time out before one is accepted), the customer's message and the
agent's replies, the resolution, a rating for about half, a reopen for a few (the pay
reversed, a second round resolved again), case earnings, and shift floor top-ups. Tickets
of the last hours are still waiting or being worked on.

Rows are written with COPY (psycopg's `cursor.copy`), a chunk of tickets per transaction,
so a million tickets take minutes. Ids are given here so that children name their parents;
the sequences are moved past them at the end. Deterministic for a seed (apart from the
moment it runs, which the days count back from).
"""

from __future__ import annotations

import json
import math
import queue
import random
import sys
import threading
import time as clock
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from agents.models import AgentLanguage, AgentProfile, AgentStatusChange
from marketplace.models import Brand, User
from payouts.models import Earning
from payouts.services.rates import rate_card_create

from .models import Customer, Message, Offer, Resolution, Shift, ShiftBooking, Ticket

# Share of a day's tickets in each UTC hour, and of a week's in each weekday (Monday first).
HOURLY: tuple[float, ...] = (0.2, 0.15, 0.12, 0.12, 0.15, 0.3, 0.55, 0.8, 1.0, 1.1, 1.15, 1.2)
HOURLY += (1.2, 1.15, 1.1, 1.1, 1.05, 1.0, 0.95, 0.9, 0.8, 0.6, 0.4, 0.3)
WEEKDAY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.7, 0.6)
LANGUAGES = ("en", "sv", "de", "fi", "nl")
CURRENCIES = ("SEK", "EUR", "USD")
CATEGORIES = (("billing", 4500), ("cards", 5000), ("delivery", 4000), ("account", 4500), ("", 4000))
SUBJECTS = ("Card declined", "Double charge", "Parcel not arrived", "Cannot log in", "Refund status", "Change address")
CUSTOMER_LINES = ("Hi, I need help with this.", "It still does not work.", "Thanks, that helps.", "One more thing:")
AGENT_LINES = ("Hello, I can help you with that.", "Let me check.", "That is sorted now.", "Anything else?")
TIERS = ((AgentProfile.Tier.PROBATION, 0.25), (AgentProfile.Tier.STANDARD, 0.55), (AgentProfile.Tier.EXPERT, 0.2))
RATINGS = ((5, 0.5), (4, 0.25), (3, 0.1), (2, 0.07), (1, 0.08))
CHUNK = 20_000
EMAIL_DOMAIN = "load.example.test"


class Refused(Exception):
    """The database is not one to fill (it already holds data)."""


@dataclass
class Options:
    tickets: int = 1_000_000
    brands: int = 5
    agents: int = 500
    days: int = 90
    seed: int = 1
    rollups: bool = True


@dataclass
class World:
    now: datetime
    start: datetime
    brands: list[Brand]
    brand_weights: list[float]
    agents: list[AgentProfile]
    agent_user: dict[int, int]
    agent_brands: dict[int, list[int]]
    tier: dict[int, str]
    customers: dict[int, list[int]]
    online: dict[tuple[int, int], list[int]] = field(default_factory=dict)  # (brand, hour index) -> agents


def refuse_unless_empty(force: bool) -> None:
    """Refuse a database that already holds tickets or people (a real one, or a test run's),
    unless forced."""
    if force:
        return
    tickets = Ticket.objects.exists()
    users = User.objects.exists()
    if tickets or users:
        raise Refused(
            "This database already holds "
            + ("tickets" if tickets else "users")
            + f" ({connection.settings_dict['NAME']}). Point DATABASE_URL at an empty database made for "
            "load data (e.g. postgres://postgres@127.0.0.1:5432/mkt_load), or pass --force to add to this one."
        )


class Progress:
    """One line on stderr, rewritten: what is being done, how far, time left."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.label = ""
        self.phase_started = clock.monotonic()
        self.width = 0

    def show(self, label: str, done: int, total: int) -> None:
        if label != self.label:
            if self.label:
                self.stream.write("\n")
            self.label, self.phase_started, self.width = label, clock.monotonic(), 0
        elapsed = clock.monotonic() - self.phase_started
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        left = f", {elapsed / share - elapsed:4.0f} s left" if 0 < share < 1 else ""
        line = f"\r{label:<10} [{bar:<30}] {done:>9,}/{total:,} {share:6.1%} {elapsed:5.0f} s{left}"
        self.width = max(self.width, len(line))
        self.stream.write(line.ljust(self.width))
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
        self.label = ""


# --- Writing ----------------------------------------------------------------------------------


class Copier:
    """COPY rows into a model's table; a row is a dict of column -> value, the other columns
    get the field's default as the database takes it (JSON wrapped for psycopg). The id
    column is written only when the rows carry it."""

    def __init__(self, model: type[models.Model], *, ids: bool = True) -> None:
        self.model = model
        fields = [f for f in model._meta.concrete_fields if ids or not f.primary_key]
        self.columns = [str(f.column) for f in fields]
        self.defaults = {f.column: _constant(f) for f in fields if not f.primary_key}

    def write(self, rows: Iterable[dict[str, Any]]) -> int:
        count = 0
        columns = self.columns
        defaults = self.defaults
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] if c in row else defaults[c] for c in columns])
                    count += 1
        return count


def _constant(f: Any) -> Any:
    """A field's default as COPY takes it; JSON as its text, written once instead of per row."""
    value = f.get_default()
    if isinstance(f, models.JSONField):
        return json.dumps(value)
    return f.get_db_prep_save(value, connection)


def next_id(model: type[models.Model]) -> int:
    found = model._default_manager.aggregate(m=models.Max("pk"))["m"]
    return (found or 0) + 1


def move_sequences(models_: Sequence[type[models.Model]]) -> None:
    with connection.cursor() as cursor:
        for model in models_:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))",  # noqa: S608 (a model's table name)
                [table],
            )


# --- The cast ---------------------------------------------------------------------------------


def make_cast(options: Options, rng: random.Random, now: datetime) -> World:
    """Brands (rate cards, supervisors with two-factor set up), platform staff, agents with
    their languages and brands, and customers."""
    tag = f"s{options.seed}"
    brands = []
    for n in range(options.brands):
        brand = Brand.objects.create(
            slug=f"load-{tag}-{n + 1}",
            name=f"Load brand {n + 1}",
            currency=CURRENCIES[n % len(CURRENCIES)] if n else "SEK",
        )
        rate_card_create(
            brand_id=brand.pk, lines=dict(CATEGORIES), effective_from=now - timedelta(days=options.days + 1)
        )
        supervisor = User.objects.create_user(
            email=f"supervisor-{tag}-{n + 1}@{EMAIL_DOMAIN}", role=User.Role.SUPERVISOR, is_staff=True
        )
        supervisor.set_unusable_password()
        supervisor.save(update_fields=["password"])
        TOTP.activate(supervisor, f"LOAD{tag.upper()}{n:04d}".ljust(32, "A")[:32])
        brand.supervisors.add(supervisor)
        brands.append(brand)
    staff = User.objects.create_user(email=f"staff-{tag}@{EMAIL_DOMAIN}", role=User.Role.STAFF, is_staff=True)
    TOTP.activate(staff, f"LOADSTAFF{tag.upper()}".ljust(32, "A")[:32])
    # Brand 1 is the biggest; sizes fall off like a long tail.
    brand_weights = [1 / (n + 1) ** 0.7 for n in range(options.brands)]

    users = User.objects.bulk_create(
        [
            User(email=f"agent-{tag}-{n + 1}@{EMAIL_DOMAIN}", role=User.Role.AGENT, password="!")
            for n in range(options.agents)
        ]
    )
    tiers = [t for t, _w in TIERS]
    tier_weights = [w for _t, w in TIERS]
    profiles = []
    for n, user in enumerate(users):
        tier = rng.choices(tiers, tier_weights)[0]
        capacity = {"probation": settings.PROBATION_CAPACITY, "expert": settings.EXPERT_CAPACITY}.get(
            tier, settings.DEFAULT_CAPACITY
        )
        profiles.append(AgentProfile(user=user, display_name=f"Agent {n + 1}", tier=tier, capacity=capacity))
    agents = AgentProfile.objects.bulk_create(profiles)
    through = AgentProfile.brands.through
    certified = []
    languages = []
    agent_brands: dict[int, list[int]] = {}
    for agent in agents:
        mine = rng.choices(range(options.brands), brand_weights, k=2 if rng.random() < 0.3 else 1)
        ids = sorted({brands[i].pk for i in mine})
        agent_brands[agent.pk] = ids
        certified += [through(agentprofile_id=agent.pk, brand_id=b) for b in ids]
        codes = {LANGUAGES[i % len(LANGUAGES)] for i in mine}
        if rng.random() < 0.6:
            codes.add("en")
        languages += [AgentLanguage(agent=agent, code=code) for code in sorted(codes)]
    through.objects.bulk_create(certified)
    AgentLanguage.objects.bulk_create(languages)

    customers: dict[int, list[int]] = {}
    first = next_id(Customer)
    rows = []
    per_brand = max(10, options.tickets // 5 // options.brands)
    for brand in brands:
        ids = list(range(first, first + per_brand))
        customers[brand.pk] = ids
        rows += [
            {
                "id": cid,
                "brand_id": brand.pk,
                "external_id": f"c{cid}",
                "name": f"Customer {cid}",
                "email": "",
                "created_at": now - timedelta(days=options.days + 1),
            }
            for cid in ids
        ]
        first += per_brand
    Copier(Customer).write(rows)
    return World(
        now=now,
        start=now - timedelta(days=options.days),
        brands=brands,
        brand_weights=brand_weights,
        agents=agents,
        agent_user={agent.pk: agent.user_id for agent in agents},
        agent_brands=agent_brands,
        tier={agent.pk: agent.tier for agent in agents},
        customers=customers,
    )


def make_schedules(world: World, options: Options, rng: random.Random) -> int:
    """Each agent's working days: available from the start of a shift, away for a break in
    the middle, offline at the end; which agents are online in which hour is kept for
    dispatching the tickets."""
    hour_weights = list(accumulate(HOURLY))
    rows = []
    online: dict[tuple[int, int], list[int]] = defaultdict(list)
    day0 = world.start.replace(hour=0, minute=0, second=0, microsecond=0)
    for agent in world.agents:
        for day in range(options.days + 1):
            date_start = day0 + timedelta(days=day)
            if rng.random() > 5 / 7 * WEEKDAY[date_start.weekday()]:
                continue
            # Shifts start when tickets come: a start hour drawn from the daily curve, a bit early.
            first_hour = max(0, bisect_right(hour_weights, rng.random() * hour_weights[-1]) - 3)
            begin = date_start + timedelta(hours=first_hour, minutes=rng.randrange(60))
            length = timedelta(hours=rng.uniform(6, 9))
            end = begin + length
            if end <= world.start or begin >= world.now:
                continue
            pause = begin + length / 2 + timedelta(minutes=rng.randrange(-30, 30))
            back = pause + timedelta(minutes=rng.randrange(15, 35))
            for at, status in ((begin, "available"), (pause, "away"), (back, "available"), (end, "offline")):
                if at < world.now:
                    rows.append({"agent_id": agent.pk, "status": status, "at": at})
            hour = int((begin - day0).total_seconds() // 3600)
            last = int((min(end, world.now) - day0).total_seconds() // 3600)
            for h in range(hour, last + 1):
                for brand in world.agent_brands[agent.pk]:
                    online[(brand, h)].append(agent.pk)
    world.online = dict(online)
    return Copier(AgentStatusChange, ids=False).write(rows)


def make_shifts(world: World, options: Options, rng: random.Random) -> dict[str, Any]:
    """One day shift per brand and day with a pay floor; a few agents booked on it, some of
    them topped up to the floor afterwards (Earning rows of kind floor_topup)."""
    day0 = world.start.replace(hour=0, minute=0, second=0, microsecond=0)
    shifts, bookings, topups = [], [], []
    shift_id, booking_id = next_id(Shift), next_id(ShiftBooking)
    for day in range(options.days):
        starts = day0 + timedelta(days=day, hours=9)
        ends = starts + timedelta(hours=8)
        if ends + timedelta(minutes=5) > world.now:
            continue
        booked_today: set[int] = set()
        for n, brand in enumerate(world.brands):
            agents = [a for a in world.online.get((brand.pk, int((starts - day0).total_seconds() // 3600)), [])]
            agents = [a for a in dict.fromkeys(agents) if a not in booked_today][:3]
            booked_today.update(agents)
            shifts.append(
                {
                    "id": shift_id,
                    "brand_id": brand.pk,
                    "starts_at": starts,
                    "ends_at": ends,
                    "languages": _json([LANGUAGES[n % len(LANGUAGES)]]),
                    "slots": 5,
                    "booked": len(agents),
                    "hourly_floor_minor": 15000,
                    "status": "open",
                    "created_at": starts - timedelta(days=7),
                    "settled_at": ends + timedelta(minutes=5),
                }
            )
            for agent in agents:
                bookings.append(
                    {
                        "id": booking_id,
                        "shift_id": shift_id,
                        "agent_id": agent,
                        "starts_at": starts,
                        "ends_at": ends,
                        "status": "booked",
                        "created_at": starts - timedelta(days=3),
                        "checked_in_at": starts,
                    }
                )
                if rng.random() < 0.3:
                    topups.append(
                        {
                            "agent_id": agent,
                            "brand_id": brand.pk,
                            "shift_id": shift_id,
                            "booking_id": booking_id,
                            "kind": "floor_topup",
                            "amount_minor": rng.randrange(2000, 8000, 100),
                            "currency": brand.currency,
                            "created_at": ends + timedelta(minutes=5),
                            "available_at": ends + timedelta(minutes=5),
                        }
                    )
                booking_id += 1
            shift_id += 1
    Copier(Shift).write(shifts)
    Copier(ShiftBooking).write(bookings)
    return {"shifts": len(shifts), "bookings": len(bookings), "topups": topups}


def _json(value: Any) -> str:
    return json.dumps(value)


# --- Tickets ----------------------------------------------------------------------------------


def ticket_times(world: World, options: Options, rng: random.Random) -> list[float]:
    """Creation times (seconds after the start), on the daily and weekly curve, sorted."""
    hours = options.days * 24
    weights = []
    for h in range(hours):
        moment = world.start + timedelta(hours=h)
        weights.append(HOURLY[moment.hour] * WEEKDAY[moment.weekday()])
    cumulative = list(accumulate(weights))
    top = cumulative[-1]
    times = []
    for _ in range(options.tickets):
        h = bisect_right(cumulative, rng.random() * top)
        times.append(min(h, hours - 1) * 3600 + rng.random() * 3600)
    times.sort()
    return times


@dataclass
class Batch:
    """The rows of one chunk of tickets, table by table."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    earnings: list[dict[str, Any]] = field(default_factory=list)


class TicketMaker:
    """What happens to one ticket, from handover to closing, as rows."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.day0 = world.start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.offset = (world.start - self.day0).total_seconds()
        self.window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
        self.timeout = timedelta(seconds=settings.OFFER_TIMEOUT_SECONDS)
        self.brand_ids = [b.pk for b in world.brands]
        self.currency = {b.pk: b.currency for b in world.brands}
        self.primary = {b.pk: LANGUAGES[n % len(LANGUAGES)] for n, b in enumerate(world.brands)}
        self.rates = dict(CATEGORIES)
        self.offer_id = next_id(Offer)
        self.earning_id = next_id(Earning)
        self.ticket_id = next_id(Ticket)

    def at(self, seconds: float) -> datetime:
        return self.world.start + timedelta(seconds=seconds)

    def agent_for(self, brand: int, moment: datetime, avoid: int | None = None) -> tuple[int | None, datetime]:
        """An agent of the brand online at `moment`, or the first one online later (the ticket
        waits); None when nobody comes within a day."""
        hour = int((moment - self.day0).total_seconds() // 3600)
        for h in range(hour, hour + 24):
            agents = self.world.online.get((brand, h))
            if agents:
                if avoid in agents and self.rng.random() < 0.8:
                    return avoid, moment
                when = moment if h == hour else self.day0 + timedelta(hours=h, seconds=self.rng.random() * 900)
                return self.rng.choice(agents), when
        return None, moment

    def make(self, created_s: float, batch: Batch) -> None:
        rng, world, now = self.rng, self.world, self.world.now
        ticket_id = self.ticket_id
        self.ticket_id += 1
        brand = rng.choices(self.brand_ids, world.brand_weights)[0]
        created = self.at(created_s)
        language = self.primary[brand] if rng.random() < 0.75 else "en"
        category, base = rng.choice(CATEGORIES)
        ticket: dict[str, Any] = {
            "id": ticket_id,
            "brand_id": brand,
            "customer_id": rng.choice(world.customers[brand]),
            "customer_token": f"{rng.getrandbits(128):032x}",
            "language": language,
            "subject": rng.choice(SUBJECTS),
            "category": category,
            "priority": rng.choices((0, 1, 2, 3), (0.1, 0.7, 0.15, 0.05))[0],
            "status": "queued",
            "created_at": created,
            "queued_at": created,
        }
        batch.tickets.append(ticket)
        batch.messages.append(self.message(ticket_id, "customer", None, created + timedelta(seconds=1)))
        if rng.random() < 0.02:
            self.cancel(ticket, batch)
            return
        cycle = self.cycle(ticket, batch, created, avoid=None, base=base)
        if cycle is None:
            return
        agent, resolved, pay = cycle
        reopened = resolved + timedelta(minutes=rng.uniform(10, 24 * 60))
        if rng.random() < 0.04 and reopened < now:
            # Reopened: the first resolution's pay reversed, back to the queue (its agent
            # first), and resolved a second time unless that is still under way now.
            self.resolution(ticket, batch, agent, 1, resolved, pay, reopened_at=reopened)
            ticket.update(resolved_at=resolved, resolution_count=1)
            again = self.cycle(ticket, batch, reopened, avoid=agent, base=base, reopen=True)
            if again is not None:
                agent, resolved, pay = again
                self.resolution(ticket, batch, agent, 2, resolved, pay, reopened_at=None)
            return
        self.resolution(ticket, batch, agent, 1, resolved, pay, reopened_at=None)

    def cancel(self, ticket: dict[str, Any], batch: Batch) -> None:
        """The customer left before anyone took the ticket."""
        created = ticket["created_at"]
        left = created + timedelta(seconds=self.rng.uniform(30, 600))
        if left > self.world.now:
            return
        agent, when = self.agent_for(ticket["brand_id"], created + timedelta(seconds=5))
        if agent is not None and when + self.timeout < left:
            batch.offers.append(self.offer(ticket, agent, when, "expired", when + self.timeout, 4000))
        ticket.update(status="cancelled", closed_at=left)

    def cycle(
        self,
        ticket: dict[str, Any],
        batch: Batch,
        queued: datetime,
        *,
        avoid: int | None,
        base: int,
        reopen: bool = False,
    ) -> tuple[int, datetime, int] | None:
        """Offers until one is accepted, the chat, the resolution time; None when the ticket
        is still waiting or being worked on now (its row says so)."""
        rng, now = self.rng, self.world.now
        brand = ticket["brand_id"]
        moment = queued + timedelta(seconds=rng.expovariate(1 / 6))
        if reopen:
            ticket.update(
                status="queued", agent_id=None, queued_at=queued, queue_reason="reopened", previous_agent_id=avoid
            )
        for _attempt in range(4):
            agent, moment = self.agent_for(brand, moment, avoid=avoid)
            if agent is None or moment >= now:
                return None
            pay = round(base * {"expert": 1.2, "probation": 0.9}.get(self.world.tier[agent], 1.0))
            miss = rng.random()
            if miss < 0.12 and _attempt < 3:
                answered = moment + timedelta(seconds=rng.uniform(2, 15))
                state = "declined"
            elif miss < 0.2 and _attempt < 3:
                answered = moment + self.timeout
                state = "expired"
            else:
                answered = moment + timedelta(seconds=rng.uniform(2, 12))
                state = "accepted"
            if answered > now:
                batch.offers.append(self.offer(ticket, agent, moment, "pending", None, pay))
                ticket["status"] = "offered"
                return None
            batch.offers.append(self.offer(ticket, agent, moment, state, answered, pay))
            if state == "accepted":
                break
            moment = answered + timedelta(seconds=rng.uniform(1, 5))
        assert agent is not None  # the loop returned unless an offer was accepted
        assigned = answered
        ticket.update(
            status="assigned",
            agent_id=agent,
            assigned_at=assigned,
            pay_amount_minor=pay,
            queue_reason="",
            previous_agent_id=avoid if reopen else None,
        )
        user = self.world.agent_user[agent]
        reply = assigned + timedelta(seconds=rng.lognormvariate(math.log(40), 0.6))
        resolved = reply + timedelta(seconds=rng.lognormvariate(math.log(420), 0.6))
        if reply <= now:
            batch.messages.append(self.message(ticket["id"], "agent", user, reply))
        extra = rng.randrange(0, 3)
        for i in range(extra):
            sent = reply + (resolved - reply) * (i + 1) / (extra + 1)
            if sent <= now:
                sender = "customer" if i % 2 == 0 else "agent"
                batch.messages.append(self.message(ticket["id"], sender, user if sender == "agent" else None, sent))
        if resolved > now:
            return None
        return agent, resolved, pay

    def resolution(
        self,
        ticket: dict[str, Any],
        batch: Batch,
        agent: int,
        number: int,
        resolved: datetime,
        pay: int,
        *,
        reopened_at: datetime | None,
    ) -> None:
        rng, now = self.rng, self.world.now
        brand = ticket["brand_id"]
        currency = self.currency[brand]
        case_id = self.earning_id
        self.earning_id += 1
        batch.earnings.append(
            {
                "id": case_id,
                "agent_id": agent,
                "brand_id": brand,
                "ticket_id": ticket["id"],
                "kind": "case",
                "amount_minor": pay,
                "currency": currency,
                "round": number,
                "created_at": resolved,
                "available_at": resolved + self.window,
            }
        )
        row: dict[str, Any] = {
            "ticket_id": ticket["id"],
            "agent_id": agent,
            "number": number,
            "resolved_at": resolved,
            "outcome": "pending",
            "confirmed_by": "",
            "qa_considered": True,
        }
        if reopened_at is not None:
            row.update(outcome="reopened", outcome_at=reopened_at)
            batch.earnings.append(
                {
                    "id": self.earning_id,
                    "agent_id": agent,
                    "brand_id": brand,
                    "ticket_id": ticket["id"],
                    "kind": "reversal",
                    "amount_minor": -pay,
                    "currency": currency,
                    "round": number,
                    "reverses_id": case_id,
                    "created_at": reopened_at,
                    "available_at": reopened_at,
                }
            )
            self.earning_id += 1
            batch.resolutions.append(row)
            return
        ticket.update(status="resolved", resolved_at=resolved, resolution_count=number)
        rated = resolved + timedelta(minutes=rng.uniform(1, 120))
        if rng.random() < 0.55 and rated <= now:
            rating = rng.choices([r for r, _w in RATINGS], [w for _r, w in RATINGS])[0]
            row.update(rating=rating, rated_at=rated, outcome="confirmed", confirmed_by="customer", outcome_at=rated)
            ticket.update(status="closed", closed_at=rated, rating=rating)
        elif resolved + self.window <= now:
            closed = resolved + self.window
            row.update(outcome="confirmed", confirmed_by="window", outcome_at=closed)
            ticket.update(status="closed", closed_at=closed)
        batch.resolutions.append(row)

    def offer(
        self, ticket: dict[str, Any], agent: int, made: datetime, state: str, answered: datetime | None, pay: int
    ) -> dict[str, Any]:
        self.offer_id += 1
        return {
            "id": self.offer_id - 1,
            "ticket_id": ticket["id"],
            "agent_id": agent,
            "state": state,
            "pay_amount_minor": pay,
            "currency": self.currency[ticket["brand_id"]],
            "created_at": made,
            "expires_at": made + self.timeout,
            "responded_at": answered,
            "decline_reason": "",
        }

    def message(self, ticket_id: int, sender: str, author: int | None, sent: datetime) -> dict[str, Any]:
        lines = AGENT_LINES if sender == "agent" else CUSTOMER_LINES
        return {
            "ticket_id": ticket_id,
            "sender": sender,
            "author_id": author,
            "text": lines[self.rng.randrange(len(lines))],
            "sent_at": sent,
            "client_ref": "",
        }


def _superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        found = cursor.fetchone()
    return bool(found and found[0])


def _batches(maker: TicketMaker, times: list[float], topups: list[dict[str, Any]], out: queue.Queue[Any]) -> None:
    """Make the chunks' rows in a thread of their own, so the next chunk is being made while
    PostgreSQL takes in the last one. A failure is passed on as the item."""
    try:
        for first in range(0, len(times), CHUNK):
            batch = Batch()
            for created in times[first : first + CHUNK]:
                maker.make(created, batch)
            if first + CHUNK >= len(times):
                for topup in topups:
                    batch.earnings.append({"id": maker.earning_id, **topup})
                    maker.earning_id += 1
            out.put((min(first + CHUNK, len(times)), batch))
    except BaseException as exc:  # handed to the writer, which raises it
        out.put((None, exc))
        return
    out.put((None, None))


def generate(
    options: Options,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    rebuild: Callable[..., Any] | None = None,
    check_keys: bool = False,
) -> dict[str, int]:
    """Fill the (empty) database; returns how many rows of each kind were written.

    The rows are consistent by construction, so as a superuser the foreign keys are not
    checked row by row while they are copied in (session_replication_role = replica, per
    transaction): that check is most of PostgreSQL's work at this size. `check_keys` keeps it
    (the tests do, so the generator's rows are proven consistent)."""
    rng = random.Random(options.seed)
    now = (now or timezone.now()).astimezone(UTC)
    counts: dict[str, int] = defaultdict(int)
    unchecked = not check_keys and _superuser()
    with transaction.atomic():
        world = make_cast(options, rng, now)
        counts["status_changes"] = make_schedules(world, options, rng)
        shifts = make_shifts(world, options, rng)
        counts["shifts"], counts["bookings"] = shifts["shifts"], shifts["bookings"]
    times = ticket_times(world, options, rng)
    maker = TicketMaker(world, rng)
    copiers = {
        "tickets": Copier(Ticket),
        "offers": Copier(Offer),
        "messages": Copier(Message, ids=False),
        "resolutions": Copier(Resolution, ids=False),
        "earnings": Copier(Earning),
    }
    made: queue.Queue[Any] = queue.Queue(maxsize=2)
    producer = threading.Thread(target=_batches, args=(maker, times, shifts["topups"], made), daemon=True)
    producer.start()
    while True:
        done, batch = made.get()
        if done is None:
            if isinstance(batch, BaseException):
                raise batch
            break
        with transaction.atomic():
            if unchecked:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = replica")
            for name, copier in copiers.items():
                counts[name] += copier.write(getattr(batch, name))
        if progress is not None:
            progress.show("tickets", done, len(times))
    producer.join()
    if progress is not None:
        progress.done()
    move_sequences([Customer, Ticket, Offer, Message, Resolution, Earning, Shift, ShiftBooking, AgentStatusChange])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts["customers"] = sum(len(ids) for ids in world.customers.values())
    counts["agents"] = len(world.agents)
    counts["brands"] = len(world.brands)
    if options.rollups and rebuild is not None:
        rebuild(world.start - timedelta(days=1), now)
    return dict(counts)
