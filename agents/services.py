"""Writes for the applicant journey: drafts, submission, the supervisor's decision, the
brand assessments. Reads are in `selectors.py`; e-mails go out from `jobs.py`."""

import base64
import binascii
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.models import Brand, User

from . import jobs
from .forms import STEP_KEYS
from .models import (
    AgentLanguage,
    AgentProfile,
    AgentSkill,
    Application,
    ApplicationEvent,
    AssessmentAttempt,
    AssessmentQuestion,
    PushSubscription,
)
from .selectors import application_missing_steps, assessment_questions, supervised_brand_ids


def application_for(*, user: User) -> Application:
    """The user's application, started as an empty draft on first visit."""
    application, _ = Application.objects.get_or_create(user=user)
    return application


def application_save_step(*, application: Application, step: str, payload: dict) -> Application:
    """Store one validated step of the draft. Refused once the application is with us.

    The profile's country goes to its own column (an ISO 3166 code); a chosen country
    replaces whatever unmatched text an older form had kept for review.
    """
    if step not in STEP_KEYS:
        raise DomainError("unknown_step", f"There is no step {step!r}.")
    payload = dict(payload)
    country = payload.pop("country", None) if step == "profile" else None
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if not locked.is_editable:
            raise Conflict(
                "application_locked", gettext("Your application is with our team; it cannot be changed now.")
            )
        locked.answers = {**locked.answers, step: payload}
        fields = ["answers", "updated_at"]
        if country:
            locked.country, locked.country_unmatched = country, ""
            fields += ["country", "country_unmatched"]
        locked.save(update_fields=fields)
    return locked


def _record(application: Application, *, kind: str, actor: User, message: str = "") -> ApplicationEvent:
    """Write the event and e-mail the applicant about it once the transaction commits.

    The job gets only the id, so a rolled-back decision sends nothing. robust=True: a broker
    that is down (or, in eager mode, a mail server that stays down through every retry) is
    logged instead of failing a decision that is already committed.
    """
    event = ApplicationEvent.objects.create(application=application, kind=kind, actor=actor, message=message)
    event_id = event.pk
    transaction.on_commit(lambda: jobs.application_event_email_send.delay(event_id), robust=True)
    return event


def application_submit(*, application: Application, language: str = "") -> Application:
    """Send a complete draft (or the answer to a request for information) to the vetting queue.
    `language` is the interface language it was sent in: the e-mails about it are written in it."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().select_related("user").get(pk=application.pk)
        if locked.is_open and locked.status != Application.Status.INFO_REQUESTED:
            raise Conflict("application_open", gettext("Your application is already with our team."))
        if not locked.is_editable:
            raise Conflict(
                "application_locked",
                gettext("This application is %(status)s.") % {"status": locked.get_status_display().lower()},
            )
        missing = application_missing_steps(application=locked)
        if missing:
            raise DomainError(
                "application_incomplete",
                gettext("Please complete every step first: %(steps)s.") % {"steps": ", ".join(missing)},
            )
        locked.status = Application.Status.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.language = language or locked.language
        locked.save(update_fields=["status", "submitted_at", "language", "updated_at"])
        _record(locked, kind=ApplicationEvent.Kind.SUBMITTED, actor=locked.user)
    return locked


def application_restart(*, application: Application) -> Application:
    """After a refusal, start again from the old answers once the waiting time is over."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status != Application.Status.REJECTED:
            raise Conflict("application_not_rejected", gettext("Only a refused application can be started again."))
        if locked.retry_after and timezone.now() < locked.retry_after:
            raise Conflict(
                "retry_not_yet",
                gettext("You can apply again from %(date)s.") % {"date": date_format(locked.retry_after, "j F Y")},
            )
        locked.status = Application.Status.DRAFT
        locked.save(update_fields=["status", "updated_at"])
    return locked


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
        raise DomainError("invalid_decision", gettext("Choose approve, reject or ask for information."))
    with transaction.atomic():
        locked = Application.objects.select_for_update().select_related("user").get(pk=application.pk)
        mine = locked.chosen_brand_ids & supervised_brand_ids(user=supervisor)
        if not mine:
            raise Forbidden("not_your_brand", gettext("You do not supervise any brand this applicant chose."))
        if locked.status not in Application.OPEN:
            raise Conflict(
                "application_not_open",
                gettext("This application is already %(status)s.") % {"status": locked.get_status_display().lower()},
            )
        if decision == "info" and locked.status != Application.Status.SUBMITTED:
            raise Conflict("info_already_requested", gettext("More information has already been requested."))
        now = timezone.now()
        if decision == "approve":
            _make_agent(locked, brand_ids=mine)
            locked.status, kind = Application.Status.APPROVED, ApplicationEvent.Kind.APPROVED
        elif decision == "reject":
            if reason not in Application.RejectReason.values:
                raise DomainError(
                    "reason_required", gettext("Choose a reason for the refusal."), fields={"reason": ["Required."]}
                )
            locked.status, kind = Application.Status.REJECTED, ApplicationEvent.Kind.REJECTED
            locked.reject_reason = reason
            locked.retry_after = now + timedelta(days=settings.APPLICATION_RETRY_DAYS)
        else:
            if not message:
                raise DomainError(
                    "message_required", gettext("Tell the applicant what you need."), fields={"message": ["Required."]}
                )
            locked.status, kind = Application.Status.INFO_REQUESTED, ApplicationEvent.Kind.INFO_REQUESTED
        locked.decided_at, locked.decided_by, locked.decision_message = now, supervisor, message
        locked.save()
        _record(locked, kind=kind, actor=supervisor, message=message)
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
        AgentLanguage.objects.update_or_create(
            agent=profile, code=row["code"], defaults={"proficiency": row["proficiency"]}
        )
    for code in answers.get("skills", {}).get("skills", []):
        AgentSkill.objects.get_or_create(agent=profile, code=code)
    User.objects.filter(pk=user.pk).update(role=User.Role.AGENT)
    return profile


