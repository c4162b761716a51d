"""Reads that span tables: who may take a ticket, where a customer stands in the queue."""

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext

from agents.models import AgentProfile
from marketplace.parsers import has_forbidden_characters
from marketplace.prepared import PreparedQuery, totals
from marketplace.unavailable import UNAVAILABLE_ERRORS

from . import rows
from .models import Attachment, Message, Offer, Ticket
from .shift_selectors import agents_checked_in_now, checked_in_now, shift_bonus_now


def offer_timeout_seconds(ticket: Ticket) -> int:
    return ticket.brand.offer_timeout_seconds or settings.OFFER_TIMEOUT_SECONDS


def _misses(**where: Any) -> QuerySet[Offer]:
    """Offers an agent let expire or declined (a withdrawn offer is not the agent's doing)."""
    return Offer.objects.filter(state__in=[Offer.State.EXPIRED, Offer.State.DECLINED], **where)


def retry_cutoff() -> datetime:
    """An agent who missed or declined a ticket before this moment may be offered it again."""
    return timezone.now() - timedelta(seconds=settings.OFFER_RETRY_COOLDOWN_SECONDS)


TIER_ORDER = [AgentProfile.Tier.PROBATION, AgentProfile.Tier.STANDARD, AgentProfile.Tier.EXPERT]


def tiers_from(floor: str) -> list[str]:
    """The tiers at or above `floor` ("" = no floor: every tier)."""
    if not floor:
        return list(TIER_ORDER)
    return [str(t) for t in TIER_ORDER[TIER_ORDER.index(AgentProfile.Tier(floor)) :]]


def floors_admitting(tier: str) -> list[str]:
    """The brand floors an agent of `tier` passes ("" = no floor)."""
    return ["", *[str(t) for t in TIER_ORDER[: TIER_ORDER.index(AgentProfile.Tier(tier)) + 1]]]


def matching_key(ticket: Ticket) -> tuple[int, str, tuple[str, ...], str]:
    """What `matching_agents` reads of a ticket, as widened: (brand, language, the skill tags
    still asked, the tier floor still applied, "" for none). `ticket.brand` is read, so load
    it with the ticket."""
    tags = tuple(ticket.tags or []) if ticket.widen_level < 1 else ()
    floor = ticket.brand.dispatch_min_tier if ticket.widen_level < 2 else ""
    return (ticket.brand_id, ticket.language, tags, floor or "")


def matching_agents(ticket: Ticket, agents: QuerySet[AgentProfile]) -> QuerySet[AgentProfile]:
    """The one definition of who may work `ticket`, applied to `agents`: certified for the
    brand, speaking the language, with every skill tag (until the ticket is widened past its
    skills), of the brand's lowest tier or above (until it is widened past tiers).

    Dispatch applies it to the agents who can take work now (`best_eligible_agent`), the wait
    estimate to those online (`waiting_staff`)."""
    brand_id, language, tags, floor = matching_key(ticket)
    return _matching(agents, brand_id=brand_id, language=language, tags=tags, floor=floor)


def _matching(
    agents: QuerySet[AgentProfile], *, brand_id: Any, language: Any, tags: Sequence[Any], floor: str
) -> QuerySet[AgentProfile]:
    qs = agents.filter(brands=brand_id, languages__code=language)
    for tag in tags:
        qs = qs.filter(skills__code=tag)
    if floor:
        qs = qs.filter(tier__in=tiers_from(floor))
    return qs


# The parts of the ranking, taken in turn until one gives an agent (`best_eligible_agent`).
PREVIOUS, ON_SHIFT, OTHERS, MISSED = "previous", "on_shift", "others", "missed"


