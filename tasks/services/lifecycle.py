"""After the chat: resolve, confirm, rate, reopen, close when the window ends, or cancel.

Each resolution is a `Resolution` row: the customer's confirmation, rating and reopen are
recorded on the latest one, so they stay with the agent who resolved that time (quality
scores, QA sampling and the pay reversal of a premature resolution all read it)."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from agents.models import AgentProfile
from agents.quality.signals import quality_changed
from marketplace.errors import Conflict, DomainError, NotFound
from marketplace.masking import mask_sensitive
from marketplace.models import Brand
from marketplace.prepared import PreparedInsert, PreparedQuery, PreparedSave, PreparedUpdate
from payouts.services import earning_credit, earning_reverse

from .. import rows
from ..frames import earning_dict
from ..models import Offer, Resolution, Ticket
from ..notify import notify_message, notify_ticket_changed
from .conversation import _agent_ticket, _system_message
from .dispatch import agent_dispatch, ticket_dispatch
from .offers import _close_offer

Status = Ticket.Status


def _resolved(_shape: None, *, ticket_id: int, at: datetime, count: int) -> tuple[QuerySet[Ticket], dict[str, Any]]:
    return Ticket.objects.filter(pk=ticket_id), {
        "status": Status.RESOLVED,
        "resolved_at": at,
        "resolution_count": count,
    }


def _one_less(_shape: None, *, agent_id: int) -> tuple[QuerySet[AgentProfile], dict[str, Any]]:
    return AgentProfile.objects.filter(pk=agent_id, load__gt=0), {"load": F("load") - 1}


def _rated_and_closed(
    _shape: None, *, ticket_id: int, score: int, comment: str, at: datetime
) -> tuple[QuerySet[Ticket], dict[str, Any]]:
    changes = {"rating": score, "rating_comment": comment, "status": Status.CLOSED, "closed_at": at}
    return Ticket.objects.filter(pk=ticket_id), changes


def _rated(
    _shape: None, *, resolution_id: int, score: int, comment: str, at: datetime
) -> tuple[QuerySet[Resolution], dict[str, Any]]:
    changes = {"rating": score, "rating_comment": comment, "rated_at": at, "qa_considered": False}
    return Resolution.objects.filter(pk=resolution_id), changes


def _confirmed(
    _shape: None, *, resolution_id: int, by: str, at: datetime
) -> tuple[QuerySet[Resolution], dict[str, Any]]:
    changes = {"outcome": Resolution.Outcome.CONFIRMED, "confirmed_by": by, "outcome_at": at}
    return Resolution.objects.filter(pk=resolution_id), changes


# The writes of every resolve, rating and confirmation: compiled once (marketplace/prepared.py).
_resolution_confirmed = PreparedUpdate(_confirmed)
_mark_resolved, _load_minus_one = PreparedUpdate(_resolved), PreparedUpdate(_one_less)
_rate_and_close, _resolution_rated = PreparedUpdate(_rated_and_closed), PreparedUpdate(_rated)


def ticket_resolve(*, agent: AgentProfile, ticket_id: int) -> Ticket:
    """Mark the agent's assigned ticket resolved, credit the case, and free the slot."""
    with transaction.atomic():
        ticket = _agent_ticket(agent, ticket_id)
        ticket.status = Status.RESOLVED
        ticket.resolved_at = timezone.now()
        ticket.resolution_count += 1
        _mark_resolved(None, ticket_id=ticket.pk, at=ticket.resolved_at, count=ticket.resolution_count)
        _insert_resolution(
            Resolution(ticket=ticket, agent=agent, number=ticket.resolution_count, resolved_at=ticket.resolved_at)
        )
        _load_minus_one(None, agent_id=agent.pk)
        earning = earning_credit(ticket=ticket, agent=agent, amount_minor=ticket.pay_amount_minor or 0)
        notify_ticket_changed(
            ticket=ticket,
            agent_id=agent.pk,
            agent_name=agent.display_name,
            agent_extra={"earning": earning_dict(earning)},
        )
    agent_dispatch(agent_id=agent.pk)
    return ticket


