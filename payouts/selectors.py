"""Reads over the ledger, the earnings and the payouts."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy

from marketplace.models import Brand, User

from .ledger import Owner, Purpose
from .models import (
    BankFile,
    Earning,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payout,
    PayoutBatch,
    PayoutMethod,
    minor_to_decimal,
)
from .templatetags.pay import format_money


def balance(account: LedgerAccount) -> int:
    """The account's balance in minor units: the sum of its postings (positive: owed to the owner)."""
    total = LedgerPosting.objects.filter(account=account).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def balances_of(*, purpose: str, currency: str) -> dict[int, int]:
    """Every agent's balance of one purpose in one currency: {agent id: minor units}."""
    rows = (
        LedgerPosting.objects.filter(
            account__owner_kind=Owner.AGENT, account__purpose=purpose, account__currency=currency
        )
        .values("account__owner_id")
        .annotate(total=Sum("amount_minor"))
    )
    return {row["account__owner_id"]: int(row["total"] or 0) for row in rows}


def agent_balances(*, agent_id: int) -> dict[str, dict[str, int]]:
    """{currency: {purpose: minor units}} for one agent, from the postings."""
    rows = (
        LedgerPosting.objects.filter(account__owner_kind=Owner.AGENT, account__owner_id=agent_id)
        .values("account__currency", "account__purpose")
        .annotate(total=Sum("amount_minor"))
    )
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["account__currency"], {})[row["account__purpose"]] = int(row["total"] or 0)
    return out


def money(amount_minor: int, currency: str) -> dict[str, str]:
    """Money as the contract writes it: a decimal string in the major unit and the currency."""
    return {"amount": str(minor_to_decimal(amount_minor, currency)), "currency": currency}


@dataclass
class EarningLine:
    """One earning as the agent sees it: its status, and how its amount was reached."""

    earning: Earning
    status: str  # pending | available | paid | reversed
    explanation: str
    hold_reason: str = ""
    rating: int | None = None
    subject: str = ""


@dataclass
class EarningsSummary:
    currency: str
    pending: int = 0
    available: int = 0
    in_payout: int = 0
    paid_out: int = 0
    today: int = 0
    this_week: int = 0
    lines: list[EarningLine] = field(default_factory=list)


# The agent tiers' names (agents.AgentProfile.Tier, which this app cannot import).
TIER_NAMES = {
    "probation": gettext_lazy("probation"),
    "standard": gettext_lazy("standard"),
    "expert": gettext_lazy("expert"),
}


