"""The staffing plan over REST: `GET /api/v1/staffing/erlang-c/` (the calculator) and
`GET /api/v1/staffing/?brand=&date=` (a brand's day, hour by hour: the forecast from the
tickets of the same hours in four earlier weeks, the handle time, the agents needed and the
agents booked on shifts). Supervisors of the brand and platform staff only; bad input is a
`400 invalid` naming the fields, and nothing changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from marketplace.models import Brand
from marketplace.services import api_token_create
from tasks.models import Shift, ShiftBooking, Ticket
from tasks.staffing import agents_needed

from .factories import AgentFactory, CustomerFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

ERLANG_C = "/api/v1/staffing/erlang-c/"
PLAN = "/api/v1/staffing/"
WORKED_EXAMPLE = {"arrivals_per_hour": "200", "aht_seconds": "180", "target_seconds": "20", "target_share": "0.8"}
HOUR_KEYS = {"hour", "arrivals_forecast", "aht_seconds", "agents_needed", "agents_booked"}


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[0]}")
    return client


@pytest.fixture
def staff(db):
    return UserFactory(email="ops@example.test", role="staff", is_staff=True)


@pytest.fixture
def other_supervisor(other_brand):
    user = UserFactory(email="other-sup@example.test", role="supervisor")
    other_brand.supervisors.add(user)
    return user


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def ticket_created(brand, when: datetime, **fields) -> Ticket:
    ticket = TicketFactory(brand=brand)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=when, **fields)
    return ticket


def handled(brand, resolved: datetime, seconds: int) -> Ticket:
    return ticket_created(
        brand,
        resolved - timedelta(seconds=seconds + 60),
        status=Ticket.Status.RESOLVED,
        assigned_at=resolved - timedelta(seconds=seconds),
        resolved_at=resolved,
    )


def shift(
    brand, starts: datetime, ends: datetime, *, agents=(), cancelled_agents=(), status=Shift.Status.OPEN
) -> Shift:
    row = Shift.objects.create(
        brand=brand, starts_at=starts, ends_at=ends, languages=["en"], slots=5, booked=len(agents), status=status
    )
    for agent in agents:
        ShiftBooking.objects.create(shift=row, agent=agent, starts_at=starts, ends_at=ends)
    for agent in cancelled_agents:
        ShiftBooking.objects.create(
            shift=row, agent=agent, starts_at=starts, ends_at=ends, status=ShiftBooking.Status.CANCELLED
        )
    return row


def world_state() -> tuple:
    return (
        Ticket.objects.count(),
        Shift.objects.count(),
        ShiftBooking.objects.count(),
        tuple(Brand.objects.order_by("pk").values_list("staffing_target_seconds", "staffing_target_share")),
    )


# --- Erlang C -------------------------------------------------------------------------------------


def test_a_supervisor_gets_the_worked_example_fourteen_agents(supervisor):
    response = session(supervisor).get(ERLANG_C, WORKED_EXAMPLE)

    assert response.status_code == 200
    assert response.json() == {
        "agents": 14,
        "service_level": 0.8884,
        "occupancy": 0.7143,
        "probability_wait": 0.1741,
        "average_speed_of_answer_seconds": 7.84,
    }


def test_a_supervisor_with_an_api_token_and_platform_staff_get_it_too(supervisor, staff):
    assert token_client(supervisor).get(ERLANG_C, WORKED_EXAMPLE).json()["agents"] == 14
    assert session(staff).get(ERLANG_C, WORKED_EXAMPLE).json()["agents"] == 14


def test_no_contacts_need_no_agents_over_the_api(supervisor):
    body = session(supervisor).get(ERLANG_C, {**WORKED_EXAMPLE, "arrivals_per_hour": "0"}).json()

    assert body == {
        "agents": 0,
        "service_level": 1.0,
        "occupancy": 0.0,
        "probability_wait": 0.0,
        "average_speed_of_answer_seconds": 0.0,
    }


def test_a_large_queue_is_answered(supervisor):
    body = (
        session(supervisor)
        .get(
            ERLANG_C,
            {"arrivals_per_hour": "10000", "aht_seconds": "300", "target_seconds": "20", "target_share": "0.8"},
        )
        .json()
    )

    assert 834 <= body["agents"] < 900
    assert body["service_level"] >= 0.8


def test_people_who_are_not_supervisors_are_refused(brand, agent):
    applicant = UserFactory(email="applicant@example.test", role="applicant")

    for user in (agent.user, applicant):
        response = session(user).get(ERLANG_C, WORKED_EXAMPLE)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_a_caller_without_a_login_is_asked_to_log_in(db):
    response = APIClient().get(ERLANG_C, WORKED_EXAMPLE)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "changes, fields",
    [
        ({"arrivals_per_hour": None}, {"arrivals_per_hour"}),
        (
            {"arrivals_per_hour": None, "aht_seconds": None, "target_seconds": None, "target_share": None},
            {"arrivals_per_hour", "aht_seconds", "target_seconds", "target_share"},
        ),
        ({"arrivals_per_hour": "-5"}, {"arrivals_per_hour"}),
        ({"arrivals_per_hour": "many"}, {"arrivals_per_hour"}),
        ({"arrivals_per_hour": "nan"}, {"arrivals_per_hour"}),
        ({"arrivals_per_hour": "inf"}, {"arrivals_per_hour"}),
        ({"arrivals_per_hour": "1e12"}, {"arrivals_per_hour"}),
        ({"arrivals_per_hour": "200000", "aht_seconds": "300"}, {"arrivals_per_hour"}),
        ({"aht_seconds": "0"}, {"aht_seconds"}),
        ({"aht_seconds": "-180"}, {"aht_seconds"}),
        ({"aht_seconds": "1" + "0" * 400}, {"aht_seconds"}),
        ({"target_seconds": "-1"}, {"target_seconds"}),
        ({"target_seconds": "soon"}, {"target_seconds"}),
        ({"target_share": "0"}, {"target_share"}),
        ({"target_share": "1"}, {"target_share"}),
        ({"target_share": "80"}, {"target_share"}),
        ({"target_share": "-0.5"}, {"target_share"}),
        ({"target_share": ""}, {"target_share"}),
    ],
)
def test_bad_input_is_refused_naming_the_fields(supervisor, changes, fields):
    query = {key: value for key, value in {**WORKED_EXAMPLE, **changes}.items() if value is not None}
    before = world_state()

    response = session(supervisor).get(ERLANG_C, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields
    assert world_state() == before


def test_a_share_just_below_one_is_accepted(supervisor):
    response = session(supervisor).get(ERLANG_C, {**WORKED_EXAMPLE, "target_share": "0.999"})

    assert response.status_code == 200
    assert response.json()["service_level"] >= 0.999


# --- A brand's day -----------------------------------------------------------------------------------


@pytest.fixture
def day() -> date:
    """A day ten days ago: its four history weeks and its handle-time window are all past."""
    return datetime.now(tz=UTC).date() - timedelta(days=10)


@pytest.fixture
def history(brand, other_brand, day):
    """Tickets of Acme at chosen times around `day`, with some that must not count."""
    for minute in (5, 15, 55):
        ticket_created(brand, at(day - timedelta(weeks=1), 9, minute))
    ticket_created(brand, at(day - timedelta(weeks=2), 9, 40))
    ticket_created(brand, at(day - timedelta(weeks=4), 9, 0))
    ticket_created(brand, at(day - timedelta(weeks=1), 10, 30))
    ticket_created(brand, at(day - timedelta(weeks=3), 10, 59))
    # Not counted: the fifth week back, the day itself, the neighbouring hour, another brand.
    ticket_created(brand, at(day - timedelta(weeks=5), 9, 10))
    ticket_created(brand, at(day, 9, 10))
    ticket_created(brand, at(day - timedelta(weeks=1), 8, 59))
    ticket_created(other_brand, at(day - timedelta(weeks=1), 9, 20))
    ticket_created(brand, at(day - timedelta(days=1), 9, 20))  # another weekday
    # Handle time: 200 s and 400 s within 28 days before the day; not the others.
    handled(brand, at(day - timedelta(days=3), 12), 200)
    handled(brand, at(day - timedelta(days=20), 12), 400)
    handled(brand, at(day - timedelta(days=29), 12), 5000)  # too early
    handled(brand, at(day, 12), 5000)  # on the day itself
    handled(other_brand, at(day - timedelta(days=3), 12), 5000)


def hours_of(body: list[dict]) -> dict[int, dict]:
    return {datetime.fromisoformat(row["hour"]).hour: row for row in body}


def test_the_plan_forecasts_from_the_same_hours_of_four_earlier_weeks(supervisor, brand, day, history):
    response = session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()})

    assert response.status_code == 200
    body = response.json()
    assert len(body) == 24 and all(set(row) == HOUR_KEYS for row in body)
    assert body[0]["hour"] == at(day, 0).isoformat()
    rows = hours_of(body)
    assert rows[9]["arrivals_forecast"] == 1.25  # 3 + 1 + 1 over four weeks
    assert rows[10]["arrivals_forecast"] == 0.5
    assert rows[8]["arrivals_forecast"] == 0.25
    assert sum(row["arrivals_forecast"] for row in body) == 2.0
    assert {row["aht_seconds"] for row in body} == {300.0}


def test_agents_needed_follow_erlang_c_with_the_brand_target(supervisor, brand, day):
    Brand.objects.filter(pk=brand.pk).update(staffing_target_seconds=10, staffing_target_share="0.95")
    for n in range(40):
        ticket_created(brand, at(day - timedelta(weeks=1 + n % 4), 14, n))
    handled(brand, at(day - timedelta(days=2), 12), 1800)

    rows = hours_of(session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()}).json())

    expected = agents_needed(arrivals_per_hour=10, aht_seconds=1800, target_seconds=10, target_share=0.95).agents
    assert rows[14]["arrivals_forecast"] == 10.0
    assert rows[14]["agents_needed"] == expected > 5
    assert rows[13]["agents_needed"] == 0


def test_without_resolved_tickets_the_handle_time_is_the_platform_default(supervisor, brand, day, settings):
    settings.DEFAULT_HANDLE_SECONDS = 420

    body = session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()}).json()

    assert {row["aht_seconds"] for row in body} == {420.0}
    assert {row["agents_needed"] for row in body} == {0}


def test_agents_booked_count_live_bookings_on_the_brands_open_shifts_overlapping_each_hour(
    supervisor, brand, other_brand, day
):
    ada, bo, cy, dan = (AgentFactory(brands=[brand]) for _ in range(4))
    shift(brand, at(day, 9, 30), at(day, 11), agents=[ada, bo], cancelled_agents=[cy])
    shift(brand, at(day, 11), at(day, 12), agents=[cy])  # starts as hour 10 ends: not in it
    shift(brand, at(day, 10), at(day, 11), agents=[dan], status=Shift.Status.CANCELLED)
    shift(other_brand, at(day, 9), at(day, 12), agents=[AgentFactory(brands=[other_brand])])
    shift(brand, at(day - timedelta(days=1), 23), at(day, 0, 30), agents=[dan])  # from the evening before

    rows = hours_of(session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()}).json())

    assert {hour: row["agents_booked"] for hour, row in rows.items() if row["agents_booked"]} == {
        0: 1,
        9: 2,
        10: 2,
        11: 1,
    }


def test_an_agent_on_two_back_to_back_shifts_counts_once_in_the_hour_they_share(supervisor, brand, day):
    ada = AgentFactory(brands=[brand])
    shift(brand, at(day, 9), at(day, 9, 30), agents=[ada])
    shift(brand, at(day, 9, 30), at(day, 10), agents=[ada])

    rows = hours_of(session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()}).json())

    assert rows[9]["agents_booked"] == 1


def test_a_day_still_to_come_is_forecast_from_the_last_four_weeks(supervisor, brand):
    today = datetime.now(tz=UTC).date()
    planned = today + timedelta(days=9)  # a week back is still to come: the history starts two weeks back
    ticket_created(brand, at(planned - timedelta(weeks=2), 15, 10))
    ticket_created(brand, at(planned - timedelta(weeks=5), 15, 20))
    ticket_created(brand, at(planned - timedelta(weeks=6), 15, 30))  # fifth week of that history

    rows = hours_of(session(supervisor).get(PLAN, {"brand": "acme", "date": planned.isoformat()}).json())

    assert rows[15]["arrivals_forecast"] == 0.5


def test_a_time_zone_gives_the_day_and_its_hours_on_that_clock(supervisor, brand, day, history):
    zone = ZoneInfo("Asia/Kolkata")  # UTC+05:30: its hours start at half past in UTC

    body = session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat(), "time_zone": "Asia/Kolkata"}).json()

    assert len(body) == 24
    assert body[0]["hour"] == datetime.combine(day, time(0), tzinfo=zone).isoformat()
    assert body[0]["hour"].endswith("+05:30")
    rows = hours_of(body)
    # Kolkata's 14:00-15:00 is 08:30-09:30 UTC: 08:59, 09:05 and 09:15 a week back, 09:00
    # four weeks back. Its 15:00-16:00: 09:55 a week back and 09:40 two weeks back.
    assert rows[14]["arrivals_forecast"] == 1.0
    assert rows[15]["arrivals_forecast"] == 0.5


@pytest.mark.parametrize("day, hours", [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-15", 24)])
def test_the_days_the_clocks_change_have_23_or_25_hours(supervisor, brand, day, hours):
    body = session(supervisor).get(PLAN, {"brand": "acme", "date": day, "time_zone": "Europe/Stockholm"}).json()

    assert len(body) == hours
    starts = [datetime.fromisoformat(row["hour"]) for row in body]
    assert all(later - earlier == timedelta(hours=1) for earlier, later in zip(starts, starts[1:], strict=False))
    assert len({row["hour"] for row in body}) == hours


def test_platform_staff_see_any_brand(staff, brand, day):
    response = session(staff).get(PLAN, {"brand": "acme", "date": day.isoformat()})

    assert response.status_code == 200 and len(response.json()) == 24


def test_another_brands_supervisor_is_refused(other_supervisor, brand, day):
    response = session(other_supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_supervisor_cannot_tell_an_unknown_brand_from_one_that_is_not_theirs(supervisor, day):
    response = session(supervisor).get(PLAN, {"brand": "no-such-brand", "date": day.isoformat()})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_staff_asking_for_an_unknown_brand_get_brand_not_found(staff, day):
    response = session(staff).get(PLAN, {"brand": "no-such-brand", "date": day.isoformat()})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "brand_not_found"


def test_agents_and_applicants_are_refused_and_anonymous_callers_asked_to_log_in(brand, agent, day):
    query = {"brand": "acme", "date": day.isoformat()}
    applicant = UserFactory(email="applicant@example.test", role="applicant")

    for user in (agent.user, applicant):
        response = session(user).get(PLAN, query)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    response = APIClient().get(PLAN, query)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")


@pytest.mark.parametrize(
    "query, fields",
    [
        ({}, {"brand", "date"}),
        ({"brand": "acme"}, {"date"}),
        ({"date": "2026-03-02"}, {"brand"}),
        ({"brand": "acme", "date": "2026-02-30"}, {"date"}),
        ({"brand": "acme", "date": "tomorrow"}, {"date"}),
        ({"brand": "acme", "date": "02/03/2026"}, {"date"}),
        ({"brand": "acme", "date": "0001-01-01"}, {"date"}),
        ({"brand": "acme", "date": "9999-12-31"}, {"date"}),
        ({"brand": "acme", "date": "2026-03-02", "time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({"brand": "acme", "date": "2026-03-02", "time_zone": "../../etc/passwd"}, {"time_zone"}),
        ({"brand": "acme", "date": "2026-03-02", "time_zone": "Europe"}, {"time_zone"}),
        ({"brand": "acme", "date": "2026-03-02", "time_zone": "x" * 500}, {"time_zone"}),
        ({"brand": "not a slug!", "date": "2026-03-02"}, {"brand"}),
    ],
)
def test_bad_plan_input_is_refused_naming_the_fields(supervisor, brand, query, fields):
    before = world_state()

    response = session(supervisor).get(PLAN, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields
    assert world_state() == before


def test_a_history_beyond_what_the_plan_computes_is_refused_with_its_own_code(supervisor, brand, day):
    customer = CustomerFactory(brand=brand)
    Ticket.objects.bulk_create(
        Ticket(brand=brand, customer=customer, language="en", subject="Rush") for _ in range(1700)
    )
    Ticket.objects.filter(brand=brand).update(created_at=at(day - timedelta(weeks=1), 9, 30))
    handled(brand, at(day - timedelta(days=2), 12), 200_000)  # counted as a day at most
    before = world_state()

    response = session(supervisor).get(PLAN, {"brand": "acme", "date": day.isoformat()})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "staffing_out_of_range"
    assert world_state() == before