def _newest_resolution(_shape: None, *, ticket_id: int) -> QuerySet[Resolution]:
    return Resolution.objects.select_for_update().filter(ticket_id=ticket_id).order_by("-number")[:1]


# Rating, confirming and reopening read it: compiled once (marketplace/prepared.py).
_newest_resolution_locked = PreparedQuery(_newest_resolution)
_insert_resolution = PreparedInsert(Resolution)
_save_ticket, _save_resolution = PreparedSave(Ticket), PreparedSave(Resolution)


def _latest_resolution(ticket: Ticket) -> Resolution | None:
    resolution: Resolution | None = _newest_resolution_locked.first(None, ticket_id=ticket.pk)
    return resolution


def _close(ticket: Ticket, resolution: Resolution | None, *, by: str) -> None:
    """Confirm a resolved ticket: closed, its latest resolution confirmed."""
    now = timezone.now()
    ticket.status = Status.CLOSED
    ticket.closed_at = now
    if resolution is not None and resolution.outcome == Resolution.Outcome.PENDING:
        resolution.outcome = Resolution.Outcome.CONFIRMED
        resolution.confirmed_by = by
        resolution.outcome_at = now
        _resolution_confirmed(None, resolution_id=resolution.pk, by=by, at=now)


def _within_window(ticket: Ticket) -> bool:
    window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    return ticket.resolved_at is not None and timezone.now() <= ticket.resolved_at + window


def ticket_confirm(*, ticket: Ticket) -> Ticket:
    """The customer says the case is solved: closed now, instead of when the window ends.
    Rating stays possible (until the reopen window ends), and so does reopening."""
    with transaction.atomic():
        locked = rows.ticket_locked(ticket.pk)
        assert locked is not None  # tickets are never deleted
        if locked.status == Status.CLOSED:
            raise Conflict("already_confirmed", "You have already confirmed that this is solved.")
        if locked.status != Status.RESOLVED:
            raise Conflict("ticket_not_resolved", "You can confirm once the agent has resolved your case.")
        _close(locked, _latest_resolution(locked), by=Resolution.ConfirmedBy.CUSTOMER)
        _save_ticket(locked, ["status", "closed_at"])
        notify_ticket_changed(ticket=locked, agent_id=locked.agent_id)
    return locked


