"""Every write to tickets, offers and messages, and the dispatch engine.

Concurrency rules (docs/architecture.md, "Lock order"):
- A state change is one transaction. Work is claimed with `select_for_update(skip_locked=True)`
  or a conditional `UPDATE ... WHERE state = ...` whose row count is checked, so two
  workers doing the same thing is harmless.
- One lock order for every path: offer -> ticket -> agent profile -> agent connection
  rows, one chain per transaction. A path that starts from the agent (going away, the
  disconnect release) changes the agent in its own transaction first and then takes each
  offer or ticket in a transaction of its own. Dispatch only skips locked agents
  (SKIP LOCKED) and never waits on them.
- Socket pushes are queued with `transaction.on_commit` (see realtime.push).
- Dispatch runs after the transaction that freed capacity or queued a ticket has
  committed: the functions here call it explicitly once their own atomic block is done.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from agents.models import AgentConnection, AgentProfile
from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.masking import mask_sensitive
from marketplace.models import Brand, IdempotencyRecord
from payouts.services import earning_credit, earning_reverse, rate_for

from . import frames, selectors
from .models import Customer, Message, Offer, Ticket
from .realtime import push_agent, push_customer

log = logging.getLogger(__name__)

Status = Ticket.Status


# --- Ticket intake -------------------------------------------------------------------------


@dataclass
class TicketCreated:
    ticket: Ticket | None
    response: dict
    replayed: bool = False


def _request_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def ticket_create(
    *, brand: Brand, data: dict, idempotency_key: str | None = None, chat_url_for=None
) -> TicketCreated:
    """Queue a conversation handed over by a brand system, then offer it.

    `data` is already validated (see tasks.api.TicketCreateSerializer). With an
    `idempotency_key`, the first response is stored in the same transaction as the ticket,
    and a retry (even a concurrent one: it waits on the unique index) gets it back.
    `chat_url_for(token)` builds the customer's absolute chat URL.
    """
    with transaction.atomic():
        record = None
        if idempotency_key:
            record, created = IdempotencyRecord.objects.get_or_create(
                brand=brand, key=idempotency_key, defaults={"request_hash": _request_hash(data)}
            )
            if not created:
                if record.request_hash != _request_hash(data):
                    raise DomainError(
                        "idempotency_key_reused",
                        "This Idempotency-Key was used with a different request body.",
                        status=422,
                    )
                return TicketCreated(ticket=None, response=record.response_body, replayed=True)

        customer_data = data["customer"]
        # One upsert round trip instead of select-then-insert/update.
        (customer,) = Customer.objects.bulk_create(
            [
                Customer(
                    brand=brand,
                    # Some brands use a card number or IBAN as the customer id; stored
                    # masked, ids that mask alike share one customer row.
                    external_id=mask_sensitive(customer_data["external_id"]),
                    name=mask_sensitive(customer_data["name"]),
                    email=customer_data.get("email") or "",
                )
            ],
            update_conflicts=True,
            unique_fields=["brand", "external_id"],
            update_fields=["name", "email"],
        )
        transcript = [
            {"role": turn["role"], "text": mask_sensitive(turn["text"]), "at": turn.get("at")}
            for turn in data.get("transcript") or []
        ]
        ticket = Ticket.objects.create(
            brand=brand,
            customer=customer,
            language=data["language"],
            subject=mask_sensitive(data["subject"]),
            category=data.get("category") or "",
            priority=data.get("priority", Ticket.Priority.NORMAL),
            tags=sorted(set(data.get("tags") or [])),
            transcript=transcript,
            summary=mask_sensitive(data.get("summary") or ""),
            queue_reason="new",
        )
        response = {
            "id": ticket.pk,
            "status": ticket.status,
            "customer_token": ticket.customer_token,
            "customer_chat_url": chat_url_for(ticket.customer_token) if chat_url_for else None,
        }
        if record is not None:
            record.response_status = 201
            record.response_body = response
            record.save(update_fields=["response_status", "response_body"])
        # Offer it in the same transaction: the new row is ours alone until commit, so it
        # needs no lock, and the agent hears of it the moment it exists. A savepoint keeps
        # a failed dispatch from losing the ticket: it stays queued for the sweeper.
        try:
            with transaction.atomic():
                _offer_to_best_agent(ticket)
        except DatabaseError:
            log.exception("dispatch of new ticket %s failed; left for the sweeper", ticket.pk)
    return TicketCreated(ticket=ticket, response=response)


# --- Dispatch ------------------------------------------------------------------------------


def ticket_dispatch(*, ticket_id: int) -> Offer | None:
    """Offer a queued ticket to the best eligible agent, if there is one.

    Locks: the ticket (skip locked: someone else is dispatching it) then the chosen agent
    profile (skip locked: take the next best rather than wait). Returns the offer or None
    when the ticket is not queued or nobody is eligible; then it simply waits.
    """
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("brand")
            .filter(pk=ticket_id, status=Status.QUEUED)
            .first()
        )
        if ticket is None:
            return None
        return _offer_to_best_agent(ticket)


def _offer_to_best_agent(ticket: Ticket) -> Offer | None:
    """Inside a transaction that holds the queued `ticket`: offer it to the best eligible
    agent, locking that agent's row (skip locked: take the next best rather than wait)."""
    agent = selectors.eligible_agents(ticket).select_for_update(skip_locked=True, of=("self",)).first()
    if agent is None:
        return None
    now = timezone.now()
    offer = Offer.objects.create(
        ticket=ticket,
        agent=agent,
        pay_amount_minor=rate_for(brand_id=ticket.brand_id, category=ticket.category),
        currency=ticket.brand.currency,
        expires_at=now + timedelta(seconds=selectors.offer_timeout_seconds(ticket)),
    )
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.OFFERED)
    AgentProfile.objects.filter(pk=agent.pk).update(load=F("load") + 1)
    ticket.status = Status.OFFERED
    push_agent(agent.pk, frames.offer_frame(offer, ticket))
    push_customer(ticket.pk, frames.customer_ticket_updated_frame(ticket, queue_position=1))
    return offer


