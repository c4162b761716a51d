"""Reads of the supervisors' live view: who may open it, and the snapshot its socket sends.

The snapshot is read with a fixed number of queries (eight), however many agents, tickets
and offers the brands have: every list is one `values_list` over its table, joined in
Python by id. No model instances are built, so it stays fast with hundreds of agents.
"""

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Value,
)
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from agents.models import AgentLanguage, AgentProfile
from agents.quality.selectors import supervised_brand_ids
from marketplace.models import Brand, User

from . import frames
from .models import IntakePause, Offer, ShiftBooking, Ticket

Status = Ticket.Status
OPEN_STATUSES = [Status.QUEUED, Status.OFFERED, Status.ASSIGNED]


class SecondsSince(Func):
    """Whole seconds from a timestamp column to `now`, counted by the database: an integer
    is much cheaper to read than a timestamp (hundreds of tickets per snapshot)."""

    output_field = IntegerField()

    def __init__(self, column: str, now: datetime) -> None:
        super().__init__(Value(now, output_field=DateTimeField()), F(column))

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        # Func.as_sql's optional arguments, so the override keeps its signature; unused.
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        raise NotSupportedError(f"SecondsSince is written for PostgreSQL and SQLite, not {connection.vendor}")

    def _parts(self, compiler: SQLCompiler) -> tuple[str, str, tuple[Any, ...]]:
        (now, now_params), (column, column_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return now, column, (*now_params, *column_params)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        now, column, params = self._parts(compiler)
        return f"FLOOR(EXTRACT(EPOCH FROM ({now} - {column})))::bigint", params

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        now, column, params = self._parts(compiler)
        return f"CAST((julianday({now}) - julianday({column})) * 86400 AS INTEGER)", params


def ops_brand_ids(user: Any) -> set[int] | None:
    """The brands whose live view `user` may follow: every brand for platform staff, the
    ones they supervise for a supervisor (possibly none); None for anyone else."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return None
    if not user.is_platform_staff and user.role != User.Role.SUPERVISOR:
        return None
    return supervised_brand_ids(user)


def ops_snapshot(brand_ids: Collection[int], *, now: datetime | None = None) -> dict[str, Any]:
    """The `ops.snapshot` frame for these brands: the queues (waiting tickets per brand and
    language), the agents certified for them who are not simply offline, and, as
    extensions, the brands with their targets, every open ticket, the offers in flight,
    shift coverage now and the intake pauses in force.

    An agent is listed when they are not offline, hold a socket or work (load), or are
    booked on a shift of one of the brands running now (an offline agent who should be
    working is what a supervisor wants to see); the rest are offline and idle.
    """
    now = now or timezone.now()
    ids = sorted(set(brand_ids))
    if not ids:
        return _frame(brands=[], queues=[], agents=[], tickets=[], offers=[], coverage=[], pauses=[])

    brands = list(
        Brand.objects.filter(pk__in=ids)
        .order_by("name", "pk")
        .values_list("pk", "slug", "name", "staffing_target_seconds")
    )
    slugs = {pk: slug for pk, slug, _, _ in brands}

    tickets = list(
        Ticket.objects.filter(brand_id__in=ids, status__in=OPEN_STATUSES)
        .annotate(waited=SecondsSince("created_at", now))
        .order_by("created_at", "pk")
        .values_list("pk", "brand_id", "language", "status", "agent_id", "waited", "widen_level", "subject")
    )
    offers = list(
        Offer.objects.filter(state=Offer.State.PENDING, ticket__brand_id__in=ids)
        .order_by("expires_at", "pk")
        .values_list("pk", "ticket_id", "agent_id", "expires_at")
    )

    certified: dict[int, list[int]] = defaultdict(list)
    for agent_id, brand_id in AgentProfile.brands.through.objects.filter(brand_id__in=ids).values_list(
        "agentprofile_id", "brand_id"
    ):
        certified[agent_id].append(brand_id)

    running = ShiftBooking.objects.filter(
        status=ShiftBooking.Status.BOOKED, starts_at__lte=now, ends_at__gt=now, shift__brand_id__in=ids
    )
    booked: dict[int, set[int]] = defaultdict(set)  # brand -> agents booked on a running shift
    checked_in: dict[int, set[int]] = defaultdict(set)
    # Whether checked in, not when: a boolean is cheaper to read than a timestamp.
    is_checked_in = ExpressionWrapper(Q(checked_in_at__isnull=False), output_field=BooleanField())
    for agent_id, brand_id, is_in in running.annotate(is_in=is_checked_in).values_list(
        "agent_id", "shift__brand_id", "is_in"
    ):
        booked[brand_id].add(agent_id)
        if is_in:
            checked_in[brand_id].add(agent_id)
    on_shift = set().union(*booked.values())
    checked = set().union(*checked_in.values())

    # Subqueries rather than lists of ids: a list of hundreds of ids costs more to send
    # than the join costs the database.
    listed = AgentProfile.objects.filter(
        pk__in=AgentProfile.brands.through.objects.filter(brand_id__in=ids).values("agentprofile_id")
    ).filter(
        ~Q(status=AgentProfile.Status.OFFLINE)
        | Q(connections__gt=0)
        | Q(load__gt=0)
        | Exists(running.filter(agent=OuterRef("pk")))
    )
    agent_rows = list(
        listed.order_by("display_name", "pk").values_list(
            "pk", "display_name", "status", "load", "capacity", "connections"
        )
    )
    languages: dict[int, list[str]] = defaultdict(list)
    for agent_id, code in (
        AgentLanguage.objects.filter(agent__in=listed.values("pk")).order_by("code").values_list("agent_id", "code")
    ):
        languages[agent_id].append(code)

    pauses = [
        frames.ops_pause_dict(
            pause_id=pk, brand_id=brand_id, language=language, reason=reason, paused_by=email, created_at=created_at
        )
        for pk, brand_id, language, reason, email, created_at in IntakePause.objects.filter(
            brand_id__in=ids, resumed_at__isnull=True
        )
        .order_by("created_at", "pk")
        .values_list("pk", "brand_id", "language", "reason", "paused_by__email", "created_at")
    ]

    queues: dict[tuple[int, str], dict[str, Any]] = {}
    ticket_dicts = []
    for pk, brand_id, language, status, agent_id, waited, widen_level, subject in tickets:
        ticket = frames.ops_ticket_dict(
            ticket_id=pk,
            brand_id=brand_id,
            brand_slug=slugs[brand_id],
            language=language,
            status=status,
            agent_id=agent_id,
            waited_seconds=waited,
            widen_level=widen_level,
            subject=subject,
        )
        ticket_dicts.append(ticket)
        if status in Ticket.WAITING:
            queue = queues.setdefault(
                (brand_id, language), {"brand": brand_id, "language": language, "waiting": 0, "oldest_wait_seconds": 0}
            )
            queue["waiting"] += 1
            queue["oldest_wait_seconds"] = max(queue["oldest_wait_seconds"], ticket["waiting_seconds"])
    brand_order = {pk: n for n, (pk, *_) in enumerate(brands)}

    return _frame(
        brands=[
            {
                "id": pk,
                "slug": slug,
                "name": name,
                "target_seconds": target,
                "widen_after_seconds": settings.WIDEN_AFTER_SECONDS,
            }
            for pk, slug, name, target in brands
        ],
        queues=sorted(queues.values(), key=lambda q: (brand_order[q["brand"]], q["language"])),
        agents=[
            {
                "id": pk,
                "display_name": name,
                "status": status,
                "load": load,
                "capacity": capacity,
                "on_shift": pk in on_shift,
                "checked_in": pk in checked,
                "connected": connections > 0,
                "brands": sorted(certified[pk]),
                "languages": languages[pk],
            }
            for pk, name, status, load, capacity, connections in agent_rows
        ],
        tickets=ticket_dicts,
        offers=[
            frames.ops_offer_dict(offer_id=pk, ticket_id=ticket_id, agent_id=agent_id, expires_at=expires_at)
            for pk, ticket_id, agent_id, expires_at in offers
        ],
        coverage=[
            {"brand": pk, "booked_now": len(booked[pk]), "checked_in_now": len(checked_in[pk])} for pk, *_ in brands
        ],
        pauses=pauses,
    )


def _frame(**parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "ops.snapshot",
        "queues": parts["queues"],
        "agents": parts["agents"],
        "brands": parts["brands"],
        "tickets": parts["tickets"],
        "offers": parts["offers"],
        "coverage": parts["coverage"],
        "pauses": parts["pauses"],
    }
