"""Bad frames and outsiders on the sockets: clear error, nothing changed, connection open."""

import json

import pytest
from channels.db import database_sync_to_async

from marketplace.models import User
from tasks.models import Message, Offer, Ticket
from tasks.realtime import agent_group

from .factories import AgentFactory, TicketFactory
from .ws import agent_socket, customer_socket, drain, everything_sent, receive, request, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def still_open(comm):
    assert (await request(comm, {"type": "ping"}, ref="alive"))["type"] == "ack"


@database_sync_to_async
def assigned_ticket(agent, brand):
    """A ticket assigned to `agent` through the real services."""
    from tasks import services

    AgentFactory._meta.model.objects.filter(pk=agent.pk).update(status="available", connections=1)
    ticket = TicketFactory(brand=brand)
    services.ticket_dispatch(ticket_id=ticket.pk)
    offer = Offer.objects.get(ticket=ticket, agent=agent)
    services.offer_accept(agent=agent, offer_id=offer.pk)
    return Ticket.objects.get(pk=ticket.pk)


async def test_malformed_json_gets_an_error_and_the_socket_stays_open(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    await ws.send_to(text_data="{not json")
    error = await receive(ws)
    assert error["type"] == "error" and error["code"] == "bad_json"
    await still_open(ws)
    await ws.disconnect()


@pytest.mark.parametrize("payload", ["[1,2]", '"text"', "42"])
async def test_frame_that_is_not_an_object_is_refused(agent, payload):
    ws = await agent_socket(agent.user)
    await drain(ws)
    await ws.send_to(text_data=payload)
    assert (await receive(ws))["code"] == "bad_frame"
    await still_open(ws)
    await ws.disconnect()


async def test_binary_frame_is_refused(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["code"] == "bad_frame"
    await ws.disconnect()


async def test_unknown_type_is_refused_with_the_ref(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    error = await request(ws, {"type": "teleport"}, ref="x1")
    assert error == {
        "type": "error",
        "ref": "x1",
        "code": "unknown_type",
        "message": error["message"],
    }
    assert "offer.accept" in error["message"]
    await still_open(ws)
    await ws.disconnect()


async def test_invalid_presence_status_is_refused(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    assert (await request(ws, {"type": "presence", "status": "sleeping"}))["code"] == "invalid_status"
    await ws.disconnect()


async def test_text_over_4000_characters_is_refused_and_not_stored(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    ws = await agent_socket(agent.user)
    await drain(ws)
    error = await request(ws, {"type": "message", "ticket_id": ticket.pk, "text": "x" * 4001})
    assert error["code"] == "text_too_long"
    assert (await request(ws, {"type": "message", "ticket_id": ticket.pk, "text": "   "}, ref="r2"))[
        "code"
    ] == "invalid_text"
    assert await database_sync_to_async(Message.objects.filter(ticket=ticket).count)() == 0
    ok = await request(ws, {"type": "message", "ticket_id": ticket.pk, "text": "x" * 4000}, ref="r3")
    assert ok["type"] == "ack"
    await ws.disconnect()


async def test_oversized_frame_is_refused_unread(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    await ws.send_to(text_data=json.dumps({"type": "message", "ticket_id": 1, "text": "x" * 20000}))
    assert (await receive(ws))["code"] == "frame_too_large"
    await still_open(ws)
    await ws.disconnect()


async def test_accepting_an_expired_offer_is_refused(agent, brand):
    from datetime import timedelta

    from django.utils import timezone

    ws = await agent_socket(agent.user)
    await request(ws, {"type": "presence", "status": "available"})
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    from tasks import services

    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    await database_sync_to_async(Offer.objects.filter(pk=offer.pk).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    error = await request(ws, {"type": "offer.accept", "offer_id": offer.pk}, ref="late")
    assert error["code"] == "offer_expired"
    refreshed = await database_sync_to_async(Ticket.objects.get)(pk=ticket.pk)
    assert refreshed.status == "offered" and refreshed.agent_id is None
    await ws.disconnect()


async def test_accepting_someone_elses_offer_is_refused(agent, agent2, brand):
    from tasks import services

    await database_sync_to_async(AgentFactory._meta.model.objects.filter(pk=agent.pk).update)(
        status="available", connections=1
    )
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    assert offer.agent_id == agent.pk
    ws = await agent_socket(agent2.user)
    await drain(ws)
    for frame_type in ("offer.accept", "offer.decline"):
        error = await request(ws, {"type": frame_type, "offer_id": offer.pk}, ref=frame_type)
        assert error["code"] == "offer_not_found"
    assert (await database_sync_to_async(Offer.objects.get)(pk=offer.pk)).state == "pending"
    await ws.disconnect()


async def test_offer_id_must_be_an_integer(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    assert (await request(ws, {"type": "offer.accept", "offer_id": "1; drop"}))["code"] == "invalid_offer_id"
    await ws.disconnect()


async def test_messaging_or_resolving_a_ticket_not_yours_is_refused(agent, agent2, brand):
    ticket = await assigned_ticket(agent, brand)
    ws = await agent_socket(agent2.user)
    await drain(ws)
    assert (await request(ws, {"type": "message", "ticket_id": ticket.pk, "text": "hi"}, ref="m"))["code"] == (
        "ticket_not_found"
    )
    assert (await request(ws, {"type": "ticket.resolve", "ticket_id": ticket.pk}, ref="r"))["code"] == (
        "ticket_not_found"
    )
    refreshed = await database_sync_to_async(Ticket.objects.get)(pk=ticket.pk)
    assert refreshed.status == "assigned" and refreshed.agent_id == agent.pk
    assert await database_sync_to_async(Message.objects.filter(ticket=ticket).count)() == 0
    await ws.disconnect()


async def test_agent_of_another_brand_never_hears_of_the_ticket(agent, outsider_agent, brand):
    outsider_ws = await agent_socket(outsider_agent.user)
    await request(outsider_ws, {"type": "presence", "status": "available"})
    await everything_sent(outsider_ws, agent_group(outsider_agent.pk))
    await assigned_ticket(agent, brand)
    assert await everything_sent(outsider_ws, agent_group(outsider_agent.pk)) == []
    await outsider_ws.disconnect()


async def test_resolving_twice_is_refused(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    ws = await agent_socket(agent.user)
    await drain(ws)
    assert (await request(ws, {"type": "ticket.resolve", "ticket_id": ticket.pk}, ref="1"))["type"] == "ack"
    assert (await request(ws, {"type": "ticket.resolve", "ticket_id": ticket.pk}, ref="2"))["code"] == (
        "ticket_not_assigned"
    )
    await ws.disconnect()


async def test_socket_without_credentials_is_refused():
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application

    ws = WebsocketCommunicator(application, "/ws/agent/")
    connected, _ = await ws.connect()
    assert connected
    assert (await receive(ws))["code"] == "unauthenticated"
    assert (await ws.receive_output())["code"] == 4401


async def test_socket_with_a_wrong_token_is_refused(db):
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application

    ws = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"authorization", b"Token nope")])
    await ws.connect()
    assert (await receive(ws))["code"] == "unauthenticated"


async def test_user_who_is_not_an_agent_is_refused(db):
    user = await database_sync_to_async(User.objects.create_user)("applicant@example.test", "pw-123456789")
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application
    from tests.ws import token_for

    key = await token_for(user)
    ws = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"authorization", f"Token {key}".encode())])
    await ws.connect()
    assert (await receive(ws))["code"] == "not_an_agent"
    assert (await ws.receive_output())["code"] == 4403


async def test_foreign_origin_is_refused_at_the_handshake(agent):
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application

    ws = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await ws.connect()
    assert not connected


# --- Customer socket ---------------------------------------------------------------------------


async def test_unknown_customer_token_is_refused(db):
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application

    ws = WebsocketCommunicator(application, "/ws/customer/not-a-token/")
    await ws.connect()
    assert (await receive(ws))["code"] == "ticket_not_found"
    assert (await ws.receive_output())["code"] == 4404


async def test_customer_token_opens_only_its_own_ticket(agent, brand):
    mine = await assigned_ticket(agent, brand)
    other = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(other.customer_token)
    await drain(ws)
    await request(ws, {"type": "message", "text": "hello"})
    assert await database_sync_to_async(Message.objects.filter(ticket=mine).count)() == 0
    assert await database_sync_to_async(Message.objects.filter(ticket=other).count)() == 1
    agent_ws = await agent_socket(agent.user)
    frames = await everything_sent(agent_ws, agent_group(agent.pk))
    assert [f["ticket"]["id"] for f in frames if f["type"] == "ticket.assigned"] == [mine.pk]
    assert "hello" not in json.dumps(frames)
    await ws.disconnect()
    await agent_ws.disconnect()


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"type": "rate", "score": 9}, "invalid_score"),
        ({"type": "rate", "score": "5"}, "invalid_score"),
        ({"type": "rate", "score": 4}, "ticket_not_resolved"),
        ({"type": "reopen"}, "ticket_not_resolved"),
        ({"type": "message", "text": ""}, "invalid_text"),
        ({"type": "message", "text": "y" * 4001}, "text_too_long"),
        ({"type": "offer.accept", "offer_id": 1}, "unknown_type"),
    ],
)
async def test_customer_bad_frames_are_refused(brand, frame, code):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    assert (await request(ws, frame))["code"] == code
    refreshed = await database_sync_to_async(Ticket.objects.get)(pk=ticket.pk)
    assert refreshed.status == "queued" and refreshed.rating is None
    await still_open(ws)
    await ws.disconnect()