def agent_dispatch(*, agent_id: int) -> int:
    """Fill an agent's free capacity from the queue (highest priority, then oldest first).

    Each ticket still goes through `ticket_dispatch`, so the ranking rules hold: if a better
    agent is free too, they get it. Returns the number of offers made.
    """
    made = 0
    if not Ticket.objects.filter(status=Status.QUEUED).exists():
        return 0  # the common case when agents outnumber customers: one cheap query
    for _ in range(10):  # bounded: capacity is small
        agent = (
            AgentProfile.objects.filter(
                pk=agent_id,
                status=AgentProfile.Status.AVAILABLE,
                suspended=False,
                connections__gt=0,
                load__lt=F("capacity"),
            )
            .prefetch_related("languages", "skills")
            .first()
        )
        if agent is None:
            return made
        progressed = False
        for ticket in selectors.waiting_tickets_for_agent(agent):
            if ticket_dispatch(ticket_id=ticket.pk) is not None:
                made += 1
                progressed = True
                break
        if not progressed:
            return made
    return made


def dispatch_waiting(*, limit: int = 100, give_up_after: int = 20) -> int:
    """Safety net run by the sweeper: try queued tickets in queue order.

    The event paths (new ticket, freed slot, expiry) dispatch at once; this catches what
    they could not (every free agent was locked by a concurrent transaction, a crash
    between commit and dispatch). It skips the work when no agent has a free slot, and
    stops after `give_up_after` misses in a row, since the rest of the queue is waiting
    for the same lack of agents.
    """
    free = AgentProfile.objects.filter(
        status=AgentProfile.Status.AVAILABLE, suspended=False, connections__gt=0, load__lt=F("capacity")
    )
    if not free.exists():
        return 0
    made = misses = 0
    queued = Ticket.objects.filter(status=Status.QUEUED).order_by("-priority", "created_at").values_list("pk", flat=True)
    for ticket_id in list(queued[:limit]):
        if ticket_dispatch(ticket_id=ticket_id) is not None:
            made += 1
            misses = 0
        else:
            misses += 1
            if misses >= give_up_after:
                break
    return made


