"""The agent's shifts screen: suggestions from the week the agent gave in their application
(read in their time zone), every open shift with its terms and filters, booking and
cancelling through the page (a late cancellation is confirmed first), each refusal shown as
a message with nothing changed, the reliability events, and nobody but the agent sees or
changes their bookings. Shifts are published and booked through the real services."""

import re
from datetime import date, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Application
from tasks import services
from tasks.models import Shift, ShiftBooking
from tasks.shift_week import DAY_KEYS, agent_week, within_week

from .factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/agent/shifts/"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


# --- Helpers ------------------------------------------------------------------------------------


def give_week(agent, *, zone: str = "Europe/Stockholm", blocks: list[str] | None = None) -> Application:
    """The agent's approved application with its time zone and availability grid."""
    answers: dict = {"profile": {"display_name": agent.display_name, "time_zone": zone}}
    if blocks is not None:
        answers["availability"] = {"slots": blocks}
    return Application.objects.create(user=agent.user, status=Application.Status.APPROVED, answers=answers)


def publish(supervisor, brand, starts_at: datetime, hours: float = 4, **extra) -> Shift:
    fields = {"languages": ["en"], "skills": [], "slots": 3, **extra}
    shift_terms = services.ShiftTerms(starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), **fields)
    return services.shift_publish(user=supervisor, brand=brand, terms=shift_terms)[0]


def local_day(days: int = 3) -> date:
    return (timezone.now().astimezone(STOCKHOLM) + timedelta(days=days)).date()


def at(day: date, hour: int, zone: ZoneInfo = STOCKHOLM) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone)


def section(html: str, testid: str) -> str:
    """The markup of one <section data-testid=...> of the page."""
    match = re.search(rf'<section[^>]*data-testid="{testid}".*?</section>', html, re.S)
    assert match, f"no section {testid}"
    return match.group(0)


def shift_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-testid="shift" data-shift="(\d+)"', html)]