async def test_frames_without_ref_get_errors_but_no_ack(agent):
    ws = await agent_socket(agent.user)
    await everything_sent(ws, agent_group(agent.pk))
    await send(ws, {"type": "presence", "status": "away"})
    await send(ws, {"type": "presence", "status": "sleeping"})
    frames = await everything_sent(ws, agent_group(agent.pk))
    assert sorted(f["type"] for f in frames) == ["error", "presence"]
    assert [(f["ref"], f["code"]) for f in frames if f["type"] == "error"] == [(None, "invalid_status")]
    await ws.disconnect()


# --- Hostile frames: an answer for each, the socket stays open, nothing is stored ------------


@pytest.mark.parametrize("payload", ["[" * 100_000, '{"a":' * 3000 + "1" + "}" * 3000])
async def test_deeply_nested_json_is_bad_json_and_the_socket_stays_open(agent, brand, payload):
    ws = await agent_socket(agent.user)
    await drain(ws)
    # Cut to the frame limit: a few thousand brackets are enough to exhaust the decoder.
    await ws.send_to(text_data=payload[:8000])
    assert (await receive(ws))["code"] == "bad_json"
    await still_open(ws)
    await ws.disconnect()


async def test_customer_socket_survives_deeply_nested_json(brand):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    await ws.send_to(text_data="[" * 8000)
    assert (await receive(ws))["code"] == "bad_json"
    await still_open(ws)
    await ws.disconnect()


