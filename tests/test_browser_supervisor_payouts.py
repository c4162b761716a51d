"""A supervisor reviews and approves a weekly payout in a real browser at desktop size, and
the pay overview also fits a tablet. axe-core finds no serious or critical problem on either
page. Screenshots: test-output/screenshots/supervisor-payout-batch.png (before approval, and -full.png the whole page),
supervisor-payout-batch-approved.png and supervisor-payouts-tablet.png."""

from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress

from payouts.models import PayoutBatch

from .a11y import assert_accessible
from .factories import PASSWORD
from .live import asgi_server
from .test_browser_story import SHOTS, browser, shot  # noqa: F401  (fixture)
from .test_supervisor_payouts import earn, earner, weekly_batch

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


@pytest.fixture(autouse=True)
def _pay_at_once(settings):
    settings.REOPEN_WINDOW_HOURS = 0
    settings.CASHOUT_MINIMUM = Decimal("10.00")


def test_a_supervisor_reviews_and_approves_the_weekly_payout(browser, supervisor, brand, handover):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    ada, bo, cy = earner(brand, "Ada Lindqvist"), earner(brand, "Bo Ek"), earner(brand, "Cyrus Nordin")
    earn(ada, handover, 3)
    earn(bo, handover, 2)
    earn(cy, handover, 1)
    batch = weekly_batch()

    with asgi_server(SUPERVISOR_MFA_REQUIRED="false") as base:
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        expect(page).to_have_url(f"{base}/supervisor/")

        page.get_by_test_id("open-payouts").click()
        expect(page).to_have_url(f"{base}/supervisor/payouts/")
        expect(page.get_by_test_id("batch-row")).to_have_count(1)
        assert_accessible(page, "supervisor-payouts")
        page.get_by_test_id("open-batch").click()

        expect(page.get_by_test_id("batch-line")).to_have_count(3)
        expect(page.get_by_test_id("total-amount")).to_contain_text("270.00 SEK")
        expect(page.get_by_test_id("batch-lines")).not_to_contain_text(ada.payout_methods.get().iban)  # masked
        assert_accessible(page, "supervisor-payout-batch")
        shot(page, "supervisor-payout-batch")
        page.screenshot(path=str(SHOTS / "supervisor-payout-batch-full.png"), full_page=True)

        page.get_by_test_id("approve-confirm").check()
        page.get_by_test_id("approve").click()
        expect(page.get_by_test_id("flash-messages")).to_contain_text("Batch approved")
        expect(page.get_by_test_id("batch-status")).to_have_text("Approved, paying")
        shot(page, "supervisor-payout-batch-approved")
        assert PayoutBatch.objects.get(pk=batch.pk).status == "approved"

        tablet = context.new_page()
        tablet.set_viewport_size(TABLET)
        tablet.goto(f"{base}/supervisor/payouts/")
        expect(tablet.get_by_test_id("brand-total")).to_contain_text(brand.name)
        assert tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(tablet, "supervisor-payouts-tablet")
        tablet.goto(f"{base}/supervisor/payouts/batches/{batch.pk}/")
        tablet.screenshot(path=str(SHOTS / "supervisor-payout-batch-tablet.png"), full_page=True)
        context.close()