def text(html: str) -> str:
    """What a reader sees: block tags break words apart, <time> sits inside a sentence."""
    inline = re.sub(r"</?time[^>]*>", "", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def flashes(response) -> list[tuple[str, str]]:
    """(code, message) of each message shown on the page; code is "" for a success."""
    html = response.content.decode()
    return [
        (code or "", unescape(message))
        for code, message in re.findall(
            r'<p class="flash[^"]*"[^>]*data-testid="flash"(?: data-code="([^"]*)")?>(.*?)</p>', html, re.S
        )
    ]


def snapshot():
    return (
        sorted(ShiftBooking.objects.values_list("pk", "status", "late")),
        sorted(Shift.objects.values_list("pk", "booked", "status")),
    )


@pytest.fixture
def ada_client(client, agent):
    client.force_login(agent.user)
    return client


# --- Suggested for you --------------------------------------------------------------------------


def test_suggested_shifts_are_those_inside_the_agents_week_read_in_their_time_zone(
    ada_client, agent, brand, supervisor
):
    day = local_day()
    key = DAY_KEYS[day.weekday()]
    following = DAY_KEYS[(day.weekday() + 1) % 7]
    give_week(agent, blocks=[f"{key}-morning", f"{key}-evening", f"{following}-night"])
    # 06:00-08:00 in Stockholm is 04:00 or 05:00 UTC: the night block, had it been read in UTC.
    early = publish(supervisor, brand, at(day, 6), hours=2)
    afternoon = publish(supervisor, brand, at(day, 13))
    straddling = publish(supervisor, brand, at(day, 10))  # runs into the afternoon
    overnight = publish(supervisor, brand, at(day, 22))  # evening, then the next day's night
    full = publish(supervisor, brand, at(day, 8), hours=1, slots=1)
    services.shift_book(agent=AgentFactory(brands=[brand]), shift_id=full.pk)

    html = ada_client.get(PAGE).content.decode()

    assert shift_ids(section(html, "suggested")) == [early.pk, overnight.pk]
    assert shift_ids(section(html, "open-shifts")) == [early.pk, full.pk, straddling.pk, afternoon.pk, overnight.pk]
    assert "Times are in your time zone, Europe/Stockholm." in text(html)
    assert "06:00–08:00" in text(section(html, "suggested"))
    assert "22:00–02:00 (next day)" in text(section(html, "suggested"))


def test_the_week_is_read_in_the_agents_zone_across_the_hours_of_another_zone(agent, brand, supervisor):
    day = local_day()
    give_week(agent, zone="America/New_York", blocks=[f"{DAY_KEYS[day.weekday()]}-morning"])
    week = agent_week(agent)
    new_york = ZoneInfo("America/New_York")
    assert within_week(at(day, 7, new_york), at(day, 11, new_york), week)
    # 09:00 in Stockholm is the middle of the night in New York.
    assert not within_week(at(day, 9), at(day, 11), week)


def test_without_an_application_times_are_in_utc_and_suggestions_are_skipped_with_a_note(ada_client, brand, supervisor):
    shift = publish(supervisor, brand, at(local_day(), 9, ZoneInfo("UTC")))

    html = ada_client.get(PAGE).content.decode()

    assert "Times are in UTC: your application names no time zone." in text(html)
    assert "Your application has no weekly availability" in text(section(html, "suggested"))
    assert shift_ids(section(html, "suggested")) == []
    assert "09:00–13:00" in text(section(html, "open-shifts"))
    assert shift_ids(section(html, "open-shifts")) == [shift.pk]


def test_with_a_time_zone_but_no_grid_times_are_local_and_suggestions_are_skipped(ada_client, agent, brand, supervisor):
    give_week(agent, zone="Europe/Stockholm", blocks=None)
    publish(supervisor, brand, at(local_day(), 9))

    html = ada_client.get(PAGE).content.decode()

    assert "Europe/Stockholm" in text(html)
    assert 'data-testid="suggested-none"' in html
    assert "09:00–13:00" in text(section(html, "open-shifts"))


# --- Listing and filters ------------------------------------------------------------------------


def test_each_open_shift_shows_its_date_brand_languages_skills_pay_and_places(ada_client, agent, brand, supervisor):
    give_week(agent)
    agent.skills.create(code="cards")
    agent.languages.create(code="sv")
    day = local_day()
    paid = publish(
        supervisor,
        brand,
        at(day, 9),
        languages=["en", "sv"],
        skills=["cards"],
        slots=3,
        hourly_floor_minor=40000,
        bonus_per_case_minor=1000,
    )
    services.shift_book(agent=AgentFactory(brands=[brand], skills=["cards"]), shift_id=paid.pk)
    full = publish(supervisor, brand, at(day, 14), slots=1)
    services.shift_book(agent=AgentFactory(brands=[brand]), shift_id=full.pk)

    open_shifts = section(ada_client.get(PAGE).content.decode(), "open-shifts")

    first, second = re.split(r'(?=<li class="shift-card")', open_shifts)[1:3]
    first_text = text(first)
    assert f"{day:%a} {day.day} {day:%b}, 09:00–13:00" in first_text
    assert "Acme" in first_text
    assert "Languages: English, Swedish" in first_text
    assert "Skills: Cards" in first_text
    assert "At least SEK 400.00 an hour while available" in first_text
    assert "+SEK 10.00 per case" in first_text
    assert "2 of 3 left" in first_text
    assert 'data-testid="shift-book"' in first
    assert "Full" in text(second) and "Usual pay per case" in text(second)
    assert 'data-testid="shift-book"' not in second


def test_an_empty_list_says_new_shifts_appear_here(ada_client):
    html = ada_client.get(PAGE).content.decode()
    assert "No open shifts in the next two weeks — new ones appear here." in text(html)
    assert "No upcoming shifts." in text(html)


def test_filters_by_brand_language_and_day(ada_client, agent, brand, other_brand, supervisor):
    give_week(agent)
    agent.brands.add(other_brand)
    agent.languages.create(code="sv")
    other_brand.supervisors.add(supervisor)
    first, second, third = local_day(2), local_day(3), local_day(4)
    acme_en = publish(supervisor, brand, at(first, 9))
    globex_sv = publish(supervisor, other_brand, at(second, 9), languages=["sv"])
    acme_sv = publish(supervisor, brand, at(third, 9), languages=["sv", "de"])

    def listed(query: str) -> list[int]:
        return shift_ids(section(ada_client.get(f"{PAGE}?{query}").content.decode(), "open-shifts"))

    assert listed("") == [acme_en.pk, globex_sv.pk, acme_sv.pk]
    assert listed("brand=acme") == [acme_en.pk, acme_sv.pk]
    assert listed("language=sv") == [globex_sv.pk, acme_sv.pk]
    assert listed("brand=acme&language=sv") == [acme_sv.pk]
    assert listed(f"day={second.isoformat()}") == [globex_sv.pk]
    # A brand the agent is not certified for, or a language they do not speak, is ignored.
    assert listed("brand=nobody&language=de") == [acme_en.pk, globex_sv.pk, acme_sv.pk]
    html = ada_client.get(f"{PAGE}?day=not-a-date").content.decode()
    assert "That is not a date; showing the next two weeks." in text(html)
    assert len(shift_ids(section(html, "open-shifts"))) == 3
    empty = ada_client.get(f"{PAGE}?brand=globex&language=en").content.decode()
    assert "No open shifts match these filters." in text(empty)


def test_the_day_filter_is_the_agents_local_day(ada_client, agent, brand, supervisor):
    give_week(agent, zone="Pacific/Auckland")
    auckland = ZoneInfo("Pacific/Auckland")
    day = (timezone.now().astimezone(auckland) + timedelta(days=3)).date()
    # 08:00 in Auckland is the previous day in UTC.
    morning = publish(supervisor, brand, at(day, 8, auckland))
    assert morning.starts_at.astimezone(ZoneInfo("UTC")).date() != day

    html = ada_client.get(f"{PAGE}?day={day.isoformat()}").content.decode()

    assert shift_ids(section(html, "open-shifts")) == [morning.pk]


# --- Booking and cancelling through the page ----------------------------------------------------


def test_an_agent_books_a_shift_through_the_page_and_sees_it_under_my_shifts(ada_client, agent, brand, supervisor):
    give_week(agent)
    day = local_day()
    shift = publish(supervisor, brand, at(day, 9))

    response = ada_client.post(f"/agent/shifts/{shift.pk}/book/", {"brand": "acme"})

    assert response.status_code == 302 and response["Location"] == f"{PAGE}?brand=acme"
    booking = ShiftBooking.objects.get(agent=agent, shift=shift)
    assert booking.status == "booked"
    page = ada_client.get(response["Location"])
    assert flashes(page) == [("", f"Booked: Acme, {day:%a} {day.day} {day:%b}, 09:00–13:00 (Europe/Stockholm).")]
    html = page.content.decode()
    listed = section(html, "open-shifts")
    assert 'data-state="booked"' in listed and 'data-testid="shift-booked"' in listed
    assert f'action="/agent/bookings/{booking.pk}/cancel/"' in listed
    mine = section(html, "my-shifts")
    assert f'data-booking="{booking.pk}"' in mine and "Booked" in text(mine)
    assert shift_ids(section(html, "suggested")) == []  # booked: nothing to suggest


def test_cancelling_outside_the_cutoff_is_free_and_immediate(ada_client, agent, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=3))
    booking = services.shift_book(agent=agent, shift_id=shift.pk)

    response = ada_client.post(f"/agent/bookings/{booking.pk}/cancel/", follow=True)

    booking.refresh_from_db()
    assert (booking.status, booking.late) == ("cancelled", False)
    [(code, message)] = flashes(response)
    assert code == "" and message.startswith("Cancelled: Acme") and "free for someone else" in message
    html = response.content.decode()
    assert "Cancelled" in text(section(html, "my-shifts"))
    assert 'data-testid="reliability-empty"' in html