# --- Offers --------------------------------------------------------------------------------


def _refuse_offer(agent: AgentProfile, offer_id: int) -> None:
    """Explain why a conditional update on an offer matched nothing."""
    offer = Offer.objects.filter(pk=offer_id).first()
    if offer is None or offer.agent_id != agent.pk:
        raise NotFound("offer_not_found", "There is no such offer for you.")
    if offer.state == Offer.State.PENDING or offer.state == Offer.State.EXPIRED:
        raise Conflict("offer_expired", "This offer has expired.")
    if offer.state == Offer.State.ACCEPTED:
        raise Conflict("offer_already_accepted", "You already accepted this offer.")
    raise Conflict("offer_closed", f"This offer is no longer open ({offer.state}).")


def offer_accept(*, agent: AgentProfile, offer_id: int) -> Ticket:
    """Accept a pending, unexpired offer made to `agent`: the ticket is assigned to them.

    The claim is `UPDATE offer SET state=accepted WHERE id=.. AND agent=.. AND state=pending
    AND expires_at > now`; only one caller can see a row count of 1, so however many
    accepts race, one wins and the others get a clear refusal.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Offer.objects.filter(
            pk=offer_id, agent=agent, state=Offer.State.PENDING, expires_at__gt=now
        ).update(state=Offer.State.ACCEPTED, responded_at=now)
        if claimed != 1:
            _refuse_offer(agent, offer_id)
        offer = Offer.objects.get(pk=offer_id)
        assigned = Ticket.objects.filter(pk=offer.ticket_id, status=Status.OFFERED).update(
            status=Status.ASSIGNED, agent=agent, assigned_at=now, pay_amount_minor=offer.pay_amount_minor,
            queue_reason="",
        )
        if assigned != 1:  # cannot happen while the one-pending-offer invariant holds
            raise Conflict("offer_closed", "This ticket is no longer waiting.")
        AgentProfile.objects.filter(pk=agent.pk).update(consecutive_timeouts=0, last_assigned_at=now)
        ticket = Ticket.objects.select_related("customer", "brand").get(pk=offer.ticket_id)
        messages = selectors.ticket_messages(ticket.pk)
        push_agent(agent.pk, frames.ticket_assigned_frame(ticket, messages))
        push_customer(ticket.pk, frames.customer_ticket_updated_frame(ticket, agent_name=agent.display_name))
    return ticket


def _close_offer(offer: Offer, *, state: str, reason: str = "", count_timeout: bool = False) -> bool:
    """Inside a transaction holding the offer row: close it and put its ticket back in the queue.

    Returns True when the agent was set away for missing too many offers in a row.
    """
    now = timezone.now()
    Offer.objects.filter(pk=offer.pk).update(
        state=state, responded_at=now, decline_reason=mask_sensitive(reason)[:200]
    )
    Ticket.objects.filter(pk=offer.ticket_id, status=Status.OFFERED).update(status=Status.QUEUED)
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
            fields += ["status", "status_changed_at"]
            set_away = True
    elif state == Offer.State.DECLINED:
        agent.consecutive_timeouts = 0
        fields.append("consecutive_timeouts")
    agent.save(update_fields=fields)
    rescind_reason = {Offer.State.EXPIRED: "expired"}.get(state, "cancelled")
    if state != Offer.State.DECLINED:
        push_agent(agent.pk, frames.offer_rescinded_frame(offer.pk, rescind_reason))
    if set_away:
        push_agent(agent.pk, frames.presence_frame(agent.status, reason="missed_offers"))
    return set_away


def offer_decline(*, agent: AgentProfile, offer_id: int, reason: str = "") -> None:
    """Decline a pending offer; the ticket goes to the next agent at once."""
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update()
            .filter(pk=offer_id, agent=agent, state=Offer.State.PENDING)
            .first()
        )
        if offer is None:
            _refuse_offer(agent, offer_id)
        _close_offer(offer, state=Offer.State.DECLINED, reason=reason or "")
    ticket_dispatch(ticket_id=offer.ticket_id)
    agent_dispatch(agent_id=agent.pk)


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
                .filter(state=Offer.State.PENDING, expires_at__lte=timezone.now())
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


# --- Presence and connections -------------------------------------------------------------


def _rescind_pending_offers(agent_id: int) -> list[int]:
    """Withdraw the agent's pending offers, one transaction each in the global lock order
    (offer -> ticket -> agent). Returns the ids of the tickets put back in the queue."""
    requeued: list[int] = []
    for offer_id in list(
        Offer.objects.filter(agent_id=agent_id, state=Offer.State.PENDING).order_by("pk").values_list("pk", flat=True)
    ):
        with transaction.atomic():
            offer = Offer.objects.select_for_update().filter(pk=offer_id, state=Offer.State.PENDING).first()
            if offer is None:  # accepted, declined or expired meanwhile
                continue
            _close_offer(offer, state=Offer.State.RESCINDED)
            requeued.append(offer.ticket_id)
    return requeued


def presence_set(*, agent: AgentProfile, status: str) -> AgentProfile:
    """Set available / away / offline. Leaving `available` withdraws pending offers.

    Locks: the agent row alone for the status change, which commits before the pending
    offers are withdrawn (each offer -> ticket -> agent, like accept), so going away can
    never deadlock with an accept sent at the same moment: whichever claims the offer
    first wins, and after the status change no new offer reaches the agent.
    """
    if status not in AgentProfile.Status.values:
        raise DomainError("invalid_status", "Status must be available, away or offline.")
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update().get(pk=agent.pk)
        if status == AgentProfile.Status.AVAILABLE and locked.suspended:
            raise Forbidden("suspended", "Your account is suspended; you cannot take tickets.")
        if locked.status != status:
            locked.status = status
            locked.status_changed_at = timezone.now()
        if status == AgentProfile.Status.AVAILABLE:
            locked.consecutive_timeouts = 0
        locked.save(update_fields=["status", "status_changed_at", "consecutive_timeouts"])
        push_agent(locked.pk, frames.presence_frame(locked.status))
    if status != AgentProfile.Status.AVAILABLE:
        for ticket_id in _rescind_pending_offers(locked.pk):
            ticket_dispatch(ticket_id=ticket_id)
        locked.refresh_from_db()
    else:
        agent_dispatch(agent_id=locked.pk)
    return locked


def _recount_connections(agent: AgentProfile, *, gone_since=None) -> int:
    """Inside a transaction holding the agent row: make `connections` the number of live
    connection rows; when it drops to zero, the grace period starts at `gone_since`."""
    count = AgentConnection.objects.filter(agent_id=agent.pk).count()
    fields = {"connections": count}
    if count:
        fields["disconnected_at"] = None
    elif agent.connections or agent.disconnected_at is None:
        fields["disconnected_at"] = gone_since or timezone.now()
    AgentProfile.objects.filter(pk=agent.pk).update(**fields)
    return count


def agent_connected(*, agent_id: int, channel_name: str, server: str) -> None:
    """Record an open agent socket (idempotent per channel) and fill the agent's free slots.

    Locks: the agent row, then its connection rows."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        AgentConnection.objects.update_or_create(
            channel_name=channel_name, defaults={"agent_id": agent_id, "server": server, "seen_at": timezone.now()}
        )
        _recount_connections(agent)
    agent_dispatch(agent_id=agent_id)


