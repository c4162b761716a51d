"""When nobody who could help is online the customer is told so plainly, may leave a message
and an address, and is e-mailed a link back once an agent accepts; when their agent's
connection drops they are told too."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.utils import timezone

from agents.models import AgentProfile
from tasks import services
from tasks.models import Message, Offer, Ticket
from tasks.realtime import customer_group
from tasks.sweeper import QueueBroadcaster, Sweeper

from .factories import AgentFactory, TicketFactory
from .ws import agent_socket, customer_socket, everything_sent, receive_type, request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _links(settings):
    settings.SITE_URL = "https://help.example.com"


def _get(ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


async def _accept(agent, ticket) -> None:
    """The agent comes online and accepts the waiting ticket."""

    def go():
        AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AVAILABLE, connections=1)
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        services.offer_accept(agent=AgentProfile.objects.get(pk=agent.pk), offer_id=offer.pk)

    await database_sync_to_async(go)()


async def test_nobody_online_is_said_plainly_and_without_an_estimate(brand):
    await database_sync_to_async(AgentFactory)(brands=[brand], available=True, languages=["sv"])  # not English
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)

    status = await receive_type(ws, "ticket.updated")
    assert status["status"] == "queued" and status["agents_online"] is False
    assert "eta_seconds" not in status and status["queue_position"] == 1

    broadcaster = QueueBroadcaster()
    await database_sync_to_async(broadcaster.broadcast)()
    pushed = [f for f in await everything_sent(ws, customer_group(ticket.pk)) if f["type"] == "ticket.updated"]
    assert pushed == [{"type": "ticket.updated", "status": "queued", "queue_position": 1, "agents_online": False}]

    # Someone who could help comes online (busy for now): the estimate comes back.
    await database_sync_to_async(AgentFactory)(brands=[brand], available=True, capacity=1, load=1)
    await database_sync_to_async(broadcaster.broadcast)()
    update = await receive_type(ws, "ticket.updated")
    assert update["agents_online"] is True and update["eta_seconds"] > 0
    await ws.disconnect()


async def test_a_customer_leaves_a_message_and_an_address_while_nobody_is_online(brand):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await receive_type(ws, "ticket.updated")

    sent = await request(ws, {"type": "message", "text": "Card 4111 1111 1111 1111 was charged twice"}, ref="m")
    assert sent == {"type": "ack", "ref": "m", "message_id": sent["message_id"]} and isinstance(sent["message_id"], int)
    assert await request(ws, {"type": "notify_me", "email": " maja@example.com "}, ref="n") == {
        "type": "ack",
        "ref": "n",
    }

    stored = await database_sync_to_async(_get)(ticket)
    assert stored.status == "queued" and stored.notify_email == "maja@example.com"
    text = await database_sync_to_async(lambda: Message.objects.get(ticket=ticket).text)()
    assert "4111 1111 1111 1111" not in text and "charged twice" in text
    await ws.disconnect()

    # Back later: the page knows where the e-mail will go.
    again = await customer_socket(ticket.customer_token)
    assert (await receive_type(again, "ticket.updated"))["notify_email"] == "maja@example.com"
    await again.disconnect()


@pytest.mark.parametrize("email", ["not-an-address", "", 42, None, "a@b" + "c" * 300 + ".se", "x\x00@example.com"])
async def test_a_bad_address_is_refused_and_nothing_is_stored(brand, email):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    answer = await request(ws, {"type": "notify_me", "email": email})
    assert answer["type"] == "error" and answer["code"] == "invalid_email"
    assert (await database_sync_to_async(_get)(ticket)).notify_email == ""
    await ws.disconnect()


async def test_an_address_is_refused_once_an_agent_has_the_chat(brand, agent):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await _accept(agent, ticket)
    ws = await customer_socket(ticket.customer_token)
    answer = await request(ws, {"type": "notify_me", "email": "maja@example.com"})
    assert answer["code"] == "ticket_not_waiting"
    await ws.disconnect()


async def test_another_customer_cannot_set_the_address_of_this_chat(brand):
    ours = await database_sync_to_async(TicketFactory)(brand=brand)
    theirs = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(theirs.customer_token)
    assert (await request(ws, {"type": "notify_me", "email": "intruder@example.com"}))["type"] == "ack"
    assert (await database_sync_to_async(_get)(ours)).notify_email == ""
    assert (await database_sync_to_async(_get)(theirs)).notify_email == "intruder@example.com"
    await ws.disconnect()


async def test_on_accept_exactly_one_email_with_the_link_back_and_the_agents_name(brand, agent):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await request(ws, {"type": "notify_me", "email": "maja@example.com"})
    await ws.disconnect()

    await _accept(agent, ticket)

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["maja@example.com"] and "Ada" in email.subject
    assert f"https://help.example.com/chat/{ticket.customer_token}/" in email.body

    # Resolved, reopened and accepted again: the customer is in the chat already.
    def round_two():
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
        services.ticket_reopen(ticket=_get(ticket))
        offer = Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).first()
        if offer is None:
            offer = services.ticket_dispatch(ticket_id=ticket.pk)
        services.offer_accept(agent=agent, offer_id=offer.pk)

    await database_sync_to_async(round_two)()
    assert len(mail.outbox) == 1


async def test_no_email_without_an_address(brand, agent):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await _accept(agent, ticket)
    assert mail.outbox == []
    assert (await database_sync_to_async(_get)(ticket)).status == "assigned"


async def test_the_customer_is_told_when_their_agents_connection_drops_and_comes_back(brand, agent, settings):
    settings.AGENT_GRACE_SECONDS = 60
    phone = await agent_socket(agent.user)
    await request(phone, {"type": "presence", "status": "available"})
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    offer = await receive_type(phone, "offer")
    await request(phone, {"type": "offer.accept", "offer_id": offer["offer_id"]})
    customer = await customer_socket(ticket.customer_token)
    await everything_sent(customer, customer_group(ticket.pk))

    await phone.disconnect()
    lost = await receive_type(customer, "ticket.updated")
    assert lost == {
        "type": "ticket.updated",
        "status": "assigned",
        "agent": {"display_name": "Ada"},
        "agent_connection": "lost",
    }
    # A customer who reloads the page meanwhile hears it in the snapshot.
    reloaded = await customer_socket(ticket.customer_token)
    assert (await receive_type(reloaded, "ticket.updated"))["agent_connection"] == "lost"
    await reloaded.disconnect()

    phone = await agent_socket(agent.user)
    back = await receive_type(customer, "ticket.updated")
    assert back["agent_connection"] == "restored" and back["status"] == "assigned"
    await phone.disconnect()
    assert (await receive_type(customer, "ticket.updated"))["agent_connection"] == "lost"

    # The grace runs out: the chat goes back to the queue and the customer is told that too.
    await database_sync_to_async(AgentProfile.objects.filter(pk=agent.pk).update)(
        disconnected_at=timezone.now() - timedelta(seconds=61)
    )
    await database_sync_to_async(Sweeper().sweep_once)()
    note = await receive_type(customer, "message", sender="system")
    assert "lost their connection" in note["text"]
    assert (await receive_type(customer, "ticket.updated"))["status"] == "queued"
    await customer.disconnect()


async def test_a_second_socket_closing_is_not_a_lost_connection(brand, agent):
    phone = await agent_socket(agent.user)
    laptop = await agent_socket(agent.user)
    await request(phone, {"type": "presence", "status": "available"})
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    offer = await receive_type(phone, "offer")
    await request(phone, {"type": "offer.accept", "offer_id": offer["offer_id"]})
    customer = await customer_socket(ticket.customer_token)
    await everything_sent(customer, customer_group(ticket.pk))

    await laptop.disconnect()

    assert [f for f in await everything_sent(customer, customer_group(ticket.pk)) if "agent_connection" in f] == []
    await phone.disconnect()
    await customer.disconnect()
