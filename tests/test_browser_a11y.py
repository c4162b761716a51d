"""Every page of the agent, customer, applicant and supervisor journeys, in its main states,
checked by axe-core at a phone viewport (390x844): no serious or critical violation of
WCAG 2.0/2.1 A and AA or axe's best practices. On the phone pages (agent app, customer chat,
apply steps) every visible tap target must be at least 44x44 px, and tabbing through them
shows a focus ring. Results: test-output/a11y/<page>.json; screenshots of every stop:
test-output/screenshots/a11y-<page>.png, of the focus rings: a11y-focus-agent.png and
a11y-focus-customer.png."""

import time
import uuid
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.utils import timezone
from PIL import Image

from agents.models import AssessmentQuestion
from marketplace.models import User
from tasks import services

from .a11y import assert_accessible, focus_ring_problems, phone_context, small_tap_targets, write_json
from .factories import PASSWORD, TicketFactory, UserFactory
from .live import ROOT, asgi_server
from .test_browser_applicant import wait_for_email_link
from .test_browser_story import browser, hand_over, shot  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

SERVER_LOG = ROOT / "test-output" / "server-a11y.log"
# The page's own form, not the log-out button in the header.
SUBMIT = "main form [type=submit]"


@pytest.fixture(scope="module")
def base(django_db_setup):
    # One server for the module: the test database outlives each test's flush, and every
    # test makes its own users, so nothing leaks from one test into the next.
    with asgi_server(log_path=SERVER_LOG) as url:
        yield url


class Checks:
    """Runs axe on every stop and measures the tap targets on the phone pages. The problems
    are collected and reported together at the end, so one run lists all of them."""

    def __init__(self):
        self.violations: list[str] = []
        self.small_targets: dict[str, list[str]] = {}

    def page(self, page, name: str, *, phone: bool = False) -> None:
        page.wait_for_load_state("load")
        try:
            assert_accessible(page, name)
        except AssertionError as error:
            self.violations.append(str(error))
        shot(page, f"a11y-{name}")  # after axe, which waits for transitions to end
        if phone:
            small = small_tap_targets(page)
            if small:
                self.small_targets[name] = small

    def assert_clean(self, name: str) -> None:
        write_json(f"tap-targets-{name}", self.small_targets)
        assert not self.violations, "\n".join(self.violations)
        listing = "\n".join(f"{page}: {target}" for page, items in self.small_targets.items() for target in items)
        assert not self.small_targets, f"tap targets under 44x44 px:\n{listing}"


def log_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click(SUBMIT)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_public_and_account_pages_have_no_serious_violations(browser, base):  # noqa: F811
    checks = Checks()
    page = phone_context(browser).new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{base}/")
    checks.page(page, "landing")
    page.goto(f"{base}/accounts/login/")
    checks.page(page, "login")
    page.fill("input[name=login]", "nobody@example.test")
    page.fill("input[name=password]", "wrong-password-1")
    page.click(SUBMIT)
    checks.page(page, "login-error")
    page.goto(f"{base}/accounts/signup/")
    checks.page(page, "signup")
    page.click(SUBMIT)  # empty: every field's error shown
    checks.page(page, "signup-errors")
    page.goto(f"{base}/accounts/password/reset/")
    checks.page(page, "password-reset")
    page.fill("input[name=email]", f"someone.{uuid.uuid4().hex[:8]}@example.test")
    page.click(SUBMIT)
    page.wait_for_url(f"{base}/accounts/password/reset/done/")
    checks.page(page, "password-reset-done")
    page.goto(f"{base}/no-such-page/")
    checks.page(page, "not-found")
    checks.assert_clean("public")


