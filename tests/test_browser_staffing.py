"""A supervisor opens the staffing plan from their home page in a real browser at desktop
size, sees a short hour marked, moves to the next week and uses the calculator; the week
grid also works on a tablet (it scrolls inside its own box, the page does not). axe-core
finds no serious or critical problem. Screenshots: test-output/screenshots/
supervisor-staffing.png, supervisor-staffing-calculator.png, supervisor-staffing-tablet.png."""

from datetime import UTC, datetime, time, timedelta

import pytest
from allauth.account.models import EmailAddress

from tasks.models import Shift, ShiftBooking, Ticket

from .a11y import assert_accessible
from .factories import PASSWORD, AgentFactory, TicketFactory
from .live import asgi_server
from .test_browser_story import browser, shot  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


def test_a_supervisor_reads_the_week_and_uses_the_calculator(browser, supervisor, brand):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    today = datetime.now(tz=UTC).date()
    monday = today - timedelta(days=today.weekday())
    wednesday = monday + timedelta(days=2)
    for n in range(60):
        ticket = TicketFactory(brand=brand)
        created = datetime.combine(wednesday - timedelta(weeks=1 + n % 4), time(13, n), tzinfo=UTC)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    starts = datetime.combine(wednesday, time(13), tzinfo=UTC)
    shift = Shift.objects.create(
        brand=brand, starts_at=starts, ends_at=starts + timedelta(hours=2), languages=["en"], slots=3, booked=1
    )
    ShiftBooking.objects.create(
        shift=shift, agent=AgentFactory(brands=[brand]), starts_at=shift.starts_at, ends_at=shift.ends_at
    )

    with asgi_server(SUPERVISOR_MFA_REQUIRED="false") as base:
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        expect(page).to_have_url(f"{base}/supervisor/")

        page.get_by_test_id("open-staffing").click()
        expect(page.get_by_test_id("staffing-cell")).to_have_count(7 * 24)
        short = page.locator("[data-testid=staffing-cell][data-gap]")
        expect(short).to_have_count(1)
        expect(short).to_contain_text("short")
        short.scroll_into_view_if_needed()
        assert_accessible(page, "supervisor-staffing")
        shot(page, "supervisor-staffing")

        page.get_by_test_id("next-week").click()
        expect(page.get_by_test_id("staffing-week")).to_have_value(
            "{}-W{:02d}".format(*(monday + timedelta(weeks=1)).isocalendar()[:2])
        )

        page.fill("input[name=calc-arrivals_per_hour]", "200")
        page.fill("input[name=calc-aht_seconds]", "180")
        page.fill("input[name=calc-target_seconds]", "20")
        page.fill("input[name=calc-target_percent]", "80")
        page.get_by_test_id("calculate").click()
        expect(page.get_by_test_id("result-agents")).to_have_text("14")
        expect(page.get_by_test_id("staffing-cell")).to_have_count(7 * 24)  # still the same week
        assert_accessible(page, "supervisor-staffing-calculator")
        page.get_by_test_id("calculator-result").scroll_into_view_if_needed()
        shot(page, "supervisor-staffing-calculator")

        tablet = context.new_page()
        tablet.set_viewport_size(TABLET)
        tablet.goto(f"{base}/supervisor/staffing/")
        expect(tablet.get_by_test_id("staffing-cell")).to_have_count(7 * 24)
        assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(tablet, "supervisor-staffing-tablet")
        context.close()
