"""A supervisor goes from the home to the quality desk, opens a review from the queue and
scores it in a real browser at desktop size; then every quality page is opened on a 1024px
tablet and a 390px phone, where none scrolls sideways. axe-core finds no serious or
critical problem on any of them. Screenshots: test-output/screenshots/supervisor-quality-*.png."""

import pytest
from allauth.account.models import EmailAddress

from agents.models import QualityFlag, Review
from agents.quality import services as quality

from .a11y import assert_accessible, small_tap_targets
from .factories import PASSWORD, AgentFactory, UserFactory
from .live import asgi_server
from .test_browser_story import SHOTS, browser, shot  # noqa: F401  (fixture)
from .test_supervisor_quality_pages import case, open_review

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_a_supervisor_scores_a_review_and_every_quality_page_fits_a_tablet_and_a_phone(
    browser,  # noqa: F811
    supervisor,
    brand,
):
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    ada = AgentFactory(brands=[brand], display_name="Ada Lindqvist-Montgomery")
    review = open_review(
        ada,
        brand,
        reason=Review.Reason.LOW_RATING,
        subject="My parcel from order 100234 never arrived and nobody answers the phone",
        rating=2,
        comment="I waited forty minutes and the agent closed the chat without an answer.",
    )
    for n in range(4):
        open_review(ada, brand, subject=f"Password reset loop {n}")
    QualityFlag.objects.create(
        agent=ada, kind=QualityFlag.Kind.LOW_REVIEWS, detail={"brand": brand.slug, "average": "2.400", "reviews": 5}
    )
    colleague = UserFactory(email="colleague@example.test", role="supervisor")
    brand.supervisors.add(colleague)
    evidence = case(ada, brand, subject="Closed before the customer answered").ticket
    warning = quality.sanction_issue(
        user=colleague,
        agent_id=ada.pk,
        kind="warning",
        reason="premature_resolution",
        note="Three cases were closed before the customer had an answer.",
        ticket_ids=[evidence.pk],
    )
    appeal = quality.appeal_file(agent=ada, sanction_id=warning.pk, statement="The customers had left the chat.")

    with asgi_server(SUPERVISOR_MFA_REQUIRED="false") as base:
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        expect(page).to_have_url(f"{base}/supervisor/")
        expect(page.get_by_test_id("quality-counts")).to_contain_text("to score 5")

        page.get_by_test_id("open-quality").click()
        expect(page).to_have_url(f"{base}/supervisor/quality/")
        expect(page.get_by_test_id("flag-row")).to_have_count(1)
        expect(page.get_by_test_id("desk-appeal")).to_have_count(1)
        assert_accessible(page, "supervisor-quality-desk")
        shot(page, "supervisor-quality-desk")

        page.get_by_test_id("open-queue").click()
        expect(page.get_by_test_id("review-row")).to_have_count(5)
        assert_accessible(page, "supervisor-quality-queue")
        shot(page, "supervisor-quality-queue")
        page.locator(f'[data-review="{review.pk}"]').get_by_test_id("open-review").click()

        expect(page.get_by_test_id("review-comment")).to_contain_text("forty minutes")
        page.get_by_test_id("score-submit").click()  # nothing chosen: the browser asks first
        expect(page.get_by_test_id("scorecard")).to_be_visible()
        for name, value in {"accuracy": "2", "empathy": "1", "policy": "3", "tone": "2"}.items():
            page.get_by_test_id(f"criterion-{name}").get_by_label(f"{value} ·").check()
        page.get_by_test_id("feedback").fill("Ask the carrier before closing; tell the customer what happens next.")
        assert_accessible(page, "supervisor-quality-review")
        page.get_by_test_id("score-submit").click()
        expect(page.get_by_test_id("flash-messages")).to_contain_text("Review scored: 50.00%")
        expect(page.get_by_test_id("review-percent")).to_have_text("50.00%")
        shot(page, "supervisor-quality-review-scored")
        assert Review.objects.get(pk=review.pk).state == Review.State.SCORED

        page.get_by_test_id("review-agent").get_by_test_id("agent-link").click()
        expect(page).to_have_url(f"{base}/supervisor/agents/{ada.pk}/quality/")
        expect(page.get_by_test_id("sanction")).to_have_count(1)
        assert_accessible(page, "supervisor-quality-agent")
        page.screenshot(path=str(SHOTS / "supervisor-quality-agent-full.png"), full_page=True)

        pages = {
            "desk": "/supervisor/quality/",
            "queue": "/supervisor/reviews/?status=all",
            "review": f"/supervisor/reviews/{review.pk}/",
            "open-review": f"/supervisor/reviews/{review.pk + 1}/",
            "agent": f"/supervisor/agents/{ada.pk}/quality/",
            "appeal": f"/supervisor/appeals/{appeal.pk}/",
        }
        for size_name, size in (("tablet", TABLET), ("phone", PHONE)):
            page.set_viewport_size(size)
            for name, path in pages.items():
                page.goto(f"{base}{path}")
                assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways on a {size_name}"
                if size_name == "phone":
                    assert not small_tap_targets(page), (name, small_tap_targets(page))
                page.screenshot(path=str(SHOTS / f"supervisor-quality-{name}-{size_name}.png"), full_page=True)
        context.close()
