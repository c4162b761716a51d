"""A long conversation opens at its end on the customer's phone, and "Earlier messages"
pages back through the rest (the button and scrolling come from static/js/ui.js)."""

import pytest

from tasks.models import Message

from .factories import TicketFactory
from .live import asgi_server
from .test_browser_story import PHONE, SHOTS, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_pages_back_through_a_long_conversation(browser, brand, settings):  # noqa: F811
    ticket = TicketFactory(brand=brand)
    Message.objects.bulk_create(
        [Message(ticket=ticket, sender=Message.Sender.CUSTOMER, text=f"line {n}") for n in range(60)]
    )
    with asgi_server(sweeper=False, SNAPSHOT_MESSAGES="20") as base:
        page = browser.new_page(viewport=PHONE)
        page.goto(f"{base}/chat/{ticket.customer_token}/")
        page.get_by_text("line 59", exact=True).wait_for()
        assert page.get_by_text("line 39", exact=True).count() == 0
        more = page.get_by_test_id("history-more")
        more.click()
        page.get_by_text("line 20", exact=True).wait_for()
        more = page.get_by_test_id("history-more")
        more.click()
        page.get_by_text("line 0", exact=True).wait_for()
        assert page.get_by_test_id("history-more").count() == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "customer-history-paged.png"))
        page.close()
