"""Live queue position for waiting customers, and the disconnect grace period over sockets."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from agents.models import AgentProfile
from tasks import services
from tasks.realtime import agent_group, customer_group
from tasks.sweeper import QueueBroadcaster, Sweeper

from .factories import AgentFactory, TicketFactory
from .ws import agent_socket, customer_socket, everything_sent, receive_type, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_waiting_customer_sees_position_and_wait_and_is_told_when_it_changes(brand):
    # Online but busy: the queue waits for their slots, so there is an estimate.
    await database_sync_to_async(AgentFactory)(brands=[brand], available=True, capacity=1, load=1)
    first = await database_sync_to_async(TicketFactory)(brand=brand)
    second = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(second.customer_token)
    status = await receive_type(ws, "ticket.updated")
    assert status["status"] == "queued" and status["queue_position"] == 2 and status["eta_seconds"] > 0

    broadcaster = QueueBroadcaster()
    await database_sync_to_async(broadcaster.broadcast)()
    pushed = await everything_sent(ws, customer_group(second.pk))  # with the rest of the snapshot
    assert [f["queue_position"] for f in pushed if f["type"] == "ticket.updated"] == [2]
    # The customer ahead leaves.
    await database_sync_to_async(services.ticket_cancel)(ticket_id=first.pk, brand=brand)
    await database_sync_to_async(broadcaster.broadcast)()
    moved = await receive_type(ws, "ticket.updated")
    assert moved["queue_position"] == 1
    # Nothing changed since: the sweeper does not repeat itself.
    await database_sync_to_async(broadcaster.broadcast)()
    assert await everything_sent(ws, customer_group(second.pk)) == []
    await ws.disconnect()


async def test_urgent_ticket_goes_ahead_in_the_queue(brand):
    normal = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(TicketFactory)(brand=brand, priority=3)
    ws = await customer_socket(normal.customer_token)
    assert (await receive_type(ws, "ticket.updated"))["queue_position"] == 2
    await ws.disconnect()


async def test_dropped_agent_keeps_the_chat_within_grace_then_it_is_requeued(agent, agent2, brand, settings):
    settings.AGENT_GRACE_SECONDS = 60
    ws = await agent_socket(agent.user)
    await request(ws, {"type": "presence", "status": "available"})
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    offer = await receive_type(ws, "offer")
    await request(ws, {"type": "offer.accept", "offer_id": offer["offer_id"]})
    customer = await customer_socket(ticket.customer_token)
    await everything_sent(customer, customer_group(ticket.pk))
    await ws.disconnect()

    sweeper = Sweeper()
    await database_sync_to_async(sweeper.sweep_once)()
    assert (await database_sync_to_async(TicketFactory._meta.model.objects.get)(pk=ticket.pk)).status == "assigned"

    await database_sync_to_async(AgentProfile.objects.filter(pk=agent.pk).update)(
        disconnected_at=timezone.now() - timedelta(seconds=61)
    )
    backup = await agent_socket(agent2.user)
    await request(backup, {"type": "presence", "status": "available"})
    await everything_sent(backup, agent_group(agent2.pk))
    await database_sync_to_async(sweeper.sweep_once)()

    note = await receive_type(customer, "message", sender="system")
    assert "lost their connection" in note["text"]
    assert (await receive_type(backup, "offer"))["ticket"]["id"] == ticket.pk
    dropped = await database_sync_to_async(AgentProfile.objects.get)(pk=agent.pk)
    assert dropped.status == "offline" and dropped.load == 0
    await backup.disconnect()
    await customer.disconnect()


async def test_offer_countdown_runs_out_and_the_agent_is_told(agent, brand, settings):
    ws = await agent_socket(agent.user)
    await request(ws, {"type": "presence", "status": "available"})
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    await database_sync_to_async(type(offer).objects.filter(pk=offer.pk).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    await database_sync_to_async(Sweeper().sweep_once)()
    rescinded = await receive_type(ws, "offer.rescinded")
    assert rescinded == {"type": "offer.rescinded", "offer_id": offer.pk, "reason": "expired"}
    await ws.disconnect()
