"""Who may be offered a ticket: every condition of eligibility, one test each."""

import pytest

from agents.models import AgentProfile
from tasks.models import Offer, Ticket

from .factories import AgentFactory

pytestmark = pytest.mark.django_db


def offered_to(ticket):
    offer = Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).first()
    return offer.agent if offer else None


def test_available_certified_agent_speaking_the_language_gets_the_offer(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    assert ticket.status == Ticket.Status.OFFERED
    assert offered_to(ticket) == agent


def test_agent_not_speaking_the_language_is_not_offered(brand, handover):
    AgentFactory(brands=[brand], languages=["sv"], available=True)
    ticket = handover(language="en")
    assert ticket.status == Ticket.Status.QUEUED
    assert offered_to(ticket) is None


def test_agent_of_another_brand_is_not_offered(brand, other_brand, handover):
    AgentFactory(brands=[other_brand], available=True)
    assert handover().status == Ticket.Status.QUEUED


def test_agent_without_every_skill_tag_is_not_offered(brand, handover):
    AgentFactory(brands=[brand], skills=["billing"], available=True)
    skilled = AgentFactory(brands=[brand], skills=["billing", "cards"], available=True)
    ticket = handover(tags=["billing", "cards"])
    assert offered_to(ticket) == skilled


def test_agent_at_capacity_is_not_offered(brand, handover):
    agent = AgentFactory(brands=[brand], capacity=1, available=True)
    first = handover()
    assert offered_to(first) == agent
    second = handover(customer={"external_id": "c2", "name": "Ola"})
    assert second.status == Ticket.Status.QUEUED


@pytest.mark.parametrize("status", [AgentProfile.Status.AWAY, AgentProfile.Status.OFFLINE])
def test_agent_not_available_is_not_offered(brand, handover, status):
    AgentFactory(brands=[brand], status=status, connections=1)
    assert handover().status == Ticket.Status.QUEUED


def test_available_agent_without_an_open_socket_is_not_offered(brand, handover):
    AgentFactory(brands=[brand], status=AgentProfile.Status.AVAILABLE, connections=0)
    assert handover().status == Ticket.Status.QUEUED


def test_suspended_agent_is_not_offered(brand, handover):
    AgentFactory(brands=[brand], available=True, suspended=True)
    assert handover().status == Ticket.Status.QUEUED


def test_language_tag_region_is_reduced_to_primary_subtag(brand, brand_client):
    AgentFactory(brands=[brand], languages=["pt"], available=True)
    from .conftest import TICKET_BODY

    response = brand_client.post("/api/v1/tickets/", {**TICKET_BODY, "language": "pt-BR"}, format="json")
    assert response.status_code == 201
    assert Ticket.objects.get(pk=response.json()["id"]).status == Ticket.Status.OFFERED
