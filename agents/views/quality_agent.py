"""The agent's quality screen: the score and how it is made, the tier and what the next one
takes, the trend and what moved it, customer ratings, QA reviews (acknowledge or dispute) and
warnings and suspensions (appeal).

Reads come from agents.quality.selectors, writes go through agents.quality.services; these
views only turn rows into what the agent reads. A refused answer re-renders the page with
the reason next to the form and what the agent typed still in it."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from marketplace.errors import DomainError
from payouts.views.agent import agent_page
from tasks.models import Resolution

from ..models import AgentProfile, Appeal, QualityScoreChange, Review, Sanction
from ..quality import selectors, services

if TYPE_CHECKING:
    from tasks.models import Ticket

# The services answer in English (the API's wire language); the agent reads these.
REFUSAL_TEXT = {
    "comment_required": gettext_lazy("Say what you disagree with, so a supervisor can look again."),
    "statement_required": gettext_lazy("Tell the supervisor why this should be overturned."),
    "text_too_long": gettext_lazy("That is too long: 4000 characters at most."),
    "review_not_found": gettext_lazy("You have no such review."),
    "review_already_answered": gettext_lazy("You have already answered this review."),
    "sanction_not_found": gettext_lazy("You have no such warning or suspension."),
    "already_appealed": gettext_lazy("You have already appealed this."),
    "sanction_not_active": gettext_lazy("This is no longer in force; there is nothing to appeal."),
}
CRITERION_LABEL = {
    "accuracy": gettext_lazy("Accuracy"),
    "empathy": gettext_lazy("Empathy"),
    "policy": gettext_lazy("Policy"),
    "tone": gettext_lazy("Tone"),
}
# The sparkline's drawing box; CSS stretches it to the column's width.
SPARK_WIDTH = 300
SPARK_HEIGHT = 64
SPARK_PAD = 6
# A flat or nearly flat trend is drawn on at least this span of score, so a move of a few
# thousandths does not fill the box like a fall from 5 to 1.
SPARK_MIN_SPAN = Decimal("0.2")


def _number(value: Any, places: int = 2) -> str:
    """A score or percent as the page's language writes it ("4.05", "4,05"); "-2" drops
    the decimals of a whole number (75%, 62.50%)."""
    return floatformat(value, places)


# --- Progress to the next tier -----------------------------------------------------------


@dataclass
class NeedRow:
    criterion: str
    label: str
    met: bool
    value: float
    maximum: float


def _need_row(need: dict[str, Any]) -> NeedRow:
    current, required = need["current"], need["required"]
    criterion = need["criterion"]
    if criterion == "quality_score":
        current, required = Decimal(current), Decimal(required)
        label = gettext("Quality score %(current)s of %(required)s") % {
            "current": _number(current),
            "required": _number(required),
        }
        # Scores start at 1, so the bar runs from 1 to the required score.
        value, maximum = float(current - 1), float(required - 1)
    elif criterion == "qa_reviews":
        label = ngettext(
            "%(current)s of %(required)s QA review", "%(current)s of %(required)s QA reviews", required
        ) % {"current": current, "required": required}
        value, maximum = float(current), float(required)
    else:
        label = ngettext(
            "%(current)s of %(required)s resolved case", "%(current)s of %(required)s resolved cases", required
        ) % {"current": current, "required": required}
        value, maximum = float(current), float(required)
    maximum = max(maximum, 1.0)
    return NeedRow(
        criterion=criterion, label=label, met=need["met"], value=max(0.0, min(value, maximum)), maximum=maximum
    )


# --- Trend ---------------------------------------------------------------------------------


@dataclass
class ChangeRow:
    change: QualityScoreChange
    label: str
    direction: str  # up | down


def _change_label(change: QualityScoreChange) -> str:
    detail = change.detail if isinstance(change.detail, dict) else {}
    ticket = change.ticket_id
    if change.cause == QualityScoreChange.Cause.RATING and detail.get("rating") is not None:
        if ticket:
            return gettext("Rating %(stars)s★ on ticket #%(ticket)s") % {"stars": detail["rating"], "ticket": ticket}
        return gettext("Rating %(stars)s★") % {"stars": detail["rating"]}
    if change.cause == QualityScoreChange.Cause.REVIEW and detail.get("percent") is not None:
        percent = _number(Decimal(str(detail["percent"])), -2)
        if ticket:
            return gettext("QA review %(percent)s%% on #%(ticket)s") % {"percent": percent, "ticket": ticket}
        return gettext("QA review %(percent)s%%") % {"percent": percent}
    if change.cause == QualityScoreChange.Cause.REVIEW_VOIDED:
        if ticket:
            return gettext("QA review voided on #%(ticket)s") % {"ticket": ticket}
        return gettext("QA review voided")
    return str(change.get_cause_display())


@dataclass
class Sparkline:
    points: str
    last_x: float
    last_y: float
    first: Decimal
    last: Decimal
    low: Decimal
    high: Decimal


def sparkline(values: list[Decimal]) -> Sparkline | None:
    """The polyline of `values` (oldest first) in a SPARK_WIDTH x SPARK_HEIGHT box, higher
    scores higher up; None for fewer than two values."""
    if len(values) < 2:
        return None
    low, high = min(values), max(values)
    span = high - low
    if span < SPARK_MIN_SPAN:
        middle = (low + high) / 2
        low, high, span = middle - SPARK_MIN_SPAN / 2, middle + SPARK_MIN_SPAN / 2, SPARK_MIN_SPAN
    inner_w, inner_h = SPARK_WIDTH - 2 * SPARK_PAD, SPARK_HEIGHT - 2 * SPARK_PAD
    step = inner_w / (len(values) - 1)
    coords = [
        (round(SPARK_PAD + i * step, 1), round(SPARK_PAD + float((high - v) / span) * inner_h, 1))
        for i, v in enumerate(values)
    ]
    return Sparkline(
        points=" ".join(f"{x},{y}" for x, y in coords),
        last_x=coords[-1][0],
        last_y=coords[-1][1],
        first=values[0],
        last=values[-1],
        low=min(values),
        high=max(values),
    )


# --- Ratings, reviews, sanctions -----------------------------------------------------------


@dataclass
class RatingRow:
    resolution: Resolution
    stars: range
    reopened: bool


@dataclass
class ScoreRow:
    name: str
    label: str
    score: int | None


@dataclass
class ReviewRow:
    review: Review
    scores: list[ScoreRow]
    can_answer: bool
    # A refused answer to this review: which form, the reason and what was typed.
    error: str = ""
    error_code: str = ""
    comment: str = ""
    dispute_open: bool = False


@dataclass
class SanctionRow:
    sanction: Sanction
    evidence: list["Ticket"]
    appeal: Appeal | None
    can_appeal: bool
    error: str = ""
    error_code: str = ""
    statement: str = ""


@dataclass
class Refusal:
    target: str  # "review" | "sanction"
    target_id: int
    form: str  # acknowledge | dispute | appeal
    message: str
    code: str
    text: str = ""


@dataclass
class QualityPage:
    agent: AgentProfile
    needs: list[NeedRow] = field(default_factory=list)
    next_tier: str = ""
    ratings: list[RatingRow] = field(default_factory=list)
    reviews: list[ReviewRow] = field(default_factory=list)
    sanctions: list[SanctionRow] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)
    spark: Sparkline | None = None
    counts: dict[str, int] = field(default_factory=dict)
    last_change_at: datetime | None = None


def _one_in(percent: int) -> int:
    """A sample share as "1 in n" (20% -> 5)."""
    return max(1, round(100 / percent))


def _sample_note(agent: AgentProfile) -> str:
    """What the reviews' empty state says about how often a case is reviewed."""
    brands = list(agent.brands.all())
    probation = agent.tier == AgentProfile.Tier.PROBATION
    percents = [b.qa_sample_probation_percent if probation else b.qa_sample_percent for b in brands]
    percent = max(percents, default=0)
    always = gettext("Cases rated 1 or 2 and reopened cases are always reviewed.")
    if percent <= 0:
        return always
    if percent >= 100:
        sample = (
            gettext("Every one of your cases is reviewed while you are on probation.")
            if probation
            else gettext("Every one of your cases is reviewed.")
        )
    elif probation:
        sample = gettext("About 1 in %(n)s of your cases is reviewed while you are on probation.") % {
            "n": _one_in(percent)
        }
    else:
        sample = gettext("About 1 in %(n)s of your cases is reviewed.") % {"n": _one_in(percent)}
    return f"{sample} {always}"


