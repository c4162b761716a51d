"""The supervisors' quality pages: the quality desk (what waits), the QA review queue, one
review with its scorecard and dispute decision, one agent's quality with warnings and
suspensions, and one appeal with its decision.

The rules live in `agents.quality.services` (each write audit-logged there, with the
request's address) and the scope in `agents.quality.selectors`: a supervisor reaches the
brands they supervise, platform staff every brand, and a row of another brand is 404 as
if it did not exist. Each page POSTs to itself; a refusal re-renders the page with the
service's message next to the form and what was typed kept, and changes nothing.
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from marketplace.errors import DomainError, NotFound
from marketplace.models import Brand, User
from payouts.views.supervisor import supervisor_or_staff_required

from ..models import AgentProfile, Appeal, QualityFlag, Review, Sanction
from ..quality import selectors, services

QUEUE_PAGE_SIZE = 50
# The desk shows the oldest of each kind; the review queue has them all.
DESK_LIST_LIMIT = 20

REVIEW_STATUSES = [
    ("open", _("Waiting for a score")),
    ("disputed", _("Disputed, waiting for a decision")),
    ("scored", _("Scored")),
    ("void", _("Voided")),
    ("all", _("All")),
]
CRITERIA = {
    "accuracy": (_("Accuracy"), _("The answer was right and complete.")),
    "empathy": (_("Empathy"), _("The agent understood the customer's situation.")),
    "policy": (_("Policy"), _("The brand's rules and procedures were followed.")),
    "tone": (_("Tone"), _("Clear, friendly and professional language.")),
}
SCORE_LABELS = [
    (0, _("Not met")),
    (1, _("Poor")),
    (2, _("Fair")),
    (3, _("Good")),
    (4, _("Excellent")),
]
NEED_LABELS = {
    "resolved_cases": _("Resolved cases"),
    "quality_score": _("Quality score"),
    "qa_reviews": _("Scored QA reviews"),
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # behind supervisor_or_staff_required
    return request.user


def _int(raw: Any) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _refusal(exc: DomainError) -> dict[str, Any]:
    """What a page shows of a service's refusal. Not found is a row of another brand (or
    none at all): the page answers 404 for it, as for a GET."""
    if isinstance(exc, NotFound):
        raise Http404
    return {"message": exc.message, "fields": exc.fields or {}}


def _supervised_brands(user: User) -> list[Brand]:
    return list(Brand.objects.filter(pk__in=selectors.supervised_brand_ids(user)).order_by("name", "pk"))


def flag_summary(flag: QualityFlag) -> str:
    """The automatic case's numbers in a sentence."""
    detail = flag.detail or {}
    if flag.kind == QualityFlag.Kind.LOW_REVIEWS:
        return gettext("The latest %(reviews)s reviews in %(brand)s average %(average)s of 5.") % {
            "reviews": detail.get("reviews", "?"),
            "brand": detail.get("brand", "?"),
            "average": detail.get("average", "?"),
        }
    if flag.kind == QualityFlag.Kind.BELOW_TIER:
        tier = detail.get("tier", "")
        tier_label = AgentProfile.Tier(tier).label if tier in AgentProfile.Tier.values else tier
        return gettext("Quality score %(score)s is below the %(required)s the %(tier)s tier needs.") % {
            "score": detail.get("score", "?"),
            "required": detail.get("required", "?"),
            "tier": tier_label,
        }
    return ", ".join(f"{key}: {value}" for key, value in detail.items())


# --- The desk ----------------------------------------------------------------------------------------


