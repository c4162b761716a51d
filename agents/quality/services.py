"""Every write of the quality area. A person's action is audit-logged in its own transaction;
a refused action raises a DomainError inside it and changes nothing."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.audit import audit_record
from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.models import Brand, User
from tasks.models import Resolution, Ticket

from ..models import AgentProfile, Appeal, QualityFlag, QualityScoreChange, Review, Sanction
from . import rules
from .selectors import agent_thresholds, quality_inputs, supervised_brand_ids
from .signals import quality_changed

TEXT_MAX = 4000


def _text(value: Any, *, field: str, required: bool, code: str, message: str) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"invalid_{field}", f"{field} must be text.", status=422, fields={field: ["Must be text."]})
    value = value.strip()
    if required and not value:
        raise DomainError(code, message, status=422, fields={field: [message]})
    if len(value) > TEXT_MAX:
        raise DomainError(
            "text_too_long", f"{field} is limited to {TEXT_MAX} characters.", status=422, fields={field: ["Too long."]}
        )
    return value


# --- Sampling -------------------------------------------------------------------------------


def _review_reason(resolution: Resolution) -> str | None:
    if resolution.outcome == Resolution.Outcome.REOPENED:
        return Review.Reason.REOPENED
    if resolution.rating is not None and resolution.rating <= 2:
        return Review.Reason.LOW_RATING
    brand = resolution.ticket.brand
    percent = (
        brand.qa_sample_probation_percent
        if resolution.agent.tier == AgentProfile.Tier.PROBATION
        else brand.qa_sample_percent
    )
    if rules.sampled(key=f"{resolution.ticket_id}:{resolution.number}", percent=percent):
        return Review.Reason.SAMPLE
    return None


def reviews_sample_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Put resolved cases into the QA queue: every reopened case and every case rated 1-2,
    and a sample of the rest (the brand's share for probation agents and for the others).

    A case is decided once it is settled: confirmed, reopened, or past the reopen window.
    A later rating or reopen marks it undecided again, so a 1-star rating after a
    confirmation still reaches QA. Exactly once: rows are claimed with SKIP LOCKED, a
    resolution has at most one review (one-to-one), and the sample is a hash of the case,
    so deciding again gives the same answer. Returns how many reviews were opened.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.REOPEN_WINDOW_HOURS)
    opened = 0
    with transaction.atomic():
        due = list(
            Resolution.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("ticket__brand", "agent")
            .filter(qa_considered=False)
            .filter(~Q(outcome=Resolution.Outcome.PENDING) | Q(resolved_at__lte=cutoff))
            .order_by("resolved_at")[:batch]
        )
        has_review = set(Review.objects.filter(resolution__in=due).values_list("resolution_id", flat=True))
        for resolution in due:
            reason = _review_reason(resolution)
            if reason and resolution.pk not in has_review:
                Review.objects.create(
                    resolution=resolution,
                    ticket_id=resolution.ticket_id,
                    agent_id=resolution.agent_id,
                    brand_id=resolution.ticket.brand_id,
                    reason=reason,
                )
                opened += 1
        Resolution.objects.filter(pk__in=[r.pk for r in due]).update(qa_considered=True)
    return opened


# --- Reviews --------------------------------------------------------------------------------


def _supervised_review(user: User, review_id: int) -> Review:
    review = (
        Review.objects.select_for_update(of=("self",))
        .select_related("brand")
        .filter(pk=review_id, brand_id__in=supervised_brand_ids(user))
        .first()
    )
    if review is None:
        raise NotFound("review_not_found", "There is no such review among the brands you supervise.")
    return review


def _clean_scores(scores: Any) -> dict[str, int]:
    if not isinstance(scores, dict):
        raise DomainError(
            "invalid_scores",
            "scores must be an object with accuracy, empathy, policy and tone.",
            status=422,
            fields={"scores": ["Must be an object."]},
        )
    problems: dict[str, list[str]] = {}
    clean: dict[str, int] = {}
    for name in Review.CRITERIA:
        value = scores.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= rules.CRITERION_MAX:
            problems[name] = [f"A whole number from 0 to {rules.CRITERION_MAX}."]
        else:
            clean[name] = value
    for name in scores:
        if name not in Review.CRITERIA:
            problems[name] = ["Not a criterion of the scorecard."]
    if problems:
        raise DomainError(
            "invalid_scores", "Each criterion needs a score from 0 to 4.", status=422, fields={"scores": problems}
        )
    return clean


def review_score(*, user: User, review_id: int, scores: Any, feedback: Any, request: Any = None) -> Review:
    """A supervisor of the case's brand scores an open review, with feedback the agent sees."""
    clean = _clean_scores(scores)
    feedback = _text(
        feedback,
        field="feedback",
        required=True,
        code="feedback_required",
        message="Write the feedback the agent will read.",
    )
    with transaction.atomic():
        review = _supervised_review(user, review_id)
        if review.state != Review.State.OPEN:
            raise Conflict("review_already_scored", "This review has already been scored.")
        weights = review.brand.qa_weights
        for name, value in clean.items():
            setattr(review, name, value)
        review.weights = weights
        review.percent = rules.review_percent(clean, weights)
        review.feedback = feedback
        review.state = Review.State.SCORED
        review.scored_by = user
        review.scored_at = timezone.now()
        review.save()
        audit_record(
            actor=user,
            action="review.scored",
            brand=review.brand_id,
            target=review,
            detail={"agent": review.agent_id, "ticket": review.ticket_id, "scores": clean, "percent": review.percent},
            request=request,
        )
        quality_changed(
            agent_id=review.agent_id,
            cause="review",
            ticket_id=review.ticket_id,
            detail={"percent": str(review.percent)},
        )
    return review