def test_agent_and_customer_pages_have_no_serious_violations_and_big_tap_targets(
    browser,  # noqa: F811
    base,
    agent,
    api_key,
    supervisor,
    tmp_path,
):
    from playwright.sync_api import expect

    checks = Checks()
    EmailAddress.objects.create(user=agent.user, email=agent.user.email, verified=True, primary=True)
    agent_page = phone_context(browser).new_page()
    agent_page.set_default_timeout(10_000)
    log_in(agent_page, base, agent.user.email)
    agent_page.wait_for_url(f"{base}/agent/")
    expect(agent_page.get_by_test_id("connection")).to_have_text("Connected")

    agent_page.get_by_test_id("status-available").click()
    expect(agent_page.get_by_test_id("status-current")).to_have_attribute("data-status", "available")
    checks.page(agent_page, "agent-available", phone=True)
    agent_page.get_by_test_id("status-away").click()
    expect(agent_page.get_by_test_id("status-current")).to_have_attribute("data-status", "away")
    checks.page(agent_page, "agent-away", phone=True)

    created = hand_over(base, api_key)  # nobody available: the customer waits in the queue
    customer_page = phone_context(browser).new_page()
    customer_page.set_default_timeout(10_000)
    customer_page.goto(created["customer_chat_url"])
    expect(customer_page.get_by_test_id("chat-status")).to_have_attribute("data-status", "queued")
    expect(customer_page.get_by_test_id("connection")).to_have_text("Connected")
    customer_page.get_by_test_id("message-input").fill("Is anyone there?")
    customer_page.get_by_test_id("message-send").click()
    expect(customer_page.get_by_test_id("messages")).to_contain_text("Is anyone there?")
    checks.page(customer_page, "customer-queued", phone=True)

    agent_page.get_by_test_id("status-available").click()
    card = agent_page.get_by_test_id("offer-card")
    expect(card).to_be_visible()
    checks.page(agent_page, "agent-offer", phone=True)

    card.get_by_test_id("offer-accept").click()
    expect(agent_page.get_by_test_id("chat-view")).to_be_visible()
    agent_page.get_by_test_id("message-input").fill("Hi Maja, I can help with your card.")
    agent_page.get_by_test_id("message-send").click()
    expect(customer_page.get_by_test_id("messages")).to_contain_text("I can help with your card")
    customer_page.get_by_test_id("message-input").fill("Thanks! It says declined.")
    customer_page.get_by_test_id("message-send").click()
    expect(agent_page.get_by_test_id("messages")).to_contain_text("It says declined")
    agent_page.get_by_test_id("transcript-toggle").click()
    checks.page(agent_page, "agent-chat", phone=True)
    expect(customer_page.get_by_test_id("chat-status")).to_have_attribute("data-status", "assigned")
    checks.page(customer_page, "customer-assigned", phone=True)

    # An image in the chat, read ticks and the other side typing.
    picture = tmp_path / "receipt.png"
    Image.new("RGB", (320, 200), (220, 60, 60)).save(picture, "PNG")
    customer_page.get_by_test_id("attach-input").set_input_files(str(picture))
    expect(agent_page.get_by_test_id("attachment-image")).to_have_count(1)
    agent_page.wait_for_timeout(2600)  # typing frames go at most every 2.5 s; the reply above sent one
    agent_page.get_by_test_id("message-input").press_sequentially("Let me check")
    expect(customer_page.get_by_test_id("typing-indicator")).to_be_visible()
    checks.page(customer_page, "customer-attachment-typing", phone=True)
    checks.page(agent_page, "agent-attachment", phone=True)

    resolve = agent_page.get_by_test_id("resolve")
    resolve.click()
    checks.page(agent_page, "agent-resolve-confirm", phone=True)
    resolve.click()
    expect(customer_page.get_by_test_id("rating")).to_be_visible()
    checks.page(agent_page, "agent-after-resolve", phone=True)
    customer_page.get_by_test_id("rate-4").click()
    checks.page(customer_page, "customer-rating", phone=True)
    customer_page.get_by_test_id("rate-submit").click()
    expect(customer_page.get_by_test_id("chat-status")).to_have_attribute("data-status", "closed")
    checks.page(customer_page, "customer-closed", phone=True)

    # The agent's pay pages: the earnings screen with the case on hold, the payout method form
    # empty and with a field error.
    agent_page.goto(f"{base}/agent/earnings/")
    expect(agent_page.get_by_test_id("holds")).to_be_visible()
    checks.page(agent_page, "agent-earnings", phone=True)
    agent_page.goto(f"{base}/agent/payout-method/")
    checks.page(agent_page, "agent-payout-method", phone=True)
    agent_page.fill("input[name=holder_name]", "Ada Lovelace")
    agent_page.fill("input[name=iban]", "SE00 1234")
    agent_page.get_by_test_id("payout-method-save").click()
    expect(agent_page.get_by_test_id("field-iban")).to_contain_text("not a valid IBAN")
    checks.page(agent_page, "agent-payout-method-errors", phone=True)

    # The shifts screen: open shifts, one booked, and the late-cancel confirmation.
    ahead = timezone.now() + timedelta(days=3)
    soon = timezone.now() + timedelta(hours=5)
    for start, floor in ((ahead, 40000), (soon, None)):
        services.shift_publish(
            user=supervisor,
            brand=agent.brands.get(),
            terms=services.ShiftTerms(
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                languages=["en"],
                skills=[],
                slots=2,
                hourly_floor_minor=floor,
            ),
        )
    agent_page.goto(f"{base}/agent/shifts/")
    expect(agent_page.get_by_test_id("open-shifts").get_by_test_id("shift")).to_have_count(2)
    checks.page(agent_page, "agent-shifts", phone=True)
    agent_page.get_by_test_id("shift-book").first.click()  # the one starting soon
    expect(agent_page.get_by_test_id("flash")).to_contain_text("Booked")
    checks.page(agent_page, "agent-shifts-booked", phone=True)
    agent_page.get_by_test_id("booking-cancel").first.click()
    expect(agent_page.get_by_test_id("late-warning")).to_be_visible()
    checks.page(agent_page, "agent-shifts-cancel-late", phone=True)

    checks.assert_clean("agent-customer")


