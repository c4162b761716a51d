"""Who hears about what, and sending it after commit.

Group names come from here only, so consumers and services agree on them. Every event is
a JSON-safe dict with a `type` (a websocket frame as the contract defines it); consumers
relay it as is.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def customer_group(ticket_id: int) -> str:
    return f"customer.{ticket_id}"


def send_now(group: str, frame: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "push", "frame": frame})
    except Exception:  # a broken channel layer must not undo committed work
        log.exception("push to %s failed", group)


def push(group: str, frame: dict) -> None:
    """Send `frame` to `group` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send_now(group, frame))


def push_agent(agent_id: int, frame: dict) -> None:
    push(agent_group(agent_id), frame)


def push_customer(ticket_id: int, frame: dict) -> None:
    push(customer_group(ticket_id), frame)