def agent_disconnected(*, agent_id: int, channel_name: str) -> None:
    """Forget a closed socket. The grace period starts when the agent's last one closes."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        AgentConnection.objects.filter(channel_name=channel_name).delete()
        _recount_connections(agent)


def agent_connections_heartbeat(*, connections: dict[str, int], server: str) -> int:
    """Mark the sockets this process still holds as alive (`channel name -> agent id`).

    One UPDATE for all of them; a row the sweeper already removed (the process stalled past
    the TTL) is recorded again, so a live socket never stays counted as gone. Returns the
    number of rows refreshed."""
    if not connections:
        return 0
    refreshed = AgentConnection.objects.filter(channel_name__in=list(connections)).update(seen_at=timezone.now())
    if refreshed < len(connections):
        present = set(
            AgentConnection.objects.filter(channel_name__in=list(connections)).values_list("channel_name", flat=True)
        )
        for channel_name, agent_id in connections.items():
            if channel_name not in present:
                agent_connected(agent_id=agent_id, channel_name=channel_name, server=server)
    return refreshed


def agent_connections_expire(*, batch: int = 200) -> int:
    """Remove connection rows whose heartbeat stopped (a killed process, a crashed consumer
    whose cleanup never ran) and recount their agents; an agent left with none starts the
    grace period from the moment it was last seen alive. Returns the rows removed."""
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_CONNECTION_TTL_SECONDS)
    agent_ids = list(
        AgentConnection.objects.filter(seen_at__lt=cutoff).values_list("agent_id", flat=True).distinct()[:batch]
    )
    removed = 0
    for agent_id in agent_ids:
        with transaction.atomic():
            agent = AgentProfile.objects.select_for_update(skip_locked=True).filter(pk=agent_id).first()
            if agent is None:
                continue  # being changed right now; the next sweep looks again
            stale = AgentConnection.objects.filter(agent_id=agent_id, seen_at__lt=cutoff)
            last_seen = max(stale.values_list("seen_at", flat=True), default=None)
            removed += stale.delete()[0]
            _recount_connections(agent, gone_since=last_seen)
    return removed


def agents_release_disconnected(*, batch: int = 100) -> int:
    """After the grace period, give a disconnected agent's work back to the queue.

    The agent goes offline first (so no new offer reaches them); then pending offers are
    withdrawn and assigned tickets re-queued with their history (previous agent recorded,
    reason `agent_disconnected`), the customer told. Each step is its own transaction in
    the global lock order (offer -> ticket -> agent); an agent who came back in between
    keeps their chats.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.AGENT_GRACE_SECONDS)
    with transaction.atomic():
        agents = list(
            AgentProfile.objects.select_for_update(skip_locked=True)
            .filter(connections=0, disconnected_at__lte=cutoff)
            .exclude(status=AgentProfile.Status.OFFLINE, load=0)
            .values_list("pk", flat=True)[:batch]
        )
        AgentProfile.objects.filter(pk__in=agents).exclude(status=AgentProfile.Status.OFFLINE).update(
            status=AgentProfile.Status.OFFLINE, status_changed_at=timezone.now()
        )
    requeued: list[int] = []
    for agent_id in agents:
        requeued += _rescind_pending_offers(agent_id)
        with transaction.atomic():
            tickets = list(
                Ticket.objects.select_for_update().filter(agent_id=agent_id, status=Status.ASSIGNED).order_by("pk")
            )
            agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
            if agent.connections:
                continue  # reconnected meanwhile: the chats stay theirs
            now = timezone.now()
            for ticket in tickets:
                ticket.status = Status.QUEUED
                ticket.previous_agent_id = agent_id
                ticket.agent = None
                ticket.queued_at = now
                ticket.queue_reason = "agent_disconnected"
                ticket.save(update_fields=["status", "previous_agent", "agent", "queued_at", "queue_reason"])
                note = _system_message(
                    ticket, "Your agent lost their connection. We are connecting you with another agent."
                )
                push_customer(ticket.pk, frames.message_frame(note))
                push_customer(ticket.pk, frames.customer_ticket_updated_frame(ticket))
                requeued.append(ticket.pk)
            AgentProfile.objects.filter(pk=agent_id).update(load=Greatest(F("load") - len(tickets), 0))
    for ticket_id in requeued:
        ticket_dispatch(ticket_id=ticket_id)
    return len(requeued)


