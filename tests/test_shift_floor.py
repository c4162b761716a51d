"""The money side of shifts: once a shift has ended, each checked-in agent is paid the hourly
floor for the time they were available, less what their cases during the shift paid; the
sweep pays each booking once however often it runs; a supervisor who cancels a booked shift
at short notice pays the brand's compensation. Both show on the earnings screen and in REST
with how they were reached, and the ledger stays balanced."""

from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from django.utils.formats import date_format
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from agents.models import AgentProfile, AgentStatusChange
from payouts.ledger import Owner, Purpose
from payouts.models import Earning, LedgerPosting, LedgerTransaction
from payouts.selectors import earnings_summary
from payouts.services import earning_credit, earning_floor_topup, earning_reverse
from tasks import services
from tasks.models import Shift, ShiftBooking, Ticket
from tasks.services.shift_pay import available_seconds

from .factories import AgentFactory, BrandFactory, TicketFactory
from .payouts_helpers import assert_ledger_sound, balances

pytestmark = pytest.mark.django_db

SEK_400_AN_HOUR = 40000
AVAILABLE, AWAY, OFFLINE = AgentProfile.Status.AVAILABLE, AgentProfile.Status.AWAY, AgentProfile.Status.OFFLINE


def whole_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def past_shift(brand, *, start: datetime, hours: int = 4, floor: int | None = SEK_400_AN_HOUR, **extra) -> Shift:
    """A shift as publishing makes it, put where the test needs it (publishing and booking
    refuse a shift that has started)."""
    return Shift.objects.create(
        brand=brand,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        languages=["en"],
        slots=3,
        hourly_floor_minor=floor,
        **extra,
    )


def book(shift: Shift, agent: AgentProfile, *, checked_in: bool = True, status: str = "booked") -> ShiftBooking:
    booking = ShiftBooking.objects.create(
        shift=shift,
        agent=agent,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        status=status,
        checked_in_at=shift.starts_at - timedelta(minutes=2) if checked_in else None,
    )
    Shift.objects.filter(pk=shift.pk).update(booked=shift.bookings.filter(status="booked").count())
    return booking


def log_status(agent: AgentProfile, *changes: tuple[datetime, str]) -> None:
    AgentStatusChange.objects.bulk_create([AgentStatusChange(agent=agent, status=s, at=at) for at, s in changes])


def case_paid(agent: AgentProfile, brand, amount_minor: int) -> Earning:
    """One resolved case credited through the earnings service now (pending in its window)."""
    ticket = TicketFactory(brand=brand, status=Ticket.Status.RESOLVED, resolved_at=timezone.now(), resolution_count=1)
    with transaction.atomic():
        return earning_credit(ticket=ticket, agent=agent, amount_minor=amount_minor)


def as_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def running(brand):
    """A 4 h shift at SEK 400/h that started 3 h ago, so cases credited now fall inside it."""
    return past_shift(brand, start=whole_minute(timezone.now()) - timedelta(hours=3))


def after(shift: Shift) -> datetime:
    return shift.ends_at + timedelta(minutes=1)


# --- The floor ----------------------------------------------------------------------------------------------