def _eligible(
    shape: tuple[int, str, str],
    *,
    brand_id: int,
    language: str,
    tags: Sequence[str],
    ticket_id: int,
    queued_at: datetime,
    cutoff: datetime,
    previous: int,
    now: datetime,
) -> QuerySet[AgentProfile]:
    _, floor, part = shape
    qs = _matching(AgentProfile.objects.can_take_work(), brand_id=brand_id, language=language, tags=tags, floor=floor)
    # EXISTS rather than the time of the latest miss: PostgreSQL runs the first as an
    # anti-join and the others stop at one row. A miss always has its responded_at
    # (offers._close_offer).
    misses = _misses(ticket_id=ticket_id, agent=OuterRef("pk"), created_at__gte=queued_at)
    qs = qs.exclude(Exists(misses.filter(responded_at__gt=cutoff)))
    missed = Exists(misses)
    on_shift = checked_in_now(brand_id, now=now)
    order: list[Any] = ["-quality_score", F("last_assigned_at").asc(nulls_first=True), "pk"]
    if part == PREVIOUS:
        qs = qs.filter(pk=previous)
    else:
        qs = qs.exclude(pk=previous)
        if part == ON_SHIFT:
            qs = qs.filter(pk__in=agents_checked_in_now(brand_id, now=now)).exclude(missed)
        elif part == OTHERS:
            # Everyone else, in the order of the index agent_rank_idx: PostgreSQL walks it
            # and stops at the first agent who matches and is not locked, where sorting
            # every available agent cost a few milliseconds with 500 of them.
            qs = qs.exclude(on_shift).exclude(missed)
        else:
            qs = qs.filter(missed)
            order.insert(0, on_shift.desc())
    return (
        # The per-case bonus of the agent's running shift, if any: part of the offer's pay.
        qs.annotate(shift_bonus_minor=shift_bonus_now(brand_id, now=now))
        .order_by(*order)
        .select_for_update(skip_locked=True, of=("self",))[:1]
    )


_best_eligible = PreparedQuery(_eligible)


def eligible_values(ticket: Ticket, *, now: datetime) -> tuple[tuple[int, str], dict[str, Any]]:
    """The shape (without the part) and values of `ticket`'s eligible-agents query."""
    brand_id, language, tags, floor = matching_key(ticket)
    values = {
        "brand_id": brand_id,
        "language": language,
        "tags": list(tags),
        "ticket_id": ticket.pk,
        "queued_at": ticket.queued_at,
        "cutoff": retry_cutoff(),
        "previous": ticket.previous_agent_id or 0,
        "now": now,
    }
    return (len(tags), floor), values


def best_eligible_agent(ticket: Ticket) -> AgentProfile | None:
    """The agent to offer `ticket` to now, its row locked (skip locked: the next best rather
    than wait), with `shift_bonus_minor` set; None when nobody is eligible. Call it in the
    transaction that holds the queued ticket.

    Eligible: an agent who can take work (AgentProfile.objects.can_take_work) and matches
    the ticket (`matching_agents`: brand, language, skills, tier, as widened). An agent who let this ticket's
    offer expire or declined it since it (re-)entered the queue is skipped for the
    OFFER_RETRY_COOLDOWN_SECONDS after that, and after it ranks behind every agent who has
    not missed it: nobody waits forever for want of a second agent, and a second agent
    is asked first. Ranking: the previous agent of a reopened ticket, then those who have
    not missed it, then agents checked in on a running shift of the ticket's brand, then
    quality score, then longest since last assignment (fairness), then id for a stable order.

    The ranking is asked part by part (the previous agent; those on shift; everyone else;
    those who missed it), each part a query compiled once per shape (marketplace/prepared.py),
    so the largest part is read in index order rather than sorted whole.
    """
    shape, values = eligible_values(ticket, now=timezone.now())
    for part in (PREVIOUS, ON_SHIFT, OTHERS, MISSED) if values["previous"] else (ON_SHIFT, OTHERS, MISSED):
        agent: AgentProfile | None = _best_eligible.first((*shape, part), **values)
        if agent is not None:
            return agent
    return None