async def test_a_type_that_is_not_text_is_an_unknown_type(agent, brand):
    ws = await agent_socket(agent.user)
    await drain(ws)
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    customer = await customer_socket(ticket.customer_token)
    await drain(customer)
    for frame_type in (["x"], {"a": 1}, 7, None, True):
        for comm in (ws, customer):
            error = await request(comm, {"type": frame_type}, ref="t")
            assert error["type"] == "error" and error["code"] == "unknown_type", frame_type
            await still_open(comm)
    await ws.disconnect()
    await customer.disconnect()


async def test_nul_or_lone_surrogate_in_a_message_is_invalid_text_and_not_stored(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    ws = await agent_socket(agent.user)
    await drain(ws)
    customer = await customer_socket(ticket.customer_token)
    await drain(customer)
    for bad in ("\x00", "hi\x00there", "\ud800", "a\udfffb"):
        error = await request(ws, {"type": "message", "ticket_id": ticket.pk, "text": bad})
        assert error["type"] == "error" and error["code"] == "invalid_text"
        assert (await request(customer, {"type": "message", "text": bad}, ref="c"))["code"] == "invalid_text"
    assert await database_sync_to_async(Message.objects.filter(ticket=ticket).count)() == 0
    await still_open(ws)
    await still_open(customer)
    await ws.disconnect()
    await customer.disconnect()


async def test_nul_or_lone_surrogate_in_a_rating_comment_is_invalid_text(agent, brand):
    from tasks import services

    ticket = await assigned_ticket(agent, brand)
    await database_sync_to_async(services.ticket_resolve)(agent=agent, ticket_id=ticket.pk)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    for bad in ("\x00", "\ud83d"):
        assert (await request(ws, {"type": "rate", "score": 4, "comment": f"ok{bad}"}))["code"] == "invalid_text"
    refreshed = await database_sync_to_async(Ticket.objects.get)(pk=ticket.pk)
    assert refreshed.status == "resolved" and refreshed.rating is None
    assert (await request(ws, {"type": "rate", "score": 4, "comment": "ok"}, ref="again"))["type"] == "ack"
    await ws.disconnect()


WRONGLY_TYPED = [
    ({"type": "offer.decline", "offer_id": 1, "reason": "x" * 201}, "invalid_reason"),
    ({"type": "offer.decline", "offer_id": 1, "reason": "busy\x00"}, "invalid_reason"),
    ({"type": "offer.accept", "offer_id": 10**30}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": 1.5}, "invalid_offer_id"),
    ({"type": "message", "ticket_id": 10**30, "text": "hi"}, "invalid_ticket_id"),
    ({"type": "message", "ticket_id": 1e308, "text": "hi"}, "invalid_ticket_id"),
    ({"type": "ticket.resolve", "ticket_id": [1]}, "invalid_ticket_id"),
    ({"type": "presence", "status": ["available"]}, "invalid_status"),
    ({"type": "presence", "status": {"available": True}}, "invalid_status"),
]


async def test_wrongly_typed_fields_are_refused_with_their_own_code(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    for frame, code in WRONGLY_TYPED:
        assert (await request(ws, frame))["code"] == code, frame
    await still_open(ws)
    await ws.disconnect()


async def test_infinity_as_a_ticket_id_is_refused(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    await ws.send_to(text_data='{"type": "ticket.resolve", "ticket_id": Infinity, "ref": "inf"}')
    error = await receive(ws)
    assert error["ref"] == "inf" and error["code"] == "invalid_ticket_id"
    await still_open(ws)
    await ws.disconnect()


REFS = [
    ("abc", "abc"),
    (42, 42),
    ("r" * 100, "r" * 100),
    ("r" * 101, None),
    (2**60, None),
    (1.5, None),
    (True, None),
    ({"huge": ["x" * 100] * 50}, None),
    ([1, 2, 3], None),
]


async def test_only_short_scalar_refs_are_echoed(agent):
    ws = await agent_socket(agent.user)
    await drain(ws)
    for ref, echoed in REFS:
        await send(ws, {"type": "ping", "ref": ref})
        assert await receive(ws) == {"type": "ack", "ref": echoed}
        await send(ws, {"type": "teleport", "ref": ref})
        error = await receive(ws)
        assert error["code"] == "unknown_type" and error["ref"] == echoed
    await ws.disconnect()


async def test_an_unexpected_failure_in_a_handler_answers_server_error_and_keeps_the_socket(agent, monkeypatch):
    from tasks.client_frames import Presence
    from tasks.consumers import AgentConsumer

    working = AgentConsumer.handle

    async def broken(self, frame, client_ref):
        if isinstance(frame, Presence):
            raise RuntimeError("a bug")
        return await working(self, frame, client_ref)

    monkeypatch.setattr(AgentConsumer, "handle", broken)
    ws = await agent_socket(agent.user)
    await drain(ws)
    error = await request(ws, {"type": "presence", "status": "away"}, ref="bug")
    assert error == {"type": "error", "ref": "bug", "code": "server_error", "message": error["message"]}
    await still_open(ws)
    await ws.disconnect()


async def test_a_customer_link_with_a_nul_is_refused_like_an_unknown_one(db):
    from channels.testing import WebsocketCommunicator

    from marketplace.asgi import application

    ws = WebsocketCommunicator(application, "/ws/customer/ab%00cd/")
    await ws.connect()
    assert (await receive(ws))["code"] == "ticket_not_found"
    assert (await ws.receive_output())["code"] == 4404
