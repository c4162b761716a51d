"""Quality on phones (390x844, Debian's Chromium, the real ASGI server): a suspended agent
opens the quality screen from the agent app, reads a customer's comment and QA feedback,
acknowledges a review and appeals the suspension with its evidence in view; a customer
confirms a resolved case is solved, then rates it. No page scrolls sideways."""

import pytest

from agents.models import Appeal, Review
from agents.quality import services as quality
from tasks.models import Ticket

from .a11y import assert_accessible, phone_context, small_tap_targets
from .live import asgi_server
from .test_agent_quality_page import resolved
from .test_browser_agent_app import go_available, phone_page
from .test_browser_earnings import NO_SIDEWAYS_SCROLL
from .test_browser_story import SHOTS, browser, hand_over, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

SCORES = {"accuracy": 3, "empathy": 2, "policy": 4, "tone": 3}


def test_a_suspended_agent_reads_their_record_acknowledges_a_review_and_appeals(browser, agent, brand, supervisor):  # noqa: F811
    from playwright.sync_api import expect

    # Only the rules that always apply put these cases in QA: ratings of 1 and 2.
    brand.qa_sample_percent = brand.qa_sample_probation_percent = 0
    brand.save(update_fields=["qa_sample_percent", "qa_sample_probation_percent"])
    low = resolved(
        agent,
        brand,
        subject="Refund for order 1001 that arrived broken",
        rating=2,
        comment="The answers were slow and unclear.",
    )
    resolved(agent, brand, subject="Card blocked abroad", rating=5)
    worst = resolved(agent, brand, subject="Wrong delivery address", rating=1)
    assert quality.reviews_sample_due() == 2
    for review in Review.objects.filter(agent=agent):
        quality.review_score(
            user=supervisor,
            review_id=review.pk,
            scores=SCORES,
            feedback=f"Ticket {review.ticket_id}: check the refund policy before promising anything.",
        )
    sanction = quality.sanction_issue(
        user=supervisor,
        agent_id=agent.pk,
        kind="suspension",
        reason="premature_resolution",
        note="Two cases were closed before the customer's problem was solved.",
        ticket_ids=[low.pk, worst.pk],
    )

    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent, context=phone_context(browser))
        banner = page.get_by_test_id("suspended-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Your account is suspended.")
        # Going available is refused, and the refusal points to where the reason is.
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        page.get_by_test_id("status-available").click()
        expect(page.get_by_test_id("error")).to_contain_text("Your account is suspended")
        expect(page.get_by_test_id("error-quality-link")).to_have_attribute("href", "/agent/quality/#sanctions-title")
        shot(page, "quality-app-suspended")

        link = page.get_by_test_id("quality-link")
        expect(link).to_be_visible()
        assert link.bounding_box()["height"] >= 44
        link.click()
        page.wait_for_url(f"{base}/agent/quality/")

        expect(page.get_by_test_id("quality-score")).to_be_visible()
        expect(page.get_by_test_id("suspended-banner")).to_contain_text("You are suspended.")
        expect(page.get_by_test_id("sparkline")).to_be_visible()
        expect(page.get_by_test_id("score-change")).to_have_count(5)  # three ratings, two reviews
        expect(page.get_by_test_id("rating-comment")).to_have_text("The answers were slow and unclear.")
        reviews = page.get_by_test_id("review")
        expect(reviews).to_have_count(2)
        expect(reviews.first.get_by_test_id("review-feedback")).to_contain_text("check the refund policy")
        expect(reviews.first.get_by_test_id("review-percent")).to_have_text("75%")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the quality screen scrolls sideways at 390 px"
        assert_accessible(page, "agent-quality")
        assert small_tap_targets(page) == []
        shot(page, "quality-screen")
        page.screenshot(path=str(SHOTS / "quality-screen-full.png"), full_page=True)

        first_id = int(reviews.first.get_attribute("data-review"))
        acknowledge = reviews.first.get_by_test_id("review-acknowledge")
        acknowledge.scroll_into_view_if_needed()
        assert acknowledge.bounding_box()["height"] >= 44
        acknowledge.click()
        page.wait_for_url(f"{base}/agent/quality/")
        expect(page.get_by_test_id("flash-messages")).to_contain_text("acknowledged")
        answered = page.locator(f'[data-testid="review"][data-review="{first_id}"]')
        expect(answered.get_by_test_id("review-response")).to_contain_text("You acknowledged this review.")
        expect(answered.get_by_test_id("review-acknowledge")).to_have_count(0)
        # The other review still waits for an answer.
        expect(page.get_by_test_id("review-acknowledge")).to_have_count(1)
        assert Review.objects.get(pk=first_id).agent_response == Review.Response.ACKNOWLEDGED

        card = page.get_by_test_id("sanction")
        expect(card.get_by_test_id("sanction-kind")).to_have_text("Suspension")
        expect(card.get_by_test_id("sanction-reason")).to_have_text("Cases resolved before they were solved")
        expect(card.get_by_test_id("sanction-note")).to_contain_text("closed before the customer's problem was solved")
        evidence = card.get_by_test_id("evidence")
        expect(evidence).to_have_count(2)
        expect(evidence.first).to_have_text(f"#{low.pk} · Refund for order 1001 that arrived broken")
        statement = card.get_by_test_id("appeal-statement-input")
        statement.scroll_into_view_if_needed()
        statement.fill("The customer wrote that the refund had arrived before I resolved the case.")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        shot(page, "quality-appeal")
        card.get_by_test_id("appeal-submit").click()
        page.wait_for_url(f"{base}/agent/quality/")
        expect(page.get_by_test_id("flash-messages")).to_contain_text("Appeal sent.")
        expect(page.get_by_test_id("appeal-state")).to_have_text("Waiting for a decision")
        expect(page.get_by_test_id("appeal-statement")).to_contain_text("the refund had arrived")
        expect(page.get_by_test_id("appeal-form")).to_have_count(0)
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.get_by_test_id("appeal").scroll_into_view_if_needed()
        shot(page, "quality-appeal-pending")

    appeal = Appeal.objects.get(sanction=sanction)
    assert appeal.state == Appeal.State.OPEN and "refund had arrived" in appeal.statement


