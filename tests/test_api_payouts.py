"""The agent's money over REST: `GET /api/v1/me/earnings/`, `POST` and `GET
/api/v1/me/payouts/`, `GET`/`PUT /api/v1/me/payout-method/`. Every refusal is a clear error
and posts nothing; nobody sees or moves another agent's money."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from marketplace.services import api_token_create
from payouts.ledger import Owner, Purpose, account_for
from payouts.models import LedgerTransaction, Payout, PayoutMethod
from payouts.selectors import balance
from payouts.services import payout_method_set
from tasks import services
from tasks.models import Offer

from .factories import PASSWORD, AgentFactory, BrandFactory, UserFactory

pytestmark = pytest.mark.django_db

IBAN = "SE4550000000058398257466"
URL_EARNINGS = "/api/v1/me/earnings/"
URL_PAYOUTS = "/api/v1/me/payouts/"
URL_METHOD = "/api/v1/me/payout-method/"


@pytest.fixture(autouse=True)
def _pay_at_once(settings):
    settings.REOPEN_WINDOW_HOURS = 0
    settings.CASHOUT_FEE = Decimal("5.00")
    settings.CASHOUT_MINIMUM = Decimal("20.00")


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[0]}")
    return client


def earn(brand, handover, agent, cases: int = 1) -> None:
    for n in range(cases):
        ticket = handover(brand=brand, customer={"external_id": f"c-{agent.pk}-{n}", "name": "Maja"})
        services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, state=Offer.State.PENDING).pk)
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)


@pytest.fixture
def earner(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, capacity=5)
    earn(brand, handover, agent, cases=3)  # 3 x 45.00 available
    payout_method_set(agent_id=agent.pk, kind="iban", holder_name="Alex Agent", iban=IBAN)
    return agent


def cash_out(client, amount, key="k-1", **extra):
    return client.post(URL_PAYOUTS, {"amount": amount, **extra}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def available(agent) -> int:
    return balance(
        account_for(owner_kind=Owner.AGENT, owner_id=agent.pk, purpose=Purpose.AGENT_AVAILABLE, currency="SEK")
    )


# --- Earnings ------------------------------------------------------------------------------------


def test_earnings_show_balances_and_every_case_with_its_calculation(earner):
    body = client_for(earner.user).get(URL_EARNINGS).json()

    assert body["available"] == {"amount": "135.00", "currency": "SEK"}
    assert body["pending"] == {"amount": "0.00", "currency": "SEK"}
    assert body["paid_out"] == {"amount": "0.00", "currency": "SEK"}
    assert len(body["entries"]) == 3 and body["next"] is None
    entry = body["entries"][0]
    assert entry["status"] == "available"
    assert entry["kind"] == "case"
    assert entry["amount"] == {"amount": "45.00", "currency": "SEK"}
    assert entry["explanation"] == "Base 45.00 (default rate) = 45.00 SEK"
    assert entry["calculation"]["base_minor"] == 4500
    assert {"id", "ticket_id", "available_at"} <= set(entry)


def test_earnings_page_with_a_cursor(brand, handover, earner):
    from payouts import api

    api.PAGE_SIZE, old = 2, api.PAGE_SIZE
    try:
        client = client_for(earner.user)
        first = client.get(URL_EARNINGS).json()
        second = client.get(first["next"]).json()
    finally:
        api.PAGE_SIZE = old
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert len(ids) == 3 == len(set(ids))
    assert second["next"] is None


def test_a_forged_cursor_is_a_clear_400(earner):
    response = client_for(earner.user).get(URL_EARNINGS, {"cursor": "not-ours"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


# --- Cash-out --------------------------------------------------------------------------------------


def test_a_cash_out_holds_the_money_and_shows_the_fee(earner):
    response = cash_out(client_for(earner.user), "100.00")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "created"
    assert body["amount"] == {"amount": "100.00", "currency": "SEK"}
    assert body["fee"] == {"amount": "5.00", "currency": "SEK"}
    assert body["net"] == {"amount": "95.00", "currency": "SEK"}
    assert available(earner) == 3500
    earnings = client_for(earner.user).get(URL_EARNINGS).json()
    assert earnings["available"]["amount"] == "35.00"
    assert [e["status"] for e in reversed(earnings["entries"])] == ["paid", "paid", "available"]


def test_a_retried_cash_out_with_the_same_key_returns_the_first_and_pays_once(earner):
    client = client_for(earner.user)
    first = cash_out(client, "100.00")
    again = cash_out(client, "100.00")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Payout.objects.count() == 1
    assert available(earner) == 3500


def test_the_same_key_with_another_amount_is_refused(earner):
    client = client_for(earner.user)
    cash_out(client, "100.00")
    response = cash_out(client, "30.00")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


REFUSALS = [
    ("200.00", {}, 409, "insufficient_funds"),
    ("10.00", {}, 422, "below_minimum"),
    ("-5.00", {}, 422, "invalid_amount"),
    ("0", {}, 422, "invalid_amount"),
    ("25.001", {}, 422, "invalid_amount"),
    ("abc", {}, 422, "invalid_amount"),
    ("NaN", {}, 422, "invalid_amount"),
    ("1e400", {}, 422, "invalid_amount"),
    ("50.00", {"currency": "EUR"}, 422, "currency_mismatch"),
]


@pytest.mark.parametrize(("amount", "extra", "status", "code"), REFUSALS)
def test_a_bad_cash_out_is_refused_clearly_and_posts_nothing(earner, amount, extra, status, code):
    before = LedgerTransaction.objects.count()

    response = cash_out(client_for(earner.user), amount, **extra)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert LedgerTransaction.objects.count() == before
    assert not Payout.objects.exists()
    assert available(earner) == 13500


def test_a_cash_out_without_an_idempotency_key_is_refused(earner):
    response = client_for(earner.user).post(URL_PAYOUTS, {"amount": "50.00"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert not Payout.objects.exists()


def test_a_second_cash_out_while_one_is_in_flight_is_refused(earner):
    client = client_for(earner.user)
    assert cash_out(client, "50.00", key="a").status_code == 201
    before = LedgerTransaction.objects.count()

    response = cash_out(client, "50.00", key="b")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payout_in_flight"
    assert LedgerTransaction.objects.count() == before


def test_a_suspended_agent_cannot_cash_out(earner):
    type(earner).objects.filter(pk=earner.pk).update(suspended=True)
    response = cash_out(client_for(earner.user), "50.00")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"
    assert not Payout.objects.exists()


def test_without_a_payout_method_the_agent_is_told_to_add_one(earner):
    PayoutMethod.objects.filter(agent=earner).delete()
    response = cash_out(client_for(earner.user), "50.00")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_payout_method"


def test_an_agent_paid_in_two_currencies_must_say_which(earner, handover):
    euro = BrandFactory(slug="euro", currency="EUR")
    earner.brands.add(euro)
    earn(euro, handover, earner, cases=1)

    client = client_for(earner.user)
    assert cash_out(client, "50.00").json()["error"]["code"] == "currency_required"
    assert cash_out(client, "50.00", key="k-2", currency="SEK").status_code == 201
    euros = client.get(URL_EARNINGS, {"currency": "EUR"}).json()
    assert euros["available"] == {"amount": "45.00", "currency": "EUR"}


def test_payout_history_lists_only_the_agents_own_payouts(earner, brand, handover):
    other = AgentFactory(brands=[brand], available=True)
    earn(brand, handover, other, cases=1)
    payout_method_set(agent_id=other.pk, kind="iban", holder_name="Bea", iban=IBAN)
    cash_out(client_for(other.user), "45.00", key="other")
    cash_out(client_for(earner.user), "100.00")

    body = client_for(earner.user).get(URL_PAYOUTS).json()

    assert [p["amount"]["amount"] for p in body["results"]] == ["100.00"]
    assert body["next"] is None
    assert body["results"][0]["method"] == {"kind": "iban", "masked": "•••• 7466"}


# --- Payout method ------------------------------------------------------------------------------------


def test_an_invalid_iban_is_refused_with_the_field_and_nothing_is_saved(earner):
    response = client_for(earner.user).put(
        URL_METHOD,
        {"kind": "iban", "holder_name": "Alex", "iban": "SE4550000000058398257467", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_iban"
    assert "iban" in error["fields"]
    assert PayoutMethod.objects.get(agent=earner, removed_at__isnull=True).iban == IBAN


def test_a_new_method_replaces_the_old_and_is_shown_masked(earner):
    client = client_for(earner.user)
    response = client.put(
        URL_METHOD,
        {"kind": "stripe", "holder_name": "Alex", "stripe_account": "acct_1A2b3C4d5E6f", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert client.get(URL_METHOD).json()["masked"] == "•••• 5E6f"
    assert PayoutMethod.objects.filter(agent=earner).count() == 2


# --- Outsiders ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [URL_EARNINGS, URL_PAYOUTS, URL_METHOD])
def test_anonymous_callers_are_refused(url):
    assert APIClient().get(url).status_code == 401


@pytest.mark.parametrize("url", [URL_EARNINGS, URL_PAYOUTS, URL_METHOD])
def test_a_user_who_is_not_an_agent_is_refused(url, supervisor):
    response = _as(supervisor).get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_an_agent"


def _as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_applicant_cannot_cash_out():
    response = cash_out(_as(UserFactory()), "50.00")
    assert response.status_code == 403
    assert not Payout.objects.exists()


def test_another_agents_money_is_neither_shown_nor_moved(earner, brand):
    stranger = AgentFactory(brands=[brand])
    client = client_for(stranger.user)

    earnings = client.get(URL_EARNINGS).json()
    assert earnings["entries"] == []
    assert earnings["available"]["amount"] == "0.00"
    assert cash_out(client, "50.00").status_code == 409  # their own (empty) balance
    assert available(earner) == 13500


def test_a_holder_name_without_letters_a_bank_can_carry_is_refused(earner):
    response = client_for(earner.user).put(
        URL_METHOD, {"kind": "iban", "holder_name": "🙂🙂", "iban": IBAN, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 422
    assert "holder_name" in response.json()["error"]["fields"]


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_changing_the_payout_method_needs_the_current_password(earner, password):
    body = {"kind": "stripe", "holder_name": "Mallory", "stripe_account": "acct_1A2b3C4d5E6f"}
    if password:
        body["password"] = password
    response = client_for(earner.user).put(URL_METHOD, body, format="json")
    assert response.status_code in (400, 403)
    assert response.json()["error"]["code"] == ("reauthentication_required" if password else "invalid")
    assert PayoutMethod.objects.get(agent=earner, removed_at__isnull=True).iban == IBAN
