"""The applicant journey in a real browser at a phone viewport: signup, the e-mail link,
the application, the brand assessment, a supervisor's approval, the agent app.
Screenshots go to test-output/screenshots/applicant-*.png."""

import re
import time
import uuid
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from agents.models import AgentProfile, AssessmentQuestion

from .factories import PASSWORD
from .live import ROOT, asgi_server
from .test_browser_story import PHONE, browser, shot  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_email_link(log: Path, timeout: float = 10) -> str:
    """The console e-mail backend prints the message into the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", log.read_text())
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no confirmation link in {log}")


def test_new_applicant_becomes_an_agent_on_a_phone(browser, brand, supervisor):  # noqa: F811
    from playwright.sync_api import expect

    for i in range(2):
        AssessmentQuestion.objects.create(
            brand=brand, kind="choice", prompt=f"Policy question {i + 1}?", options=["Wrong", "Right"], correct_option=1
        )
    AssessmentQuestion.objects.create(brand=brand, kind="written", prompt="My card is blocked!", rubric="Empathy")
    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    log = ROOT / "test-output" / "server-applicant.log"
    # Unique per run: allauth rate-limits confirmation mails per address in the shared cache.
    email = f"new.agent.{uuid.uuid4().hex[:8]}@example.test"

    with asgi_server(log_path=log, SUPERVISOR_MFA_REQUIRED="false") as base:
        # The phone is set to Stockholm time: the profile step preselects that zone.
        page = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, timezone_id="Europe/Stockholm"
        ).new_page()
        page.set_default_timeout(10_000)

        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password1]", "a-long-pass-phrase-42")
        page.fill("input[name=password2]", "a-long-pass-phrase-42")
        shot(page, "applicant-01-signup")
        page.click("form [type=submit]")
        expect(page).to_have_url(f"{base}/accounts/confirm-email/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
        shot(page, "applicant-02-verify-sent")

        page.goto(wait_for_email_link(log))
        page.click("form [type=submit]")
        if "/accounts/login/" in page.url:
            page.fill("input[name=login]", email)
            page.fill("input[name=password]", "a-long-pass-phrase-42")
            page.click("form [type=submit]")

        page.goto(f"{base}/apply/")
        # Preselected from the browser's own zone, and still an ordinary select.
        expect(page.locator("select[name=time_zone]")).to_have_value("Europe/Stockholm")
        expect(page.locator("select[name=time_zone]")).to_have_attribute("data-preselected", "yes")
        page.fill("input[name=display_name]", "Nova")
        page.reload()  # typed but not yet saved: kept in the browser, nothing lost
        expect(page.locator("input[name=display_name]")).to_have_value("Nova")
        expect(page.locator("select[name=time_zone]")).to_have_value("Europe/Stockholm")
        expect(page.locator("select[name=country]")).to_have_value("")  # no guess: chosen by the applicant
        page.select_option("select[name=country]", label="Sweden")
        expect(page.locator("select[name=country]")).to_have_value("SE")
        page.wait_for_timeout(300)  # Pico fades the select's text colour in after a change
        shot(page, "apply-country")
        shot(page, "applicant-03-profile")
        page.get_by_test_id("apply-next").click()
        page.select_option("select[name=code_0]", "sv")
        page.select_option("select[name=level_0]", "native")
        page.select_option("select[name=code_1]", "en")
        page.select_option("select[name=level_1]", "fluent")
        page.get_by_test_id("apply-next").click()
        page.check("input[name=skills][value=cards]")
        page.get_by_test_id("apply-next").click()
        page.check(f"input[name=brand_{brand.pk}]")
        page.fill(f"textarea[name=why_{brand.pk}]", "I have used Acme for years and love helping people.")
        page.get_by_test_id("apply-next").click()
        page.check("input[name=slots][value=mon-evening]")
        page.check("input[name=slots][value=sat-morning]")
        shot(page, "applicant-04-availability")
        page.get_by_test_id("apply-next").click()
        expect(page.get_by_test_id("device-result")).to_have_text("Live connection works on this device.")
        page.check("input[name=quiet_place]")
        shot(page, "applicant-05-device")
        page.get_by_test_id("apply-next").click()
        expect(page.get_by_test_id("answers")).to_contain_text("Nova")
        expect(page.get_by_test_id("answer-country")).to_have_text("Sweden")
        expect(page.get_by_test_id("answer-languages")).to_have_text("Swedish (native), English (fluent)")
        expect(page.get_by_test_id("answer-skills")).to_have_text("Cards")
        expect(page.get_by_test_id("answer-time-zone")).to_contain_text("Stockholm (Europe)")
        expect(page.get_by_test_id("answer-availability")).to_contain_text("Monday")
        for code in ("SE", "sv", "mon-evening"):
            expect(page.get_by_test_id("answers")).not_to_contain_text(code)
        shot(page, "apply-review")
        shot(page, "applicant-06-review")
        page.get_by_test_id("apply-submit").click()
        expect(page.get_by_test_id("application-status")).to_have_attribute("data-status", "submitted")

        page.get_by_test_id("assessment-start").click()
        expect(page.get_by_test_id("assessment-warning")).to_contain_text(
            f"You will have {brand.assessment_minutes} minutes. The timer starts when you press Start"
        )
        expect(page.get_by_test_id("assessment-timer")).to_have_count(0)  # the clock has not started
        shot(page, "assessment-warning")
        page.get_by_test_id("assessment-start-confirm").click()
        expect(page.get_by_test_id("assessment-timer")).to_contain_text("Time left")
        for question in page.get_by_test_id("question").all():
            if question.get_attribute("data-kind") == "choice":
                question.locator("input[value='1']").check()
            else:
                question.locator("textarea").fill("I'm sorry, that is stressful. Let me unblock it with you now.")
        shot(page, "applicant-07-assessment")
        page.get_by_test_id("assessment-submit").click()
        expect(page.get_by_test_id("assessments")).to_contain_text("waiting for a supervisor")
        shot(page, "applicant-08-status-waiting")

        desk = browser.new_context(viewport={"width": 1024, "height": 900}).new_page()
        desk.set_default_timeout(10_000)
        desk.goto(f"{base}/accounts/login/")
        desk.fill("input[name=login]", supervisor.email)
        desk.fill("input[name=password]", PASSWORD)
        desk.click("form [type=submit]")
        desk.goto(f"{base}/supervisor/applications/")
        desk.get_by_test_id("application-row").first.locator("a").click()
        desk.locator("select[name^=score_]").select_option("4")
        desk.get_by_test_id("grade-submit").click()
        expect(desk.get_by_test_id("attempt")).to_contain_text("total 100% (passed")
        desk.check("input[name=decision][value=approve]")
        shot(desk, "applicant-09-supervisor-decision")
        desk.get_by_test_id("decision-submit").click()
        expect(desk.locator("body")).to_contain_text("Decision saved")

        page.goto(f"{base}/apply/status/")
        expect(page.get_by_test_id("application-status")).to_have_attribute("data-status", "approved")
        shot(page, "applicant-10-approved")
        page.get_by_test_id("open-agent-app").click()
        expect(page.get_by_test_id("first-day-guide")).to_be_visible()
        expect(page.get_by_test_id("connection")).to_have_text("Connected")  # not "Disconnected"
        shot(page, "applicant-11-agent-app")

    profile = AgentProfile.objects.get(user__email=email)
    assert profile.tier == "probation" and list(profile.brands.all()) == [brand]
