"""The agent's earnings screen: figures, each case's calculation and rating, holds with their
reason and date, payout history; cash-out with a confirmation that shows the fee first and
pays once however often it is sent; the payout method form; monthly statements; and nobody
but the agent sees any of it. Money is made by resolving real cases through the services."""

import csv
import io
import re
import zlib
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from allauth.account.internal.flows.login import record_authentication
from django.test import RequestFactory
from django.utils import timezone

from marketplace.models import User
from payouts.models import Payout, PayoutMethod
from payouts.services import payout_mark_failed, payout_method_set, payout_request
from tasks import services

from .factories import PASSWORD, AgentFactory, BrandFactory, TicketFactory

pytestmark = pytest.mark.django_db

IBAN = "SE4550000000058398257466"
EARNINGS = "/agent/earnings/"
CASHOUT = "/agent/earnings/cash-out/"
METHOD = "/agent/payout-method/"


# --- Making money through the real services ------------------------------------------------


def resolved(agent, brand, *, subject: str = "My card was declined", rating: int | None = None):
    """A case handed over, offered to `agent` (the only one who can take it), accepted and resolved."""
    ticket = TicketFactory(brand=brand, subject=subject)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer is not None and offer.agent_id == agent.pk
    services.offer_accept(agent=agent, offer_id=offer.pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    if rating:
        ticket.refresh_from_db()
        services.ticket_rate(ticket=ticket, score=rating)
    return ticket


@pytest.fixture
def ada(brand, settings):
    """An agent of Acme (45.00 SEK a case) with three cases paid out at once (135.00
    available), a fourth still on hold, and a bank account."""
    agent = AgentFactory(brands=[brand], available=True, display_name="Ada", user__email="ada@example.test")
    settings.REOPEN_WINDOW_HOURS = 0
    resolved(agent, brand, subject="Refund for order 1001", rating=4)
    resolved(agent, brand, subject="Card blocked abroad")
    resolved(agent, brand, subject="Wrong delivery address")
    settings.REOPEN_WINDOW_HOURS = 72
    resolved(agent, brand, subject="Password reset loop")
    payout_method_set(agent_id=agent.pk, kind="iban", holder_name="Ada Lovelace", iban=IBAN)
    return agent


@pytest.fixture
def ada_client(client, ada):
    return password_login(client, ada.user)


def password_login(client, user):
    """Logged in with the password just now, as allauth records it: the payout method page
    asks for a recent password entry."""
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, user, "password", email=user.email)
    request.session.save()
    return client


@pytest.fixture
def fee(settings):
    settings.CASHOUT_FEE = Decimal("5.00")
    settings.CASHOUT_MINIMUM = Decimal("100.00")


def text(response) -> str:
    return unescape(response.content.decode())


def inner_text(html: str, name: str) -> str:
    """The text inside the first element with data-testid=name (up to its own closing tag),
    tags and runs of spaces removed."""
    start = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(name)}"[^>]*>', html)
    assert start, f"no {name} in the page"
    tag, depth, at = start.group(1), 1, start.end()
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[at:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            inner = html[at : at + match.start()]
            return " ".join(re.sub(r"<[^>]+>", " ", inner).split())
    raise AssertionError(f"{name} is never closed")


def confirm_page(client, amount: str, currency: str = "SEK") -> str:
    response = client.post(CASHOUT, {"amount": amount, "currency": currency})
    assert response.status_code == 200
    return text(response)


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f]{32})"', html)
    assert match, "no idempotency key on the confirmation page"
    return match.group(1)


# --- The figures ------------------------------------------------------------------------------


def test_the_page_shows_the_figures_from_the_ledger(ada_client):
    html = text(ada_client.get(EARNINGS))
    figures = {
        name: inner_text(html, f"figure-{name}")
        for name in ("available", "pending", "today", "week", "in-payout", "paid-out")
    }
    assert figures == {
        "available": "Available SEK 135.00",
        "pending": "On hold SEK 45.00",
        "today": "Today SEK 180.00",
        "week": "This week SEK 180.00",
        "in-payout": "In payout SEK 0.00",
        "paid-out": "Paid out SEK 0.00",
    }


