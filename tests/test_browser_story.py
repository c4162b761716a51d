"""The whole story in a real browser at a phone viewport: Debian's Chromium driven by
Playwright, against the real ASGI server. Screenshots go to test-output/screenshots/."""

import json
import urllib.request
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from payouts.models import Earning
from tasks.models import Ticket

from .factories import PASSWORD
from .live import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the
    # test makes between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (make test installs it): apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def hand_over(base: str, api_key: str, **fields) -> dict:
    """Hand a conversation over through the brand API; `fields` replace the defaults."""
    body = {
        "customer": {"external_id": "browser-1", "name": "Maja Svensson"},
        "language": "en",
        "subject": "My card was declined",
        "category": "cards",
        "transcript": [{"role": "customer", "text": "I want to talk to a person"}],
        "summary": "Card declined twice at checkout.",
        **fields,
    }
    request = urllib.request.Request(
        f"{base}/api/v1/tickets/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_agent_and_customer_walk_the_whole_story_on_phones(browser, agent, api_key):
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=agent.user, email=agent.user.email, verified=True, primary=True)
    with asgi_server() as base:
        agent_page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
        agent_page.set_default_timeout(10_000)
        agent_page.goto(f"{base}/accounts/login/")
        shot(agent_page, "01-login")
        agent_page.fill("input[name=login]", agent.user.email)
        agent_page.fill("input[name=password]", PASSWORD)
        agent_page.click("form [type=submit]")
        agent_page.wait_for_url(f"{base}/agent/")
        expect(agent_page.get_by_test_id("connection")).to_have_text("Connected")  # not "Disconnected"
        shot(agent_page, "02-agent-offline")

        agent_page.get_by_test_id("status-available").click()
        expect(agent_page.get_by_test_id("status-current")).to_have_attribute("data-status", "available")
        expect(agent_page.get_by_test_id("status-current")).to_have_text("available")
        shot(agent_page, "03-agent-available")

        created = hand_over(base, api_key)
        card = agent_page.get_by_test_id("offer-card")
        expect(card).to_be_visible()
        expect(card.get_by_test_id("offer-pay")).to_have_text("SEK 45.00")
        expect(card).to_contain_text("My card was declined")
        expect(card.get_by_test_id("offer-countdown")).to_be_visible()
        shot(agent_page, "04-agent-offer")

        card.get_by_test_id("offer-accept").click()
        chat = agent_page.get_by_test_id("chat-view")
        expect(chat).to_be_visible()
        expect(chat).to_contain_text("Maja Svensson")
        shot(agent_page, "05-agent-chat")

        customer_page = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
        customer_page.set_default_timeout(10_000)
        customer_page.goto(created["customer_chat_url"])
        expect(customer_page.get_by_test_id("agent-name")).to_contain_text(agent.display_name)
        shot(customer_page, "06-customer-connected")

        agent_page.get_by_test_id("message-input").fill("Hi Maja, I can help with your card.")
        agent_page.get_by_test_id("message-send").click()
        expect(customer_page.get_by_test_id("messages")).to_contain_text("I can help with your card")

        customer_page.get_by_test_id("message-input").fill("Thanks! It says declined.")
        customer_page.get_by_test_id("message-send").click()
        expect(agent_page.get_by_test_id("messages")).to_contain_text("It says declined")
        shot(agent_page, "07-agent-conversation")
        shot(customer_page, "08-customer-conversation")

        resolve = agent_page.get_by_test_id("resolve")
        resolve.click()
        resolve.click()  # second click confirms
        rating = customer_page.get_by_test_id("rating")
        expect(rating).to_be_visible()
        shot(customer_page, "09-customer-rate")
        shot(agent_page, "10-agent-after-resolve")

        customer_page.get_by_test_id("rate-5").click()
        customer_page.get_by_test_id("rate-submit").click()
        expect(customer_page.get_by_test_id("chat-status")).to_have_attribute("data-status", "closed")
        expect(customer_page.get_by_test_id("rated-score")).to_have_text("5")
        shot(customer_page, "11-customer-thanks")

    ticket = Ticket.objects.get(pk=created["id"])
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating == 5
    assert Earning.objects.get(ticket=ticket).amount_minor == 4500
    assert list(ticket.messages.values_list("sender", flat=True)) == ["agent", "customer"]
