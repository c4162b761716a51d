"""Graceful overload: past a bound on the work in flight a web process refuses new
handovers with 429 and Retry-After (nothing created, a retry with the same key succeeds)
while agents' actions still go through; an accept is judged by when it arrived, and an
offer delivered late starts its countdown from delivery."""

from datetime import timedelta
from unittest import mock

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from marketplace import admission
from marketplace.asgi import application
from marketplace.errors import DomainError
from marketplace.models import IdempotencyRecord
from tasks import frames, services
from tasks.models import Offer, Ticket
from tasks.realtime import agent_group, send_many_async

from .conftest import TICKET_BODY
from .factories import AgentFactory, TicketFactory
from .ws import agent_socket, receive_type, request


@pytest.fixture
def full_process(settings):
    """This process with as much work in flight as the bound allows, held by real counts."""
    settings.INTAKE_MAX_IN_FLIGHT = 3
    held = [admission.work.working() for _ in range(3)]
    for slot in held:
        slot.__enter__()
    yield
    for slot in held:
        slot.__exit__(None, None, None)


async def post_ticket(api_key: str, key: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(
            "/api/v1/tickets/",
            json=TICKET_BODY,
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_full_process_refuses_a_handover_with_429_and_creates_nothing_then_a_retry_succeeds(
    api_key, settings, full_process
):
    settings.OVERLOAD_RETRY_SECONDS = 4
    refused = await post_ticket(api_key, "handover-1")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "4"
    assert refused.json()["error"]["code"] == "overloaded"
    assert await Ticket.objects.acount() == 0
    assert await IdempotencyRecord.objects.acount() == 0

    admission.work.in_flight -= 3  # the work in flight finished
    try:
        created = await post_ticket(api_key, "handover-1")
    finally:
        admission.work.in_flight += 3
    assert created.status_code == 201, created.text
    assert await Ticket.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_below_the_bound_handovers_are_taken_and_other_requests_are_never_refused(api_key, settings):
    settings.INTAKE_MAX_IN_FLIGHT = 1
    created = await post_ticket(api_key, "a")
    assert created.status_code == 201
    # Only new intake is shed: the rest of the API answers as usual however busy the process.
    held = admission.work.working()
    held.__enter__()
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            listed = await client.get(
                f"/api/v1/tickets/{created.json()['id']}/", headers={"Authorization": f"Bearer {api_key}"}
            )
    finally:
        held.__exit__(None, None, None)
    assert listed.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_agents_actions_go_through_while_intake_is_refused(brand, api_key, full_process):
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    ticket = await database_sync_to_async(TicketFactory)(brand=brand)
    offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
    comm = await agent_socket(agent.user)
    try:
        assert (await post_ticket(api_key, "busy")).status_code == 429
        answer = await request(comm, {"type": "offer.accept", "offer_id": offer.pk})
        assert answer["type"] == "ack"
        await receive_type(comm, "ticket.assigned")
    finally:
        await comm.disconnect()
    assert (await Ticket.objects.aget(pk=ticket.pk)).status == Ticket.Status.ASSIGNED


# --- An accept is judged by when it arrived --------------------------------------------


def offered(brand):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = TicketFactory(brand=brand)
    return agent, services.ticket_dispatch(ticket_id=ticket.pk)


@pytest.mark.django_db
def test_an_accept_that_arrived_in_time_wins_though_handled_after_the_countdown(brand, settings):
    settings.OFFER_EXPIRY_GRACE_SECONDS = 2
    agent, offer = offered(brand)
    now = timezone.now()
    Offer.objects.filter(pk=offer.pk).update(expires_at=now - timedelta(seconds=0.5))
    # The sweeper leaves it for the grace period...
    assert services.offers_expire_due() == 0
    # ...so the accept that arrived a second before the end, and waited for a thread, wins.
    ticket = services.offer_accept(agent=agent, offer_id=offer.pk, received_at=now - timedelta(seconds=1))
    assert ticket.status == Ticket.Status.ASSIGNED and ticket.agent_id == agent.pk


@pytest.mark.django_db
def test_an_accept_that_arrived_after_the_countdown_is_refused_and_the_sweeper_expires_after_the_grace(brand, settings):
    settings.OFFER_EXPIRY_GRACE_SECONDS = 2
    agent, offer = offered(brand)
    now = timezone.now()
    Offer.objects.filter(pk=offer.pk).update(expires_at=now - timedelta(seconds=0.5))
    with pytest.raises(DomainError) as refused:
        services.offer_accept(agent=agent, offer_id=offer.pk, received_at=now)
    assert refused.value.code == "offer_expired"
    Offer.objects.filter(pk=offer.pk).update(expires_at=now - timedelta(seconds=2.5))
    assert services.offers_expire_due() == 1
    assert Offer.objects.get(pk=offer.pk).state == Offer.State.EXPIRED


@pytest.mark.django_db
def test_an_arrival_time_in_the_future_counts_as_now(brand, settings):
    settings.OFFER_EXPIRY_GRACE_SECONDS = 2
    agent, offer = offered(brand)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=0.5))
    with pytest.raises(DomainError):
        services.offer_accept(agent=agent, offer_id=offer.pk, received_at=timezone.now() + timedelta(hours=1))


