"""python manage.py analytics_rebuild [--from 2026-01-01] [--to 2026-03-31] [--brand acme]

Recompute the analytics rollups of a range of days (UTC, both included) from the source
rows: after fixing data by hand, or to check the job. Without dates: everything from the
oldest source row to now, after which the minute job only follows changes.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from marketplace.models import Brand
from tasks import analytics_rollups


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"Give dates as YYYY-MM-DD, not {raw!r}.") from exc


class Command(BaseCommand):
    help = "Recompute the analytics rollups of a range of days from the source rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="first day (UTC), YYYY-MM-DD; default: the oldest data")
        parser.add_argument("--to", dest="end", help="last day (UTC), YYYY-MM-DD; default: today")
        parser.add_argument("--brand", action="append", default=[], help="a brand's slug (repeatable); default: all")

    def handle(self, *args: Any, **options: Any) -> None:
        if not analytics_rollups.supported():
            raise CommandError("The analytics rollups need PostgreSQL.")
        brand_ids = None
        if options["brand"]:
            found = dict(Brand.objects.filter(slug__in=options["brand"]).values_list("slug", "pk"))
            unknown = sorted(set(options["brand"]) - set(found))
            if unknown:
                raise CommandError(f"No brand {', '.join(unknown)}.")
            brand_ids = sorted(found.values())
        now = timezone.now()
        if options["start"]:
            start = datetime.combine(_day(options["start"]), time(0), tzinfo=UTC)
        else:
            start = analytics_rollups.earliest_source_time() or now
        end = datetime.combine(_day(options["end"]), time(0), tzinfo=UTC) + timedelta(days=1) if options["end"] else now
        if end <= start:
            raise CommandError("The last day is before the first.")
        everything = not options["start"] and not options["end"] and brand_ids is None
        written = analytics_rollups.rebuild(start, end, brand_ids=brand_ids, mark_current=everything)
        summary = ", ".join(f"{name} {count:,}" for name, count in written.items())
        self.stdout.write(f"Rebuilt {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC: {summary}.")
