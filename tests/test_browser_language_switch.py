"""The agent app and the customer chat have no footer; on a phone (390x844, Debian's
Chromium, the real ASGI server) their language switcher is still in reach, 44px to tap,
and switching reloads the page in the chosen language."""

import pytest

from .factories import TicketFactory
from .live import asgi_server
from .test_browser_agent_app import phone_page, shot
from .test_browser_story import PHONE, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

TAP = 44


def assert_tappable(locator) -> None:
    box = locator.bounding_box()
    assert box is not None, "not on screen"
    assert box["height"] >= TAP and box["width"] >= TAP, box


def test_an_agent_switches_the_app_to_english_from_the_status_panel(browser, agent):  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE")
    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent, context=context)
        expect(page.get_by_test_id("status-available")).to_have_text("Tillgänglig")
        switch = page.get_by_test_id("presence").get_by_test_id("language-switch")
        expect(switch).to_be_visible()
        expect(page.get_by_test_id("language-sv")).to_be_disabled()
        assert_tappable(page.get_by_test_id("language-en"))
        switch.scroll_into_view_if_needed()
        shot(page, "i18n-agent-app-sv")

        page.get_by_test_id("language-en").click()

        expect(page.get_by_test_id("status-available")).to_have_text("Available")
        assert page.locator("html").get_attribute("lang") == "en"
        expect(page.get_by_test_id("language-en")).to_be_disabled()


def test_a_customer_finds_the_switcher_under_the_composer(browser, brand):  # noqa: F811
    from playwright.sync_api import expect

    ticket = TicketFactory(brand=brand, language="sv")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    with asgi_server(sweeper=False) as base:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/chat/{ticket.customer_token}/")
        expect(page.get_by_test_id("message-send")).to_have_text("Skicka")
        switch = page.get_by_test_id("language-switch")
        switch.scroll_into_view_if_needed()
        expect(switch).to_be_in_viewport()
        composer = page.get_by_test_id("composer").bounding_box()
        below = switch.bounding_box()
        assert composer and below and below["y"] >= composer["y"] + composer["height"] - 1
        assert_tappable(page.get_by_test_id("language-en"))
        shot(page, "i18n-customer-chat-sv")

        page.get_by_test_id("language-en").click()

        expect(page.get_by_test_id("message-send")).to_have_text("Send")
        assert page.locator("html").get_attribute("lang") == "en"