def _waiting_for(
    shape: tuple[int, str, int], *, agent_id: int, languages: list[str], cutoff: datetime
) -> QuerySet[Ticket]:
    _, tier, limit = shape
    missed_recently = _misses(
        ticket=OuterRef("pk"), agent_id=agent_id, created_at__gte=OuterRef("queued_at"), responded_at__gt=cutoff
    )
    return (
        Ticket.objects.filter(
            status=Ticket.Status.QUEUED,
            brand__in=AgentProfile.brands.through.objects.filter(agentprofile_id=agent_id).values("brand_id"),
            language__in=languages,
        )
        # The tier rule of matching_agents, on the ticket's side.
        .filter(Q(widen_level__gte=2) | Q(brand__dispatch_min_tier__in=floors_admitting(tier)))
        .exclude(Exists(missed_recently))
        .order_by("-priority", "created_at")[:limit]
    )


# Run for every freed slot while tickets wait: compiled once per shape (marketplace/prepared.py).
_waiting_tickets = PreparedQuery(_waiting_for)


def waiting_tickets_for_agent(
    agent: AgentProfile, *, languages: list[str], skills: list[str], limit: int = 20
) -> list[Ticket]:
    """Queued tickets this agent (who speaks `languages` and has `skills`) could take, in
    queue order (priority, then age), leaving out those they missed or declined within the
    retry cooldown.

    The mirror of `matching_agents` from the agent's side (a ticket it lets through still
    goes through `ticket_dispatch`, which applies the real rule)."""
    if not languages:
        return []
    candidates = _waiting_tickets(
        (len(languages), agent.tier, limit), agent_id=agent.pk, languages=languages, cutoff=retry_cutoff()
    )
    return [t for t in candidates if t.widen_level >= 1 or set(t.tags or []) <= set(skills)]


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


def _ahead(_shape: None, *, brand_id: int, language: str, priority: int, created_at: datetime) -> QuerySet[Ticket]:
    ahead = Ticket.objects.filter(brand_id=brand_id, language=language, status__in=Ticket.WAITING).filter(
        Q(priority__gt=priority) | Q(priority=priority, created_at__lt=created_at)
    )
    return totals(ahead, n=Count("pk"))


# The queries a customer's socket runs on every (re)connect, and the sweeper for every
# waiting ticket, are compiled once (marketplace/prepared.py).
_tickets_ahead = PreparedQuery(_ahead)


def queue_position(ticket: Ticket) -> int:
    [(ahead,)] = _tickets_ahead(
        None,
        brand_id=ticket.brand_id,
        language=ticket.language,
        priority=ticket.priority,
        created_at=ticket.created_at,
    )
    return int(ahead) + 1


def _handle_time(_shape: None, *, brand_id: int, since: datetime) -> QuerySet[Ticket]:
    resolved = Ticket.objects.filter(brand_id=brand_id, resolved_at__gte=since, assigned_at__isnull=False)
    return totals(resolved, avg=Avg(F("resolved_at") - F("assigned_at")))


_handle_time_since = PreparedQuery(_handle_time)


def average_handle_seconds(brand_id: int) -> float:
    [(avg,)] = _handle_time_since(None, brand_id=brand_id, since=timezone.now() - timedelta(hours=24))
    if avg is None:
        return float(settings.DEFAULT_HANDLE_SECONDS)
    return max(float(avg.total_seconds()), 1.0)


@dataclass(frozen=True)
class Staffing:
    """The online agents who match a ticket: how many, their slots, and the slots free now."""

    agents: int
    slots: int
    free_slots: int


def _staff(shape: tuple[int, str], *, brand_id: int, language: str, tags: Sequence[str]) -> QuerySet[AgentProfile]:
    _, floor = shape
    online = _matching(AgentProfile.objects.online(), brand_id=brand_id, language=language, tags=tags, floor=floor)
    free = Case(
        When(status=AgentProfile.Status.AVAILABLE, load__lt=F("capacity"), then=F("capacity") - F("load")),
        default=Value(0),
        output_field=IntegerField(),
    )
    return totals(
        AgentProfile.objects.filter(pk__in=online.values("pk")),
        agents=Count("pk"),
        slots=Sum("capacity"),
        free=Sum(free),
    )


_staff_online = PreparedQuery(_staff)