def test_each_case_shows_its_calculation_status_and_the_customers_rating(ada_client):
    html = text(ada_client.get(EARNINGS))
    cases = re.findall(r'<li class="pay-item" data-testid="case".*?</li>', html, re.S)
    assert len(cases) == 4
    refund = next(case for case in cases if "Refund for order 1001" in case)
    assert "+SEK 45.00" in refund
    assert "Base 45.00 (default rate) = 45.00 SEK" in refund
    assert 'data-status="available"' in refund
    assert "Rated 4 of 5 by the customer" in refund
    # Unrated cases say nothing about a rating.
    assert sum("Rated" in case for case in cases) == 1


def test_a_hold_shows_its_reason_and_release_date_prominently(ada_client, ada):
    html = text(ada_client.get(EARNINGS))
    holds = inner_text(html, "holds")
    assert "On hold: SEK 45.00" in holds
    line = ada.earnings.get(ticket__subject="Password reset loop")
    release = timezone.localtime(line.available_at)
    assert f"The customer can reopen this case until {release:%Y-%m-%d %H:%M}" in html
    assert f"Yours on {release.day} {release:%b %Y, %H:%M}" in " ".join(re.sub(r"<[^>]+>", " ", html).split())
    # The hold comes before the cash-out form and the list of cases: it is not buried.
    assert html.index('data-testid="holds"') < html.index('data-testid="cashout"') < html.index('data-testid="cases"')


def test_payout_history_shows_status_fee_net_masked_method_and_why_one_failed(ada_client, ada, fee):
    first, _ = payout_request(agent_id=ada.pk, amount="100.00", currency="SEK", key="k-1")
    payout_mark_failed(payout_id=first.pk, reason="The bank returned it: the account is closed.")
    payout_request(agent_id=ada.pk, amount="120.00", currency="SEK", key="k-2")

    html = text(ada_client.get(EARNINGS))
    payouts = re.findall(r'<li class="pay-item" data-testid="payout".*?</li>', html, re.S)
    assert len(payouts) == 2
    newest, failed = payouts
    assert 'data-status="created"' in newest and "Requested" in newest
    assert "Amount SEK 120.00 − fee SEK 5.00 = you receive SEK 115.00" in newest
    assert "Bank account •••• 7466" in newest
    assert "next bank run" in newest
    assert 'data-status="failed"' in failed and "Failed" in failed
    assert "Why it failed:" in failed and "The bank returned it: the account is closed." in failed
    # The full account number never reaches the page.
    assert IBAN not in html and IBAN[-8:] not in html


def test_an_agent_without_cases_sees_the_empty_states(client, brand):
    newcomer = AgentFactory(brands=[brand], user__email="new@example.test")
    client.force_login(newcomer.user)
    html = text(client.get(EARNINGS))
    assert "No resolved cases yet — your pay shows here after your first resolved case." in html
    assert 'data-testid="payouts-empty"' in html
    assert 'data-testid="no-method"' in html
    assert inner_text(html, "figure-available") == "Available SEK 0.00"


def test_an_agent_paid_in_two_currencies_switches_between_them(client, brand, settings):
    euro = BrandFactory(slug="euroshop", currency="EUR", rate=2000)
    agent = AgentFactory(brands=[brand, euro], available=True, user__email="two@example.test")
    settings.REOPEN_WINDOW_HOURS = 0
    resolved(agent, brand, subject="Swedish case")
    resolved(agent, euro, subject="Euro case")
    client.force_login(agent.user)

    html = text(client.get(EARNINGS))
    assert 'data-testid="currency-switch"' in html
    assert inner_text(html, "figure-available") == "Available EUR 20.00"  # first in order: EUR, SEK
    assert "Euro case" in html and "Swedish case" not in html
    html = text(client.get(EARNINGS, {"currency": "SEK"}))
    assert inner_text(html, "figure-available") == "Available SEK 45.00"
    assert "Swedish case" in html and "Euro case" not in html
    assert 'name="currency" value="SEK"' in html