def _own_scored_review(agent: AgentProfile, review_id: int) -> Review:
    review = Review.objects.select_for_update().filter(pk=review_id, agent=agent).first()
    if review is None or review.state == Review.State.OPEN:
        raise NotFound("review_not_found", "You have no such review.")
    if review.agent_response:
        raise Conflict("review_already_answered", "You have already answered this review.")
    return review


def review_acknowledge(*, agent: AgentProfile, review_id: int, request: Any = None) -> Review:
    with transaction.atomic():
        review = _own_scored_review(agent, review_id)
        review.agent_response = Review.Response.ACKNOWLEDGED
        review.responded_at = timezone.now()
        review.save(update_fields=["agent_response", "responded_at"])
        audit_record(
            actor=agent.user, action="review.acknowledged", brand=review.brand_id, target=review, request=request
        )
    return review


def review_dispute(*, agent: AgentProfile, review_id: int, comment: Any, request: Any = None) -> Review:
    """The agent disagrees, in writing; a supervisor other than the reviewer decides."""
    comment = _text(
        comment,
        field="comment",
        required=True,
        code="comment_required",
        message="Say what you disagree with, so a supervisor can look again.",
    )
    with transaction.atomic():
        review = _own_scored_review(agent, review_id)
        review.agent_response = Review.Response.DISPUTED
        review.agent_comment = comment
        review.responded_at = timezone.now()
        review.save(update_fields=["agent_response", "agent_comment", "responded_at"])
        audit_record(actor=agent.user, action="review.disputed", brand=review.brand_id, target=review, request=request)
    return review


def review_dispute_decide(*, user: User, review_id: int, decision: Any, note: Any, request: Any = None) -> Review:
    """Uphold a disputed review, or void it (it stops counting toward the score)."""
    if decision not in Review.DisputeDecision.values or not decision:
        raise DomainError(
            "invalid_decision",
            "decision must be upheld or voided.",
            status=422,
            fields={"decision": ["upheld or voided"]},
        )
    note = _text(note, field="note", required=True, code="note_required", message="Explain the decision to the agent.")
    with transaction.atomic():
        review = _supervised_review(user, review_id)
        if review.agent_response != Review.Response.DISPUTED or review.dispute_decision:
            raise Conflict("no_open_dispute", "This review has no dispute waiting for a decision.")
        if review.scored_by_id == user.pk:
            raise Forbidden("same_supervisor", "A supervisor other than the reviewer decides a dispute.")
        review.dispute_decision = decision
        review.dispute_note = note
        review.dispute_decided_by = user
        review.dispute_decided_at = timezone.now()
        if decision == Review.DisputeDecision.VOIDED:
            review.state = Review.State.VOID
        review.save()
        audit_record(
            actor=user,
            action=f"review.dispute_{decision}",
            brand=review.brand_id,
            target=review,
            detail={"agent": review.agent_id, "note": note},
            request=request,
        )
        if decision == Review.DisputeDecision.VOIDED:
            quality_changed(agent_id=review.agent_id, cause="review_voided", ticket_id=review.ticket_id)
    return review


# --- Score, tier, flags ---------------------------------------------------------------------

