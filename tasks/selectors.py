"""Reads that span tables: who may take a ticket, where a customer stands in the queue."""

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.parsers import has_forbidden_characters

from .models import Attachment, Message, Offer, Ticket


def offer_timeout_seconds(ticket: Ticket) -> int:
    return ticket.brand.offer_timeout_seconds or settings.OFFER_TIMEOUT_SECONDS


def _misses(**where: Any) -> QuerySet[Offer]:
    """Offers an agent let expire or declined (a withdrawn offer is not the agent's doing)."""
    return Offer.objects.filter(state__in=[Offer.State.EXPIRED, Offer.State.DECLINED], **where)


def retry_cutoff() -> datetime:
    """An agent who missed or declined a ticket before this moment may be offered it again."""
    return timezone.now() - timedelta(seconds=settings.OFFER_RETRY_COOLDOWN_SECONDS)


def eligible_agents(ticket: Ticket) -> QuerySet[AgentProfile]:
    """Agents who may be offered `ticket` now, best first.

    Eligible: an agent who can take work (AgentProfile.objects.can_take_work), certified for
    the brand, speaking the language, with every skill tag. An agent who let this ticket's
    offer expire or declined it since it (re-)entered the queue is skipped for the
    OFFER_RETRY_COOLDOWN_SECONDS after that, and after it ranks behind every agent who has
    not missed it: nobody waits forever for want of a second agent, and a second agent
    is asked first. Ranking: the previous agent of a reopened ticket, then those who have
    not missed it, then quality score, then longest since last assignment (fairness), then
    id for a stable order.
    """
    qs = AgentProfile.objects.can_take_work().filter(brands=ticket.brand_id, languages__code=ticket.language)
    for tag in ticket.tags or []:
        qs = qs.filter(skills__code=tag)
    last_missed = (
        _misses(ticket_id=ticket.pk, agent=OuterRef("pk"), created_at__gte=ticket.queued_at)
        .order_by("-responded_at")
        .values("responded_at")[:1]
    )
    qs = qs.annotate(last_missed=Subquery(last_missed)).filter(
        Q(last_missed__isnull=True) | Q(last_missed__lte=retry_cutoff())
    )
    previous = ticket.previous_agent_id or 0
    return qs.annotate(
        is_previous=Case(When(pk=previous, then=Value(0)), default=Value(1), output_field=IntegerField()),
        missed_before=Case(
            When(last_missed__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()
        ),
    ).order_by("is_previous", "missed_before", "-quality_score", F("last_assigned_at").asc(nulls_first=True), "pk")


def waiting_tickets_for_agent(agent: AgentProfile, limit: int = 20) -> list[Ticket]:
    """Queued tickets this agent could take, in queue order (priority, then age), leaving
    out those they missed or declined within the retry cooldown.

    Uses the agent's prefetched languages and skills when the caller loaded them."""
    languages = agent.language_codes
    skills = set(agent.skill_codes)
    missed_recently = _misses(
        ticket=OuterRef("pk"), agent=agent, created_at__gte=OuterRef("queued_at"), responded_at__gt=retry_cutoff()
    )
    candidates = (
        Ticket.objects.filter(
            status=Ticket.Status.QUEUED,
            brand__in=AgentProfile.brands.through.objects.filter(agentprofile_id=agent.pk).values("brand_id"),
            language__in=languages,
        )
        .exclude(Exists(missed_recently))
        .order_by("-priority", "created_at")[:limit]
    )
    return [t for t in candidates if set(t.tags or []) <= skills]


def queue_positions(brand_id: int | None = None) -> dict[int, int]:
    """Position (1-based) of every waiting ticket within its brand and language queue."""
    qs = Ticket.objects.filter(status__in=Ticket.WAITING)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    rows = qs.order_by("brand_id", "language", "-priority", "created_at").values_list("pk", "brand_id", "language")
    positions: dict[int, int] = {}
    current_key = None
    position = 0
    for pk, brand, language in rows:
        if (brand, language) != current_key:
            current_key, position = (brand, language), 0
        position += 1
        positions[pk] = position
    return positions


def queue_position(ticket: Ticket) -> int:
    ahead = Ticket.objects.filter(brand_id=ticket.brand_id, language=ticket.language, status__in=Ticket.WAITING).filter(
        Q(priority__gt=ticket.priority) | Q(priority=ticket.priority, created_at__lt=ticket.created_at)
    )
    return ahead.count() + 1


def average_handle_seconds(brand_id: int) -> float:
    since = timezone.now() - timedelta(hours=24)
    stats = Ticket.objects.filter(brand_id=brand_id, resolved_at__gte=since, assigned_at__isnull=False).aggregate(
        avg=Avg(F("resolved_at") - F("assigned_at"))
    )
    avg: timedelta | None = stats["avg"]
    if avg is None:
        return float(settings.DEFAULT_HANDLE_SECONDS)
    return max(avg.total_seconds(), 1.0)


def estimate_wait_seconds(ticket: Ticket, position: int) -> int:
    """A rough wait: the queue ahead shared over the agents who could serve it."""
    if ticket.status == Ticket.Status.OFFERED:
        return offer_timeout_seconds(ticket)
    agents = (
        AgentProfile.objects.online()
        .filter(brands=ticket.brand_id, languages__code=ticket.language)
        .aggregate(slots=Count("pk"))["slots"]
    )
    return wait_estimate(position=position, agents=agents, handle_seconds=average_handle_seconds(ticket.brand_id))


def wait_estimate(*, position: int, agents: int, handle_seconds: float) -> int:
    """Rounds of handle time until `position` is served by `agents` (no agents: one at a time)."""
    return int(math.ceil(position / max(agents, 1)) * handle_seconds)


def message_page(ticket_id: int, *, before: int | None = None, limit: int) -> tuple[list[Message], bool]:
    """Up to `limit` messages of a ticket older than message id `before` (the newest when
    None), oldest first, and whether there are earlier ones. Served by the (ticket, id) index."""
    qs = Message.objects.filter(ticket_id=ticket_id).select_related("attachment")
    if before is not None:
        qs = qs.filter(id__lt=before)
    newest_first = list(qs.order_by("-id")[: limit + 1])
    return newest_first[:limit][::-1], len(newest_first) > limit


def ticket_messages(ticket_id: int) -> list[Message]:
    """The end of a conversation for a snapshot, oldest first: the newest SNAPSHOT_MESSAGES,
    plus one more when earlier ones exist, so frames.ticket_assigned_frame can say so."""
    newest_first = (Message.objects.filter(ticket_id=ticket_id).select_related("attachment").order_by("-id"))[
        : settings.SNAPSHOT_MESSAGES + 1
    ]
    return list(newest_first)[::-1]


def agent_open_tickets(agent: AgentProfile) -> list[Ticket]:
    return list(
        Ticket.objects.filter(agent=agent, status=Ticket.Status.ASSIGNED)
        .select_related("customer", "brand")
        .order_by("assigned_at")
    )


def agent_pending_offers(agent: AgentProfile) -> list[Offer]:
    return list(
        Offer.objects.filter(agent=agent, state=Offer.State.PENDING, expires_at__gt=timezone.now())
        .select_related("ticket")
        .order_by("created_at")
    )


def customer_ticket(token: str) -> Ticket | None:
    """The ticket a customer chat link opens, or None."""
    if has_forbidden_characters(token):
        return None  # a NUL from the URL would only make the query fail
    return Ticket.objects.select_related("brand", "agent").filter(customer_token=token).first()


def agent_for_user(user: Any) -> AgentProfile | None:
    """`user` is whatever the socket's scope holds: a User, an AnonymousUser, or nothing."""
    if not getattr(user, "is_authenticated", False):
        return None
    return AgentProfile.objects.filter(user=user).first()


def ticket_working_agent_id(ticket_id: int) -> int | None:
    """The agent working a ticket now, or None while it waits or is over."""
    return Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.ASSIGNED).values_list("agent_id", flat=True).first()


def customer_attachment(token: str, attachment_id: int) -> Attachment | None:
    """A file of the chat this link opens, or None."""
    if has_forbidden_characters(token):
        return None
    return Attachment.objects.filter(pk=attachment_id, message__ticket__customer_token=token).first()


def user_attachment(user: Any, ticket_id: int, attachment_id: int) -> Attachment | None:
    """A file of ticket `ticket_id` that `user` may download: the agent working the chat,
    or a supervisor of its brand. None for anyone else, whether it exists or not."""
    if not getattr(user, "is_authenticated", False):
        return None
    allowed = Q(message__ticket__agent__user=user, message__ticket__status=Ticket.Status.ASSIGNED) | Q(
        message__ticket__brand__supervisors=user
    )
    return Attachment.objects.filter(allowed, pk=attachment_id, message__ticket_id=ticket_id).first()
