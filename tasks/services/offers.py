"""An offer's end: accepted, declined, expired or rescinded. Locks: offer -> ticket -> agent."""

from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from agents.models import AgentProfile, AgentStatusChange
from marketplace.errors import Conflict, NotFound
from marketplace.masking import mask_sensitive
from marketplace.prepared import PreparedUpdate

from .. import jobs, rows, selectors
from ..models import Offer, Ticket
from ..notify import notify_offer_closed, notify_presence, notify_ticket_assigned
from .dispatch import agent_dispatch, ticket_dispatch

Status = Ticket.Status


def _refuse_offer(agent: AgentProfile, offer_id: int) -> NoReturn:
    """Explain why a conditional update on an offer matched nothing."""
    offer = Offer.objects.filter(pk=offer_id).first()
    if offer is None or offer.agent_id != agent.pk:
        raise NotFound("offer_not_found", "There is no such offer for you.")
    if offer.state == Offer.State.PENDING or offer.state == Offer.State.EXPIRED:
        raise Conflict("offer_expired", "This offer has expired.")
    if offer.state == Offer.State.ACCEPTED:
        raise Conflict("offer_already_accepted", "You already accepted this offer.")
    raise Conflict("offer_closed", f"This offer is no longer open ({offer.state}).")


def offer_accept(*, agent: AgentProfile, offer_id: int, received_at: datetime | None = None) -> Ticket:
    """Accept a pending, unexpired offer made to `agent`: the ticket is assigned to them.

    The claim is `UPDATE offer SET state=accepted WHERE id=.. AND agent=.. AND state=pending
    AND expires_at > received`; only one caller can see a row count of 1, so however many
    accepts race, one wins and the others get a clear refusal. `received_at` is when the
    accept reached the server (the socket frame's arrival): time it then spent waiting for a
    busy process does not count against the agent (the sweeper leaves the offer pending for
    OFFER_EXPIRY_GRACE_SECONDS past its countdown).
    """
    now = timezone.now()
    deadline = min(received_at, now) if received_at else now
    with transaction.atomic():
        ticket_id = rows.offer_claim(offer_id=offer_id, agent_id=agent.pk, now=now, deadline=deadline)
        if ticket_id is None:
            _refuse_offer(agent, offer_id)
        if not rows.ticket_assign(ticket_id=ticket_id, offer_id=offer_id, agent_id=agent.pk, now=now):
            raise Conflict("offer_closed", "This ticket is no longer waiting.")  # not while one offer is pending
        rows.agent_assigned(agent_id=agent.pk, now=now)
        ticket = rows.ticket_with_customer_and_brand(ticket_id)
        assert ticket is not None  # assigned above, in this transaction
        messages = selectors.ticket_messages(ticket.pk)
        notify_ticket_assigned(ticket=ticket, agent=agent, messages=messages)
        if ticket.notify_email and ticket.notify_email_sent_at is None:
            # The customer left an address while nobody was online: a link back to the chat.
            transaction.on_commit(lambda: jobs.ticket_answered_email_send.delay(ticket.pk), robust=True)
    return ticket


def _closed(
    _shape: None, *, offer_id: int, state: str, at: datetime, reason: str
) -> tuple[QuerySet[Offer], dict[str, Any]]:
    return Offer.objects.filter(pk=offer_id), {"state": state, "responded_at": at, "decline_reason": reason}


def _requeued(_shape: None, *, ticket_id: int) -> tuple[QuerySet[Ticket], dict[str, Any]]:
    return Ticket.objects.filter(pk=ticket_id, status=Status.OFFERED), {"status": Status.QUEUED}


# Every decline and expiry writes both: compiled once (marketplace/prepared.py).
_offer_closed, _back_in_queue = PreparedUpdate(_closed), PreparedUpdate(_requeued)