TIER_CAPACITY = {
    AgentProfile.Tier.PROBATION: "PROBATION_CAPACITY",
    AgentProfile.Tier.STANDARD: "DEFAULT_CAPACITY",
    AgentProfile.Tier.EXPERT: "EXPERT_CAPACITY",
}


def tier_capacity(tier: str) -> int:
    return int(getattr(settings, TIER_CAPACITY[AgentProfile.Tier(tier)]))


def _open_flag(agent: AgentProfile, kind: str, detail: dict[str, Any]) -> None:
    if not QualityFlag.objects.filter(agent=agent, kind=kind, state=QualityFlag.State.OPEN).exists():
        QualityFlag.objects.create(agent=agent, kind=kind, detail=detail)
        audit_record(actor=None, action="quality.flag_opened", target=agent, detail={"kind": kind, **detail})


def _check_floor(agent: AgentProfile) -> None:
    """Latest reviews of a brand averaging under its floor open a case for a human."""
    for brand in agent.brands.all():
        latest = list(
            Review.objects.filter(agent=agent, brand=brand, state=Review.State.SCORED)
            .order_by("-scored_at")
            .values_list("percent", flat=True)[: brand.quality_floor_reviews]
        )
        if len(latest) < brand.quality_floor_reviews:
            continue
        average = sum(rules.review_on_rating_scale(p) for p in latest) / len(latest)
        if average < brand.quality_floor_score:
            _open_flag(
                agent,
                QualityFlag.Kind.LOW_REVIEWS,
                {"brand": brand.slug, "average": str(average.quantize(rules.THOUSANDTH)), "reviews": len(latest)},
            )


def quality_recompute(
    *, agent_id: int, cause: str = "recompute", ticket_id: int | None = None, detail: dict[str, Any] | None = None
) -> Decimal:
    """Recompute the agent's score from every rating and scored review (idempotent), record
    what moved it, promote to the tier the numbers reach, and open a case for a human when
    quality fell below the agent's tier or the brand's floor. Never demotes or suspends."""
    with transaction.atomic():
        agent = AgentProfile.objects.select_for_update().filter(pk=agent_id).first()
        if agent is None:
            return Decimal(0)
        inputs = quality_inputs(agent)
        score = rules.quality_score(inputs.ratings, inputs.review_percents)
        before = agent.quality_score
        fields: list[str] = []
        if score != before:
            agent.quality_score = score
            fields.append("quality_score")
            QualityScoreChange.objects.create(
                agent=agent, before=before, after=score, cause=cause, ticket_id=ticket_id, detail=detail or {}
            )
        thresholds = agent_thresholds(agent)
        standing = rules.standing(thresholds, cases=inputs.cases, score=score, reviews=len(inputs.review_percents))
        order = list(rules.TIERS)
        if order.index(standing.reached) > order.index(agent.tier):
            audit_record(
                actor=None,
                action="agent.tier_promoted",
                target=agent,
                detail={"from": agent.tier, "to": standing.reached, "cases": inputs.cases, "score": score},
            )
            agent.tier = standing.reached
            agent.capacity = max(agent.capacity, tier_capacity(standing.reached))
            fields += ["tier", "capacity"]
        elif agent.tier != AgentProfile.Tier.PROBATION and score < thresholds[agent.tier].min_score:
            _open_flag(
                agent,
                QualityFlag.Kind.BELOW_TIER,
                {"tier": agent.tier, "score": str(score), "required": str(thresholds[agent.tier].min_score)},
            )
        if fields:
            agent.save(update_fields=fields)
        _check_floor(agent)
    return score


def quality_recompute_all() -> int:
    count = 0
    for agent_id in AgentProfile.objects.order_by("pk").values_list("pk", flat=True).iterator():
        quality_recompute(agent_id=agent_id)
        count += 1
    return count


def flag_dismiss(*, user: User, flag_id: int, note: Any, request: Any = None) -> QualityFlag:
    note = _text(note, field="note", required=True, code="note_required", message="Say why no action is needed.")
    with transaction.atomic():
        agents = AgentProfile.objects.filter(brands__in=supervised_brand_ids(user)).values("pk")
        flag = QualityFlag.objects.select_for_update().filter(pk=flag_id, agent__in=agents).first()
        if flag is None:
            raise NotFound("flag_not_found", "There is no such case among the agents you supervise.")
        if flag.state != QualityFlag.State.OPEN:
            raise Conflict("flag_closed", "This case is already closed.")
        flag.state = QualityFlag.State.DISMISSED
        flag.closed_by = user
        flag.closed_at = timezone.now()
        flag.note = note
        flag.save()
        audit_record(actor=user, action="quality.flag_dismissed", target=flag, detail={"note": note}, request=request)
    return flag