def _desk(request: HttpRequest, *, dismiss: dict[str, Any] | None = None) -> HttpResponse:
    user = _user(request)
    counts = selectors.quality_desk_counts(user)
    shown = list(selectors.open_flags(user)[:DESK_LIST_LIMIT])
    dismiss = dismiss or {}
    # A refusal about a case no longer listed (closed meanwhile) is shown above the list.
    listed = any(flag.pk == dismiss.get("flag_id") for flag in shown)
    return render(
        request,
        "supervisor/quality/desk.html",
        {
            "counts": counts,
            "open_reviews": list(selectors.review_queue(user, status="open")[:DESK_LIST_LIMIT]),
            "disputed_reviews": list(selectors.review_queue(user, status="disputed")[:DESK_LIST_LIMIT]),
            "flags": [{"flag": flag, "summary": flag_summary(flag)} for flag in shown],
            "appeals": list(selectors.open_appeals(user)[:DESK_LIST_LIMIT]),
            "limit": DESK_LIST_LIMIT,
            "dismiss": {**dismiss, "listed": listed},
        },
    )


@supervisor_or_staff_required
@require_http_methods(["GET", "POST"])
def quality_desk(request: HttpRequest) -> HttpResponse:
    """GET: counts and the oldest of what waits. POST: dismiss an automatic case with a note."""
    if request.method == "GET":
        return _desk(request)
    flag_id = _int(request.POST.get("flag_id"))
    if flag_id is None:
        raise Http404
    note = request.POST.get("note", "")
    try:
        flag = services.flag_dismiss(user=_user(request), flag_id=flag_id, note=note, request=request)
    except DomainError as exc:
        return _desk(request, dismiss={"flag_id": flag_id, "note": note, "error": _refusal(exc)})
    messages.success(
        request, gettext("Case dismissed for %(agent)s; your note is kept with it.") % {"agent": flag.agent}
    )
    return redirect("supervisor-quality")


# --- The review queue ------------------------------------------------------------------------------


@supervisor_or_staff_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    status = request.GET.get("status") or "open"
    if status not in selectors.REVIEW_FILTERS:
        status = "open"
    brand = (request.GET.get("brand") or "").strip()
    paginator = Paginator(selectors.review_queue(user, status=status, brand=brand), QUEUE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "supervisor/quality/reviews.html",
        {
            "page": page,
            "status": status,
            "brand": brand,
            "statuses": REVIEW_STATUSES,
            "brands": _supervised_brands(user),
        },
    )


# --- One review -----------------------------------------------------------------------------------


def _scorecard(review: Review, posted: dict[str, str], errors: Any) -> list[dict[str, Any]]:
    """The four criteria with the weight that counts: the brand's now for an open review,
    the one it was scored with after."""
    weights = review.weights if review.state != Review.State.OPEN and review.weights else review.brand.qa_weights
    errors = errors if isinstance(errors, dict) else {}
    rows = []
    for name in Review.CRITERIA:
        label, help_text = CRITERIA[name]
        chosen = posted.get(name, "")
        rows.append(
            {
                "name": name,
                "label": label,
                "help": help_text,
                "weight": weights.get(name, 0),
                "score": getattr(review, name),
                "invalid": name in errors,
                "options": [
                    {"value": value, "label": text, "checked": chosen == str(value)} for value, text in SCORE_LABELS
                ],
            }
        )
    return rows


def _review_page(
    request: HttpRequest,
    review: Review,
    *,
    score: dict[str, Any] | None = None,
    decide: dict[str, Any] | None = None,
) -> HttpResponse:
    user = _user(request)
    score = score or {}
    disputed_open = review.agent_response == Review.Response.DISPUTED and not review.dispute_decision
    return render(
        request,
        "supervisor/quality/review.html",
        {
            "review": review,
            "resolution": review.resolution,
            "scorecard": _scorecard(
                review, score.get("scores", {}), score.get("error", {}).get("fields", {}).get("scores")
            ),
            "score": score,
            "score_labels": SCORE_LABELS,
            "decide": decide or {},
            "disputed_open": disputed_open,
            "viewer_scored": review.scored_by_id == user.pk,
        },
    )


