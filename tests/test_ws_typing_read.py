"""Typing indicators are relayed to the other side and never stored; read marks are
stored forward-only, relayed, and replayed in the snapshots."""

import pytest
from channels.db import database_sync_to_async

from tasks import services
from tasks.models import Message, Ticket
from tasks.realtime import agent_group, customer_group

from .chat import assigned_ticket
from .factories import TicketFactory
from .ws import agent_socket, customer_socket, drain, everything_sent, receive_type, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def message(ticket: Ticket, sender: str, text: str = "hi") -> int:
    return Message.objects.create(ticket=ticket, sender=sender, text=text).pk


@database_sync_to_async
def marks(ticket: Ticket) -> tuple[int | None, int | None]:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return fresh.agent_read_up_to, fresh.customer_read_up_to


count_messages = database_sync_to_async(lambda ticket: Message.objects.filter(ticket=ticket).count())


def of_type(frames: list[dict], kind: str) -> list[dict]:
    return [f for f in frames if f["type"] == kind]


# --- typing ------------------------------------------------------------------------------


async def test_agent_typing_is_relayed_to_the_customer_and_not_stored(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    customer = await customer_socket(ticket.customer_token)
    agent_ws = await agent_socket(agent.user)
    await drain(customer)
    assert (await request(agent_ws, {"type": "typing", "ticket_id": ticket.pk}))["type"] == "ack"
    heard = await receive_type(customer, "typing")
    assert heard == {"type": "typing", "ticket_id": ticket.pk, "sender": "agent"}
    assert await count_messages(ticket) == 0
    await customer.disconnect()
    await agent_ws.disconnect()


async def test_customer_typing_is_relayed_to_the_agent(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    agent_ws = await agent_socket(agent.user)
    customer = await customer_socket(ticket.customer_token)
    await drain(agent_ws)
    assert (await request(customer, {"type": "typing"}))["type"] == "ack"
    heard = await receive_type(agent_ws, "typing")
    assert heard == {"type": "typing", "ticket_id": ticket.pk, "sender": "customer"}
    assert await count_messages(ticket) == 0
    await customer.disconnect()
    await agent_ws.disconnect()


async def test_customer_typing_while_waiting_reaches_no_agent(agent, brand):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    agent_ws = await agent_socket(agent.user)
    customer = await customer_socket(ticket.customer_token)
    assert (await request(customer, {"type": "typing"}))["type"] == "ack"
    assert of_type(await everything_sent(agent_ws, agent_group(agent.pk)), "typing") == []
    await customer.disconnect()
    await agent_ws.disconnect()


async def test_outsider_agent_typing_in_another_agents_chat_is_refused(agent, agent2, brand):
    ticket = await assigned_ticket(agent, brand)
    customer = await customer_socket(ticket.customer_token)
    outsider = await agent_socket(agent2.user)
    refused = await request(outsider, {"type": "typing", "ticket_id": ticket.pk})
    assert refused["type"] == "error" and refused["code"] == "ticket_not_found"
    assert of_type(await everything_sent(customer, customer_group(ticket.pk)), "typing") == []
    await customer.disconnect()
    await outsider.disconnect()


async def test_typing_in_a_chat_resolved_meanwhile_is_refused(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    agent_ws = await agent_socket(agent.user)
    await receive_type(agent_ws, "ticket.assigned")
    assert (await request(agent_ws, {"type": "ticket.resolve", "ticket_id": ticket.pk}))["type"] == "ack"
    await receive_type(agent_ws, "ticket.updated", status="resolved")
    refused = await request(agent_ws, {"type": "typing", "ticket_id": ticket.pk})
    assert refused["code"] == "ticket_not_found"
    await agent_ws.disconnect()


async def test_typing_frames_count_against_the_frame_budget(agent, brand, settings):
    settings.WS_FRAME_BURST = 2
    settings.WS_FRAMES_PER_SECOND = 0.001
    ticket = await assigned_ticket(agent, brand)
    customer = await customer_socket(ticket.customer_token)
    answers = [(await request(customer, {"type": "typing"}, ref=f"t{n}"))["type"] for n in range(2)]
    assert answers == ["ack", "ack"]
    assert (await request(customer, {"type": "typing"}, ref="t3"))["code"] == "rate_limited"
    await customer.disconnect()


async def test_typing_frame_without_a_ticket_id_is_refused_on_the_agent_socket(agent):
    agent_ws = await agent_socket(agent.user)
    assert (await request(agent_ws, {"type": "typing"}))["code"] == "invalid_ticket_id"
    await agent_ws.disconnect()


# --- read marks ---------------------------------------------------------------------------


async def test_customer_read_mark_is_stored_and_relayed_to_the_agent(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    first = await message(ticket, "agent")
    second = await message(ticket, "agent")
    agent_ws = await agent_socket(agent.user)
    customer = await customer_socket(ticket.customer_token)
    await drain(agent_ws)
    assert (await request(customer, {"type": "read", "up_to": second}))["type"] == "ack"
    heard = await receive_type(agent_ws, "read")
    assert heard == {"type": "read", "ticket_id": ticket.pk, "reader": "customer", "up_to": second}
    assert await marks(ticket) == (None, second)

    # Backwards changes nothing and tells nobody.
    assert (await request(customer, {"type": "read", "up_to": first}))["type"] == "ack"
    assert await marks(ticket) == (None, second)
    assert of_type(await everything_sent(agent_ws, agent_group(agent.pk)), "read") == []
    await customer.disconnect()
    await agent_ws.disconnect()


async def test_agent_read_mark_is_stored_forward_only_and_relayed_to_the_customer(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    first = await message(ticket, "customer")
    second = await message(ticket, "customer")
    customer = await customer_socket(ticket.customer_token)
    agent_ws = await agent_socket(agent.user)
    await drain(customer)
    assert (await request(agent_ws, {"type": "read", "ticket_id": ticket.pk, "up_to": first}))["type"] == "ack"
    assert (await request(agent_ws, {"type": "read", "ticket_id": ticket.pk, "up_to": second}))["type"] == "ack"
    assert (await request(agent_ws, {"type": "read", "ticket_id": ticket.pk, "up_to": first}))["type"] == "ack"
    relayed = of_type(await everything_sent(customer, customer_group(ticket.pk)), "read")
    assert [f["up_to"] for f in relayed] == [first, second]
    assert relayed[0] == {"type": "read", "ticket_id": ticket.pk, "reader": "agent", "up_to": first}
    assert await marks(ticket) == (second, None)
    await customer.disconnect()
    await agent_ws.disconnect()


async def test_a_read_mark_for_a_message_of_another_chat_is_refused(agent, agent2, brand):
    ticket = await assigned_ticket(agent, brand)
    elsewhere = await assigned_ticket(agent2, brand)
    foreign = await message(elsewhere, "agent")
    customer = await customer_socket(ticket.customer_token)
    assert (await request(customer, {"type": "read", "up_to": foreign}))["code"] == "message_not_found"
    assert (await request(customer, {"type": "read", "up_to": 2**40}))["code"] == "message_not_found"
    assert (await request(customer, {"type": "read", "up_to": "7"}))["code"] == "invalid_up_to"
    assert await marks(ticket) == (None, None)
    await customer.disconnect()


async def test_outsider_agent_read_mark_is_refused(agent, agent2, brand):
    ticket = await assigned_ticket(agent, brand)
    mid = await message(ticket, "customer")
    outsider = await agent_socket(agent2.user)
    refused = await request(outsider, {"type": "read", "ticket_id": ticket.pk, "up_to": mid})
    assert refused["code"] == "ticket_not_found"
    assert await marks(ticket) == (None, None)
    await outsider.disconnect()


async def test_snapshots_carry_the_read_marks(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    from_customer = await message(ticket, "customer")
    from_agent = await message(ticket, "agent")
    await database_sync_to_async(services.ticket_read_agent)(agent=agent, ticket_id=ticket.pk, up_to=from_customer)
    await database_sync_to_async(services.ticket_read_customer)(ticket=ticket, up_to=from_agent)

    agent_ws = await agent_socket(agent.user)
    assigned = await receive_type(agent_ws, "ticket.assigned")
    assert assigned["ticket"]["read_up_to"] == {"agent": from_customer, "customer": from_agent}
    customer = await customer_socket(ticket.customer_token)
    snapshot = await everything_sent(customer, customer_group(ticket.pk))
    assert of_type(snapshot, "read") == [
        {"type": "read", "ticket_id": ticket.pk, "reader": "agent", "up_to": from_customer}
    ]
    await customer.disconnect()
    await agent_ws.disconnect()
