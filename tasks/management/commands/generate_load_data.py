"""python manage.py generate_load_data --tickets 1000000 [--brands 5 --agents 500 --days 90 --seed 1]

Fills an empty database with a realistic data set (tasks.loadgen) and builds the analytics
rollups for it. Point DATABASE_URL at a database of its own, e.g.

    createdb -h 127.0.0.1 -U postgres mkt_load
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mkt_load python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mkt_load python manage.py generate_load_data

It refuses a database that already holds tickets or users unless --force.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from tasks import analytics_rollups, loadgen


class Command(BaseCommand):
    help = "Fill an empty database with a realistic data set for measuring the supervisor analytics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=1_000_000)
        parser.add_argument("--brands", type=int, default=5)
        parser.add_argument("--agents", type=int, default=500)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--force", action="store_true", help="add to a database that already holds data")
        parser.add_argument("--no-rollups", action="store_true", help="leave the analytics rollups to the job")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument(
            "--check-keys",
            action="store_true",
            help="have PostgreSQL check every foreign key as rows are copied in (slower; the tests do)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The load data is written with PostgreSQL's COPY: point DATABASE_URL at PostgreSQL.")
        for name in ("tickets", "brands", "agents", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        try:
            loadgen.refuse_unless_empty(options["force"])
        except loadgen.Refused as exc:
            raise CommandError(str(exc)) from exc
        progress = None if options["quiet"] else loadgen.Progress(self.stderr._out)
        opts = loadgen.Options(
            tickets=options["tickets"],
            brands=options["brands"],
            agents=options["agents"],
            days=options["days"],
            seed=options["seed"],
            rollups=not options["no_rollups"],
        )
        started = time.monotonic()

        def rebuild(start: Any, end: Any) -> None:
            analytics_rollups.rebuild(start, end, progress=progress and progress.show, mark_current=True)
            if progress is not None:
                progress.done()

        counts = loadgen.generate(opts, progress=progress, rebuild=rebuild, check_keys=options["check_keys"])
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))
        self.stdout.write(f"Wrote {summary} in {elapsed:.0f} s.")
