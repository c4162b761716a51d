"""The agent's monthly statements: every earning and payout of a month, as CSV and PDF."""

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from fpdf import FPDF

from ..models import Payout, minor_to_decimal
from ..selectors import EarningLine, earnings_summary
from ..services.terms import agent_currencies
from ..templatetags.pay import format_money
from .agent import EARNING_KIND, EARNING_STATUS, _method_label, agent_page

if TYPE_CHECKING:
    # For the type checker only: pay pages reach the agent through the user's reverse accessor.
    from agents.models import AgentProfile

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Characters our own text uses that Windows-1252 lacks: the minus sign and thin spaces.
PDF_SUBSTITUTES = str.maketrans({"\u2212": "-", "\u2009": " ", "\u202f": " "})


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
        # Cases count resolutions: a reversal takes one back, a shift's earning is none.
        total.cases += {"case": 1, "reversal": -1}.get(line.earning.kind, 0)
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
                e.ticket_id or "",
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
                    str(line.earning.ticket_id or ""),
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
