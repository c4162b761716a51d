"""Celery jobs of the applicant journey. They take ids and own their retries; services
enqueue them from `transaction.on_commit`, so nothing is sent about a rolled-back change."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import ApplicationEvent

SUBJECT_PREFIX = "[Support Marketplace] "

# A mail server that is down, slow or refusing for now; worth asking again later.
# (smtplib.SMTPException is an OSError too, but naming it says what is meant.)
RETRYABLE_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


def application_event_email(event: ApplicationEvent) -> tuple[str, str]:
    """Subject and body of the e-mail telling the applicant about one event."""
    application = event.application
    kind = ApplicationEvent.Kind
    if event.kind == kind.SUBMITTED:
        subject, body = "We received your application", "Thank you for applying. A supervisor will review it soon."
    elif event.kind == kind.APPROVED:
        subject, body = "Welcome aboard", "Your application was approved. Log in to open the agent app."
    elif event.kind == kind.REJECTED:
        subject = "About your application"
        body = f"We cannot approve your application now: {application.get_reject_reason_display()}.\n{event.message}"
        if application.retry_after:
            body += f"\nYou may apply again from {application.retry_after:%d %B %Y}."
    else:
        subject, body = "We need a little more information", event.message
    status_url = f"{settings.SITE_URL}{reverse('apply-status')}"
    return f"{SUBJECT_PREFIX}{subject}", f"{body}\n\nSee where you stand: {status_url}\n"


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
