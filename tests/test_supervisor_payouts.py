"""The supervisors' pay pages: pay cost per brand, the weekly batches to approve or reject,
bank files to export, download and confirm, failed payouts, and the accounting CSV; each
action audit-logged, and only over the supervisor's own brands' agents."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from schwifty import IBAN

from agents.models import AgentProfile
from marketplace.models import AuditEvent, User
from payouts.ledger import Purpose
from payouts.models import BankFile, Earning, Payout, PayoutBatch
from payouts.selectors import agent_balances
from payouts.services import payout_batches_propose, payout_method_set, payout_request
from payouts.views.supervisor import period_bounds
from tasks import services
from tasks.models import Offer

from .factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/supervisor/payouts/"


@pytest.fixture(autouse=True)
def _pay_at_once(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the TOTP gate has its own tests
    settings.REOPEN_WINDOW_HOURS = 0  # resolved pay is available at once
    settings.CASHOUT_MINIMUM = Decimal("10.00")
    settings.CASHOUT_FEE = Decimal("0.00")


# --- Making money through the real services ------------------------------------------------------


def earner(brand, name: str) -> AgentProfile:
    agent = AgentFactory(brands=[brand], available=True, display_name=name)
    iban = IBAN.generate("SE", bank_code="500", account_code=f"{agent.pk:016d}")
    payout_method_set(agent_id=agent.pk, kind="iban", holder_name=name, iban=str(iban))
    return agent


def earn(agent: AgentProfile, handover, cases: int = 1) -> list:
    """Resolve `cases` tickets of the agent's brand as the agent: the only one available."""
    tickets = []
    for _ in range(cases):
        AgentProfile.objects.exclude(pk=agent.pk).update(status=AgentProfile.Status.OFFLINE)
        AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AVAILABLE)
        agent.refresh_from_db()
        ticket = handover(brand=agent.brands.get())
        offer = Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)
        assert offer.agent_id == agent.pk
        services.offer_accept(agent=agent, offer_id=offer.pk)
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
        tickets.append(ticket)
    return tickets


def balances(agent: AgentProfile) -> dict[str, int]:
    return agent_balances(agent_id=agent.pk).get("SEK", {})


def weekly_batch() -> PayoutBatch:
    (batch,) = payout_batches_propose()
    return batch


def supervisor_of(brand, email: str) -> User:
    user = UserFactory(email=email, role=User.Role.SUPERVISOR)
    brand.supervisors.add(user)
    return user


def staff() -> User:
    return UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True)


def audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def ada(brand):
    return earner(brand, "Ada")


@pytest.fixture
def bo(brand):
    return earner(brand, "Bo")


@pytest.fixture
def olle(other_brand):
    return earner(other_brand, "Olle")


@pytest.fixture
def own_batch(ada, bo, handover):
    """This week's batch holding only Acme's agents: Ada 90.00 SEK, Bo 45.00 SEK."""
    earn(ada, handover, 2)
    earn(bo, handover, 1)
    return weekly_batch()


@pytest.fixture
def mixed_batch(ada, olle, handover):
    """This week's SEK batch holding Ada (Acme) and Olle (Globex)."""
    earn(ada, handover, 1)
    earn(olle, handover, 1)
    return weekly_batch()


def batch_url(batch, action: str = "") -> str:
    return f"{PAGE}batches/{batch.pk}/" + (f"{action}/" if action else "")


# --- The overview ------------------------------------------------------------------------------------


def test_the_supervisor_home_links_to_the_pay_pages(client, supervisor):
    client.force_login(supervisor)

    assert f'href="{PAGE}"' in client.get("/supervisor/").content.decode()


def test_an_empty_overview_says_what_will_appear_in_each_section(client, supervisor):
    client.force_login(supervisor)

    html = client.get(PAGE).content.decode()

    for empty in ("no-batches", "no-cashouts", "no-bank-files"):
        assert f'data-testid="{empty}"' in html
    assert 'data-testid="brand-total"' in html  # the brand is listed with zero cost


def test_the_overview_lists_the_weekly_batches_newest_first_with_their_status(client, supervisor, own_batch):
    older = PayoutBatch.objects.create(
        currency="SEK", period_start=own_batch.period_start - timedelta(days=7), status=PayoutBatch.Status.DONE
    )
    client.force_login(supervisor)

    rows = client.get(PAGE).context["batches"]

    assert [row.batch.pk for row in rows] == [own_batch.pk]  # the older one holds none of their agents
    assert (rows[0].payout_count, rows[0].total) == (2, Decimal("135.00"))
    html = client.get(PAGE).content.decode()
    assert "Waiting for approval" in html and f'href="{batch_url(own_batch)}"' in html

    client.force_login(staff())
    assert [row.batch.pk for row in client.get(PAGE).context["batches"]] == [own_batch.pk, older.pk]