def waiting_staff(ticket: Ticket) -> Staffing:
    """Who could serve `ticket`: online agents (AgentProfile.objects.online) who match it
    (`matching_agents`, the dispatch rule). Free slots are those of available agents below
    capacity. One query."""
    brand_id, language, tags, floor = matching_key(ticket)
    [(agents, slots, free)] = _staff_online((len(tags), floor), brand_id=brand_id, language=language, tags=list(tags))
    return Staffing(agents=agents or 0, slots=slots or 0, free_slots=free or 0)


def wait_estimate(*, position: int, staff: Staffing, handle_seconds: float, offer_seconds: float) -> int | None:
    """Seconds until `position` (1 = next) is offered and answered, or None when nobody
    who could serve it is online.

    A free slot for this position means about the offer's countdown. Beyond those, each of
    the `slots` frees about once per handle time, so the queue ahead drains at
    slots/handle_seconds: the (position - free)th freed slot comes after roughly
    (position - free) x handle / slots, plus the countdown of the offer it brings.
    """
    if staff.agents <= 0 or staff.slots <= 0:
        return None
    if position <= staff.free_slots:
        return max(1, int(math.ceil(offer_seconds)))
    waiting_for = position - staff.free_slots
    return max(1, int(math.ceil(waiting_for * handle_seconds / staff.slots + offer_seconds)))


@dataclass(frozen=True)
class WaitMemo:
    """The last estimate told to a ticket's customer: on what it was based (`basis`), and
    the estimate and moment (epoch seconds) when that basis was first seen."""

    basis: tuple[Any, ...]
    eta: int
    since: float


def honest_wait(*, computed: int, basis: tuple[Any, ...], memo: WaitMemo | None, now: float) -> tuple[int, WaitMemo]:
    """The estimate to tell, given the one computed from the queue now and the last one told.

    New information (a different `basis`: position, staffing) gives a fresh estimate. Without
    it, time counts down from the last estimate; once the wait has run past it the estimate
    was wrong, and it is never less than the time spent since: having waited four minutes
    with nothing moving, a customer is not told "about one minute" again.
    """
    if memo is None or memo.basis != basis:
        return computed, WaitMemo(basis=basis, eta=computed, since=now)
    elapsed = max(0.0, now - memo.since)
    if elapsed < memo.eta:
        return max(1, int(math.ceil(memo.eta - elapsed))), memo
    return max(computed, int(math.ceil(elapsed))), memo


WAIT_MEMO_SECONDS = 3600


def _memo_key(ticket: Ticket) -> str:
    # Per stay in the queue: a ticket that re-enters it starts a fresh story.
    return f"wait-estimate:{ticket.pk}:{ticket.queued_at.timestamp():.6f}"


@dataclass(frozen=True)
class Wait:
    """What a waiting customer is told: whether anyone who could help is online, and the
    estimate (None when nobody is)."""

    agents_online: bool
    eta_seconds: int | None


def customer_waits(tickets: list[Ticket], positions: dict[int, int], *, now: float | None = None) -> dict[int, Wait]:
    """The honest wait of each waiting ticket (`positions`: ticket id -> queue position).

    One staffing query per distinct (brand, language, skills, floor), one handle-time query
    per brand, one cache read and at most one cache write for all memos. The memos live in
    the cache so every sweeper copy and every reconnect snapshot tells the same story."""
    now = time.time() if now is None else now
    try:
        memos = cache.get_many([_memo_key(t) for t in tickets])
    except UNAVAILABLE_ERRORS:  # Redis away: fresh estimates rather than none
        memos = {}
    staffing: dict[tuple[Any, ...], Staffing] = {}
    handle: dict[int, float] = {}
    changed: dict[str, WaitMemo] = {}
    waits: dict[int, Wait] = {}
    for ticket in tickets:
        if ticket.status == Ticket.Status.OFFERED:
            waits[ticket.pk] = Wait(agents_online=True, eta_seconds=offer_timeout_seconds(ticket))
            continue
        key = matching_key(ticket)  # the same key, the same staffing
        if key not in staffing:
            staffing[key] = waiting_staff(ticket)
        staff = staffing[key]
        if ticket.brand_id not in handle:
            handle[ticket.brand_id] = average_handle_seconds(ticket.brand_id)
        position = positions[ticket.pk]
        computed = wait_estimate(
            position=position,
            staff=staff,
            handle_seconds=handle[ticket.brand_id],
            offer_seconds=offer_timeout_seconds(ticket),
        )
        if computed is None:
            waits[ticket.pk] = Wait(agents_online=False, eta_seconds=None)
            continue
        memo_key = _memo_key(ticket)
        previous = memos.get(memo_key)
        eta, memo = honest_wait(
            computed=computed, basis=(position, staff.slots, staff.free_slots), memo=previous, now=now
        )
        if memo != previous:
            changed[memo_key] = memo
        waits[ticket.pk] = Wait(agents_online=True, eta_seconds=eta)
    if changed:
        with contextlib.suppress(*UNAVAILABLE_ERRORS):
            cache.set_many(changed, timeout=WAIT_MEMO_SECONDS)
    return waits


