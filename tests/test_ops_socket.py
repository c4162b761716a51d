"""The supervisors' live view socket, `/ws/supervisor/`: who may open it, the snapshot it
starts with (shape and values on a small known data set), the frames it relays (its own
brands' only), and the snapshot's fixed number of queries however many agents there are.
The 500-agent run writes its timing to test-output/ops-snapshot.json (not asserted)."""

import json
import statistics
import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import AgentConnection, AgentLanguage, AgentProfile
from marketplace.asgi import application
from marketplace.models import User
from tasks import services
from tasks.models import IntakePause, Offer, Shift, ShiftBooking, Ticket
from tasks.ops_selectors import ops_snapshot
from tasks.realtime import ops_group

from .factories import AgentFactory, CustomerFactory, TicketFactory, UserFactory
from .ws import everything_sent, receive, receive_type, request, send, token_for

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "ops-snapshot.json"


async def supervisor_socket(user) -> WebsocketCommunicator:
    key = await token_for(user)
    comm = WebsocketCommunicator(application, "/ws/supervisor/", headers=[(b"authorization", f"Token {key}".encode())])
    connected, _ = await comm.connect()
    assert connected
    return comm


def ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def floor(brand, other_brand, agent, agent2, outsider_agent, supervisor):
    """Acme at work: Ada available with a chat and an offer, Bo away and checked in on a
    running shift, Cy offline but booked on it, Di offline and idle (not listed); a widened
    ticket waiting 90 s, one offered to Ada, one with Ada, a resolved one; intake of Swedish
    paused. Globex has a ticket and an agent of its own."""
    now = timezone.now()
    AgentProfile.objects.filter(pk=agent.pk).update(status="available", connections=1, load=2, capacity=3)
    AgentProfile.objects.filter(pk=agent2.pk).update(status="away", connections=1)
    AgentLanguage.objects.create(agent=agent2, code="sv")
    cy = AgentFactory(brands=[brand], display_name="Cy")
    AgentFactory(brands=[brand], display_name="Di")
    AgentProfile.objects.filter(pk=outsider_agent.pk).update(status="available", connections=1)

    shift = Shift.objects.create(
        brand=brand,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        languages=["en"],
        slots=3,
        booked=2,
    )
    ShiftBooking.objects.create(
        shift=shift, agent=agent2, starts_at=shift.starts_at, ends_at=shift.ends_at, checked_in_at=shift.starts_at
    )
    ShiftBooking.objects.create(shift=shift, agent=cy, starts_at=shift.starts_at, ends_at=shift.ends_at)

    widened = TicketFactory(brand=brand, subject="Stuck parcel", widen_level=1)
    offered = TicketFactory(brand=brand, subject="Card declined", status="offered")
    assigned = TicketFactory(brand=brand, subject="Refund", status="assigned", agent=agent)
    TicketFactory(brand=brand, subject="Done", status="resolved", agent=agent)
    TicketFactory(brand=other_brand, subject="Globex ticket")
    Ticket.objects.filter(pk=widened.pk).update(created_at=ago(90))
    Ticket.objects.filter(pk=offered.pk).update(created_at=ago(30))
    Ticket.objects.filter(pk=assigned.pk).update(created_at=ago(600))
    offer = Offer.objects.create(
        ticket=offered, agent=agent, pay_amount_minor=4500, currency="SEK", expires_at=now + timedelta(seconds=15)
    )
    pause = IntakePause.objects.create(brand=brand, language="sv", reason="Swedish team at lunch", paused_by=supervisor)
    return {"widened": widened, "offered": offered, "assigned": assigned, "offer": offer, "cy": cy, "pause": pause}


def strip_waits(snapshot: dict) -> dict[int, int]:
    """Remove the clock-dependent waits, returning them by ticket id."""
    waits = {t["id"]: t.pop("waiting_seconds") for t in snapshot["tickets"]}
    for queue in snapshot["queues"]:
        queue["oldest_wait_seconds"] = round(queue["oldest_wait_seconds"], -1)
    return waits