def test_the_worked_example_tops_up_three_and_a_half_hours_at_sek_400_less_two_cases(brand, running):
    agent = AgentFactory(brands=[brand])
    booking = book(running, agent)
    start = running.starts_at
    log_status(
        agent,
        (start - timedelta(minutes=2), AVAILABLE),
        (start + timedelta(hours=1), AWAY),
        (start + timedelta(hours=1, minutes=30), AVAILABLE),
        (running.ends_at + timedelta(minutes=5), OFFLINE),
    )
    case_paid(agent, brand, 6000)
    case_paid(agent, brand, 6000)

    assert services.shifts_settle_due(now=after(running)) == 1

    topup = Earning.objects.get(kind="floor_topup")
    assert (topup.agent_id, topup.brand_id, topup.ticket_id) == (agent.pk, brand.pk, None)
    assert (topup.shift_id, topup.booking_id, topup.amount_minor, topup.currency) == (
        running.pk,
        booking.pk,
        128000,
        "SEK",
    )
    assert topup.calculation == {
        "shift_id": running.pk,
        "booking_id": booking.pk,
        "shift_starts_at": running.starts_at.isoformat(),
        "shift_ends_at": running.ends_at.isoformat(),
        "available_seconds": 3 * 3600 + 30 * 60,
        "hourly_floor_minor": 40000,
        "floor_minor": 140000,
        "cases": 2,
        "cases_paid_minor": 12000,
        "topup_minor": 128000,
    }
    line = next(line for line in earnings_summary(agent_id=agent.pk, currency="SEK").lines if line.earning == topup)
    assert line.explanation == (
        "3 h 30 min available × SEK 400.00/h = SEK 1,400.00; cases paid SEK 120.00; top-up SEK 1,280.00"
    )
    assert line.status == "available" and line.rating is None
    assert line.subject.startswith("Shift ") and f"{timezone.localtime(running.ends_at):%H:%M}" in line.subject

    # Brand payable -> agent pending, then pending -> available at once, both under the earning's keys.
    posted = {
        t.kind: sorted((p.account.owner_kind, p.account.purpose, p.amount_minor) for p in t.postings.all())
        for t in LedgerTransaction.objects.filter(earning_id=topup.pk).prefetch_related("postings__account")
    }
    assert posted == {
        "floor_topup": [("agent", "agent_pending", 128000), ("brand", "brand_payable", -128000)],
        "release": [("agent", "agent_available", 128000), ("agent", "agent_pending", -128000)],
    }
    assert set(LedgerTransaction.objects.filter(earning_id=topup.pk).values_list("key", flat=True)) == {
        f"earning:{topup.pk}",
        f"release:{topup.pk}",
    }
    assert balances(agent) == {"available": 128000, "in_payout": 0, "paid_out": 0, "pending": 12000}
    running.refresh_from_db()
    assert running.settled_at == after(running)
    assert_ledger_sound()


def test_an_agent_whose_cases_beat_the_floor_gets_no_top_up(brand, running):
    agent = AgentFactory(brands=[brand])
    book(running, agent)
    log_status(agent, (running.starts_at, AVAILABLE), (running.starts_at + timedelta(minutes=30), OFFLINE))
    case_paid(agent, brand, 15000)  # half an hour's floor is SEK 200.00; the case paid 150.00 ...
    case_paid(agent, brand, 6000)  # ... and this one takes it past

    assert services.shifts_settle_due(now=after(running)) == 1

    assert not Earning.objects.filter(kind="floor_topup").exists()
    running.refresh_from_db()
    assert running.settled_at is not None


def test_a_no_show_an_unchecked_and_a_cancelled_booking_get_nothing(brand, running):
    agents = [AgentFactory(brands=[brand]) for _ in range(3)]
    book(running, agents[0], checked_in=False, status="no_show")
    book(running, agents[1], checked_in=False)
    book(running, agents[2], checked_in=False, status="cancelled")
    for agent in agents:
        log_status(agent, (running.starts_at - timedelta(hours=1), AVAILABLE))  # available all along

    assert services.shifts_settle_due(now=after(running)) == 1

    assert not Earning.objects.exists()
    assert not LedgerTransaction.objects.exists()


def test_availability_that_began_before_the_shift_counts_from_its_start(brand, running):
    agent = AgentFactory(brands=[brand])
    book(running, agent)
    log_status(agent, (running.starts_at - timedelta(hours=2), AVAILABLE), (running.ends_at + timedelta(hours=1), AWAY))

    services.shifts_settle_due(now=after(running))

    topup = Earning.objects.get(kind="floor_topup")
    assert topup.calculation["available_seconds"] == 4 * 3600
    assert topup.amount_minor == 4 * SEK_400_AN_HOUR


def test_only_the_brands_cases_not_reversed_count_against_the_floor(brand, other_brand, running):
    agent = AgentFactory(brands=[brand, other_brand])
    book(running, agent)
    log_status(agent, (running.starts_at, AVAILABLE), (running.starts_at + timedelta(hours=1), OFFLINE))
    case_paid(agent, brand, 5000)
    reopened = case_paid(agent, brand, 7000)
    with transaction.atomic():
        earning_reverse(ticket=reopened.ticket)
    case_paid(agent, other_brand, 9000)

    services.shifts_settle_due(now=after(running))

    topup = Earning.objects.get(kind="floor_topup")
    assert (topup.calculation["cases"], topup.calculation["cases_paid_minor"]) == (1, 5000)
    assert topup.amount_minor == SEK_400_AN_HOUR - 5000
    assert_ledger_sound()