def test_cancelling_inside_the_cutoff_asks_first_saying_it_is_late(ada_client, agent, brand, supervisor):
    give_week(agent)
    shift = publish(supervisor, brand, timezone.now() + timedelta(hours=5))
    booking = services.shift_book(agent=agent, shift_id=shift.pk)
    listed = section(ada_client.get(PAGE).content.decode(), "my-shifts")
    assert "cancelling now is late" in text(listed)

    asked = ada_client.post(f"/agent/bookings/{booking.pk}/cancel/", {"language": "en"})

    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Cancelling now is late: the shift starts within 12 hours." in text(html)
    assert "lowers your reliability a little" in text(html)
    assert 'name="confirm" value="late"' in html and 'name="language" value="en"' in html
    booking.refresh_from_db()
    assert booking.status == "booked"  # nothing happens before the agent confirms

    done = ada_client.post(f"/agent/bookings/{booking.pk}/cancel/", {"confirm": "late", "language": "en"})

    assert done["Location"] == f"{PAGE}?language=en"
    booking.refresh_from_db()
    assert (booking.status, booking.late) == ("cancelled", True)
    page = ada_client.get(done["Location"])
    [(code, message)] = flashes(page)
    assert code == "" and message.startswith("Cancelled late: Acme")
    html = page.content.decode()
    assert "Cancelled, late" in text(section(html, "my-shifts"))
    events = section(html, "reliability")
    assert 'data-kind="late_cancel"' in events and "Late cancellation" in text(events)


