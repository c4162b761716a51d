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


# Where the agent reads the reason and the evidence, and appeals.
AGENT_QUALITY_PATH = "/agent/quality/"


def sanction_email(sanction_id: int, *, event: str) -> tuple[str, str] | None:
    """What the agent is told of a warning or suspension (`issued`) or of the decision on
    their appeal (`decided`), in the language they applied in: the reason and the note in
    full, so nobody learns of a suspension only from a refused button."""
    from tasks.jobs import _agent_language_and_zone

    from .models import Sanction

    sanction = Sanction.objects.select_related("agent__user", "brand").filter(pk=sanction_id).first()
    if sanction is None or not sanction.agent.user.email:
        return None
    language, _ = _agent_language_and_zone(sanction.agent)
    with translation.override(language):
        names = {"name": sanction.agent.display_name, "brand": sanction.brand.name}
        link = gettext("Your quality record: %(link)s") % {"link": f"{settings.SITE_URL}{AGENT_QUALITY_PATH}"}
        appeal = getattr(sanction, "appeal", None)
        if event == "decided" and appeal is not None:
            overturned = appeal.state == appeal.State.OVERTURNED
            subject = gettext("Your appeal was upheld") if overturned else gettext("Your appeal was decided")
            lines = [
                (
                    gettext("A supervisor overturned the %(kind)s. It no longer counts against you.")
                    if overturned
                    else gettext("A supervisor looked at your appeal and kept the %(kind)s.")
                )
                % {"kind": sanction.get_kind_display().lower()},
                "",
                gettext("Their note: %(note)s") % {"note": appeal.decision_note},
            ]
        else:
            suspended = sanction.kind == sanction.Kind.SUSPENSION
            subject = gettext("Your account is suspended") if suspended else gettext("A warning about your work")
            lines = [
                (
                    gettext(
                        "A supervisor of %(brand)s suspended your account. You cannot take chats until it is lifted."
                    )
                    if suspended
                    else gettext("A supervisor of %(brand)s sent you a warning.")
                )
                % names,
                "",
                gettext("Reason: %(reason)s") % {"reason": sanction.get_reason_display()},
                gettext("Their note: %(note)s") % {"note": sanction.note},
                "",
                gettext(
                    "The conversations it is about are listed in your quality record. If you think it is wrong, "
                    "appeal there: a different supervisor decides."
                ),
            ]
        body = [gettext("Hello %(name)s,") % names, "", *lines, "", link, ""]
        return f"[{settings.SITE_NAME}] {subject}", "\n".join(body)


@shared_task(
    autoretry_for=RETRYABLE_MAIL_ERRORS, max_retries=5, retry_backoff=True, retry_backoff_max=600, retry_jitter=True
)
def sanction_email_send(sanction_id: int, event: str) -> bool:
    mail = sanction_email(sanction_id, event=event)
    if mail is None:
        return False
    from .models import Sanction

    email = Sanction.objects.filter(pk=sanction_id).values_list("agent__user__email", flat=True).get()
    send_mail(subject=mail[0], message=mail[1], from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[email])
    return True