# --- An offer delivered late starts its countdown from delivery -----------------------


def late_offer_frame(offer: Offer, ticket: Ticket, late_by: float) -> dict:
    """The frame as the services built it `late_by` seconds ago."""
    frame = frames.offer_frame(offer, ticket)
    frame["expires_at"] = frames.iso(offer.expires_at - timedelta(seconds=late_by))
    return frame


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_offer_delivered_late_gets_its_whole_countdown_from_delivery(brand, settings):
    settings.OFFER_LATE_DELIVERY_SECONDS = 0.5
    agent, offer = await database_sync_to_async(offered)(brand)
    comm = await agent_socket(agent.user)
    try:
        await receive_type(comm, "offer", offer_id=offer.pk)  # the snapshot's copy
        ticket = await Ticket.objects.aget(pk=offer.ticket_id)
        frame = late_offer_frame(offer, ticket, late_by=3)
        await Offer.objects.filter(pk=offer.pk).aupdate(expires_at=offer.expires_at - timedelta(seconds=3))
        before = timezone.now()
        await send_many_async([(agent_group(agent.pk), frame)])
        delivered = await receive_type(comm, "offer", offer_id=offer.pk)
    finally:
        await comm.disconnect()
    stored = await Offer.objects.aget(pk=offer.pk)
    promised = timedelta(seconds=frame["expires_in"])
    assert stored.expires_at >= before + promised
    assert delivered["expires_at"] == frames.iso(stored.expires_at)
    assert delivered["expires_in"] == frame["expires_in"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_offer_closed_before_its_late_delivery_is_not_shown(brand, settings):
    settings.OFFER_LATE_DELIVERY_SECONDS = 0.5
    agent, offer = await database_sync_to_async(offered)(brand)
    comm = await agent_socket(agent.user)
    try:
        await receive_type(comm, "offer", offer_id=offer.pk)
        ticket = await Ticket.objects.aget(pk=offer.ticket_id)
        await Offer.objects.filter(pk=offer.pk).aupdate(state=Offer.State.RESCINDED)
        await send_many_async([(agent_group(agent.pk), late_offer_frame(offer, ticket, late_by=3))])
        assert await comm.receive_nothing(timeout=1)
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_offer_delivered_on_time_keeps_its_countdown_and_costs_no_write(brand, settings):
    settings.OFFER_LATE_DELIVERY_SECONDS = 0.5
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    comm = await agent_socket(agent.user)
    try:
        await request(comm, {"type": "ping"})  # connect() finished: the agent row is free
        ticket = await database_sync_to_async(TicketFactory)(brand=brand)
        offer = await database_sync_to_async(services.ticket_dispatch)(ticket_id=ticket.pk)
        delivered = await receive_type(comm, "offer", offer_id=offer.pk)
    finally:
        await comm.disconnect()
    assert delivered["expires_at"] == frames.iso(offer.expires_at)
    assert (await Offer.objects.aget(pk=offer.pk)).expires_at == offer.expires_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_socket_frames_waiting_for_their_turn_hold_back_intake_before_the_overall_bound(api_key, settings):
    settings.INTAKE_MAX_IN_FLIGHT = 100
    settings.INTAKE_MAX_FRAMES_IN_FLIGHT = 2
    requests = [admission.work.working() for _ in range(5)]
    for slot in requests:
        slot.__enter__()
    try:
        # Five HTTP requests in flight are well below the overall bound...
        assert (await post_ticket(api_key, "first")).status_code == 201
        frames = [admission.work.working(frame=True) for _ in range(2)]
        for slot in frames:
            slot.__enter__()
        try:
            # ...but two agents' frames waiting are enough to refuse the next handover.
            refused = await post_ticket(api_key, "second")
        finally:
            for slot in frames:
                slot.__exit__(None, None, None)
    finally:
        for slot in requests:
            slot.__exit__(None, None, None)
    assert refused.status_code == 429
    assert admission.work.in_flight == 0 and admission.work.frames == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_agent_frame_counts_as_a_socket_frame_while_it_is_handled(brand):
    agent = await database_sync_to_async(AgentFactory)(brands=[brand], available=True)
    seen = []
    original = services.presence_set

    def presence_set(**kwargs):
        seen.append((admission.work.in_flight, admission.work.frames))
        return original(**kwargs)

    comm = await agent_socket(agent.user)
    try:
        with mock.patch.object(services, "presence_set", presence_set):
            answer = await request(comm, {"type": "presence", "status": "away"})
    finally:
        await comm.disconnect()
    assert answer["type"] == "ack"
    assert seen == [(1, 1)]
    assert admission.work.in_flight == 0 and admission.work.frames == 0
