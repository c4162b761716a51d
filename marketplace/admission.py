"""Graceful overload: a bound on the work in flight in one web process.

Every HTTP request and every socket frame being handled counts while it runs. Past
INTAKE_MAX_IN_FLIGHT, or with INTAKE_MAX_FRAMES_IN_FLIGHT socket frames in flight, new work
from outside, a brand handing a conversation over, is
refused at the door with `429 overloaded` and `Retry-After` before anything is read or
written, so a retry with the same Idempotency-Key is safe. Agents' and customers' actions
are never refused: they finish work already admitted, and refusing intake is what keeps
room for them. Without the bound a saturated process queues without limit, offers reach
agents late, and late accepts turn into expiries and re-offers: more work exactly when
there is none to spare.

The count lives on the process's event loop (one thread), so a plain integer suffices.
"""

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from .errors import error_body

log = logging.getLogger(__name__)

INTAKE_PATH = "/api/v1/tickets/"
MESSAGE = (
    "The service is busy and took no new conversations for a moment; nothing was created. "
    "Try again after Retry-After seconds with the same Idempotency-Key."
)


class Counter:
    def __init__(self) -> None:
        self.in_flight = 0
        self.frames = 0
        self.refused = 0
        self._logged_at = 0.0

    @contextmanager
    def working(self, *, frame: bool = False) -> Iterator[None]:
        self.in_flight += 1
        self.frames += frame
        try:
            yield
        finally:
            self.in_flight -= 1
            self.frames -= frame

    def full(self) -> bool:
        """Too busy for new intake: too much work in flight, or agents' and customers'
        frames already waiting for their turn. HTTP requests get a thread each while
        socket frames share the process's pool, so without the second bound a stream of
        handovers would crowd out the accepts and resolves that finish work."""
        return self.in_flight >= settings.INTAKE_MAX_IN_FLIGHT or self.frames >= settings.INTAKE_MAX_FRAMES_IN_FLIGHT

    def note_refusal(self) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._logged_at >= 10:  # a line per ten seconds of overload, not per request
            self._logged_at = now
            log.warning(
                "overloaded: %d in flight (%d socket frames); %d handovers refused so far",
                self.in_flight,
                self.frames,
                self.refused,
            )


work = Counter()


def is_intake(scope: dict) -> bool:
    return scope.get("method") == "POST" and scope.get("path") == INTAKE_PATH


class AdmissionMiddleware:
    """ASGI middleware around the HTTP application."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if is_intake(scope) and work.full():
            work.note_refusal()
            await refuse(send)
            return
        with work.working():
            await self.app(scope, receive, send)


async def refuse(send) -> None:
    body = json.dumps(error_body("overloaded", MESSAGE)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(settings.OVERLOAD_RETRY_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
