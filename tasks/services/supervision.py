"""What a supervisor does from the live view: hand a ticket to a chosen agent, send an agent
a note, set an agent away, pause or resume a brand's intake, raise a surge bonus.

Each action is scoped to the brands the user supervises (platform staff: every brand): a
ticket, agent or brand outside them is "not found" (404), as if it did not exist. Each is
one transaction that writes its audit row (who, what, before and after) with the change;
a refusal raises a DomainError inside it and changes nothing. Pushes go after commit
(tasks.notify). Lock order as everywhere: offer -> ticket -> agent profiles (in id order).
"""

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext

from agents.models import AgentProfile
from marketplace.audit import audit_record
from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.masking import mask_sensitive
from marketplace.models import Brand, User
from payouts.services import case_pay

from .. import frames, selectors
from ..models import IntakePause, Offer, SupervisorNote, Ticket, TicketEvent
from ..notify import notify_intake_changed, notify_supervisor_note, notify_ticket_reassigned
from ..ops_selectors import ops_brand_ids
from ..shift_selectors import shift_bonus_now
from ..snapshots import supervisor_note_frame
from .conversation import _system_message
from .dispatch import agent_dispatch
from .offers import _close_offer
from .presence import presence_set

Status = Ticket.Status
NOTE_MAX_CHARS = 1000
REASON_MAX_CHARS = 300  # IntakePause.reason
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
# The column is a PostgreSQL integer; a surge never grows past it.
SURGE_TOTAL_MAX_MINOR = 2**31 - 1
# One raise is at most this much (100 000.00 in a currency with cents): a slip of the
# keyboard must not promise a fortune.
SURGE_RAISE_MAX_MINOR = 10_000_000


# --- Scope and input --------------------------------------------------------------------------------


def _brands_of(user: User) -> set[int]:
    brand_ids = ops_brand_ids(user)
    if brand_ids is None:
        raise Forbidden("forbidden", gettext("Only supervisors and platform staff run the live view."))
    return brand_ids


def _id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise DomainError(
            f"invalid_{field}",
            gettext("%(field)s must be an id.") % {"field": field},
            status=422,
            fields={field: ["An id."]},
        )
    return value


