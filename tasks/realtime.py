"""Group names and sending after commit. Who hears what is decided in tasks.notify.

Group names come from here only, so consumers and services agree on them. Every event is
a JSON-safe dict with a `type` (a websocket frame as the contract defines it); consumers
relay it as is.
"""

import logging
import threading
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
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


class RedisPublisher:
    """Publish group events from synchronous code straight to Redis, as
    channels_redis.pubsub.RedisPubSubChannelLayer.group_send would: the same channel name,
    shard and serialization, so every consumer of every process hears them.

    Services run in worker threads; handing each push back to the event loop with
    `async_to_sync` parks the thread until the loop has time for it, which under load is
    exactly when it has none. A blocking client per Redis server (connections pooled per
    process) sends one pipeline per commit instead.
    """

    def __init__(self, layer: Any, config: dict[str, Any]):
        self.layer = layer
        self.prefix = config.get("prefix", "asgi")
        self.clients = []
        for host in decode_hosts(config.get("hosts")):
            host = dict(host)
            address = host.pop("address")
            # With Redis away a push fails at once (logged) instead of holding the thread.
            host.setdefault("socket_connect_timeout", 2)
            host.setdefault("socket_timeout", 2)
            self.clients.append(redis.Redis.from_url(address, **host))

    def channel(self, group: str) -> str:
        return f"{self.prefix}__group__{group}"

    def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        pipelines: dict[int, Any] = {}
        for group, frame in events:
            name = self.channel(group)
            shard = _consistent_hash(name, len(self.clients))
            if shard not in pipelines:
                pipelines[shard] = self.clients[shard].pipeline(transaction=False)
            pipelines[shard].publish(name, self.layer.serialize({"type": "push", "frame": frame}))
        for pipeline in pipelines.values():
            pipeline.execute()


_publisher: RedisPublisher | None = None
_publisher_ready = False
_publisher_lock = threading.Lock()


def redis_publisher() -> RedisPublisher | None:
    """The process's publisher, or None when the channel layer is not Redis pub/sub by
    address (the in-process layer of embedded mode, or a Sentinel set-up): those keep the
    hop to the event loop."""
    global _publisher, _publisher_ready
    if not _publisher_ready:
        with _publisher_lock:
            if not _publisher_ready:
                layer: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
                config: dict[str, Any] = layer.get("CONFIG", {})
                hosts = decode_hosts(config.get("hosts"))
                if layer["BACKEND"].endswith("RedisPubSubChannelLayer") and all("address" in h for h in hosts):
                    _publisher = RedisPublisher(get_channel_layer(), config)
                _publisher_ready = True
    return _publisher


def send_many_now(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, frame) now, in order: straight to Redis, or in one hop to the
    event loop for the in-process layer."""
    try:
        publisher = redis_publisher()
        if publisher is not None:
            publisher.publish(events)
        else:
            async_to_sync(send_many_async)(events)
    except Exception:  # a broken channel layer must not undo committed work
        log.exception("push to %s failed", ", ".join(group for group, _ in events))


def push_many(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send the events once the current transaction commits (at once outside one)."""
    if events:
        transaction.on_commit(lambda: send_many_now(events))