def _quality_page(request: HttpRequest, agent: AgentProfile, refusal: Refusal | None = None) -> HttpResponse:
    inputs, standing = selectors.agent_standing(agent)
    next_tier = selectors.next_tier(agent, standing, inputs)
    page = QualityPage(agent=agent, counts=selectors.quality_counts(agent))
    if next_tier is not None:
        page.next_tier = str(AgentProfile.Tier(next_tier["name"]).label)
        page.needs = [_need_row(n) for n in next_tier["needs"]]

    history = list(selectors.agent_score_history(agent))
    page.changes = [
        ChangeRow(change=c, label=_change_label(c), direction="up" if c.after >= c.before else "down") for c in history
    ]
    if history:
        oldest_first = list(reversed(history))
        page.spark = sparkline([oldest_first[0].before] + [c.after for c in oldest_first])
        page.last_change_at = history[0].at

    page.ratings = [
        RatingRow(resolution=r, stars=range(r.rating or 0), reopened=r.outcome == Resolution.Outcome.REOPENED)
        for r in selectors.agent_ratings(agent)
    ]
    for review in selectors.agent_reviews(agent):
        row = ReviewRow(
            review=review,
            scores=[ScoreRow(name, str(CRITERION_LABEL[name]), getattr(review, name)) for name in Review.CRITERIA],
            can_answer=review.state == Review.State.SCORED and not review.agent_response,
        )
        if refusal and refusal.target == "review" and refusal.target_id == review.pk:
            row.error, row.error_code, row.comment = refusal.message, refusal.code, refusal.text
            row.dispute_open = refusal.form == "dispute"
        page.reviews.append(row)
    for sanction in selectors.agent_sanctions(agent):
        appeal = getattr(sanction, "appeal", None)
        row_s = SanctionRow(
            sanction=sanction,
            evidence=list(sanction.evidence.all()),
            appeal=appeal,
            can_appeal=appeal is None and sanction.state == Sanction.State.ACTIVE,
        )
        if refusal and refusal.target == "sanction" and refusal.target_id == sanction.pk:
            row_s.error, row_s.error_code, row_s.statement = refusal.message, refusal.code, refusal.text
        page.sanctions.append(row_s)

    # A refusal about a row the agent cannot see (not theirs, or gone) is said at the top.
    shown = any(r.error for r in page.reviews) or any(s.error for s in page.sanctions)
    context = {
        "agent": agent,
        "page": page,
        "score": agent.quality_score,
        "tier_label": agent.get_tier_display(),
        "prior_weight": _number(settings.QUALITY_PRIOR_WEIGHT, -2),
        "prior_mean": _number(settings.QUALITY_PRIOR_MEAN, 2),
        "review_weight": _number(settings.QUALITY_REVIEW_WEIGHT, -2),
        "sample_note": _sample_note(agent),
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
        "refusal": refusal if refusal is not None and not shown else None,
    }
    return render(request, "agent/quality/quality.html", context)


