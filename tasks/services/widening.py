"""Nobody waits forever for a narrow match: a ticket nobody took within WIDEN_AFTER_SECONDS
is widened one step at a time (skill tags dropped, then the brand's tier floor), gets the
brand's surge bonus once, is offered again at once, and the brand's supervisors are told
(one e-mail per brand per WIDEN_ALERT_MINUTES, listing every ticket widened since the last).

Locks: the ticket alone (skip locked) for a step; the brand row alone (skip locked) for an
alert. Neither is taken together with an offer or agent row, so the global lock order
(offer -> ticket -> agent) is untouched.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.models import Brand

from .. import jobs
from ..models import SupervisorAlert, Ticket, TicketEvent
from ..notify import notify_ticket_widened
from .dispatch import ticket_dispatch

Status = Ticket.Status
Kind = TicketEvent.Kind
# Level 2 is the widest: tags and tier floor both ignored.
WIDEST = 2


def _due(now: datetime) -> Q:
    """Queued, still able to widen, and WIDEN_AFTER_SECONDS past both its (re-)entry into the
    queue and its last widening step."""
    cutoff = now - timedelta(seconds=settings.WIDEN_AFTER_SECONDS)
    return Q(status=Status.QUEUED, widen_level__lt=WIDEST, queued_at__lte=cutoff) & (
        Q(widened_at__isnull=True) | Q(widened_at__lte=cutoff)
    )


def ticket_widen(*, ticket_id: int) -> bool:
    """Take the next widening step of one ticket if it is due, then offer it again.

    The step: from level 0, drop the skill tags (skipped when it has none); else drop the
    brand's tier floor (skipped when the brand has none). The first step also adds the
    brand's surge bonus (`Brand.surge_bonus_minor`, once per ticket). Every step is a
    TicketEvent, and marks the ticket for the supervisors' alert.

    Locks: the ticket, `FOR UPDATE SKIP LOCKED`, re-checked as due under the lock, so two
    sweeps running at once take each step exactly once. Returns whether a step was taken.
    """
    now = timezone.now()
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("brand")
            .filter(_due(now), pk=ticket_id)
            .first()
        )
        if ticket is None:
            return False
        brand = ticket.brand
        first_step = ticket.widen_level == 0
        events = []
        if ticket.widen_level == 0 and ticket.tags:
            ticket.widen_level = 1
            events.append(TicketEvent(ticket=ticket, kind=Kind.WIDENED_SKILLS, detail={"ignored_tags": ticket.tags}))
        elif brand.dispatch_min_tier:
            ticket.widen_level = WIDEST
            events.append(
                TicketEvent(ticket=ticket, kind=Kind.WIDENED_TIERS, detail={"ignored_floor": brand.dispatch_min_tier})
            )
        else:
            # Nothing (left) to drop: the ticket is as wide as it gets.
            ticket.widen_level = WIDEST
        # Once per ticket: the first step is taken once. Added to what a supervisor may
        # already have raised by hand (services.supervision.surge_raise).
        if brand.surge_bonus_minor and first_step:
            ticket.surge_bonus_minor += brand.surge_bonus_minor
            events.append(
                TicketEvent(
                    ticket=ticket,
                    kind=Kind.SURGE_ADDED,
                    detail={"amount_minor": brand.surge_bonus_minor, "currency": brand.currency},
                )
            )
        ticket.widened_at = now
        # The first step tells the supervisors even when there was nothing to drop: nobody
        # took the ticket in time. A later step that changed nothing is not news.
        ticket.widen_alert_pending = ticket.widen_alert_pending or first_step or bool(events)
        ticket.save(update_fields=["widen_level", "widened_at", "widen_alert_pending", "surge_bonus_minor"])
        TicketEvent.objects.bulk_create(events)
        notify_ticket_widened(ticket=ticket)
    ticket_dispatch(ticket_id=ticket_id)
    return True


def supervisors_alert(*, brand_id: int) -> SupervisorAlert | None:
    """E-mail the brand's supervisors about its widened tickets, unless they were e-mailed
    within WIDEN_ALERT_MINUTES (then the tickets wait for the next alert).

    Locks: the brand row (skip locked: another sweep is alerting it). The tickets are claimed
    with a conditional update of `widen_alert_pending`, so each is listed in one alert.
    The e-mail is a Celery job enqueued on commit."""
    now = timezone.now()
    with transaction.atomic():
        brand = Brand.objects.select_for_update(skip_locked=True).filter(pk=brand_id).first()
        if brand is None:
            return None
        window = timedelta(minutes=settings.WIDEN_ALERT_MINUTES)
        if SupervisorAlert.objects.filter(brand_id=brand_id, created_at__gt=now - window).exists():
            return None
        pending = Ticket.objects.filter(brand_id=brand_id, widen_alert_pending=True)
        ticket_ids = sorted(pending.values_list("pk", flat=True))
        if not ticket_ids:
            return None
        Ticket.objects.filter(pk__in=ticket_ids, widen_alert_pending=True).update(widen_alert_pending=False)
        alert = SupervisorAlert.objects.create(brand_id=brand_id, ticket_ids=ticket_ids)
        recipients = brand.supervisors.filter(is_active=True).count()
        TicketEvent.objects.bulk_create(
            TicketEvent(
                ticket_id=ticket_id,
                kind=Kind.SUPERVISORS_ALERTED,
                detail={"alert_id": alert.pk, "supervisors": recipients},
            )
            for ticket_id in ticket_ids
        )
        alert_id = alert.pk
        transaction.on_commit(lambda: jobs.supervisor_alert_email_send.delay(alert_id), robust=True)
    return alert


def tickets_widen_due(*, batch: int = 200) -> int:
    """The periodic sweep (beat, or the embedded sweeper): widen every due ticket, then
    alert the supervisors of brands with newly widened tickets. Idempotent: a doubled or
    missed run does no harm. Served by the partial index `ticket_widen_due_idx`."""
    now = timezone.now()
    due = list(Ticket.objects.filter(_due(now)).order_by("queued_at").values_list("pk", flat=True)[:batch])
    widened = sum(1 for ticket_id in due if ticket_widen(ticket_id=ticket_id))
    brands = set(Ticket.objects.filter(widen_alert_pending=True).values_list("brand_id", flat=True).distinct())
    for brand_id in sorted(brands):
        supervisors_alert(brand_id=brand_id)
    return widened
