"""A chat in progress for the chat tests: a ticket handed over and accepted by an agent."""

from channels.db import database_sync_to_async

from agents.models import AgentProfile
from tasks import services
from tasks.models import Offer, Ticket

from .factories import TicketFactory


def assign(agent: AgentProfile, brand) -> Ticket:
    AgentProfile.objects.filter(pk=agent.pk).update(status="available", connections=1)
    ticket = TicketFactory(brand=brand)
    services.ticket_dispatch(ticket_id=ticket.pk)
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, agent=agent).pk)
    return Ticket.objects.select_related("brand", "agent").get(pk=ticket.pk)


assigned_ticket = database_sync_to_async(assign)
