"""Reads of the quality area: the inputs of the score, where an agent stands, and the
supervisors' queues."""

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from marketplace.models import Brand, User
from tasks.models import Resolution, Ticket

from ..models import AgentProfile, Appeal, QualityFlag, QualityScoreChange, Review, Sanction
from . import rules


def supervised_brand_ids(user: User) -> set[int]:
    """The brands whose quality work `user` may see and do: every brand for platform staff,
    the brands they supervise for a supervisor, none for anyone else."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.is_platform_staff:
        return set(Brand.objects.values_list("pk", flat=True))
    if user.role != User.Role.SUPERVISOR:
        return set()
    return set(user.supervised_brands.values_list("pk", flat=True))


@dataclass(frozen=True)
class QualityInputs:
    ratings: list[int]
    review_percents: list[Decimal]
    cases: int  # resolved and not reopened


def quality_inputs(agent: AgentProfile) -> QualityInputs:
    ratings = [
        r for r in Resolution.objects.filter(agent=agent, rating__isnull=False).values_list("rating", flat=True) if r
    ]
    percents = list(
        Review.objects.filter(agent=agent, state=Review.State.SCORED).order_by("pk").values_list("percent", flat=True)
    )
    cases = Resolution.objects.filter(agent=agent).exclude(outcome=Resolution.Outcome.REOPENED).count()
    return QualityInputs(ratings=ratings, review_percents=[p for p in percents if p is not None], cases=cases)


def brand_thresholds(brand: Brand) -> dict[str, rules.Threshold]:
    return {
        "standard": rules.Threshold(brand.tier_standard_min_cases, brand.tier_standard_min_score),
        "expert": rules.Threshold(
            brand.tier_expert_min_cases, brand.tier_expert_min_score, brand.tier_expert_min_reviews
        ),
    }


def agent_thresholds(agent: AgentProfile) -> dict[str, rules.Threshold]:
    """The strictest thresholds of the agent's brands (the brand defaults when none)."""
    brands = list(agent.brands.all()) or [Brand()]
    return rules.strictest(brand_thresholds(b) for b in brands)


def agent_standing(agent: AgentProfile) -> tuple[QualityInputs, rules.Standing]:
    inputs = quality_inputs(agent)
    standing = rules.standing(
        agent_thresholds(agent),
        cases=inputs.cases,
        score=agent.quality_score,
        reviews=len(inputs.review_percents),
    )
    return inputs, standing


def next_tier(
    agent: AgentProfile, standing: rules.Standing, inputs: QualityInputs | None = None
) -> dict[str, Any] | None:
    """The tier above the agent's and what it takes, criterion by criterion. An agent is
    never shown less than their tier: promotions are kept when numbers dip (a human looks)."""
    order = list(rules.TIERS)
    current = order.index(agent.tier)
    if current == len(order) - 1:
        return None
    name = order[current + 1]
    thresholds = agent_thresholds(agent)
    # The caller usually read the inputs for `standing` already (agent_standing).
    inputs = inputs or quality_inputs(agent)
    needs = rules.needs_for(
        thresholds[name], cases=inputs.cases, score=agent.quality_score, reviews=len(inputs.review_percents)
    )
    return {
        "name": name,
        "needs": [
            {
                "criterion": n.criterion,
                "current": n.current if isinstance(n.current, int) else str(n.current),
                "required": n.required if isinstance(n.required, int) else str(n.required),
                "met": n.met,
            }
            for n in needs
        ],
    }


def agent_ratings(
    agent: AgentProfile, *, limit: int = 20, brand_ids: Collection[int] | None = None
) -> QuerySet[Resolution]:
    """The agent's latest rated cases; `brand_ids` keeps those brands' only (a supervisor
    reads their own brands' customers, not another brand's)."""
    qs = Resolution.objects.filter(agent=agent, rating__isnull=False)
    if brand_ids is not None:
        qs = qs.filter(ticket__brand_id__in=brand_ids)
    return qs.select_related("ticket__brand").order_by("-rated_at", "-pk")[:limit]


def agent_reviews(
    agent: AgentProfile, *, limit: int = 20, brand_ids: Collection[int] | None = None
) -> QuerySet[Review]:
    """The agent's reviews once scored (an open one says nothing yet); `brand_ids` as above."""
    qs = Review.objects.filter(agent=agent).exclude(state=Review.State.OPEN)
    if brand_ids is not None:
        qs = qs.filter(brand_id__in=brand_ids)
    return qs.select_related("ticket", "brand").order_by("-scored_at", "-pk")[:limit]


def agent_score_history(agent: AgentProfile, *, limit: int = 30) -> QuerySet[QualityScoreChange]:
    return QualityScoreChange.objects.filter(agent=agent).select_related("ticket").order_by("-at", "-pk")[:limit]


