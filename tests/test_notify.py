"""Who hears what: the brand's operations group follows every ticket status change and
every presence change, ready for the supervisors' live dashboard."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from tasks import services
from tasks.models import Offer
from tasks.realtime import ops_group

from .factories import AgentFactory, TicketFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _listen(group: str) -> tuple:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def _frames(layer, channel, count: int) -> list[dict]:
    return [(await asyncio.wait_for(layer.receive(channel), 3))["frame"] for _ in range(count)]


async def test_the_operations_group_follows_a_ticket_from_offer_to_resolution(brand, other_brand):
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    layer, channel = await _listen(ops_group(brand.pk))
    other_layer, other_channel = await _listen(ops_group(other_brand.pk))

    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    await database_sync_to_async(services.offer_accept)(agent=agent, offer_id=offer.pk)
    await database_sync_to_async(services.ticket_resolve)(agent=agent, ticket_id=ticket.pk)

    frames = await _frames(layer, channel, 3)
    assert [f["type"] for f in frames] == ["ticket.changed"] * 3
    assert [f["ticket"]["status"] for f in frames] == ["offered", "assigned", "resolved"]
    assert frames[1]["ticket"] == {
        "id": ticket.pk,
        "brand": brand.pk,
        "brand_slug": "acme",
        "language": "en",
        "status": "assigned",
        "agent_id": agent.pk,
        "waiting_seconds": frames[1]["ticket"]["waiting_seconds"],
        "widen_level": 0,
        "subject": ticket.subject,
    }
    # The offer that made it "offered" goes with that change, for the live view's offers in flight.
    assert frames[0]["offer"] == {
        "id": offer.pk,
        "ticket_id": ticket.pk,
        "agent_id": agent.pk,
        "expires_at": offer.expires_at.isoformat(),
    }
    assert "offer" not in frames[1]
    # Another brand's supervisors hear nothing of it.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(other_layer.receive(other_channel), 0.5)


async def test_the_operations_group_hears_presence_and_a_ticket_back_in_the_queue(brand):
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    layer, channel = await _listen(ops_group(brand.pk))

    await database_sync_to_async(services.presence_set)(agent=agent, status="away")

    frames = await _frames(layer, channel, 2)
    assert frames[0]["type"] == "agent.changed"
    assert frames[0]["agent"] == {
        "id": agent.pk,
        "display_name": agent.display_name,
        "status": "away",
        "load": 1,
        "capacity": agent.capacity,
        "connected": True,
    }
    assert frames[1]["type"] == "ticket.changed" and frames[1]["ticket"]["status"] == "queued"
    assert await database_sync_to_async(Offer.objects.filter(state="rescinded").count)() == 1
