"""The agent's pay pages: earnings with their calculations and holds, cash-out with a
confirmation step, the payout method, and monthly statements (CSV and PDF).

Reads come from the selectors and writes go through the services; these views only pick the
agent (`request.user.agent_profile`), the currency and the month, and render."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import DomainError

from ..forms import PayoutMethodForm
from ..models import Payout, PayoutBatch, PayoutMethod, minor_to_decimal
from ..selectors import EarningLine, earnings_summary
from ..services import cashout_quote, cashout_terms, payout_method_active, payout_method_set, payout_request
from ..services.terms import agent_currencies
from ..templatetags.pay import format_money

if TYPE_CHECKING:
    # For the type checker only: pay pages reach the agent through the user's reverse accessor.
    from agents.models import AgentProfile

# The earnings page lists the newest HISTORY_LIMIT cases and payouts, with a "show all" link
# (?all=1); the monthly statements hold every row of their month.
HISTORY_LIMIT = 100

EARNING_STATUS = {
    "pending": gettext_lazy("On hold"),
    "available": gettext_lazy("Available"),
    "paid": gettext_lazy("Cashed out"),
    "reversed": gettext_lazy("Taken back"),
}
EARNING_KIND = {
    "case": gettext_lazy("Resolved case"),
    "reversal": gettext_lazy("Reopened: pay taken back"),
    "floor_topup": gettext_lazy("Shift floor top-up"),
    "compensation": gettext_lazy("Shift cancelled: compensation"),
}
METHOD_KIND = {"iban": gettext_lazy("Bank account"), "stripe": gettext_lazy("Stripe account")}


# --- Who may see these pages ---------------------------------------------------------------


AgentView = Callable[..., HttpResponse]


def agent_page(view: AgentView) -> Callable[..., HttpResponse]:
    """Login required; a user without an agent profile gets the agent app's 403 page. The
    view is called with the agent, so each page only ever reads its own agent's money."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        agent = getattr(request.user, "agent_profile", None)
        if agent is None:
            return render(request, "agent/not_agent.html", status=403)
        return view(request, agent, *args, **kwargs)

    return wrapper


# --- Earnings ------------------------------------------------------------------------------


def _currency(wanted: str, currencies: list[str]) -> str | None:
    wanted = (wanted or "").strip().upper()
    if wanted in currencies:
        return wanted
    return currencies[0] if currencies else None


def _method_label(method: PayoutMethod) -> str:
    return f"{METHOD_KIND.get(method.kind, method.kind)} {method.masked}"


@dataclass
class PayoutRow:
    payout: Payout
    status: str
    note: str = ""
    method: str = ""


def _payout_row(payout: Payout) -> PayoutRow:
    """The payout as the agent reads it: where it stands, and what happens next."""
    status = str(payout.get_status_display())
    note = ""
    if payout.status == Payout.Status.CREATED:
        if payout.batch is not None and payout.batch.status == PayoutBatch.Status.PROPOSED:
            status = gettext("Waiting for approval")
            note = gettext("Your weekly payout is held for you until a supervisor approves the week's run.")
        elif payout.method.kind == PayoutMethod.Kind.IBAN:
            note = gettext("Bank payouts go out with the next bank run; the money is held for you until then.")
        else:
            note = gettext("Being sent to your Stripe account.")
    elif payout.status == Payout.Status.SUBMITTED:
        note = gettext("In the bank run; it usually arrives within one to two bank days.")
    elif payout.status == Payout.Status.FAILED:
        note = gettext("The whole amount, fee included, is back in your available balance.")
    return PayoutRow(payout=payout, status=status, note=note, method=_method_label(payout.method))


@dataclass
class CashoutForm:
    amount: str = ""
    error: str = ""
    error_code: str = ""


@dataclass
class StatementLink:
    month: str
    label: str


def _statement_months(today: date) -> list[StatementLink]:
    previous = today.replace(day=1) - timedelta(days=1)
    return [
        StatementLink(month=f"{today:%Y-%m}", label=gettext("This month")),
        StatementLink(month=f"{previous:%Y-%m}", label=gettext("Last month")),
    ]


def _earnings_page(
    request: HttpRequest,
    agent: "AgentProfile",
    *,
    currency: str = "",
    cashout: CashoutForm | None = None,
) -> HttpResponse:
    currencies = agent_currencies(agent_id=agent.pk)
    chosen = _currency(currency or request.GET.get("currency", ""), currencies)
    show_all = request.GET.get("all") == "1"
    context: dict[str, Any] = {
        "agent": agent,
        "currencies": currencies,
        "currency": chosen,
        "show_all": show_all,
        "limit": HISTORY_LIMIT,
        "statements": _statement_months(timezone.localdate()),
    }
    method = payout_method_active(agent_id=agent.pk)
    context["method"] = method
    context["method_label"] = _method_label(method) if method else ""
    if chosen is None:
        return render(request, "payouts/earnings.html", context)
    summary = earnings_summary(agent_id=agent.pk, currency=chosen)
    payouts = (
        Payout.objects.filter(agent_id=agent.pk, currency=chosen)
        .select_related("method", "batch")
        .order_by("-created_at", "-pk")
    )
    payout_count = payouts.count()
    if not show_all:
        payouts = payouts[:HISTORY_LIMIT]
    fee, minimum = cashout_terms(agent_id=agent.pk, currency=chosen)
    # "Change the amount" on the confirmation page comes back with the amount (?amount=).
    cashout = cashout or CashoutForm(amount=request.GET.get("amount", "")[:20])
    if not cashout.amount:
        cashout.amount = str(minor_to_decimal(summary.available, chosen))
    context.update(
        {
            "summary": summary,
            "holds": [line for line in summary.lines if line.status == "pending"],
            "lines": [_line_row(line) for line in (summary.lines if show_all else summary.lines[:HISTORY_LIMIT])],
            "line_count": len(summary.lines),
            "payouts": [_payout_row(p) for p in payouts],
            "payout_count": payout_count,
            "in_flight": any(p.status in Payout.IN_FLIGHT for p in payouts),
            "fee": fee,
            "minimum": max(minimum, fee + 1),
            "cashout": cashout,
        }
    )
    return render(request, "payouts/earnings.html", context)


