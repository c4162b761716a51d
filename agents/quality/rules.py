"""The arithmetic of quality, free of the database so it can be tested exhaustively."""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

THOUSANDTH = Decimal("0.001")
CRITERION_MAX = 4


def review_percent(scores: Mapping[str, int], weights: Mapping[str, int]) -> Decimal:
    """A scorecard's weighted result, 0-100 with two decimals."""
    total_weight = sum(weights.values())
    if total_weight <= 0:
        raise ValueError("a scorecard needs a positive weight")
    points = sum((Decimal(scores[name]) * weights[name] for name in weights), Decimal(0))
    return (points * 100 / (CRITERION_MAX * total_weight)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def review_on_rating_scale(percent: Decimal) -> Decimal:
    """A review's percent on the customers' 1-5 scale (0% -> 1, 100% -> 5)."""
    return 1 + Decimal(4) * percent / 100


def quality_score(ratings: Iterable[int], review_percents: Iterable[Decimal]) -> Decimal:
    """The Bayesian average of customer ratings and QA reviews on the 1-5 scale.

    Start from QUALITY_PRIOR_WEIGHT imaginary ratings of QUALITY_PRIOR_MEAN; each customer
    rating counts once and each scored review QUALITY_REVIEW_WEIGHT times. Every input lies
    in 1-5, so the result does too; a new rating moves the score toward itself and never
    past it."""
    prior_weight = Decimal(str(settings.QUALITY_PRIOR_WEIGHT))
    review_weight = Decimal(str(settings.QUALITY_REVIEW_WEIGHT))
    total = prior_weight * Decimal(str(settings.QUALITY_PRIOR_MEAN))
    weight = prior_weight
    for rating in ratings:
        total += rating
        weight += 1
    for percent in review_percents:
        total += review_weight * review_on_rating_scale(percent)
        weight += review_weight
    return (total / weight).quantize(THOUSANDTH, ROUND_HALF_UP)


TIERS = ("probation", "standard", "expert")


@dataclass(frozen=True)
class Threshold:
    """What one tier asks for. The strictest of the agent's brands applies."""

    min_cases: int
    min_score: Decimal
    min_reviews: int = 0


@dataclass(frozen=True)
class Need:
    criterion: str  # resolved_cases | quality_score | qa_reviews
    current: int | Decimal
    required: int | Decimal

    @property
    def met(self) -> bool:
        return self.current >= self.required


@dataclass(frozen=True)
class Standing:
    """Where an agent stands: the tier the numbers reach and what the next one needs."""

    reached: str
    next_tier: str | None
    needs: list[Need] = field(default_factory=list)


def needs_for(threshold: Threshold, *, cases: int, score: Decimal, reviews: int) -> list[Need]:
    needs = [
        Need("resolved_cases", cases, threshold.min_cases),
        Need("quality_score", score, threshold.min_score),
    ]
    if threshold.min_reviews:
        needs.append(Need("qa_reviews", reviews, threshold.min_reviews))
    return needs


def standing(thresholds: Mapping[str, Threshold], *, cases: int, score: Decimal, reviews: int) -> Standing:
    """The highest tier whose threshold (and every lower one's) is met, from volume and
    quality only: the acceptance rate is not an input, so declining an offer costs nothing."""
    reached = TIERS[0]
    for tier in TIERS[1:]:
        if all(need.met for need in needs_for(thresholds[tier], cases=cases, score=score, reviews=reviews)):
            reached = tier
        else:
            return Standing(reached, tier, needs_for(thresholds[tier], cases=cases, score=score, reviews=reviews))
    return Standing(reached, None, [])


def strictest(per_brand: Iterable[Mapping[str, Threshold]]) -> dict[str, Threshold]:
    """One set of thresholds for an agent certified for several brands: the highest bar of
    each criterion. A tier is one per agent (it sets their number of concurrent chats)."""
    result: dict[str, Threshold] = {}
    for brand in per_brand:
        for tier, t in brand.items():
            have = result.get(tier)
            result[tier] = (
                t
                if have is None
                else Threshold(
                    max(have.min_cases, t.min_cases),
                    max(have.min_score, t.min_score),
                    max(have.min_reviews, t.min_reviews),
                )
            )
    return result


def sampled(*, key: str, percent: int) -> bool:
    """Whether a case falls in a `percent` sample: decided by a hash of `key`, so asking
    twice gives the same answer and the share is right over many cases."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:qa:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100