def test_applicant_and_supervisor_pages_have_no_serious_violations_and_big_tap_targets(browser, base, brand):  # noqa: F811
    from playwright.sync_api import expect

    checks = Checks()
    AssessmentQuestion.objects.create(
        brand=brand, kind="choice", prompt="Policy question?", options=["Wrong", "Right"], correct_option=1
    )
    AssessmentQuestion.objects.create(brand=brand, kind="written", prompt="My card is blocked!", rubric="Empathy")
    email = f"applicant.{uuid.uuid4().hex[:8]}@example.test"
    page = phone_context(browser).new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", "a-long-pass-phrase-42")
    page.fill("input[name=password2]", "a-long-pass-phrase-42")
    page.click(SUBMIT)
    page.wait_for_url(f"{base}/accounts/confirm-email/")
    checks.page(page, "verification-sent")
    page.goto(wait_for_email_link(SERVER_LOG))
    checks.page(page, "confirm-email")
    page.click(SUBMIT)
    if "/accounts/login/" in page.url:
        log_in(page, base, email, "a-long-pass-phrase-42")

    page.goto(f"{base}/apply/")
    checks.page(page, "apply-profile", phone=True)
    page.get_by_test_id("apply-next").click()  # empty: the errors are shown
    checks.page(page, "apply-profile-errors", phone=True)
    page.fill("input[name=display_name]", "Nova")
    page.select_option("select[name=country]", "SE")
    page.select_option("select[name=time_zone]", "Europe/Stockholm")
    page.get_by_test_id("apply-next").click()
    checks.page(page, "apply-languages", phone=True)
    page.select_option("select[name=code_0]", "en")
    page.select_option("select[name=level_0]", "fluent")
    page.get_by_test_id("apply-next").click()
    checks.page(page, "apply-skills", phone=True)
    page.check("input[name=skills][value=cards]")
    page.get_by_test_id("apply-next").click()
    checks.page(page, "apply-brands", phone=True)
    page.check(f"input[name=brand_{brand.pk}]")
    page.fill(f"textarea[name=why_{brand.pk}]", "I have used Acme for years and love helping people.")
    page.get_by_test_id("apply-next").click()
    checks.page(page, "apply-availability", phone=True)
    page.check("input[name=slots][value=mon-evening]")
    page.get_by_test_id("apply-next").click()
    expect(page.get_by_test_id("device-result")).to_have_text("Live connection works on this device.")
    checks.page(page, "apply-device", phone=True)
    page.check("input[name=quiet_place]")
    page.get_by_test_id("apply-next").click()
    expect(page.get_by_test_id("answers")).to_contain_text("Nova")
    checks.page(page, "apply-review", phone=True)
    page.get_by_test_id("apply-submit").click()
    expect(page.get_by_test_id("application-status")).to_have_attribute("data-status", "submitted")
    checks.page(page, "apply-status", phone=True)
    page.get_by_test_id("assessment-start").click()
    expect(page.get_by_test_id("assessment-warning")).to_be_visible()
    checks.page(page, "apply-assessment-warning", phone=True)
    page.get_by_test_id("assessment-start-confirm").click()
    expect(page.get_by_test_id("assessment-timer")).to_contain_text("Time left")
    checks.page(page, "apply-assessment", phone=True)
    for question in page.get_by_test_id("question").all():
        if question.get_attribute("data-kind") == "choice":
            question.locator("input[value='1']").check()
        else:
            question.locator("textarea").fill("I'm sorry, that is stressful. Let me unblock it with you now.")
    page.get_by_test_id("assessment-submit").click()
    expect(page.get_by_test_id("assessments")).to_contain_text("waiting for a supervisor")
    checks.page(page, "apply-status-assessed", phone=True)

    # A supervisor is held at two-factor set-up first (SUPERVISOR_MFA_REQUIRED is on).

    supervisor = UserFactory(email=f"sup.{uuid.uuid4().hex[:8]}@example.test", role=User.Role.SUPERVISOR)
    brand.supervisors.add(supervisor)
    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    desk = phone_context(browser).new_page()
    desk.set_default_timeout(10_000)
    log_in(desk, base, supervisor.email)
    desk.goto(f"{base}/supervisor/applications/")
    if "/accounts/reauthenticate/" in desk.url:
        checks.page(desk, "reauthenticate")
        desk.fill("input[name=password]", PASSWORD)
        desk.click(SUBMIT)
    desk.wait_for_url(f"{base}/accounts/2fa/totp/activate/")
    checks.page(desk, "totp-activate")
    secret = desk.locator("#authenticator_secret").input_value()
    desk.fill("input[name=code]", format_hotp_value(hotp_value(secret, int(time.time()) // 30)))
    desk.click(SUBMIT)
    desk.wait_for_url(f"{base}/accounts/2fa/recovery-codes/")
    checks.page(desk, "totp-recovery-codes")
    desk.get_by_test_id("recovery-continue").click()
    desk.wait_for_url(f"{base}/supervisor/")
    checks.page(desk, "supervisor-home")
    desk.goto(f"{base}/accounts/2fa/")
    checks.page(desk, "totp-overview")
    desk.goto(f"{base}/supervisor/applications/")
    expect(desk.get_by_test_id("application-row")).to_have_count(1)
    checks.page(desk, "supervisor-queue")
    desk.get_by_test_id("application-row").first.locator("a").click()
    expect(desk.get_by_test_id("attempt")).to_be_visible()
    checks.page(desk, "supervisor-application")
    widened = TicketFactory(brand=brand, tags=["cards"])
    desk.goto(f"{base}/supervisor/tickets/{widened.pk}/")
    checks.page(desk, "supervisor-ticket")

    checks.assert_clean("applicant")


def tab_to(page, testid: str, presses: int = 60) -> None:
    """Move keyboard focus to an element the way a keyboard user does, so :focus-visible applies."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.click(1, 1)  # Tab starts from the top of the page
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.dataset.testid") == testid:
            return
    raise AssertionError(f"{testid} never takes keyboard focus")


def test_keyboard_focus_shows_a_clear_ring_on_the_agent_app_and_customer_chat(browser, base, agent, api_key):  # noqa: F811
    from playwright.sync_api import expect

    EmailAddress.objects.create(user=agent.user, email=agent.user.email, verified=True, primary=True)
    agent_page = phone_context(browser).new_page()
    agent_page.set_default_timeout(10_000)
    log_in(agent_page, base, agent.user.email)
    expect(agent_page.get_by_test_id("connection")).to_have_text("Connected")
    agent_page.get_by_test_id("status-available").click()
    expect(agent_page.get_by_test_id("status-current")).to_have_attribute("data-status", "available")
    created = hand_over(base, api_key)
    expect(agent_page.get_by_test_id("offer-card")).to_be_visible()
    agent_problems = focus_ring_problems(agent_page)
    agent_page.get_by_test_id("offer-accept").click()
    expect(agent_page.get_by_test_id("chat-view")).to_be_visible()
    agent_page.get_by_test_id("message-input").fill("Hi Maja")
    agent_problems += focus_ring_problems(agent_page)

    customer_page = phone_context(browser).new_page()
    customer_page.set_default_timeout(10_000)
    customer_page.goto(created["customer_chat_url"])
    expect(customer_page.get_by_test_id("chat-status")).to_have_attribute("data-status", "assigned")
    customer_page.get_by_test_id("message-input").fill("Thanks!")
    customer_problems = focus_ring_problems(customer_page)

    tab_to(agent_page, "status-pill")  # in a chat the status buttons give way to the pill
    shot(agent_page, "a11y-focus-agent")
    tab_to(customer_page, "message-send")
    shot(customer_page, "a11y-focus-customer")
    write_json("focus-rings", {"agent": agent_problems, "customer": customer_problems})
    assert not agent_problems + customer_problems, "\n".join(agent_problems + customer_problems)
