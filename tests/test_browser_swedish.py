"""The apps in Swedish on phones (390x844, Debian's Chromium, the real ASGI server): a
Swedish agent's browser gets the agent app's script-built texts, money and numbers in
Swedish; a customer chat for a Swedish ticket is Swedish even in an English browser; the
switcher brings the app back to English; and the scripts still work when the script
catalogue does not load. The assertions are on what static/js builds (offer card, status
line, connection state, countdown); the templates' own words come from django.po."""

import re

import pytest

from .factories import AgentFactory
from .live import asgi_server
from .test_browser_agent_app import phone_page
from .test_browser_story import CHROMIUM, CHROMIUM_ARGS, PHONE, SHOTS, browser, hand_over, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NBSP = "\u00a0"


def test_swedish_agent_takes_an_offer_chats_and_resolves_and_the_switcher_brings_english_back(browser, brand, api_key):  # noqa: F811
    from playwright.sync_api import expect

    agent = AgentFactory(brands=[brand], display_name="Ada", user__email="ada-sv@example.test", languages=["sv", "en"])
    with asgi_server() as base:
        page = phone_page(
            browser,
            base,
            agent,
            context=browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE"),
        )
        expect(page.locator("html")).to_have_attribute("lang", "sv")
        expect(page.get_by_test_id("connection")).to_have_text("Ansluten")
        page.get_by_test_id("status-available").click()
        expect(page.get_by_test_id("status-current")).to_have_text("tillgänglig")
        expect(page.get_by_test_id("status-pill-text")).to_have_text("Tillgänglig")
        expect(page.get_by_test_id("empty-state-text")).to_have_text("Väntar på erbjudanden…")

        created = hand_over(
            base,
            api_key,
            customer={"external_id": "browser-sv", "name": "Maja Svensson"},
            language="sv",
            subject="Mitt kort nekades",
            priority="high",
            transcript=[{"role": "customer", "text": "Jag vill prata med en människa"}],
            summary="Kortet nekades två gånger i kassan.",
        )
        card = page.get_by_test_id("offer-card")
        expect(card).to_be_visible()
        # Money through Intl in the page's language: a decimal comma and "kr" after the figure.
        expect(card.get_by_test_id("offer-pay")).to_have_text(f"45,00{NBSP}kr")
        expect(card.get_by_test_id("offer-accept")).to_have_text("Acceptera")
        expect(card.get_by_test_id("offer-decline")).to_have_text("Avböj")
        expect(card.get_by_test_id("offer-countdown-unit")).to_have_text("s kvar")
        assert re.fullmatch(r"\d+", card.get_by_test_id("offer-countdown").text_content() or "")
        assert re.search(
            r"\d+ sekunder? kvar", card.get_by_test_id("offer-countdown").get_attribute("aria-label") or ""
        )
        expect(card.get_by_test_id("offer-waiting")).to_have_text(re.compile(r"^väntat \d+ s$"))
        expect(card.get_by_test_id("offer-priority")).to_have_text("hög")
        expect(card).to_contain_text("Nytt ärende · betalar")
        page.wait_for_timeout(400)  # the card's slide-in animation
        shot(page, "sv-agent-offer")

        card.get_by_test_id("offer-accept").click()
        expect(page.get_by_test_id("chat-view")).to_be_visible()
        expect(page.get_by_test_id("chat-pay")).to_have_text(f"45,00{NBSP}kr")
        expect(page.get_by_test_id("chat-summary")).to_have_text("Sammanfattning: Kortet nekades två gånger i kassan.")
        expect(page.get_by_test_id("transcript-toggle")).to_have_text("AI-samtal före överlämningen (1 replik)")
        expect(page.get_by_test_id("resolve")).to_have_text("Markera som löst")

        # The customer's browser speaks English; the chat follows the ticket's language.
        customer = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-US").new_page()
        customer.set_default_timeout(10_000)
        customer.goto(created["customer_chat_url"])
        expect(customer.locator("html")).to_have_attribute("lang", "sv")
        expect(customer.get_by_test_id("connection")).to_have_text("Ansluten")
        expect(customer.get_by_test_id("chat-status")).to_contain_text("Du chattar med Ada")
        expect(customer.get_by_test_id("message-input")).to_have_attribute("placeholder", "Skriv ett meddelande…")

        page.get_by_test_id("message-input").fill("Hej Maja, jag hjälper dig med kortet.")
        page.get_by_test_id("message-send").click()
        expect(customer.get_by_test_id("messages")).to_contain_text("jag hjälper dig med kortet")
        expect(customer.get_by_test_id("message").last.locator(".message-label")).to_have_text("Ada")
        customer.get_by_test_id("message-input").fill("Tack! Det står nekat.")
        customer.get_by_test_id("message-send").click()
        expect(page.get_by_test_id("messages")).to_contain_text("Det står nekat")
        # The agent's message was read by the customer: two ticks, titled in Swedish.
        expect(page.get_by_test_id("ticks").last).to_have_attribute("title", "Läst")
        expect(customer.get_by_test_id("ticks").last).to_have_attribute("title", re.compile("^(Levererat|Läst)$"))
        shot(page, "sv-agent-chat")
        shot(customer, "sv-customer-chat")

        resolve = page.get_by_test_id("resolve")
        resolve.click()
        expect(resolve).to_have_text("Ja, markera som löst")
        resolve.click()
        expect(page.get_by_test_id("earning-amount")).to_have_text(f"+45,00{NBSP}kr")
        expect(page.get_by_test_id("earning-detail")).to_contain_text("väntande till")
        expect(page.get_by_test_id("notice")).to_have_text("Löst: ärendet från Maja Svensson.")
        expect(customer.get_by_test_id("chat-status")).to_have_text("Ada markerade ärendet som löst. Hur gick det?")

        # The switcher (in the footer of the ordinary pages) brings the app back to English.
        page.goto(f"{base}/")
        page.get_by_test_id("language-en").click()
        page.goto(f"{base}/agent/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        expect(page.get_by_test_id("status-current")).to_have_text("available")
        expect(page.get_by_test_id("status-pill-text")).to_have_text("Available")


def test_the_apps_still_work_in_english_when_the_script_catalogue_does_not_load(browser, agent):  # noqa: F811
    from playwright.sync_api import expect

    with asgi_server(sweeper=False) as base:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE")
        context.route(re.compile(r".*/jsi18n/.*"), lambda route: route.abort())
        errors: list[str] = []
        context.on("weberror", lambda web_error: errors.append(str(web_error.error)))
        page = phone_page(browser, base, agent, context=context)
        # Without the catalogue the scripts' own (English) words stand, and nothing breaks.
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        page.get_by_test_id("status-available").click()
        expect(page.get_by_test_id("status-current")).to_have_text("available")
        expect(page.get_by_test_id("empty-state-text")).to_have_text("Waiting for offers…")
        assert errors == []