def test_a_long_history_shows_the_newest_cases_and_payouts_with_a_link_to_all(ada_client, monkeypatch):
    monkeypatch.setattr("payouts.views.agent.HISTORY_LIMIT", 2)
    html = text(ada_client.get(EARNINGS))
    assert html.count('data-testid="case"') == 2
    assert "Password reset loop" in html and "Refund for order 1001" not in html  # newest first
    assert "Newest 2 shown · show all 4" in inner_text(html, "cases-show-all")
    html = text(ada_client.get(EARNINGS, {"currency": "SEK", "all": "1"}))
    assert html.count('data-testid="case"') == 4
    assert 'data-testid="cases-show-all"' not in html


def test_money_is_written_in_the_agents_language(ada_client):
    html = text(ada_client.get(EARNINGS, HTTP_ACCEPT_LANGUAGE="sv"))
    assert "SEK 135,00" in inner_text(html, "figure-available")


def test_the_agent_app_links_to_the_earnings_page(ada_client):
    html = ada_client.get("/agent/").content.decode()
    assert f'href="{EARNINGS}"' in html and 'data-testid="earnings-link"' in html


# --- Cash-out ----------------------------------------------------------------------------------


def test_the_cash_out_form_is_prefilled_with_the_available_balance_and_states_the_terms(ada_client, fee):
    html = text(ada_client.get(EARNINGS))
    assert re.search(r'name="amount"[^>]*value="135.00"', html)
    assert "Fee SEK 5.00 per cash-out; the smallest cash-out is SEK 100.00." in inner_text(html, "cashout-terms")


def test_the_confirmation_shows_amount_fee_net_and_method_before_anything_is_paid(ada_client, fee):
    html = confirm_page(ada_client, "135.00")
    assert inner_text(html, "confirm-amount") == "SEK 135.00"
    assert inner_text(html, "confirm-fee") == "−SEK 5.00"
    assert inner_text(html, "confirm-net") == "SEK 130.00"
    assert inner_text(html, "confirm-method") == "Bank account •••• 7466"
    assert "next bank run" in inner_text(html, "confirm-when")
    assert not Payout.objects.exists()


def test_a_confirmation_sent_twice_with_the_same_key_pays_once(ada_client, ada, fee):
    html = confirm_page(ada_client, "135.00")
    body = {"amount": "135.00", "currency": "SEK", "key": key_of(html)}

    first = ada_client.post(CASHOUT, body)
    second = ada_client.post(CASHOUT, body)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == f"{EARNINGS}?currency=SEK"
    payout = Payout.objects.get()
    assert (payout.agent_id, payout.amount_minor, payout.fee_minor, payout.status) == (ada.pk, 13500, 500, "created")
    html = text(ada_client.get(first["Location"]))
    assert "Cash-out requested: SEK 130.00 goes to your Bank account •••• 7466 with the next bank run." in html
    assert inner_text(html, "figure-available") == "Available SEK 0.00"
    assert inner_text(html, "figure-in-payout") == "In payout SEK 130.00"
    assert 'data-testid="payout-status">Requested' in html


def test_each_confirmation_render_carries_a_fresh_key(ada_client, fee):
    assert key_of(confirm_page(ada_client, "120.00")) != key_of(confirm_page(ada_client, "120.00"))


def test_a_comma_as_decimal_separator_is_understood(ada_client, fee):
    html = confirm_page(ada_client, "120,50")
    assert inner_text(html, "confirm-amount") == "SEK 120.50"


REFUSALS = {
    "insufficient_funds": ("1000.00", "SEK", "You can cash out at most 135.00 SEK now."),
    "below_minimum": ("50.00", "SEK", "The smallest cash-out is 100.00 SEK."),
    "invalid_amount": ("lots", "SEK", "Send the amount as a decimal string"),
    "currency_mismatch": ("100.00", "EUR", "You have no earnings in EUR; you are paid in SEK."),
    "no_payout_method": ("100.00", "SEK", "Add a bank account or Stripe account before cashing out."),
    "account_suspended": ("100.00", "SEK", "Your account is suspended, so cash-outs are on hold."),
    "payout_in_flight": ("20.00", "SEK", "A payout is already on its way; wait until it is paid or failed."),
}