# --- Brand assessment ------------------------------------------------------------------------

WRITTEN_MAX_CHARS = 2000
RUBRIC_MAX = 4


def _expire_if_late(attempt: AssessmentAttempt) -> bool:
    late = timezone.now() > attempt.deadline + timedelta(seconds=settings.ASSESSMENT_GRACE_SECONDS)
    if late and attempt.status == AssessmentAttempt.Status.IN_PROGRESS:
        attempt.status = AssessmentAttempt.Status.EXPIRED
        attempt.passed = False
        attempt.submitted_at = attempt.deadline
        attempt.save(update_fields=["status", "passed", "submitted_at"])
    return late


def assessment_start(*, application: Application, brand: Brand) -> AssessmentAttempt:
    """Start (or continue) the timed assessment of one brand the applicant chose.

    Refused before the application is sent, after a pass, and during the cooldown after a
    failed or expired attempt (ASSESSMENT_RETAKE_DAYS).
    """
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status not in Application.OPEN:
            raise Conflict("application_not_open", gettext("Send your application first; the assessment comes after."))
        if brand.pk not in locked.chosen_brand_ids:
            raise Forbidden("brand_not_chosen", gettext("You did not apply for this brand."))
        previous = list(AssessmentAttempt.objects.select_for_update().filter(application=locked, brand=brand))
        for attempt in previous:
            if attempt.status == AssessmentAttempt.Status.IN_PROGRESS and not _expire_if_late(attempt):
                return attempt
        if any(a.passed for a in previous):
            raise Conflict("assessment_passed", gettext("You already passed this assessment."))
        if any(a.status == AssessmentAttempt.Status.SUBMITTED for a in previous):
            raise Conflict("assessment_waiting", gettext("Your answers are waiting for grading."))
        finished = [a.submitted_at for a in previous if a.submitted_at]
        if finished:
            allowed = max(finished) + timedelta(days=settings.ASSESSMENT_RETAKE_DAYS)
            if timezone.now() < allowed:
                raise Conflict(
                    "retake_not_yet",
                    gettext("You can take this assessment again from %(date)s UTC.")
                    % {"date": date_format(allowed, "j F Y H:i")},
                )
        if not AssessmentQuestion.objects.filter(brand=brand, active=True).exists():
            raise Conflict(
                "no_assessment",
                gettext("%(brand)s has no assessment yet; a supervisor will decide without one.")
                % {"brand": brand.name},
            )
        return AssessmentAttempt.objects.create(
            application=locked, brand=brand, deadline=timezone.now() + timedelta(minutes=brand.assessment_minutes)
        )


def _finish(attempt: AssessmentAttempt, written: list[AssessmentQuestion]) -> None:
    total = attempt.choice_total + len(written)
    earned = attempt.choice_correct + sum(int(attempt.written_scores.get(str(q.pk), 0)) / RUBRIC_MAX for q in written)
    attempt.score_percent = round(100 * earned / total) if total else 0
    attempt.passed = attempt.score_percent >= attempt.brand.assessment_pass_percent
    attempt.status = AssessmentAttempt.Status.GRADED


