"""The database-driven clock: everything time-based is found here by querying what is due.

Nothing is kept only in memory, so a crash or restart loses no timer; running several
sweepers at once is harmless (rows are claimed with SKIP LOCKED). The queue-position
memory below only avoids re-sending unchanged positions; losing it re-sends them once.
"""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Count

from agents.models import AgentProfile

from . import selectors, services
from .models import Ticket
from .notify import notify_queue_position

log = logging.getLogger(__name__)

CLOSE_WINDOW_EVERY_SECONDS = 60
QUEUE_UPDATES_EVERY_SECONDS = 1.0
SAFETY_NET_EVERY_SECONDS = 1.0
CONNECTIONS_EVERY_SECONDS = 1.0


class QueueBroadcaster:
    """Pushes queue position and estimated wait to waiting customers when they change."""

    def __init__(self):
        self.sent: dict[int, tuple] = {}

    def broadcast(self) -> int:
        positions = selectors.queue_positions()
        if not positions:
            self.sent.clear()
            return 0
        tickets = Ticket.objects.filter(pk__in=positions.keys()).select_related("brand")
        # One estimate input per queue (brand, language), not per ticket.
        staffed = dict(
            (
                (row["brands"], row["languages__code"]),
                row["n"],
            )
            for row in AgentProfile.objects.online()
            .values("brands", "languages__code")
            .annotate(n=Count("pk", distinct=True))
        )
        handle: dict[int, float] = {}
        pushed = 0
        for ticket in tickets:
            position = positions[ticket.pk]
            if ticket.status == Ticket.Status.OFFERED:
                eta = selectors.offer_timeout_seconds(ticket)
            else:
                if ticket.brand_id not in handle:
                    handle[ticket.brand_id] = selectors.average_handle_seconds(ticket.brand_id)
                agents = staffed.get((ticket.brand_id, ticket.language), 0)
                eta = selectors.wait_estimate(position=position, agents=agents, handle_seconds=handle[ticket.brand_id])
            state = (ticket.status, position, eta // 5)  # do not re-send for a few seconds' drift
            if self.sent.get(ticket.pk) == state:
                continue
            self.sent[ticket.pk] = state
            notify_queue_position(ticket=ticket, position=position, eta_seconds=eta)
            pushed += 1
        for gone in set(self.sent) - set(positions):
            del self.sent[gone]
        return pushed


class Sweeper:
    """One tick does what is due. Offer expiry and disconnects are checked every tick; dead
    sockets (heartbeat older than the TTL), the safety-net dispatch and the queue positions
    (which only matter when the queue is
    long, exactly when the database is busiest) every second; the reopen window every
    minute, but only without a broker (embedded mode): otherwise beat closes it."""

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
        # Closing reopen windows is a periodic sweep that beat runs (tasks/jobs.py). Without
        # a broker there is no beat, and jobs run eagerly: then the sweeper keeps doing it.
        if settings.CELERY_TASK_ALWAYS_EAGER and self._due("close", CLOSE_WINDOW_EVERY_SECONDS):
            result["closed"] = services.tickets_close_after_window()
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
