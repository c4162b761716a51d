"""python manage.py measure_dashboard [--runs 20]

Times the supervisor analytics on the database at hand (filled by `generate_load_data`):
each page requested --runs times through Django's test client as a logged-in supervisor or
platform staff member (after one warm-up request), and each figures query alone; prints
p50/p95 per page and the number of SQL queries a request makes.
"""

import functools
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count, Max
from django.test import Client

from marketplace.models import Brand, User
from tasks import analytics
from tasks.models import Ticket

PAGE = "/supervisor/analytics/"
TICKETS = "/supervisor/analytics/tickets/"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


class Command(BaseCommand):
    help = "Time the supervisor analytics pages and queries (p50/p95) on the current database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=20, help="requests per page (default 20)")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = options["runs"]
        if runs < 1:
            raise CommandError("--runs must be at least 1.")
        brand = Brand.objects.filter(supervisors__isnull=False).annotate(n=Count("tickets")).order_by("-n").first()
        staff = User.objects.filter(role=User.Role.STAFF, is_staff=True, is_active=True).first()
        if brand is None or staff is None:
            raise CommandError("Needs a brand with a supervisor and a staff user: run generate_load_data first.")
        supervisor = brand.supervisors.order_by("pk").first()
        assert supervisor is not None
        last = Ticket.objects.aggregate(m=Max("created_at"))["m"]
        if last is None:
            raise CommandError("There are no tickets to measure with.")
        end = last.date()
        week, quarter = (end - timedelta(days=6)).isoformat(), (end - timedelta(days=89)).isoformat()
        agent_id = (
            Ticket.objects.filter(brand=brand, created_at__date__gte=end - timedelta(days=6), agent__isnull=False)
            .values("agent")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .values_list("agent", flat=True)
            .first()
        )
        to = end.isoformat()
        # Drill down into the last whole day: the data's last day ends when it was generated.
        full = end - timedelta(days=1)
        day, hour = f"{full.isoformat()}T00:00:00+00:00", f"{full.isoformat()}T12:00:00+00:00"
        pages = [
            (
                "week per hour, one brand",
                supervisor,
                PAGE,
                {"brand": brand.slug, "granularity": "hour", "from": week, "to": to},
            ),
            ("90 days per day, all brands", staff, PAGE, {"granularity": "day", "from": quarter, "to": to}),
            (
                "90 days per day, one agent",
                supervisor,
                PAGE,
                {"agent": agent_id, "granularity": "day", "from": quarter, "to": to},
            ),
            (
                "90 days per day, one tier",
                staff,
                PAGE,
                {"tier": "standard", "granularity": "day", "from": quarter, "to": to},
            ),
            (
                "week per hour, one language",
                supervisor,
                PAGE,
                {"brand": brand.slug, "language": "en", "granularity": "hour", "from": week, "to": to},
            ),
            (
                "90 days per week, all brands, Stockholm",
                staff,
                PAGE,
                {"granularity": "week", "from": quarter, "to": to, "time_zone": "Europe/Stockholm"},
            ),
            (
                "drill-down: a day, all brands, created",
                staff,
                TICKETS,
                {"granularity": "day", "from": quarter, "to": to, "bucket": day, "figure": "created"},
            ),
            (
                "drill-down: a day, all brands, page 100",
                staff,
                TICKETS,
                {"granularity": "day", "from": quarter, "to": to, "bucket": day, "figure": "created", "page": 100},
            ),
            (
                "drill-down: an hour, one brand, handle time",
                supervisor,
                TICKETS,
                {
                    "brand": brand.slug,
                    "granularity": "hour",
                    "from": week,
                    "to": to,
                    "bucket": hour,
                    "figure": "handle",
                },
            ),
            (
                "drill-down: a day, one agent, CSAT",
                supervisor,
                TICKETS,
                {"agent": agent_id, "granularity": "day", "from": quarter, "to": to, "bucket": day, "figure": "csat"},
            ),
        ]
        # The other supervisor pages, on the same data.
        pages += [
            ("supervisor home", supervisor, "/supervisor/", {}),
            ("live view page", supervisor, "/supervisor/live/", {}),
            ("agents directory", supervisor, "/supervisor/agents/", {}),
            ("agents directory, search", staff, "/supervisor/agents/", {"q": "agent 1"}),
            ("agent page", supervisor, f"/supervisor/agents/{agent_id}/", {}),
            ("agent quality page", supervisor, f"/supervisor/agents/{agent_id}/quality/", {}),
            ("audit log", staff, "/supervisor/audit/", {}),
            ("quality desk", supervisor, "/supervisor/quality/", {}),
            ("review queue, all", supervisor, "/supervisor/reviews/", {"status": "all"}),
        ]
        self.stdout.write(
            f"Data: {Ticket.objects.count():,} tickets, last created {last:%Y-%m-%d %H:%M} UTC; {runs} runs each "
            f"after one warm-up; database {connection.settings_dict['NAME']}."
        )
        self.stdout.write(f"{'page':<46} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
        clients: dict[int, Client] = {}
        for label, user, path, query in pages:
            client = clients.get(user.pk)
            if client is None:
                client = clients[user.pk] = Client()
                client.force_login(user)
            url = f"{path}?{urlencode(query)}"

            def request(client: Client = client, url: str = url) -> None:
                response = client.get(url)
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")

            counted: list[str] = []

            def count(
                execute: Any, sql: str, params: Any, many: bool, context: Any, counted: list[str] = counted
            ) -> Any:
                counted.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                request()
            timings = self._time(request, runs)
            self._row(label, timings, len(counted))

        self.stdout.write("")
        self.stdout.write(
            f"{'figures query alone (tasks.analytics.figures)':<46} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        )
        brand_ids = tuple(Brand.objects.values_list("pk", flat=True))
        for label, filters in (
            (
                "week per hour, one brand",
                analytics.Filters(brand_ids=(brand.pk,), start=end - timedelta(days=6), end=end, granularity="hour"),
            ),
            (
                "90 days per day, all brands",
                analytics.Filters(brand_ids=brand_ids, start=end - timedelta(days=89), end=end),
            ),
            (
                "90 days per day, one agent",
                analytics.Filters(brand_ids=(brand.pk,), start=end - timedelta(days=89), end=end, agent_id=agent_id),
            ),
            (
                "90 days per day, one tier",
                analytics.Filters(brand_ids=brand_ids, start=end - timedelta(days=89), end=end, tier="standard"),
            ),
        ):
            analytics.figures(filters)
            self._row(label, self._time(functools.partial(analytics.figures, filters), runs), None)
        # The live view's snapshot on the same data, for one brand and for every brand.
        from tasks.ops_selectors import ops_snapshot

        for label, ids in (("live snapshot, one brand", (brand.pk,)), ("live snapshot, all brands", brand_ids)):
            ops_snapshot(ids)
            self._row(label, self._time(functools.partial(ops_snapshot, ids), runs), None)

    def _time(self, call: Callable[[], Any], runs: int) -> list[float]:
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    def _row(self, label: str, timings: list[float], queries: int | None) -> None:
        p50 = statistics.median(timings)
        p95 = percentile(timings, 0.95)
        count = "" if queries is None else str(queries)
        self.stdout.write(f"{label:<46} {p50:8.1f} {p95:8.1f} {max(timings):8.1f} {count:>8}")
