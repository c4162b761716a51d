"""The earnings screen on a phone (390x844, Debian's Chromium, the real ASGI server): the
agent opens it from the agent app, reads the figures and the hold, cashes out seeing the fee
before confirming, and finds the payout in the history. No page scrolls sideways."""

import pytest

from payouts.models import Payout
from payouts.services import payout_method_set
from tasks import services

from .factories import AgentFactory, TicketFactory
from .live import asgi_server
from .test_browser_agent_app import phone_page
from .test_browser_story import SHOTS, browser, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def resolved(agent, brand, *, subject: str, rating: int | None = None) -> None:
    ticket = TicketFactory(brand=brand, subject=subject)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer is not None and offer.agent_id == agent.pk
    services.offer_accept(agent=agent, offer_id=offer.pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    if rating:
        ticket.refresh_from_db()
        services.ticket_rate(ticket=ticket, score=rating)


def test_an_agent_opens_earnings_from_the_app_and_cashes_out_seeing_the_fee_first(browser, brand, settings):  # noqa: F811
    from playwright.sync_api import expect

    # The brand's own cash-out terms, read by the server process from the database.
    brand.cashout_fee_minor = 500
    brand.cashout_minimum_minor = 5000
    brand.save(update_fields=["cashout_fee_minor", "cashout_minimum_minor"])
    agent = AgentFactory(brands=[brand], available=True, display_name="Ada", user__email="ada.pay@example.test")
    settings.REOPEN_WINDOW_HOURS = 0
    resolved(agent, brand, subject="Refund for order 1001 that arrived broken in the post", rating=5)
    resolved(agent, brand, subject="Card blocked abroad")
    resolved(agent, brand, subject="Wrong delivery address")
    settings.REOPEN_WINDOW_HOURS = 72
    resolved(agent, brand, subject="Password reset loop")
    payout_method_set(agent_id=agent.pk, kind="iban", holder_name="Ada Lovelace", iban="SE4550000000058398257466")

    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent)
        link = page.get_by_test_id("earnings-link")
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["height"] >= 44, box
        link.click()
        page.wait_for_url(f"{base}/agent/earnings/")

        expect(page.get_by_test_id("figure-available")).to_contain_text("SEK 135.00")
        expect(page.get_by_test_id("figure-pending")).to_contain_text("SEK 45.00")
        expect(page.get_by_test_id("figure-today")).to_contain_text("SEK 180.00")
        expect(page.get_by_test_id("hold-reason")).to_contain_text("The customer can reopen this case until")
        expect(page.get_by_test_id("hold-release")).to_be_visible()
        expect(page.get_by_test_id("case")).to_have_count(4)
        expect(page.get_by_test_id("case-rating")).to_contain_text("Rated 5 of 5")
        expect(page.get_by_test_id("case-explanation").first).to_contain_text("= 45.00 SEK")
        expect(page.get_by_test_id("payouts-empty")).to_be_visible()
        expect(page.get_by_test_id("cashout-terms")).to_contain_text("Fee SEK 5.00 per cash-out")
        expect(page.get_by_test_id("cashout-amount")).to_have_value("135.00")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the earnings screen scrolls sideways at 390 px"
        shot(page, "earnings-screen")

        page.get_by_test_id("cashout-review").click()
        expect(page.get_by_test_id("confirm-amount")).to_have_text("SEK 135.00")
        expect(page.get_by_test_id("confirm-fee")).to_have_text("−SEK 5.00")
        expect(page.get_by_test_id("confirm-net")).to_have_text("SEK 130.00")
        expect(page.get_by_test_id("confirm-method")).to_have_text("Bank account •••• 7466")
        expect(page.get_by_test_id("confirm-when")).to_contain_text("next bank run")
        assert not Payout.objects.exists()  # nothing is paid before the agent confirms
        confirm = page.get_by_test_id("cashout-confirm")
        expect(confirm).to_be_in_viewport()
        assert confirm.bounding_box()["height"] >= 44
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the confirmation scrolls sideways at 390 px"
        shot(page, "earnings-cashout-confirm")

        confirm.dblclick()  # an impatient double tap
        page.wait_for_url(f"{base}/agent/earnings/?currency=SEK")
        expect(page.get_by_test_id("flash-messages")).to_contain_text(
            "Cash-out requested: SEK 130.00 goes to your Bank account •••• 7466 with the next bank run."
        )
        payout = page.get_by_test_id("payout")
        expect(payout).to_have_count(1)
        expect(payout.get_by_test_id("payout-status")).to_have_text("Requested")
        expect(payout.get_by_test_id("payout-breakdown")).to_contain_text("you receive SEK 130.00")
        expect(payout.get_by_test_id("payout-note")).to_contain_text("next bank run")
        expect(page.get_by_test_id("figure-available")).to_contain_text("SEK 0.00")
        expect(page.get_by_test_id("figure-in-payout")).to_contain_text("SEK 130.00")
        assert Payout.objects.count() == 1
        # With the money on its way there is nothing more to cash out: no form, a plain note.
        expect(page.get_by_test_id("in-flight")).to_be_visible()
        expect(page.get_by_test_id("cashout-form")).to_have_count(0)
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        # The whole page: the message on top and the payout in the history further down.
        page.screenshot(path=str(SHOTS / "earnings-after-cashout.png"), full_page=True)

        page.get_by_test_id("payout-method-link").click()
        page.wait_for_url(f"{base}/agent/payout-method/")
        expect(page.get_by_test_id("current-method")).to_contain_text("•••• 7466")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the payout method page scrolls sideways at 390 px"
