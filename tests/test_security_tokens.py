"""API login tokens end: they expire, and a password change (by whatever path) voids every
token issued before it. REST and the websocket handshake judge a token the same way.

REST endpoints for people are few (brand systems use keys); the schema endpoint runs the
default authentication classes like any future endpoint for people would, so it stands
for the REST door here.
"""

import re
import uuid
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.asgi import application
from marketplace.models import ApiToken, User
from marketplace.services import api_token_create

from .factories import PASSWORD, UserFactory
from .ws import receive

NEW_PASSWORD = "a-long-pass-phrase-42"


@pytest.fixture(autouse=True)
def _private_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def rest_answer(token: str) -> tuple[int, str]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    return response.status_code, response.json()["error"]["code"] if response.status_code != 200 else "ok"


def expire(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


# --- REST ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_token_is_accepted_and_an_unknown_one_refused(agent):
    raw, _ = api_token_create(user=agent.user)

    assert rest_answer(raw) == (200, "ok")
    assert rest_answer("0" * 64) == (401, "unauthenticated")


@pytest.mark.django_db
def test_an_expired_token_is_refused_and_removed(agent):
    raw, token = api_token_create(user=agent.user)
    expire(token)

    assert rest_answer(raw) == (401, "unauthenticated")
    assert not ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.django_db
def test_a_token_of_a_disabled_account_is_refused(agent):
    raw, _ = api_token_create(user=agent.user)
    User.objects.filter(pk=agent.user.pk).update(is_active=False)

    assert rest_answer(raw) == (401, "unauthenticated")


def change_on_the_password_page(client, user, mailoutbox, monkeypatch):
    verified(user)
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302


def reset_by_email_link(client, user, mailoutbox, monkeypatch):
    verified(user)
    client.post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mailoutbox[-1].body).group(1)
    form = client.get(link, follow=True)
    response = client.post(form.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response["Location"] == "/accounts/password/reset/key/done/"


def set_by_staff_in_the_admin(client, user, mailoutbox, monkeypatch):
    staff = UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True, is_superuser=True)
    TOTP.activate(staff, generate_totp_secret())
    client.force_login(staff)
    response = client.post(
        f"/admin/marketplace/user/{user.pk}/password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302


def set_with_changepassword_command(client, user, mailoutbox, monkeypatch):
    answers = iter([NEW_PASSWORD, NEW_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("changepassword", user.email)


def written_straight_to_the_database(client, user, mailoutbox, monkeypatch):
    """A data fix or a script that never calls any of our code."""
    probe = User(email=user.email)
    probe.set_password(NEW_PASSWORD)
    User.objects.filter(pk=user.pk).update(password=probe.password)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        change_on_the_password_page,
        reset_by_email_link,
        set_by_staff_in_the_admin,
        set_with_changepassword_command,
        written_straight_to_the_database,
    ],
)
def test_a_password_change_by_any_path_voids_the_tokens_issued_before(client, agent, change, mailoutbox, monkeypatch):
    before, _ = api_token_create(user=agent.user)

    change(client, agent.user, mailoutbox, monkeypatch)
    agent.user.refresh_from_db()
    assert agent.user.check_password(NEW_PASSWORD)

    assert rest_answer(before) == (401, "unauthenticated")
    after, _ = api_token_create(user=agent.user)
    assert rest_answer(after) == (200, "ok")


@pytest.mark.django_db
def test_saving_the_user_without_a_new_password_keeps_the_tokens(agent):
    raw, _ = api_token_create(user=agent.user)
    agent.user.last_login = timezone.now()
    agent.user.save()

    assert rest_answer(raw) == (200, "ok")


# --- Websocket handshake ---------------------------------------------------------------------


async def handshake(token: str) -> tuple[bool, str]:
    ws = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"authorization", f"Token {token}".encode())])
    await ws.connect()
    first = await receive(ws)
    await ws.disconnect()
    return first["type"], first.get("code", "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_websocket_handshake_refuses_expired_and_outdated_tokens(agent):
    good, _ = await database_sync_to_async(api_token_create)(user=agent.user)
    expired_raw, expired = await database_sync_to_async(api_token_create)(user=agent.user)
    await database_sync_to_async(expire)(expired)

    assert await handshake(good) == ("presence", "")
    assert await handshake(expired_raw) == ("error", "unauthenticated")

    def change_password():
        agent.user.set_password(NEW_PASSWORD)
        agent.user.save()

    await database_sync_to_async(change_password)()
    assert await handshake(good) == ("error", "unauthenticated")
