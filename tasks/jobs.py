"""Celery jobs of the ticket app. Periodic ones run on beat (CELERY_BEAT_SCHEDULE) and are
idempotent sweeps over the database, so a missed or doubled run does no harm. The others
take ids, are enqueued from `transaction.on_commit` and own their retries."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from marketplace.adapters import site_url as absolute_url
from marketplace.models import Brand
from tasks import selectors, services

from .models import SupervisorAlert, Ticket

# A mail server that is down, slow or refusing for now; worth asking again later.
RETRYABLE_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


def subject_prefix() -> str:
    return f"[{settings.SITE_NAME}] "


@shared_task
def tickets_close_after_window() -> int:
    """Close resolved tickets whose reopen window has passed; returns how many."""
    return services.tickets_close_after_window()


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
    now = timezone.now()
    lines = []
    for ticket in tickets:
        waited = max(0, int((now - ticket.queued_at).total_seconds() // 60))
        widened = selectors.widening_summary(ticket)
        state = "still waiting" if ticket.status == Ticket.Status.QUEUED else ticket.status
        lines.append(
            f"- #{ticket.pk} {ticket.subject} ({ticket.language}, {state}, {waited} min in the queue, {widened})\n"
            f"  {absolute_url(reverse('supervisor-ticket', args=[ticket.pk]))}"
        )
    count = len(tickets)
    subject = f"{subject_prefix()}{brand.name}: {count} ticket{'s' if count != 1 else ''} found no agent in time"
    body = (
        f"No eligible agent took these {brand.name} tickets within {settings.WIDEN_AFTER_SECONDS} seconds, "
        "so their matching was widened:\n\n" + "\n".join(lines) + "\n\n"
        f"You get at most one such e-mail every {settings.WIDEN_ALERT_MINUTES} minutes; "
        "the next one lists every ticket widened meanwhile.\n"
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
    agent = ticket.agent.display_name if ticket.agent else "An agent"
    link = absolute_url(reverse("customer-chat", args=[ticket.customer_token]))
    subject = f"{subject_prefix()}{agent} from {ticket.brand.name} is answering you"
    body = (
        f"Hello,\n\n{agent} from {ticket.brand.name} support has picked up your conversation "
        f'"{ticket.subject}" and is waiting for you in the chat:\n\n{link}\n\n'
        "Keep this link to yourself: it opens your conversation.\n"
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
