"""After the chat: resolve, rate, reopen, close when the window ends, or cancel."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.errors import Conflict, DomainError, NotFound
from marketplace.masking import mask_sensitive
from marketplace.models import Brand
from payouts.services import earning_credit, earning_reverse

from ..models import Offer, Ticket
from ..notify import notify_message, notify_ticket_changed
from .conversation import _agent_ticket, _system_message
from .dispatch import agent_dispatch, ticket_dispatch
from .offers import _close_offer

Status = Ticket.Status


def ticket_resolve(*, agent: AgentProfile, ticket_id: int) -> Ticket:
    """Mark the agent's assigned ticket resolved, credit the case, and free the slot."""
    with transaction.atomic():
        ticket = _agent_ticket(agent, ticket_id)
        ticket.status = Status.RESOLVED
        ticket.resolved_at = timezone.now()
        ticket.resolution_count += 1
        ticket.save(update_fields=["status", "resolved_at", "resolution_count"])
        AgentProfile.objects.filter(pk=agent.pk, load__gt=0).update(load=F("load") - 1)
        earning_credit(ticket=ticket, agent=agent, amount_minor=ticket.pay_amount_minor or 0)
        notify_ticket_changed(ticket=ticket, agent_id=agent.pk, agent_name=agent.display_name)
    agent_dispatch(agent_id=agent.pk)
    return ticket


def ticket_rate(*, ticket: Ticket, score: int, comment: str = "") -> Ticket:
    """The customer rates a resolved case 1-5; this confirms the resolution (closed)."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise DomainError("invalid_score", "score must be a whole number from 1 to 5.")
    if comment is not None and not isinstance(comment, str):
        raise DomainError("invalid_comment", "comment must be text.")
    comment = (comment or "").strip()
    if len(comment) > settings.MESSAGE_MAX_CHARS:
        raise DomainError("text_too_long", f"Comments are limited to {settings.MESSAGE_MAX_CHARS} characters.")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != Status.RESOLVED:
            if locked.rating is not None:
                raise Conflict("already_rated", "You have already rated this conversation.")
            raise Conflict("ticket_not_resolved", "You can rate once the agent has resolved your case.")
        locked.rating = score
        locked.rating_comment = mask_sensitive(comment)
        locked.status = Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["rating", "rating_comment", "status", "closed_at"])
        notify_ticket_changed(ticket=locked, agent_id=locked.agent_id, agent_extra={"rating": score})
    return locked


def ticket_reopen(*, ticket: Ticket) -> Ticket:
    """The customer says it is not solved: back to the queue, previous agent first.

    Allowed within the reopen window after resolution. The case's pay is reversed.
    """
    window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status not in (Status.RESOLVED, Status.CLOSED):
            raise Conflict("ticket_not_resolved", "Only a resolved conversation can be reopened.")
        if locked.resolved_at and timezone.now() > locked.resolved_at + window:
            raise Conflict("reopen_window_passed", "The time to reopen this conversation has passed.")
        previous = locked.agent_id
        locked.status = Status.QUEUED
        locked.previous_agent_id = previous
        locked.agent = None
        locked.queued_at = timezone.now()
        locked.queue_reason = "reopened"
        locked.rating = None
        locked.save(update_fields=["status", "previous_agent", "agent", "queued_at", "queue_reason", "rating"])
        earning_reverse(ticket=locked)
        note = _system_message(locked, "This conversation was reopened. We are connecting you with an agent.")
        notify_message(message=note, agent_id=None)
        notify_ticket_changed(ticket=locked, agent_id=previous)
    ticket_dispatch(ticket_id=locked.pk)
    return locked


def tickets_close_after_window() -> int:
    """Resolved cases the customer neither rated nor reopened are confirmed when the
    reopen window ends. Idempotent: a doubled or missed run does no harm."""
    cutoff = timezone.now() - timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    return Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff).update(
        status=Status.CLOSED, closed_at=timezone.now()
    )


def ticket_cancel(*, ticket_id: int, brand: Brand) -> Ticket:
    """The brand withdraws a conversation (the customer left). Open tickets only; a pending
    offer is rescinded and an assigned agent gets the slot back.

    Locks the pending offer before the ticket (the global order offer -> ticket -> agent,
    as accept takes them). An offer made between the two locks is seen as an offered
    ticket without a locked offer: the attempt is dropped and made again.
    """
    for _ in range(5):
        with transaction.atomic():
            offer = (
                Offer.objects.select_for_update().filter(ticket_id=ticket_id, state=Offer.State.PENDING).first()
            )
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id, brand=brand).first()
            if ticket is None:
                raise NotFound("ticket_not_found", "There is no such ticket for this brand.")
            if not ticket.is_open:
                raise Conflict("ticket_not_open", f"This ticket is already {ticket.status}.")
            if ticket.status == Status.OFFERED and offer is None:
                continue
            freed = None
            if offer is not None:
                _close_offer(offer, state=Offer.State.RESCINDED)
                freed = offer.agent_id
            elif ticket.status == Status.ASSIGNED and ticket.agent_id is not None:
                AgentProfile.objects.filter(pk=ticket.agent_id, load__gt=0).update(load=F("load") - 1)
                freed = ticket.agent_id
            ticket.status = Status.CANCELLED
            ticket.closed_at = timezone.now()
            ticket.save(update_fields=["status", "closed_at"])
            # The assigned agent's chat closes; an offered one was told by _close_offer.
            notify_ticket_changed(ticket=ticket, agent_id=freed if offer is None else None)
        if freed:
            agent_dispatch(agent_id=freed)
        return ticket
    raise Conflict("ticket_busy", "The ticket is changing right now; try again.")
