"""Pushes from the services' worker threads go straight to Redis, not through the event
loop: a consumer on the channel layer hears them, in order, and a thread that publishes
does not wait for any event loop."""

import asyncio
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from unittest import mock

import pytest
import redis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash
from django.conf import settings

from bench.stack import free_port
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


@contextmanager
def second_redis():
    """A Redis server of the test's own, on a free port, keeping nothing on disk."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.asyncio
async def test_a_channel_layer_sharded_over_two_redis_servers_delivers_every_group_from_worker_threads():
    with second_redis() as other:
        hosts = [settings.REDIS_URL, other]
        config = {"hosts": hosts, "prefix": "shard-test"}
        layer = RedisPubSubChannelLayer(**config)
        publisher = realtime.RedisPublisher(layer, config)
        # Groups that land on each of the two servers.
        groups: dict[int, str] = {}
        for n in range(100):
            name = f"agent.{n}"
            groups.setdefault(_consistent_hash(publisher.channel(name), 2), name)
            if len(groups) == 2:
                break
        channel = await layer.new_channel()
        for group in groups.values():
            await layer.group_add(group, channel)
        events = [(group, {"type": "offer", "shard": shard}) for shard, group in sorted(groups.items())]
        thread = threading.Thread(target=publisher.publish, args=(events,))
        thread.start()
        thread.join(5)
        frames = [(await asyncio.wait_for(layer.receive(channel), 3))["frame"] for _ in events]
        assert sorted(f["shard"] for f in frames) == [0, 1]
        # Each server carried its own group's message: the other has no subscriber for it.
        for shard, group in groups.items():
            numsub = dict(redis.Redis.from_url(hosts[shard]).pubsub_numsub(publisher.channel(group)))
            assert numsub[publisher.channel(group).encode()] == 1
        await layer.flush()


def test_channel_redis_urls_spread_the_layer_and_must_be_redis_urls():
    env = {k: v for k, v in os.environ.items() if k != "CHANNEL_REDIS_URLS"}
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'])"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "CHANNEL_REDIS_URLS": "redis://a:6379/0,redis://b:6379/0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "['redis://a:6379/0', 'redis://b:6379/0']", run.stderr
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "CHANNEL_REDIS_URLS": "a:6379"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "CHANNEL_REDIS_URLS must be" in run.stderr