@supervisor_or_staff_required
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    """GET: the case and its scorecard. POST `action=score`: score it; `action=decide`:
    uphold or void a disputed score."""
    user = _user(request)
    review = selectors.review_for(user, review_id)
    if review is None:
        raise Http404
    if request.method == "GET":
        return _review_page(request, review)
    action = request.POST.get("action")
    if action == "score":
        scores = {name: request.POST.get(name, "") for name in Review.CRITERIA}
        feedback = request.POST.get("feedback", "")
        try:
            scored = services.review_score(
                user=user, review_id=review.pk, scores=scores, feedback=feedback, request=request
            )
        except DomainError as exc:
            failed = {"scores": scores, "feedback": feedback, "error": _refusal(exc)}
            return _review_page(request, review, score=failed)
        messages.success(
            request,
            gettext("Review scored: %(percent)s%%. The agent can read your feedback now.")
            % {"percent": scored.percent},
        )
        return redirect("supervisor-review", review_id=review.pk)
    if action == "decide":
        decision = request.POST.get("decision", "")
        note = request.POST.get("note", "")
        try:
            decided = services.review_dispute_decide(
                user=user, review_id=review.pk, decision=decision, note=note, request=request
            )
        except DomainError as exc:
            failed = {"decision": decision, "note": note, "error": _refusal(exc)}
            return _review_page(request, review, decide=failed)
        text = (
            gettext("Dispute decided: the review is voided and no longer counts.")
            if decided.dispute_decision == Review.DisputeDecision.VOIDED
            else gettext("Dispute decided: the review is upheld.")
        )
        messages.success(request, text)
        return redirect("supervisor-review", review_id=review.pk)
    raise Http404


# --- One agent --------------------------------------------------------------------------------------


def _agent_page(
    request: HttpRequest,
    agent: AgentProfile,
    *,
    sanction: dict[str, Any] | None = None,
    lift: dict[str, Any] | None = None,
) -> HttpResponse:
    user = _user(request)
    brand_ids = selectors.supervised_brand_ids(user)
    inputs, standing = selectors.agent_standing(agent)
    upcoming = selectors.next_tier(agent, standing, inputs)
    if upcoming is not None:
        upcoming["label"] = AgentProfile.Tier(upcoming["name"]).label
        for need in upcoming["needs"]:
            need["label"] = NEED_LABELS.get(need["criterion"], need["criterion"])
    sanction = sanction or {}
    if not sanction:
        flag_id = _int(request.GET.get("flag"))
        sanction = {"flag_id": flag_id} if flag_id is not None else {}
    chosen = set(sanction.get("tickets", []))
    tickets = [{"ticket": t, "checked": str(t.pk) in chosen} for t in selectors.agent_recent_tickets(user, agent)]
    flags = [{"flag": flag, "summary": flag_summary(flag)} for flag in selectors.open_flags(user).filter(agent=agent)]
    return render(
        request,
        "supervisor/quality/agent.html",
        {
            "agent": agent,
            "inputs": inputs,
            "standing": standing,
            "next_tier": upcoming,
            "ratings": list(selectors.agent_ratings(agent, brand_ids=brand_ids)),
            "reviews": list(selectors.agent_reviews(agent, brand_ids=brand_ids)),
            "sanctions": list(selectors.agent_sanctions(agent, brand_ids=brand_ids)),
            "flags": flags,
            "tickets": tickets,
            "kinds": Sanction.Kind.choices,
            "reasons": Sanction.Reason.choices,
            "sanction": sanction,
            "lift": lift or {},
        },
    )