def _text(
    value: Any, *, field: str, max_chars: int, required_code: str | None = None, required_message: str = ""
) -> str:
    """Trimmed text of at most `max_chars`, masked like chat; required when `required_code`
    is given (that refusal when empty)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(
            f"invalid_{field}",
            gettext("%(field)s must be text.") % {"field": field},
            status=422,
            fields={field: ["Text."]},
        )
    value = value.strip()
    if not value and required_code is not None:
        raise DomainError(required_code, required_message, status=422, fields={field: [required_message]})
    if len(value) > max_chars:
        raise DomainError(
            "text_too_long",
            gettext("%(field)s is limited to %(max)s characters.") % {"field": field, "max": max_chars},
            status=422,
            fields={field: [f"<= {max_chars}"]},
        )
    return mask_sensitive(value)


def _language(value: Any, *, required: bool) -> str:
    """A language code as tickets store it: the primary subtag, lower case ("" for all)."""
    raw = value if isinstance(value, str) else "" if value is None else "?"
    code = raw.strip().split("-")[0].lower()
    if not code and not required:
        return ""
    if not LANGUAGE.match(code):
        raise DomainError(
            "invalid_language",
            gettext("Give a language code such as en or sv."),
            status=422,
            fields={"language": ["en, sv, …"]},
        )
    return code


def _brand(brand: Brand | str, brand_ids: set[int]) -> Brand:
    slug = brand.slug if isinstance(brand, Brand) else brand
    found = Brand.objects.filter(slug=slug, pk__in=brand_ids).first() if isinstance(slug, str) else None
    if found is None:
        raise NotFound("brand_not_found", gettext("There is no such brand among those you supervise."))
    return found


def _agent(agent_id: Any, brand_ids: set[int]) -> AgentProfile:
    agent_id = _id(agent_id, "agent_id")
    agent = AgentProfile.objects.filter(pk=agent_id, brands__in=brand_ids).select_related("user").first()
    if agent is None:
        raise NotFound("agent_not_found", gettext("There is no such agent in the brands you supervise."))
    return agent


def _shared_brand(agent: AgentProfile, brand_ids: set[int]) -> int | None:
    """The brand an action on an agent is logged under: the one they share with the
    supervisor, or none when they share several."""
    shared = set(agent.brands.values_list("pk", flat=True)) & brand_ids
    return next(iter(shared)) if len(shared) == 1 else None


# --- Reassign ---------------------------------------------------------------------------------------


def _refuse_unavailable(agent: AgentProfile, load: int) -> None:
    """The target must be able to take a chat now: available, connected, not suspended, and
    below capacity (`load` without the offer the reassignment withdraws)."""
    if agent.suspended or agent.status != AgentProfile.Status.AVAILABLE or agent.connections <= 0:
        raise Conflict(
            "agent_unavailable",
            gettext("%(name)s is not available right now (they must be connected and available).")
            % {"name": agent.display_name},
        )
    if load >= agent.capacity:
        raise Conflict(
            "agent_unavailable",
            gettext("%(name)s has no free chat slot (%(load)s of %(capacity)s).")
            % {"name": agent.display_name, "load": load, "capacity": agent.capacity},
        )


def ticket_reassign(*, user: User, ticket_id: Any, agent_id: Any, request: Any = None) -> Ticket:
    """Give an open ticket to the agent the supervisor chose.

    The agent must match the ticket (`selectors.matching_agents`: certified for its brand,
    speaking its language, skills and tier as widened) and be able to take a chat now,
    else `409 agent_unavailable`. A waiting ticket's pending offer is withdrawn first; an
    assigned ticket moves from its agent (whose chat closes, and who gets the slot back) to
    the new one, and the customer reads in the chat that another agent took over. The new
    agent gets the whole case and is paid as for an offer made to them now (their tier,
    the ticket's surge, their shift's bonus).

    Locks: the pending offer, the ticket, then every agent concerned in id order. An offer
    made between the first two is seen as an offered ticket without a locked offer: the
    attempt is dropped and made again.
    """
    brand_ids = _brands_of(user)
    ticket_id = _id(ticket_id, "ticket_id")
    if not Ticket.objects.filter(pk=ticket_id, brand_id__in=brand_ids).exists():
        raise NotFound("ticket_not_found", gettext("There is no such ticket in the brands you supervise."))
    target_id = _agent(agent_id, brand_ids).pk
    for _ in range(5):
        with transaction.atomic():
            offer = Offer.objects.select_for_update().filter(ticket_id=ticket_id, state=Offer.State.PENDING).first()
            ticket = (
                Ticket.objects.select_for_update(of=("self",)).select_related("brand", "customer").get(pk=ticket_id)
            )
            if not ticket.is_open:
                raise Conflict(
                    "ticket_not_open",
                    gettext("This ticket is %(status)s; it is no longer open.") % {"status": ticket.status},
                )
            if ticket.status == Status.OFFERED and offer is None:
                continue
            old_agent_id = ticket.agent_id if ticket.status == Status.ASSIGNED else None
            if old_agent_id == target_id:
                raise Conflict("already_assigned", gettext("This ticket is already with that agent."))
            offered_to = offer.agent_id if offer is not None else None
            involved = sorted({target_id} | {a for a in (old_agent_id, offered_to) if a is not None})
            agents = {a.pk: a for a in AgentProfile.objects.select_for_update().filter(pk__in=involved).order_by("pk")}
            target = agents[target_id]
            if not selectors.matching_agents(ticket, AgentProfile.objects.filter(pk=target_id)).exists():
                raise Conflict(
                    "agent_unavailable",
                    gettext("%(name)s cannot take this ticket (brand, language, skills or tier).")
                    % {"name": target.display_name},
                )
            _refuse_unavailable(target, target.load - (1 if offered_to == target_id else 0))
            before = {
                "status": ticket.status,
                "agent_id": old_agent_id,
                "offer": {"id": offer.pk, "agent_id": offered_to} if offer is not None else None,
            }
            if offer is not None:
                _close_offer(offer, state=Offer.State.RESCINDED)
            now = timezone.now()
            shift_bonus = (
                AgentProfile.objects.filter(pk=target_id)
                .annotate(bonus=shift_bonus_now(ticket.brand_id))
                .values_list("bonus", flat=True)
                .first()
            )
            pay = case_pay(
                brand_id=ticket.brand_id,
                category=ticket.category,
                tier=target.tier,
                surge_minor=ticket.surge_bonus_minor,
                shift_bonus_minor=shift_bonus or 0,
                at=now,
            )
            ticket.status = Status.ASSIGNED
            ticket.agent = target
            ticket.assigned_at = now
            ticket.pay_amount_minor = pay.amount_minor
            ticket.pay_calculation = pay.calculation
            ticket.queue_reason = ""
            fields = ["status", "agent", "assigned_at", "pay_amount_minor", "pay_calculation", "queue_reason"]
            if old_agent_id is not None:
                ticket.previous_agent_id = old_agent_id
                fields.append("previous_agent")
                AgentProfile.objects.filter(pk=old_agent_id).update(load=Greatest(F("load") - 1, 0))
            ticket.save(update_fields=fields)
            AgentProfile.objects.filter(pk=target_id).update(
                load=F("load") + 1, last_assigned_at=now, consecutive_timeouts=0
            )
            note = None
            if old_agent_id is not None:
                note = _system_message(
                    ticket,
                    f"Another agent, {target.display_name}, has taken over this conversation "
                    f"from {agents[old_agent_id].display_name}.",
                )
            audit_record(
                actor=user,
                action="ticket.reassign",
                brand=ticket.brand_id,
                target=ticket,
                detail={
                    "before": before,
                    "after": {"status": Status.ASSIGNED, "agent_id": target_id, "pay_minor": pay.amount_minor},
                },
                request=request,
            )
            notify_ticket_reassigned(
                ticket=ticket,
                old_agent_id=old_agent_id,
                new_agent=target,
                messages=selectors.ticket_messages(ticket.pk),
                note=note,
            )
        # The previous agent (or the one whose offer was withdrawn) has a slot free again.
        for freed in {old_agent_id, offered_to}:
            if freed is not None and freed != target_id:
                agent_dispatch(agent_id=freed)
        return ticket
    raise Conflict("ticket_busy", gettext("The ticket is changing right now; try again."))


# --- Notes and presence -----------------------------------------------------------------------------


def agent_note_send(*, user: User, agent_id: Any, text: Any, request: Any = None) -> SupervisorNote:
    """A note to an agent's app (`supervisor.note` on their socket), kept so a reconnect
    within the hour shows it again. Up to NOTE_MAX_CHARS characters, masked like chat."""
    brand_ids = _brands_of(user)
    agent = _agent(agent_id, brand_ids)
    text = _text(
        text,
        field="text",
        max_chars=NOTE_MAX_CHARS,
        required_code="invalid_text",
        required_message=gettext("Write the note to the agent."),
    )
    with transaction.atomic():
        note = SupervisorNote.objects.create(agent=agent, author=user, text=text)
        audit_record(
            actor=user,
            action="agent.note",
            brand=_shared_brand(agent, brand_ids),
            target=agent,
            detail={"before": None, "after": {"note_id": note.pk, "text": text}},
            request=request,
        )
        notify_supervisor_note(agent_id=agent.pk, frame=supervisor_note_frame(note))
    return note


def agent_set_away_by_supervisor(*, user: User, agent_id: Any, reason: Any = "", request: Any = None) -> AgentProfile:
    """Set an available agent away (they stop getting offers; their pending ones are
    withdrawn and offered to others; their open chats stay theirs). The agent's app hears
    it as a presence frame with reason `supervisor`. `409 agent_not_available` when the
    agent is not available to begin with."""
    brand_ids = _brands_of(user)
    agent = _agent(agent_id, brand_ids)
    reason = _text(reason, field="reason", max_chars=REASON_MAX_CHARS)
    audit_brand = _shared_brand(agent, brand_ids)

    def check_and_record(locked: AgentProfile) -> None:
        if locked.status != AgentProfile.Status.AVAILABLE:
            raise Conflict(
                "agent_not_available",
                gettext("%(name)s is %(status)s, not available.")
                % {"name": locked.display_name, "status": locked.get_status_display().lower()},
            )
        audit_record(
            actor=user,
            action="agent.set_away",
            brand=audit_brand,
            target=locked,
            detail={
                "reason": reason,
                "before": {"status": locked.status, "load": locked.load},
                "after": {"status": AgentProfile.Status.AWAY},
            },
            request=request,
        )

    return presence_set(
        agent=agent, status=AgentProfile.Status.AWAY, reason="supervisor", before_change=check_and_record
    )


# --- Intake -----------------------------------------------------------------------------------------


def _pause_frame(pause: IntakePause | None, *, brand_id: int, language: str) -> dict[str, Any]:
    if pause is None:
        return frames.intake_changed_frame(brand_id=brand_id, language=language, paused=False, pause=None)
    return frames.intake_changed_frame(
        brand_id=brand_id,
        language=language,
        paused=True,
        pause=frames.ops_pause_dict(
            pause_id=pause.pk,
            brand_id=brand_id,
            language=language,
            reason=pause.reason,
            paused_by=pause.paused_by.email,
            created_at=pause.created_at,
        ),
    )


def _already_paused(language: str) -> Conflict:
    return Conflict(
        "intake_already_paused",
        gettext("Intake is already paused for %(scope)s.")
        % {"scope": language or gettext("every language of this brand")},
    )


def intake_pause(
    *, user: User, brand: Brand | str, language: Any = "", reason: Any, request: Any = None
) -> IntakePause:
    """Stop new conversations of a brand (`language` "": every language) until resumed:
    the brand's handovers are answered `503 intake_paused` meanwhile. Tickets already
    in the queue stay there. `409 intake_already_paused` if that pause is in force."""
    brand_ids = _brands_of(user)
    found = _brand(brand, brand_ids)
    language = _language(language, required=False)
    reason = _text(
        reason,
        field="reason",
        max_chars=REASON_MAX_CHARS,
        required_code="reason_required",
        required_message=gettext("Say why intake is paused."),
    )
    with transaction.atomic():
        if IntakePause.objects.filter(brand=found, language=language, resumed_at__isnull=True).exists():
            raise _already_paused(language)
        try:
            with transaction.atomic():
                pause = IntakePause.objects.create(brand=found, language=language, reason=reason, paused_by=user)
        except IntegrityError:  # paused by someone else a moment ago
            raise _already_paused(language) from None
        audit_record(
            actor=user,
            action="intake.pause",
            brand=found,
            target=pause,
            detail={"language": language, "reason": reason, "before": {"paused": False}, "after": {"paused": True}},
            request=request,
        )
        notify_intake_changed(brand_id=found.pk, frame=_pause_frame(pause, brand_id=found.pk, language=language))
    return pause


def intake_resume(*, user: User, brand: Brand | str, language: Any = "", request: Any = None) -> IntakePause:
    """End the pause of a brand's intake for `language` ("": the brand-wide one).
    `409 intake_not_paused` when there is none."""
    brand_ids = _brands_of(user)
    found = _brand(brand, brand_ids)
    language = _language(language, required=False)
    with transaction.atomic():
        pause = (
            IntakePause.objects.select_for_update(of=("self",))
            .select_related("brand", "paused_by")
            .filter(brand=found, language=language, resumed_at__isnull=True)
            .first()
        )
        if pause is None:
            raise Conflict(
                "intake_not_paused",
                gettext("Intake is not paused for %(scope)s.")
                % {"scope": language or gettext("every language of this brand")},
            )
        pause.resumed_by = user
        pause.resumed_at = timezone.now()
        pause.save(update_fields=["resumed_by", "resumed_at"])
        audit_record(
            actor=user,
            action="intake.resume",
            brand=found,
            target=pause,
            detail={
                "language": language,
                "before": {"paused": True, "reason": pause.reason, "since": pause.created_at},
                "after": {"paused": False},
            },
            request=request,
        )
        notify_intake_changed(brand_id=found.pk, frame=_pause_frame(None, brand_id=found.pk, language=language))
    return pause


# --- Surge --------------------------------------------------------------------------------------------


def surge_raise(
    *, user: User, brand: Brand | str, language: Any, amount_minor: Any, request: Any = None
) -> list[Ticket]:
    """Add `amount_minor` to the surge bonus of every waiting (queued or offered) ticket of a
    brand in one language: every offer made for them from now on pays it (an offer already
    pending keeps its pay). Each ticket gets a SURGE_ADDED event, as widening's surge does.
    `409 nothing_waiting` when no ticket waits. Returns the tickets raised.

    Locks: the waiting tickets, in id order, and nothing else."""
    brand_ids = _brands_of(user)
    found = _brand(brand, brand_ids)
    language = _language(language, required=True)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise DomainError("invalid_amount", gettext("The amount must be more than zero."), status=422)
    if amount_minor > SURGE_RAISE_MAX_MINOR:
        raise DomainError("invalid_amount", gettext("That is far more than a surge bonus."), status=422)
    with transaction.atomic():
        tickets = list(
            Ticket.objects.select_for_update(of=("self",))
            .filter(brand=found, language=language, status__in=Ticket.WAITING)
            .order_by("pk")
        )
        if not tickets:
            raise Conflict("nothing_waiting", gettext("No ticket of this brand and language is waiting."))
        before = {t.pk: t.surge_bonus_minor for t in tickets}
        after = {pk: min(SURGE_TOTAL_MAX_MINOR, old + amount_minor) for pk, old in before.items()}
        Ticket.objects.filter(pk__in=list(before)).update(
            surge_bonus_minor=Least(F("surge_bonus_minor") + amount_minor, Value(SURGE_TOTAL_MAX_MINOR))
        )
        TicketEvent.objects.bulk_create(
            TicketEvent(
                ticket_id=pk,
                kind=TicketEvent.Kind.SURGE_ADDED,
                detail={"amount_minor": amount_minor, "currency": found.currency, "supervisor": user.pk},
            )
            for pk in before
        )
        audit_record(
            actor=user,
            action="tickets.surge_raise",
            brand=found,
            target=found,
            detail={
                "language": language,
                "amount_minor": amount_minor,
                "currency": found.currency,
                "before": {str(pk): value for pk, value in before.items()},
                "after": {str(pk): value for pk, value in after.items()},
            },
            request=request,
        )
        for ticket in tickets:
            ticket.surge_bonus_minor = after[ticket.pk]
    return tickets
