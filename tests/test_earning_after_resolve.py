"""After Resolve the agent hears what the case earned: `ticket.updated` to the agent carries
`earning`, pending until the reopen window closes, or available at once without one."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from payouts.models import Earning
from tasks import services
from tasks.realtime import agent_group, customer_group

from .factories import AgentFactory, TicketFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _resolved_frames(brand, *, category: str = "") -> tuple[dict, dict, Earning]:
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    ticket = await database_sync_to_async(TicketFactory)(brand=brand, category=category)
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    await database_sync_to_async(services.offer_accept)(agent=agent, offer_id=offer.pk)
    layer = get_channel_layer()
    agent_channel = await layer.new_channel()
    customer_channel = await layer.new_channel()
    await layer.group_add(agent_group(agent.pk), agent_channel)
    await layer.group_add(customer_group(ticket.pk), customer_channel)

    await database_sync_to_async(services.ticket_resolve)(agent=agent, ticket_id=ticket.pk)

    to_agent = (await asyncio.wait_for(layer.receive(agent_channel), 3))["frame"]
    to_customer = (await asyncio.wait_for(layer.receive(customer_channel), 3))["frame"]
    earning = await database_sync_to_async(Earning.objects.select_related("ticket").get)(ticket=ticket)
    return to_agent, to_customer, earning


async def test_resolving_tells_the_agent_the_pending_earning_and_when_it_becomes_available(brand):
    to_agent, to_customer, earning = await _resolved_frames(brand)
    assert to_agent["type"] == "ticket.updated"
    assert to_agent["status"] == "resolved"
    assert to_agent["earning"] == {
        "amount": "45.00",
        "currency": "SEK",
        "status": "pending",
        "available_at": earning.available_at.isoformat(),
    }
    assert earning.available_at - earning.ticket.resolved_at == timedelta(hours=72)
    # What the agent earned is theirs to know, not the customer's.
    assert "earning" not in to_customer


async def test_without_a_reopen_window_the_earning_is_available_at_once(brand, settings):
    settings.REOPEN_WINDOW_HOURS = 0
    to_agent, _, earning = await _resolved_frames(brand)
    assert to_agent["earning"]["status"] == "available"
    assert to_agent["earning"]["available_at"] == earning.available_at.isoformat()
