"""Chat messages from either side, stored with payment data masked."""

from typing import Any

from django.conf import settings
from django.db import transaction

from agents.models import AgentProfile
from marketplace.errors import Conflict, DomainError, NotFound
from marketplace.masking import mask_sensitive

from ..models import Message, Ticket
from ..notify import notify_message

Status = Ticket.Status


def _clean_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DomainError("invalid_text", "Message text must be a non-empty string.")
    if len(text) > settings.MESSAGE_MAX_CHARS:
        raise DomainError(
            "text_too_long", f"Messages are limited to {settings.MESSAGE_MAX_CHARS} characters ({len(text)} sent)."
        )
    return mask_sensitive(text.strip())


def _system_message(ticket: Ticket, text: str) -> Message:
    return Message.objects.create(ticket=ticket, sender=Message.Sender.SYSTEM, text=text)


def _agent_ticket(agent: AgentProfile, ticket_id: Any) -> Ticket:
    """The agent's assigned ticket, locked; an outsider gets the same answer as a missing id."""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise DomainError("invalid_ticket_id", "ticket_id must be an integer.") from None
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("brand").filter(pk=ticket_id, agent=agent).first()
    )
    if ticket is None:
        raise NotFound("ticket_not_found", "There is no such ticket assigned to you.")
    if ticket.status != Status.ASSIGNED:
        raise Conflict("ticket_not_assigned", f"This ticket is {ticket.status}; it is no longer yours to work.")
    return ticket


def message_send_agent(*, agent: AgentProfile, ticket_id: int, text: str) -> Message:
    clean = _clean_text(text)
    with transaction.atomic():
        ticket = _agent_ticket(agent, ticket_id)
        message = Message.objects.create(ticket=ticket, sender=Message.Sender.AGENT, author=agent.user, text=clean)
        notify_message(message=message, agent_id=agent.pk)
    return message


def message_send_customer(*, ticket: Ticket, text: str) -> Message:
    clean = _clean_text(text)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if not locked.is_open:
            raise Conflict("ticket_not_open", f"This conversation is {locked.status}; reopen it to write again.")
        message = Message.objects.create(ticket=locked, sender=Message.Sender.CUSTOMER, text=clean)
        notify_message(message=message, agent_id=locked.agent_id if locked.status == Status.ASSIGNED else None)
    return message
