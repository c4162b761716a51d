"""A message frame resent after a reconnect is stored and pushed once: the server keeps the
frame's ref with the message and answers a resend with the first copy's ack."""

import pytest
from channels.db import database_sync_to_async

from tasks import services
from tasks.models import Message
from tasks.realtime import agent_group, customer_group

from .chat import assign, assigned_ticket
from .ws import agent_socket, customer_socket, drain, everything_sent, request

pytestmark = pytest.mark.django_db(transaction=True)

count_messages = database_sync_to_async(lambda **where: Message.objects.filter(**where).count())


@pytest.mark.asyncio
async def test_agent_message_resent_over_a_new_connection_is_stored_and_pushed_once(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    customer = await customer_socket(ticket.customer_token)
    await drain(customer)
    frame = {"type": "message", "ticket_id": ticket.pk, "text": "Let me check that for you"}

    first_socket = await agent_socket(agent.user)
    first = await request(first_socket, frame, ref="page-1:7")
    await first_socket.disconnect()
    second_socket = await agent_socket(agent.user)
    second = await request(second_socket, frame, ref="page-1:7")

    assert first["type"] == second["type"] == "ack"
    assert first["message_id"] == second["message_id"]
    assert await count_messages(ticket_id=ticket.pk, sender="agent") == 1
    heard = [f for f in await everything_sent(customer, customer_group(ticket.pk)) if f["type"] == "message"]
    assert [(f["id"], f["text"]) for f in heard] == [(first["message_id"], "Let me check that for you")]
    await second_socket.disconnect()
    await customer.disconnect()


@pytest.mark.asyncio
async def test_customer_message_resent_over_a_new_connection_is_stored_and_pushed_once(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    agent_ws = await agent_socket(agent.user)
    await drain(agent_ws)
    frame = {"type": "message", "text": "Still there?"}

    first_socket = await customer_socket(ticket.customer_token)
    first = await request(first_socket, frame, ref="c-1")
    await first_socket.disconnect()
    second_socket = await customer_socket(ticket.customer_token)
    second = await request(second_socket, frame, ref="c-1")

    assert first == second == {"type": "ack", "ref": "c-1", "message_id": first["message_id"]}
    assert await count_messages(ticket_id=ticket.pk, sender="customer") == 1
    heard = [f for f in await everything_sent(agent_ws, agent_group(agent.pk)) if f["type"] == "message"]
    assert [f["id"] for f in heard] == [first["message_id"]]
    await second_socket.disconnect()
    await agent_ws.disconnect()


@pytest.mark.asyncio
async def test_a_ref_reused_for_a_different_text_is_refused_and_stores_nothing(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    ws = await customer_socket(ticket.customer_token)
    assert (await request(ws, {"type": "message", "text": "one"}, ref="same"))["type"] == "ack"
    refused = await request(ws, {"type": "message", "text": "two"}, ref="same")
    assert refused["code"] == "ref_reused"
    assert await count_messages(ticket_id=ticket.pk) == 1
    await ws.disconnect()


@pytest.mark.asyncio
async def test_the_same_ref_from_both_sides_is_two_messages(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    customer = await customer_socket(ticket.customer_token)
    agent_ws = await agent_socket(agent.user)
    a = await request(customer, {"type": "message", "text": "hello"}, ref="1")
    b = await request(agent_ws, {"type": "message", "ticket_id": ticket.pk, "text": "hello"}, ref="1")
    assert a["message_id"] != b["message_id"]
    assert await count_messages(ticket_id=ticket.pk) == 2
    await customer.disconnect()
    await agent_ws.disconnect()


@pytest.mark.asyncio
async def test_outsider_resending_an_agents_ref_on_their_ticket_is_refused(agent, agent2, brand):
    ticket = await assigned_ticket(agent, brand)
    mine = await agent_socket(agent.user)
    frame = {"type": "message", "ticket_id": ticket.pk, "text": "hi"}
    assert (await request(mine, frame, ref="x"))["type"] == "ack"
    outsider = await agent_socket(agent2.user)
    refused = await request(outsider, frame, ref="x")
    assert refused["type"] == "error" and refused["code"] == "ticket_not_found"
    assert "message_id" not in refused
    await mine.disconnect()
    await outsider.disconnect()


def test_resend_after_the_chat_was_resolved_still_answers_with_the_first_copy(agent, brand):
    ticket = assign(agent, brand)
    first = services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Done!", client_ref="r9")
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    again = services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Done!", client_ref="r9")
    assert again.pk == first.pk
    assert Message.objects.filter(ticket=ticket, sender="agent").count() == 1


def test_the_database_refuses_a_second_row_with_the_same_ref_and_author(agent, brand):
    from django.db import IntegrityError, transaction

    ticket = assign(agent, brand)
    Message.objects.create(ticket=ticket, sender="customer", text="a", client_ref="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(ticket=ticket, sender="customer", text="a", client_ref="dup")
    # Frames without a ref are never taken for resends.
    Message.objects.create(ticket=ticket, sender="customer", text="a")
    Message.objects.create(ticket=ticket, sender="customer", text="a")