@pytest.mark.django_db
def test_the_snapshot_has_the_contract_shape_and_the_values_of_the_floor(
    floor, brand, agent, agent2, supervisor, settings
):
    settings.WIDEN_AFTER_SECONDS = 60
    brand.staffing_target_seconds = 45
    brand.save(update_fields=["staffing_target_seconds"])
    snapshot = ops_snapshot({brand.pk})
    waits = strip_waits(snapshot)
    widened, offered, assigned, offer, cy = (floor[k] for k in ("widened", "offered", "assigned", "offer", "cy"))

    assert list(snapshot) == ["type", "queues", "agents", "brands", "tickets", "offers", "coverage", "pauses"]
    assert snapshot["type"] == "ops.snapshot"
    assert snapshot["queues"] == [{"brand": brand.pk, "language": "en", "waiting": 2, "oldest_wait_seconds": 90}]
    assert 89 <= waits[widened.pk] <= 92 and 29 <= waits[offered.pk] <= 32 and 599 <= waits[assigned.pk] <= 602
    assert snapshot["brands"] == [
        {"id": brand.pk, "slug": "acme", "name": "Acme", "target_seconds": 45, "widen_after_seconds": 60}
    ]

    def ticket(t, status, agent_id):
        return {
            "id": t.pk,
            "brand": brand.pk,
            "brand_slug": "acme",
            "language": "en",
            "status": status,
            "agent_id": agent_id,
            "widen_level": t.widen_level,
            "subject": t.subject,
        }

    # Oldest first; the resolved ticket and the other brand's are not there.
    assert snapshot["tickets"] == [
        ticket(assigned, "assigned", agent.pk),
        ticket(widened, "queued", None),
        ticket(offered, "offered", None),
    ]
    assert snapshot["offers"] == [
        {"id": offer.pk, "ticket_id": offered.pk, "agent_id": agent.pk, "expires_at": offer.expires_at.isoformat()}
    ]

    def row(a, status, load, capacity, *, on_shift=False, checked_in=False, connected=True, languages=("en",)):
        return {
            "id": a.pk,
            "display_name": a.display_name,
            "status": status,
            "load": load,
            "capacity": capacity,
            "on_shift": on_shift,
            "checked_in": checked_in,
            "connected": connected,
            "brands": [brand.pk],
            "languages": list(languages),
        }

    # Di (offline, idle, not booked) is left out; Cy is offline but booked on the running shift.
    assert snapshot["agents"] == [
        row(agent, "available", 2, 3),
        row(agent2, "away", 0, agent2.capacity, on_shift=True, checked_in=True, languages=("en", "sv")),
        row(cy, "offline", 0, cy.capacity, on_shift=True, connected=False),
    ]
    assert snapshot["coverage"] == [{"brand": brand.pk, "booked_now": 2, "checked_in_now": 1}]
    pause = floor["pause"]
    assert snapshot["pauses"] == [
        {
            "id": pause.pk,
            "brand": brand.pk,
            "language": "sv",
            "reason": "Swedish team at lunch",
            "paused_by": supervisor.email,
            "created_at": pause.created_at.isoformat(),
        }
    ]


@pytest.mark.django_db
def test_a_snapshot_of_no_brands_is_empty():
    assert ops_snapshot(set()) == {
        "type": "ops.snapshot",
        "queues": [],
        "agents": [],
        "brands": [],
        "tickets": [],
        "offers": [],
        "coverage": [],
        "pauses": [],
    }


# --- The socket ---------------------------------------------------------------------------------