def _close_late_attempt(attempt_id: int, user: User) -> bool:
    """Mark the user's attempt expired if its time is up; in its own transaction so the
    refusal that follows does not roll the mark back."""
    attempt = (
        AssessmentAttempt.objects.select_for_update()
        .filter(pk=attempt_id, application__user=user, status=AssessmentAttempt.Status.IN_PROGRESS)
        .first()
    )
    return attempt is not None and _expire_if_late(attempt)


def assessment_submit(*, attempt_id: int, user: User, answers: dict) -> AssessmentAttempt:
    """Hand in the answers. Multiple choice is scored at once; written replies wait for a
    supervisor. Late (past the deadline and grace), someone else's or already handed-in
    attempts are refused and nothing is stored."""
    with transaction.atomic():
        late = _close_late_attempt(attempt_id, user)
    if late:
        raise Conflict(
            "assessment_expired", gettext("Time ran out for this assessment; your answers were not counted.")
        )
    with transaction.atomic():
        attempt = (
            AssessmentAttempt.objects.select_for_update()
            .select_related("brand", "application")
            .filter(pk=attempt_id, application__user=user)
            .first()
        )
        if attempt is None:
            raise NotFound("attempt_not_found", gettext("There is no such assessment of yours."))
        if attempt.status != AssessmentAttempt.Status.IN_PROGRESS:
            raise Conflict(
                "attempt_closed",
                gettext("This assessment is already %(status)s.") % {"status": attempt.get_status_display().lower()},
            )
        questions = assessment_questions(attempt=attempt)
        stored: dict[str, int | str] = {}
        correct = 0
        errors: dict[str, str] = {}
        for question in questions:
            raw: Any = answers.get(str(question.pk))
            if question.kind == AssessmentQuestion.Kind.CHOICE:
                try:
                    choice = int(raw)
                except (TypeError, ValueError):
                    errors[str(question.pk)] = gettext("Choose one answer.")
                    continue
                if not 0 <= choice < len(question.options):
                    errors[str(question.pk)] = gettext("Choose one of the answers shown.")
                    continue
                stored[str(question.pk)] = choice
                correct += int(choice == question.correct_option)
            else:
                text = (raw or "").strip() if isinstance(raw, str) else ""
                if not text:
                    errors[str(question.pk)] = gettext("Write a reply to the customer.")
                elif len(text) > WRITTEN_MAX_CHARS:
                    errors[str(question.pk)] = gettext("Keep replies under %(count)s characters.") % {
                        "count": WRITTEN_MAX_CHARS
                    }
                else:
                    stored[str(question.pk)] = text
        if errors:
            raise DomainError("invalid_answers", gettext("Some answers are missing or invalid."), fields=errors)
        attempt.answers = stored
        attempt.choice_correct = correct
        attempt.choice_total = sum(1 for q in questions if q.kind == AssessmentQuestion.Kind.CHOICE)
        attempt.submitted_at = timezone.now()
        written = [q for q in questions if q.kind == AssessmentQuestion.Kind.WRITTEN]
        if written:
            attempt.status = AssessmentAttempt.Status.SUBMITTED
        else:
            _finish(attempt, written)
        attempt.save()
    return attempt


def assessment_grade(*, attempt_id: int, supervisor: User, scores: dict) -> AssessmentAttempt:
    """A supervisor of the brand scores each written reply 0..4 against its rubric."""
    with transaction.atomic():
        attempt = AssessmentAttempt.objects.select_for_update().select_related("brand").filter(pk=attempt_id).first()
        if attempt is None or attempt.brand_id not in supervised_brand_ids(user=supervisor):
            raise NotFound("attempt_not_found", gettext("There is no such assessment for your brands."))
        if attempt.status != AssessmentAttempt.Status.SUBMITTED:
            raise Conflict(
                "attempt_not_waiting",
                gettext("This assessment is %(status)s.") % {"status": attempt.get_status_display().lower()},
            )
        written = [q for q in assessment_questions(attempt=attempt) if q.kind == AssessmentQuestion.Kind.WRITTEN]
        clean = {}
        for question in written:
            given: Any = scores.get(str(question.pk))
            try:
                score = int(given)
            except (TypeError, ValueError):
                score = -1
            if not 0 <= score <= RUBRIC_MAX:
                raise DomainError(
                    "invalid_scores",
                    gettext("Give every written reply a score from 0 to %(max)s.") % {"max": RUBRIC_MAX},
                )
            clean[str(question.pk)] = score
        attempt.written_scores = clean
        attempt.graded_by = supervisor
        _finish(attempt, written)
        attempt.save()
    return attempt


