"""The database-driven clock: everything time-based is found here by querying what is due.

Nothing is kept only in memory, so a crash or restart loses no timer; running several
sweepers at once is harmless (rows are claimed with SKIP LOCKED). The queue-position
memory below only avoids re-sending unchanged positions; losing it re-sends them once.
"""

import asyncio
import logging
import math
import time

from channels.db import database_sync_to_async
from django.conf import settings

from payouts.services import earnings_release_due

from . import selectors, services
from .analytics_rollups import rollup_run as analytics_rollup_run
from .models import Ticket
from .notify import notify_queue_position

log = logging.getLogger(__name__)

CLOSE_WINDOW_EVERY_SECONDS = 60
QUEUE_UPDATES_EVERY_SECONDS = 1.0
SAFETY_NET_EVERY_SECONDS = 1.0
CONNECTIONS_EVERY_SECONDS = 1.0
WIDEN_EVERY_SECONDS = 5.0


class QueueBroadcaster:
    """Pushes queue position and estimated wait to waiting customers when they change."""

    def __init__(self):
        self.sent: dict[int, tuple] = {}

    def broadcast(self) -> int:
        positions = selectors.queue_positions()
        if not positions:
            self.sent.clear()
            return 0
        tickets = list(Ticket.objects.filter(pk__in=positions.keys()).select_related("brand"))
        waits = selectors.customer_waits(tickets, positions)
        pushed = 0
        for ticket in tickets:
            position, wait = positions[ticket.pk], waits[ticket.pk]
            # The page shows whole minutes: re-send when they change, not for seconds' drift.
            minutes = None if wait.eta_seconds is None else math.ceil(wait.eta_seconds / 60)
            state = (ticket.status, position, wait.agents_online, minutes)
            if self.sent.get(ticket.pk) == state:
                continue
            self.sent[ticket.pk] = state
            notify_queue_position(ticket=ticket, position=position, wait=wait)
            pushed += 1
        for gone in set(self.sent) - set(positions):
            del self.sent[gone]
        return pushed


class Sweeper:
    """One tick does what is due. Offer expiry and disconnects are checked every tick; dead
    sockets (heartbeat older than the TTL), the safety-net dispatch and the queue positions
    (which only matter when the queue is
    long, exactly when the database is busiest) every second. Without a broker (embedded
    mode) it also runs beat's periodic sweeps: widening every few seconds, the reopen
    window (closing tickets and releasing their pay), no-shows and the shifts' floor pay every
    minute."""

    def __init__(self):
        self.broadcaster = QueueBroadcaster()
        self.last_run: dict[str, float] = {}

    def _due(self, job: str, every: float) -> bool:
        now = time.monotonic()
        if now - self.last_run.get(job, float("-inf")) < every:
            return False
        self.last_run[job] = now
        return True

    def sweep_once(self) -> dict:
        result = {"expired": services.offers_expire_due()}
        if self._due("connections", CONNECTIONS_EVERY_SECONDS):
            result["connections_expired"] = services.agent_connections_expire()
        result["released"] = services.agents_release_disconnected()
        if self._due("dispatch", SAFETY_NET_EVERY_SECONDS):
            result["offered"] = services.dispatch_waiting()
        if self._due("queue", QUEUE_UPDATES_EVERY_SECONDS):
            result["queue_updates"] = self.broadcaster.broadcast()
        # Closing reopen windows and widening are periodic sweeps that beat runs (tasks/jobs.py).
        # Without a broker there is no beat, and jobs run eagerly: then the sweeper does them.
        if settings.CELERY_TASK_ALWAYS_EAGER and self._due("close", CLOSE_WINDOW_EVERY_SECONDS):
            result["closed"] = services.tickets_close_after_window()
            result["earnings_released"] = earnings_release_due()
            result["no_shows"] = services.shifts_mark_no_shows()
            result["shifts_settled"] = services.shifts_settle_due()
            result["analytics_rows"] = int(analytics_rollup_run().get("rows", 0))
        if settings.CELERY_TASK_ALWAYS_EAGER and self._due("widen", WIDEN_EVERY_SECONDS):
            result["widened"] = services.tickets_widen_due()
        return result


async def run_forever(interval: float | None = None, iterations: int | None = None) -> None:
    """The sweeper loop, in the ASGI server's event loop (embedded mode) or in its own
    process (`manage.py run_sweeper`).

    It runs on an event loop in both cases so that pushes from the sweep thread go through
    one long-lived channel-layer connection instead of a new loop and connection each.
    """
    interval = interval or settings.SWEEPER_INTERVAL_SECONDS
    sweeper = Sweeper()
    count = 0
    while iterations is None or count < iterations:
        started = time.monotonic()
        try:
            await database_sync_to_async(sweeper.sweep_once)()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed; retrying next tick")
        count += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