def agent_sanctions(agent: AgentProfile, *, brand_ids: Collection[int] | None = None) -> QuerySet[Sanction]:
    qs = Sanction.objects.filter(agent=agent)
    if brand_ids is not None:
        qs = qs.filter(brand_id__in=brand_ids)
    return (
        qs.select_related("brand", "appeal", "issued_by")
        .prefetch_related(Prefetch("evidence", queryset=Ticket.objects.order_by("pk")))
        .order_by("-created_at", "-pk")
    )


def quality_counts(agent: AgentProfile) -> dict[str, int]:
    return {
        "ratings": Resolution.objects.filter(agent=agent, rating__isnull=False).count(),
        "reviews": Review.objects.filter(agent=agent, state=Review.State.SCORED).count(),
    }


# --- Supervisors ---------------------------------------------------------------------------

REVIEW_FILTERS = {
    "open": Q(state=Review.State.OPEN),
    "scored": Q(state=Review.State.SCORED),
    "disputed": Q(agent_response=Review.Response.DISPUTED, dispute_decision=""),
    "void": Q(state=Review.State.VOID),
    "all": Q(),
}


def review_queue(user: User, *, status: str = "open", brand: str = "") -> QuerySet[Review]:
    """Reviews of the user's brands, oldest open first. `status` is one of REVIEW_FILTERS."""
    qs = Review.objects.filter(brand_id__in=supervised_brand_ids(user)).filter(REVIEW_FILTERS[status])
    if brand:
        qs = qs.filter(brand__slug=brand)
    return qs.select_related("brand", "agent", "ticket", "resolution").order_by("created_at", "pk")


def review_for(user: User, review_id: int) -> Review | None:
    return (
        Review.objects.filter(pk=review_id, brand_id__in=supervised_brand_ids(user))
        .select_related("brand", "agent", "ticket", "resolution", "scored_by", "dispute_decided_by")
        .first()
    )


def open_flags(user: User) -> QuerySet[QualityFlag]:
    agents = AgentProfile.objects.filter(brands__in=supervised_brand_ids(user)).values("pk")
    return (
        QualityFlag.objects.filter(state=QualityFlag.State.OPEN, agent__in=agents)
        .select_related("agent")
        .order_by("created_at", "pk")
    )


def open_appeals(user: User) -> QuerySet[Appeal]:
    return (
        Appeal.objects.filter(state=Appeal.State.OPEN, sanction__brand_id__in=supervised_brand_ids(user))
        .select_related("sanction__agent", "sanction__brand", "sanction__issued_by")
        .order_by("created_at", "pk")
    )


def appeal_for(user: User, appeal_id: int) -> Appeal | None:
    return (
        Appeal.objects.filter(pk=appeal_id, sanction__brand_id__in=supervised_brand_ids(user))
        .select_related("sanction__agent", "sanction__brand", "sanction__issued_by", "decided_by")
        .prefetch_related("sanction__evidence")
        .first()
    )


def supervised_agent(user: User, agent_id: int) -> AgentProfile | None:
    return AgentProfile.objects.filter(pk=agent_id, brands__in=supervised_brand_ids(user)).distinct().first()


def agent_recent_tickets(user: User, agent: AgentProfile, *, limit: int = 30) -> QuerySet[Ticket]:
    """Tickets of the user's brands the agent worked (assigned, handed back, or resolved),
    newest first: the evidence to pick from, and the agent's history.

    One OR over the three ways (with the join to resolutions and a DISTINCT) reads every
    ticket of the brand at a million tickets; instead each way takes its newest `limit` ids
    from its own index, and the newest `limit` of those are loaded. Ticket ids grow with
    creation time, so the newest ids are the newest tickets."""
    brands = supervised_brand_ids(user)
    mine = Ticket.objects.filter(brand_id__in=brands)
    ids = {
        *mine.filter(agent=agent).order_by("-pk").values_list("pk", flat=True)[:limit],
        *mine.filter(previous_agent=agent).order_by("-pk").values_list("pk", flat=True)[:limit],
        *Resolution.objects.filter(agent=agent, ticket__brand_id__in=brands)
        .order_by("-ticket_id")
        .values_list("ticket_id", flat=True)[:limit],
    }
    newest = sorted(ids, reverse=True)[:limit]
    return Ticket.objects.filter(pk__in=newest).select_related("brand").order_by("-created_at", "-pk")


def quality_desk_counts(user: User) -> dict[str, int]:
    brands = supervised_brand_ids(user)
    reviews = Review.objects.filter(brand_id__in=brands).aggregate(
        open=Count("pk", filter=REVIEW_FILTERS["open"]), disputed=Count("pk", filter=REVIEW_FILTERS["disputed"])
    )
    return {
        "open_reviews": reviews["open"],
        "disputed_reviews": reviews["disputed"],
        "open_flags": open_flags(user).count(),
        "open_appeals": open_appeals(user).count(),
    }
