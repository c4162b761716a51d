"""The supervisors' staffing page (/supervisor/staffing/): a brand's week as a grid of
agents needed against agents booked per hour, short hours marked in words, links to the
weeks around it, and an Erlang C calculator that gives the API's numbers. Other brands'
supervisors and people who are not supervisors are refused."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from rest_framework.test import APIClient

from tasks.models import Shift, ShiftBooking, Ticket
from tasks.views_staffing import parse_week, week_value

from .factories import AgentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/supervisor/staffing/"


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the TOTP gate has its own tests


@pytest.fixture
def monday() -> date:
    """The Monday of the week two weeks ago: its history and its shifts are all past."""
    today = datetime.now(tz=UTC).date()
    return today - timedelta(days=today.weekday(), weeks=2)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def busy_tuesday(brand, monday):
    """Tuesday 14:00-15:00 UTC of that week: 20 tickets an hour in the history weeks and
    one agent booked, so agents are missing; 10:00-11:00 has one booked and none needed."""
    tuesday = monday + timedelta(days=1)
    for n in range(80):
        ticket = TicketFactory(brand=brand)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=at(tuesday - timedelta(weeks=1 + n % 4), 14, n % 60))
    agent = AgentFactory(brands=[brand])
    for starts, ends in ((at(tuesday, 14), at(tuesday, 15)), (at(tuesday, 10), at(tuesday, 11))):
        shift = Shift.objects.create(brand=brand, starts_at=starts, ends_at=ends, languages=["en"], slots=4, booked=1)
        ShiftBooking.objects.create(shift=shift, agent=agent, starts_at=starts, ends_at=ends)
    return tuesday


def cells(html: str) -> dict[str, dict[str, str]]:
    """Per hour start (ISO), the cell's data attributes and text."""
    found = {}
    for match in re.finditer(r'<td class="([^"]*)" data-testid="staffing-cell" ([^>]*)>(.*?)</td>', html, re.S):
        attributes = dict(re.findall(r'data-([a-z]+)="([^"]*)"', match.group(2)))
        attributes["class"] = match.group(1)
        attributes["text"] = re.sub(r"<[^>]+>", " ", match.group(3))
        found[attributes["hour"]] = attributes
    return found


def test_the_supervisor_sees_the_week_and_the_short_hour_is_marked_in_words(
    client, supervisor, brand, monday, busy_tuesday
):
    client.force_login(supervisor)

    page = client.get(PAGE, {"brand": "acme", "week": week_value(monday)})

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="staffing-day"') == 7
    grid = cells(html)
    assert len(grid) == 7 * 24
    short = grid[at(busy_tuesday, 14).isoformat()]
    assert "staffing-gap" in short["class"]
    assert int(short["needed"]) > int(short["booked"]) == 1
    assert short["gap"] == str(int(short["needed"]) - 1)
    assert f"short {short['gap']}" in short["text"]
    assert f"{short['needed']} needed, 1 booked" in short["text"]
    covered = grid[at(busy_tuesday, 10).isoformat()]
    assert (covered["needed"], covered["booked"]) == ("0", "1")
    assert "staffing-gap" not in covered["class"] and "short" not in covered["text"]
    assert [hour for hour, cell in grid.items() if "gap" in cell] == [at(busy_tuesday, 14).isoformat()]
    assert re.search(r'data-testid="short-hours"[^>]*>\s*<strong>1</strong> hour', html)


def test_the_week_links_go_to_the_weeks_before_and_after(client, supervisor, brand, monday):
    client.force_login(supervisor)

    html = client.get(
        PAGE, {"brand": "acme", "week": week_value(monday), "time_zone": "Europe/Stockholm"}
    ).content.decode()

    before = week_value(monday - timedelta(weeks=1))
    after = week_value(monday + timedelta(weeks=1))
    assert f'href="?brand=acme&amp;week={before}&amp;time_zone=Europe%2FStockholm"' in html
    assert f'href="?brand=acme&amp;week={after}&amp;time_zone=Europe%2FStockholm"' in html


def test_without_a_brand_or_week_the_page_shows_this_week_of_the_first_brand(client, supervisor, brand):
    client.force_login(supervisor)
    today = datetime.now(tz=UTC).date()

    html = client.get(PAGE).content.decode()

    assert f'value="{week_value(today - timedelta(days=today.weekday()))}"' in html
    assert html.count('data-testid="staffing-cell"') == 7 * 24
    assert 'data-testid="short-hours"' in html


