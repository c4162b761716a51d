"""What a socket receives on (re)connect, and the pages of history it asks for.

A client that lost its connection rebuilds its whole state from these frames: it never
relies on what it heard before. Conversations are sent by their end (the newest
SNAPSHOT_MESSAGES), with a cursor to page back.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.errors import NotFound

from . import frames
from .models import SupervisorNote, Ticket
from .selectors import (
    agent_open_tickets,
    agent_pending_offers,
    customer_view_ticket,
    customer_wait,
    message_page,
    queue_position,
    ticket_messages,
)


def customer_status_frame(ticket: Ticket) -> dict[str, Any]:
    position = eta = agents_online = None
    if ticket.is_waiting:
        position = queue_position(ticket)
        wait = customer_wait(ticket, position)
        eta, agents_online = wait.eta_seconds, wait.agents_online
    # Same as testing agent_id: Django answers None without a query when the key is empty.
    agent = ticket.agent
    agent_name = agent.display_name if agent is not None else None
    # A customer who (re)connects while their agent's sockets are gone hears it at once.
    connection = (
        "lost" if agent is not None and ticket.status == Ticket.Status.ASSIGNED and not agent.connections else None
    )
    return frames.customer_ticket_updated_frame(
        ticket,
        queue_position=position,
        eta_seconds=eta,
        agent_name=agent_name,
        agents_online=agents_online,
        agent_connection=connection,
    )


def customer_snapshot(ticket_id: int) -> list[dict[str, Any]]:
    """What a customer socket receives on (re)connect: status, the newest SNAPSHOT_MESSAGES
    messages, then a history frame saying whether earlier ones can be paged in. Read after
    the socket joined its group, so nothing committed in between is missed (a message that
    is both in the snapshot and pushed is shown once: clients keep messages by id)."""
    ticket = customer_view_ticket(ticket_id)
    messages, more = message_page(ticket.pk, limit=settings.SNAPSHOT_MESSAGES)
    snapshot = [customer_status_frame(ticket)]
    snapshot += [frames.message_frame(m, customer_token=ticket.customer_token) for m in messages]
    snapshot.append(frames.history_marker_frame(ticket.pk, messages, more=more))
    # The agent's read mark, so the customer's ticks are right after a reload.
    if ticket.agent_read_up_to is not None:
        snapshot.append(frames.read_frame(ticket.pk, reader="agent", up_to=ticket.agent_read_up_to))
    return snapshot


def customer_history(*, ticket: Ticket, before: int | None, limit: int) -> dict[str, Any]:
    """A page of the customer's own conversation (the socket is bound to its ticket)."""
    messages, more = message_page(ticket.pk, before=before, limit=limit)
    return frames.history_frame(ticket.pk, messages, more=more, customer_token=ticket.customer_token)


def agent_history(*, agent: AgentProfile, ticket_id: int, before: int | None, limit: int) -> dict[str, Any]:
    """A page of a conversation the agent works now; any other ticket is "not found", as
    for messages and resolving."""
    if not Ticket.objects.filter(pk=ticket_id, agent=agent, status=Ticket.Status.ASSIGNED).exists():
        raise NotFound("ticket_not_found", "There is no such ticket assigned to you.")
    messages, more = message_page(ticket_id, before=before, limit=limit)
    return frames.history_frame(ticket_id, messages, more=more)


# A supervisor's note is repeated to a reconnecting agent for this long.
NOTE_REPEAT = timedelta(hours=1)


def supervisor_note_frame(note: SupervisorNote) -> dict[str, Any]:
    author = note.author
    return frames.supervisor_note_frame(
        note_id=note.pk, text=note.text, sender=author.get_full_name() or author.email, sent_at=note.created_at
    )


def agent_snapshot(agent_id: int) -> list[dict[str, Any]]:
    """What an agent socket receives on (re)connect: presence, open offers, open chats (each
    with the end of its conversation; see frames.ticket_assigned_frame), and the latest
    supervisor's note of the last hour (the app remembers which notes were dismissed)."""
    agent = AgentProfile.objects.get(pk=agent_id)
    snapshot = [frames.presence_frame(agent.status)]
    for offer in agent_pending_offers(agent):
        snapshot.append(frames.offer_frame(offer, offer.ticket))
    for ticket in agent_open_tickets(agent):
        snapshot.append(frames.ticket_assigned_frame(ticket, ticket_messages(ticket.pk)))
    note = (
        SupervisorNote.objects.filter(agent_id=agent_id, created_at__gte=timezone.now() - NOTE_REPEAT)
        .select_related("author")
        .order_by("-created_at", "-pk")
        .first()
    )
    if note is not None:
        snapshot.append(supervisor_note_frame(note))
    return snapshot
