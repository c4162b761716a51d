"""Fuzzing both sockets: whatever a client sends, each frame gets its answer, the socket
stays open and nothing changes.

hypothesis draws batches of hostile frames (random types and valid type names with wrongly
typed or invalid fields, nested structures, huge numbers, NUL and lone surrogates, binary
and oversized frames) and sends them over channels' WebsocketCommunicator to the real
application. After every frame a ping with a fresh ref must be acked: the socket is still
there, and every answer to the fuzzed frame arrived before it. The run is derandomized, so
CI sees the same frames every time; counts go to test-output/fuzz/ws.json.
"""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from agents.models import AgentProfile
from tasks import services
from tasks.client_frames import MAX_FRAME_CHARS, echo_ref
from tasks.models import Message, Offer, Ticket

from .factories import TicketFactory
from .ws import agent_socket, customer_socket, drain, receive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "fuzz" / "ws.json"
FUZZ_SETTINGS = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # No shrinking: a dropped socket costs a receive timeout per attempt, so shrinking would
    # run for minutes. A failure shows its whole batch of frames instead.
    phases=[Phase.explicit, Phase.generate],
)
STATS = {side: {"examples": 0, "frames": 0, "kinds": Counter(), "answers": Counter()} for side in ("agent", "customer")}

# --- Strategies --------------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "\ud83d", "\u0000\ud800"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**300, 2**53 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
REFS = st.one_of(st.text(max_size=120), st.integers(), JSON_VALUES)
NOT_AN_ID = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.sampled_from([0, -1, 2**63, 10**30]),
)


def ids_except(*taken: int):
    return st.one_of(NOT_AN_ID, st.integers(min_value=-(2**64), max_value=2**64).filter(lambda i: i not in taken))


def bad_texts():
    """Message text no service may store: not text, blank, too long, or unstorable characters."""
    with_hostile = st.tuples(st.text(max_size=20), HOSTILE_TEXT, st.text(max_size=20)).map("".join)
    return st.one_of(
        st.none(),
        st.integers(),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.sampled_from(["", " ", "\n\t "]),
        st.integers(min_value=4001, max_value=4300).map(lambda n: "y" * n),
        with_hostile,
    )


def frame_with(frame_type, **fields):
    """A frame of `frame_type` (a name or a strategy), maybe with a ref and an unknown field."""
    types = st.just(frame_type) if isinstance(frame_type, str) else frame_type
    return st.fixed_dictionaries({"type": types, **fields}, optional={"ref": REFS, "extra": JSON_VALUES})


def agent_frames(ticket_id: int, offer_id: int):
    """Frames for an agent who has `ticket_id` assigned and `offer_id` pending: every one
    of them must be refused (or only read)."""
    bad_reason = st.one_of(
        st.integers().filter(bool),
        st.lists(st.integers(), min_size=1, max_size=2),
        st.text(min_size=201, max_size=260),
        st.tuples(st.text(max_size=5), HOSTILE_TEXT).map("".join),
    )
    valid_statuses = {"available", "away", "offline"}
    return st.one_of(
        frame_with(
            "presence",
            status=st.one_of(JSON_VALUES.filter(lambda s: s not in valid_statuses if isinstance(s, str) else True)),
        ),
        frame_with("offer.accept", offer_id=ids_except(offer_id)),
        frame_with("offer.decline", offer_id=ids_except(offer_id), reason=JSON_VALUES),
        frame_with("offer.decline", offer_id=st.just(offer_id), reason=bad_reason),
        frame_with("message", ticket_id=ids_except(ticket_id), text=st.text(max_size=20)),
        frame_with("message", ticket_id=st.just(ticket_id), text=bad_texts()),
        frame_with("ticket.resolve", ticket_id=ids_except(ticket_id)),
        frame_with(
            "history", ticket_id=st.one_of(st.just(ticket_id), JSON_VALUES), before=JSON_VALUES, limit=JSON_VALUES
        ),
        frame_with("ping"),
        frame_with("rate", score=st.integers(1, 5)),  # a customer frame: unknown here
        frame_with(st.one_of(st.text(max_size=20), JSON_VALUES)),
    )


def customer_frames(ticket_id: int):
    """Frames for the customer of an assigned ticket: nothing may be stored or changed."""
    return st.one_of(
        frame_with("message", text=bad_texts()),
        frame_with("rate", score=JSON_VALUES, comment=JSON_VALUES),
        frame_with("rate", score=st.integers(1, 5), comment=st.text(max_size=10)),  # not resolved yet
        frame_with("reopen"),
        # An agent has the chat: refused whatever the address (invalid_email, ticket_not_waiting).
        frame_with("notify_me", email=st.one_of(JSON_VALUES, st.emails().map(str), HOSTILE_TEXT)),
        frame_with(
            "history", ticket_id=st.one_of(st.just(ticket_id), JSON_VALUES), before=JSON_VALUES, limit=JSON_VALUES
        ),
        frame_with("ping"),
        frame_with("offer.accept", offer_id=st.integers()),  # an agent frame: unknown here
        frame_with(st.one_of(st.text(max_size=20), JSON_VALUES)),
    )


