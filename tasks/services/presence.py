"""Available / away / offline, the agent's open sockets and what happens when they are gone."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from agents.models import AgentConnection, AgentProfile, AgentStatusChange
from marketplace.errors import DomainError, Forbidden

from ..models import Offer, Ticket
from ..notify import (
    notify_agent_connection,
    notify_agent_connection_changed,
    notify_message,
    notify_presence,
    notify_ticket_changed,
)
from .conversation import _system_message
from .dispatch import agent_dispatch, ticket_dispatch
from .offers import _close_offer
from .shifts import shift_check_in

Status = Ticket.Status


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


def presence_set(
    *,
    agent: AgentProfile,
    status: str,
    reason: str | None = None,
    before_change: Callable[[AgentProfile], None] | None = None,
) -> AgentProfile:
    """Set available / away / offline. Leaving `available` withdraws pending offers.

    `reason` goes with the presence frame when someone else changed the status (a
    supervisor). `before_change(locked agent)` runs inside the status change's
    transaction, on the locked row as it was: it may refuse (a DomainError changes
    nothing) or write its record of the change (the audit log) in the same commit.

    Locks: the agent row alone for the status change, which commits before the pending
    offers are withdrawn (each offer -> ticket -> agent, like accept), so going away can
    never deadlock with an accept sent at the same moment: whichever claims the offer
    first wins, and after the status change no new offer reaches the agent.
    """
    if status not in AgentProfile.Status.values:
        raise DomainError("invalid_status", "Status must be available, away or offline.")
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update().get(pk=agent.pk)
        if before_change is not None:
            before_change(locked)
        if status == AgentProfile.Status.AVAILABLE and locked.suspended:
            raise Forbidden("suspended", "Your account is suspended; you cannot take tickets.")
        if locked.status != status:
            locked.status = status
            locked.status_changed_at = timezone.now()
            AgentStatusChange.objects.create(agent=locked, status=status, at=locked.status_changed_at)
        if status == AgentProfile.Status.AVAILABLE:
            locked.consecutive_timeouts = 0
            shift_check_in(agent_id=locked.pk, at=timezone.now())
        locked.save(update_fields=["status", "status_changed_at", "consecutive_timeouts"])
        notify_presence(agent=locked, brand_ids=list(locked.brands.values_list("pk", flat=True)), reason=reason)
    if status != AgentProfile.Status.AVAILABLE:
        for ticket_id in _rescind_pending_offers(locked.pk):
            ticket_dispatch(ticket_id=ticket_id)
        locked.refresh_from_db()
    else:
        agent_dispatch(agent_id=locked.pk)
    return locked


def _recount_connections(agent: AgentProfile, *, gone_since: datetime | None = None) -> int:
    """Inside a transaction holding the agent row: make `connections` the number of live
    connection rows; when it drops to zero, the grace period starts at `gone_since`."""
    count = AgentConnection.objects.filter(agent_id=agent.pk).count()
    fields: dict[str, Any] = {"connections": count}
    if count:
        fields["disconnected_at"] = None
    elif agent.connections or agent.disconnected_at is None:
        fields["disconnected_at"] = gone_since or timezone.now()
    AgentProfile.objects.filter(pk=agent.pk).update(**fields)
    return count


def _tell_customers(agent: AgentProfile, *, was: int, now: int) -> None:
    """Inside the transaction holding the agent row: when the agent's last socket went, or
    the first came back after that, the customers of their open chats hear of it, and the
    brands' live views see the agent (dis)connected. The tickets are only read, not
    locked, so the lock order stays agent -> connection rows."""
    if bool(was) != bool(now):
        agent.connections = now
        notify_agent_connection_changed(agent=agent, brand_ids=list(agent.brands.values_list("pk", flat=True)))
    if was and not now:
        state = "lost"
    elif not was and now and agent.disconnected_at is not None:
        state = "restored"
    else:
        return
    tickets = list(Ticket.objects.filter(agent_id=agent.pk, status=Status.ASSIGNED))
    if tickets:
        notify_agent_connection(agent=agent, tickets=tickets, state=state)


def agent_connected(*, agent_id: int, channel_name: str, server: str) -> None:
    """Record an open agent socket (idempotent per channel) and fill the agent's free slots.

    Locks: the agent row, then its connection rows."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        AgentConnection.objects.update_or_create(
            channel_name=channel_name, defaults={"agent_id": agent_id, "server": server, "seen_at": timezone.now()}
        )
        count = _recount_connections(agent)
        _tell_customers(agent, was=agent.connections, now=count)
    agent_dispatch(agent_id=agent_id)


