"""Who counts as connected comes from per-socket rows kept alive by a heartbeat, so nothing
a crash skips can leave a ghost agent: a consumer that dies still removes its row, and a
process that dies stops refreshing its rows until the sweeper removes them."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from agents.models import AgentConnection, AgentProfile
from tasks import services
from tasks.models import Ticket
from tasks.realtime import agent_group
from tasks.sweeper import Sweeper

from .factories import TEST_CHANNEL, AgentFactory, TicketFactory
from .ws import agent_socket, customer_socket, receive_type

pytestmark = pytest.mark.django_db(transaction=True)


def _state(agent_id: int) -> tuple[int, int, object]:
    agent = AgentProfile.objects.get(pk=agent_id)
    return agent.connections, AgentConnection.objects.filter(agent_id=agent_id).count(), agent.disconnected_at


async def _eventually_connected(agent_id: int) -> bool:
    """The socket records itself right after sending its snapshot; wait for that."""
    for _ in range(100):
        if (await database_sync_to_async(_state)(agent_id))[:2] == (1, 1):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.asyncio
async def test_a_consumer_that_crashes_still_removes_its_connection(agent):
    ws = await agent_socket(agent.user)
    await receive_type(ws, "presence")
    assert await _eventually_connected(agent.pk)

    # An event the consumer has no handler for makes Channels raise inside it: the
    # consumer dies without its disconnect handler ever running.
    await get_channel_layer().group_send(agent_group(agent.pk), {"type": "no.such.handler"})
    with pytest.raises(ValueError, match="No handler for message type"):
        await ws.wait(timeout=3)

    connections, rows, disconnected_at = await database_sync_to_async(_state)(agent.pk)
    assert (connections, rows) == (0, 0)
    assert disconnected_at is not None


@pytest.mark.asyncio
async def test_a_live_socket_is_refreshed_by_the_heartbeat(agent, settings):
    settings.AGENT_HEARTBEAT_SECONDS = 0.1
    ws = await agent_socket(agent.user)
    await receive_type(ws, "presence")
    assert await _eventually_connected(agent.pk)
    long_ago = timezone.now() - timedelta(hours=1)
    await database_sync_to_async(AgentConnection.objects.filter(agent=agent).update)(seen_at=long_ago)

    await asyncio.sleep(0.5)

    seen = await database_sync_to_async(lambda: AgentConnection.objects.get(agent=agent).seen_at)()
    assert seen > timezone.now() - timedelta(seconds=5)
    await ws.disconnect()
    connections, rows, _ = await database_sync_to_async(_state)(agent.pk)
    assert (connections, rows) == (0, 0)


def test_a_socket_whose_heartbeat_stopped_is_removed_and_its_chats_released_after_the_grace(brand, settings):
    settings.AGENT_CONNECTION_TTL_SECONDS = 30
    settings.AGENT_GRACE_SECONDS = 60
    agent = AgentFactory(brands=[brand], available=True)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(agent=agent, offer_id=offer.pk)
    # The process holding the socket was killed 40 s ago: its last heartbeat is that old.
    last_seen = timezone.now() - timedelta(seconds=40)
    AgentConnection.objects.filter(agent=agent).update(seen_at=last_seen)

    Sweeper().sweep_once()
    connections, rows, disconnected_at = _state(agent.pk)
    assert (connections, rows) == (0, 0)
    assert disconnected_at == last_seen
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ASSIGNED  # still inside the grace period

    AgentProfile.objects.filter(pk=agent.pk).update(disconnected_at=timezone.now() - timedelta(seconds=61))
    Sweeper().sweep_once()
    ticket.refresh_from_db()
    agent.refresh_from_db()
    assert ticket.status == Ticket.Status.QUEUED and ticket.previous_agent_id == agent.pk
    assert ticket.queue_reason == "agent_disconnected"
    assert agent.status == AgentProfile.Status.OFFLINE and agent.load == 0


def test_a_fresh_heartbeat_keeps_the_agent_connected_through_the_sweep(brand, settings):
    settings.AGENT_CONNECTION_TTL_SECONDS = 30
    agent = AgentFactory(brands=[brand], available=True)
    AgentConnection.objects.filter(agent=agent).update(seen_at=timezone.now() - timedelta(seconds=25))

    assert services.agent_connections_heartbeat(connections={TEST_CHANNEL.format(agent.pk): agent.pk}, server="t") == 1
    assert services.agent_connections_expire() == 0
    assert _state(agent.pk)[:2] == (1, 1)


def test_a_heartbeat_records_again_a_live_socket_the_sweeper_already_removed(brand):
    agent = AgentFactory(brands=[brand], available=True)
    AgentConnection.objects.filter(agent=agent).update(seen_at=timezone.now() - timedelta(hours=1))
    assert services.agent_connections_expire() == 1
    assert _state(agent.pk)[:2] == (0, 0)

    services.agent_connections_heartbeat(connections={"still.open": agent.pk}, server="t")

    connections, rows, disconnected_at = _state(agent.pk)
    assert (connections, rows, disconnected_at) == (1, 1, None)


def test_two_sockets_count_until_the_last_one_closes(brand):
    agent = AgentFactory(brands=[brand], available=True)
    services.agent_connected(agent_id=agent.pk, channel_name="phone", server="t")
    assert _state(agent.pk)[:2] == (2, 2)

    services.agent_disconnected(agent_id=agent.pk, channel_name="phone")
    assert _state(agent.pk) == (1, 1, None)
    services.agent_disconnected(agent_id=agent.pk, channel_name=TEST_CHANNEL.format(agent.pk))
    connections, rows, disconnected_at = _state(agent.pk)
    assert (connections, rows) == (0, 0) and disconnected_at is not None


@pytest.mark.asyncio
async def test_a_message_sent_while_the_customer_socket_joins_is_not_lost(brand, agent, monkeypatch):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    layer = get_channel_layer()
    real_group_add = layer.group_add

    async def message_arrives_first(group, channel):
        # The agent writes at the worst moment: the socket exists but has not joined yet.
        await database_sync_to_async(services.message_send_customer)(ticket=ticket, text="Sent while joining")
        return await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", message_arrives_first)
    ws = await customer_socket(ticket.customer_token)
    monkeypatch.setattr(layer, "group_add", real_group_add)

    frame = await receive_type(ws, "message")
    assert frame["text"] == "Sent while joining"
    await ws.disconnect()