def test_the_brand_totals_count_cases_reversals_and_cost_for_the_chosen_period(
    client, supervisor, brand, ada, bo, handover, settings
):
    earn(ada, handover, 2)
    (old,) = earn(bo, handover, 1)
    # Bo's case was credited two months ago: outside this week, inside a custom range.
    long_ago = timezone.now() - timedelta(days=62)
    Earning.objects.filter(ticket=old).update(created_at=long_ago)
    settings.REOPEN_WINDOW_HOURS = 72
    (reopened,) = earn(bo, handover, 1)
    services.ticket_reopen(ticket=reopened)
    client.force_login(supervisor)

    (week,) = client.get(PAGE).context["brand_totals"]
    assert (week["cases"], week["reversals"], week["total"], week["per_case"]) == (
        2,
        1,
        Decimal("90.00"),
        Decimal("45.00"),
    )

    day = timezone.localdate(long_ago)
    (custom,) = client.get(PAGE, {"period": "custom", "from": str(day), "to": str(day)}).context["brand_totals"]
    assert (custom["cases"], custom["reversals"], custom["total"]) == (1, 0, Decimal("45.00"))

    (last_week,) = client.get(PAGE, {"period": "last_week"}).context["brand_totals"]
    assert (last_week["cases"], last_week["total"], last_week["per_case"]) == (0, Decimal("0.00"), None)


@pytest.mark.parametrize(
    ("period", "today", "start", "end"),
    [
        ("this_week", date(2026, 1, 1), date(2025, 12, 29), date(2026, 1, 5)),
        ("last_week", date(2026, 1, 1), date(2025, 12, 22), date(2025, 12, 29)),
        ("this_month", date(2026, 1, 31), date(2026, 1, 1), date(2026, 2, 1)),
        ("last_month", date(2026, 1, 15), date(2025, 12, 1), date(2026, 1, 1)),
        ("last_month", date(2024, 3, 31), date(2024, 2, 1), date(2024, 3, 1)),
    ],
)
def test_the_named_periods_start_on_monday_and_on_the_first_of_the_month(period, today, start, end):
    assert period_bounds(period, today) == (start, end)


def test_a_bad_custom_period_is_explained_and_this_week_is_shown(client, supervisor):
    client.force_login(supervisor)

    page = client.get(PAGE, {"period": "custom", "from": "2026-02-30", "to": "2026-03-01"})

    assert page.status_code == 200 and page.context["period"] == "this_week"
    assert any("YYYY-MM-DD" in text for text in texts(page))


def test_waiting_cash_outs_are_listed_and_filed_into_a_bank_file_of_the_supervisors_agents_only(
    client, supervisor, ada, olle, handover
):
    earn(ada, handover, 1)
    earn(olle, handover, 1)
    mine, _ = payout_request(agent_id=ada.pk, amount="45.00", currency="SEK", key="k1")
    theirs, _ = payout_request(agent_id=olle.pk, amount="30.00", currency="SEK", key="k1")
    client.force_login(supervisor)

    page = client.get(PAGE)
    assert [p.pk for p in page.context["waiting"]] == [mine.pk]
    assert "Olle" not in page.content.decode()

    response = client.post(f"{PAGE}bank-files/", {"currency": "SEK"})

    assert response.status_code == 302
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert (mine.status, theirs.status) == ("submitted", "created")
    file = BankFile.objects.get()
    assert file.payment_count == 1
    (event,) = audits("payouts.bank_file_create")
    assert (event.actor, event.target_id, event.detail["payments"]) == (supervisor, str(file.pk), 1)


# --- One batch ---------------------------------------------------------------------------------------


def test_the_batch_page_lists_each_line_with_the_account_masked_and_the_totals(client, supervisor, own_batch, ada):
    client.force_login(supervisor)

    page = client.get(batch_url(own_batch))

    assert page.status_code == 200
    html = page.content.decode()
    lines = page.context["lines"]
    assert [(p.agent.display_name, p.amount) for p in lines] == [("Ada", Decimal("90.00")), ("Bo", Decimal("45.00"))]
    iban = ada.payout_methods.get().iban
    assert iban not in html and f"•••• {iban[-4:]}" in html
    assert (page.context["totals"]["n"], page.context["totals"]["total"]) == (2, Decimal("135.00"))
    assert 'data-testid="approve-form"' in html and 'data-testid="reject-form"' in html