def test_the_floor_rounds_half_up_to_a_whole_minor_unit(brand):
    shift = past_shift(brand, start=whole_minute(timezone.now()) - timedelta(hours=5), floor=1)  # 0.01 SEK an hour
    agent = AgentFactory(brands=[brand])
    book(shift, agent)
    log_status(agent, (shift.starts_at, AVAILABLE), (shift.starts_at + timedelta(minutes=30), OFFLINE))

    services.shifts_settle_due(now=after(shift))

    assert Earning.objects.get(kind="floor_topup").amount_minor == 1  # 0.5 öre rounds up


def test_a_shift_not_yet_ended_is_not_settled_and_one_without_a_floor_pays_nothing(brand, running):
    agent = AgentFactory(brands=[brand])
    book(running, agent)
    log_status(agent, (running.starts_at, AVAILABLE))
    no_floor = past_shift(brand, start=running.starts_at - timedelta(hours=6), floor=None)
    book(no_floor, agent)

    assert services.shifts_settle_due(now=running.ends_at - timedelta(seconds=1)) == 1  # the one without a floor

    running.refresh_from_db()
    no_floor.refresh_from_db()
    assert running.settled_at is None and no_floor.settled_at is not None
    assert not Earning.objects.exists()


def test_a_rerun_of_the_sweep_pays_nothing_twice(brand, running):
    agent = AgentFactory(brands=[brand])
    booking = book(running, agent)
    log_status(agent, (running.starts_at, AVAILABLE))
    assert services.shifts_settle_due(now=after(running)) == 1
    postings = LedgerPosting.objects.count()

    assert services.shifts_settle_due(now=after(running)) == 0
    # Even a settlement forced to run again (as if `settled_at` had been lost) pays once.
    Shift.objects.filter(pk=running.pk).update(settled_at=None)
    assert services.shifts_settle_due(now=after(running)) == 1
    again = earning_floor_topup(
        agent_id=agent.pk,
        brand_id=brand.pk,
        booking_id=booking.pk,
        shift_id=running.pk,
        amount_minor=1,
        currency="SEK",
        calculation={},
    )

    assert Earning.objects.filter(kind="floor_topup").count() == 1
    assert again.amount_minor == 4 * SEK_400_AN_HOUR
    assert LedgerPosting.objects.count() == postings
    assert balances(agent)["available"] == 4 * SEK_400_AN_HOUR
    assert_ledger_sound()


def test_beat_and_the_embedded_sweeper_both_settle_ended_shifts(brand, settings):
    from marketplace.celery import app as celery_app
    from tasks.sweeper import Sweeper

    assert django_settings.CELERY_BEAT_SCHEDULE["settle-ended-shifts"] == {
        "task": "tasks.jobs.shifts_settle_due",
        "schedule": 60.0,
    }
    first = past_shift(brand, start=whole_minute(timezone.now()) - timedelta(hours=6))
    second = past_shift(brand, start=whole_minute(timezone.now()) - timedelta(hours=12))
    agent = AgentFactory(brands=[brand])
    book(first, agent)
    log_status(agent, (first.starts_at, AVAILABLE), (first.starts_at + timedelta(hours=1), OFFLINE))

    assert celery_app.tasks["tasks.jobs.shifts_settle_due"].apply().get() == 2
    Shift.objects.filter(pk=second.pk).update(settled_at=None)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert Sweeper().sweep_once()["shifts_settled"] == 1

    assert Earning.objects.get(kind="floor_topup").amount_minor == SEK_400_AN_HOUR


# --- Availability, as a property --------------------------------------------------------------------------


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.sampled_from([None, AVAILABLE, AWAY, OFFLINE]),
    changes=st.lists(st.tuples(st.integers(-30, 150), st.sampled_from([AVAILABLE, AWAY, OFFLINE])), max_size=8),
)
def test_available_time_is_the_minutes_spent_available_inside_the_shift(agent, first, changes):
    """Against a minute-by-minute count: for any log, the status at each minute of the shift
    is that of the last change at or before it."""
    AgentStatusChange.objects.filter(agent=agent).delete()
    start = datetime(2026, 12, 8, 8, 0, tzinfo=timezone.get_current_timezone())
    end = start + timedelta(minutes=120)
    log = ([(-60, first)] if first else []) + sorted(changes, key=lambda c: c[0])
    log_status(agent, *[(start + timedelta(minutes=m), s) for m, s in log])

    def status_at(minute: int) -> str | None:
        current = None
        for m, s in log:
            if m <= minute:
                current = s
        return current

    expected = sum(60 for minute in range(120) if status_at(minute) == AVAILABLE)
    assert available_seconds(agent_id=agent.pk, start=start, end=end) == expected


