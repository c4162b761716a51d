"""Every e-mail the product sends: links are absolute and start with SITE_URL (never the
host of the request that triggered them), subjects and greetings name SITE_NAME, and a
decision e-mail carries the supervisor's own message."""

import re
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from agents import services
from agents.models import Application
from marketplace.models import User

from .factories import PASSWORD, UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db

SITE_URL = "https://help.example.com"
SITE_NAME = "Acme Helpers"
# The host a forged or internal request would carry; it must never reach a mail.
REQUEST_HOST = "internal.invalid"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE_URL
    settings.SITE_NAME = SITE_NAME
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, REQUEST_HOST]
    settings.SUPERVISOR_MFA_REQUIRED = False
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def links(message) -> list[str]:
    """Every URL-looking thing in the text body and in any HTML alternative."""
    texts = [message.body] + [content for content, _ in getattr(message, "alternatives", [])]
    return [url for text in texts for url in re.findall(r"(?:https?://|www\.|/)[^\s\"'<>]*", text) if "/" in url]


def assert_links_on_site(message):
    found = links(message)
    assert found, f"no link in:\n{message.body}"
    for url in found:
        assert url.startswith(f"{SITE_URL}/"), f"{url!r} is not on SITE_URL in:\n{message.body}"
    assert REQUEST_HOST not in message.body and "testserver" not in message.body


def assert_named(message):
    assert message.subject.startswith(f"[{SITE_NAME}] ")
    assert message.body.startswith(("Hello from " + SITE_NAME, "Hello ")), message.body


def post(client, path, data):
    return client.post(path, data, HTTP_HOST=REQUEST_HOST)


# --- allauth's account e-mails -----------------------------------------------------------------


def test_the_signup_verification_email_links_to_site_url_and_names_the_site(client, mailoutbox):
    post(
        client,
        "/accounts/signup/",
        {"email": "new@example.test", "password1": "a-long-pass-42", "password2": "a-long-pass-42"},
    )

    [message] = mailoutbox
    assert_named(message)
    assert_links_on_site(message)
    assert f"{SITE_URL}/accounts/confirm-email/" in message.body
    assert f"register an account on {SITE_NAME}" in message.body
    assert message.body.startswith(f"Hello from {SITE_NAME}!")


def test_the_link_in_the_verification_email_works(client, mailoutbox):
    post(
        client,
        "/accounts/signup/",
        {"email": "new@example.test", "password1": "a-long-pass-42", "password2": "a-long-pass-42"},
    )
    link = re.search(rf"{re.escape(SITE_URL)}(/accounts/confirm-email/\S+)", mailoutbox[0].body).group(1)

    client.post(link)

    assert EmailAddress.objects.get(email="new@example.test").verified


def test_the_password_reset_email_links_to_site_url(client, mailoutbox):
    user = UserFactory(email="forgetful@example.test")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    post(client, "/accounts/password/reset/", {"email": user.email})

    [message] = mailoutbox
    assert_named(message)
    assert_links_on_site(message)
    assert f"{SITE_URL}/accounts/password/reset/key/" in message.body


def test_a_password_reset_for_an_unknown_address_links_to_the_signup_on_site_url(client, mailoutbox):
    post(client, "/accounts/password/reset/", {"email": "nobody@example.test"})

    [message] = mailoutbox
    assert_named(message)
    assert_links_on_site(message)
    assert f"{SITE_URL}/accounts/signup/" in message.body


def test_signing_up_with_a_taken_address_emails_the_owner_links_on_site_url(client, mailoutbox):
    owner = UserFactory(email="taken@example.test")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)

    post(
        client,
        "/accounts/signup/",
        {"email": owner.email, "password1": "a-long-pass-42", "password2": "a-long-pass-42"},
    )

    [message] = mailoutbox
    assert_named(message)
    assert_links_on_site(message)
    assert f"{SITE_URL}/accounts/password/reset/" in message.body


def test_login_before_verification_resends_the_email_on_site_url(client, mailoutbox):
    user = UserFactory(email="early@example.test", role=User.Role.APPLICANT)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)

    post(client, "/accounts/login/", {"login": user.email, "password": PASSWORD})

    [message] = mailoutbox
    assert_named(message)
    assert_links_on_site(message)


# --- The applicant's e-mails (agents/jobs.py) ------------------------------------------------------


@pytest.fixture
def sent(brand, django_capture_on_commit_callbacks):
    applicant = UserFactory(email="sara@example.test", role=User.Role.APPLICANT)
    application = Application.objects.create(user=applicant, answers=answers_for(brand), country="SE")
    with django_capture_on_commit_callbacks(execute=True):
        return services.application_submit(application=application)


def decide(sent, supervisor, django_capture_on_commit_callbacks, **decision):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.application_decide(application=sent, supervisor=supervisor, **decision)
    [message] = mail.outbox
    return message


def test_the_received_email_greets_by_name_and_links_to_site_url(sent, mailoutbox):
    [message] = mailoutbox

    assert message.subject == f"[{SITE_NAME}] We received your application"
    assert message.body.startswith("Hello Sara,\n")
    assert f"Thank you for applying to {SITE_NAME}" in message.body
    assert message.body.rstrip().endswith(f"The {SITE_NAME} team")
    assert_links_on_site(message)


def test_the_refusal_email_carries_the_supervisors_message(sent, supervisor, django_capture_on_commit_callbacks):
    message = decide(
        sent,
        supervisor,
        django_capture_on_commit_callbacks,
        decision="reject",
        reason="language",
        message="Your written English sample was too short to judge.\nTry again with a longer one.",
    )

    assert message.subject == f"[{SITE_NAME}] About your application"
    assert "Language level not sufficient" in message.body
    assert "Your written English sample was too short to judge.\nTry again with a longer one." in message.body
    assert "You may apply again from" in message.body
    assert_links_on_site(message)
    assert not getattr(message, "alternatives", [])  # plain text only: nothing else to keep in step


def test_the_approval_email_carries_the_supervisors_message_and_the_agent_app_link(
    sent, supervisor, django_capture_on_commit_callbacks
):
    message = decide(
        sent,
        supervisor,
        django_capture_on_commit_callbacks,
        decision="approve",
        message="Lovely answers on the card questions. Start with evening shifts.",
    )

    assert message.subject == f"[{SITE_NAME}] Welcome aboard"
    assert "Lovely answers on the card questions. Start with evening shifts." in message.body
    assert f"{SITE_URL}/agent/" in message.body
    assert_links_on_site(message)


def test_an_approval_without_a_message_has_no_empty_note(sent, supervisor, django_capture_on_commit_callbacks):
    message = decide(sent, supervisor, django_capture_on_commit_callbacks, decision="approve")

    assert "A note from the supervisor" not in message.body
    assert_links_on_site(message)


def test_a_request_for_information_carries_the_question_and_a_link_to_update(
    sent, supervisor, django_capture_on_commit_callbacks
):
    message = decide(
        sent, supervisor, django_capture_on_commit_callbacks, decision="info", message="Which hours on weekdays?"
    )

    assert message.subject == f"[{SITE_NAME}] We need a little more information"
    assert "Which hours on weekdays?" in message.body
    assert f"{SITE_URL}/apply/" in message.body
    assert_links_on_site(message)


# --- The setting itself -------------------------------------------------------------------------


def test_the_authenticator_app_names_the_site(settings):
    from marketplace import settings as project_settings

    assert project_settings.MFA_TOTP_ISSUER == project_settings.SITE_NAME
