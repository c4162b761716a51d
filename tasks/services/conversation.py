"""Chat messages from either side, stored with payment data masked."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from agents.models import AgentProfile
from marketplace.errors import Conflict, DomainError, NotFound
from marketplace.masking import mask_sensitive

from .. import rows
from ..models import Message, Ticket
from ..notify import notify_message, notify_read

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


def _agent_ticket(agent: AgentProfile, ticket_id: Any, *, assigned: bool = True) -> Ticket:
    """The agent's assigned ticket, locked; an outsider gets the same answer as a missing id.
    With `assigned=False` the status is left for the caller to check."""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise DomainError("invalid_ticket_id", "ticket_id must be an integer.") from None
    ticket = rows.ticket_locked(ticket_id, agent_id=agent.pk)
    if ticket is None:
        raise NotFound("ticket_not_found", "There is no such ticket assigned to you.")
    if assigned:
        _check_assigned(ticket)
    return ticket


def _check_assigned(ticket: Ticket) -> None:
    if ticket.status != Status.ASSIGNED:
        raise Conflict("ticket_not_assigned", f"This ticket is {ticket.status}; it is no longer yours to work.")


def _resent(ticket: Ticket, *, sender: str, author_id: int | None, client_ref: str, text: str) -> Message | None:
    """The message a frame with this ref stored before (the client resent it after a
    reconnect), or None. Callers hold the ticket's row lock, so two copies racing over two
    connections are looked up one after the other; the unique constraint is the backstop."""
    if not client_ref:
        return None
    first = rows.message_with_ref(ticket=ticket, sender=sender, author_id=author_id, client_ref=client_ref)
    if first is not None and first.text != text:
        raise Conflict("ref_reused", "This ref was already used for a different message; use a new ref per message.")
    return first


def message_send_agent(*, agent: AgentProfile, ticket_id: int, text: str, client_ref: str = "") -> Message:
    """Store and push the agent's message in their assigned chat. A frame resent with the
    `client_ref` of a stored message returns that message without storing or pushing it
    again. Locks the ticket row."""
    clean = _clean_text(text)
    with transaction.atomic():
        # A resend is answered even if the chat was resolved after its first copy arrived.
        ticket = _agent_ticket(agent, ticket_id, assigned=False)
        first = _resent(ticket, sender=Message.Sender.AGENT, author_id=agent.user_id, client_ref=client_ref, text=clean)
        if first is not None:
            return first
        _check_assigned(ticket)
        message = rows.message_insert(
            ticket=ticket, sender=Message.Sender.AGENT, author_id=agent.user_id, text=clean, client_ref=client_ref
        )
        notify_message(message=message, agent_id=agent.pk)
    return message


def message_send_customer(*, ticket: Ticket, text: str, client_ref: str = "") -> Message:
    """Store and push the customer's message (the chat must be open); a resent frame is
    answered with its first copy, as for agents. Locks the ticket row."""
    clean = _clean_text(text)
    with transaction.atomic():
        locked = rows.ticket_locked(ticket.pk)
        assert locked is not None  # tickets are never deleted
        first = _resent(locked, sender=Message.Sender.CUSTOMER, author_id=None, client_ref=client_ref, text=clean)
        if first is not None:
            return first
        if not locked.is_open:
            raise Conflict("ticket_not_open", f"This conversation is {locked.status}; reopen it to write again.")
        message = rows.message_insert(
            ticket=locked, sender=Message.Sender.CUSTOMER, author_id=None, text=clean, client_ref=client_ref
        )
        notify_message(message=message, agent_id=locked.agent_id if locked.status == Status.ASSIGNED else None)
    return message


def _read_mark_moves(field: str, up_to: int) -> Q:
    """The conditional update's guard: the mark only moves forward, and only to a message
    of this very chat (a made-up id would mark future messages read)."""
    later = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": up_to})
    return later & Q(Exists(Message.objects.filter(ticket=OuterRef("pk"), pk=up_to)))


def _no_such_message(ticket_id: int, up_to: int) -> bool:
    return not Message.objects.filter(ticket_id=ticket_id, pk=up_to).exists()


def ticket_read_agent(*, agent: AgentProfile, ticket_id: int, up_to: int) -> bool:
    """The agent has seen their assigned chat up to message `up_to`: the mark moves forward
    (one conditional UPDATE, no lock) and the customer hears of it. A mark that would not
    move changes nothing and tells nobody; returns whether it moved."""
    moved = (
        Ticket.objects.filter(pk=ticket_id, agent=agent, status=Status.ASSIGNED)
        .filter(_read_mark_moves("agent_read_up_to", up_to))
        .update(agent_read_up_to=up_to)
    )
    if not moved:
        ticket = Ticket.objects.filter(pk=ticket_id, agent=agent).only("status").first()
        if ticket is None:
            raise NotFound("ticket_not_found", "There is no such ticket assigned to you.")
        _check_assigned(ticket)
        if _no_such_message(ticket_id, up_to):
            raise NotFound("message_not_found", "This chat has no message with that id.")
        return False
    notify_read(ticket_id=ticket_id, reader=Message.Sender.AGENT, up_to=up_to, agent_id=None)
    return True


def ticket_read_customer(*, ticket: Ticket, up_to: int) -> bool:
    """The customer has seen their chat up to message `up_to`; as ticket_read_agent, the
    assigned agent (if any) hears of it."""
    with transaction.atomic():
        moved = (
            Ticket.objects.filter(pk=ticket.pk)
            .filter(_read_mark_moves("customer_read_up_to", up_to))
            .update(customer_read_up_to=up_to)
        )
        if not moved:
            if _no_such_message(ticket.pk, up_to):
                raise NotFound("message_not_found", "This chat has no message with that id.")
            return False
        agent_id = (
            Ticket.objects.filter(pk=ticket.pk, status=Status.ASSIGNED).values_list("agent_id", flat=True).first()
        )
        notify_read(ticket_id=ticket.pk, reader=Message.Sender.CUSTOMER, up_to=up_to, agent_id=agent_id)
    return True