def test_approving_a_batch_needs_the_confirmation_box(client, supervisor, own_batch):
    client.force_login(supervisor)

    page = client.post(batch_url(own_batch, "approve"), follow=True)

    own_batch.refresh_from_db()
    assert own_batch.status == "proposed"
    assert any("Tick the box" in text for text in texts(page))
    assert not AuditEvent.objects.exists()


def test_approving_a_batch_approves_it_and_is_audit_logged(client, supervisor, own_batch):
    client.force_login(supervisor)

    page = client.post(batch_url(own_batch, "approve"), {"confirm": "yes"}, REMOTE_ADDR="198.51.100.4", follow=True)

    own_batch.refresh_from_db()
    assert (own_batch.status, own_batch.decided_by) == ("approved", supervisor)
    assert any("approved" in text for text in texts(page))
    (event,) = audits("payouts.batch_approve")
    assert (event.actor, event.target_type, event.target_id, event.ip) == (
        supervisor,
        "payouts.payoutbatch",
        str(own_batch.pk),
        "198.51.100.4",
    )
    assert event.detail == {
        "currency": "SEK",
        "period_start": str(own_batch.period_start),
        "payouts": 2,
        "total_minor": 13500,
    }


def test_a_refused_action_is_shown_as_a_message_and_changes_nothing(client, supervisor, own_batch):
    client.force_login(supervisor)
    client.post(batch_url(own_batch, "approve"), {"confirm": "yes"})

    again = client.post(batch_url(own_batch, "reject"), {"note": "changed my mind"}, follow=True)

    own_batch.refresh_from_db()
    assert own_batch.status == "approved" and own_batch.decision_note == ""
    assert any("already approved" in text for text in texts(again))
    assert len(audits("payouts.batch_approve")) == 1 and not audits("payouts.batch_reject")
    assert not Payout.objects.filter(status="failed").exists()


def test_rejecting_needs_a_note(client, supervisor, own_batch):
    client.force_login(supervisor)

    page = client.post(batch_url(own_batch, "reject"), {"note": "  "}, follow=True)

    own_batch.refresh_from_db()
    assert own_batch.status == "proposed"
    assert any("Say why" in text for text in texts(page))
    assert not AuditEvent.objects.exists()


def test_rejecting_gives_the_money_back_with_the_note_the_agents_see(client, supervisor, own_batch, ada):
    assert balances(ada)[Purpose.AGENT_AVAILABLE] == 0 and balances(ada)[Purpose.AGENT_IN_PAYOUT] == 9000
    client.force_login(supervisor)

    client.post(batch_url(own_batch, "reject"), {"note": "Bank holiday; paid next week"})

    own_batch.refresh_from_db()
    assert (own_batch.status, own_batch.decision_note) == ("rejected", "Bank holiday; paid next week")
    assert balances(ada)[Purpose.AGENT_AVAILABLE] == 9000 and balances(ada)[Purpose.AGENT_IN_PAYOUT] == 0
    reasons = set(Payout.objects.filter(batch=own_batch).values_list("status", "failure_reason"))
    assert reasons == {("failed", "The weekly payout was not approved: Bank holiday; paid next week")}
    (event,) = audits("payouts.batch_reject")
    assert (event.actor, event.detail["note"]) == (supervisor, "Bank holiday; paid next week")
    assert 'data-testid="decision-note"' in client.get(batch_url(own_batch)).content.decode()


