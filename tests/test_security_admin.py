"""Who gets into Django's admin and what it shows.

The admin's own login form checked the password only, so a supervisor with two-factor
authentication got a full session from the password alone. Every login now goes through
allauth's form, which asks for the code. The admin itself is for platform staff: it lists
every brand's data, so supervisors stay in their vetting pages. Secrets that open
something (customer chat tokens, API keys and tokens) are never shown in it.
"""

import time
import uuid

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

from marketplace.models import User
from marketplace.services import api_token_create

from .factories import PASSWORD, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production_rules(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.SUPERVISOR_MFA_REQUIRED = True
    settings.MFA_TOTP_TOLERANCE = 1


def person(email: str, role: str, **extra) -> tuple[User, str]:
    """A verified user with TOTP set up; returns the user and the TOTP secret."""
    user = UserFactory(email=email, role=role, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


@pytest.fixture
def staff():
    return person("ops@example.test", User.Role.STAFF, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff[0])
    return client


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def session_user(client):
    return client.session.get("_auth_user_id")


# --- Login path ---------------------------------------------------------------------------------


def test_the_admin_login_page_sends_people_to_the_login_that_asks_for_the_code(client):
    response = client.get("/admin/login/?next=/admin/tasks/ticket/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Ftasks%2Fticket%2F"


def test_opening_the_admin_anonymously_ends_at_the_allauth_login(client):
    response = client.get("/admin/", follow=True)

    assert [url for url, _ in response.redirect_chain] == [
        "/admin/login/?next=/admin/",
        "/accounts/login/?next=%2Fadmin%2F",
    ]


def test_the_admin_login_does_not_forward_to_another_site(client):
    assert client.get("/admin/login/?next=https://evil.example/")["Location"] == "/accounts/login/?next=%2Fadmin%2F"


@pytest.mark.parametrize("role, is_staff", [(User.Role.STAFF, True), (User.Role.SUPERVISOR, True)])
def test_a_password_posted_to_the_admin_login_opens_no_session(client, role, is_staff):
    """The probe: the password alone, posted to Django's admin form, gave a session that
    opened the admin and the supervisor pages, skipping the TOTP code."""
    user, _ = person("boss@example.test", role, is_staff=is_staff, is_superuser=role == User.Role.STAFF)

    response = client.post("/admin/login/", {"username": user.email, "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    assert session_user(client) is None
    assert client.get("/supervisor/applications/")["Location"].startswith("/accounts/login/")


def test_staff_reach_the_admin_through_the_login_page_with_their_code(client, staff):
    user, secret = staff

    response = client.post("/accounts/login/?next=/admin/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert session_user(client) is None
    response = client.post("/accounts/2fa/authenticate/", {"code": code_for(secret)})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert session_user(client) == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_a_logged_in_staff_member_opening_the_admin_login_goes_to_the_admin(staff_client):
    assert staff_client.get("/admin/login/?next=/admin/tasks/")["Location"] == "/admin/tasks/"


def test_admin_logout_ends_the_session(staff_client):
    response = staff_client.post("/admin/logout/")

    assert response.status_code == 200
    assert session_user(staff_client) is None


# --- Staff only -------------------------------------------------------------------------------


def test_a_supervisor_is_kept_out_of_the_admin_even_when_flagged_staff(client):
    """Admin lists are not limited to a supervisor's brands; staff status ticked by mistake
    must not open them."""
    supervisor, _ = person("sup@example.test", User.Role.SUPERVISOR, is_staff=True)
    client.force_login(supervisor)

    response = client.get("/admin/tasks/ticket/")
    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/admin/tasks/ticket/"
    assert client.get(response["Location"]).status_code == 403


def test_a_plain_supervisor_works_in_the_vetting_pages_without_staff_status(client):
    supervisor, _ = person("sup@example.test", User.Role.SUPERVISOR)
    client.force_login(supervisor)

    assert client.get("/supervisor/applications/").status_code == 200
    assert client.get("/admin/").status_code == 302


# --- What the admin shows -------------------------------------------------------------------------


def test_the_admin_never_shows_a_customer_token(staff_client, brand):
    ticket = TicketFactory(brand=brand)

    pages = [staff_client.get("/admin/tasks/ticket/"), staff_client.get(f"/admin/tasks/ticket/{ticket.pk}/change/")]
    search = staff_client.get(f"/admin/tasks/ticket/?q={ticket.customer_token}")

    assert [page.status_code for page in pages] == [200, 200]
    assert all(ticket.customer_token not in page.content.decode() for page in pages)
    assert search.context["cl"].result_count == 0  # nor can a ticket be found by its token


def test_saving_a_ticket_in_the_admin_keeps_its_customer_token(staff_client, brand):
    ticket = TicketFactory(brand=brand)
    form = staff_client.get(f"/admin/tasks/ticket/{ticket.pk}/change/").context["adminform"].form

    assert "customer_token" not in form.fields


def test_api_tokens_in_the_admin_show_their_holder_and_expiry_only(staff_client, agent):
    raw, token = api_token_create(user=agent.user)

    listing = staff_client.get("/admin/marketplace/apitoken/").content.decode()
    detail = staff_client.get(f"/admin/marketplace/apitoken/{token.pk}/change/").content.decode()

    assert agent.user.email in listing
    # The digest is the row's key (in its URL) and cannot be turned back into the token;
    # the token and its first characters (knox's lookup key) are never shown.
    for secret in (raw, token.token_key):
        assert secret not in listing and secret not in detail


def test_brand_keys_in_the_admin_show_only_their_prefix(staff_client, brand, api_key):
    stored = brand.api_keys.get()

    page = staff_client.get(f"/admin/marketplace/brand/{brand.pk}/change/").content.decode()

    assert stored.prefix in page
    assert api_key not in page and stored.key_hash not in page
