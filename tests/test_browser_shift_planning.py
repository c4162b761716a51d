"""A supervisor plans next week's shifts in a real browser at desktop size: publishes a
weekly pattern, boosts a shift, sees a refusal next to its field; the page also fits a
tablet. axe-core finds no serious or critical problem. Screenshots:
test-output/screenshots/supervisor-shifts.png (desktop) and supervisor-shifts-tablet.png."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress

from agents.models import AgentProfile
from tasks import services
from tasks.models import Shift

from .a11y import assert_accessible
from .factories import PASSWORD, AgentFactory
from .live import asgi_server
from .test_browser_story import browser, shot  # noqa: F401  (fixture)
from .test_shift_planning import at, next_monday, publish

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


def test_a_supervisor_publishes_a_weekly_shift_and_boosts_one(browser, supervisor, brand):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    monday = next_monday()
    booked = publish(supervisor, brand, start=at(monday + timedelta(days=2), 13), bonus_per_case_minor=1000)
    services.shift_book(agent=AgentFactory(brands=[brand]), shift_id=booked.pk)

    with asgi_server(SUPERVISOR_MFA_REQUIRED="false") as base:
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.get_by_test_id("open-shifts").click()
        page.get_by_test_id("week-next").click()

        form = page.get_by_test_id("publish-form")
        form.get_by_label("Date").fill((monday + timedelta(days=1)).isoformat())
        form.get_by_label("Starts").fill("09:00")
        form.get_by_label("Ends").fill("09:00")
        form.get_by_label("Swedish").check()
        form.get_by_label("English").check()
        form.get_by_label("Hourly floor").fill("400")
        form.get_by_label("Repeat for weeks").fill("4")
        form.get_by_test_id("publish").click()
        expect(page.get_by_test_id("field-end_time")).to_contain_text("A shift must end after it starts.")
        expect(page.get_by_test_id("field-hourly_floor").locator("input")).to_have_value("400")

        page.get_by_test_id("publish-form").get_by_label("Ends").fill("13:00")
        page.get_by_test_id("publish-form").get_by_test_id("publish").click()
        expect(page.get_by_test_id("flash-messages")).to_contain_text("4 shifts published")
        expect(page.get_by_test_id("shift")).to_have_count(2)
        assert Shift.objects.count() == 5

        row = page.locator(f'[data-testid=shift][data-shift="{booked.pk}"]')
        row.get_by_test_id("boost").click()
        expect(page.locator(f'[data-testid=shift][data-shift="{booked.pk}"]')).to_contain_text("+20.00 SEK per case")
        page.locator(f'[data-testid=shift][data-shift="{booked.pk}"]').get_by_test_id("edit-open").click()
        assert_accessible(page, "supervisor-shifts")
        shot(page, "supervisor-shifts")

        page.set_viewport_size(TABLET)
        page.reload()
        assert_accessible(page, "supervisor-shifts-tablet")
        shot(page, "supervisor-shifts-tablet")
        context.close()


def test_an_agent_sees_a_new_weekly_shift_as_one_notice_linking_to_their_shifts(browser, supervisor, brand):  # noqa: F811
    from playwright.sync_api import expect

    from .test_browser_agent_app import phone_page

    agent = AgentFactory(brands=[brand], languages=["sv"])
    with asgi_server() as base:
        page = phone_page(browser, base, agent)
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        # The socket is recorded just after its snapshot is sent; a new shift is pushed to
        # agents with a recorded socket.
        for _ in range(100):
            if AgentProfile.objects.filter(pk=agent.pk, connections__gt=0).exists():
                break
            page.wait_for_timeout(100)

        # From another thread: Playwright's loop runs in this one, where the push after
        # commit cannot run its own.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                services.shift_publish,
                user=supervisor,
                brand=brand,
                terms=services.ShiftTerms(
                    starts_at=at(next_monday() + timedelta(days=1), 9),
                    ends_at=at(next_monday() + timedelta(days=1), 13),
                    languages=["en", "sv"],
                    skills=[],
                    slots=3,
                    hourly_floor_minor=40000,
                ),
                weeks=3,
                time_zone="Europe/Stockholm",
            ).result()

        notice = page.get_by_test_id("notice")
        expect(notice).to_contain_text("New shift: Tue")
        expect(notice).to_contain_text("SEK 400.00/h floor (and 2 more weeks)")
        expect(page.get_by_test_id("notice-shifts-link")).to_have_attribute("href", "/agent/shifts/")
        shot(page, "agent-new-shift-notice")
        page.context.close()