def test_a_customer_confirms_the_case_is_solved_then_rates_it(browser, agent, api_key):  # noqa: F811
    from playwright.sync_api import expect

    with asgi_server() as base:
        agent_page = phone_page(browser, base, agent)
        go_available(agent_page)
        created = hand_over(base, api_key)
        agent_page.get_by_test_id("offer-accept").click()
        expect(agent_page.get_by_test_id("chat-view")).to_be_visible()

        customer = phone_context(browser).new_page()
        customer.set_default_timeout(10_000)
        customer.goto(created["customer_chat_url"])
        expect(customer.get_by_test_id("agent-name")).to_contain_text(agent.display_name)
        expect(customer.get_by_test_id("solved-question")).to_be_hidden()

        resolve = agent_page.get_by_test_id("resolve")
        resolve.click()
        resolve.click()  # the second tap confirms
        question = customer.get_by_test_id("solved-question")
        expect(question).to_be_visible()
        expect(question).to_contain_text("Is your problem solved?")
        expect(question.get_by_test_id("confirm-solved")).to_have_text("Yes, it's solved")
        expect(question.get_by_test_id("reopen")).to_have_text("No, reopen")
        expect(customer.get_by_test_id("rating")).to_be_visible()
        assert customer.evaluate(NO_SIDEWAYS_SCROLL), "the chat scrolls sideways at 390 px"
        assert_accessible(customer, "customer-solved-question")
        shot(customer, "customer-solved-question")

        question.get_by_test_id("confirm-solved").click()
        expect(customer.get_by_test_id("confirmed-thanks")).to_contain_text("glad it's solved")
        expect(customer.get_by_test_id("chat-status")).to_have_attribute("data-status", "closed")
        expect(question).to_be_hidden()
        # Rating stays open after the confirmation; reopening too, on its own.
        expect(customer.get_by_test_id("rating")).to_be_visible()
        expect(customer.get_by_test_id("reopen-box").get_by_test_id("reopen")).to_have_text("Not solved? Reopen")
        assert_accessible(customer, "customer-confirmed")
        ticket = Ticket.objects.get(pk=created["id"])
        assert ticket.status == Ticket.Status.CLOSED and ticket.rating is None
        assert ticket.resolutions.get().confirmed_by == "customer"
        shot(customer, "customer-confirmed")

        customer.get_by_test_id("rate-4").click()
        customer.get_by_test_id("rate-comment").fill("Quick and kind")
        customer.get_by_test_id("rate-submit").click()
        expect(customer.get_by_test_id("rated-score")).to_have_text("4")
        expect(customer.get_by_test_id("rating")).to_be_hidden()
        assert customer.evaluate(NO_SIDEWAYS_SCROLL)
        shot(customer, "customer-rated-after-confirm")

    ticket = Ticket.objects.get(pk=created["id"])
    assert ticket.status == Ticket.Status.CLOSED and ticket.rating == 4
    assert ticket.resolutions.get().rating == 4