# --- Conversation --------------------------------------------------------------------------


def _clean_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DomainError("invalid_text", "Message text must be a non-empty string.")
    if len(text) > settings.MESSAGE_MAX_CHARS:
        raise DomainError(
            "text_too_long", f"Messages are limited to {settings.MESSAGE_MAX_CHARS} characters ({len(text)} sent)."
        )
    return mask_sensitive(text.strip())


def _system_message(ticket: Ticket, text: str) -> Message:
    return Message.objects.create(ticket=ticket, sender=Message.Sender.SYSTEM, text=text)


def _agent_ticket(agent: AgentProfile, ticket_id) -> Ticket:
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


def message_send_agent(*, agent: AgentProfile, ticket_id, text) -> Message:
    clean = _clean_text(text)
    with transaction.atomic():
        ticket = _agent_ticket(agent, ticket_id)
        message = Message.objects.create(ticket=ticket, sender=Message.Sender.AGENT, author=agent.user, text=clean)
        frame = frames.message_frame(message)
        push_agent(agent.pk, frame)
        push_customer(ticket.pk, frame)
    return message


def message_send_customer(*, ticket: Ticket, text) -> Message:
    clean = _clean_text(text)
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if not locked.is_open:
            raise Conflict("ticket_not_open", f"This conversation is {locked.status}; reopen it to write again.")
        message = Message.objects.create(ticket=locked, sender=Message.Sender.CUSTOMER, text=clean)
        frame = frames.message_frame(message)
        push_customer(locked.pk, frame)
        if locked.status == Status.ASSIGNED and locked.agent_id:
            push_agent(locked.agent_id, frame)
    return message


