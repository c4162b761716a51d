from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from marketplace.errors import DomainError
from marketplace.models import Brand, User

from . import services
from .forms import AVAILABILITY_CHOICES, BLOCKS, DAYS, STEP_KEYS, STEPS, step_initial, step_payload
from .models import AgentProfile, Application, AssessmentAttempt, AssessmentQuestion


@login_required
def agent_app(request):
    agent = AgentProfile.objects.filter(user=request.user).prefetch_related("brands", "languages").first()
    if agent is None:
        return render(request, "agent/not_agent.html", status=403)
    return render(
        request,
        "agent/app.html",
        {
            "agent": agent,
            "ws_path": "/ws/agent/",
            # The guide stays until the first case is resolved.
            "first_day": not agent.earnings.exists(),
            "offer_seconds": settings.OFFER_TIMEOUT_SECONDS,
            "reopen_hours": settings.REOPEN_WINDOW_HOURS,
        },
    )


# --- Applicant journey ---------------------------------------------------------------------


def _steps_context(application: Application, current: str) -> list[dict]:
    return [
        {"key": key, "title": title, "done": key in application.answers, "current": key == current}
        for key, title, _ in STEPS
    ]


@login_required
def apply_start(request):
    if AgentProfile.objects.filter(user=request.user).exists():
        return redirect("agent-app")
    application = services.application_for(user=request.user)
    if not application.is_editable:
        return redirect("apply-status")
    missing = services.application_missing_steps(application)
    return redirect("apply-step", step=missing[0]) if missing else redirect("apply-review")


@login_required
def apply_step(request, step: str):
    if step not in STEP_KEYS:
        raise Http404
    application = services.application_for(user=request.user)
    if not application.is_editable:
        messages.info(request, "Your application is with our team; here is where it stands.")
        return redirect("apply-status")
    form_class = dict((key, form) for key, _, form in STEPS)[step]
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            services.application_save_step(application=application, step=step, payload=step_payload(step, form))
            if "save_exit" in request.POST:
                messages.success(request, "Saved. Come back any time to continue.")
                return redirect("apply-status")
            position = STEP_KEYS.index(step)
            return redirect("apply-step", step=STEP_KEYS[position + 1]) if position + 1 < len(STEP_KEYS) else redirect("apply-review")
    else:
        form = form_class(initial=step_initial(step, application.answers.get(step)))
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


def _answers_for_display(application: Application) -> dict:
    answers = application.answers
    brands = {b.pk: b.name for b in Brand.objects.all()}
    slots = dict(AVAILABILITY_CHOICES)
    return {
        "profile": answers.get("profile") or {},
        "languages": (answers.get("languages") or {}).get("languages", []),
        "skills": (answers.get("skills") or {}).get("skills", []),
        "brands": [
            {"name": brands.get(row["brand_id"], "?"), "why": row["why"]}
            for row in (answers.get("brands") or {}).get("brands", [])
        ],
        "availability": [slots.get(s, s) for s in (answers.get("availability") or {}).get("slots", [])],
        "device": answers.get("device") or {},
    }


@login_required
def apply_review(request):
    application = services.application_for(user=request.user)
    if not application.is_editable:
        return redirect("apply-status")
    if request.method == "POST":
        try:
            services.application_submit(application=application)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Application sent. We will e-mail you when a supervisor has looked at it.")
            return redirect("apply-status")
    return render(
        request,
        "apply/review.html",
        {
            "application": application,
            "answers": _answers_for_display(application),
            "missing": services.application_missing_steps(application),
            "steps": _steps_context(application, "review"),
        },
    )


@login_required
def apply_status(request):
    application = Application.objects.filter(user=request.user).prefetch_related("events").first()
    return render(
        request, "apply/status.html", {"application": application, "assessments": assessment_overview(application)}
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


# --- Supervisor vetting queue ------------------------------------------------------------------


def supervisor_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != User.Role.SUPERVISOR and not request.user.is_superuser:
            return render(request, "supervisor/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


@supervisor_required
def vetting_queue(request):
    mine = services.supervised_brand_ids(request.user)
    status = request.GET.get("status") or "open"
    brand = request.GET.get("brand") or ""
    language = request.GET.get("language") or ""
    qs = (
        Application.objects.select_related("user")
        .prefetch_related("attempts__brand")
        .order_by("submitted_at", "pk")
    )
    if status == "open":
        qs = qs.filter(status__in=Application.OPEN)
    elif status in Application.Status.values:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status=Application.Status.DRAFT)
    rows = []
    for application in qs:
        chosen = application.chosen_brand_ids
        if not chosen & mine or (brand.isdigit() and int(brand) not in chosen):
            continue
        codes = [row["code"] for row in (application.answers.get("languages") or {}).get("languages", [])]
        if language and language not in codes:
            continue
        rows.append({"application": application, "languages": codes, "attempts": list(application.attempts.all())})
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "supervisor/applications.html",
        {
            "page": page,
            "status": status,
            "brand": brand,
            "language": language,
            "brands": Brand.objects.filter(pk__in=mine).order_by("name"),
            "statuses": [("open", "Waiting for a decision")] + [
                (value, label) for value, label in Application.Status.choices if value != Application.Status.DRAFT
            ] + [("all", "All")],
        },
    )


