"""Who gets offered what: the best eligible agent for a ticket, the queue for a free agent,
and the sweeper's safety net. Locks: the queued ticket, then agents with SKIP LOCKED."""

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from agents.models import AgentLanguage, AgentProfile, AgentSkill
from marketplace.prepared import PreparedInsert, PreparedQuery, PreparedUpdate
from payouts.services import case_pay

from .. import selectors
from ..models import Offer, Ticket
from ..notify import notify_offer_made

Status = Ticket.Status


def _queued_ticket(_shape: None, *, ticket_id: int) -> QuerySet[Ticket]:
    tickets = Ticket.objects.select_for_update(skip_locked=True, of=("self",)).select_related("brand")
    return tickets.filter(pk=ticket_id, status=Status.QUEUED)[:1]


# The dispatch of every ticket, from intake's retries, freed slots and the sweeper: compiled
# once (marketplace/prepared.py), as are the reads of agent_dispatch below.
_queued_locked = PreparedQuery(_queued_ticket)
_insert_offer = PreparedInsert(Offer)


def ticket_dispatch(*, ticket_id: int) -> Offer | None:
    """Offer a queued ticket to the best eligible agent, if there is one.

    Locks: the ticket (skip locked: someone else is dispatching it) then the chosen agent
    profile (skip locked: take the next best rather than wait). Returns the offer or None
    when the ticket is not queued or nobody is eligible; then it simply waits.
    """
    with transaction.atomic():
        ticket = _queued_locked.first(None, ticket_id=ticket_id)
        if ticket is None:
            return None
        return _offer_to_best_agent(ticket)


def _offered(_shape: None, *, ticket_id: int) -> tuple[QuerySet[Ticket], dict[str, Any]]:
    return Ticket.objects.filter(pk=ticket_id), {"status": Status.OFFERED}


def _one_more(_shape: None, *, agent_id: int) -> tuple[QuerySet[AgentProfile], dict[str, Any]]:
    return AgentProfile.objects.filter(pk=agent_id), {"load": F("load") + 1}


# Every offer writes both: compiled once (marketplace/prepared.py).
_mark_offered, _load_plus_one = PreparedUpdate(_offered), PreparedUpdate(_one_more)


def _offer_to_best_agent(ticket: Ticket) -> Offer | None:
    """Inside a transaction that holds the queued `ticket`: offer it to the best eligible
    agent, locking that agent's row (skip locked: take the next best rather than wait)."""
    agent = selectors.best_eligible_agent(ticket)
    if agent is None:
        return None
    now = timezone.now()
    # The card in force now, the agent's tier, the bonus of the shift they are checked in on
    # and, once a widening step gave the ticket one, the surge bonus: the offer shows exactly
    # what the case will pay.
    pay = case_pay(
        brand_id=ticket.brand_id,
        category=ticket.category,
        tier=agent.tier,
        surge_minor=ticket.surge_bonus_minor,
        shift_bonus_minor=getattr(agent, "shift_bonus_minor", None) or 0,
        at=now,
    )
    offer = _insert_offer(
        Offer(
            ticket=ticket,
            agent=agent,
            pay_amount_minor=pay.amount_minor,
            pay_calculation=pay.calculation,
            currency=ticket.brand.currency,
            expires_at=now + timedelta(seconds=selectors.offer_timeout_seconds(ticket)),
        )
    )
    _mark_offered(None, ticket_id=ticket.pk)
    _load_plus_one(None, agent_id=agent.pk)
    ticket.status = Status.OFFERED
    notify_offer_made(offer=offer, ticket=ticket)
    return offer


def _queued(_shape: None) -> QuerySet[Ticket, tuple[int]]:
    return Ticket.objects.filter(status=Status.QUEUED).values_list("pk")[:1]


# Asked on every resolve and every freed slot: compiled once (marketplace/prepared.py).
_any_queued = PreparedQuery(_queued)


def _agent_free(_shape: None, *, agent_id: int) -> QuerySet[AgentProfile]:
    return AgentProfile.objects.can_take_work().filter(pk=agent_id)[:1]


_free_agent = PreparedQuery(_agent_free)


def _languages(_shape: None, *, agent_id: int) -> QuerySet[AgentLanguage, tuple[str]]:
    return AgentLanguage.objects.filter(agent_id=agent_id).values_list("code")


def _skills(_shape: None, *, agent_id: int) -> QuerySet[AgentSkill, tuple[str]]:
    return AgentSkill.objects.filter(agent_id=agent_id).values_list("code")


_languages_of, _skills_of = PreparedQuery(_languages), PreparedQuery(_skills)


def agent_codes(agent_id: int) -> tuple[list[str], list[str]]:
    """The languages the agent speaks and the skills they have."""
    languages = [code for (code,) in _languages_of(None, agent_id=agent_id)]
    return languages, [code for (code,) in _skills_of(None, agent_id=agent_id)]


def agent_dispatch(*, agent_id: int) -> int:
    """Fill an agent's free capacity from the queue (highest priority, then oldest first).

    Each ticket still goes through `ticket_dispatch`, so the ranking rules hold: if a better
    agent is free too, they get it. Returns the number of offers made.
    """
    made = 0
    if not _any_queued(None):
        return 0  # the common case when agents outnumber customers: one cheap query
    codes: tuple[list[str], list[str]] | None = None
    for _ in range(10):  # bounded: capacity is small
        agent = _free_agent.first(None, agent_id=agent_id)
        if agent is None:
            return made
        if codes is None:
            codes = agent_codes(agent_id)
        languages, skills = codes
        progressed = False
        for ticket in selectors.waiting_tickets_for_agent(agent, languages=languages, skills=skills):
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
    free = AgentProfile.objects.can_take_work()
    if not free.exists():
        return 0
    made = misses = 0
    queued = (
        Ticket.objects.filter(status=Status.QUEUED).order_by("-priority", "created_at").values_list("pk", flat=True)
    )
    for ticket_id in list(queued[:limit]):
        if ticket_dispatch(ticket_id=ticket_id) is not None:
            made += 1
            misses = 0
        else:
            misses += 1
            if misses >= give_up_after:
                break
    return made