def _duration(seconds: int) -> str:
    """ "4 h 12 min", "45 min", "3 h" (whole minutes, rounded down)."""
    hours, minutes = divmod(max(0, seconds) // 60, 60)
    if hours and minutes:
        return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    if hours:
        return gettext("%(hours)s h") % {"hours": hours}
    return gettext("%(minutes)s min") % {"minutes": minutes}


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def shift_label(earning: Earning) -> str:
    """ "Shift Mon 8 Dec 09:00–13:00" (local time), from the period a shift's earning stored;
    a shift over midnight names both days."""
    calc = earning.calculation or {}
    start, end = _parse_time(calc.get("shift_starts_at")), _parse_time(calc.get("shift_ends_at"))
    if start is None or end is None:
        return gettext("Shift #%(id)s") % {"id": earning.shift_id}
    start, end = timezone.localtime(start), timezone.localtime(end)
    until = date_format(end, "H:i") if start.date() == end.date() else date_format(end, "D j M H:i")
    return gettext("Shift %(start)s–%(end)s") % {"start": date_format(start, "D j M H:i"), "end": until}


def _explain_shift(earning: Earning) -> str:
    calc = earning.calculation or {}
    cur = earning.currency
    if earning.kind == Earning.Kind.FLOOR_TOPUP:
        return gettext("%(duration)s available × %(rate)s/h = %(floor)s; cases paid %(cases)s; top-up %(topup)s") % {
            "duration": _duration(int(calc.get("available_seconds", 0))),
            "rate": format_money(int(calc.get("hourly_floor_minor", 0)), cur),
            "floor": format_money(int(calc.get("floor_minor", 0)), cur),
            "cases": format_money(int(calc.get("cases_paid_minor", 0)), cur),
            "topup": format_money(earning.amount_minor, cur),
        }
    text = gettext(
        "The shift was cancelled %(notice)s before its start, inside the %(cutoff)s h notice: compensation %(amount)s."
    ) % {
        "notice": _duration(int(calc.get("notice_seconds", 0))),
        "cutoff": calc.get("cutoff_hours", ""),
        "amount": format_money(earning.amount_minor, cur),
    }
    if calc.get("reason"):
        text += " " + gettext("Reason: %(reason)s") % {"reason": calc["reason"]}
    return text


def _explain(earning: Earning) -> str:
    """ "Base 60.00 (cards) × 1.20 expert + surge 10.00 = 82.00 SEK", from the calculation the
    offer carried; older earnings without one say what they were. A shift's earning says how
    its amount was reached: the floor against the cases paid, or the late cancellation."""
    calc = earning.calculation or {}
    cur = earning.currency
    if earning.kind in (Earning.Kind.FLOOR_TOPUP, Earning.Kind.COMPENSATION):
        return _explain_shift(earning)
    if earning.kind == Earning.Kind.REVERSAL:
        return gettext(
            "Reopened by the customer within the window: the case's pay %(amount)s %(currency)s is taken back."
        ) % {
            "amount": minor_to_decimal(-earning.amount_minor, cur),
            "currency": cur,
        }
    if not calc:
        return gettext("Resolved case: %(amount)s %(currency)s.") % {"amount": earning.amount, "currency": cur}
    parts = [
        gettext("Base %(amount)s (%(category)s)")
        % {
            "amount": minor_to_decimal(calc.get("base_minor", 0), cur),
            "category": calc.get("category") or gettext("default rate"),
        }
    ]
    if Decimal(calc.get("multiplier", "1")) != 1:
        parts.append(f"× {calc['multiplier']} {TIER_NAMES.get(calc.get('tier', ''), '')}".rstrip())
    if calc.get("surge_minor"):
        parts.append(gettext("+ surge %(amount)s") % {"amount": minor_to_decimal(calc["surge_minor"], cur)})
    if calc.get("shift_bonus_minor"):
        parts.append(gettext("+ shift bonus %(amount)s") % {"amount": minor_to_decimal(calc["shift_bonus_minor"], cur)})
    return " ".join(parts) + f" = {earning.amount} {cur}"


def earnings_summary(*, agent_id: int, currency: str, now: datetime | None = None) -> EarningsSummary:
    """Balances from the ledger, today's and this week's credited pay, and every earning with
    its status: pending until its window closes (the hold, with reason and date), reversed
    if reopened, and of the released ones the oldest are `paid` as far as payouts cover them
    (first in, first out), the rest `available`."""
    now = now or timezone.now()
    summary = EarningsSummary(currency=currency)
    balances = agent_balances(agent_id=agent_id).get(currency, {})
    summary.pending = balances.get(Purpose.AGENT_PENDING, 0)
    summary.available = balances.get(Purpose.AGENT_AVAILABLE, 0)
    summary.in_payout = balances.get(Purpose.AGENT_IN_PAYOUT, 0)
    summary.paid_out = balances.get(Purpose.AGENT_PAID, 0)
    # Gross amounts that left the available balance (paid, or on their way).
    paid_gross = int(
        Payout.objects.filter(
            agent_id=agent_id, currency=currency, status__in=["created", "submitted", "paid"]
        ).aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    earnings = list(
        Earning.objects.filter(agent_id=agent_id, currency=currency)
        .select_related("ticket")
        .annotate(
            released=Exists(LedgerTransaction.objects.filter(earning_id=OuterRef("pk"), kind="release")),
            is_reversed=Exists(Earning.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("available_at", "pk")
    )
    covered = paid_gross
    today = timezone.localdate(now)
    monday = today - timedelta(days=today.weekday())
    for earning in earnings:
        hold = ""
        if earning.kind == Earning.Kind.REVERSAL or earning.is_reversed:
            status = "reversed"
        elif not earning.released:
            status = "pending"
            hold = gettext("The customer can reopen this case until %(when)s; the pay is yours after that.") % {
                "when": f"{timezone.localtime(earning.available_at):%Y-%m-%d %H:%M}"
            }
        elif covered >= earning.amount_minor:
            status = "paid"
            covered -= earning.amount_minor
        else:
            status = "available"
            covered = 0
        credited = timezone.localdate(earning.created_at)
        if status != "reversed":
            if credited == today:
                summary.today += earning.amount_minor
            if credited >= monday:
                summary.this_week += earning.amount_minor
        ticket = earning.ticket
        summary.lines.append(
            EarningLine(
                earning=earning,
                status=status,
                explanation=_explain(earning),
                hold_reason=hold,
                rating=ticket.rating if ticket else None,
                subject=ticket.subject if ticket else shift_label(earning),
            )
        )
    summary.lines.sort(key=lambda line: (line.earning.created_at, line.earning.pk), reverse=True)
    return summary


def entry_dict(line: EarningLine) -> dict[str, Any]:
    e = line.earning
    return {
        "id": e.pk,
        "kind": e.kind,
        "amount": money(e.amount_minor, e.currency),
        "ticket_id": e.ticket_id,
        "shift_id": e.shift_id,
        "status": line.status,
        "available_at": timezone.localtime(e.available_at).isoformat(),
        "explanation": line.explanation,
        "hold_reason": line.hold_reason or None,
        "calculation": e.calculation or None,
        "rating": line.rating,
        "created_at": timezone.localtime(e.created_at).isoformat(),
    }


def payout_dict(payout: Payout) -> dict[str, Any]:
    return {
        "id": payout.pk,
        "status": payout.status,
        "amount": money(payout.amount_minor, payout.currency),
        "fee": money(payout.fee_minor, payout.currency),
        "net": money(payout.net_minor, payout.currency),
        "method": {"kind": payout.method.kind, "masked": payout.method.masked},
        "weekly": payout.batch_id is not None,
        "reference": payout.provider_reference or None,
        "failure_reason": payout.failure_reason or None,
        "created_at": timezone.localtime(payout.created_at).isoformat(),
        "paid_at": timezone.localtime(payout.paid_at).isoformat() if payout.paid_at else None,
        "failed_at": timezone.localtime(payout.failed_at).isoformat() if payout.failed_at else None,
    }


def brand_totals(*, brand_id: int, start: date, end: date) -> dict[str, Any]:
    """Pay cost of one brand over [start, end): resolved cases, reversals, net cost and cost
    per resolved case, from the earnings (which the ledger mirrors one to one)."""
    rows = Earning.objects.filter(brand_id=brand_id, created_at__date__gte=start, created_at__date__lt=end)
    agg = rows.aggregate(
        cases=Count("pk", filter=Q(kind=Earning.Kind.CASE)),
        reversals=Count("pk", filter=Q(kind=Earning.Kind.REVERSAL)),
        total=Sum("amount_minor"),
    )
    cases = agg["cases"] - agg["reversals"]
    total = int(agg["total"] or 0)
    return {
        "cases": cases,
        "reversals": agg["reversals"],
        "total_minor": total,
        "per_case_minor": round(total / cases) if cases > 0 else None,
    }


# --- What a supervisor may see and act on ------------------------------------------------------
# A weekly batch is per currency, so it may hold agents of several brands. A supervisor may see
# and act on a batch (a bank file, a payout) only if every agent in it is certified for at
# least one brand they supervise; one that also holds others' agents is for platform staff.
# Of such a mixed one the supervisor sees only their own agents' lines. Staff see everything.


def agent_supervised_by(user: User | int) -> Exists:
    """For a Payout or Earning query: its agent is certified for a brand `user` supervises."""
    return Exists(Brand.objects.filter(certified_agents=OuterRef("agent_id"), supervisors=user))


@dataclass(frozen=True)
class PayoutScope:
    visible: bool  # at least one of the user's agents in it (or the user is staff)
    actionable: bool  # nobody else's agents in it either (or the user is staff)


def payouts_scope(*, user: User, payouts: "QuerySet[Payout]") -> PayoutScope:
    """The scope rule over a set of payouts (a batch's, a bank file's, a single one)."""
    if user.is_platform_staff:
        return PayoutScope(visible=True, actionable=True)
    counts = payouts.alias(is_mine=agent_supervised_by(user)).aggregate(
        mine=Count("pk", filter=Q(is_mine=True)), others=Count("pk", filter=Q(is_mine=False))
    )
    return PayoutScope(visible=counts["mine"] > 0, actionable=counts["mine"] > 0 and counts["others"] == 0)


def batch_scope(*, user: User, batch_id: int) -> PayoutScope:
    return payouts_scope(user=user, payouts=Payout.objects.filter(batch_id=batch_id))


def bank_file_scope(*, user: User, bank_file_id: int) -> PayoutScope:
    return payouts_scope(user=user, payouts=Payout.objects.filter(bank_file_id=bank_file_id))


def payout_scope(*, user: User, payout_id: int) -> PayoutScope:
    return payouts_scope(user=user, payouts=Payout.objects.filter(pk=payout_id))


def payouts_visible(*, user: User, payouts: "QuerySet[Payout]") -> "QuerySet[Payout]":
    """Only the payouts of the user's agents (all of them for staff)."""
    return payouts if user.is_platform_staff else payouts.filter(agent_supervised_by(user))


def brands_supervised(*, user: User) -> "QuerySet[Brand]":
    """The brands whose pay the user may see: their own, or every brand for staff."""
    brands = Brand.objects.all() if user.is_platform_staff else user.supervised_brands.all()
    return brands.order_by("name")


@dataclass
class BatchRow:
    batch: PayoutBatch
    actionable: bool
    payout_count: int | None = None  # None for a mixed batch: the totals include others' agents
    total_minor: int | None = None

    @property
    def total(self) -> Decimal | None:
        return None if self.total_minor is None else minor_to_decimal(self.total_minor, self.batch.currency)


def batches_for(*, user: User, limit: int = 20) -> list[BatchRow]:
    """The newest weekly batches the user may see, with their size when the user may act on them."""
    staff = user.is_platform_staff
    inside = Payout.objects.filter(batch=OuterRef("pk"))
    batches = PayoutBatch.objects.order_by("-period_start", "-pk").annotate(
        has_mine=Exists(inside.filter(agent_supervised_by(user))),
        has_others=Exists(inside.filter(~agent_supervised_by(user))),
    )
    if not staff:
        batches = batches.filter(has_mine=True)
    found = list(batches[:limit])
    sizes = {
        row["batch_id"]: (row["n"], int(row["total"] or 0))
        for row in Payout.objects.filter(batch__in=found)
        .values("batch_id")
        .annotate(n=Count("pk"), total=Sum("amount_minor"))
    }
    rows = []
    for batch in found:
        row = BatchRow(batch=batch, actionable=staff or not batch.has_others)
        if row.actionable:
            row.payout_count, row.total_minor = sizes.get(batch.pk, (0, 0))
        rows.append(row)
    return rows


def bank_payouts_waiting(*, user: User) -> "QuerySet[Payout]":
    """On-demand bank payouts not yet paid: waiting for a bank file, or in one the bank has
    not confirmed. Weekly ones are on their batch's page."""
    payouts = Payout.objects.filter(
        batch__isnull=True, method__kind=PayoutMethod.Kind.IBAN, status__in=Payout.IN_FLIGHT
    ).select_related("agent", "method", "bank_file")
    return payouts_visible(user=user, payouts=payouts).order_by("currency", "created_at", "pk")


@dataclass
class BankFileRow:
    bank_file: BankFile
    actionable: bool
    submitted: int
    paid: int
    failed: int

    @property
    def total(self) -> Decimal:
        return minor_to_decimal(self.bank_file.total_minor, self.bank_file.currency)


def bank_files_for(*, user: User, limit: int = 20, ids: set[int] | None = None) -> list[BankFileRow]:
    """The newest bank files the user may see (of `ids` only, when given), with how many of
    their payments are still waiting for the bank, paid and failed."""
    staff = user.is_platform_staff
    inside = Payout.objects.filter(bank_file=OuterRef("pk"))
    files = BankFile.objects.all() if ids is None else BankFile.objects.filter(pk__in=ids)
    files = files.order_by("-created_at", "-pk").annotate(
        n_submitted=Count("payouts", filter=Q(payouts__status=Payout.Status.SUBMITTED)),
        n_paid=Count("payouts", filter=Q(payouts__status=Payout.Status.PAID)),
        n_failed=Count("payouts", filter=Q(payouts__status=Payout.Status.FAILED)),
        has_mine=Exists(inside.filter(agent_supervised_by(user))),
        has_others=Exists(inside.filter(~agent_supervised_by(user))),
    )
    if not staff:
        files = files.filter(has_mine=True)
    return [
        BankFileRow(
            bank_file=f,
            actionable=staff or not f.has_others,
            submitted=f.n_submitted,
            paid=f.n_paid,
            failed=f.n_failed,
        )
        for f in files[:limit]
    ]


@dataclass
class EarningRow:
    earning: Earning
    status: str  # pending | available | paid | reversed, as the agent sees it


def brand_earnings(*, brand_id: int, start: date, end: date) -> list[EarningRow]:
    """Every earning of one brand credited in [start, end) (local dates), oldest first, with
    the status its agent sees. The status depends on the agent's other earnings (payouts pay
    the oldest first), so it is taken from each agent's earnings summary: one summary per
    agent in the period, which is fine for an export."""
    earnings = list(
        Earning.objects.filter(brand_id=brand_id, created_at__date__gte=start, created_at__date__lt=end)
        .select_related("agent")
        .order_by("created_at", "pk")
    )
    statuses: dict[int, str] = {}
    for agent_id, currency in sorted({(e.agent_id, e.currency) for e in earnings}):
        for line in earnings_summary(agent_id=agent_id, currency=currency).lines:
            statuses[line.earning.pk] = line.status
    return [EarningRow(earning=e, status=statuses.get(e.pk, "")) for e in earnings]
