"""The supervisors' pages: their home, the vetting desk (the queue, one application with its
decision form) and the grading of written assessment replies."""

from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from marketplace.errors import DomainError
from marketplace.models import User
from payouts.views.supervisor import supervisor_or_staff_required

from .. import selectors, services, supervisor_selectors
from ..models import Application, AssessmentAttempt
from ..quality import selectors as quality_selectors


def may_vet(user) -> bool:
    """Who may use the vetting desk (and the pages behind `supervisor_required`)."""
    return user.is_authenticated and (user.role == User.Role.SUPERVISOR or user.is_superuser)


def supervisor_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not may_vet(request.user):
            return render(request, "supervisor/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


@supervisor_or_staff_required
def supervisor_home(request):
    """The hub a shift is run from: what is happening in each brand now, what waits on the
    desks, and the way to every supervisor page. Supervisors land here after login, and
    platform staff too after setting up two-factor authentication."""
    return render(
        request,
        "supervisor/home.html",
        {
            "brands": supervisor_selectors.home_brand_counts(request.user),
            "quality": quality_selectors.quality_desk_counts(request.user),
            "can_vet": may_vet(request.user),
            # Platform staff only; a supervisor flagged staff by mistake is still kept out.
            "show_admin": admin.site.has_permission(request),
        },
    )


@supervisor_required
def vetting_queue(request):
    status = request.GET.get("status") or "open"
    brand = request.GET.get("brand") or ""
    language = request.GET.get("language") or ""
    page = selectors.vetting_queue_page(
        user=request.user, status=status, brand=brand, language=language, page_number=request.GET.get("page")
    )
    return render(
        request,
        "supervisor/applications.html",
        {
            "page": page,
            "status": status,
            "brand": brand,
            "language": language,
            "brands": selectors.supervised_brands(user=request.user),
            "statuses": selectors.vetting_statuses(),
        },
    )


@supervisor_required
def vetting_detail(request, pk: int):
    application = selectors.application_for_vetting(user=request.user, application_id=pk)
    if application is None:
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
            messages.success(request, gettext("Decision saved and the applicant has been e-mailed."))
            return redirect("vetting-queue")
    return render(
        request,
        "supervisor/application_detail.html",
        {
            "application": application,
            "answers": selectors.application_answers_for_display(application=application),
            "reasons": Application.RejectReason.choices,
            "attempts": selectors.attempts_for_grading(application=application),
            "rubric_scores": range(services.RUBRIC_MAX + 1),
        },
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
        verdict = (
            gettext("Graded: %(percent)s%% (passed).")
            if graded.passed
            else gettext("Graded: %(percent)s%% (did not pass).")
        )
        messages.success(request, verdict % {"percent": graded.score_percent})
    return redirect("vetting-detail", pk=attempt.application_id)
