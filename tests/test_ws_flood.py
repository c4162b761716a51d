"""Frame floods: a per-socket budget, refusals beyond it, and a close for sustained abuse."""

import json

import pytest
from channels.db import database_sync_to_async

from tasks.consumers import FLOOD_CLOSE_CODE, FLOOD_REFUSALS_BEFORE_CLOSE, FrameBucket
from tasks.models import Message, Ticket

from .factories import TicketFactory
from .ws import agent_socket, customer_socket, drain, receive, send

pytestmark = pytest.mark.django_db(transaction=True)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate():
    clock = FakeClock()
    bucket = FrameBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one frame's worth at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    assert bucket.refused == 2


def test_bucket_forgives_refusals_once_the_client_pauses():
    clock = FakeClock()
    bucket = FrameBucket(rate=1, burst=2, clock=clock)
    for _ in range(10):
        bucket.take()
    assert bucket.refused == 8
    clock.now += 5
    assert bucket.take() and bucket.refused == 0


@pytest.fixture
def tight_budget(settings):
    # A rate this low never refills during a test, so the outcome does not depend on speed.
    settings.WS_FRAMES_PER_SECOND = 0.0001
    settings.WS_FRAME_BURST = 3


async def frames_over_budget_are_refused_and_not_read(ws, make_frame):
    for i in range(5):
        await send(ws, {**make_frame(i), "ref": f"f{i}"})
    # Accepted messages also come back as pushes; only the answers matter here.
    answers = []
    while len(answers) < 5:
        frame = await receive(ws)
        if frame["type"] in ("ack", "error"):
            answers.append(frame)
    assert [(a["type"], a["ref"]) for a in answers[:3]] == [("ack", "f0"), ("ack", "f1"), ("ack", "f2")]
    assert [(a["code"], a["ref"]) for a in answers[3:]] == [("rate_limited", "f3"), ("rate_limited", "f4")]


@pytest.mark.asyncio
async def test_agent_frames_beyond_the_budget_are_refused_and_not_processed(agent, brand, tight_budget):
    from tests.test_ws_bad_input import assigned_ticket

    ticket = await assigned_ticket(agent, brand)
    ws = await agent_socket(agent.user)
    await drain(ws)
    await frames_over_budget_are_refused_and_not_read(
        ws, lambda i: {"type": "message", "ticket_id": ticket.pk, "text": f"line {i}"}
    )
    stored = Message.objects.filter(ticket=ticket).values_list("text", flat=True)
    texts = await database_sync_to_async(list)(stored)
    assert sorted(texts) == ["line 0", "line 1", "line 2"]
    await ws.disconnect()


@pytest.mark.asyncio
async def test_customer_frames_beyond_the_budget_are_refused_and_not_processed(brand, tight_budget):
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    await frames_over_budget_are_refused_and_not_read(ws, lambda i: {"type": "message", "text": f"line {i}"})
    assert await database_sync_to_async(Message.objects.filter(ticket=ticket).count)() == 3
    await ws.disconnect()


@pytest.mark.asyncio
async def test_malformed_frames_count_against_the_budget_too(agent, tight_budget):
    ws = await agent_socket(agent.user)
    await drain(ws)
    for _ in range(3):
        await ws.send_to(text_data="{nope")
    assert [(await receive(ws))["code"] for _ in range(3)] == ["bad_json"] * 3
    await send(ws, {"type": "ping", "ref": "late"})
    late = await receive(ws)
    assert late["type"] == "error" and late["ref"] == "late" and late["code"] == "rate_limited"
    await ws.disconnect()


async def flood_until_closed(ws) -> dict:
    for i in range(3 + FLOOD_REFUSALS_BEFORE_CLOSE):
        await send(ws, {"type": "ping", "ref": i})
    codes = []
    while True:
        output = await ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return {"codes": codes, "close": output["code"]}
        codes.append(json.loads(output["text"]).get("code", "ack"))


@pytest.mark.asyncio
@pytest.mark.parametrize("side", ["agent", "customer"])
async def test_sustained_flood_closes_the_socket_with_4429(agent, brand, tight_budget, side):
    if side == "agent":
        ws = await agent_socket(agent.user)
    else:
        ticket = await database_sync_to_async(TicketFactory)(brand=brand)
        ws = await customer_socket(ticket.customer_token)
    await drain(ws)
    result = await flood_until_closed(ws)
    assert result["close"] == FLOOD_CLOSE_CODE == 4429
    assert result["codes"] == ["ack"] * 3 + ["rate_limited"] * FLOOD_REFUSALS_BEFORE_CLOSE
    if side == "customer":
        assert (await database_sync_to_async(Ticket.objects.get)(pk=ticket.pk)).status == "queued"
