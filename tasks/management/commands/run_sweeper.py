import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand

from marketplace.unavailable import check_redis_at_start
from tasks.sweeper import run_forever


class Command(BaseCommand):
    help = "Run the dispatch sweeper: offer expiry, disconnect grace, waiting tickets, queue positions."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.SWEEPER_INTERVAL_SECONDS)
        parser.add_argument("--iterations", type=int, default=None, help="Stop after N sweeps (default: forever)")

    def handle(self, *args, interval, iterations, **options):
        check_redis_at_start()
        self.stdout.write(f"sweeper running every {interval}s")
        asyncio.run(run_forever(interval=interval, iterations=iterations))
