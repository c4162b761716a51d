"""Celery jobs of the applicant journey. They take ids and own their retries; services
enqueue them from `transaction.on_commit`, so nothing is sent about a rolled-back change."""

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext

from marketplace.i18n import supported_language

from .models import ApplicationEvent

# A mail server that is down, slow or refusing for now; worth asking again later.
# (smtplib.SMTPException is an OSError too, but naming it says what is meant.)
RETRYABLE_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


def _link(name: str) -> str:
    # Absolute on SITE_URL: the job runs in a worker, which has no request to take a host from.
    return f"{settings.SITE_URL}{reverse(name)}"


def _supervisor_note(message: str) -> list[str]:
    return [gettext("A note from the supervisor who decided:"), "", message, ""] if message else []


def application_event_email(event: ApplicationEvent) -> tuple[str, str]:
    """Subject and body of the e-mail telling the applicant about one event, in the language
    they sent the application in. A decision carries the supervisor's own words, so the
    applicant need not log in to read them."""
    language = supported_language(event.application.language) or settings.LANGUAGE_CODE
    with translation.override(language):
        return _application_event_email(event)


def _application_event_email(event: ApplicationEvent) -> tuple[str, str]:
    application = event.application
    kind = ApplicationEvent.Kind
    message = event.message.strip()
    site = {"site": settings.SITE_NAME}
    if event.kind == kind.SUBMITTED:
        subject = gettext("We received your application")
        lines = [
            gettext(
                "Thank you for applying to %(site)s. A supervisor will review your application soon,\n"
                "and we will e-mail you when they have. Meanwhile you can take the brand assessments."
            )
            % site,
            "",
        ]
    elif event.kind == kind.APPROVED:
        subject = gettext("Welcome aboard")
        lines = [
            gettext("Your application was approved. You start in probation: one chat at a time while you learn."),
            "",
            *_supervisor_note(message),
            gettext("Open the agent app: %(link)s") % {"link": _link("agent-app")},
            "",
        ]
    elif event.kind == kind.REJECTED:
        subject = gettext("About your application")
        lines = [
            gettext("We cannot approve your application now: %(reason)s.")
            % {"reason": application.get_reject_reason_display()},
            "",
        ]
        lines += _supervisor_note(message)
        if application.retry_after:
            lines += [
                gettext("You may apply again from %(date)s.") % {"date": date_format(application.retry_after, "j F Y")},
                "",
            ]
    else:
        subject = gettext("We need a little more information")
        lines = [
            gettext("A supervisor needs a little more information before deciding:"),
            "",
            message,
            "",
            gettext("Update your application: %(link)s") % {"link": _link("apply-start")},
            "",
        ]
    body = [
        gettext("Hello %(name)s,") % {"name": application.display_name},
        "",
        *lines,
        gettext("See where you stand: %(link)s") % {"link": _link("apply-status")},
        "",
        gettext("The %(site)s team") % site,
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


# --- Quality --------------------------------------------------------------------------------


@shared_task
def quality_recompute(*, agent_id: int, cause: str = "recompute", ticket_id: int | None = None, detail=None) -> str:
    """Enqueued on commit after a rating or a review (agents.quality.signals)."""
    from .quality.services import quality_recompute as recompute

    return str(recompute(agent_id=agent_id, cause=cause, ticket_id=ticket_id, detail=detail))


@shared_task
def reviews_sample_due() -> int:
    """Put settled cases into the QA queue (beat); returns how many reviews were opened."""
    from .quality.services import reviews_sample_due as sample

    return sample()


@shared_task
def quality_recompute_all() -> int:
    from .quality.services import quality_recompute_all as recompute_all

    return recompute_all()