async def ticket_frame(comm, ticket_id: int) -> dict:
    """The next ticket.changed about this ticket (others may come first)."""
    while True:
        frame = await receive_type(comm, "ticket.changed")
        if frame["ticket"]["id"] == ticket_id:
            return frame


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_supervisor_gets_the_snapshot_then_the_frames_of_their_brand(floor, brand, agent, agent2, supervisor):
    comm = await supervisor_socket(supervisor)
    snapshot = await receive(comm)
    assert snapshot["type"] == "ops.snapshot"
    assert [b["slug"] for b in snapshot["brands"]] == ["acme"]
    assert {t["id"] for t in snapshot["tickets"]} == {floor["widened"].pk, floor["offered"].pk, floor["assigned"].pk}

    # A presence change, an offer made, a pause: each reaches the live view as it happens.
    await database_sync_to_async(services.presence_set)(agent=agent2, status="available")
    changed = await receive_type(comm, "agent.changed")
    assert changed["agent"] == {
        "id": agent2.pk,
        "display_name": "Bo",
        "status": "available",
        "load": 0,
        "capacity": agent2.capacity,
        "connected": True,
    }
    queued = await database_sync_to_async(TicketFactory)(brand=brand, subject="New one")
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=queued.pk)
    frame = await ticket_frame(comm, queued.pk)
    assert frame["ticket"]["status"] == "offered"
    assert frame["ticket"]["subject"] == "New one" and frame["ticket"]["brand_slug"] == "acme"
    assert frame["offer"] == {
        "id": offer.pk,
        "ticket_id": queued.pk,
        "agent_id": offer.agent_id,
        "expires_at": offer.expires_at.isoformat(),
    }
    pause = await database_sync_to_async(services.intake_pause)(
        user=supervisor, brand="acme", language="", reason="Outage at the brand"
    )
    frame = await receive_type(comm, "intake.changed")
    assert frame == {
        "type": "intake.changed",
        "brand": brand.pk,
        "language": "",
        "paused": True,
        "pause": {
            "id": pause.pk,
            "brand": brand.pk,
            "language": "",
            "reason": "Outage at the brand",
            "paused_by": supervisor.email,
            "created_at": pause.created_at.isoformat(),
        },
    }
    await database_sync_to_async(services.intake_resume)(user=supervisor, brand="acme")
    frame = await receive_type(comm, "intake.changed")
    assert frame == {"type": "intake.changed", "brand": brand.pk, "language": "", "paused": False, "pause": None}
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_new_ticket_nobody_can_take_reaches_the_live_view(brand, supervisor, handover):
    comm = await supervisor_socket(supervisor)
    await receive(comm)
    ticket = await database_sync_to_async(handover)()
    frame = await ticket_frame(comm, ticket.pk)
    assert frame["ticket"]["status"] == "queued"
    assert "offer" not in frame
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_agent_connecting_or_leaving_shows_in_the_live_view(brand, supervisor):
    ada = await database_sync_to_async(AgentFactory)(brands=[brand], display_name="Ada")
    comm = await supervisor_socket(supervisor)
    await receive(comm)
    await database_sync_to_async(services.agent_connected)(agent_id=ada.pk, channel_name="c1", server="test")
    assert (await receive_type(comm, "agent.changed"))["agent"]["connected"] is True
    await database_sync_to_async(services.agent_disconnected)(agent_id=ada.pk, channel_name="c1")
    assert (await receive_type(comm, "agent.changed"))["agent"]["connected"] is False
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_supervisor_of_another_brand_hears_nothing_of_it(floor, brand, other_brand, agent2, supervisor):
    globex_supervisor = await database_sync_to_async(UserFactory)(email="globex-sup@example.test", role="supervisor")
    await database_sync_to_async(other_brand.supervisors.add)(globex_supervisor)
    comm = await supervisor_socket(globex_supervisor)
    snapshot = await receive(comm)
    assert [b["slug"] for b in snapshot["brands"]] == ["globex"]
    assert [t["subject"] for t in snapshot["tickets"]] == ["Globex ticket"]
    assert all(other_brand.pk in a["brands"] and brand.pk not in a["brands"] for a in snapshot["agents"])
    assert snapshot["pauses"] == [] and snapshot["offers"] == []

    await database_sync_to_async(services.presence_set)(agent=agent2, status="available")
    queued = await database_sync_to_async(TicketFactory)(brand=brand)
    await database_sync_to_async(services.ticket_dispatch)(ticket_id=queued.pk)
    await database_sync_to_async(services.intake_pause)(user=supervisor, brand="acme", reason="Acme only")
    # Proof, not silence: a marker pushed to Globex's group after all that comes first.
    assert await everything_sent(comm, ops_group(other_brand.pk)) == []
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_platform_staff_follow_every_brand(floor, brand, other_brand):
    staff = await database_sync_to_async(UserFactory)(email="staff@example.test", role="staff", is_staff=True)
    comm = await supervisor_socket(staff)
    snapshot = await receive(comm)
    assert [b["slug"] for b in snapshot["brands"]] == ["acme", "globex"]
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_socket_answers_ping_and_refuses_unknown_frames_without_closing(brand, supervisor):
    comm = await supervisor_socket(supervisor)
    await receive(comm)
    assert await request(comm, {"type": "ping"}) == {"type": "ack", "ref": "r1"}
    refused = await request(comm, {"type": "offer.accept", "offer_id": 1}, ref="r2")
    assert refused["type"] == "error" and refused["code"] == "unknown_type" and refused["ref"] == "r2"
    await send(comm, {"type": "ping", "ref": "r3"})
    assert await receive(comm) == {"type": "ack", "ref": "r3"}
    await comm.disconnect()


