"""Long conversations: a (re)connect sends only the newest messages, older ones are paged in."""

import pytest
from channels.db import database_sync_to_async

from tasks import services
from tasks.models import Message, Offer, Ticket
from tasks.realtime import agent_group, customer_group

from .factories import AgentFactory, TicketFactory
from .ws import agent_socket, customer_socket, drain, everything_sent, receive, receive_type, request, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _short_snapshots(settings):
    settings.SNAPSHOT_MESSAGES = 3


async def page(ws, frame: dict, ref: str = "h") -> dict:
    """Ask for a page: the history frame comes first, then the ack of the request."""
    await send(ws, {"type": "history", **frame, "ref": ref})
    answer = await receive_type(ws, "history")
    assert await receive(ws) == {"type": "ack", "ref": ref}
    return answer


@database_sync_to_async
def assigned_ticket_with_messages(agent, brand, count: int) -> tuple[Ticket, list[int]]:
    AgentFactory._meta.model.objects.filter(pk=agent.pk).update(status="available", connections=1)
    ticket = TicketFactory(brand=brand)
    services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, agent=agent).pk)
    ids = [
        Message.objects.create(ticket=ticket, sender="customer" if i % 2 else "agent", text=f"line {i}").pk
        for i in range(count)
    ]
    return Ticket.objects.get(pk=ticket.pk), ids


async def test_reconnecting_agent_gets_only_the_newest_messages_and_a_cursor(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 7)
    ws = await agent_socket(agent.user)
    assigned = await receive_type(ws, "ticket.assigned")
    assert [m["id"] for m in assigned["ticket"]["messages"]] == ids[-3:]
    assert assigned["ticket"]["history"] == {"more": True, "before": ids[-3]}
    await ws.disconnect()


async def test_short_conversation_says_there_is_nothing_earlier(agent, brand):
    _, ids = await assigned_ticket_with_messages(agent, brand, 2)
    ws = await agent_socket(agent.user)
    assigned = await receive_type(ws, "ticket.assigned")
    assert [m["id"] for m in assigned["ticket"]["messages"]] == ids
    assert assigned["ticket"]["history"] == {"more": False, "before": ids[0]}
    await ws.disconnect()


async def test_accepting_a_long_reopened_conversation_sends_only_its_end(agent, agent2, brand):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ids = [
        (await database_sync_to_async(Message.objects.create)(ticket=ticket, sender="customer", text=f"m{i}")).pk
        for i in range(5)
    ]
    ws = await agent_socket(agent.user)
    await request(ws, {"type": "presence", "status": "available"})
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    offer = await receive_type(ws, "offer")
    assert (await request(ws, {"type": "offer.accept", "offer_id": offer["offer_id"]}))["type"] == "ack"
    assigned = await receive_type(ws, "ticket.assigned")
    assert [m["id"] for m in assigned["ticket"]["messages"]] == ids[-3:]
    assert assigned["ticket"]["history"]["more"] is True
    await ws.disconnect()


async def test_agent_pages_back_through_the_whole_conversation(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 7)
    ws = await agent_socket(agent.user)
    assigned = await receive_type(ws, "ticket.assigned")
    seen = [m["id"] for m in assigned["ticket"]["messages"]]
    before = assigned["ticket"]["history"]["before"]
    more = True
    while more:
        older = await page(ws, {"ticket_id": ticket.pk, "before": before, "limit": 3})
        assert older["ticket_id"] == ticket.pk and len(older["messages"]) <= 3
        assert set(older["messages"][0]) == {"ticket_id", "id", "sender", "text", "sent_at"}
        seen = [m["id"] for m in older["messages"]] + seen
        more, before = older["more"], older["before"]
    assert seen == ids
    await ws.disconnect()


async def test_newest_page_is_served_when_no_cursor_is_given(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 4)
    ws = await agent_socket(agent.user)
    await drain(ws)
    newest = await page(ws, {"ticket_id": ticket.pk, "limit": 2})
    assert [m["id"] for m in newest["messages"]] == ids[-2:] and newest["more"] is True
    await ws.disconnect()


async def test_agent_cannot_page_a_conversation_not_assigned_to_them(agent, agent2, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 4)
    ws = await agent_socket(agent2.user)
    await everything_sent(ws, agent_group(agent2.pk))
    await send(ws, {"type": "history", "ticket_id": ticket.pk, "before": ids[-1], "ref": "h"})
    # Everything the request caused, so a page sent before the refusal would show too.
    answered = await everything_sent(ws, agent_group(agent2.pk))
    assert [(f["type"], f.get("code")) for f in answered] == [("error", "ticket_not_found")]
    await ws.disconnect()


async def test_resolved_conversation_can_no_longer_be_paged_by_the_agent(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 4)
    await database_sync_to_async(services.ticket_resolve)(agent=agent, ticket_id=ticket.pk)
    ws = await agent_socket(agent.user)
    await drain(ws)
    assert (await request(ws, {"type": "history", "ticket_id": ticket.pk}))["code"] == "ticket_not_found"
    await ws.disconnect()


async def test_reconnecting_customer_gets_the_newest_messages_then_a_history_cursor(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 5)
    ws = await customer_socket(ticket.customer_token)
    frames = await everything_sent(ws, customer_group(ticket.pk))
    assert [f["type"] for f in frames] == ["ticket.updated", "message", "message", "message", "history"]
    assert [f["id"] for f in frames if f["type"] == "message"] == ids[-3:]
    assert frames[-1] == {"type": "history", "ticket_id": ticket.pk, "messages": [], "more": True, "before": ids[-3]}
    await ws.disconnect()


async def test_customer_pages_back_through_their_conversation(agent, brand):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 5)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    older = await page(ws, {"before": ids[-3]})
    assert [m["id"] for m in older["messages"]] == ids[:2] and older["more"] is False and older["before"] == ids[0]
    # Naming its own ticket is allowed too.
    oldest = await page(ws, {"ticket_id": ticket.pk, "before": ids[1], "limit": 1}, ref="own")
    assert [m["id"] for m in oldest["messages"]] == ids[:1]
    await ws.disconnect()


async def test_customer_cannot_page_another_ticket(agent, brand):
    mine, _ = await assigned_ticket_with_messages(agent, brand, 1)
    other = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(Message.objects.create)(ticket=other, sender="customer", text="secret")
    ws = await customer_socket(mine.customer_token)
    await everything_sent(ws, customer_group(mine.pk))
    await send(ws, {"type": "history", "ticket_id": other.pk, "ref": "h"})
    answered = await everything_sent(ws, customer_group(mine.pk))
    assert [(f["type"], f.get("code")) for f in answered] == [("error", "ticket_not_found")]
    await ws.disconnect()


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"before": "12"}, "invalid_before"),
        ({"before": -1}, "invalid_before"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "5"}, "invalid_limit"),
        ({"ticket_id": "1"}, "invalid_ticket_id"),
    ],
)
async def test_bad_history_requests_are_refused(brand, fields, code):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    assert (await request(ws, {"type": "history", **fields}))["code"] == code
    await ws.disconnect()


async def test_page_size_stays_within_bounds_when_snapshots_are_configured_larger(agent, brand, settings):
    ticket, ids = await assigned_ticket_with_messages(agent, brand, 2)
    settings.SNAPSHOT_MESSAGES = 500
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    newest = await page(ws, {})
    assert [m["id"] for m in newest["messages"]] == ids and newest["more"] is False
    await ws.disconnect()
