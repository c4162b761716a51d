"""Reads for the supervisors' hub: the live-ish counts per brand on their home, the agents
directory and one agent's page.

Scope is `agents.quality.selectors.supervised_brand_ids`: a supervisor reaches the brands
they supervise, platform staff every brand. The directory lists the agents certified for
one of those brands (platform staff: every agent), and what an agent's page shows of their
work (tickets, shifts, sanctions) is that of those brands only.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Exists, F, Func, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from marketplace.models import Brand, User
from payouts.ledger import Purpose
from payouts.models import minor_to_decimal
from payouts.selectors import agent_balances
from tasks import shift_selectors
from tasks.models import ShiftBooking, Ticket

from .models import AgentProfile, AgentStatusChange, Application, Review, Sanction
from .quality import selectors as quality_selectors
from .selectors import AnswerListHas

DIRECTORY_PAGE_SIZE = 50
# An agent's page shows the latest of each; the quality page and the ticket pages have the rest.
HISTORY_TICKETS = 20
HISTORY_STATUS_CHANGES = 20
UPCOMING_BOOKINGS = 10

SUSPENDED_CHOICES = ("yes", "no")


def _count(queryset: QuerySet[Any]) -> Subquery:
    """COUNT(*) of a correlated queryset as one column of the outer query (no GROUP BY: the
    count is not an aggregate of the outer rows)."""
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Subquery(counted, output_field=IntegerField())


# --- Home ------------------------------------------------------------------------------------------


def applications_waiting(brand_id: int) -> int:
    """Sent applications that chose this brand and wait for a decision (as the vetting queue counts)."""
    return (
        Application.objects.filter(status__in=Application.OPEN)
        .filter(AnswerListHas(section="brands", key="brand_id", values=[brand_id]))
        .count()
    )


def home_brand_counts(user: User) -> list[dict[str, Any]]:
    """Each brand of the user's with what is happening now: tickets waiting for an agent and
    since when the oldest has waited, agents online, QA reviews waiting for a score and
    applications waiting for a decision.

    The first four come from one query for all brands; the applications' brand is inside
    their JSON answers, so they are counted with one query per brand."""
    waiting = Ticket.objects.filter(brand=OuterRef("pk"), status__in=Ticket.WAITING)
    brands = (
        Brand.objects.filter(pk__in=quality_selectors.supervised_brand_ids(user))
        .annotate(
            tickets_waiting=_count(waiting),
            oldest_queued_at=Subquery(waiting.order_by("queued_at", "pk").values("queued_at")[:1]),
            agents_online=_count(AgentProfile.objects.online().filter(brands=OuterRef("pk"))),
            open_reviews=_count(Review.objects.filter(brand=OuterRef("pk"), state=Review.State.OPEN)),
        )
        .order_by("name", "pk")
    )
    return [
        {
            "brand": brand,
            "tickets_waiting": brand.tickets_waiting,
            "oldest_queued_at": brand.oldest_queued_at,
            "agents_online": brand.agents_online,
            "open_reviews": brand.open_reviews,
            # The applications waiting for a decision (the key the home page always had).
            "waiting": applications_waiting(brand.pk),
        }
        for brand in brands
    ]


# --- The agents directory ------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryFilters:
    q: str = ""
    brand: str = ""  # a brand slug
    tier: str = ""
    status: str = ""
    suspended: str = ""  # "yes", "no" or "" for both

    @classmethod
    def from_query(cls, params: Any) -> "DirectoryFilters":
        """The filters a query string asks for; a value that is not one of the choices is dropped."""
        tier = params.get("tier", "")
        status = params.get("status", "")
        suspended = params.get("suspended", "")
        return cls(
            q=params.get("q", "").strip()[:100],
            brand=params.get("brand", "").strip()[:50],
            tier=tier if tier in AgentProfile.Tier.values else "",
            status=status if status in AgentProfile.Status.values else "",
            suspended=suspended if suspended in SUSPENDED_CHOICES else "",
        )


def _certified_for(brand_filter: Q) -> Exists:
    through = AgentProfile.brands.through
    return Exists(through.objects.filter(brand_filter, agentprofile_id=OuterRef("pk")))


def directory_agents(user: User, filters: DirectoryFilters | None = None) -> QuerySet[AgentProfile]:
    """The agents the user may look up, by name: those certified for one of their brands
    (every agent for platform staff), each with `visible_brands`, the user's brands among
    theirs, so another brand's name is never shown to a supervisor who does not run it."""
    filters = filters or DirectoryFilters()
    brand_ids = quality_selectors.supervised_brand_ids(user)
    agents = AgentProfile.objects.all()
    if not user.is_platform_staff:
        agents = agents.filter(_certified_for(Q(brand_id__in=brand_ids)))
    if filters.brand:
        agents = agents.filter(_certified_for(Q(brand_id__in=brand_ids, brand__slug=filters.brand)))
    if filters.q:
        agents = agents.filter(Q(display_name__icontains=filters.q) | Q(user__email__icontains=filters.q))
    if filters.tier:
        agents = agents.filter(tier=filters.tier)
    if filters.status:
        agents = agents.filter(status=filters.status)
    if filters.suspended:
        agents = agents.filter(suspended=filters.suspended == "yes")
    visible = Brand.objects.filter(pk__in=brand_ids).order_by("name", "pk")
    return (
        agents.select_related("user")
        .prefetch_related(Prefetch("brands", queryset=visible, to_attr="visible_brands"))
        .order_by("display_name", "pk")
    )