def _refusal(exc: DomainError, **where: Any) -> Refusal:
    return Refusal(message=str(REFUSAL_TEXT.get(exc.code, exc.message)), code=exc.code, **where)


@agent_page
@require_GET
def agent_quality(request: HttpRequest, agent: AgentProfile) -> HttpResponse:
    return _quality_page(request, agent)


@agent_page
@require_POST
def agent_quality_acknowledge(request: HttpRequest, agent: AgentProfile, review_id: int) -> HttpResponse:
    try:
        review = services.review_acknowledge(agent=agent, review_id=review_id, request=request)
    except DomainError as exc:
        return _quality_page(request, agent, _refusal(exc, target="review", target_id=review_id, form="acknowledge"))
    messages.success(request, gettext("Review of ticket #%(ticket)s acknowledged.") % {"ticket": review.ticket_id})
    return redirect("agent-quality")


@agent_page
@require_POST
def agent_quality_dispute(request: HttpRequest, agent: AgentProfile, review_id: int) -> HttpResponse:
    comment = request.POST.get("comment", "")
    try:
        review = services.review_dispute(agent=agent, review_id=review_id, comment=comment, request=request)
    except DomainError as exc:
        return _quality_page(
            request, agent, _refusal(exc, target="review", target_id=review_id, form="dispute", text=comment)
        )
    messages.success(
        request,
        gettext("Dispute sent: a supervisor other than the reviewer will look at ticket #%(ticket)s again.")
        % {"ticket": review.ticket_id},
    )
    return redirect("agent-quality")


@agent_page
@require_POST
def agent_quality_appeal(request: HttpRequest, agent: AgentProfile, sanction_id: int) -> HttpResponse:
    statement = request.POST.get("statement", "")
    try:
        services.appeal_file(agent=agent, sanction_id=sanction_id, statement=statement, request=request)
    except DomainError as exc:
        return _quality_page(
            request, agent, _refusal(exc, target="sanction", target_id=sanction_id, form="appeal", text=statement)
        )
    messages.success(
        request, gettext("Appeal sent. A supervisor who did not issue it will decide, and you will see it here.")
    )
    return redirect("agent-quality")