@pytest.mark.parametrize("code", list(REFUSALS))
@pytest.mark.parametrize("step", ["review", "confirm"])
def test_each_refusal_shows_its_message_keeps_the_amount_and_pays_nothing(ada_client, ada, fee, settings, code, step):
    amount, currency, message = REFUSALS[code]
    before = 0
    if code == "no_payout_method":
        PayoutMethod.objects.filter(agent=ada).update(removed_at=timezone.now())
    elif code == "account_suspended":
        type(ada).objects.filter(pk=ada.pk).update(suspended=True)
    elif code == "payout_in_flight":
        settings.CASHOUT_MINIMUM = Decimal("10.00")
        payout_request(agent_id=ada.pk, amount="100.00", currency="SEK", key="earlier")
        before = 1
    body = {"amount": amount, "currency": currency}
    if step == "confirm":
        body["key"] = "a-key-from-a-confirmation-page"

    response = ada_client.post(CASHOUT, body)

    assert response.status_code == 200
    html = text(response)
    error = re.search(r'data-testid="cashout-error" data-code="([a-z_]+)">(.*?)</p>', html, re.S)
    assert error, "no refusal shown"
    assert error.group(1) == code
    assert message in error.group(2)
    assert re.search(rf'name="amount"[^>]*value="{re.escape(amount)}"', html), "the amount typed was lost"
    assert Payout.objects.count() == before


def test_money_gone_between_review_and_confirm_is_refused_at_confirm(ada_client, ada, fee):
    html = confirm_page(ada_client, "135.00")
    payout_request(agent_id=ada.pk, amount="135.00", currency="SEK", key="other-device")

    response = ada_client.post(CASHOUT, {"amount": "135.00", "currency": "SEK", "key": key_of(html)})

    assert response.status_code == 200
    assert "A payout is already on its way" in inner_text(text(response), "cashout-error")
    assert Payout.objects.count() == 1


def test_a_cash_out_is_post_only(ada_client):
    assert ada_client.get(CASHOUT).status_code == 405


# --- Payout method ---------------------------------------------------------------------------


def test_the_payout_method_page_shows_the_current_method_masked(ada_client):
    html = text(ada_client.get(METHOD))
    assert inner_text(html, "current-method") == "Your money goes to Bank account •••• 7466 (Ada Lovelace)."
    assert IBAN not in html


def test_a_valid_iban_is_saved_and_replaces_the_old_method(ada_client, ada):
    response = ada_client.post(
        METHOD, {"kind": "iban", "holder_name": "Ada King", "iban": "DE89 3704 0044 0532 0130 00", "bic": ""}
    )
    assert response.status_code == 302 and response["Location"] == EARNINGS
    active = PayoutMethod.objects.get(agent=ada, removed_at__isnull=True)
    assert (active.kind, active.holder_name, active.iban) == ("iban", "Ada King", "DE89370400440532013000")
    assert PayoutMethod.objects.filter(agent=ada).count() == 2
    assert "Payout method saved: Bank account •••• 3000." in text(ada_client.get(EARNINGS))


def test_an_invalid_iban_shows_the_error_next_to_the_field_and_saves_nothing(ada_client, ada):
    response = ada_client.post(
        METHOD, {"kind": "iban", "holder_name": "Ada King", "iban": "SE45 5000 0000 0583 9825 7467"}
    )
    assert response.status_code == 200
    html = text(response)
    assert "This is not a valid IBAN" in inner_text(html, "field-iban")
    assert "This is not a valid IBAN" not in inner_text(html, "field-holder_name")
    assert 'aria-invalid="true"' in re.search(r'<input[^>]*name="iban"[^>]*>', html).group(0)
    assert "Nothing was saved" in html
    # What was typed stays in the form, and the old method stays the active one.
    assert 'value="SE45 5000 0000 0583 9825 7467"' in html
    assert PayoutMethod.objects.get(agent=ada, removed_at__isnull=True).iban == IBAN