def _attempts_for_grading(application: Application) -> list[dict]:
    rows = []
    for attempt in AssessmentAttempt.objects.filter(application=application).select_related("brand"):
        written = [
            {"q": q, "reply": attempt.answers.get(str(q.pk), ""), "score": attempt.written_scores.get(str(q.pk))}
            for q in services.assessment_questions(attempt)
            if q.kind == AssessmentQuestion.Kind.WRITTEN
        ]
        rows.append({"attempt": attempt, "written": written})
    return rows


@supervisor_required
def vetting_detail(request, pk: int):
    application = get_object_or_404(
        Application.objects.select_related("user").prefetch_related("events"), pk=pk, status__in=[
            s for s in Application.Status.values if s != Application.Status.DRAFT
        ]
    )
    if not application.chosen_brand_ids & services.supervised_brand_ids(request.user):
        raise Http404
    if request.method == "POST":
        try:
            services.application_decide(
                application=application,
                supervisor=request.user,
                decision=request.POST.get("decision", ""),
                reason=request.POST.get("reason", ""),
                message=request.POST.get("message", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Decision saved and the applicant has been e-mailed.")
            return redirect("vetting-queue")
    return render(
        request,
        "supervisor/application_detail.html",
        {
            "application": application,
            "answers": _answers_for_display(application),
            "reasons": Application.RejectReason.choices,
            "attempts": _attempts_for_grading(application),
            "rubric_scores": range(services.RUBRIC_MAX + 1),
        },
    )


# --- Brand assessment ----------------------------------------------------------------------


def assessment_overview(application: Application | None) -> list[dict]:
    """Per chosen brand: the latest attempt, for the status page."""
    if application is None:
        return []
    ids = application.chosen_brand_ids
    latest = {}
    for attempt in AssessmentAttempt.objects.filter(application=application).order_by("started_at"):
        latest[attempt.brand_id] = attempt
    return [{"brand": brand, "attempt": latest.get(brand.pk)} for brand in Brand.objects.filter(pk__in=ids).order_by("name")]


@login_required
@require_POST
def assessment_start(request, brand_id: int):
    application = get_object_or_404(Application, user=request.user)
    brand = get_object_or_404(Brand, pk=brand_id)
    try:
        attempt = services.assessment_start(application=application, brand=brand)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("apply-status")
    return redirect("assessment-attempt", attempt_id=attempt.pk)


@login_required
def assessment_attempt(request, attempt_id: int):
    attempt = get_object_or_404(
        AssessmentAttempt.objects.select_related("brand"), pk=attempt_id, application__user=request.user
    )
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
            messages.success(request, f"Thank you. Your {attempt.brand.name} assessment was handed in.")
            return redirect("apply-status")
    questions = [
        {"q": q, "error": errors.get(str(q.pk)), "given": given.get(str(q.pk), ""), "options": list(enumerate(q.options))}
        for q in services.assessment_questions(attempt)
    ]
    return render(
        request,
        "apply/assessment.html",
        {"attempt": attempt, "questions": questions, "now": timezone.now()},
    )


@supervisor_required
@require_POST
def assessment_grade(request, attempt_id: int):
    attempt = get_object_or_404(AssessmentAttempt, pk=attempt_id)
    scores = {key.removeprefix("score_"): value for key, value in request.POST.items() if key.startswith("score_")}
    try:
        graded = services.assessment_grade(attempt_id=attempt.pk, supervisor=request.user, scores=scores)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        verdict = "passed" if graded.passed else "did not pass"
        messages.success(request, f"Graded: {graded.score_percent}% ({verdict}).")
    return redirect("vetting-detail", pk=attempt.application_id)