def test_a_bank_file_is_exported_downloaded_and_confirmed_paid_with_the_ledger_following(
    client, supervisor, own_batch, ada
):
    client.force_login(supervisor)
    client.post(batch_url(own_batch, "approve"), {"confirm": "yes"})
    assert 'data-testid="export-bank-file"' in client.get(batch_url(own_batch)).content.decode()

    client.post(batch_url(own_batch, "bank-file"))

    file = BankFile.objects.get()
    assert (file.payment_count, file.total_minor, file.created_by) == (2, 13500, supervisor)
    assert set(Payout.objects.filter(batch=own_batch).values_list("status", flat=True)) == {"submitted"}
    page = client.get(batch_url(own_batch))
    assert [row.bank_file.pk for row in page.context["bank_files"]] == [file.pk]

    download = client.get(f"{PAGE}bank-files/{file.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"].startswith("application/xml")
    assert ada.payout_methods.get().iban in download.content.decode()

    client.post(
        f"{PAGE}bank-files/{file.pk}/confirm-paid/", {"confirm": "yes", "back": "batch", "batch_id": own_batch.pk}
    )

    own_batch.refresh_from_db()
    assert own_batch.status == "done"
    assert set(Payout.objects.filter(batch=own_batch).values_list("status", flat=True)) == {"paid"}
    assert balances(ada)[Purpose.AGENT_IN_PAYOUT] == 0 and balances(ada)[Purpose.AGENT_PAID] == 9000
    assert [e.action for e in AuditEvent.objects.order_by("pk")] == [
        "payouts.batch_approve",
        "payouts.bank_file_create",
        "payouts.bank_file_download",
        "payouts.bank_file_confirm_paid",
    ]
    assert audits("payouts.bank_file_confirm_paid")[0].detail["paid"] == 2


def test_confirming_paid_needs_the_confirmation_box(client, supervisor, own_batch):
    client.force_login(supervisor)
    client.post(batch_url(own_batch, "approve"), {"confirm": "yes"})
    client.post(batch_url(own_batch, "bank-file"))
    file = BankFile.objects.get()

    client.post(f"{PAGE}bank-files/{file.pk}/confirm-paid/")

    assert set(Payout.objects.values_list("status", flat=True)) == {"submitted"}
    assert not audits("payouts.bank_file_confirm_paid")


def test_marking_a_payout_failed_gives_the_money_back_with_the_reason(client, supervisor, own_batch, ada):
    client.force_login(supervisor)
    payout = Payout.objects.get(batch=own_batch, agent=ada)

    refused = client.post(f"{PAGE}{payout.pk}/fail/", {"reason": ""}, follow=True)
    assert any("Say why" in text for text in texts(refused))
    payout.refresh_from_db()
    assert payout.status == "created"

    client.post(f"{PAGE}{payout.pk}/fail/", {"reason": "The account is closed"})

    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == ("failed", "The account is closed")
    assert balances(ada)[Purpose.AGENT_AVAILABLE] == 9000 and balances(ada)[Purpose.AGENT_IN_PAYOUT] == 0
    (event,) = audits("payouts.payout_mark_failed")
    assert (event.target_id, event.detail["reason"], event.detail["status_before"]) == (
        str(payout.pk),
        "The account is closed",
        "created",
    )


def test_actions_are_post_only(client, supervisor, own_batch):
    client.force_login(supervisor)

    assert client.get(batch_url(own_batch, "approve")).status_code == 405
    own_batch.refresh_from_db()
    assert own_batch.status == "proposed"


# --- The accounting export ------------------------------------------------------------------------------


def export(client, **params):
    return client.get(f"{PAGE}export.csv", params)


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_csv_has_one_row_per_earning_of_the_brand_with_its_status_and_the_totals(
    client, supervisor, brand, ada, bo, olle, handover, settings
):
    (first, second) = earn(ada, handover, 2)
    earn(olle, handover, 1)  # another brand's
    payout_request(agent_id=ada.pk, amount="45.00", currency="SEK", key="k1")  # pays her first case
    settings.REOPEN_WINDOW_HOURS = 72
    (reopened,) = earn(bo, handover, 1)
    services.ticket_reopen(ticket=reopened)
    AgentProfile.objects.filter(pk=ada.pk).update(display_name="=HYPERLINK(1)")
    client.force_login(supervisor)
    today = str(timezone.localdate())

    response = export(client, brand=brand.slug, **{"from": today, "to": today})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="acme-earnings-{today}-{today}.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["date", "ticket_id", "agent_id", "agent_name", "kind", "amount", "currency", "status"]
    assert rows[1:5] == [
        [today, str(first.pk), str(ada.pk), "'=HYPERLINK(1)", "case", "45.00", "SEK", "paid"],
        [today, str(second.pk), str(ada.pk), "'=HYPERLINK(1)", "case", "45.00", "SEK", "available"],
        [today, str(reopened.pk), str(bo.pk), "Bo", "case", "45.00", "SEK", "reversed"],
        [today, str(reopened.pk), str(bo.pk), "Bo", "reversal", "-45.00", "SEK", "reversed"],
    ]
    assert rows[5] == []
    assert rows[6][0] == "total" and rows[6][5:7] == ["90.00", "SEK"]
    assert rows[7][:2] == ["resolved_cases", "2"] and rows[8][:2] == ["reversals", "1"]
    assert rows[9][0] == "cost_per_resolved_case" and rows[9][5] == "45.00"
    assert "Olle" not in response.content.decode()