def test_a_missing_holder_name_and_a_bad_stripe_account_are_shown_on_their_fields(ada_client, ada):
    html = text(ada_client.post(METHOD, {"kind": "stripe", "holder_name": "", "stripe_account": "acct"}))
    assert "Enter the account holder's name." in inner_text(html, "field-holder_name")
    assert "acct_1A2b3C4d5E6f7G8h" in inner_text(html, "field-stripe_account")
    assert PayoutMethod.objects.filter(agent=ada).count() == 1


def test_a_stripe_account_can_be_the_payout_method(ada_client, ada):
    response = ada_client.post(
        METHOD, {"kind": "stripe", "holder_name": "Ada", "stripe_account": "acct_1A2b3C4d5E6f7G8h"}
    )
    assert response.status_code == 302
    assert PayoutMethod.objects.get(agent=ada, removed_at__isnull=True).stripe_account == "acct_1A2b3C4d5E6f7G8h"


def test_the_payout_method_form_needs_the_csrf_token(ada, client):
    from django.test import Client

    strict = password_login(Client(enforce_csrf_checks=True), ada.user)
    response = strict.post(METHOD, {"kind": "iban", "holder_name": "Mallory", "iban": "DE89370400440532013000"})
    assert response.status_code == 403
    assert PayoutMethod.objects.get(agent=ada, removed_at__isnull=True).iban == IBAN
    assert 'name="csrfmiddlewaretoken"' in strict.get(METHOD).content.decode()


# --- Statements ----------------------------------------------------------------------------------


def this_month() -> str:
    return f"{timezone.localdate():%Y-%m}"