# --- Refusals -------------------------------------------------------------------------------------


BOOK_REFUSALS = {
    "full": "shift_full",
    "overlap": "shift_overlap",
    "started": "shift_started",
    "cancelled": "shift_cancelled",
    "twice": "already_booked",
    "ineligible": "shift_not_eligible",
    "missing": "shift_not_found",
}


@pytest.mark.parametrize("case", list(BOOK_REFUSALS))
def test_a_refused_booking_is_shown_as_a_message_and_changes_nothing(
    ada_client, agent, agent2, brand, supervisor, case
):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    target = shift.pk
    if case == "full":
        Shift.objects.filter(pk=shift.pk).update(slots=1)
        services.shift_book(agent=agent2, shift_id=shift.pk)
    elif case == "overlap":
        other = publish(supervisor, brand, shift.starts_at + timedelta(hours=2))
        services.shift_book(agent=agent, shift_id=other.pk)
    elif case == "started":
        Shift.objects.filter(pk=shift.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    elif case == "cancelled":
        services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Low volume")
    elif case == "twice":
        services.shift_book(agent=agent, shift_id=shift.pk)
    elif case == "ineligible":
        Shift.objects.filter(pk=shift.pk).update(skills=["mortgages"])
    elif case == "missing":
        target = shift.pk + 1000
    before = snapshot()

    response = ada_client.post(f"/agent/shifts/{target}/book/", follow=True)

    assert snapshot() == before
    [(code, message)] = flashes(response)
    assert code == BOOK_REFUSALS[case] and message


CANCEL_REFUSALS = {"someone_elses": "booking_not_found", "cancelled": "booking_not_active", "started": "shift_started"}


@pytest.mark.parametrize("case", list(CANCEL_REFUSALS))
def test_a_refused_cancellation_is_shown_as_a_message_and_changes_nothing(
    ada_client, agent, agent2, brand, supervisor, case
):
    shift = publish(supervisor, brand, timezone.now() + timedelta(hours=3))
    booking = services.shift_book(agent=agent2 if case == "someone_elses" else agent, shift_id=shift.pk)
    if case == "cancelled":
        services.booking_cancel(agent=agent, booking_id=booking.pk)
    elif case == "started":
        ShiftBooking.objects.filter(pk=booking.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    before = snapshot()

    # Confirmed straight away, as a stale confirmation page would send it.
    response = ada_client.post(f"/agent/bookings/{booking.pk}/cancel/", {"confirm": "late"}, follow=True)

    assert snapshot() == before
    [(code, message)] = flashes(response)
    assert code == CANCEL_REFUSALS[case] and message
    if case == "someone_elses":
        assert message == "You have no such booking."


def test_a_late_cancel_of_someone_elses_booking_gets_no_confirmation_page(ada_client, agent2, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(hours=3))
    booking = services.shift_book(agent=agent2, shift_id=shift.pk)

    response = ada_client.post(f"/agent/bookings/{booking.pk}/cancel/")

    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "booked"


# --- Reliability ---------------------------------------------------------------------------------------


def test_reliability_shows_the_score_and_each_event_with_what_it_costs_now(ada_client, agent, brand):
    give_week(agent)
    past = Shift.objects.create(
        brand=brand,
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() - timedelta(days=1) + timedelta(hours=2),
        languages=["en"],
        slots=1,
    )
    ShiftBooking.objects.create(
        shift=past, agent=agent, starts_at=past.starts_at, ends_at=past.ends_at, status="no_show"
    )

    html = ada_client.get(PAGE).content.decode()

    reliability = section(html, "reliability")
    assert 'data-kind="no_show"' in reliability and "No-show" in text(reliability)
    cost = re.search(r"−(\d+\.\d) points now", text(reliability))
    assert cost and 14 < float(cost.group(1)) <= 15
    score = re.search(r'data-testid="reliability-score">([\d.]+)<', reliability)
    assert score and 85 <= float(score.group(1)) < 86
    assert "old events weigh less" in text(reliability) and "never bans you automatically" in text(reliability)
    assert "No-show" in text(section(html, "my-shifts"))


def test_without_events_reliability_is_100_with_an_empty_state(ada_client):
    reliability = section(ada_client.get(PAGE).content.decode(), "reliability")
    assert 'data-testid="reliability-score">100<' in reliability
    assert "No late cancellations or no-shows." in text(reliability)


def test_a_shift_the_brand_cancelled_shows_in_the_history_with_its_reason(ada_client, agent, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    services.shift_book(agent=agent, shift_id=shift.pk)
    services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Low volume")

    html = ada_client.get(PAGE).content.decode()

    history = text(section(html, "my-shifts"))
    assert "Cancelled by the brand" in history and "Reason: Low volume" in history
    assert 'data-testid="reliability-empty"' in html  # not the agent's doing


# --- The agent app links here; outsiders ----------------------------------------------------------------


def test_the_agent_app_links_to_shifts(ada_client):
    html = ada_client.get("/agent/").content.decode()
    assert f'href="{PAGE}"' in html and 'data-testid="shifts-link"' in html


def test_an_anonymous_visitor_is_sent_to_log_in_and_books_nothing(client, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    for response in (client.get(PAGE), client.post(f"/agent/shifts/{shift.pk}/book/")):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not ShiftBooking.objects.exists()


def test_someone_without_an_agent_profile_gets_403(client, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    client.force_login(UserFactory())
    page = client.get(PAGE)
    assert page.status_code == 403 and 'data-testid="not-agent"' in page.content.decode()
    assert client.post(f"/agent/shifts/{shift.pk}/book/").status_code == 403
    assert client.post("/agent/bookings/1/cancel/").status_code == 403
    assert not ShiftBooking.objects.exists()


def test_an_agent_never_sees_another_agents_bookings(ada_client, agent2, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    theirs = services.shift_book(agent=agent2, shift_id=shift.pk)

    html = ada_client.get(PAGE).content.decode()

    assert f'data-booking="{theirs.pk}"' not in html
    assert f"/agent/bookings/{theirs.pk}/cancel/" not in html
    assert 'data-testid="upcoming-empty"' in html
    listed = section(html, "open-shifts")
    assert 'data-state="open"' in listed and "2 of 3 left" in text(listed)


def test_the_page_only_answers_get_and_the_actions_only_post(ada_client, brand, supervisor):
    shift = publish(supervisor, brand, timezone.now() + timedelta(days=2))
    assert ada_client.post(PAGE).status_code == 405
    assert ada_client.get(f"/agent/shifts/{shift.pk}/book/").status_code == 405
    assert not ShiftBooking.objects.exists()
