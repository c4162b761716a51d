"""A new supervisor's first login in a real browser at desktop size: the TOTP setup follows
the login without a second password prompt, the recovery codes page has a way forward, and
Continue lands on the supervisor home. Screenshots: test-output/screenshots/supervisor-*.png."""

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from .factories import PASSWORD
from .live import asgi_server
from .test_browser_story import browser, shot  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_new_supervisor_sets_up_totp_right_after_login_and_lands_on_their_home(browser, supervisor, brand):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)

    with asgi_server(SUPERVISOR_MFA_REQUIRED="true") as base:
        page = browser.new_context(viewport=DESKTOP).new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=login]", supervisor.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In").click()

        # Straight to the setup: no "Confirm Access" password prompt in between.
        expect(page).to_have_url(f"{base}/accounts/2fa/totp/activate/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Activate Authenticator App")
        expect(page.locator("input[name=password]")).to_have_count(0)
        secret = page.locator("#authenticator_secret").input_value()
        assert len(secret) >= 16
        shot(page, "supervisor-totp-setup")

        page.fill("input[name=code]", current_code(secret))
        page.get_by_role("button", name="Activate").click()

        expect(page).to_have_url(f"{base}/accounts/2fa/recovery-codes/")
        codes = page.locator("#recovery_codes").input_value().split()
        assert len(codes) == 10
        page.get_by_test_id("recovery-continue").scroll_into_view_if_needed()
        shot(page, "supervisor-recovery-codes")

        page.get_by_test_id("recovery-continue").click()
        expect(page).to_have_url(f"{base}/supervisor/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Supervisor home")
        expect(page.get_by_test_id("supervisor-brand")).to_contain_text(brand.name)
        expect(page.get_by_test_id("open-vetting-queue")).to_be_visible()
        expect(page.get_by_test_id("open-admin")).to_have_count(0)  # supervisors stay out of the admin
        shot(page, "supervisor-home")

        page.get_by_test_id("open-vetting-queue").click()
        expect(page).to_have_url(f"{base}/supervisor/applications/")

    assert Authenticator.objects.filter(user=supervisor, type=Authenticator.Type.TOTP).exists()