def test_the_csv_statement_lists_the_months_earnings_payouts_and_totals(ada_client, ada, brand, fee, settings):
    settings.REOPEN_WINDOW_HOURS = 0
    odd = resolved(ada, brand, subject='=HYPERLINK("x") Återköp × 2')
    payout_request(agent_id=ada.pk, amount="100.00", currency="SEK", key="k-1")
    month = this_month()

    response = ada_client.get(f"/agent/earnings/statement/{month}.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="earnings-{month}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Earnings statement", month]
    assert rows[1] == ["Agent", "Ada"]
    head = rows.index(["Date", "Ticket", "Subject", "Kind", "Status", "Calculation", "Amount", "Currency"])
    earnings = rows[head + 1 : rows.index([], head)]
    assert len(earnings) == 5
    by_ticket = {row[1]: row for row in earnings}
    row = by_ticket[str(odd.pk)]
    # A subject that looks like a formula stays text in a spreadsheet.
    assert row[2:] == [
        '\'=HYPERLINK("x") Återköp × 2',
        "Resolved case",
        "Available",
        "Base 45.00 (default rate) = 45.00 SEK",
        "45.00",
        "SEK",
    ]
    assert [r[4] for r in earnings].count("On hold") == 1
    head = rows.index(["Date", "Payout", "Status", "Amount", "Fee", "Net", "Currency", "Method", "Failure reason"])
    assert rows[head + 1][2:] == ["Requested", "100.00", "5.00", "95.00", "SEK", "Bank account •••• 7466", ""]
    head = rows.index(["Currency", "Cases", "Earned", "Paid out", "Fees", "Net received"])
    assert rows[head + 1] == ["SEK", "5", "225.00", "100.00", "5.00", "95.00"]


def test_last_months_statement_holds_none_of_this_months_money(ada_client):
    today = timezone.localdate()
    last = today.replace(day=1) - timedelta(days=1)
    rows = list(
        csv.reader(
            io.StringIO(ada_client.get(f"/agent/earnings/statement/{last:%Y-%m}.csv").content.decode("utf-8-sig"))
        )
    )
    head = rows.index(["Date", "Ticket", "Subject", "Kind", "Status", "Calculation", "Amount", "Currency"])
    assert rows[head + 1] == []


def pdf_text(body: bytes) -> str:
    """The page content of the PDF, its streams inflated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
    out = []
    for stream in streams:
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)


def test_the_pdf_statement_is_a_pdf_of_the_month_and_survives_any_letters(ada_client, ada, brand, settings):
    settings.REOPEN_WINDOW_HOURS = 0
    resolved(ada, brand, subject="Återbetalning ö × 東京 — ő")
    month = this_month()

    response = ada_client.get(f"/agent/earnings/statement/{month}.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="earnings-{month}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert f"Earnings statement {month}".encode() in response.content  # the document's title
    pages = pdf_text(response.content)
    assert f"Earnings statement {month}" in pages
    assert "Refund for order 1001" in pages
    # Windows-1252 letters as they are; the rest folded or replaced instead of failing.
    assert "Återbetalning ö ×".encode("cp1252").decode("latin-1") in pages
    assert "東" not in pages


def test_the_earnings_page_links_this_and_last_months_statements(ada_client):
    today = timezone.localdate()
    last = today.replace(day=1) - timedelta(days=1)
    html = ada_client.get(EARNINGS).content.decode()
    for month in (f"{today:%Y-%m}", f"{last:%Y-%m}"):
        assert f'href="/agent/earnings/statement/{month}.pdf"' in html
        assert f'href="/agent/earnings/statement/{month}.csv"' in html


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-01", "0000-01", "2026-1a", "latest"])
@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_a_month_that_does_not_exist_is_a_404(ada_client, month, extension):
    assert ada_client.get(f"/agent/earnings/statement/{month}.{extension}").status_code == 404


# --- Outsiders ----------------------------------------------------------------------------------

PAGES = [EARNINGS, METHOD, "/agent/earnings/statement/2026-01.csv", "/agent/earnings/statement/2026-01.pdf"]


@pytest.mark.parametrize("url", PAGES + [CASHOUT])
def test_an_anonymous_visitor_is_sent_to_log_in(client, url):
    response = client.post(url) if url == CASHOUT else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGES + [CASHOUT])
def test_a_user_who_is_not_an_agent_gets_the_agent_apps_403(client, url):
    user = User.objects.create_user("someone@example.test", PASSWORD)
    client.force_login(user)
    response = client.post(url, {"amount": "100.00", "currency": "SEK"}) if url == CASHOUT else client.get(url)
    assert response.status_code == 403
    assert b'data-testid="not-agent"' in response.content


def test_an_agent_never_sees_another_agents_money(ada_client, ada, settings):
    initech = BrandFactory(slug="initech", name="Initech", rate=7777)
    bo = AgentFactory(brands=[initech], available=True, display_name="Bo", user__email="bo@example.test")
    settings.REOPEN_WINDOW_HOURS = 0
    settings.CASHOUT_MINIMUM = Decimal("10.00")
    secret = resolved(bo, initech, subject="Bo's confidential case")
    payout_method_set(agent_id=bo.pk, kind="iban", holder_name="Bo", iban="DE89370400440532013000")
    payout_request(agent_id=bo.pk, amount="77.77", currency="SEK", key="bo-1")
    month = this_month()

    for url in (
        EARNINGS,
        f"{EARNINGS}?all=1",
        f"{EARNINGS}?currency=SEK",
        METHOD,
        f"/agent/earnings/statement/{month}.csv",
    ):
        body = ada_client.get(url).content.decode("utf-8-sig")
        assert "confidential" not in body, url
        assert "77.77" not in body, url
        assert "•••• 3000" not in body, url  # Bo's account
        assert f'data-ticket="{secret.pk}"' not in body, url
    assert "confidential" not in pdf_text(ada_client.get(f"/agent/earnings/statement/{month}.pdf").content)
    # Ada's cash-out moves Ada's money only.
    payout_request(agent_id=ada.pk, amount="100.00", currency="SEK", key="ada-1")
    assert Payout.objects.get(agent=bo).amount_minor == 7777


def test_the_payout_method_page_asks_for_the_password_again_when_the_login_is_not_recent(client, ada):
    client.force_login(ada.user)  # a session with no recent password entry

    for response in (client.get(METHOD), client.post(METHOD, {"kind": "iban", "holder_name": "Mallory", "iban": IBAN})):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/reauthenticate/")
    assert PayoutMethod.objects.filter(agent=ada).count() == 1
