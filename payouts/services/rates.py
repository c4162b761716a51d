"""What a case pays: the rate card in force when the offer is made, the agent's tier
multiplier and any surge bonus. The offer carries the whole calculation, so what the agent
was shown is exactly what they are credited."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from marketplace.prepared import PreparedQuery

from ..models import RateCard, RateLine


def _card_lines(_default_only: bool, *, brand_id: int, at: datetime, categories: list[str]) -> QuerySet[RateLine]:
    in_force = RateCard.objects.filter(brand_id=brand_id, effective_from__lte=at).order_by("-effective_from")
    return RateLine.objects.filter(card_id=Subquery(in_force.values("pk")[:1]), category__in=categories).select_related(
        "card"
    )


# Every offer is priced: compiled once (marketplace/prepared.py), not per offer.
_lines_in_force = PreparedQuery(_card_lines)


@dataclass(frozen=True)
class CasePay:
    amount_minor: int
    calculation: dict[str, Any]


def case_pay(
    *,
    brand_id: int,
    category: str,
    tier: str,
    surge_minor: int = 0,
    shift_bonus_minor: int = 0,
    at: datetime | None = None,
) -> CasePay:
    """Pay for one case of `category` by an agent of `tier`, by the card in force at `at`,
    plus the surge and the bonus of the shift the agent is checked in on.

    The category's line of that card, else its default line ('' category), else nothing
    (0). The tiered base is rounded half up to a whole minor unit. One query.
    """
    at = at or timezone.now()
    # The default line alone when the category is the default: the SQL differs, so it is
    # part of the shape.
    categories = [category, ""] if category else [""]
    lines = {
        line.category: line for line in _lines_in_force(category == "", brand_id=brand_id, at=at, categories=categories)
    }
    line = lines.get(category) or lines.get("")
    base = line.amount_minor if line else 0
    multiplier = line.card.multiplier(tier) if line else Decimal("1.00")
    tiered = int((Decimal(base) * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    total = tiered + surge_minor + shift_bonus_minor
    return CasePay(
        amount_minor=total,
        calculation={
            "rate_card_id": line.card_id if line else None,
            "rate_card_from": line.card.effective_from.isoformat() if line else None,
            "category": line.category if line else "",
            "base_minor": base,
            "tier": tier,
            "multiplier": str(multiplier),
            "tier_bonus_minor": tiered - base,
            "surge_minor": surge_minor,
            "shift_bonus_minor": shift_bonus_minor,
            "total_minor": total,
        },
    )


def rate_card_create(
    *,
    brand_id: int,
    lines: dict[str, int],
    effective_from: datetime | None = None,
    multipliers: dict[str, Decimal] | None = None,
    note: str = "",
) -> RateCard:
    """A new version of a brand's pay terms: base rates by category ('' is the default) in
    minor units, and tier multipliers (1.00 unless given). It applies to offers made from
    `effective_from` (now by default); offers already made keep the pay they showed."""
    if any(amount < 0 for amount in lines.values()):
        raise ValueError("rates are not negative")
    multipliers = multipliers or {}
    card = RateCard.objects.create(
        brand_id=brand_id,
        effective_from=effective_from or timezone.now(),
        note=note,
        **{f"multiplier_{tier}": value for tier, value in multipliers.items()},
    )
    RateLine.objects.bulk_create([RateLine(card=card, category=cat, amount_minor=amt) for cat, amt in lines.items()])
    return card
