"""A supervisor opens the analytics from their home page in a real browser, reads a day per
hour on a tablet (the charts drawn, the figures table scrolling inside its own box, the page
never sideways), selects a bar of the tickets-created chart and lands on the tickets behind
it, each a link to the supervisor's ticket page; the page also fits a phone. axe-core finds
no serious or critical problem. Screenshots: test-output/screenshots/supervisor-analytics-
tablet.png, supervisor-analytics-phone.png, supervisor-analytics-tickets.png."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from allauth.account.models import EmailAddress

from tasks import analytics_rollups
from tasks.models import Offer, Resolution, Ticket

from .a11y import assert_accessible, phone_context
from .factories import PASSWORD, TicketFactory
from .live import asgi_server
from .test_browser_story import browser, shot  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

TABLET = {"width": 820, "height": 1180}


def test_a_supervisor_reads_the_figures_and_opens_the_tickets_behind_a_bar(browser, supervisor, brand, agent):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    day = (datetime.now(tz=UTC) - timedelta(days=1)).date()
    ten = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    tickets = []
    for n in range(3):
        ticket = TicketFactory(brand=brand)
        created = ten + timedelta(minutes=10 * n)
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=created,
            status="closed",
            agent=agent,
            assigned_at=created + timedelta(seconds=40),
            resolved_at=created + timedelta(minutes=8),
        )
        offer = Offer.objects.create(
            ticket=ticket, agent=agent, state="accepted", pay_amount_minor=4500, currency="SEK", expires_at=created
        )
        Offer.objects.filter(pk=offer.pk).update(created_at=created + timedelta(seconds=20))
        Resolution.objects.create(
            ticket=ticket, agent=agent, number=1, resolved_at=created + timedelta(minutes=8), rating=5 - n
        )
        tickets.append(ticket.pk)
    analytics_rollups.rebuild(ten - timedelta(hours=10), ten + timedelta(hours=10))
    query = f"?granularity=hour&from={day}&to={day}"

    with asgi_server(SUPERVISOR_MFA_REQUIRED="false") as base:
        context = browser.new_context(viewport=TABLET, has_touch=True, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        expect(page).to_have_url(f"{base}/supervisor/")
        page.get_by_test_id("open-analytics").click()
        expect(page.get_by_test_id("analytics-filters")).to_be_visible()

        page.goto(f"{base}/supervisor/analytics/{query}")
        expect(page.get_by_test_id("figures-row")).to_have_count(1)
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('canvas[data-chart]')).filter((c) => Chart.getChart(c)).length"
        )
        assert drawn == page.locator("canvas[data-chart]").count() >= 8
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert_accessible(page, "supervisor-analytics")
        shot(page, "supervisor-analytics-tablet")

        # Select the only bar of the tickets-created chart.
        volume = page.locator("canvas[data-chart=volume]")
        volume.scroll_into_view_if_needed()
        point = page.evaluate(
            "() => { const bar = Chart.getChart(document.querySelector('canvas[data-chart=volume]'))"
            ".getDatasetMeta(0).data[0]; return {x: bar.x, y: bar.y + 5}; }"
        )
        box = volume.bounding_box()
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        expect(page).to_have_url(re.compile(r"/supervisor/analytics/tickets/\?.*figure=created"))
        rows = page.get_by_test_id("drilldown-ticket")
        expect(rows).to_have_count(3)
        assert [int(rows.nth(i).get_attribute("data-ticket")) for i in range(3)] == tickets
        expect(page.get_by_test_id("drilldown-count")).to_contain_text("3 tickets")
        assert page.get_attribute(f"[data-ticket='{tickets[0]}'] a", "href") == f"/supervisor/tickets/{tickets[0]}/"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert_accessible(page, "supervisor-analytics-tickets")
        shot(page, "supervisor-analytics-tickets")
        context.close()

        phone = phone_context(browser)
        small = phone.new_page()
        small.goto(f"{base}/accounts/login/")
        small.fill("input[name=login]", supervisor.email)
        small.fill("input[name=password]", PASSWORD)
        small.get_by_role("button", name="Sign In").click()
        small.goto(f"{base}/supervisor/analytics/{query}")
        expect(small.get_by_test_id("figures-row")).to_have_count(1)
        assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert_accessible(small, "supervisor-analytics-phone")
        shot(small, "supervisor-analytics-phone")
        phone.close()