def agent_disconnected(*, agent_id: int, channel_name: str) -> None:
    """Forget a closed socket. The grace period starts when the agent's last one closes;
    the customers of their open chats are told then."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        AgentConnection.objects.filter(channel_name=channel_name).delete()
        count = _recount_connections(agent)
        _tell_customers(agent, was=agent.connections, now=count)


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
            count = _recount_connections(agent, gone_since=last_seen)
            _tell_customers(agent, was=agent.connections, now=count)
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
        going = list(
            AgentProfile.objects.filter(pk__in=agents)
            .exclude(status=AgentProfile.Status.OFFLINE)
            .values_list("pk", flat=True)
        )
        now = timezone.now()
        AgentProfile.objects.filter(pk__in=going).update(status=AgentProfile.Status.OFFLINE, status_changed_at=now)
        AgentStatusChange.objects.bulk_create(
            [AgentStatusChange(agent_id=pk, status=AgentProfile.Status.OFFLINE, at=now) for pk in going]
        )
    requeued: list[int] = []
    for agent_id in agents:
        requeued += _rescind_pending_offers(agent_id)
        requeued += _requeue_assigned(
            agent_id,
            reason="agent_disconnected",
            note="Your agent lost their connection. We are connecting you with another agent.",
            unless_connected=True,
        )
    for ticket_id in requeued:
        ticket_dispatch(ticket_id=ticket_id)
    return len(requeued)


def _requeue_assigned(agent_id: int, *, reason: str, note: str, unless_connected: bool = False) -> list[int]:
    """Give the agent's assigned tickets back to the queue with their history (previous
    agent recorded, the customer told): one transaction, ticket rows before the agent's."""
    requeued: list[int] = []
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(of=("self",))
            .select_related("brand")
            .filter(agent_id=agent_id, status=Status.ASSIGNED)
            .order_by("pk")
        )
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        if unless_connected and agent.connections:
            return []  # reconnected meanwhile: the chats stay theirs
        now = timezone.now()
        for ticket in tickets:
            ticket.status = Status.QUEUED
            ticket.previous_agent_id = agent_id
            ticket.agent = None
            ticket.queued_at = now
            ticket.queue_reason = reason
            ticket.save(update_fields=["status", "previous_agent", "agent", "queued_at", "queue_reason"])
            notify_message(message=_system_message(ticket, note), agent_id=None)
            notify_ticket_changed(ticket=ticket)
            requeued.append(ticket.pk)
        AgentProfile.objects.filter(pk=agent_id).update(load=Greatest(F("load") - len(tickets), 0))
    return requeued


def agent_take_off_duty(*, agent_id: int, reason: str) -> int:
    """A suspended agent stops working at once: offline, pending offers withdrawn, open chats
    handed to another agent (the customers told). Returns how many tickets went back."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().get(pk=agent_id)
        if agent.status != AgentProfile.Status.OFFLINE:
            agent.status = AgentProfile.Status.OFFLINE
            agent.status_changed_at = timezone.now()
            agent.save(update_fields=["status", "status_changed_at"])
            AgentStatusChange.objects.create(agent=agent, status=agent.status, at=agent.status_changed_at)
        notify_presence(agent=agent, brand_ids=list(agent.brands.values_list("pk", flat=True)), reason=reason)
    requeued = _rescind_pending_offers(agent_id)
    requeued += _requeue_assigned(
        agent_id, reason=reason, note="Your agent had to leave. We are connecting you with another agent."
    )
    for ticket_id in requeued:
        ticket_dispatch(ticket_id=ticket_id)
    return len(requeued)