async def refused_with(headers) -> tuple[dict, int]:
    comm = WebsocketCommunicator(application, "/ws/supervisor/", headers=headers)
    connected, _ = await comm.connect()
    assert connected  # accepted, told why, closed
    frame = await receive(comm)
    closed = await comm.receive_output(timeout=3)
    assert closed["type"] == "websocket.close"
    return frame, closed["code"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("who", ["agent", "applicant", "staff_flag_only"])
async def test_people_other_than_supervisors_and_staff_are_refused_4403(who, agent, brand):
    if who == "agent":
        user = agent.user
    elif who == "applicant":
        user = await database_sync_to_async(UserFactory)(email="applicant@example.test", role=User.Role.APPLICANT)
    else:  # staff status ticked on an agent account is not the staff role
        user = await database_sync_to_async(UserFactory)(email="ticked@example.test", role="agent", is_staff=True)
    key = await token_for(user)
    frame, code = await refused_with([(b"authorization", f"Token {key}".encode())])
    assert frame == {
        "type": "error",
        "ref": None,
        "code": "forbidden",
        "message": "Only supervisors and platform staff follow the live view.",
    }
    assert code == 4403


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [[], [(b"authorization", b"Token not-a-token")]])
async def test_anonymous_sockets_are_refused_4401(headers):
    frame, code = await refused_with(headers)
    assert frame["code"] == "unauthenticated" and code == 4401


# --- Queries and timing --------------------------------------------------------------------------


def many_agents(brand, n: int) -> None:
    """`n` agents online (bulk, for speed): available or away, some with chats, each with a
    language and a socket; a running shift with a fifth of them booked; a waiting ticket
    and an offer per tenth, a chat per third."""
    now = timezone.now()
    start = User.objects.count()
    users = User.objects.bulk_create([User(email=f"bulk{start + i}@example.test", role="agent") for i in range(n)])
    agents = AgentProfile.objects.bulk_create(
        [
            AgentProfile(
                user=u,
                display_name=f"Agent {i:04}",
                status="available" if i % 4 else "away",
                connections=1,
                load=i % 3,
                capacity=3,
            )
            for i, u in enumerate(users)
        ]
    )
    AgentProfile.brands.through.objects.bulk_create(
        [AgentProfile.brands.through(agentprofile_id=a.pk, brand_id=brand.pk) for a in agents]
    )
    AgentLanguage.objects.bulk_create([AgentLanguage(agent=a, code="en") for a in agents])
    AgentConnection.objects.bulk_create(
        [AgentConnection(agent=a, channel_name=f"bulk.{a.pk}", server="test", seen_at=now) for a in agents]
    )
    shift = Shift.objects.create(
        brand=brand,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        languages=["en"],
        slots=max(1, n // 5),
        booked=max(1, n // 5),
    )
    ShiftBooking.objects.bulk_create(
        [
            ShiftBooking(shift=shift, agent=a, starts_at=shift.starts_at, ends_at=shift.ends_at, checked_in_at=now)
            for a in agents[: max(1, n // 5)]
        ]
    )
    customer = CustomerFactory(brand=brand)
    tickets = Ticket.objects.bulk_create(
        [
            Ticket(
                brand=brand,
                customer=customer,
                language="en",
                subject=f"Case {i}",
                status="assigned" if i % 3 == 0 else ("offered" if i % 10 == 1 else "queued"),
                agent=agents[i] if i % 3 == 0 else None,
            )
            for i in range(n)
        ]
    )
    Offer.objects.bulk_create(
        [
            Offer(
                ticket=t, agent=agents[i], pay_amount_minor=4500, currency="SEK", expires_at=now + timedelta(seconds=20)
            )
            for i, t in enumerate(tickets)
            if t.status == "offered"
        ]
    )


@pytest.mark.django_db
def test_the_snapshot_takes_the_same_few_queries_for_5_and_for_500_agents(
    brand, supervisor, django_assert_max_num_queries
):
    IntakePause.objects.create(brand=brand, reason="x", paused_by=supervisor)
    many_agents(brand, 5)
    with CaptureQueriesContext(connection) as small:
        few = ops_snapshot({brand.pk})
    assert len(few["agents"]) == 5
    many_agents(brand, 495)
    with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as large:
        lots = ops_snapshot({brand.pk})
    assert len(lots["agents"]) == 500 and len(lots["tickets"]) == 500
    assert len(large) == len(small) == 8

    # The figure for the report, measured here rather than asserted: the median of 20 reads.
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        ops_snapshot({brand.pk})
        runs.append((time.perf_counter() - started) * 1000)
    json_bytes = len(json.dumps(lots))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(
        json.dumps(
            {
                "agents": 500,
                "tickets": len(lots["tickets"]),
                "offers": len(lots["offers"]),
                "queries": len(large),
                "median_ms": round(statistics.median(runs), 2),
                "max_ms": round(max(runs), 2),
                "frame_bytes": json_bytes,
            },
            indent=2,
        )
    )
