"""Guessing passwords is limited on every login path, by account and by client address.

The token endpoint's limit used to be keyed on DRF's reading of X-Forwarded-For, which the
client writes: a new value per try was never limited. Forwarded headers now count only
behind our own proxies (BEHIND_PROXY), and then only the hop PROXY_COUNT from the right,
for the token endpoint and allauth's login page alike. Failed passwords for one account
are counted together on the login page and the token endpoint, wherever they come from.
"""

import uuid

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from rest_framework.test import APIClient

from .factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
WRONG = "wrong-password"


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Attempts are counted in the cache; each test starts from zero."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.BEHIND_PROXY = False
    settings.PROXY_COUNT = 1


@pytest.fixture
def account():
    user = UserFactory(email="target@example.test")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def token_attempt(email: str, password: str = WRONG, **meta) -> tuple[int, str]:
    response = APIClient().post(TOKEN_URL, {"email": email, "password": password}, format="json", **meta)
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else "token"


# Per client address: allauth's failed-login limit (10 a minute) answers first, DRF's
# request limit on the endpoint (20 a minute) after it.
LIMITED_PER_ADDRESS = (
    [(400, "invalid_credentials")] * 10 + [(429, "too_many_attempts")] * 10 + [(429, "rate_limited")] * 10
)


def test_thirty_token_attempts_with_a_fresh_forwarded_address_each_are_still_limited(db):
    """Not behind a proxy, X-Forwarded-For is the client's own invention. A fresh e-mail per
    try too, so that only the per-address limits can stop them."""
    answers = [token_attempt(f"guess{n}@example.test", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") for n in range(30)]

    assert answers == LIMITED_PER_ADDRESS


@pytest.mark.parametrize(
    "proxy_count, appended_by_our_proxies",
    [(1, "203.0.113.7"), (2, "203.0.113.7, 10.0.0.2")],
    ids=["one-proxy", "two-proxies"],
)
def test_behind_our_proxies_the_address_they_saw_is_counted_not_what_the_client_wrote(
    settings, proxy_count, appended_by_our_proxies
):
    settings.BEHIND_PROXY = True
    settings.PROXY_COUNT = proxy_count
    answers = [
        token_attempt(
            f"guess{n}@example.test",
            # What the client wrote, then what our proxies appended.
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, {appended_by_our_proxies}",
            REMOTE_ADDR="10.0.0.1",
        )
        for n in range(30)
    ]
    other_client = appended_by_our_proxies.replace("203.0.113.7", "203.0.113.8")

    assert answers == LIMITED_PER_ADDRESS
    # Another client behind the same proxy is counted on its own.
    assert token_attempt("fresh@example.test", HTTP_X_FORWARDED_FOR=other_client, REMOTE_ADDR="10.0.0.1") == (
        400,
        "invalid_credentials",
    )


def test_six_wrong_passwords_for_one_account_from_different_addresses_are_limited(account):
    answers = [token_attempt(account.email, REMOTE_ADDR=f"198.51.100.{n}") for n in range(6)]

    assert answers == [(400, "invalid_credentials")] * 5 + [(429, "too_many_attempts")]
    # Locked: the right password does not help now, from anywhere.
    assert token_attempt(account.email, PASSWORD, REMOTE_ADDR="192.0.2.50") == (429, "too_many_attempts")
    # Other accounts are not affected.
    bystander = UserFactory(email="bystander@example.test", role="agent")
    EmailAddress.objects.create(user=bystander, email=bystander.email, verified=True, primary=True)
    assert token_attempt(bystander.email, PASSWORD, REMOTE_ADDR="198.51.100.1") == (200, "token")


def test_the_login_page_and_the_token_endpoint_count_failures_for_an_account_together(client, account):
    for n in range(5):
        assert token_attempt(account.email, REMOTE_ADDR=f"198.51.100.{n}") == (400, "invalid_credentials")

    response = client.post("/accounts/login/", {"login": account.email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.9")

    assert response.status_code == 200 and "Too many failed login attempts" in response.content.decode()
    assert client.session.get("_auth_user_id") is None


def test_token_requests_for_one_email_are_limited_from_any_address_and_the_cache_holds_no_address(account):
    answers = [token_attempt(account.email, PASSWORD, REMOTE_ADDR=f"198.51.100.{n}") for n in range(11)]

    assert answers == [(200, "token")] * 10 + [(429, "rate_limited")]
    keys = [str(key) for key in cache._cache]  # the test's private LocMemCache
    assert any("auth_token_account" in key for key in keys)
    assert not any("target" in key or "example.test" in key for key in keys)


def test_the_login_page_behind_our_proxy_counts_each_client_on_its_own(client, settings):
    """Behind a proxy every request comes from the proxy's address; counting that would let
    one guesser lock everybody out, and reading the client-written part would let the guesser
    go unlimited."""
    settings.BEHIND_PROXY = True
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(10):
        response = client.post(
            "/accounts/login/",
            {"login": f"guess{n}@example.test", "password": "wrong-password"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7",
            **via_proxy,
        )
        assert "are not correct" in response.content.decode()

    guesser = client.post(
        "/accounts/login/",
        {"login": "guess99@example.test", "password": "wrong-password"},
        HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.7",
        **via_proxy,
    )
    assert "Too many failed login attempts" in guesser.content.decode()

    user = UserFactory(email="honest@example.test")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(
        "/accounts/login/", {"login": user.email, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.8", **via_proxy
    )
    assert response.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk)
