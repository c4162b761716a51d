"""Celery jobs of the applicant journey. They take ids and own their retries; services
enqueue them from `transaction.on_commit`, so nothing is sent about a rolled-back change."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import ApplicationEvent

# A mail server that is down, slow or refusing for now; worth asking again later.
# (smtplib.SMTPException is an OSError too, but naming it says what is meant.)
RETRYABLE_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


def _link(name: str) -> str:
    # Absolute on SITE_URL: the job runs in a worker, which has no request to take a host from.
    return f"{settings.SITE_URL}{reverse(name)}"


def _supervisor_note(message: str) -> list[str]:
    return ["A note from the supervisor who decided:", "", message, ""] if message else []


def application_event_email(event: ApplicationEvent) -> tuple[str, str]:
    """Subject and body of the e-mail telling the applicant about one event. A decision
    carries the supervisor's own words, so the applicant need not log in to read them."""
    application = event.application
    kind = ApplicationEvent.Kind
    message = event.message.strip()
    if event.kind == kind.SUBMITTED:
        subject = "We received your application"
        lines = [
            f"Thank you for applying to {settings.SITE_NAME}. A supervisor will review your application soon,",
            "and we will e-mail you when they have. Meanwhile you can take the brand assessments.",
            "",
        ]
    elif event.kind == kind.APPROVED:
        subject = "Welcome aboard"
        lines = [
            "Your application was approved. You start in probation: one chat at a time while you learn.",
            "",
            *_supervisor_note(message),
            f"Open the agent app: {_link('agent-app')}",
            "",
        ]
    elif event.kind == kind.REJECTED:
        subject = "About your application"
        lines = [f"We cannot approve your application now: {application.get_reject_reason_display()}.", ""]
        lines += _supervisor_note(message)
        if application.retry_after:
            lines += [f"You may apply again from {application.retry_after:%d %B %Y}.", ""]
    else:
        subject = "We need a little more information"
        lines = [
            "A supervisor needs a little more information before deciding:",
            "",
            message,
            "",
            f"Update your application: {_link('apply-start')}",
            "",
        ]
    body = [
        f"Hello {application.display_name},",
        "",
        *lines,
        f"See where you stand: {_link('apply-status')}",
        "",
        f"The {settings.SITE_NAME} team",
    ]
    return f"[{settings.SITE_NAME}] {subject}", "\n".join(body) + "\n"


@shared_task(
    autoretry_for=RETRYABLE_MAIL_ERRORS,
    max_retries=5,
    retry_backoff=True,  # 1 s, 2 s, 4 s ... between attempts
    retry_backoff_max=600,
    retry_jitter=True,
)
def application_event_email_send(event_id: int) -> bool:
    """E-mail the applicant about one ApplicationEvent. False if the event is gone (its
    application was deleted before the job ran): there is no one left to tell."""
    event = ApplicationEvent.objects.select_related("application__user").filter(pk=event_id).first()
    if event is None:
        return False
    subject, body = application_event_email(event)
    send_mail(
        subject=subject,
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[event.application.user.email],
    )
    return True