def _issue(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    user = _user(request)
    raw_tickets = request.POST.getlist("tickets")
    flag_raw = request.POST.get("flag_id", "").strip()
    flag_id = _int(flag_raw)
    posted: dict[str, Any] = {
        "kind": request.POST.get("kind", ""),
        "reason": request.POST.get("reason", ""),
        "note": request.POST.get("note", ""),
        "tickets": raw_tickets,
        "flag_id": flag_id,
        "confirm": request.POST.get("confirm_suspension") == "yes",
    }
    ticket_ids: list[Any] = [int(t) for t in raw_tickets if _int(t) is not None]
    if len(ticket_ids) != len(raw_tickets):
        ticket_ids = raw_tickets  # the service refuses what is not a ticket id
    if flag_raw and flag_id is None:
        raise Http404
    if posted["kind"] == Sanction.Kind.SUSPENSION and not posted["confirm"]:
        # Checked here, not in the service: the API caller confirms by asking for it.
        message = gettext("Tick the box to confirm the suspension: it takes %(agent)s off duty at once.") % {
            "agent": agent
        }
        return _agent_page(request, agent, sanction={**posted, "error": {"message": message, "fields": {}}})
    try:
        issued = services.sanction_issue(
            user=user,
            agent_id=agent.pk,
            kind=posted["kind"],
            reason=posted["reason"],
            note=posted["note"],
            ticket_ids=ticket_ids,
            flag_id=flag_id,
            request=request,
        )
    except DomainError as exc:
        return _agent_page(request, agent, sanction={**posted, "error": _refusal(exc)})
    if issued.kind == Sanction.Kind.SUSPENSION:
        text = gettext("%(agent)s is suspended and off duty; their open chats go to other agents.")
    else:
        text = gettext("Warning sent to %(agent)s with your note and the tickets.")
    messages.success(request, text % {"agent": agent})
    return redirect("supervisor-agent-quality", agent_id=agent.pk)


def _lift(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    sanction_id = _int(request.POST.get("sanction_id"))
    if sanction_id is None or not Sanction.objects.filter(pk=sanction_id, agent=agent).exists():
        raise Http404
    note = request.POST.get("note", "")
    try:
        lifted = services.sanction_lift(user=_user(request), sanction_id=sanction_id, note=note, request=request)
    except DomainError as exc:
        return _agent_page(request, agent, lift={"sanction_id": sanction_id, "note": note, "error": _refusal(exc)})
    if lifted.kind == Sanction.Kind.SUSPENSION:
        text = gettext("Suspension lifted.")
    else:
        text = gettext("Warning withdrawn.")
    messages.success(request, text)
    return redirect("supervisor-agent-quality", agent_id=agent.pk)


@supervisor_or_staff_required
@require_http_methods(["GET", "POST"])
def supervisor_agent_quality(request: HttpRequest, agent_id: int) -> HttpResponse:
    """GET: where the agent stands and what they were told. POST `action=sanction`: warn or
    suspend; `action=lift`: end a warning or suspension in force."""
    agent = selectors.supervised_agent(_user(request), agent_id)
    if agent is None:
        raise Http404
    if request.method == "GET":
        return _agent_page(request, agent)
    action = request.POST.get("action")
    if action == "sanction":
        return _issue(request, agent)
    if action == "lift":
        return _lift(request, agent)
    raise Http404


# --- One appeal -------------------------------------------------------------------------------------


def _appeal_page(request: HttpRequest, appeal: Appeal, *, decide: dict[str, Any] | None = None) -> HttpResponse:
    return render(
        request,
        "supervisor/quality/appeal.html",
        {
            "appeal": appeal,
            "sanction": appeal.sanction,
            "viewer_issued": appeal.sanction.issued_by_id == _user(request).pk,
            "decide": decide or {},
        },
    )


@supervisor_or_staff_required
@require_http_methods(["GET", "POST"])
def appeal_detail(request: HttpRequest, appeal_id: int) -> HttpResponse:
    user = _user(request)
    appeal = selectors.appeal_for(user, appeal_id)
    if appeal is None:
        raise Http404
    if request.method == "GET":
        return _appeal_page(request, appeal)
    decision = request.POST.get("decision", "")
    note = request.POST.get("note", "")
    try:
        decided = services.appeal_decide(user=user, appeal_id=appeal.pk, decision=decision, note=note, request=request)
    except DomainError as exc:
        return _appeal_page(request, appeal, decide={"decision": decision, "note": note, "error": _refusal(exc)})
    if decided.state == Appeal.State.OVERTURNED:
        text = gettext("Appeal decided: the sanction is overturned. The agent reads your note.")
    else:
        text = gettext("Appeal decided: the sanction stands. The agent reads your note.")
    messages.success(request, text)
    return redirect(reverse("supervisor-appeal", kwargs={"appeal_id": appeal.pk}))