def test_the_csv_export_is_audit_logged_with_its_filter(client, supervisor, brand):
    client.force_login(supervisor)

    export(client, brand=brand.slug, **{"from": "2026-03-01", "to": "2026-03-31"})

    (event,) = audits("payouts.earnings_export")
    assert (event.actor, event.brand) == (supervisor, brand)
    assert event.detail == {"brand": "acme", "from": "2026-03-01", "to": "2026-03-31", "rows": 0}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-03-01"}, "YYYY-MM-DD"),
        ({"from": "01/03/2026", "to": "2026-03-31"}, "YYYY-MM-DD"),
        ({"from": "2026-02-30", "to": "2026-03-31"}, "YYYY-MM-DD"),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "before the start date"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "at most a year"),
    ],
)
def test_bad_dates_are_a_400_with_a_clear_message_and_nothing_is_logged(client, supervisor, brand, params, message):
    client.force_login(supervisor)

    response = export(client, brand=brand.slug, **params)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_an_export_without_a_brand_is_a_400(client, supervisor):
    client.force_login(supervisor)

    response = export(client, **{"from": "2026-03-01", "to": "2026-03-31"})

    assert response.status_code == 400 and "Choose a brand" in response.content.decode()


def test_another_brands_csv_is_refused(client, supervisor, other_brand):
    client.force_login(supervisor)

    response = export(client, brand=other_brand.slug, **{"from": "2026-03-01", "to": "2026-03-31"})

    assert response.status_code == 403
    assert not AuditEvent.objects.exists()


# --- Outsiders ---------------------------------------------------------------------------------------------


def every_url(batch, file_id: int = 0, payout_id: int = 0) -> list[tuple[str, str]]:
    return [
        ("get", PAGE),
        ("get", batch_url(batch)),
        ("get", f"{PAGE}export.csv?brand=acme&from=2026-03-01&to=2026-03-02"),
        ("get", f"{PAGE}bank-files/{file_id}/download/"),
        ("post", batch_url(batch, "approve")),
        ("post", batch_url(batch, "reject")),
        ("post", batch_url(batch, "bank-file")),
        ("post", f"{PAGE}bank-files/"),
        ("post", f"{PAGE}bank-files/{file_id}/confirm-paid/"),
        ("post", f"{PAGE}{payout_id}/fail/"),
    ]


def test_anonymous_visitors_are_sent_to_the_login(client, own_batch):
    for method, url in every_url(own_batch, payout_id=Payout.objects.first().pk):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_an_agent_is_refused_every_page_and_action(client, own_batch, ada):
    client.force_login(ada.user)
    payout = Payout.objects.get(agent=ada)

    for method, url in every_url(own_batch, payout_id=payout.pk):
        response = getattr(client, method)(url, {"confirm": "yes", "note": "x", "reason": "x", "currency": "SEK"})
        assert response.status_code == 403, url
        assert "Supervisors only" in response.content.decode(), url
    own_batch.refresh_from_db()
    assert own_batch.status == "proposed" and not AuditEvent.objects.exists()


def test_a_supervisor_of_another_brand_cannot_see_or_act_on_the_batch(client, other_brand, own_batch, ada):
    outsider = supervisor_of(other_brand, "globex-sup@example.test")
    client.force_login(outsider)
    payout = Payout.objects.get(agent=ada)

    assert client.get(PAGE).context["batches"] == []
    assert "Ada" not in client.get(PAGE).content.decode()
    assert client.get(batch_url(own_batch)).status_code == 404
    assert client.post(batch_url(own_batch, "approve"), {"confirm": "yes"}).status_code == 404
    assert client.post(batch_url(own_batch, "reject"), {"note": "no"}).status_code == 404
    assert client.post(f"{PAGE}{payout.pk}/fail/", {"reason": "no"}).status_code == 404
    own_batch.refresh_from_db()
    payout.refresh_from_db()
    assert (own_batch.status, payout.status) == ("proposed", "created")
    assert not AuditEvent.objects.exists()


