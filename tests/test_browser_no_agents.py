"""A customer who arrives while nobody who speaks their language is online is told so on
their phone, and leaves a message and an e-mail address for when an agent answers; one
whose agent's connection dropped is told that too."""

import pytest

from tasks.models import Message, Ticket

from .factories import AgentFactory, TicketFactory
from .live import asgi_server
from .test_browser_story import PHONE, SHOTS, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_leaves_a_message_and_address_when_nobody_is_online(browser, brand):  # noqa: F811
    AgentFactory(brands=[brand], available=True, languages=["sv"])  # online, but not for English
    ticket = TicketFactory(brand=brand, subject="My card was declined")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with asgi_server(sweeper=False) as base:
        page = browser.new_page(viewport=PHONE)
        page.goto(f"{base}/chat/{ticket.customer_token}/")
        notice = page.get_by_test_id("no-agents")
        notice.wait_for()
        assert notice.inner_text() == "No agent who speaks English is online right now."
        assert page.get_by_test_id("queue-eta").count() == 0
        form = page.get_by_test_id("leave-message")
        assert form.is_visible()
        page.screenshot(path=str(SHOTS / "customer-no-agents.png"))

        page.get_by_test_id("leave-message-email").fill("not an address")
        page.get_by_test_id("leave-message-submit").click()
        page.get_by_text("Please check your e-mail address.").wait_for()

        page.get_by_test_id("leave-message-text").fill("My card 4111 1111 1111 1111 is declined at every shop.")
        page.get_by_test_id("leave-message-email").fill("maja@example.com")
        page.get_by_test_id("leave-message-submit").click()
        left = page.get_by_test_id("message-left")
        left.wait_for()
        assert "maja@example.com" in left.inner_text()
        page.get_by_test_id("message").filter(has_text="declined at every shop").wait_for()
        assert not form.is_visible()
        assert not page.get_by_test_id("error-box").is_visible()
        page.screenshot(path=str(SHOTS / "customer-message-left.png"))

        # Back later: the page remembers where the e-mail goes.
        page.reload()
        page.get_by_test_id("message-left").wait_for()
        page.close()

    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.status == "queued" and stored.notify_email == "maja@example.com"
    text = Message.objects.get(ticket=ticket, sender="customer").text
    assert "declined at every shop" in text and "4111 1111 1111 1111" not in text


def test_customer_sees_that_their_agents_connection_dropped(browser, brand, agent):  # noqa: F811
    # Assigned, and the agent has no open socket: inside the grace period.
    ticket = TicketFactory(brand=brand, status=Ticket.Status.ASSIGNED, agent=agent)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with asgi_server(sweeper=False) as base:
        page = browser.new_page(viewport=PHONE)
        page.goto(f"{base}/chat/{ticket.customer_token}/")
        notice = page.get_by_test_id("agent-connection-lost")
        notice.wait_for()
        assert notice.inner_text() == "Your agent's connection dropped; waiting for them to come back."
        page.screenshot(path=str(SHOTS / "customer-agent-connection-lost.png"))
        page.close()
