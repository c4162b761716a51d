"""The agent's pay pages: earnings with their calculations and holds, cash-out with a
confirmation step, the payout method, and monthly statements (CSV and PDF).

Reads come from the selectors and writes go through the services; these views only pick the
agent (`request.user.agent_profile`), the currency and the month, and render."""

import csv
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from fpdf import FPDF

from marketplace.errors import DomainError

from .forms import PayoutMethodForm
from .models import Payout, PayoutBatch, PayoutMethod, minor_to_decimal
from .selectors import EarningLine, earnings_summary
from .services import cashout_quote, cashout_terms, payout_method_active, payout_method_set, payout_request
from .services.payouts import agent_currencies
from .templatetags.pay import format_money

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
EARNING_KIND = {"case": gettext_lazy("Resolved case"), "reversal": gettext_lazy("Reopened: pay taken back")}
METHOD_KIND = {"iban": gettext_lazy("Bank account"), "stripe": gettext_lazy("Stripe account")}
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Characters our own text uses that Windows-1252 lacks: the minus sign and thin spaces.
PDF_SUBSTITUTES = str.maketrans({"\u2212": "-", "\u2009": " ", "\u202f": " "})


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


# --- Monthly statements --------------------------------------------------------------------


def _month_range(month: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next) in the site's time zone; 404
    for anything that is not a real YYYY-MM."""
    match = MONTH.match(month)
    if not match:
        raise Http404
    year, number = int(match.group(1)), int(match.group(2))
    if not (1 <= number <= 12 and 1970 <= year < 9999):
        raise Http404
    start = date(year, number, 1)
    end = date(year + (number == 12), number % 12 + 1, 1)
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, datetime.min.time()), zone),
        timezone.make_aware(datetime.combine(end, datetime.min.time()), zone),
    )


@dataclass
class Totals:
    currency: str
    cases: int = 0
    earned: int = 0
    paid_amount: int = 0
    fees: int = 0
    net: int = 0


@dataclass
class Statement:
    month: str
    agent_name: str
    lines: list[EarningLine]
    payouts: list[Payout]
    totals: list[Totals]


def _statement(agent: "AgentProfile", month: str) -> Statement:
    """Every earning credited in the month (with its status today and its calculation), every
    payout requested in it, and totals per currency. Failed payouts are listed but not
    counted: their money went back to the available balance."""
    start, end = _month_range(month)
    lines: list[EarningLine] = []
    for currency in agent_currencies(agent_id=agent.pk):
        summary = earnings_summary(agent_id=agent.pk, currency=currency)
        lines += [line for line in summary.lines if start <= line.earning.created_at < end]
    lines.sort(key=lambda line: (line.earning.created_at, line.earning.pk))
    payouts = list(
        Payout.objects.filter(agent_id=agent.pk, created_at__gte=start, created_at__lt=end)
        .select_related("method")
        .order_by("created_at", "pk")
    )
    totals: dict[str, Totals] = {}
    for line in lines:
        total = totals.setdefault(line.earning.currency, Totals(currency=line.earning.currency))
        total.earned += line.earning.amount_minor
        total.cases += 1 if line.earning.kind == "case" else -1
    for payout in payouts:
        total = totals.setdefault(payout.currency, Totals(currency=payout.currency))
        if payout.status != Payout.Status.FAILED:
            total.paid_amount += payout.amount_minor
            total.fees += payout.fee_minor
            total.net += payout.net_minor
    return Statement(
        month=month,
        agent_name=agent.display_name,
        lines=lines,
        payouts=payouts,
        totals=[totals[c] for c in sorted(totals)],
    )


def _attachment(response: HttpResponse, month: str, extension: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="earnings-{month}.{extension}"'
    # The figures change as holds end and payouts are paid: never serve a stale copy.
    response["Cache-Control"] = "private, no-store"
    return response


def _cell(value: str) -> str:
    """Text from customers (a ticket's subject) could start a spreadsheet formula; a leading
    apostrophe keeps it text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _plain(amount_minor: int, currency: str) -> str:
    return str(minor_to_decimal(amount_minor, currency))


@agent_page
@require_GET
def statement_csv(request: HttpRequest, agent: "AgentProfile", month: str) -> HttpResponse:
    statement = _statement(agent, month)
    # The byte-order mark makes spreadsheet programs read the file as UTF-8 ("ö" stays "ö").
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response.write("\ufeff")
    out = csv.writer(response)
    out.writerow([gettext("Earnings statement"), month])
    out.writerow([gettext("Agent"), _cell(statement.agent_name)])
    out.writerow([])
    out.writerow([gettext("Earnings")])
    out.writerow(
        [
            gettext("Date"),
            gettext("Ticket"),
            gettext("Subject"),
            gettext("Kind"),
            gettext("Status"),
            gettext("Calculation"),
            gettext("Amount"),
            gettext("Currency"),
        ]
    )
    for line in statement.lines:
        e = line.earning
        out.writerow(
            [
                _local(e.created_at),
                e.ticket_id,
                _cell(line.subject),
                EARNING_KIND.get(e.kind, e.kind),
                EARNING_STATUS.get(line.status, line.status),
                _cell(line.explanation),
                _plain(e.amount_minor, e.currency),
                e.currency,
            ]
        )
    out.writerow([])
    out.writerow([gettext("Payouts")])
    out.writerow(
        [
            gettext("Date"),
            gettext("Payout"),
            gettext("Status"),
            gettext("Amount"),
            gettext("Fee"),
            gettext("Net"),
            gettext("Currency"),
            gettext("Method"),
            gettext("Failure reason"),
        ]
    )
    for payout in statement.payouts:
        out.writerow(
            [
                _local(payout.created_at),
                payout.pk,
                payout.get_status_display(),
                _plain(payout.amount_minor, payout.currency),
                _plain(payout.fee_minor, payout.currency),
                _plain(payout.net_minor, payout.currency),
                payout.currency,
                _method_label(payout.method),
                _cell(payout.failure_reason),
            ]
        )
    out.writerow([])
    out.writerow([gettext("Totals")])
    out.writerow(
        [
            gettext("Currency"),
            gettext("Cases"),
            gettext("Earned"),
            gettext("Paid out"),
            gettext("Fees"),
            gettext("Net received"),
        ]
    )
    for total in statement.totals:
        c = total.currency
        out.writerow(
            [
                c,
                total.cases,
                _plain(total.earned, c),
                _plain(total.paid_amount, c),
                _plain(total.fees, c),
                _plain(total.net, c),
            ]
        )
    return _attachment(response, month, "csv")


def _pdf_text(value: object) -> str:
    """Text the PDF's core font can draw (Windows-1252): other letters lose their accents
    ("ő" -> "o"), and what has no such form becomes "?", instead of failing the statement."""
    out = []
    for char in str(value).translate(PDF_SUBSTITUTES):
        try:
            char.encode("cp1252")
            out.append(char)
        except UnicodeEncodeError:
            folded = unicodedata.normalize("NFKD", char).encode("cp1252", "ignore").decode("cp1252")
            out.append(folded or "?")
    return "".join(out)


def _pdf_table(pdf: FPDF, widths: tuple[int, ...], head: list[str], rows: list[list[str]], right: set[int]) -> None:
    aligns = tuple("RIGHT" if i in right else "LEFT" for i in range(len(widths)))
    with pdf.table(col_widths=widths, text_align=aligns, line_height=4.5, padding=1) as table:
        row = table.row()
        for text in head:
            row.cell(_pdf_text(text))
        for values in rows:
            row = table.row()
            for text in values:
                row.cell(_pdf_text(text))


@agent_page
@require_GET
def statement_pdf(request: HttpRequest, agent: "AgentProfile", month: str) -> HttpResponse:
    statement = _statement(agent, month)
    title = gettext("Earnings statement %(month)s") % {"month": month}
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    # The core fonts' PDF encoding is WinAnsi (Windows-1252): "ö", "×", "€" and "•" as they are.
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_title(title)
    pdf.set_author(_pdf_text(statement.agent_name))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(text=_pdf_text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(
        text=_pdf_text(
            gettext("%(agent)s · made %(when)s") % {"agent": statement.agent_name, "when": _local(timezone.now())}
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )

    def heading(text: str) -> None:
        pdf.ln(4)
        pdf.set_font("Helvetica", style="B", size=12)
        pdf.cell(text=_pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font("Helvetica", size=8)

    heading(gettext("Earnings"))
    if statement.lines:
        _pdf_table(
            pdf,
            (24, 14, 40, 20, 62, 30),
            [
                gettext("Date"),
                gettext("Ticket"),
                gettext("Subject"),
                gettext("Status"),
                gettext("Calculation"),
                gettext("Amount"),
            ],
            [
                [
                    _local(line.earning.created_at),
                    str(line.earning.ticket_id),
                    line.subject,
                    str(EARNING_STATUS.get(line.status, line.status)),
                    line.explanation,
                    format_money(line.earning.amount_minor, line.earning.currency),
                ]
                for line in statement.lines
            ],
            right={1, 5},
        )
    else:
        pdf.cell(text=_pdf_text(gettext("No earnings this month.")), new_x="LMARGIN", new_y="NEXT")

    heading(gettext("Payouts"))
    if statement.payouts:
        _pdf_table(
            pdf,
            (24, 24, 26, 26, 26, 64),
            [gettext("Date"), gettext("Status"), gettext("Amount"), gettext("Fee"), gettext("Net"), gettext("Method")],
            [
                [
                    _local(p.created_at),
                    str(p.get_status_display()),
                    format_money(p.amount_minor, p.currency),
                    format_money(p.fee_minor, p.currency),
                    format_money(p.net_minor, p.currency),
                    _method_label(p.method) + (f"\n{p.failure_reason}" if p.failure_reason else ""),
                ]
                for p in statement.payouts
            ],
            right={2, 3, 4},
        )
    else:
        pdf.cell(text=_pdf_text(gettext("No payouts this month.")), new_x="LMARGIN", new_y="NEXT")

    heading(gettext("Totals"))
    if statement.totals:
        _pdf_table(
            pdf,
            (30, 20, 35, 35, 35, 35),
            [
                gettext("Currency"),
                gettext("Cases"),
                gettext("Earned"),
                gettext("Paid out"),
                gettext("Fees"),
                gettext("Net received"),
            ],
            [
                [
                    t.currency,
                    str(t.cases),
                    format_money(t.earned, t.currency),
                    format_money(t.paid_amount, t.currency),
                    format_money(t.fees, t.currency),
                    format_money(t.net, t.currency),
                ]
                for t in statement.totals
            ],
            right={1, 2, 3, 4, 5},
        )
        pdf.ln(2)
        pdf.multi_cell(
            w=0,
            text=_pdf_text(
                gettext("Failed payouts are listed but not counted: their money went back to your balance.")
            ),
        )
    else:
        pdf.cell(text=_pdf_text(gettext("Nothing this month.")), new_x="LMARGIN", new_y="NEXT")
    return _attachment(HttpResponse(bytes(pdf.output()), content_type="application/pdf"), month, "pdf")