def test_a_supervisor_of_another_brand_cannot_download_or_confirm_the_bank_file(
    client, supervisor, other_brand, own_batch
):
    client.force_login(supervisor)
    client.post(batch_url(own_batch, "approve"), {"confirm": "yes"})
    client.post(batch_url(own_batch, "bank-file"))
    file = BankFile.objects.get()
    client.force_login(supervisor_of(other_brand, "globex-sup@example.test"))

    assert client.get(PAGE).context["bank_files"] == []
    assert client.get(f"{PAGE}bank-files/{file.pk}/download/").status_code == 404
    assert client.post(f"{PAGE}bank-files/{file.pk}/confirm-paid/", {"confirm": "yes"}).status_code == 404
    assert set(Payout.objects.values_list("status", flat=True)) == {"submitted"}


def test_in_a_mixed_batch_a_supervisor_sees_only_their_agents_and_cannot_act(client, supervisor, mixed_batch):
    client.force_login(supervisor)

    (row,) = client.get(PAGE).context["batches"]
    assert not row.actionable and row.total is None

    page = client.get(batch_url(mixed_batch))
    html = page.content.decode()
    assert page.status_code == 200
    assert "This batch includes agents of brands you do not supervise; platform staff approve it." in html
    assert [p.agent.display_name for p in page.context["lines"]] == ["Ada"]
    assert "Olle" not in html and "45.00" in html
    assert "totals" not in page.context
    assert 'data-testid="approve-form"' not in html and 'data-testid="mark-failed"' not in html

    olles = Payout.objects.get(agent__display_name="Olle")
    adas = Payout.objects.get(agent__display_name="Ada")
    for url, data in [
        (batch_url(mixed_batch, "approve"), {"confirm": "yes"}),
        (batch_url(mixed_batch, "reject"), {"note": "no"}),
        (batch_url(mixed_batch, "bank-file"), {}),
        (f"{PAGE}{adas.pk}/fail/", {"reason": "no"}),
    ]:
        refused = client.post(url, data)
        assert refused.status_code == 403, url
        assert "platform staff approve it" in refused.content.decode()
    assert client.post(f"{PAGE}{olles.pk}/fail/", {"reason": "no"}).status_code == 404
    mixed_batch.refresh_from_db()
    assert mixed_batch.status == "proposed"
    assert set(Payout.objects.values_list("status", flat=True)) == {"created"}
    assert not AuditEvent.objects.exists()


def test_staff_see_and_approve_a_mixed_batch_and_handle_its_bank_file(client, supervisor, mixed_batch):
    ops = staff()
    client.force_login(ops)

    page = client.get(batch_url(mixed_batch))
    assert [p.agent.display_name for p in page.context["lines"]] == ["Ada", "Olle"]
    client.post(batch_url(mixed_batch, "approve"), {"confirm": "yes"})
    client.post(batch_url(mixed_batch, "bank-file"))

    mixed_batch.refresh_from_db()
    assert (mixed_batch.status, mixed_batch.decided_by) == ("approved", ops)
    file = BankFile.objects.get()
    assert file.payment_count == 2
    assert [e.actor for e in AuditEvent.objects.all()] == [ops, ops]

    # The supervisor of one of its brands may not download a file listing others' accounts.
    client.force_login(supervisor)
    (row,) = client.get(PAGE).context["bank_files"]
    assert not row.actionable
    assert client.get(f"{PAGE}bank-files/{file.pk}/download/").status_code == 403
    assert client.post(f"{PAGE}bank-files/{file.pk}/confirm-paid/", {"confirm": "yes"}).status_code == 403


def test_staff_status_alone_does_not_make_a_supervisor_platform_staff(client, supervisor, mixed_batch):
    """The fixture's supervisor has staff status ticked, as in the admin tests."""
    assert supervisor.is_staff
    client.force_login(supervisor)

    assert client.post(batch_url(mixed_batch, "approve"), {"confirm": "yes"}).status_code == 403


def test_only_bank_payouts_offer_mark_failed_and_a_paid_one_offers_returned_by_the_bank(brand):
    from payouts.models import Payout

    assert Payout(provider="bank_file", status="submitted").can_fail_by_hand
    assert not Payout(provider="stripe", status="created").can_fail_by_hand
    assert Payout(provider="bank_file", status="paid").can_be_returned
    assert not Payout(provider="stripe", status="paid").can_be_returned
    assert not Payout(provider="bank_file", status="failed").can_be_returned
