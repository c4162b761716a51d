"""The token endpoint's contract (what it answers to whom), health check and API docs.

The token endpoint refuses whatever the login page refuses: wrong passwords, an unverified
e-mail address, a missing or wrong second factor, and supervisors or staff who have not set
one up. Limits on repeated attempts are in test_security_brute_force.py, what becomes of
a token afterwards in test_security_tokens.py.
"""

import time
import uuid
from datetime import datetime, timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from rest_framework.test import APIClient

from marketplace.adapters import ApiTokenAuthentication
from marketplace.models import ApiToken, User

from .factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _private_cache_and_production_rules(settings):
    """Attempts are counted in the cache: a private one per test, so no test is limited by
    another. Verification and two-factor rules as in production."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.SUPERVISOR_MFA_REQUIRED = True
    # One 30-second step either side, so a code made just before a step boundary still counts.
    settings.MFA_TOTP_TOLERANCE = 1


def verify(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def with_totp(user: User) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def ask(**body):
    return APIClient().post(TOKEN_URL, body, format="json")


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def authenticates(token: str) -> bool:
    """The check every door uses (REST authentication class, websocket handshake)."""
    return ApiTokenAuthentication().user_for_token(token) is not None


# --- Password -----------------------------------------------------------------------------


def test_agent_exchanges_email_and_password_for_a_working_token_that_expires(agent, settings):
    settings.API_TOKEN_TTL_HOURS = 48
    verify(agent.user)

    response = ask(email="ADA@example.test", password=PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert authenticates(body["token"])
    stored = ApiToken.objects.get(user=agent.user)
    assert datetime.fromisoformat(body["expires_at"]) == stored.expiry
    assert stored.expiry - stored.created == pytest.approx(timedelta(hours=48), abs=timedelta(minutes=1))
    assert body["token"] not in (stored.digest, stored.token_key)  # only a hash is kept


def test_each_login_gets_its_own_token_and_both_work(agent):
    verify(agent.user)

    first = ask(email="ada@example.test", password=PASSWORD).json()["token"]
    second = ask(email="ada@example.test", password=PASSWORD).json()["token"]

    assert first != second
    assert authenticates(first) and authenticates(second)


def test_wrong_password_gets_a_clear_error(agent):
    verify(agent.user)

    assert error_of(ask(email="ada@example.test", password="nope")) == (400, "invalid_credentials")
    assert not ApiToken.objects.exists()


def test_a_disabled_account_gets_the_same_answer_as_a_wrong_password(agent):
    verify(agent.user)
    User.objects.filter(pk=agent.user.pk).update(is_active=False)

    assert error_of(ask(email="ada@example.test", password=PASSWORD)) == (400, "invalid_credentials")


def test_token_request_without_fields_lists_them(db):
    response = ask()
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "password"}


# --- E-mail verification --------------------------------------------------------------------


def test_an_unverified_email_address_gets_no_token(agent):
    EmailAddress.objects.create(user=agent.user, email=agent.user.email, verified=False, primary=True)

    response = ask(email="ada@example.test", password=PASSWORD)

    assert error_of(response) == (403, "email_unverified")
    assert set(response.json()["error"]) == {"code", "message"}
    assert not ApiToken.objects.exists()


def test_an_account_without_any_email_record_is_unverified_too(agent):
    assert error_of(ask(email="ada@example.test", password=PASSWORD)) == (403, "email_unverified")


def test_a_wrong_password_is_told_before_the_verification_state(agent):
    """Whether an address is verified is only told to someone who knows the password."""
    assert error_of(ask(email="ada@example.test", password="nope")) == (400, "invalid_credentials")


def test_unverified_addresses_may_log_in_when_verification_is_not_mandatory(agent, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"

    assert ask(email="ada@example.test", password=PASSWORD).status_code == 200


# --- Second factor ----------------------------------------------------------------------------


def test_a_user_with_totp_must_send_the_code(agent):
    verify(agent.user)
    with_totp(agent.user)

    response = ask(email="ada@example.test", password=PASSWORD)

    assert error_of(response) == (401, "mfa_code_required")
    assert not ApiToken.objects.exists()


def test_a_wrong_totp_code_is_refused(agent):
    verify(agent.user)
    secret = with_totp(agent.user)
    wrong = f"{(int(code_for(secret)) + 500000) % 1000000:06d}"

    assert error_of(ask(email="ada@example.test", password=PASSWORD, code=wrong)) == (401, "mfa_code_invalid")
    assert not ApiToken.objects.exists()


def test_the_right_totp_code_gets_a_token_and_cannot_be_used_twice(agent):
    verify(agent.user)
    secret = with_totp(agent.user)
    code = code_for(secret)

    response = ask(email="ada@example.test", password=PASSWORD, code=code)

    assert response.status_code == 200 and authenticates(response.json()["token"])
    assert Authenticator.objects.get(user=agent.user, type="totp").last_used_at is not None
    # allauth remembers used codes: one overheard code gives one token, not many.
    assert error_of(ask(email="ada@example.test", password=PASSWORD, code=code)) == (401, "mfa_code_invalid")


def test_a_recovery_code_stands_in_for_the_authenticator(agent):
    verify(agent.user)
    with_totp(agent.user)
    recovery = RecoveryCodes.activate(agent.user)

    response = ask(email="ada@example.test", password=PASSWORD, code=recovery.generate_codes()[0])

    assert response.status_code == 200


def test_a_wrong_password_with_a_right_code_is_still_a_wrong_password(agent):
    verify(agent.user)
    secret = with_totp(agent.user)

    response = ask(email="ada@example.test", password="nope", code=code_for(secret))

    assert error_of(response) == (400, "invalid_credentials")


@pytest.mark.parametrize(
    "role, is_staff",
    [(User.Role.SUPERVISOR, False), (User.Role.STAFF, True), (User.Role.AGENT, True)],
    ids=["supervisor", "staff", "agent-flagged-staff"],
)
def test_supervisors_and_staff_without_totp_must_set_it_up_first(role, is_staff):
    verify(UserFactory(email="boss@example.test", role=role, is_staff=is_staff))

    assert error_of(ask(email="boss@example.test", password=PASSWORD)) == (403, "mfa_required")
    assert not ApiToken.objects.exists()


def test_a_supervisor_with_totp_gets_a_token_with_the_code():
    supervisor = verify(UserFactory(email="boss@example.test", role=User.Role.SUPERVISOR))
    secret = with_totp(supervisor)

    assert ask(email="boss@example.test", password=PASSWORD, code=code_for(secret)).status_code == 200


def test_supervisors_without_totp_get_a_token_when_the_requirement_is_off(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    verify(UserFactory(email="boss@example.test", role=User.Role.SUPERVISOR))

    assert ask(email="boss@example.test", password=PASSWORD).status_code == 200


def test_agents_without_totp_need_no_code(agent):
    verify(agent.user)

    assert ask(email="ada@example.test", password=PASSWORD).status_code == 200


# --- Health and docs ------------------------------------------------------------------------


def test_healthz_checks_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["channel_layer"] == "ok"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/tickets/" in schema.content
    assert b"mfa_code_required" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_pages_send_a_content_security_policy(client):
    response = client.get("/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
