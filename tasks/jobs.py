"""Celery jobs of the ticket app. Periodic ones run on beat (CELERY_BEAT_SCHEDULE) and are
idempotent sweeps over the database, so a missed or doubled run does no harm. The others
take ids, are enqueued from `transaction.on_commit` and own their retries."""

import smtplib
import zoneinfo
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from agents.models import AgentProfile, Application
from marketplace.adapters import site_url as absolute_url
from marketplace.i18n import supported_language
from marketplace.models import Brand
from payouts.models import minor_to_decimal
from tasks import analytics_rollups, selectors, services

from .models import Shift, ShiftBooking, SupervisorAlert, Ticket
from .notify import SHIFT_CANCELLED

# A mail server that is down, slow or refusing for now; worth asking again later.
RETRYABLE_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


def subject_prefix() -> str:
    return f"[{settings.SITE_NAME}] "


@shared_task
def tickets_close_after_window() -> int:
    """Close resolved tickets whose reopen window has passed; returns how many."""
    return services.tickets_close_after_window()


@shared_task
def shifts_mark_no_shows() -> int:
    """Mark bookings nobody checked in to as no-shows; returns how many."""
    return services.shifts_mark_no_shows()


@shared_task
def shifts_settle_due() -> int:
    """Pay the hourly floor of shifts that have ended; returns how many shifts were settled."""
    return services.shifts_settle_due()


@shared_task
def analytics_rollup() -> dict:
    """Bring the analytics rollups up to date with the hours whose source rows changed."""
    return analytics_rollups.rollup_run()


@shared_task
def analytics_rollup_repair() -> dict:
    """Recompute the last two days of analytics rollups from scratch (nightly safety net)."""
    if not analytics_rollups.supported():
        return {"skipped": "the analytics need PostgreSQL"}
    now = timezone.now()
    return analytics_rollups.rebuild(now - timedelta(days=2), now)


@shared_task
def offer_push_send(offer_id: int) -> int:
    """Web Push a pending offer to its agent's browsers; returns how many accepted it.
    Not retried: an offer lives seconds, and a late push would show a dead offer."""
    return services.offer_push_send(offer_id=offer_id)


@shared_task
def tickets_widen_due() -> int:
    """Widen tickets nobody took in time and alert their supervisors; returns how many."""
    return services.tickets_widen_due()


def supervisor_alert_email(brand: Brand, tickets: list[Ticket]) -> tuple[str, str]:
    # Supervisors have no language of their own on record: the platform's default.
    with translation.override(settings.LANGUAGE_CODE):
        return _supervisor_alert_email(brand, tickets)