def _close_offer(offer: Offer, *, state: Offer.State, reason: str = "", count_timeout: bool = False) -> bool:
    """Inside a transaction holding the offer row: close it and put its ticket back in the queue.

    Returns True when the agent was set away for missing too many offers in a row.
    """
    now = timezone.now()
    _offer_closed(None, offer_id=offer.pk, state=state, at=now, reason=mask_sensitive(reason)[:200])
    _back_in_queue(None, ticket_id=offer.ticket_id)
    agent = AgentProfile.objects.select_for_update().get(pk=offer.agent_id)
    agent.load = max(0, agent.load - 1)
    fields = ["load"]
    set_away = False
    if count_timeout:
        agent.consecutive_timeouts += 1
        fields.append("consecutive_timeouts")
        if agent.consecutive_timeouts >= settings.MAX_TIMEOUTS_IN_ROW and agent.status == AgentProfile.Status.AVAILABLE:
            agent.status = AgentProfile.Status.AWAY
            agent.status_changed_at = now
            agent.consecutive_timeouts = 0
            AgentStatusChange.objects.create(agent=agent, status=AgentProfile.Status.AWAY, at=now)
            fields += ["status", "status_changed_at"]
            set_away = True
    elif state == Offer.State.DECLINED:
        agent.consecutive_timeouts = 0
        fields.append("consecutive_timeouts")
    agent.save(update_fields=fields)
    ticket = Ticket.objects.select_related("brand").get(pk=offer.ticket_id)
    # A declined offer is already off the agent's screen: they closed it themselves.
    closed_reason = None if state == Offer.State.DECLINED else {Offer.State.EXPIRED: "expired"}.get(state, "cancelled")
    notify_offer_closed(offer=offer, ticket=ticket, reason=closed_reason)
    if set_away:
        notify_presence(agent=agent, brand_ids=list(agent.brands.values_list("pk", flat=True)), reason="missed_offers")
    return set_away


def offer_decline(*, agent: AgentProfile, offer_id: int, reason: str = "") -> None:
    """Decline a pending offer; the ticket goes to the next agent at once."""
    with transaction.atomic():
        offer = Offer.objects.select_for_update().filter(pk=offer_id, agent=agent, state=Offer.State.PENDING).first()
        if offer is None:
            _refuse_offer(agent, offer_id)
        _close_offer(offer, state=Offer.State.DECLINED, reason=reason or "")
    ticket_dispatch(ticket_id=offer.ticket_id)
    agent_dispatch(agent_id=agent.pk)


def offer_countdown_restart(*, offer_id: int, expires_at: datetime) -> bool:
    """Give a pending offer, delivered late, its countdown again from delivery (never
    shorter than it was). False when it is no longer pending: it is not shown then."""
    return (
        Offer.objects.filter(pk=offer_id, state=Offer.State.PENDING).update(
            expires_at=Greatest(F("expires_at"), Value(expires_at))
        )
        == 1
    )


def offers_expire_due(*, batch: int = 200) -> int:
    """Expire pending offers whose countdown ran out and offer their tickets to the next agent.

    Each offer is claimed with SKIP LOCKED in its own transaction (offer -> ticket -> agent,
    the global lock order), so concurrent sweepers split the work and an accept racing the
    expiry either wins (the row is no longer pending) or loses cleanly.
    """
    expired: list[int] = []
    for _ in range(batch):
        with transaction.atomic():
            offer = (
                Offer.objects.select_for_update(skip_locked=True)
                .filter(
                    state=Offer.State.PENDING,
                    expires_at__lte=timezone.now() - timedelta(seconds=settings.OFFER_EXPIRY_GRACE_SECONDS),
                )
                .order_by("expires_at")
                .first()
            )
            if offer is None:
                break
            _close_offer(offer, state=Offer.State.EXPIRED, count_timeout=True)
        expired.append(offer.ticket_id)
    for ticket_id in expired:
        ticket_dispatch(ticket_id=ticket_id)
    return len(expired)