def directory_agent(user: User, agent_id: int) -> AgentProfile | None:
    """One agent of the directory, or None (another brand's agent is not there)."""
    return directory_agents(user).filter(pk=agent_id).first()


# --- One agent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    currency: str
    pending: Decimal
    available: Decimal
    in_payout: Decimal
    paid_out: Decimal


def agent_balances_for_display(agent: AgentProfile) -> list[Balance]:
    """What the ledger holds for the agent, per currency. The ledger is kept per agent and
    currency, not per brand, so these are the agent's totals across all their brands."""
    rows = agent_balances(agent_id=agent.pk)
    return [
        Balance(
            currency=currency,
            pending=minor_to_decimal(held.get(Purpose.AGENT_PENDING, 0), currency),
            available=minor_to_decimal(held.get(Purpose.AGENT_AVAILABLE, 0), currency),
            in_payout=minor_to_decimal(held.get(Purpose.AGENT_IN_PAYOUT, 0), currency),
            paid_out=minor_to_decimal(held.get(Purpose.AGENT_PAID, 0), currency),
        )
        for currency, held in sorted(rows.items())
    ]


def agent_flags(agent: AgentProfile, *, open_flags: int, warnings_in_force: int) -> list[str]:
    """What a supervisor should notice about the agent, each in a sentence."""
    flags = []
    if agent.suspended:
        flags.append(gettext("Suspended: takes no work until the suspension is lifted."))
    if warnings_in_force:
        flags.append(
            ngettext("%(count)s warning in force.", "%(count)s warnings in force.", warnings_in_force)
            % {"count": warnings_in_force}
        )
    if open_flags:
        flags.append(
            ngettext(
                "%(count)s automatic quality case waits for a supervisor.",
                "%(count)s automatic quality cases wait for a supervisor.",
                open_flags,
            )
            % {"count": open_flags}
        )
    if agent.consecutive_timeouts:
        flags.append(
            ngettext(
                "Let the last offer run out without answering.",
                "Let the last %(count)s offers run out without answering.",
                agent.consecutive_timeouts,
            )
            % {"count": agent.consecutive_timeouts}
        )
    if agent.status != AgentProfile.Status.OFFLINE and not agent.connections:
        flags.append(
            gettext("Marked %(status)s but the app is not connected: no offers reach them.")
            % {"status": agent.get_status_display().lower()}
        )
    if not agent.has_push:
        flags.append(gettext("No push notifications: offers reach them only while the app is open."))
    return flags


def agent_overview(user: User, agent: AgentProfile) -> dict[str, Any]:
    """Everything the agent's page shows, in a fixed number of queries however long the
    agent's history is: each list is the latest few, and counts are counted in the database."""
    brand_ids = quality_selectors.supervised_brand_ids(user)
    inputs, standing = quality_selectors.agent_standing(agent)
    upcoming = quality_selectors.next_tier(agent, standing, inputs)
    flags = list(quality_selectors.open_flags(user).filter(agent=agent))
    sanctions_in_force = list(
        quality_selectors.agent_sanctions(agent, brand_ids=brand_ids).filter(state=Sanction.State.ACTIVE)
    )
    sanction_count = Sanction.objects.filter(agent=agent, brand_id__in=brand_ids).count()
    now = timezone.now()
    bookings = list(
        ShiftBooking.objects.filter(
            agent=agent, status=ShiftBooking.Status.BOOKED, ends_at__gt=now, shift__brand_id__in=brand_ids
        )
        .select_related("shift__brand")
        .order_by("starts_at", "pk")[:UPCOMING_BOOKINGS]
    )
    return {
        "tickets": list(quality_selectors.agent_recent_tickets(user, agent, limit=HISTORY_TICKETS)),
        "status_changes": list(
            AgentStatusChange.objects.filter(agent=agent).order_by("-at", "-pk")[:HISTORY_STATUS_CHANGES]
        ),
        "inputs": inputs,
        "standing": standing,
        "next_tier": upcoming,
        "open_flags": flags,
        "sanctions_in_force": sanctions_in_force,
        "sanction_count": sanction_count,
        "balances": agent_balances_for_display(agent),
        "bookings": bookings,
        "reliability": shift_selectors.reliability(agent, now=now),
        "flags": agent_flags(
            agent,
            open_flags=len(flags),
            warnings_in_force=sum(1 for s in sanctions_in_force if s.kind == Sanction.Kind.WARNING),
        ),
    }
