"""Shifts: supervisors publish (one, or weekly across a daylight-saving change), agents book
and cancel with the contract's refusals, going available near the start checks in, a sweep
marks no-shows, and late cancellations and no-shows lower reliability gradually."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import AgentSkill
from marketplace.errors import DomainError
from tasks import services, shift_selectors
from tasks.models import Shift, ShiftBooking

from .factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def terms(start: datetime, hours: int = 4, **extra) -> services.ShiftTerms:
    fields = {"languages": ["en"], "skills": [], "slots": 3, **extra}
    return services.ShiftTerms(starts_at=start, ends_at=start + timedelta(hours=hours), **fields)


def soon(days: int = 2) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def shift(brand, supervisor):
    return services.shift_publish(user=supervisor, brand=brand, terms=terms(soon()))[0]


def as_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- Publishing ----------------------------------------------------------------------------------


def test_a_weekly_pattern_keeps_local_time_across_the_daylight_saving_change(brand, supervisor):
    # 09:00 in Stockholm on the Monday before the clocks go back (2027-10-31), for 3 weeks.
    start = datetime(2027, 10, 25, 9, 0, tzinfo=STOCKHOLM)
    shifts = services.shift_publish(
        user=supervisor, brand=brand, terms=terms(start), weeks=3, time_zone="Europe/Stockholm"
    )
    local = [s.starts_at.astimezone(STOCKHOLM) for s in shifts]
    assert [t.hour for t in local] == [9, 9, 9]
    assert [s.starts_at.astimezone(UTC).hour for s in shifts] == [7, 8, 8]  # UTC+2, then UTC+1
    assert len({s.series for s in shifts}) == 1 and shifts[0].series is not None
    assert all(s.ends_at - s.starts_at == timedelta(hours=4) for s in shifts)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"hours": 0}, "invalid_period"),
        ({"slots": 0}, "invalid"),
        ({"languages": []}, "invalid"),
    ],
)
def test_a_shift_with_bad_terms_is_refused_and_nothing_is_published(brand, supervisor, change, code):
    hours = change.pop("hours", 4)
    with pytest.raises(DomainError) as refused:
        services.shift_publish(user=supervisor, brand=brand, terms=terms(soon(), hours=hours, **change))
    assert refused.value.code == code
    assert not Shift.objects.exists()


def test_a_supervisor_of_another_brand_cannot_publish(brand, other_brand):
    outsider = UserFactory(role="supervisor")
    other_brand.supervisors.add(outsider)
    with pytest.raises(DomainError) as refused:
        services.shift_publish(user=outsider, brand=brand, terms=terms(soon()))
    assert refused.value.code == "forbidden"


# --- Booking ----------------------------------------------------------------------------------------


def test_an_agent_books_a_shift_and_sees_it_among_their_bookings(agent, shift):
    booking = services.shift_book(agent=agent, shift_id=shift.pk)

    shift.refresh_from_db()
    assert (booking.status, shift.booked) == ("booked", 1)
    assert list(shift_selectors.agent_bookings(agent)) == [booking]


@pytest.mark.parametrize("case", ["full", "started", "cancelled", "overlap", "twice", "ineligible", "missing"])
def test_every_refusal_has_its_code_and_changes_nothing(brand, supervisor, agent, agent2, shift, case):
    target = shift.pk
    expected = {
        "full": "shift_full",
        "started": "shift_started",
        "cancelled": "shift_cancelled",
        "overlap": "shift_overlap",
        "twice": "already_booked",
        "ineligible": "shift_not_eligible",
        "missing": "shift_not_found",
    }[case]
    if case == "full":
        Shift.objects.filter(pk=shift.pk).update(slots=1)
        services.shift_book(agent=agent2, shift_id=shift.pk)
    elif case == "started":
        Shift.objects.filter(pk=shift.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    elif case == "cancelled":
        services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Low volume")
    elif case == "overlap":
        other = services.shift_publish(user=supervisor, brand=brand, terms=terms(shift.starts_at + timedelta(hours=2)))[
            0
        ]
        services.shift_book(agent=agent, shift_id=other.pk)
    elif case == "twice":
        services.shift_book(agent=agent, shift_id=shift.pk)
    elif case == "ineligible":
        Shift.objects.filter(pk=shift.pk).update(skills=["mortgages"])
    elif case == "missing":
        target = shift.pk + 1000
    before = list(ShiftBooking.objects.values_list("pk", "status"))

    with pytest.raises(DomainError) as refused:
        services.shift_book(agent=agent, shift_id=target)

    assert refused.value.code == expected
    assert list(ShiftBooking.objects.values_list("pk", "status")) == before


def test_a_shift_asking_for_a_skill_is_bookable_by_an_agent_who_has_it(agent, shift):
    Shift.objects.filter(pk=shift.pk).update(skills=["billing"])
    AgentSkill.objects.create(agent=agent, code="billing")
    assert services.shift_book(agent=agent, shift_id=shift.pk).status == "booked"


def test_cancelling_before_the_cutoff_is_free_and_after_it_is_recorded_as_late(agent, brand, supervisor):
    early = services.shift_publish(user=supervisor, brand=brand, terms=terms(soon(days=3)))[0]
    near = services.shift_publish(user=supervisor, brand=brand, terms=terms(timezone.now() + timedelta(hours=5)))[0]
    free = services.booking_cancel(agent=agent, booking_id=services.shift_book(agent=agent, shift_id=early.pk).pk)
    late = services.booking_cancel(agent=agent, booking_id=services.shift_book(agent=agent, shift_id=near.pk).pk)

    assert (free.status, free.late) == ("cancelled", False)
    assert (late.status, late.late) == ("cancelled", True)
    early.refresh_from_db()
    assert early.booked == 0
    rel = shift_selectors.reliability(agent)
    assert [e.kind for e in rel.events] == ["late_cancel"]
    assert 94.9 <= rel.score < 100


def test_an_agent_cannot_cancel_someone_elses_booking(agent, agent2, shift):
    booking = services.shift_book(agent=agent2, shift_id=shift.pk)
    with pytest.raises(DomainError) as refused:
        services.booking_cancel(agent=agent, booking_id=booking.pk)
    assert refused.value.code == "booking_not_found"
    booking.refresh_from_db()
    assert booking.status == "booked"


# --- Check-in, no-shows, reliability ----------------------------------------------------------------------


def test_going_available_near_the_start_checks_in_and_a_missing_agent_is_a_no_show(agent, agent2, brand, supervisor):
    start = timezone.now() + timedelta(minutes=5)
    shift = services.shift_publish(user=supervisor, brand=brand, terms=terms(start))[0]
    present = services.shift_book(agent=agent, shift_id=shift.pk)
    absent = services.shift_book(agent=agent2, shift_id=shift.pk)

    services.presence_set(agent=agent, status="available")
    assert services.shifts_mark_no_shows(now=start + timedelta(minutes=11)) == 1

    present.refresh_from_db()
    absent.refresh_from_db()
    assert present.checked_in_at is not None and present.status == "booked"
    assert absent.status == "no_show"
    assert services.shifts_mark_no_shows(now=start + timedelta(minutes=20)) == 0
    assert [e.kind for e in shift_selectors.reliability(agent2).events] == ["no_show"]
    assert shift_selectors.reliability(agent).score == 100.0


def test_an_old_no_show_weighs_less_and_reliability_never_drops_below_zero(agent, brand):
    shifts = [
        Shift.objects.create(
            brand=brand,
            starts_at=timezone.now() - timedelta(days=d),
            ends_at=timezone.now() - timedelta(days=d) + timedelta(hours=2),
            languages=["en"],
            slots=1,
        )
        for d in (1, 60)
    ]
    for s in shifts:
        ShiftBooking.objects.create(shift=s, agent=agent, starts_at=s.starts_at, ends_at=s.ends_at, status="no_show")
    events = {round((timezone.now() - e.at).days): e.weight_now for e in shift_selectors.reliability(agent).events}
    assert events[1] > 14 and events[60] < 4
    for d in range(2, 12):
        s = Shift.objects.create(
            brand=brand,
            starts_at=timezone.now() - timedelta(days=d, hours=1),
            ends_at=timezone.now() - timedelta(days=d),
            languages=["en"],
            slots=1,
        )
        ShiftBooking.objects.create(shift=s, agent=agent, starts_at=s.starts_at, ends_at=s.ends_at, status="no_show")
    assert shift_selectors.reliability(agent).score == 0.0


# --- REST --------------------------------------------------------------------------------------------------


def test_rest_publish_list_book_cancel_and_me(brand, supervisor, agent):
    published = as_client(supervisor).post(
        "/api/v1/shifts/",
        {
            "brand": brand.slug,
            "starts_at": soon().isoformat(),
            "ends_at": (soon() + timedelta(hours=4)).isoformat(),
            "languages": ["en"],
            "slots": 2,
            "hourly_floor": "400.00",
            "bonus_per_case": "10.00",
        },
        format="json",
    )
    assert published.status_code == 201, published.content
    body = published.json()
    assert body["pay"] == {
        "hourly_floor": {"amount": "400.00", "currency": "SEK"},
        "bonus_per_case": {"amount": "10.00", "currency": "SEK"},
    }
    client = as_client(agent.user)
    listed = client.get("/api/v1/shifts/").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]] and listed[0]["my_booking"] is None

    booked = client.post(f"/api/v1/shifts/{body['id']}/bookings/")
    assert booked.status_code == 201
    assert booked.json() == {**booked.json(), "shift_id": body["id"], "status": "booked"}
    again = client.post(f"/api/v1/shifts/{body['id']}/bookings/")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_booked")
    assert client.get("/api/v1/shifts/").json()["results"][0]["my_booking"] == booked.json()["id"]
    mine = client.get("/api/v1/me/bookings/").json()["results"]
    assert mine[0]["shift"]["id"] == body["id"]

    cancelled = client.post(f"/api/v1/bookings/{booked.json()['id']}/cancel/")
    assert cancelled.json() == {**cancelled.json(), "status": "cancelled", "late": False}
    me = client.get("/api/v1/me/").json()
    assert me["reliability"]["score"] == 100.0
    assert me["brands"] == [brand.slug] and "en" in me["languages"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("ends_at", "before"), ("slots", 0), ("slots", -1), ("hourly_floor", "400.001"), ("languages", ["english"])],
)
def test_rest_refuses_bad_shifts_with_the_error_shape(brand, supervisor, field, value):
    body = {
        "brand": brand.slug,
        "starts_at": soon().isoformat(),
        "ends_at": (soon() + timedelta(hours=4)).isoformat(),
        "languages": ["en"],
        "slots": 2,
    }
    body[field] = (soon() - timedelta(hours=1)).isoformat() if value == "before" else value
    response = as_client(supervisor).post("/api/v1/shifts/", body, format="json")
    assert response.status_code in (400, 422), response.content
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] in ("invalid", "invalid_period")
    assert not Shift.objects.exists()


def test_outsiders_are_refused(brand, other_brand, agent, shift):
    assert APIClient().get("/api/v1/shifts/").status_code == 401
    applicant = as_client(UserFactory())
    assert applicant.post(f"/api/v1/shifts/{shift.pk}/bookings/").json()["error"]["code"] == "not_an_agent"
    assert applicant.get("/api/v1/shifts/").status_code == 403
    assert as_client(agent.user).post("/api/v1/shifts/", {}, format="json").json()["error"]["code"] == "forbidden"
    stranger = AgentFactory(brands=[other_brand])
    response = as_client(stranger.user).post(f"/api/v1/shifts/{shift.pk}/bookings/")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "shift_not_eligible")
    assert as_client(stranger.user).get("/api/v1/shifts/").json()["results"] == []


# --- Dispatch preference and the shift's per-case bonus -------------------------------------------------


def test_an_agent_checked_in_on_a_shift_of_the_brand_is_offered_first_with_the_shift_bonus(brand, supervisor, handover):
    from tasks.models import Offer, Ticket

    start = timezone.now() + timedelta(minutes=3)
    shift = services.shift_publish(user=supervisor, brand=brand, terms=terms(start, bonus_per_case_minor=1000))[0]
    idle_longer = AgentFactory(brands=[brand], available=True, quality_score=5)  # would win without the shift
    on_shift = AgentFactory(brands=[brand], available=True, quality_score=1)
    services.shift_book(agent=on_shift, shift_id=shift.pk)
    services.presence_set(agent=on_shift, status="available")  # checks in
    Shift.objects.filter(pk=shift.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    ShiftBooking.objects.filter(shift=shift).update(starts_at=timezone.now() - timedelta(minutes=1))

    ticket = handover(category="")

    offer = Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)
    assert offer.agent_id == on_shift.pk != idle_longer.pk
    assert offer.pay_amount_minor == 4500 + 1000
    assert offer.pay_calculation["shift_bonus_minor"] == 1000
    services.offer_accept(agent=on_shift, offer_id=offer.pk)
    services.ticket_resolve(agent=on_shift, ticket_id=ticket.pk)
    from payouts.models import Earning

    earning = Earning.objects.get(ticket=Ticket.objects.get(pk=ticket.pk))
    assert earning.amount_minor == 5500
    from payouts.selectors import _explain

    assert _explain(earning) == "Base 45.00 (default rate) + shift bonus 10.00 = 55.00 SEK"