@dataclass
class LineRow:
    line: EarningLine
    status: str
    kind: str
    stars: range = field(default_factory=lambda: range(0))


def _line_row(line: EarningLine) -> LineRow:
    return LineRow(
        line=line,
        status=str(EARNING_STATUS.get(line.status, line.status)),
        kind=str(EARNING_KIND.get(line.earning.kind, line.earning.kind)),
        stars=range(line.rating or 0),
    )


@agent_page
@require_GET
def earnings(request: HttpRequest, agent: "AgentProfile") -> HttpResponse:
    return _earnings_page(request, agent)


def _posted_amount(request: HttpRequest) -> str:
    """The amount as typed: a decimal comma (Swedish) and spaces between thousands are fine."""
    return "".join(request.POST.get("amount", "").split()).replace(",", ".")


@agent_page
@require_POST
def cashout(request: HttpRequest, agent: "AgentProfile") -> HttpResponse:
    """Step one (no `key`): the confirmation page with the amount, the fee, what the agent
    receives and where it goes, under a fresh idempotency key. Step two (with the key): the
    cash-out. A double tap sends the same key twice and gets the one payout back."""
    currency = request.POST.get("currency", "").strip().upper()
    amount = _posted_amount(request)
    key = request.POST.get("key", "").strip()
    try:
        if not key:
            quote = cashout_quote(agent_id=agent.pk, amount=amount, currency=currency, suspended=agent.suspended)
            return render(
                request,
                "payouts/cashout_confirm.html",
                {
                    "quote": quote,
                    "amount": str(minor_to_decimal(quote.amount_minor, quote.currency)),
                    "method": _method_label(quote.method),
                    "bank": quote.method.kind == PayoutMethod.Kind.IBAN,
                    "key": uuid.uuid4().hex,
                },
            )
        payout, _created = payout_request(
            agent_id=agent.pk, amount=amount, currency=currency, key=key, suspended=agent.suspended
        )
    except DomainError as exc:
        return _earnings_page(
            request,
            agent,
            currency=currency,
            cashout=CashoutForm(amount=request.POST.get("amount", ""), error=exc.message, error_code=exc.code),
        )
    payout.refresh_from_db()
    net = format_money(payout.net_minor, payout.currency)
    method = _method_label(payout.method)
    if payout.status == Payout.Status.FAILED:
        messages.error(
            request,
            gettext("The cash-out failed: %(reason)s The money is back in your available balance.")
            % {"reason": payout.failure_reason},
        )
    elif payout.status == Payout.Status.PAID:
        messages.success(request, gettext("Paid: %(net)s sent to your %(method)s.") % {"net": net, "method": method})
    elif payout.method.kind == PayoutMethod.Kind.IBAN:
        messages.success(
            request,
            gettext("Cash-out requested: %(net)s goes to your %(method)s with the next bank run.")
            % {"net": net, "method": method},
        )
    else:
        messages.success(
            request,
            gettext("Cash-out requested: %(net)s is on its way to your %(method)s.") % {"net": net, "method": method},
        )
    return redirect(f"{reverse('agent-earnings')}?currency={payout.currency}")


# --- Payout method -------------------------------------------------------------------------


# Where the money goes is worth a stolen session's while: the form asks for the password
# again unless it was entered in the last few minutes (allauth's reauthentication,
# ACCOUNT_REAUTHENTICATION_TIMEOUT), before it is shown, so nothing typed is lost to it.
@agent_page
@reauthentication_required
@require_http_methods(["GET", "POST"])
def payout_method(request: HttpRequest, agent: "AgentProfile") -> HttpResponse:
    current = payout_method_active(agent_id=agent.pk)
    if request.method == "POST":
        form = PayoutMethodForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = payout_method_set(
                    agent_id=agent.pk,
                    kind=data["kind"],
                    holder_name=data["holder_name"],
                    iban=data["iban"],
                    bic=data["bic"],
                    stripe_account=data["stripe_account"],
                )
            except DomainError as exc:
                for name, errors in (exc.fields or {"": [exc.message]}).items():
                    for error in errors:
                        form.add_error(name if name in form.fields else None, error)
            else:
                messages.success(
                    request, gettext("Payout method saved: %(method)s.") % {"method": _method_label(saved)}
                )
                return redirect("agent-earnings")
    else:
        initial = {"kind": current.kind, "holder_name": current.holder_name} if current else {}
        form = PayoutMethodForm(initial=initial)
    return render(
        request,
        "payouts/payout_method.html",
        {"agent": agent, "form": form, "current": current, "current_label": _method_label(current) if current else ""},
    )