# --- Compensation -------------------------------------------------------------------------------------------


@pytest.fixture
def compensating(brand):
    brand.shift_cancel_compensation_minor = 15000
    brand.save(update_fields=["shift_cancel_compensation_minor"])
    return brand


def bookable(brand, supervisor, start: datetime) -> Shift:
    terms = services.ShiftTerms(
        starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], skills=[], slots=3
    )
    return services.shift_publish(user=supervisor, brand=brand, terms=terms)[0]


def test_a_shift_cancelled_inside_the_cutoff_compensates_each_booked_agent_at_once(compensating, supervisor):
    shift = bookable(compensating, supervisor, timezone.now() + timedelta(hours=5))
    agents = [AgentFactory(brands=[compensating]) for _ in range(2)]
    bookings = [services.shift_book(agent=a, shift_id=shift.pk) for a in agents]
    left = AgentFactory(brands=[compensating])
    services.booking_cancel(agent=left, booking_id=services.shift_book(agent=left, shift_id=shift.pk).pk)

    services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Volume forecast dropped")

    paid = list(Earning.objects.filter(kind="compensation").order_by("agent_id"))
    assert [(e.agent_id, e.booking_id, e.shift_id, e.amount_minor, e.ticket_id) for e in paid] == [
        (a.pk, b.pk, shift.pk, 15000, None) for a, b in zip(agents, bookings, strict=True)
    ]
    assert balances(agents[0]) == {"available": 15000, "in_payout": 0, "paid_out": 0, "pending": 0}
    assert balances(left)["available"] == 0
    line = earnings_summary(agent_id=agents[0].pk, currency="SEK").lines[0]
    assert line.status == "available"
    assert line.explanation.startswith("The shift was cancelled 4 h 59 min before its start, inside the 12 h notice")
    assert "compensation SEK 150.00." in line.explanation
    assert line.explanation.endswith("Reason: Volume forecast dropped")
    # Cancelling again (a double tap) pays nothing more.
    services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Volume forecast dropped")
    assert Earning.objects.filter(kind="compensation").count() == 2
    assert_ledger_sound()


def test_a_shift_cancelled_before_the_cutoff_or_by_a_brand_without_compensation_pays_nothing(
    brand, compensating, supervisor
):
    early = bookable(compensating, supervisor, timezone.now() + timedelta(days=2))
    services.shift_book(agent=AgentFactory(brands=[compensating]), shift_id=early.pk)
    services.shift_cancel(user=supervisor, shift_id=early.pk, reason="Not needed")
    assert not Earning.objects.exists()

    compensating.shift_cancel_compensation_minor = None
    compensating.save(update_fields=["shift_cancel_compensation_minor"])
    late = bookable(compensating, supervisor, timezone.now() + timedelta(hours=2))
    services.shift_book(agent=AgentFactory(brands=[compensating]), shift_id=late.pk)
    services.shift_cancel(user=supervisor, shift_id=late.pk, reason="Not needed")
    assert not Earning.objects.exists()
    assert not LedgerTransaction.objects.exists()


# --- What the agent sees ----------------------------------------------------------------------------------


@pytest.fixture
def topped_up(brand, running):
    agent = AgentFactory(brands=[brand], display_name="Ada")
    book(running, agent)
    log_status(agent, (running.starts_at, AVAILABLE), (running.starts_at + timedelta(hours=4, minutes=12), OFFLINE))
    case_paid(agent, brand, 6000)
    services.shifts_settle_due(now=after(running))
    return agent


EXPLANATION = "4 h available × SEK 400.00/h = SEK 1,600.00; cases paid SEK 60.00; top-up SEK 1,540.00"


