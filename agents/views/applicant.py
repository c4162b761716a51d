"""The applicant's journey: the application wizard, review and sending, the status page,
starting again after a refusal, and the timed brand assessments."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.errors import DomainError
from marketplace.models import Brand

from .. import selectors, services
from ..forms import BLOCKS, DAYS, STEP_KEYS, STEPS, step_initial, step_payload
from ..models import Application, AssessmentAttempt


def _steps_context(application: Application, current: str) -> list[dict]:
    return [
        {"key": key, "title": title, "done": key in application.answers, "current": key == current}
        for key, title, _ in STEPS
    ]


@login_required
def apply_start(request):
    if selectors.user_is_agent(user=request.user):
        return redirect("agent-app")
    application = services.application_for(user=request.user)
    if not application.is_editable:
        return redirect("apply-status")
    missing = selectors.application_missing_steps(application=application)
    return redirect("apply-step", step=missing[0]) if missing else redirect("apply-review")


@login_required
def apply_step(request, step: str):
    if step not in STEP_KEYS:
        raise Http404
    application = services.application_for(user=request.user)
    if not application.is_editable:
        messages.info(request, gettext("Your application is with our team; here is where it stands."))
        return redirect("apply-status")
    form_class = dict((key, form) for key, _, form in STEPS)[step]
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            services.application_save_step(application=application, step=step, payload=step_payload(step, form))
            if "save_exit" in request.POST:
                messages.success(request, gettext("Saved. Come back any time to continue."))
                return redirect("apply-status")
            position = STEP_KEYS.index(step)
            return (
                redirect("apply-step", step=STEP_KEYS[position + 1])
                if position + 1 < len(STEP_KEYS)
                else redirect("apply-review")
            )
    else:
        form = form_class(initial=step_initial(step, application.answers.get(step), country=str(application.country)))
    position = STEP_KEYS.index(step)
    return render(
        request,
        "apply/step.html",
        {
            "form": form,
            "step": step,
            "title": STEPS[position][1],
            "steps": _steps_context(application, step),
            "previous": STEP_KEYS[position - 1] if position else None,
            "days": DAYS,
            "blocks": BLOCKS,
            "application": application,
        },
    )


@login_required
def apply_review(request):
    application = services.application_for(user=request.user)
    if not application.is_editable:
        return redirect("apply-status")
    if request.method == "POST":
        try:
            services.application_submit(application=application, language=request.LANGUAGE_CODE)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, gettext("Application sent. We will e-mail you when a supervisor has looked at it.")
            )
            return redirect("apply-status")
    titles = {key: title for key, title, _ in STEPS}
    return render(
        request,
        "apply/review.html",
        {
            "application": application,
            "answers": selectors.application_answers_for_display(application=application),
            "missing": [(step, titles[step]) for step in selectors.application_missing_steps(application=application)],
            "steps": _steps_context(application, "review"),
        },
    )


@login_required
def apply_status(request):
    application = selectors.application_with_events(user=request.user)
    return render(
        request,
        "apply/status.html",
        {"application": application, "assessments": selectors.assessment_overview(application=application)},
    )


@login_required
@require_POST
def apply_restart(request):
    application = get_object_or_404(Application, user=request.user)
    try:
        services.application_restart(application=application)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("apply-status")
    return redirect("apply-start")


# --- Brand assessment ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def assessment_start(request, brand_id: int):
    """GET: what the timed assessment is and that the clock starts with the Start button;
    POST (that button): start it. Opening the page never starts the clock."""
    application = get_object_or_404(Application, user=request.user)
    brand = get_object_or_404(Brand, pk=brand_id)
    if request.method == "GET":
        if brand.pk not in application.chosen_brand_ids:
            raise Http404
        running = selectors.attempt_in_progress(application=application, brand=brand)
        if running is not None:
            return redirect("assessment-attempt", attempt_id=running.pk)
        return render(
            request,
            "apply/assessment_start.html",
            {"brand": brand, "counts": selectors.assessment_question_counts(brand=brand), "application": application},
        )
    try:
        attempt = services.assessment_start(application=application, brand=brand)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("apply-status")
    return redirect("assessment-attempt", attempt_id=attempt.pk)


@login_required
def assessment_attempt(request, attempt_id: int):
    attempt = selectors.attempt_of_applicant(user=request.user, attempt_id=attempt_id)
    if attempt is None:
        raise Http404
    if attempt.status != AssessmentAttempt.Status.IN_PROGRESS:
        return redirect("apply-status")
    errors, given = {}, {}
    if request.method == "POST":
        given = {key.removeprefix("q_"): value for key, value in request.POST.items() if key.startswith("q_")}
        try:
            services.assessment_submit(attempt_id=attempt.pk, user=request.user, answers=given)
        except DomainError as exc:
            if exc.code != "invalid_answers":
                messages.error(request, exc.message)
                return redirect("apply-status")
            errors = exc.fields or {}
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                gettext("Thank you. Your %(brand)s assessment was handed in.") % {"brand": attempt.brand.name},
            )
            return redirect("apply-status")
    questions = [
        {
            "q": q,
            "error": errors.get(str(q.pk)),
            "given": given.get(str(q.pk), ""),
            "options": list(enumerate(q.options)),
        }
        for q in selectors.assessment_questions(attempt=attempt)
    ]
    return render(
        request,
        "apply/assessment.html",
        {"attempt": attempt, "questions": questions, "now": timezone.now()},
    )