def customer_wait(ticket: Ticket, position: int) -> Wait:
    return customer_waits([ticket], {ticket.pk: position})[ticket.pk]


def message_page(ticket_id: int, *, before: int | None = None, limit: int) -> tuple[list[Message], bool]:
    """Up to `limit` messages of a ticket older than message id `before` (the newest when
    None), oldest first, and whether there are earlier ones."""
    newest_first = rows.newest_messages(ticket_id, limit + 1, before=before)
    return newest_first[:limit][::-1], len(newest_first) > limit


def ticket_messages(ticket_id: int) -> list[Message]:
    """The end of a conversation for a snapshot, oldest first: the newest SNAPSHOT_MESSAGES,
    plus one more when earlier ones exist, so frames.ticket_assigned_frame can say so."""
    return rows.newest_messages(ticket_id, settings.SNAPSHOT_MESSAGES + 1)[::-1]


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
    ticket: Ticket | None = _ticket_for_customer.first(True, key=token)
    return ticket


def _customer_view(by_token: bool, *, key: Any) -> QuerySet[Ticket]:
    tickets = Ticket.objects.select_related("brand", "agent")
    return tickets.filter(customer_token=key)[:1] if by_token else tickets.filter(pk=key)[:1]


# Every page load and socket (re)connect of a customer reads it: compiled once.
_ticket_for_customer = PreparedQuery(_customer_view)


def customer_view_ticket(ticket_id: int) -> Ticket:
    """The ticket with its brand and agent, for what its customer is shown."""
    ticket: Ticket | None = _ticket_for_customer.first(False, key=ticket_id)
    if ticket is None:
        raise Ticket.DoesNotExist(f"no ticket {ticket_id}")
    return ticket


def customer_window_open(ticket: Ticket) -> bool:
    """Whether the customer may still rate or reopen this resolved or closed case: until
    REOPEN_WINDOW_HOURS after its latest resolution (the rule ticket_rate and
    ticket_reopen apply). The chat page hides stars and "reopen" once it has passed."""
    if ticket.status not in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED) or ticket.resolved_at is None:
        return False
    return timezone.now() <= ticket.resolved_at + timedelta(hours=settings.REOPEN_WINDOW_HOURS)


def widening_summary(ticket: Ticket) -> str:
    """What widening dropped from the ticket's matching, in words (reads `ticket.brand`)."""
    dropped = []
    if ticket.widen_level >= 1 and ticket.tags:
        dropped.append(gettext("skill tags %(tags)s dropped") % {"tags": ", ".join(ticket.tags)})
    if ticket.widen_level >= 2 and ticket.brand.dispatch_min_tier:
        dropped.append(gettext("%(tier)s tier floor dropped") % {"tier": ticket.brand.dispatch_min_tier})
    if dropped:
        return "; ".join(dropped)
    return gettext("as asked") if ticket.widen_level == 0 else gettext("nothing narrower to drop")


def supervisor_ticket(*, user: Any, ticket_id: int) -> Ticket | None:
    """A ticket of one of the brands `user` supervises (any brand for a superuser), or None."""
    qs = Ticket.objects.select_related("brand", "agent")
    if not user.is_superuser:
        qs = qs.filter(brand__supervisors=user)
    return qs.filter(pk=ticket_id).first()


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