def ticket_rate(*, ticket: Ticket, score: int, comment: str = "") -> Ticket:
    """The customer rates the latest resolution 1-5, once: while it is resolved, and after it
    closed unrated until the reopen window ends. Rating a resolved case also confirms it."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise DomainError("invalid_score", "score must be a whole number from 1 to 5.")
    if comment is not None and not isinstance(comment, str):
        raise DomainError("invalid_comment", "comment must be text.")
    comment = (comment or "").strip()
    if len(comment) > settings.MESSAGE_MAX_CHARS:
        raise DomainError("text_too_long", f"Comments are limited to {settings.MESSAGE_MAX_CHARS} characters.")
    with transaction.atomic():
        locked = rows.ticket_locked(ticket.pk)
        assert locked is not None  # tickets are never deleted
        resolution = _latest_resolution(locked) if locked.status in (Status.RESOLVED, Status.CLOSED) else None
        if locked.rating is not None or (resolution is not None and resolution.rating is not None):
            raise Conflict("already_rated", "You have already rated this conversation.")
        if locked.status not in (Status.RESOLVED, Status.CLOSED) or locked.resolved_at is None:
            raise Conflict("ticket_not_resolved", "You can rate once the agent has resolved your case.")
        # A resolved case is open to a rating until it closes; a closed one (confirmed, or
        # closed when the window ended) until the reopen window ends.
        if locked.status == Status.CLOSED and not _within_window(locked):
            raise Conflict("rating_window_passed", "The time to rate this conversation has passed.")
        locked.rating = score
        locked.rating_comment = mask_sensitive(comment)
        if locked.status == Status.RESOLVED:
            _close(locked, resolution, by=Resolution.ConfirmedBy.CUSTOMER)
            _rate_and_close(None, ticket_id=locked.pk, score=score, comment=locked.rating_comment, at=locked.closed_at)
        else:  # closed already, rated within the reopen window
            _save_ticket(locked, ["rating", "rating_comment"])
        if resolution is not None:
            resolution.rating = score
            resolution.rating_comment = locked.rating_comment
            resolution.rated_at = timezone.now()
            # A rating can make the case one QA must see (1 or 2): the sampler decides again.
            resolution.qa_considered = False
            _resolution_rated(
                None,
                resolution_id=resolution.pk,
                score=score,
                comment=resolution.rating_comment,
                at=resolution.rated_at,
            )
            quality_changed(agent_id=resolution.agent_id, cause="rating", ticket_id=locked.pk, detail={"rating": score})
        notify_ticket_changed(ticket=locked, agent_id=locked.agent_id, agent_extra={"rating": score})
    return locked


def ticket_reopen(*, ticket: Ticket) -> Ticket:
    """The customer says it is not solved: back to the queue, previous agent first.

    Allowed within the reopen window after resolution. The case's pay is reversed.
    """
    window = timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    with transaction.atomic():
        locked = rows.ticket_locked(ticket.pk)
        assert locked is not None  # tickets are never deleted
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
        _save_ticket(locked, ["status", "previous_agent", "agent", "queued_at", "queue_reason", "rating"])
        resolution = _latest_resolution(locked)
        if resolution is not None:
            resolution.outcome = Resolution.Outcome.REOPENED
            resolution.outcome_at = timezone.now()
            # A premature resolution is always reviewed: the sampler decides again.
            resolution.qa_considered = False
            _save_resolution(resolution, ["outcome", "outcome_at", "qa_considered"])
        earning_reverse(ticket=locked)
        note = _system_message(locked, "This conversation was reopened. We are connecting you with an agent.")
        notify_message(message=note, agent_id=None)
        notify_ticket_changed(ticket=locked, agent_id=previous)
    ticket_dispatch(ticket_id=locked.pk)
    return locked


def tickets_close_after_window() -> int:
    """Resolved cases the customer neither confirmed nor reopened are confirmed when the
    reopen window ends. Idempotent: a doubled or missed run does no harm."""
    now = timezone.now()
    cutoff = now - timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    with transaction.atomic():
        closed = list(
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(status=Status.RESOLVED, resolved_at__lte=cutoff)
            .values_list("pk", flat=True)[:1000]
        )
        Ticket.objects.filter(pk__in=closed).update(status=Status.CLOSED, closed_at=now)
        Resolution.objects.filter(ticket_id__in=closed, outcome=Resolution.Outcome.PENDING).update(
            outcome=Resolution.Outcome.CONFIRMED, confirmed_by=Resolution.ConfirmedBy.WINDOW, outcome_at=now
        )
    return len(closed)


def ticket_cancel(*, ticket_id: int, brand: Brand) -> Ticket:
    """The brand withdraws a conversation (the customer left). Open tickets only; a pending
    offer is rescinded and an assigned agent gets the slot back.

    Locks the pending offer before the ticket (the global order offer -> ticket -> agent,
    as accept takes them). An offer made between the two locks is seen as an offered
    ticket without a locked offer: the attempt is dropped and made again.
    """
    for _ in range(5):
        with transaction.atomic():
            offer = Offer.objects.select_for_update().filter(ticket_id=ticket_id, state=Offer.State.PENDING).first()
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("brand")
                .filter(pk=ticket_id, brand=brand)
                .first()
            )
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
            _save_ticket(ticket, ["status", "closed_at"])
            # The assigned agent's chat closes; an offered one was told by _close_offer.
            notify_ticket_changed(ticket=ticket, agent_id=freed if offer is None else None)
        if freed:
            agent_dispatch(agent_id=freed)
        return ticket
    raise Conflict("ticket_busy", "The ticket is changing right now; try again.")