def _supervisor_alert_email(brand: Brand, tickets: list[Ticket]) -> tuple[str, str]:
    now = timezone.now()
    lines = []
    for ticket in tickets:
        waited = max(0, int((now - ticket.queued_at).total_seconds() // 60))
        widened = selectors.widening_summary(ticket)
        state = gettext("still waiting") if ticket.status == Ticket.Status.QUEUED else ticket.status
        facts = gettext("%(language)s, %(state)s, %(minutes)s min in the queue, %(widened)s") % {
            "language": ticket.language,
            "state": state,
            "minutes": waited,
            "widened": widened,
        }
        lines.append(
            f"- #{ticket.pk} {ticket.subject} ({facts})\n  {absolute_url(reverse('supervisor-ticket', args=[ticket.pk]))}"
        )
    count = len(tickets)
    found = ngettext(
        "%(brand)s: %(count)s ticket found no agent in time",
        "%(brand)s: %(count)s tickets found no agent in time",
        count,
    ) % {"brand": brand.name, "count": count}
    subject = f"{subject_prefix()}{found}"
    body = (
        gettext(
            "No eligible agent took these %(brand)s tickets within %(seconds)s seconds, so their matching was widened:"
        )
        % {"brand": brand.name, "seconds": settings.WIDEN_AFTER_SECONDS}
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + gettext(
            "You get at most one such e-mail every %(minutes)s minutes; the next one lists every ticket widened meanwhile."
        )
        % {"minutes": settings.WIDEN_ALERT_MINUTES}
        + "\n"
    )
    return subject, body


@shared_task(
    autoretry_for=RETRYABLE_MAIL_ERRORS, max_retries=5, retry_backoff=True, retry_backoff_max=600, retry_jitter=True
)
def supervisor_alert_email_send(alert_id: int) -> int:
    """E-mail one SupervisorAlert to its brand's active supervisors; returns how many."""
    alert = SupervisorAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        return 0
    brand = Brand.objects.get(pk=alert.brand_id)
    recipients = sorted(brand.supervisors.filter(is_active=True).values_list("email", flat=True))
    if not recipients:
        return 0
    tickets = list(Ticket.objects.filter(pk__in=alert.ticket_ids).select_related("brand").order_by("pk"))
    subject, body = supervisor_alert_email(brand, tickets)
    send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=recipients)
    return len(recipients)


def ticket_answered_email(ticket: Ticket) -> tuple[str, str]:
    """In the ticket's language when the interface speaks it, as the chat page does."""
    with translation.override(supported_language(ticket.language) or settings.LANGUAGE_CODE):
        agent = ticket.agent.display_name if ticket.agent else gettext("An agent")
        link = absolute_url(reverse("customer-chat", args=[ticket.customer_token]))
        names = {"agent": agent, "brand": ticket.brand.name}
        subject = subject_prefix() + gettext("%(agent)s from %(brand)s is answering you") % names
        body = (
            gettext("Hello,")
            + "\n\n"
            + gettext(
                '%(agent)s from %(brand)s support has picked up your conversation "%(subject)s" '
                "and is waiting for you in the chat:"
            )
            % {**names, "subject": ticket.subject}
            + f"\n\n{link}\n\n"
            + gettext("Keep this link to yourself: it opens your conversation.")
            + "\n"
        )
    return subject, body


@shared_task(
    autoretry_for=RETRYABLE_MAIL_ERRORS, max_retries=5, retry_backoff=True, retry_backoff_max=600, retry_jitter=True
)
def ticket_answered_email_send(ticket_id: int) -> bool:
    """Tell a customer who left their address that an agent answered; at most once per
    ticket. The send is claimed with a conditional update, and given back if the mail
    server refuses, so a retry (or a second copy of the job) sends it once."""
    claimed = Ticket.objects.filter(pk=ticket_id, notify_email_sent_at__isnull=True).exclude(notify_email="")
    if claimed.update(notify_email_sent_at=timezone.now()) != 1:
        return False
    ticket = Ticket.objects.select_related("agent", "brand").get(pk=ticket_id)
    subject, body = ticket_answered_email(ticket)
    try:
        send_mail(
            subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[ticket.notify_email]
        )
    except Exception:
        Ticket.objects.filter(pk=ticket_id).update(notify_email_sent_at=None)
        raise
    return True


# The agent app's shift page. A path, not a route name: e-mails only link to it.
AGENT_SHIFTS_PATH = "/agent/shifts/"
# Times of a shift for an agent whose own zone is not on record.
SHIFT_MAIL_TIME_ZONE = "Europe/Stockholm"


def _agent_language_and_zone(agent: AgentProfile) -> tuple[str, zoneinfo.ZoneInfo]:
    """The language the agent applied in and the time zone they gave, as their e-mails use
    them; the platform's defaults without an application on record."""
    application = Application.objects.filter(user_id=agent.user_id).first()
    language = supported_language(application.language if application else None) or settings.LANGUAGE_CODE
    name = ((application.answers or {}).get("profile") or {}).get("time_zone") if application else None
    try:
        zone = zoneinfo.ZoneInfo(name or SHIFT_MAIL_TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(SHIFT_MAIL_TIME_ZONE)
    return language, zone


def shift_changed_email(shift: Shift, agent: AgentProfile, change: str) -> tuple[str, str]:
    """What a booked agent is told of a cancelled or changed shift, in their language and
    with the shift's times in their zone."""
    language, zone = _agent_language_and_zone(agent)
    with translation.override(language):
        return _shift_changed_email(shift, agent, change, zone)


def _shift_changed_email(shift: Shift, agent: AgentProfile, change: str, zone: zoneinfo.ZoneInfo) -> tuple[str, str]:
    start, end = shift.starts_at.astimezone(zone), shift.ends_at.astimezone(zone)
    names = {
        "name": agent.display_name,
        "brand": shift.brand.name,
        "day": date_format(start, "l j F"),
        "start": date_format(start, "H:i"),
        "end": date_format(end, "H:i"),
        "zone": str(zone),
    }
    link = absolute_url(AGENT_SHIFTS_PATH)
    if change == SHIFT_CANCELLED:
        subject = gettext("Your shift on %(day)s was cancelled") % names
        lines = [
            gettext("%(brand)s cancelled your shift on %(day)s, %(start)s–%(end)s (%(zone)s).") % names,
            "",
            gettext("The reason given: %(reason)s") % {"reason": shift.cancel_reason},
            gettext("This does not count against your reliability."),
        ]
    else:
        currency = shift.brand.currency

        def amount(minor: int | None) -> str:
            return f"{minor_to_decimal(minor, currency)} {currency}" if minor is not None else gettext("none")

        subject = gettext("Your shift on %(day)s has changed") % names
        lines = [
            gettext("%(brand)s changed the terms of your shift on %(day)s, %(start)s–%(end)s (%(zone)s). Now:") % names,
            "",
            gettext("- Hourly floor: %(amount)s") % {"amount": amount(shift.hourly_floor_minor)},
            gettext("- Bonus per case: %(amount)s") % {"amount": amount(shift.bonus_per_case_minor)},
            gettext("- Places: %(booked)s of %(slots)s booked") % {"booked": shift.booked, "slots": shift.slots},
            "",
            gettext(
                "If it no longer suits you, cancel your booking; it is free until %(hours)s hours before the start."
            )
            % {"hours": settings.SHIFT_CANCEL_CUTOFF_HOURS},
        ]
    body = "\n".join(
        [gettext("Hello %(name)s,") % names, "", *lines, "", gettext("Your shifts: %(link)s") % {"link": link}, ""]
    )
    return subject_prefix() + subject, body


@shared_task(
    autoretry_for=RETRYABLE_MAIL_ERRORS, max_retries=5, retry_backoff=True, retry_backoff_max=600, retry_jitter=True
)
def shift_changed_email_send(shift_id: int, agent_id: int, change: str) -> bool:
    """E-mail one agent that a shift they booked was cancelled or changed. A change is not
    sent once the agent cancelled their booking or the shift was cancelled meanwhile (that
    has its own e-mail)."""
    shift = Shift.objects.select_related("brand").filter(pk=shift_id).first()
    agent = AgentProfile.objects.select_related("user").filter(pk=agent_id).first()
    if shift is None or agent is None or not agent.user.email:
        return False
    if change != SHIFT_CANCELLED:
        booked = ShiftBooking.objects.filter(shift=shift, agent=agent, status=ShiftBooking.Status.BOOKED)
        if shift.status == Shift.Status.CANCELLED or not booked.exists():
            return False
    subject, body = shift_changed_email(shift, agent, change)
    send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[agent.user.email])
    return True
