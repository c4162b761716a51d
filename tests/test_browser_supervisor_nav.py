"""A supervisor runs a shift from the home in a real browser: the navigation bar takes them to
the agents directory, a search finds an agent, the agent's page opens, and the audit log
filters by action. Then the home, the directory, the agent's page and the audit log are opened
on a 1024px tablet and a 390px phone, where none scrolls sideways and every tap target is
44px; axe-core finds no serious or critical problem. Screenshots:
test-output/screenshots/supervisor-nav-*.png."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from agents.models import AgentStatusChange
from marketplace.models import AuditEvent

from .a11y import assert_accessible, small_tap_targets
from .factories import PASSWORD, AgentFactory, TicketFactory
from .live import asgi_server
from .payouts_helpers import fund
from .test_browser_story import SHOTS, browser, shot  # noqa: F401  (fixture)
from .test_supervisor_nav_pages import worked

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_a_supervisor_finds_an_agent_and_reads_the_audit_log_on_a_desktop_a_tablet_and_a_phone(
    browser,  # noqa: F811
    supervisor,
    brand,
):
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    ada = AgentFactory(brands=[brand], display_name="Ada Lindqvist-Montgomery", user__email="ada@example.test")
    for n in range(3):
        AgentFactory(brands=[brand], display_name=f"Bo {n}", available=True)
    worked(ada, brand, subject="My parcel from order 100234 never arrived and nobody answers", rating=2)
    AgentStatusChange.objects.create(agent=ada, status="available", at=timezone.now() - timedelta(hours=1))
    fund(ada, brand, 12_500)
    TicketFactory(brand=brand)
    for action, detail in [
        ("review.scored", {"percent": "62.50", "feedback": "Ask the carrier before closing the case next time."}),
        ("payouts.batch_approve", {"currency": "SEK", "payouts": 3, "total_minor": 420000}),
    ]:
        AuditEvent.objects.create(
            actor=supervisor, action=action, brand=brand, target_type="agents.review", target_id="12", detail=detail
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
        expect(page.get_by_test_id("brand-tickets-waiting")).to_have_text("1")
        expect(page.get_by_test_id("brand-agents-online")).to_have_text("3")
        expect(page.get_by_test_id("nav-home")).to_have_attribute("aria-current", "page")
        assert_accessible(page, "supervisor-nav-home")
        shot(page, "supervisor-nav-home")

        page.get_by_test_id("nav-agents").click()
        expect(page).to_have_url(f"{base}/supervisor/agents/")
        expect(page.get_by_test_id("agent-row")).to_have_count(4)
        page.get_by_test_id("search").fill("lindqvist")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_test_id("agent-row")).to_have_count(1)
        assert_accessible(page, "supervisor-nav-agents")
        shot(page, "supervisor-nav-agents")

        page.get_by_test_id("open-agent").click()
        expect(page).to_have_url(f"{base}/supervisor/agents/{ada.pk}/")
        expect(page.get_by_test_id("ticket-row")).to_have_count(1)
        expect(page.get_by_test_id("pay-available")).to_have_text("125.00 SEK")
        assert_accessible(page, "supervisor-nav-agent")
        page.screenshot(path=str(SHOTS / "supervisor-nav-agent-full.png"), full_page=True)

        page.get_by_test_id("nav-audit").click()
        expect(page.get_by_test_id("event-row")).to_have_count(2)
        page.get_by_test_id("action-filter").fill("review.")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_test_id("event-row")).to_have_count(1)
        expect(page.get_by_test_id("event-row")).to_contain_text("percent: 62.50")
        assert_accessible(page, "supervisor-nav-audit")
        shot(page, "supervisor-nav-audit")

        pages = {
            "home": "/supervisor/",
            "agents": "/supervisor/agents/",
            "agent": f"/supervisor/agents/{ada.pk}/",
            "audit": "/supervisor/audit/",
        }
        for size_name, size in (("tablet", TABLET), ("phone", PHONE)):
            page.set_viewport_size(size)
            for name, path in pages.items():
                page.goto(f"{base}{path}")
                assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways on a {size_name}"
                if size_name == "phone":
                    assert not small_tap_targets(page), (name, small_tap_targets(page))
                    assert_accessible(page, f"supervisor-nav-{name}-phone")
                page.screenshot(path=str(SHOTS / f"supervisor-nav-{name}-{size_name}.png"), full_page=True)
        context.close()