def test_the_earnings_page_shows_the_top_up_with_its_calculation_and_the_shift(client, topped_up, running):
    client.force_login(topped_up.user)

    page = client.get("/agent/earnings/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-kind="floor_topup"' in html
    assert "Shift floor top-up" in html
    assert EXPLANATION in html
    start, end = timezone.localtime(running.starts_at), timezone.localtime(running.ends_at)
    assert f"Shift {date_format(start, 'D j M H:i')}–" in html  # a shift over midnight names its end's day too
    assert f"{end:%H:%M}</span>" in html
    assert "#None" not in html and "None" not in html.split('data-kind="floor_topup"')[1].split("</li>")[0]


def test_another_agent_does_not_see_the_top_up(client, topped_up, brand):
    other = AgentFactory(brands=[brand])
    client.force_login(other.user)
    assert EXPLANATION not in client.get("/agent/earnings/").content.decode()
    body = as_client(other.user).get("/api/v1/me/earnings/").json()
    assert body["entries"] == []


def test_rest_lists_the_top_up_with_a_null_ticket_and_its_explanation(topped_up, running):
    body = as_client(topped_up.user).get("/api/v1/me/earnings/").json()

    entry = next(e for e in body["entries"] if e["kind"] == "floor_topup")
    assert entry == {
        **entry,
        "amount": {"amount": "1540.00", "currency": "SEK"},
        "ticket_id": None,
        "shift_id": running.pk,
        "status": "available",
        "explanation": EXPLANATION,
        "hold_reason": None,
        "rating": None,
    }
    assert entry["calculation"]["topup_minor"] == 154000
    assert body["available"] == {"amount": "1540.00", "currency": "SEK"}


def test_the_monthly_statements_list_the_top_up_without_a_ticket(client, topped_up):
    client.force_login(topped_up.user)
    month = f"{timezone.localdate():%Y-%m}"

    csv_text = client.get(f"/agent/earnings/statement/{month}.csv").content.decode("utf-8-sig")
    pdf = client.get(f"/agent/earnings/statement/{month}.pdf")

    row = next(line for line in csv_text.splitlines() if "Shift floor top-up" in line)
    assert ",,Shift " in row and "1540.00,SEK" in row
    totals = csv_text.splitlines()[-1].split(",")
    assert totals[:3] == ["SEK", "1", "1600.00"]  # one case; the top-up is pay, not a case
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_ledger_still_balances_after_cases_top_ups_and_compensations(brand, supervisor, running):
    brand.shift_cancel_compensation_minor = 2500
    brand.save(update_fields=["shift_cancel_compensation_minor"])
    agents = [AgentFactory(brands=[brand]) for _ in range(3)]
    for n, agent in enumerate(agents):
        book(running, agent)
        log_status(agent, (running.starts_at + timedelta(minutes=17 * n), AVAILABLE))
        case_paid(agent, brand, 3000 * (n + 1))
    later = bookable(brand, supervisor, timezone.now() + timedelta(hours=3))
    for agent in agents:
        services.shift_book(agent=agent, shift_id=later.pk)
    services.shift_cancel(user=supervisor, shift_id=later.pk, reason="Merged into the morning shift")
    with override_settings(REOPEN_WINDOW_HOURS=0):
        case_paid(AgentFactory(brands=[brand]), brand, 4500)
    services.shifts_settle_due(now=after(running))

    assert Earning.objects.filter(kind="floor_topup").count() == 3
    assert Earning.objects.filter(kind="compensation").count() == 3
    assert_ledger_sound()
    brand_owes = -LedgerPosting.objects.filter(
        account__owner_kind=Owner.BRAND, account__purpose=Purpose.BRAND_PAYABLE
    ).aggregate(t=Sum("amount_minor"))["t"]
    assert brand_owes == Earning.objects.aggregate(t=Sum("amount_minor"))["t"]


def test_a_brand_of_another_currency_is_topped_up_in_its_own(running):
    eur = BrandFactory(currency="EUR")
    shift = past_shift(eur, start=running.starts_at, floor=1500)
    agent = AgentFactory(brands=[eur])
    book(shift, agent)
    log_status(agent, (shift.starts_at, AVAILABLE))

    services.shifts_settle_due(now=after(shift))

    topup = Earning.objects.get(kind="floor_topup")
    assert (topup.currency, topup.amount_minor) == ("EUR", 6000)
    assert balances(agent, "EUR")["available"] == 6000


def test_a_shifts_earning_is_named_by_its_local_day_and_hours():
    from payouts.selectors import shift_label

    here = timezone.get_current_timezone()

    def label(start: datetime, hours: int) -> str:
        period = {"shift_starts_at": start.isoformat(), "shift_ends_at": (start + timedelta(hours=hours)).isoformat()}
        return shift_label(Earning(kind="floor_topup", shift_id=1, calculation=period))

    assert label(datetime(2025, 12, 8, 9, 0, tzinfo=here), 4) == "Shift Mon 8 Dec 09:00–13:00"
    assert label(datetime(2025, 12, 8, 22, 0, tzinfo=here), 4) == "Shift Mon 8 Dec 22:00–Tue 9 Dec 02:00"
    assert shift_label(Earning(kind="compensation", shift_id=7, calculation={})) == "Shift #7"