def wire(frames):
    """Frames as a client could put them on the wire: (kind, text or bytes, the frame)."""
    as_json = frames.map(lambda f: ("object", json.dumps(f), f))
    return st.one_of(
        as_json,
        as_json,
        as_json,
        JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("not_an_object", json.dumps(v), None)),
        st.text(max_size=40).map(lambda t: ("text", t, None)),
        st.sampled_from([1_000, 5_000, MAX_FRAME_CHARS]).map(lambda n: ("deep", ("[" * n)[:MAX_FRAME_CHARS], None)),
        st.just(("oversized", json.dumps({"type": "message", "text": "x" * MAX_FRAME_CHARS, "ref": "big"}), None)),
        st.binary(max_size=64).map(lambda b: ("binary", b, None)),
    )


# --- The cast and what must not change --------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    # The fuzzer sends hundreds of frames a second on purpose; the budget has its own tests.
    settings.WS_FRAME_BURST = 1_000_000


@pytest.fixture
def working_agent(agent, brand):
    """An agent with one assigned ticket and one pending offer, and what must stay as it is."""
    AgentProfile.objects.filter(pk=agent.pk).update(status="available", connections=1)
    assigned = TicketFactory(brand=brand)
    services.ticket_dispatch(ticket_id=assigned.pk)
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=assigned).pk)
    Message.objects.create(ticket=assigned, sender="customer", text="Hello?")
    offered = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=offered.pk)
    assert offer is not None and offer.agent_id == agent.pk
    return {"agent": agent, "ticket": Ticket.objects.get(pk=assigned.pk), "offer": offer}


@database_sync_to_async
def state_of(agent_id: int) -> dict:
    return {
        "tickets": list(
            Ticket.objects.order_by("pk").values_list("pk", "status", "agent_id", "rating", "notify_email")
        ),
        "messages": Message.objects.count(),
        "offers": list(Offer.objects.order_by("pk").values_list("pk", "state")),
        "agent": AgentProfile.objects.values_list("status", "load").get(pk=agent_id),
    }


async def send_raw(ws, payload) -> None:
    # The ASGI message itself: send_to() refuses empty frames, which clients can still send.
    key = "bytes" if isinstance(payload, bytes) else "text"
    await ws.send_input({"type": "websocket.receive", key: payload})


async def answers_until_alive(ws, probe: str) -> list[dict]:
    """Every ack/error up to the ack of the probe ping; pushes (history pages) are skipped.
    A dropped socket fails here: its close is not JSON, or nothing comes at all."""
    await ws.send_to(text_data=json.dumps({"type": "ping", "ref": probe}))
    answers = []
    while True:
        frame = await receive(ws, timeout=5)
        if frame["type"] == "ack" and frame.get("ref") == probe:
            return answers
        if frame["type"] in ("ack", "error"):
            answers.append(frame)


def check_answers(kind: str, frame, answers: list[dict], stats: dict) -> None:
    for answer in answers:
        stats["answers"][answer.get("code", "ack")] += 1
        assert answer.get("code") != "server_error", (frame, answer)
    if kind != "object":
        # Not a frame at all: exactly one error, and no ref could be read.
        assert len(answers) == 1 and answers[0]["type"] == "error" and answers[0]["ref"] is None, (kind, answers)
        return
    has_ref = frame.get("ref") is not None
    expected = 1 if has_ref or kind == "oversized" else None
    assert len(answers) <= 1, (frame, answers)
    if expected:
        assert len(answers) == 1, (frame, answers)
    if answers and has_ref and kind == "object":
        echoed = answers[0]["ref"]
        assert echoed == echo_ref(frame["ref"]) or (isinstance(echoed, float) and math.isnan(echoed)), (frame, answers)


async def fuzz(ws, batch, side: str, before: dict, agent_id: int) -> None:
    stats = STATS[side]
    stats["examples"] += 1
    for index, (kind, payload, frame) in enumerate(batch):
        stats["frames"] += 1
        stats["kinds"][kind] += 1
        await send_raw(ws, payload)
        answers = await answers_until_alive(ws, probe=f"alive-{stats['frames']}-{index}")
        check_answers(kind, frame, answers, stats)
    assert await state_of(agent_id) == before


@pytest.fixture(scope="module", autouse=True)
def _write_stats():
    yield
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        side: {
            "examples": s["examples"],
            "frames": s["frames"],
            "kinds": dict(sorted(s["kinds"].items())),
            "answers": dict(sorted(s["answers"].items())),
        }
        for side, s in STATS.items()
    }
    OUTPUT.write_text(json.dumps(summary, indent=2) + "\n")


# --- The fuzzers ---------------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(data=st.data())
async def test_agent_socket_answers_every_frame_and_changes_nothing(working_agent, data):
    ticket, offer, agent = working_agent["ticket"], working_agent["offer"], working_agent["agent"]
    batch = data.draw(st.lists(wire(agent_frames(ticket.pk, offer.pk)), min_size=4, max_size=16), label="frames")
    before = await state_of(agent.pk)
    ws = await agent_socket(agent.user)
    await drain(ws, wait=0.05)
    try:
        await fuzz(ws, batch, "agent", before, agent.pk)
    finally:
        await ws.disconnect()


@FUZZ_SETTINGS
@given(data=st.data())
async def test_customer_socket_answers_every_frame_and_changes_nothing(working_agent, data):
    ticket, agent = working_agent["ticket"], working_agent["agent"]
    batch = data.draw(st.lists(wire(customer_frames(ticket.pk)), min_size=4, max_size=16), label="frames")
    before = await state_of(agent.pk)
    ws = await customer_socket(ticket.customer_token)
    await drain(ws, wait=0.05)
    try:
        await fuzz(ws, batch, "customer", before, agent.pk)
    finally:
        await ws.disconnect()