def ticket_resolve(*, agent: AgentProfile, ticket_id) -> Ticket:
    """Mark the agent's assigned ticket resolved, credit the case, and free the slot."""
    with transaction.atomic():
        ticket = _agent_ticket(agent, ticket_id)
        ticket.status = Status.RESOLVED
        ticket.resolved_at = timezone.now()
        ticket.resolution_count += 1
        ticket.save(update_fields=["status", "resolved_at", "resolution_count"])
        AgentProfile.objects.filter(pk=agent.pk, load__gt=0).update(load=F("load") - 1)
        earning_credit(ticket=ticket, agent=agent, amount_minor=ticket.pay_amount_minor or 0)
        push_agent(agent.pk, frames.agent_ticket_updated_frame(ticket.pk, ticket.status))
        push_customer(ticket.pk, frames.customer_ticket_updated_frame(ticket, agent_name=agent.display_name))
    agent_dispatch(agent_id=agent.pk)
    return ticket


def ticket_rate(*, ticket: Ticket, score, comment: str = "") -> Ticket:
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
        push_customer(locked.pk, frames.customer_ticket_updated_frame(locked))
        if locked.agent_id:
            push_agent(locked.agent_id, frames.agent_ticket_updated_frame(locked.pk, locked.status, rating=score))
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
        push_customer(locked.pk, frames.message_frame(note))
        push_customer(locked.pk, frames.customer_ticket_updated_frame(locked))
        if previous:
            push_agent(previous, frames.agent_ticket_updated_frame(locked.pk, locked.status))
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
            elif ticket.status == Status.ASSIGNED:
                AgentProfile.objects.filter(pk=ticket.agent_id, load__gt=0).update(load=F("load") - 1)
                push_agent(ticket.agent_id, frames.agent_ticket_updated_frame(ticket.pk, Status.CANCELLED))
                freed = ticket.agent_id
            ticket.status = Status.CANCELLED
            ticket.closed_at = timezone.now()
            ticket.save(update_fields=["status", "closed_at"])
            push_customer(ticket.pk, frames.customer_ticket_updated_frame(ticket))
        if freed:
            agent_dispatch(agent_id=freed)
        return ticket
    raise Conflict("ticket_busy", "The ticket is changing right now; try again.")
