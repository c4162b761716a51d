"""Group names and sending after commit. Who hears what is decided in tasks.notify.

Group names come from here only, so consumers and services agree on them. Every event is
a JSON-safe dict with a `type` (a websocket frame as the contract defines it); consumers
relay it as is.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def customer_group(ticket_id: int) -> str:
    return f"customer.{ticket_id}"


def ops_group(brand_id: int) -> str:
    """A brand's operations group: its supervisors' dashboards listen here."""
    return f"ops.brand.{brand_id}"


def send_now(group: str, frame: dict[str, Any]) -> None:
    send_many_now([(group, frame)])


async def send_many_async(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, frame) now, in order, from code already on the event loop."""
    layer = get_channel_layer()
    # CHANNEL_LAYERS is always configured (settings), so there is a layer.
    assert layer is not None
    for group, frame in events:
        await layer.group_send(group, {"type": "push", "frame": frame})


def send_many_now(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, frame) now, in order, in one hop to the event loop."""
    try:
        async_to_sync(send_many_async)(events)
    except Exception:  # a broken channel layer must not undo committed work
        log.exception("push to %s failed", ", ".join(group for group, _ in events))


def push_many(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send the events once the current transaction commits (at once outside one)."""
    if events:
        transaction.on_commit(lambda: send_many_now(events))