# --- Web Push subscriptions ---------------------------------------------------------------
# Each write locks the agent row first and rewrites `has_push` from the rows, so the copy
# dispatch reads can never say "no" while a subscription exists (or the other way round).


def _b64url_bytes(value: object, *, field: str, length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise DomainError("invalid_subscription", f"keys.{field} must be base64url text.", fields={field: ["required"]})
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != length or (field == "p256dh" and raw[0] != 4):
        raise DomainError(
            "invalid_subscription",
            f"keys.{field} is not a browser push key.",
            fields={field: [f"expected {length} bytes, base64url"]},
        )
    return value.rstrip("=")


def _push_endpoint(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise DomainError("invalid_subscription", "endpoint must be a URL.", fields={"endpoint": ["required"]})
    url = urlsplit(value)
    host = (url.hostname or "").lower()
    known = any(host == allowed or host.endswith("." + allowed) for allowed in settings.WEB_PUSH_HOSTS)
    if url.scheme not in settings.WEB_PUSH_SCHEMES or not known:
        raise DomainError(
            "push_endpoint_not_allowed",
            "endpoint must be an https URL of a browser push service.",
            fields={"endpoint": ["not a known push service"]},
        )
    return value


def _refresh_has_push(agent_id: int) -> None:
    has_push = PushSubscription.objects.filter(agent_id=agent_id).exists()
    AgentProfile.objects.filter(pk=agent_id).exclude(has_push=has_push).update(has_push=has_push)


def push_subscription_save(
    *, agent: AgentProfile, endpoint: object, p256dh: object, auth: object, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Store (or refresh) this browser's subscription for `agent`; returns it and whether
    it is new. An endpoint another agent registered on the same browser moves to this one
    (the browser has one subscription, and whoever logged in last gets the offers).

    Locks: the agent row(s) concerned, in id order, then the subscription row.
    """
    if not settings.WEB_PUSH_ENABLED:
        raise Conflict("push_disabled", "Push notifications are not set up on this server.")
    endpoint = _push_endpoint(endpoint)
    p256dh = _b64url_bytes(p256dh, field="p256dh", length=65)
    auth = _b64url_bytes(auth, field="auth", length=16)
    with transaction.atomic():
        previous = PushSubscription.objects.filter(endpoint=endpoint).values_list("agent_id", flat=True).first()
        agent_ids = sorted({agent.pk} if previous is None else {agent.pk, previous})
        list(AgentProfile.objects.select_for_update().filter(pk__in=agent_ids).order_by("pk").values_list("pk"))
        subscription, created = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={
                "agent": agent,
                "p256dh": p256dh,
                "auth": auth,
                "user_agent": (user_agent or "")[:400],
                "failure_count": 0,
            },
        )
        for agent_id in agent_ids:
            _refresh_has_push(agent_id)
    # New to this agent, even when the browser was another agent's before.
    return subscription, created or previous != agent.pk


def push_subscription_delete(*, agent: AgentProfile, endpoint: object) -> None:
    """The agent turns push off on this browser (or logs out). Only their own rows."""
    if not isinstance(endpoint, str) or not endpoint:
        raise DomainError("invalid_subscription", "endpoint must be a URL.", fields={"endpoint": ["required"]})
    with transaction.atomic():
        AgentProfile.objects.select_for_update().filter(pk=agent.pk).values_list("pk").first()
        deleted, _ = PushSubscription.objects.filter(agent=agent, endpoint=endpoint).delete()
        if not deleted:
            raise NotFound("push_subscription_not_found", "This browser has no push subscription for you.")
        _refresh_has_push(agent.pk)


def push_subscription_record(*, subscription_id: int, ok: bool, gone: bool = False) -> None:
    """What the push service answered for one subscription: success, a failure, or gone
    (404/410: the browser dropped it, so the row is deleted)."""
    if ok:
        PushSubscription.objects.filter(pk=subscription_id).update(last_success_at=timezone.now(), failure_count=0)
        return
    if not gone:
        PushSubscription.objects.filter(pk=subscription_id).update(failure_count=F("failure_count") + 1)
        return
    agent_id = PushSubscription.objects.filter(pk=subscription_id).values_list("agent_id", flat=True).first()
    if agent_id is None:
        return
    with transaction.atomic():
        AgentProfile.objects.select_for_update().filter(pk=agent_id).values_list("pk").first()
        PushSubscription.objects.filter(pk=subscription_id).delete()
        _refresh_has_push(agent_id)