# --- Warnings, suspensions, appeals ------------------------------------------------------------


def _evidence(user: User, agent: AgentProfile, ticket_ids: Any) -> tuple[Brand, list[Ticket]]:
    if (
        not isinstance(ticket_ids, list)
        or not ticket_ids
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ticket_ids)
    ):
        raise DomainError(
            "evidence_required",
            "Name the tickets that show the problem; the agent will see them.",
            status=422,
            fields={"tickets": ["A list of ticket ids, at least one."]},
        )
    worked = Q(agent=agent) | Q(previous_agent=agent) | Q(resolutions__agent=agent)
    tickets = list(
        Ticket.objects.filter(pk__in=set(ticket_ids), brand_id__in=supervised_brand_ids(user))
        .filter(worked)
        .select_related("brand")
        .distinct()
    )
    missing = sorted(set(ticket_ids) - {t.pk for t in tickets})
    if missing:
        raise DomainError(
            "invalid_evidence",
            "Evidence must be tickets of your brands that this agent worked.",
            status=422,
            fields={"tickets": [f"Not this agent's ticket in your brands: {', '.join(map(str, missing))}."]},
        )
    brands = {t.brand_id for t in tickets}
    if len(brands) > 1:
        raise DomainError(
            "evidence_mixed_brands",
            "Evidence tickets must belong to one brand.",
            status=422,
            fields={"tickets": ["One brand per warning or suspension."]},
        )
    return tickets[0].brand, tickets


def sanction_issue(
    *,
    user: User,
    agent_id: int,
    kind: Any,
    reason: Any,
    note: Any,
    ticket_ids: Any,
    flag_id: int | None = None,
    request: Any = None,
) -> Sanction:
    """Warn or suspend an agent: a reason code, a note and evidence tickets, all shown to the
    agent. A suspension takes the agent off duty at once (open chats go to another agent)."""
    agent = AgentProfile.objects.filter(pk=agent_id, brands__in=supervised_brand_ids(user)).distinct().first()
    if agent is None:
        raise NotFound("agent_not_found", "There is no such agent in the brands you supervise.")
    if kind not in Sanction.Kind.values:
        raise DomainError(
            "invalid_kind",
            "kind must be warning or suspension.",
            status=422,
            fields={"kind": ["warning or suspension"]},
        )
    if reason not in Sanction.Reason.values:
        raise DomainError(
            "reason_required",
            "Choose a reason code.",
            status=422,
            fields={"reason": [", ".join(Sanction.Reason.values)]},
        )
    note = _text(note, field="note", required=True, code="note_required", message="Explain to the agent what happened.")
    brand, tickets = _evidence(user, agent, ticket_ids)
    with transaction.atomic():
        flag = None
        if flag_id is not None:
            flag = QualityFlag.objects.select_for_update().filter(pk=flag_id, agent=agent).first()
            if flag is None:
                raise NotFound("flag_not_found", "This agent has no such case.")
        sanction = Sanction.objects.create(
            agent=agent, brand=brand, kind=kind, reason=reason, note=note, issued_by=user, flag=flag
        )
        sanction.evidence.set(tickets)
        if flag is not None and flag.state == QualityFlag.State.OPEN:
            flag.state = QualityFlag.State.ACTED
            flag.closed_by = user
            flag.closed_at = timezone.now()
            flag.save(update_fields=["state", "closed_by", "closed_at"])
        if kind == Sanction.Kind.SUSPENSION:
            AgentProfile.objects.filter(pk=agent.pk).update(suspended=True)
        audit_record(
            actor=user,
            action=f"agent.{kind}",
            brand=brand,
            target=sanction,
            detail={"agent": agent.pk, "reason": reason, "note": note, "tickets": sorted(t.pk for t in tickets)},
            request=request,
        )
    if kind == Sanction.Kind.SUSPENSION:
        from tasks.services import agent_take_off_duty

        agent_take_off_duty(agent_id=agent.pk, reason="suspended")
    return sanction


