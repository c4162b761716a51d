"""The live view's actions (tasks.services.supervision and `/api/v1/ops/`): each works and
writes an audit row with before and after; each refusal changes nothing; another brand's
supervisor gets 404, agents and applicants 403, anonymous callers 401; a paused intake
refuses handovers with 503 and Retry-After, creating nothing, so the same Idempotency-Key
works once intake resumes."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import AgentProfile
from marketplace.models import AuditEvent, IdempotencyRecord, User
from tasks import services, snapshots
from tasks.models import Customer, IntakePause, Message, Offer, SupervisorNote, Ticket, TicketEvent
from tasks.realtime import agent_group, customer_group, ops_group

from .conftest import TICKET_BODY
from .factories import AgentFactory, TicketFactory, UserFactory

db = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def sup(supervisor) -> APIClient:
    return client_for(supervisor)


@pytest.fixture
def globex_supervisor(other_brand):
    user = UserFactory(email="globex-sup@example.test", role="supervisor")
    other_brand.supervisors.add(user)
    return user


def online(agent, **fields):
    """Available with a socket (and whatever else is given)."""
    AgentProfile.objects.filter(pk=agent.pk).update(status="available", connections=1, **fields)
    agent.refresh_from_db()
    return agent


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def state_of(*tickets, agents=()) -> tuple:
    """What a refusal must leave as it was."""
    return (
        [
            Ticket.objects.filter(pk=t.pk)
            .values_list("status", "agent_id", "pay_amount_minor", "surge_bonus_minor")
            .get()
            for t in tickets
        ],
        [AgentProfile.objects.filter(pk=a.pk).values_list("status", "load").get() for a in agents],
        sorted(Offer.objects.values_list("pk", "state")),
        Message.objects.count(),
        AuditEvent.objects.count(),
        SupervisorNote.objects.count(),
        sorted(IntakePause.objects.values_list("pk", "resumed_at")),
        TicketEvent.objects.count(),
    )


# --- Reassign -----------------------------------------------------------------------------------


@db
def test_a_queued_ticket_goes_to_the_chosen_agent(sup, brand, agent, supervisor):
    ticket = TicketFactory(brand=brand, category="cards")
    online(agent)
    response = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", {"agent_id": agent.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["agent"] == {"id": agent.pk, "display_name": "Ada"}
    assert response.json()["ticket"]["status"] == "assigned" and response.json()["ticket"]["agent_id"] == agent.pk
    ticket.refresh_from_db()
    assert ticket.status == "assigned" and ticket.agent_id == agent.pk and ticket.pay_amount_minor == 4500
    assert AgentProfile.objects.get(pk=agent.pk).load == 1
    (row,) = audit("ticket.reassign")
    assert row.actor == supervisor and row.brand_id == brand.pk
    assert (row.target_type, row.target_id) == ("tasks.ticket", str(ticket.pk))
    assert row.detail["before"] == {"status": "queued", "agent_id": None, "offer": None}
    assert row.detail["after"] == {"status": "assigned", "agent_id": agent.pk, "pay_minor": 4500}


@db
def test_an_offered_ticket_loses_its_offer_and_goes_to_the_chosen_agent(sup, brand, agent, agent2):
    online(agent)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer.agent_id == agent.pk
    online(agent2)
    response = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", {"agent_id": agent2.pk}, format="json")
    assert response.status_code == 200, response.content
    offer.refresh_from_db()
    assert offer.state == "rescinded"
    assert Ticket.objects.get(pk=ticket.pk).agent_id == agent2.pk
    assert AgentProfile.objects.get(pk=agent.pk).load == 0 and AgentProfile.objects.get(pk=agent2.pk).load == 1
    (row,) = audit("ticket.reassign")
    assert row.detail["before"] == {
        "status": "offered",
        "agent_id": None,
        "offer": {"id": offer.pk, "agent_id": agent.pk},
    }


@db
def test_the_agent_holding_the_offer_can_be_chosen_even_at_capacity(sup, brand, agent):
    online(agent, capacity=1)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    response = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", {"agent_id": agent.pk}, format="json")
    assert response.status_code == 200, response.content
    assert Offer.objects.get(pk=offer.pk).state == "rescinded"
    assert AgentProfile.objects.get(pk=agent.pk).load == 1


@db
def test_an_assigned_ticket_moves_to_the_new_agent_and_the_customer_reads_it(sup, brand, agent, agent2, supervisor):
    online(agent)
    ticket = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(agent=agent, offer_id=offer.pk)
    online(agent2)
    response = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", {"agent_id": agent2.pk}, format="json")
    assert response.status_code == 200, response.content
    ticket.refresh_from_db()
    assert (ticket.status, ticket.agent_id, ticket.previous_agent_id) == ("assigned", agent2.pk, agent.pk)
    assert AgentProfile.objects.get(pk=agent.pk).load == 0 and AgentProfile.objects.get(pk=agent2.pk).load == 1
    note = Message.objects.get(ticket=ticket, sender="system")
    assert note.text == "Another agent, Bo, has taken over this conversation from Ada."
    (row,) = audit("ticket.reassign")
    assert row.detail["before"] == {"status": "assigned", "agent_id": agent.pk, "offer": None}
    assert row.detail["after"]["agent_id"] == agent2.pk


async def _listen(*groups: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    return layer, channel


async def _drain(layer, channel, wait: float = 0.5) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append((await asyncio.wait_for(layer.receive(channel), wait))["frame"])
        except TimeoutError:
            return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_reassignment_closes_the_old_chat_and_opens_the_new_one(brand, agent, agent2, supervisor):
    def setup():
        online(agent)
        ticket = TicketFactory(brand=brand)
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        services.offer_accept(agent=agent, offer_id=offer.pk)
        online(agent2)
        return ticket

    ticket = await database_sync_to_async(setup)()
    old_layer, old = await _listen(agent_group(agent.pk))
    new_layer, new = await _listen(agent_group(agent2.pk))
    customer_layer, customer = await _listen(customer_group(ticket.pk))
    ops_layer, ops = await _listen(ops_group(brand.pk))
    await database_sync_to_async(services.ticket_reassign)(user=supervisor, ticket_id=ticket.pk, agent_id=agent2.pk)

    assert await _drain(old_layer, old) == [{"type": "ticket.updated", "ticket_id": ticket.pk, "status": "reassigned"}]
    (assigned,) = await _drain(new_layer, new)
    assert assigned["type"] == "ticket.assigned" and assigned["ticket"]["id"] == ticket.pk
    assert assigned["ticket"]["messages"][-1]["sender"] == "system"
    assert "taken over" in assigned["ticket"]["messages"][-1]["text"]
    heard = await _drain(customer_layer, customer)
    assert [f["type"] for f in heard] == ["message", "ticket.updated"]
    assert heard[1]["agent"] == {"display_name": "Bo"} and heard[1]["status"] == "assigned"
    (changed,) = await _drain(ops_layer, ops)
    assert changed["ticket"]["agent_id"] == agent2.pk and changed["ticket"]["status"] == "assigned"


@db
@pytest.mark.parametrize(
    "problem, code",
    [
        ("away", "agent_unavailable"),
        ("disconnected", "agent_unavailable"),
        ("full", "agent_unavailable"),
        ("suspended", "agent_unavailable"),
        ("wrong_language", "agent_unavailable"),
        ("missing_skill", "agent_unavailable"),
        ("resolved", "ticket_not_open"),
        ("same_agent", "already_assigned"),
    ],
)
def test_a_refused_reassignment_changes_nothing(problem, code, sup, brand, agent, agent2):
    online(agent)
    ticket = TicketFactory(brand=brand, tags=["refunds"] if problem == "missing_skill" else [])
    target = online(agent2)
    if problem in ("resolved", "same_agent"):
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        services.offer_accept(agent=agent, offer_id=offer.pk)
        if problem == "resolved":
            services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
        else:
            target = agent
    changes = {
        "away": {"status": "away"},
        "disconnected": {"connections": 0},
        "full": {"load": target.capacity},
        "suspended": {"suspended": True},
    }
    if problem in changes:
        AgentProfile.objects.filter(pk=target.pk).update(**changes[problem])
    if problem == "wrong_language":
        Ticket.objects.filter(pk=ticket.pk).update(language="sv")
    before = state_of(ticket, agents=[agent, agent2])
    response = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", {"agent_id": target.pk}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == code
    assert state_of(ticket, agents=[agent, agent2]) == before


@db
def test_another_brands_ticket_or_agent_is_not_found(sup, brand, other_brand, agent, outsider_agent, globex_supervisor):
    mine = TicketFactory(brand=brand)
    theirs = TicketFactory(brand=other_brand)
    online(agent)
    online(outsider_agent)
    before = state_of(mine, theirs, agents=[agent, outsider_agent])
    answer = sup.post(f"/api/v1/ops/tickets/{theirs.pk}/reassign/", {"agent_id": agent.pk}, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "ticket_not_found")
    answer = sup.post(f"/api/v1/ops/tickets/{mine.pk}/reassign/", {"agent_id": outsider_agent.pk}, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "agent_not_found")
    answer = sup.post("/api/v1/ops/tickets/999999/reassign/", {"agent_id": agent.pk}, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "ticket_not_found")
    answer = client_for(globex_supervisor).post(
        f"/api/v1/ops/tickets/{mine.pk}/reassign/", {"agent_id": agent.pk}, format="json"
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "ticket_not_found")
    assert state_of(mine, theirs, agents=[agent, outsider_agent]) == before


@db
def test_a_reassignment_needs_an_agent_id(sup, brand):
    ticket = TicketFactory(brand=brand)
    for body in ({}, {"agent_id": "7"}, {"agent_id": True}, {"agent_id": -1}):
        answer = sup.post(f"/api/v1/ops/tickets/{ticket.pk}/reassign/", body, format="json")
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_agent_id"), body


# --- Notes --------------------------------------------------------------------------------------


@db
def test_a_note_reaches_the_agent_is_stored_and_repeated_in_their_snapshot(sup, supervisor, agent):
    supervisor.first_name, supervisor.last_name = "Sara", "Lind"
    supervisor.save()
    answer = sup.post(
        f"/api/v1/ops/agents/{agent.pk}/note/", {"text": "  Please take the Swedish queue.  "}, format="json"
    )
    assert answer.status_code == 201, answer.content
    note = SupervisorNote.objects.get()
    assert answer.json() == {
        "id": note.pk,
        "agent_id": agent.pk,
        "text": "Please take the Swedish queue.",
        "sent_at": note.created_at.isoformat(),
    }
    assert (note.agent, note.author, note.text) == (agent, supervisor, "Please take the Swedish queue.")
    (row,) = audit("agent.note")
    assert (row.actor, row.target_type, row.target_id) == (supervisor, "agents.agentprofile", str(agent.pk))
    assert row.detail == {"before": None, "after": {"note_id": note.pk, "text": "Please take the Swedish queue."}}
    frame = {
        "type": "supervisor.note",
        "id": note.pk,
        "text": "Please take the Swedish queue.",
        "from": "Sara Lind",
        "sent_at": note.created_at.isoformat(),
    }
    assert snapshots.agent_snapshot(agent.pk)[-1] == frame
    # After an hour it is no longer repeated.
    SupervisorNote.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    assert all(f["type"] != "supervisor.note" for f in snapshots.agent_snapshot(agent.pk))


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_note_is_pushed_to_the_agents_socket(agent, supervisor):
    layer, channel = await _listen(agent_group(agent.pk))
    note = await database_sync_to_async(services.agent_note_send)(user=supervisor, agent_id=agent.pk, text="Hi Ada")
    (frame,) = await _drain(layer, channel)
    assert frame == {
        "type": "supervisor.note",
        "id": note.pk,
        "text": "Hi Ada",
        "from": supervisor.email,
        "sent_at": note.created_at.isoformat(),
    }


@db
@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"text": "   "}, 422, "invalid_text"),
        ({}, 422, "invalid_text"),
        ({"text": 5}, 422, "invalid_text"),
        ({"text": "x" * 1001}, 422, "text_too_long"),
    ],
)
def test_a_refused_note_changes_nothing(body, status, code, sup, agent):
    before = state_of(agents=[agent])
    answer = sup.post(f"/api/v1/ops/agents/{agent.pk}/note/", body, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert state_of(agents=[agent]) == before


# --- Away ---------------------------------------------------------------------------------------


@db
def test_an_agent_set_away_loses_their_offers_but_keeps_their_chats(sup, supervisor, brand, agent, agent2):
    online(agent)
    chat = TicketFactory(brand=brand)
    services.offer_accept(agent=agent, offer_id=services.ticket_dispatch(ticket_id=chat.pk).pk)
    waiting = TicketFactory(brand=brand)
    offer = services.ticket_dispatch(ticket_id=waiting.pk)
    assert offer.agent_id == agent.pk
    answer = sup.post(f"/api/v1/ops/agents/{agent.pk}/away/", {"reason": "Break overdue"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"id": agent.pk, "status": "away"}
    agent.refresh_from_db()
    assert agent.status == "away" and agent.load == 1
    assert Offer.objects.get(pk=offer.pk).state == "rescinded"
    assert Ticket.objects.get(pk=chat.pk).agent_id == agent.pk
    (row,) = audit("agent.set_away")
    assert row.actor == supervisor and row.brand_id == brand.pk
    assert row.detail == {
        "reason": "Break overdue",
        "before": {"status": "available", "load": 2},
        "after": {"status": "away"},
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_agent_hears_a_supervisor_set_them_away(agent, supervisor):
    await database_sync_to_async(online)(agent)
    layer, channel = await _listen(agent_group(agent.pk))
    await database_sync_to_async(services.agent_set_away_by_supervisor)(user=supervisor, agent_id=agent.pk)
    assert await _drain(layer, channel) == [{"type": "presence", "status": "away", "reason": "supervisor"}]


@db
def test_only_an_available_agent_can_be_set_away(sup, agent):
    before = state_of(agents=[agent])
    answer = sup.post(f"/api/v1/ops/agents/{agent.pk}/away/", {}, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "agent_not_available")
    assert state_of(agents=[agent]) == before


@db
def test_another_brands_agent_cannot_be_noted_or_set_away(sup, outsider_agent, globex_supervisor, agent):
    online(outsider_agent)
    online(agent)
    before = state_of(agents=[agent, outsider_agent])
    for client, target in ((sup, outsider_agent), (client_for(globex_supervisor), agent)):
        for action, body in (("note", {"text": "hello"}), ("away", {})):
            answer = client.post(f"/api/v1/ops/agents/{target.pk}/{action}/", body, format="json")
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "agent_not_found")
    assert state_of(agents=[agent, outsider_agent]) == before


# --- Intake -------------------------------------------------------------------------------------


@db
def test_a_paused_intake_refuses_handovers_with_503_until_resumed(sup, supervisor, brand, brand_client, settings):
    settings.INTAKE_PAUSED_RETRY_SECONDS = 90
    answer = sup.post("/api/v1/ops/intake/pause/", {"brand": "acme", "reason": "Brand outage"}, format="json")
    assert answer.status_code == 201, answer.content
    pause = IntakePause.objects.get()
    assert answer.json() == {
        "id": pause.pk,
        "brand": brand.pk,
        "brand_slug": "acme",
        "language": "",
        "reason": "Brand outage",
        "paused_by": supervisor.email,
        "created_at": pause.created_at.isoformat(),
        "resumed_at": None,
    }

    refused = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert refused.status_code == 503
    assert refused["Retry-After"] == "90"
    assert refused.json()["error"]["code"] == "intake_paused"
    assert "nothing was created" in refused.json()["error"]["message"]
    assert Ticket.objects.count() == Customer.objects.count() == IdempotencyRecord.objects.count() == 0
    # A retry while still paused gets the same answer, not a stored one.
    assert (
        brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 503
    )

    answer = sup.post("/api/v1/ops/intake/resume/", {"brand": "acme"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["resumed_at"] is not None
    created = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert created.status_code == 201, created.content
    again = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again.json() == created.json()
    assert Ticket.objects.count() == 1

    paused, resumed = audit("intake.pause"), audit("intake.resume")
    assert paused[0].detail == {
        "language": "",
        "reason": "Brand outage",
        "before": {"paused": False},
        "after": {"paused": True},
    }
    assert resumed[0].detail["before"]["paused"] is True and resumed[0].detail["after"] == {"paused": False}
    assert resumed[0].actor == supervisor and resumed[0].brand_id == brand.pk


@db
def test_a_pause_of_one_language_leaves_the_others_open(sup, brand_client):
    assert (
        sup.post(
            "/api/v1/ops/intake/pause/", {"brand": "acme", "language": "SV", "reason": "x"}, format="json"
        ).status_code
        == 201
    )
    assert IntakePause.objects.get().language == "sv"
    swedish = brand_client.post("/api/v1/tickets/", {**TICKET_BODY, "language": "sv-SE"}, format="json")
    assert swedish.status_code == 503
    english = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json")
    assert english.status_code == 201


@db
def test_a_pause_does_not_stop_another_brand(sup, other_brand_and_key):
    _, key = other_brand_and_key
    sup.post("/api/v1/ops/intake/pause/", {"brand": "acme", "reason": "x"}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/api/v1/tickets/", TICKET_BODY, format="json").status_code == 201


@db
@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("pause", {"brand": "acme"}, 422, "reason_required"),
        ("pause", {"brand": "acme", "reason": "  "}, 422, "reason_required"),
        ("pause", {"brand": "acme", "reason": "x", "language": "english!"}, 422, "invalid_language"),
        ("pause", {"brand": "acme", "reason": "x" * 301}, 422, "text_too_long"),
        ("pause", {"brand": "globex", "reason": "x"}, 404, "brand_not_found"),
        ("pause", {"brand": "nope", "reason": "x"}, 404, "brand_not_found"),
        ("pause", {"brand": "acme", "language": "sv", "reason": "again"}, 409, "intake_already_paused"),
        ("resume", {"brand": "acme"}, 409, "intake_not_paused"),
        ("resume", {"brand": "acme", "language": "en"}, 409, "intake_not_paused"),
        ("resume", {"brand": "globex", "language": "sv"}, 404, "brand_not_found"),
    ],
)
def test_a_refused_pause_or_resume_changes_nothing(path, body, status, code, sup, supervisor, brand, other_brand):
    IntakePause.objects.create(brand=brand, language="sv", reason="lunch", paused_by=supervisor)
    before = state_of()
    answer = sup.post(f"/api/v1/ops/intake/{path}/", body, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.content
    assert state_of() == before


# --- Surge --------------------------------------------------------------------------------------


@db
def test_a_surge_raises_the_waiting_tickets_and_every_later_offer_pays_it(sup, supervisor, brand, agent):
    queued = TicketFactory(brand=brand, surge_bonus_minor=500)
    also = TicketFactory(brand=brand)
    swedish = TicketFactory(brand=brand, language="sv")
    online(agent)
    chat = TicketFactory(brand=brand)
    services.offer_accept(agent=agent, offer_id=services.ticket_dispatch(ticket_id=chat.pk).pk)
    AgentProfile.objects.filter(pk=agent.pk).update(status="away")

    answer = sup.post("/api/v1/ops/surge/", {"brand": "acme", "language": "en", "amount": "10.00"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "brand": "acme",
        "language": "en",
        "amount": {"amount": "10.00", "currency": "SEK"},
        "tickets": [
            {"id": queued.pk, "surge": {"amount": "15.00", "currency": "SEK"}},
            {"id": also.pk, "surge": {"amount": "10.00", "currency": "SEK"}},
        ],
    }
    surges = dict(Ticket.objects.values_list("pk", "surge_bonus_minor"))
    assert (surges[queued.pk], surges[also.pk], surges[swedish.pk], surges[chat.pk]) == (1500, 1000, 0, 0)
    events = TicketEvent.objects.filter(kind="surge_added").order_by("ticket_id")
    assert [(e.ticket_id, e.detail) for e in events] == [
        (t.pk, {"amount_minor": 1000, "currency": "SEK", "supervisor": supervisor.pk}) for t in (queued, also)
    ]
    (row,) = audit("tickets.surge_raise")
    assert row.detail == {
        "language": "en",
        "amount_minor": 1000,
        "currency": "SEK",
        "before": {str(queued.pk): 500, str(also.pk): 0},
        "after": {str(queued.pk): 1500, str(also.pk): 1000},
    }

    agent2 = online(AgentFactory(brands=[brand]))
    offer = services.ticket_dispatch(ticket_id=also.pk)
    assert offer.agent_id == agent2.pk and offer.pay_amount_minor == 4500 + 1000
    assert offer.pay_calculation["surge_minor"] == 1000


@db
@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"brand": "acme", "language": "en", "amount": "0"}, 422, "invalid_amount"),
        ({"brand": "acme", "language": "en", "amount": "abc"}, 422, "invalid_amount"),
        ({"brand": "acme", "language": "en", "amount": "1.234"}, 422, "invalid_amount"),
        ({"brand": "acme", "language": "en", "amount": "999999999"}, 422, "invalid_amount"),
        ({"brand": "acme", "language": "", "amount": "10.00"}, 422, "invalid_language"),
        ({"brand": "acme", "language": "de", "amount": "10.00"}, 409, "nothing_waiting"),
        ({"brand": "globex", "language": "en", "amount": "10.00"}, 404, "brand_not_found"),
    ],
)
def test_a_refused_surge_changes_nothing(body, status, code, sup, brand, other_brand):
    ticket = TicketFactory(brand=brand)
    theirs = TicketFactory(brand=other_brand)
    before = state_of(ticket, theirs)
    answer = sup.post("/api/v1/ops/surge/", body, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.content
    assert state_of(ticket, theirs) == before


# --- Who may call -------------------------------------------------------------------------------

ENDPOINTS = [
    ("tickets/{ticket}/reassign/", {"agent_id": "{agent}"}),
    ("agents/{agent}/note/", {"text": "hello"}),
    ("agents/{agent}/away/", {}),
    ("intake/pause/", {"brand": "acme", "reason": "x"}),
    ("intake/resume/", {"brand": "acme"}),
    ("surge/", {"brand": "acme", "language": "en", "amount": "1.00"}),
]


def _call(client, template, body, ticket, agent):
    path = "/api/v1/ops/" + template.format(ticket=ticket.pk, agent=agent.pk)
    body = {k: (agent.pk if v == "{agent}" else v) for k, v in body.items()}
    return client.post(path, body, format="json")


@db
@pytest.mark.parametrize("template, body", ENDPOINTS)
def test_agents_applicants_and_anonymous_callers_are_refused_everywhere(template, body, brand, agent, agent2):
    ticket = TicketFactory(brand=brand)
    online(agent2)
    applicant = UserFactory(email="applicant@example.test", role=User.Role.APPLICANT)
    before = state_of(ticket, agents=[agent, agent2])
    for user in (agent.user, applicant):
        answer = _call(client_for(user), template, body, ticket, agent2)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
    answer = _call(APIClient(), template, body, ticket, agent2)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthenticated")
    assert state_of(ticket, agents=[agent, agent2]) == before


@db
@pytest.mark.parametrize("template, body", ENDPOINTS)
def test_another_brands_supervisor_gets_404_everywhere(template, body, brand, agent2, globex_supervisor):
    ticket = TicketFactory(brand=brand)
    online(agent2)
    IntakePause.objects.create(brand=brand, reason="x", paused_by=globex_supervisor)
    before = state_of(ticket, agents=[agent2])
    answer = _call(client_for(globex_supervisor), template, body, ticket, agent2)
    assert answer.status_code == 404, answer.content
    assert state_of(ticket, agents=[agent2]) == before


@db
def test_platform_staff_act_on_any_brand(brand, agent):
    staff = UserFactory(email="staff@example.test", role="staff", is_staff=True)
    answer = client_for(staff).post(f"/api/v1/ops/agents/{agent.pk}/note/", {"text": "hi"}, format="json")
    assert answer.status_code == 201


@db
def test_token_callers_and_session_callers_with_the_csrf_header_are_accepted(supervisor, agent, settings):
    from marketplace.services import api_token_create

    settings.SUPERVISOR_MFA_REQUIRED = False
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=supervisor)[0]}")
    assert token.post(f"/api/v1/ops/agents/{agent.pk}/note/", {"text": "a"}, format="json").status_code == 201

    session = APIClient(enforce_csrf_checks=True)
    session.force_login(supervisor)
    refused = session.post(f"/api/v1/ops/agents/{agent.pk}/note/", {"text": "b"}, format="json")
    assert refused.status_code == 403 and SupervisorNote.objects.count() == 1
    page = session.get("/supervisor/live/")
    csrf = page.cookies["csrftoken"].value
    accepted = session.post(f"/api/v1/ops/agents/{agent.pk}/note/", {"text": "b"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201


# --- The page -----------------------------------------------------------------------------------


@db
def test_the_live_page_is_for_supervisors_and_staff(client, supervisor, agent, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    assert client.get("/supervisor/live/").status_code == 302  # to the login page
    client.force_login(agent.user)
    assert client.get("/supervisor/live/").status_code == 403
    client.force_login(supervisor)
    page = client.get("/supervisor/live/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-ws-path="/ws/supervisor/"' in html and "js/ops.js" in html
    assert '<option value="acme">Acme</option>' in html
