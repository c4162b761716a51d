"""Accounts: e-mail signup and verification, login, password reset, e-mail change, the
rate limit on failed logins, and the two-factor authentication supervisors must set up."""

import re
import time
import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.mfa import MESSAGE
from marketplace.models import User

from .factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-pass-phrase-42"
TOTP_SETUP = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def _accounts_settings(settings):
    """allauth counts attempts in the cache; the suite's cache is a shared Redis, so each
    test gets a private one and no test can be throttled by another. Two-factor enforcement
    is on as in production, whatever other tests' fixtures choose."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.SUPERVISOR_MFA_REQUIRED = True
    # One 30-second step either side: a code made just before a step ends still counts.
    settings.MFA_TOTP_TOLERANCE = 1


def signup(client, email="new.agent@example.test", password=NEW_PASSWORD):
    return client.post("/accounts/signup/", {"email": email, "password1": password, "password2": password})


def link_in(message, path: str) -> str:
    found = re.search(rf"https?://[^/\s]+({re.escape(path)}[^\s]*)", message.body)
    assert found, f"no {path} link in:\n{message.body}"
    return found.group(1)


def verified_user(email: str, **kwargs) -> User:
    user = UserFactory(email=email, **kwargs)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


def authenticator_queries(captured) -> int:
    return sum('"mfa_authenticator"' in query["sql"] for query in captured.captured_queries)


def current_totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


# --- Signup and e-mail verification -----------------------------------------------------


def test_signup_creates_an_applicant_and_sends_a_verification_email(client, mailoutbox):
    response = signup(client)

    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="new.agent@example.test")
    assert user.role == User.Role.APPLICANT
    assert not user.is_staff
    assert EmailAddress.objects.get(user=user).verified is False
    assert logged_in_user_id(client) is None
    [message] = mailoutbox
    assert message.to == ["new.agent@example.test"]
    assert message.subject.startswith("[Support Marketplace] ")
    link_in(message, "/accounts/confirm-email/")
    assert "Verify Your Email Address" in client.get(response["Location"]).content.decode()


def test_the_link_in_the_verification_email_verifies_the_address_and_logs_in(client, mailoutbox):
    signup(client)
    link = link_in(mailoutbox[0], "/accounts/confirm-email/")

    page = client.get(link)
    assert page.status_code == 200 and "Confirm Email Address" in page.content.decode()
    response = client.post(link)

    user = User.objects.get(email="new.agent@example.test")
    assert EmailAddress.objects.get(user=user).verified is True
    assert logged_in_user_id(client) == str(user.pk)
    assert response.status_code == 302 and response["Location"] == "/after-login/"


def test_login_before_verification_is_refused_and_sends_the_verification_email_again(client, mailoutbox):
    user = UserFactory(email="early@example.test", role=User.Role.APPLICANT)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)

    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, follow=True)

    assert logged_in_user_id(client) is None
    assert response.redirect_chain[-1][0] == "/accounts/confirm-email/"
    assert "Verify Your Email Address" in response.content.decode()
    [message] = mailoutbox
    assert message.to == [user.email]
    link_in(message, "/accounts/confirm-email/")


def test_signing_up_with_a_taken_email_creates_nothing_and_tells_the_owner_by_email(client, mailoutbox):
    """allauth's enumeration protection: the form cannot tell a stranger whether an address
    has an account, so the page reads like a normal signup and the owner gets an e-mail
    saying they already have one (and how to reset the password)."""
    owner = verified_user("taken@example.test", role=User.Role.AGENT)

    response = signup(client, email="Taken@Example.test")

    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1
    assert EmailAddress.objects.filter(email__iexact="taken@example.test").count() == 1
    assert logged_in_user_id(client) is None
    [message] = mailoutbox
    assert message.to == [owner.email]
    assert "already" in message.body.lower()
    link_in(message, "/accounts/password/reset/")


def test_an_invalid_email_is_refused_next_to_the_field(client, mailoutbox):
    response = signup(client, email="not-an-email@")

    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(r'<input type="email" name="email"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="id_email_error"' in field
    assert re.search(r'<small class="field-error" id="id_email_error">\s*Enter a valid email address', html)
    assert '<label for="id_email">Email</label>' in html
    assert not User.objects.exists()
    assert mailoutbox == []


# --- Password reset and e-mail change --------------------------------------------------------


def test_password_reset_emails_a_link_that_sets_a_new_password(client, mailoutbox):
    user = verified_user("forgetful@example.test")

    response = client.post("/accounts/password/reset/", {"email": "forgetful@example.test"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/done/"
    [message] = mailoutbox
    assert message.subject.startswith("[Support Marketplace] ")
    link = link_in(message, "/accounts/password/reset/key/")

    # allauth moves the key from the URL into the session, then shows the form.
    form_page = client.get(link, follow=True)
    assert "Change Password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/key/done/"

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 200
    response = client.post("/accounts/login/", {"login": user.email, "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/apply/"  # straight to their home
    assert logged_in_user_id(client) == str(user.pk)


def test_changing_the_email_adds_an_unverified_address_and_sends_a_confirmation(client, mailoutbox):
    user = verified_user("old@example.test")
    client.force_login(user)

    response = client.post("/accounts/email/", {"action_add": "", "email": "new@example.test"})

    assert response.status_code == 302
    new = EmailAddress.objects.get(user=user, email="new@example.test")
    assert new.verified is False and new.primary is False
    assert EmailAddress.objects.get(user=user, email="old@example.test").primary is True
    [message] = mailoutbox
    assert message.to == ["new@example.test"]
    link = link_in(message, "/accounts/confirm-email/")

    # Once confirmed, the new address replaces the old one (ACCOUNT_CHANGE_EMAIL).
    client.post(link)
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")) == [
        ("new@example.test", True, True)
    ]
    user.refresh_from_db()
    assert user.email == "new@example.test"


# --- Rate limit ----------------------------------------------------------------------------


def test_too_many_failed_logins_for_one_email_are_refused_even_with_the_right_password(client):
    user = verified_user("target@example.test")
    for _ in range(5):  # ACCOUNT_RATE_LIMITS["login_failed"]: 5 per 5 minutes per address
        response = client.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})
        assert "are not correct" in response.content.decode()

    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    html = response.content.decode()
    assert re.search(r'class="form-errors" role="alert"[^>]*>\s*<p>Too many failed login attempts', html)
    # Other addresses are not affected.
    other = verified_user("bystander@example.test")
    response = client.post("/accounts/login/", {"login": other.email, "password": PASSWORD})
    assert response.status_code == 302 and logged_in_user_id(client) == str(other.pk)


# --- Two-factor authentication for supervisors -------------------------------------------------


@pytest.mark.parametrize("path", ["/agent/", "/admin/", "/supervisor/applications/", "/"])
def test_a_supervisor_without_totp_is_sent_to_totp_setup(client, supervisor, path):
    client.force_login(supervisor)

    response = client.get(path)

    assert response.status_code == 302 and response["Location"] == TOTP_SETUP


def test_the_totp_redirect_explains_why(client, supervisor):
    client.force_login(supervisor)

    page = client.get("/agent/", follow=True)

    assert MESSAGE in page.content.decode()


def test_staff_without_the_supervisor_role_also_need_totp(client):
    client.force_login(verified_user("ops@example.test", role=User.Role.STAFF, is_staff=True))

    assert client.get("/admin/")["Location"] == TOTP_SETUP


def test_a_supervisor_without_totp_can_still_log_out_and_reach_the_api_and_health_check(client, supervisor):
    client.force_login(supervisor)

    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/tickets/").status_code == 401  # the API's own answer (no brand key), no redirect
    assert client.get("/accounts/logout/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert logged_in_user_id(client) is None


def test_a_supervisor_sets_up_totp_with_the_qr_code_and_is_let_through(client, supervisor):
    EmailAddress.objects.create(user=supervisor, email=supervisor.email, verified=True, primary=True)
    client.force_login(supervisor)
    # allauth asks for the password again before adding an authenticator.
    assert client.get(TOTP_SETUP)["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})

    page = client.get(TOTP_SETUP)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="totp-qr"' in html and 'src="data:image/svg+xml;base64,' in html
    secret = client.session[SECRET_SESSION_KEY]
    assert f'value="{secret}"' in html
    response = client.post(TOTP_SETUP, {"code": current_totp_code(secret)})

    assert response.status_code == 302
    assert Authenticator.objects.filter(user=supervisor, type=Authenticator.Type.TOTP).exists()
    assert client.get("/supervisor/applications/").status_code == 200


def test_a_supervisor_with_totp_is_not_redirected_and_costs_one_query(client, supervisor):
    TOTP.activate(supervisor, generate_totp_secret())
    client.force_login(supervisor)

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/supervisor/applications/")

    assert response.status_code == 200
    assert authenticator_queries(captured) == 1
    # Past the TOTP check, the admin still turns a supervisor away: it is for staff.
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"


def test_an_agent_is_never_redirected_and_costs_no_query(client, agent):
    client.force_login(agent.user)

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/agent/")

    assert response.status_code == 200
    assert authenticator_queries(captured) == 0


def test_anonymous_visitors_cost_no_query(client):
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200

    assert authenticator_queries(captured) == 0


def test_nothing_is_redirected_when_supervisor_mfa_is_switched_off(client, supervisor, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    client.force_login(supervisor)

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/supervisor/applications/").status_code == 200
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert authenticator_queries(captured) == 0
