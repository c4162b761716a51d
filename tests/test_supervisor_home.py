"""The supervisor's home at /supervisor/, where each role lands after login, and the TOTP
setup that follows a fresh login without asking for the password a second time."""

import time
import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, TOTP, format_hotp_value, generate_totp_secret, hotp_value

from agents import services
from agents.models import Application
from marketplace.models import User

from .factories import PASSWORD, UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db

TOTP_SETUP = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def _private_cache_and_mfa_on(settings):
    """allauth counts logins in the cache; a private one per test keeps the limits apart."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.SUPERVISOR_MFA_REQUIRED = True
    settings.MFA_TOTP_TOLERANCE = 1


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


def log_in(client, user: User):
    return client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def waiting_application(email: str, brand) -> Application:
    application = services.application_for(user=UserFactory(email=email, role=User.Role.APPLICANT))
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    application.refresh_from_db()
    return services.application_submit(application=application)


# --- Where each role lands ----------------------------------------------------------------------


def test_a_supervisor_with_totp_lands_on_the_supervisor_home_after_login(client, supervisor, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the code step is covered below; this is about the landing
    verified(supervisor)

    response = log_in(client, supervisor)

    assert response.status_code == 302 and response["Location"] == "/supervisor/"
    assert client.get("/after-login/")["Location"] == "/supervisor/"


def test_agents_still_land_in_the_agent_app_and_applicants_in_the_application(client, agent):
    verified(agent.user)
    assert log_in(client, agent.user)["Location"] == "/agent/"

    applicant = verified(UserFactory(email="new@example.test", role=User.Role.APPLICANT))
    client.logout()
    assert log_in(client, applicant)["Location"] == "/apply/"


def test_a_next_link_still_wins_over_the_home_page(client, supervisor, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    verified(supervisor)

    response = client.post(
        "/accounts/login/?next=/supervisor/applications/", {"login": supervisor.email, "password": PASSWORD}
    )

    assert response["Location"] == "/supervisor/applications/"


# --- TOTP setup right after login ----------------------------------------------------------------


def test_a_fresh_login_goes_straight_to_totp_setup_without_a_second_password_prompt(client, supervisor):
    verified(supervisor)

    response = log_in(client, supervisor)
    assert client.get(response["Location"])["Location"] == TOTP_SETUP  # the home holds them at setup

    page = client.get(TOTP_SETUP)
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    activated = client.post(TOTP_SETUP, {"code": code_for(secret)})

    assert activated["Location"] == "/accounts/2fa/recovery-codes/"
    assert Authenticator.objects.filter(user=supervisor, type=Authenticator.Type.TOTP).exists()
    codes = client.get("/accounts/2fa/recovery-codes/").content.decode()
    assert 'data-testid="recovery-continue"' in codes and 'href="/after-two-factor-setup/"' in codes
    assert client.get("/after-two-factor-setup/")["Location"] == "/supervisor/"
    assert client.get("/supervisor/").status_code == 200


def test_a_login_older_than_the_reauthentication_timeout_is_asked_for_the_password_again(client, supervisor, settings):
    """A session left open is not a fresh login: changing two-factor settings then still
    needs the password, as allauth intends."""
    verified(supervisor)
    log_in(client, supervisor)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0

    assert client.get(TOTP_SETUP)["Location"].startswith("/accounts/reauthenticate/")


def test_a_session_without_a_password_login_is_asked_for_the_password(client, supervisor):
    verified(supervisor)
    client.force_login(supervisor)  # as after an e-mail link or another login path

    assert client.get(TOTP_SETUP)["Location"].startswith("/accounts/reauthenticate/")


# --- The home page --------------------------------------------------------------------------------


def test_the_home_lists_the_supervisors_brands_with_the_applications_waiting(client, supervisor, brand, other_brand):
    with_totp(supervisor)
    waiting_application("a@example.test", brand)
    waiting_application("b@example.test", brand)
    waiting_application("c@example.test", other_brand)  # not theirs
    client.force_login(supervisor)

    page = client.get("/supervisor/")

    assert page.status_code == 200
    rows = page.context["brands"]
    assert [(row["brand"].name, row["waiting"]) for row in rows] == [(brand.name, 2)]
    html = page.content.decode()
    assert other_brand.name not in html
    assert 'href="/supervisor/applications/"' in html
    assert f'href="/supervisor/applications/?brand={brand.pk}"' in html


def test_the_admin_link_is_shown_to_platform_staff_only(client, supervisor):
    """The fixture's supervisor has staff status ticked; the admin still refuses them, so
    the home must not offer it."""
    with_totp(supervisor)
    client.force_login(supervisor)
    assert 'data-testid="open-admin"' not in client.get("/supervisor/").content.decode()

    root = with_totp(UserFactory(email="root@example.test", role=User.Role.STAFF, is_staff=True, is_superuser=True))
    client.force_login(root)
    assert 'data-testid="open-admin"' in client.get("/supervisor/").content.decode()


def test_a_supervisor_without_brands_is_told_whom_to_ask(client):
    lonely = with_totp(UserFactory(email="lonely@example.test", role=User.Role.SUPERVISOR))
    client.force_login(lonely)

    assert 'data-testid="no-brands"' in client.get("/supervisor/").content.decode()


@pytest.mark.parametrize("role", [User.Role.APPLICANT, User.Role.AGENT])
def test_outsiders_are_refused_the_supervisor_home(client, role):
    client.force_login(UserFactory(email=f"{role}@example.test", role=role))

    response = client.get("/supervisor/")

    assert response.status_code == 403
    assert "Supervisors only" in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_login(client):
    assert client.get("/supervisor/")["Location"] == "/accounts/login/?next=/supervisor/"