def _reinstate_if_clear(agent_id: int) -> None:
    """Lift the suspension flag once no suspension is in force any more."""
    if not Sanction.objects.filter(
        agent_id=agent_id, kind=Sanction.Kind.SUSPENSION, state=Sanction.State.ACTIVE
    ).exists():
        AgentProfile.objects.filter(pk=agent_id).update(suspended=False)


def sanction_lift(*, user: User, sanction_id: int, note: Any, request: Any = None) -> Sanction:
    """End a suspension (or withdraw a warning) before any appeal."""
    note = _text(note, field="note", required=True, code="note_required", message="Say why it ends.")
    with transaction.atomic():
        sanction = (
            Sanction.objects.select_for_update().filter(pk=sanction_id, brand_id__in=supervised_brand_ids(user)).first()
        )
        if sanction is None:
            raise NotFound("sanction_not_found", "There is no such warning or suspension in your brands.")
        if sanction.state != Sanction.State.ACTIVE:
            raise Conflict("sanction_not_active", "This is no longer in force.")
        sanction.state = Sanction.State.LIFTED
        sanction.ended_at = timezone.now()
        sanction.ended_by = user
        sanction.save(update_fields=["state", "ended_at", "ended_by"])
        _reinstate_if_clear(sanction.agent_id)
        audit_record(
            actor=user,
            action=f"agent.{sanction.kind}_lifted",
            brand=sanction.brand_id,
            target=sanction,
            detail={"agent": sanction.agent_id, "note": note},
            request=request,
        )
    return sanction


def appeal_file(*, agent: AgentProfile, sanction_id: int, statement: Any, request: Any = None) -> Appeal:
    statement = _text(
        statement,
        field="statement",
        required=True,
        code="statement_required",
        message="Tell the supervisor why this should be overturned.",
    )
    with transaction.atomic():
        sanction = Sanction.objects.select_for_update().filter(pk=sanction_id, agent=agent).first()
        if sanction is None:
            raise NotFound("sanction_not_found", "You have no such warning or suspension.")
        if Appeal.objects.filter(sanction=sanction).exists():
            raise Conflict("already_appealed", "You have already appealed this.")
        if sanction.state != Sanction.State.ACTIVE:
            raise Conflict("sanction_not_active", "This is no longer in force; there is nothing to appeal.")
        appeal = Appeal.objects.create(sanction=sanction, statement=statement)
        audit_record(actor=agent.user, action="appeal.filed", brand=sanction.brand_id, target=appeal, request=request)
    return appeal


def appeal_decide(*, user: User, appeal_id: int, decision: Any, note: Any, request: Any = None) -> Appeal:
    """A supervisor of the brand, not the one who issued the sanction, upholds or
    overturns it; overturning a suspension reinstates the agent."""
    if decision not in (Appeal.State.UPHELD, Appeal.State.OVERTURNED):
        raise DomainError(
            "invalid_decision",
            "decision must be upheld or overturned.",
            status=422,
            fields={"decision": ["upheld or overturned"]},
        )
    note = _text(note, field="note", required=True, code="note_required", message="Explain the decision to the agent.")
    with transaction.atomic():
        appeal = (
            Appeal.objects.select_for_update(of=("self",))
            .select_related("sanction")
            .filter(pk=appeal_id, sanction__brand_id__in=supervised_brand_ids(user))
            .first()
        )
        if appeal is None:
            raise NotFound("appeal_not_found", "There is no such appeal in your brands.")
        if appeal.state != Appeal.State.OPEN:
            raise Conflict("appeal_already_decided", "This appeal has already been decided.")
        sanction = Sanction.objects.select_for_update().get(pk=appeal.sanction_id)
        if sanction.issued_by_id == user.pk:
            raise Forbidden("same_supervisor", "A supervisor other than the one who issued it decides an appeal.")
        appeal.state = decision
        appeal.decided_by = user
        appeal.decision_note = note
        appeal.decided_at = timezone.now()
        appeal.save()
        if decision == Appeal.State.OVERTURNED and sanction.state == Sanction.State.ACTIVE:
            sanction.state = Sanction.State.OVERTURNED
            sanction.ended_at = appeal.decided_at
            sanction.ended_by = user
            sanction.save(update_fields=["state", "ended_at", "ended_by"])
            _reinstate_if_clear(sanction.agent_id)
        audit_record(
            actor=user,
            action=f"appeal.{decision}",
            brand=sanction.brand_id,
            target=appeal,
            detail={"agent": sanction.agent_id, "sanction": sanction.pk, "note": note},
            request=request,
        )
    return appeal
