"""The shifts screen on a phone (390x844, Debian's Chromium, the real ASGI server): the agent
opens Shifts from the agent app, finds a shift suggested from their week, books it, sees it
under My shifts, cancels it for free, and cancels a shift starting soon only after the page
has said it is late. No page scrolls sideways."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents.models import Application
from tasks import services
from tasks.models import ShiftBooking
from tasks.shift_week import DAY_KEYS

from .factories import AgentFactory
from .live import asgi_server
from .test_browser_agent_app import phone_page
from .test_browser_story import SHOTS, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def publish(supervisor, brand, starts_at: datetime, hours: float = 4, **extra):
    fields = {"languages": ["en"], "skills": [], "slots": 3, **extra}
    shift_terms = services.ShiftTerms(starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), **fields)
    return services.shift_publish(user=supervisor, brand=brand, terms=shift_terms)[0]


def test_an_agent_books_a_suggested_shift_on_a_phone_and_cancels_a_late_one_after_the_warning(
    browser,  # noqa: F811
    brand,
    supervisor,
):
    from playwright.sync_api import expect

    agent = AgentFactory(brands=[brand], display_name="Ada", user__email="ada.shifts@example.test", skills=["cards"])
    day = (timezone.now().astimezone(STOCKHOLM) + timedelta(days=3)).date()
    Application.objects.create(
        user=agent.user,
        status=Application.Status.APPROVED,
        answers={
            "profile": {"display_name": "Ada", "time_zone": "Europe/Stockholm"},
            "availability": {"slots": [f"{DAY_KEYS[day.weekday()]}-morning"]},
        },
    )
    morning = publish(
        supervisor,
        brand,
        datetime.combine(day, time(7), tzinfo=STOCKHOLM),
        skills=["cards"],
        hourly_floor_minor=40000,
        bonus_per_case_minor=1000,
    )
    evening = publish(supervisor, brand, datetime.combine(day, time(18), tzinfo=STOCKHOLM), slots=1)
    services.shift_book(agent=AgentFactory(brands=[brand]), shift_id=evening.pk)  # full
    soon = publish(supervisor, brand, timezone.now() + timedelta(hours=5), hours=2)
    late_one = services.shift_book(agent=agent, shift_id=soon.pk)

    SHOTS.mkdir(parents=True, exist_ok=True)
    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent)
        link = page.get_by_test_id("shifts-link")
        expect(link).to_be_visible()
        assert link.bounding_box()["height"] >= 44
        link.click()
        page.wait_for_url(f"{base}/agent/shifts/")

        expect(page.get_by_test_id("time-zone")).to_contain_text("Europe/Stockholm")
        suggested = page.get_by_test_id("suggested").get_by_test_id("shift")
        expect(suggested).to_have_count(1)
        expect(suggested.get_by_test_id("shift-when")).to_contain_text("07:00–11:00")
        expect(suggested.get_by_test_id("shift-pay")).to_contain_text("At least SEK 400.00 an hour")
        expect(suggested.get_by_test_id("shift-pay")).to_contain_text("+SEK 10.00 per case")
        expect(suggested.get_by_test_id("shift-places")).to_have_text("3 of 3 left")
        listed = page.get_by_test_id("open-shifts").get_by_test_id("shift")
        expect(listed).to_have_count(3)
        expect(page.locator(f'[data-testid=open-shifts] [data-shift="{evening.pk}"]')).to_contain_text("Full")
        expect(page.get_by_test_id("reliability-score")).to_have_text("100")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the shifts screen scrolls sideways at 390 px"
        book = suggested.get_by_test_id("shift-book")
        assert book.bounding_box()["height"] >= 44
        page.screenshot(path=str(SHOTS / "shifts-list.png"), full_page=True)

        book.click()
        page.wait_for_url(f"{base}/agent/shifts/")
        expect(page.get_by_test_id("flash")).to_contain_text("Booked: Acme")
        expect(page.get_by_test_id("flash")).to_contain_text("07:00–11:00 (Europe/Stockholm)")
        booking = ShiftBooking.objects.get(agent=agent, shift=morning)
        row = page.locator(f'[data-testid=booking][data-booking="{booking.pk}"]')
        expect(row.get_by_test_id("booking-status")).to_have_text("Booked")
        expect(page.locator(f'[data-testid=open-shifts] [data-shift="{morning.pk}"]')).to_have_attribute(
            "data-state", "booked"
        )
        expect(page.get_by_test_id("suggested-empty")).to_be_visible()
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.screenshot(path=str(SHOTS / "shifts-booked.png"), full_page=True)

        # Three days ahead: cancelled at once, for free.
        row.get_by_test_id("booking-cancel").click()
        page.wait_for_url(f"{base}/agent/shifts/")
        expect(page.get_by_test_id("flash")).to_contain_text("Cancelled: Acme")
        booking.refresh_from_db()
        assert (booking.status, booking.late) == ("cancelled", False)
        expect(page.get_by_test_id("reliability-empty")).to_be_visible()

        # Five hours ahead: the page says it is late before anything happens.
        late_row = page.locator(f'[data-testid=booking][data-booking="{late_one.pk}"]')
        expect(late_row.get_by_test_id("booking-late-hint")).to_be_visible()
        late_row.get_by_test_id("booking-cancel").click()
        expect(page.get_by_test_id("late-warning")).to_contain_text("Cancelling now is late")
        late_one.refresh_from_db()
        assert late_one.status == "booked"
        confirm = page.get_by_test_id("cancel-confirm")
        expect(confirm).to_be_in_viewport()
        assert confirm.bounding_box()["height"] >= 44
        assert page.get_by_test_id("cancel-keep").bounding_box()["height"] >= 44
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the late-cancel confirmation scrolls sideways at 390 px"
        page.screenshot(path=str(SHOTS / "shifts-cancel-late.png"))

        confirm.click()
        page.wait_for_url(f"{base}/agent/shifts/")
        expect(page.get_by_test_id("flash")).to_contain_text("Cancelled late: Acme")
        late_one.refresh_from_db()
        assert (late_one.status, late_one.late) == ("cancelled", True)
        expect(page.get_by_test_id("reliability-event")).to_have_count(1)
        expect(page.get_by_test_id("event-kind")).to_have_text("Late cancellation")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
