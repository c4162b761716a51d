"""The whole story over real sockets: handover, offer, accept, chat, resolve, rate."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from payouts.models import Earning
from tasks.models import Ticket
from tasks.realtime import agent_group, customer_group

from .conftest import TICKET_BODY
from .ws import agent_socket, customer_socket, everything_sent, receive, receive_type, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def create_ticket(api_key, **overrides):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    response = client.post("/api/v1/tickets/", {**TICKET_BODY, **overrides}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


async def test_handover_to_rating_end_to_end(agent, api_key):
    agent_ws = await agent_socket(agent.user)
    assert await receive(agent_ws) == {"type": "presence", "status": "offline"}
    assert (await request(agent_ws, {"type": "presence", "status": "available"}))["type"] == "ack"

    created = await create_ticket(api_key)
    offer = await receive_type(agent_ws, "offer")
    assert offer["pay"] == {"amount": "45.00", "currency": "SEK"}
    assert 19 <= offer["expires_in"] <= 20 and offer["expires_at"].endswith("+00:00")
    assert offer["ticket"]["id"] == created["id"]
    assert offer["ticket"]["subject"] == "My card was declined"
    assert offer["ticket"]["priority"] == "normal"
    assert set(offer["ticket"]) == {"id", "language", "subject", "category", "priority", "summary", "waiting_seconds"}
    assert "customer" not in offer["ticket"]  # customer data only after accepting

    customer_ws = await customer_socket(created["customer_token"])
    status = await receive_type(customer_ws, "ticket.updated")
    assert status["status"] == "offered" and status["queue_position"] == 1

    assert (await request(agent_ws, {"type": "offer.accept", "offer_id": offer["offer_id"]}))["type"] == "ack"
    assigned = await receive_type(agent_ws, "ticket.assigned")
    assert assigned["ticket"]["customer"] == {"name": "Maja Svensson"}
    assert assigned["ticket"]["transcript"][0]["text"] == "My card does not work"
    update = await receive_type(customer_ws, "ticket.updated", status="assigned")
    assert update["agent"] == {"display_name": "Ada"}

    await request(agent_ws, {"type": "message", "ticket_id": created["id"], "text": "Hi Maja, I'm Ada."})
    heard = await receive_type(customer_ws, "message")
    assert heard["sender"] == "agent" and heard["text"] == "Hi Maja, I'm Ada." and heard["ticket_id"] == created["id"]
    assert set(heard) == {"type", "ticket_id", "id", "sender", "text", "sent_at"}

    await request(customer_ws, {"type": "message", "text": "My card is 4111-1111-1111-1111"})
    heard = await receive_type(agent_ws, "message", sender="customer")
    assert heard["text"] == "My card is ••••••••••••1111"

    assert (await request(agent_ws, {"type": "ticket.resolve", "ticket_id": created["id"]}))["type"] == "ack"
    assert (await receive_type(agent_ws, "ticket.updated"))["status"] == "resolved"
    assert (await receive_type(customer_ws, "ticket.updated", status="resolved"))["status"] == "resolved"

    assert (await request(customer_ws, {"type": "rate", "score": 5, "comment": "Great"}))["type"] == "ack"
    assert (await receive_type(customer_ws, "ticket.updated", status="closed"))["rating"] == 5
    assert (await receive_type(agent_ws, "ticket.updated", status="closed"))["rating"] == 5

    ticket = await database_sync_to_async(Ticket.objects.get)(pk=created["id"])
    assert ticket.status == "closed" and ticket.rating == 5
    earning = await database_sync_to_async(Earning.objects.get)(ticket_id=created["id"])
    assert earning.amount_minor == 4500
    await agent_ws.disconnect()
    await customer_ws.disconnect()


async def test_reconnecting_agent_gets_offers_and_chats_it_missed(agent, api_key):
    agent_ws = await agent_socket(agent.user)
    await request(agent_ws, {"type": "presence", "status": "available"})
    first = await create_ticket(api_key)
    offer = await receive_type(agent_ws, "offer")
    await request(agent_ws, {"type": "offer.accept", "offer_id": offer["offer_id"]})
    await agent_ws.disconnect()

    second = await create_ticket(api_key, customer={"external_id": "c2", "name": "Nils"})  # agent still has a slot
    customer_ws = await customer_socket(first["customer_token"])
    await request(customer_ws, {"type": "message", "text": "Are you there?"})

    agent_ws = await agent_socket(agent.user)
    snapshot = await everything_sent(agent_ws, agent_group(agent.pk))
    types = [f["type"] for f in snapshot]
    assert types[0] == "presence" and snapshot[0]["status"] == "available"
    offers = [f for f in snapshot if f["type"] == "offer"]
    assert [o["ticket"]["id"] for o in offers] == [second["id"]]
    chats = [f for f in snapshot if f["type"] == "ticket.assigned"]
    assert [c["ticket"]["id"] for c in chats] == [first["id"]]
    assert chats[0]["ticket"]["messages"][-1]["text"] == "Are you there?"
    await agent_ws.disconnect()
    await customer_ws.disconnect()


async def test_reconnecting_customer_gets_the_whole_conversation(agent, api_key):
    agent_ws = await agent_socket(agent.user)
    await request(agent_ws, {"type": "presence", "status": "available"})
    created = await create_ticket(api_key)
    offer = await receive_type(agent_ws, "offer")
    await request(agent_ws, {"type": "offer.accept", "offer_id": offer["offer_id"]})
    await request(agent_ws, {"type": "message", "ticket_id": created["id"], "text": "one"}, ref="one")
    await request(agent_ws, {"type": "message", "ticket_id": created["id"], "text": "two"}, ref="two")

    customer_ws = await customer_socket(created["customer_token"])
    frames = await everything_sent(customer_ws, customer_group(created["id"]))
    assert frames[0]["type"] == "ticket.updated" and frames[0]["agent"] == {"display_name": "Ada"}
    assert [f["text"] for f in frames if f["type"] == "message"] == ["one", "two"]
    await agent_ws.disconnect()
    await customer_ws.disconnect()


async def test_frames_and_pushes_take_no_thread_hop_to_close_database_connections(agent, api_key, monkeypatch):
    """Channels closes old connections before every message it dispatches, in its one shared
    sync thread; the consumers leave that to database_sync_to_async, which closes them in
    the worker thread around each service call (tasks/consumers.py, FrameConsumer.dispatch)."""
    import channels.consumer

    hops = []

    async def counted():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    agent_ws = await agent_socket(agent.user)
    await receive(agent_ws)
    assert (await request(agent_ws, {"type": "presence", "status": "available"}))["type"] == "ack"
    created = await create_ticket(api_key)
    offer = await receive_type(agent_ws, "offer")  # a push from the channel layer
    customer_ws = await customer_socket(created["customer_token"])
    assert (await request(agent_ws, {"type": "offer.accept", "offer_id": offer["offer_id"]}))["type"] == "ack"
    await receive_type(customer_ws, "ticket.updated", status="assigned")
    assert hops == []
    await agent_ws.disconnect()
    await customer_ws.disconnect()
