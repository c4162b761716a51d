"""Pushes from the services' worker threads go straight to Redis, not through the event
loop: a consumer on the channel layer hears them, in order, and a thread that publishes
does not wait for any event loop."""

import asyncio
import threading
from unittest import mock

import pytest
from channels.layers import get_channel_layer

from tasks import realtime


@pytest.mark.asyncio
async def test_a_push_from_a_worker_thread_reaches_the_group_in_order_without_the_event_loop():
    assert realtime.redis_publisher() is not None, "the suite runs on Redis pub/sub"
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("agent.424242", channel)
    await layer.group_add("customer.424242", channel)
    events = [
        ("agent.424242", {"type": "offer", "n": 1}),
        ("customer.424242", {"type": "ticket.updated", "n": 2}),
        ("agent.424242", {"type": "offer.closed", "n": 3}),
    ]
    with mock.patch.object(realtime, "async_to_sync", side_effect=AssertionError("hop to the event loop")):
        # The thread finishes while this loop is not running anything for it.
        thread = threading.Thread(target=realtime.send_many_now, args=(events,))
        thread.start()
        thread.join(5)
    frames = [(await asyncio.wait_for(layer.receive(channel), 3))["frame"] for _ in events]
    assert [f["n"] for f in frames] == [1, 2, 3]
    await layer.group_discard("agent.424242", channel)
    await layer.group_discard("customer.424242", channel)


def test_a_broken_redis_is_logged_and_the_committed_work_stands(caplog):
    publisher = realtime.redis_publisher()
    with mock.patch.object(publisher, "publish", side_effect=ConnectionError("gone")):
        realtime.send_many_now([("agent.1", {"type": "offer"})])
    assert "push to agent.1 failed" in caplog.text