def test_a_bad_week_or_time_zone_is_explained_and_this_week_shown(client, supervisor, brand):
    client.force_login(supervisor)

    page = client.get(PAGE, {"brand": "acme", "week": "2026-W60", "time_zone": "Mars/Olympus"})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Choose a week as YYYY-Www" in html and "Unknown time zone" in html
    assert html.count('data-testid="staffing-cell"') == 7 * 24


def test_a_supervisor_without_brands_gets_an_empty_state(client):
    lonely = UserFactory(email="lonely@example.test", role="supervisor")
    client.force_login(lonely)

    page = client.get(PAGE)

    assert page.status_code == 200
    assert 'data-testid="no-brands"' in page.content.decode()


def test_platform_staff_see_any_brand(client, brand, monday):
    client.force_login(UserFactory(email="ops@example.test", role="staff", is_staff=True))

    page = client.get(PAGE, {"brand": "acme", "week": week_value(monday)})

    assert page.status_code == 200
    assert page.content.decode().count('data-testid="staffing-cell"') == 7 * 24


def test_the_calculator_gives_the_numbers_of_the_api(client, supervisor, brand):
    client.force_login(supervisor)
    api = APIClient()
    api.force_login(supervisor)

    html = client.get(
        PAGE,
        {
            "brand": "acme",
            "calc-arrivals_per_hour": "200",
            "calc-aht_seconds": "180",
            "calc-target_seconds": "20",
            "calc-target_percent": "80",
        },
    ).content.decode()
    expected = api.get(
        "/api/v1/staffing/erlang-c/",
        {"arrivals_per_hour": "200", "aht_seconds": "180", "target_seconds": "20", "target_share": "0.8"},
    ).json()

    shown = dict(re.findall(r'data-testid="result-([a-z_]+)" data-value="([^"]*)"', html))
    assert {key: float(value) for key, value in shown.items()} == expected
    assert expected["agents"] == 14
    assert "88.8 %" in html


def test_the_calculator_is_filled_with_the_brands_target(client, supervisor, brand):
    brand.staffing_target_seconds = 30
    brand.staffing_target_share = "0.90"
    brand.save()
    client.force_login(supervisor)

    html = client.get(PAGE, {"brand": "acme"}).content.decode()

    assert re.search(r'name="calc-target_seconds" value="30"', html)
    assert re.search(r'name="calc-target_percent" value="90"', html)


@pytest.mark.parametrize(
    "field, value",
    [
        ("calc-arrivals_per_hour", "-3"),
        ("calc-arrivals_per_hour", "lots"),
        ("calc-aht_seconds", "0"),
        ("calc-target_percent", "100"),
        ("calc-target_percent", "0"),
        ("calc-arrivals_per_hour", "900000"),
    ],
)
def test_the_calculator_explains_bad_input_next_to_the_field(client, supervisor, brand, field, value):
    client.force_login(supervisor)
    query = {
        "brand": "acme",
        "calc-arrivals_per_hour": "200",
        "calc-aht_seconds": "180",
        "calc-target_seconds": "20",
        "calc-target_percent": "80",
        field: value,
    }

    html = client.get(PAGE, query).content.decode()

    assert 'data-testid="calculator-error"' in html
    assert 'data-testid="calculator-result"' not in html
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', html)


def test_another_brands_supervisor_is_refused(client, brand, other_brand):
    outsider = UserFactory(email="other-sup@example.test", role="supervisor")
    other_brand.supervisors.add(outsider)
    client.force_login(outsider)

    page = client.get(PAGE, {"brand": "acme"})

    assert page.status_code == 403
    assert 'data-testid="forbidden"' in page.content.decode()
    assert "Acme" not in page.content.decode()


def test_agents_are_refused_and_anonymous_visitors_sent_to_log_in(client, brand, agent):
    assert client.get(PAGE, {"brand": "acme"})["Location"].startswith("/accounts/login/?next=/supervisor/staffing/")
    client.force_login(agent.user)
    assert client.get(PAGE, {"brand": "acme"}).status_code == 403


def test_the_supervisor_home_links_to_the_page(client, supervisor, brand):
    client.force_login(supervisor)

    assert f'href="{PAGE}"' in client.get("/supervisor/").content.decode()


@pytest.mark.parametrize(
    "raw, monday",
    [
        ("2026-W10", date(2026, 3, 2)),
        ("2026-W01", date(2025, 12, 29)),
        ("2026-W53", date(2026, 12, 28)),
        ("2025-W53", None),
        ("2026-W00", None),
        ("2026-10", None),
        ("1999-W10", None),
        ("", None),
    ],
)
def test_weeks_are_read_as_iso_weeks(raw, monday):
    assert parse_week(raw) == monday
