"""Writes for the applicant journey: drafts, submission, the supervisor's decision."""

from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from marketplace.errors import Conflict, DomainError, Forbidden
from marketplace.models import Brand, User

from .forms import STEP_KEYS
from .models import AgentLanguage, AgentProfile, AgentSkill, Application, ApplicationEvent


def application_for(*, user: User) -> Application:
    """The user's application, started as an empty draft on first visit."""
    application, _ = Application.objects.get_or_create(user=user)
    return application


def application_save_step(*, application: Application, step: str, payload: dict) -> Application:
    """Store one validated step of the draft. Refused once the application is with us."""
    if step not in STEP_KEYS:
        raise DomainError("unknown_step", f"There is no step {step!r}.")
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if not locked.is_editable:
            raise Conflict("application_locked", "Your application is with our team; it cannot be changed now.")
        locked.answers = {**locked.answers, step: payload}
        locked.save(update_fields=["answers", "updated_at"])
    return locked


def application_missing_steps(application: Application) -> list[str]:
    return [step for step in STEP_KEYS if step not in application.answers]


def _notify(application: Application, subject: str, body: str) -> None:
    status_url = f"{settings.SITE_URL}{reverse('apply-status')}"
    transaction.on_commit(
        lambda: send_mail(
            subject=f"[Support Marketplace] {subject}",
            message=f"{body}\n\nSee where you stand: {status_url}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[application.user.email],
            fail_silently=True,
        )
    )


def application_submit(*, application: Application) -> Application:
    """Send a complete draft (or the answer to a request for information) to the vetting queue."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().select_related("user").get(pk=application.pk)
        if locked.is_open and locked.status != Application.Status.INFO_REQUESTED:
            raise Conflict("application_open", "Your application is already with our team.")
        if not locked.is_editable:
            raise Conflict("application_locked", f"This application is {locked.get_status_display().lower()}.")
        missing = application_missing_steps(locked)
        if missing:
            raise DomainError("application_incomplete", "Please complete every step first: " + ", ".join(missing) + ".")
        locked.status = Application.Status.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["status", "submitted_at", "updated_at"])
        ApplicationEvent.objects.create(application=locked, kind=ApplicationEvent.Kind.SUBMITTED, actor=locked.user)
        _notify(locked, "We received your application", "Thank you for applying. A supervisor will review it soon.")
    return locked


def application_restart(*, application: Application) -> Application:
    """After a refusal, start again from the old answers once the waiting time is over."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status != Application.Status.REJECTED:
            raise Conflict("application_not_rejected", "Only a refused application can be started again.")
        if locked.retry_after and timezone.now() < locked.retry_after:
            raise Conflict(
                "retry_not_yet", f"You can apply again from {locked.retry_after:%d %B %Y}."
            )
        locked.status = Application.Status.DRAFT
        locked.save(update_fields=["status", "updated_at"])
    return locked


def supervised_brand_ids(user: User) -> set[int]:
    if user.is_superuser:
        return set(Brand.objects.values_list("pk", flat=True))
    return set(user.supervised_brands.values_list("pk", flat=True))


def application_decide(
    *, application: Application, supervisor: User, decision: str, reason: str = "", message: str = ""
) -> Application:
    """Approve, reject (with a reason code) or ask for more information.

    Only a supervisor of a brand the applicant chose may decide, and only on an open
    application; the row is locked, so two supervisors deciding at once cannot both win.
    Approval makes the user an agent in probation, certified for the chosen brands this
    supervisor is responsible for.
    """
    message = (message or "").strip()
    if decision not in ("approve", "reject", "info"):
        raise DomainError("invalid_decision", "Choose approve, reject or ask for information.")
    with transaction.atomic():
        locked = Application.objects.select_for_update().select_related("user").get(pk=application.pk)
        chosen = {row["brand_id"] for row in (locked.answers.get("brands") or {}).get("brands", [])}
        mine = chosen & supervised_brand_ids(supervisor)
        if not mine:
            raise Forbidden("not_your_brand", "You do not supervise any brand this applicant chose.")
        if locked.status not in Application.OPEN:
            raise Conflict("application_not_open", f"This application is already {locked.get_status_display().lower()}.")
        if decision == "info" and locked.status != Application.Status.SUBMITTED:
            raise Conflict("info_already_requested", "More information has already been requested.")
        now = timezone.now()
        if decision == "approve":
            _make_agent(locked, brand_ids=mine)
            locked.status, kind = Application.Status.APPROVED, ApplicationEvent.Kind.APPROVED
            subject, body = "Welcome aboard", "Your application was approved. Log in to open the agent app."
        elif decision == "reject":
            if reason not in Application.RejectReason.values:
                raise DomainError("reason_required", "Choose a reason for the refusal.", fields={"reason": ["Required."]})
            locked.status, kind = Application.Status.REJECTED, ApplicationEvent.Kind.REJECTED
            locked.reject_reason = reason
            locked.retry_after = now + timedelta(days=settings.APPLICATION_RETRY_DAYS)
            subject = "About your application"
            body = (
                f"We cannot approve your application now: {locked.get_reject_reason_display()}.\n"
                f"{message}\nYou may apply again from {locked.retry_after:%d %B %Y}."
            )
        else:
            if not message:
                raise DomainError("message_required", "Tell the applicant what you need.", fields={"message": ["Required."]})
            locked.status, kind = Application.Status.INFO_REQUESTED, ApplicationEvent.Kind.INFO_REQUESTED
            subject, body = "We need a little more information", message
        locked.decided_at, locked.decided_by, locked.decision_message = now, supervisor, message
        locked.save()
        ApplicationEvent.objects.create(application=locked, kind=kind, actor=supervisor, message=message)
        _notify(locked, subject, body)
    return locked


def _make_agent(application: Application, *, brand_ids: set[int]) -> AgentProfile:
    answers = application.answers
    user = application.user
    profile, _ = AgentProfile.objects.get_or_create(
        user=user,
        defaults={
            "display_name": answers["profile"]["display_name"],
            "tier": AgentProfile.Tier.PROBATION,
            "capacity": settings.PROBATION_CAPACITY,
        },
    )
    profile.brands.add(*brand_ids)
    for row in answers["languages"]["languages"]:
        AgentLanguage.objects.update_or_create(agent=profile, code=row["code"], defaults={"proficiency": row["proficiency"]})
    for code in answers.get("skills", {}).get("skills", []):
        AgentSkill.objects.get_or_create(agent=profile, code=code)
    User.objects.filter(pk=user.pk).update(role=User.Role.AGENT)
    return profile
