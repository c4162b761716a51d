"""Where the project plugs into allauth and knox: who the client is, where each role lands
after login, how e-mails name the site and link back to it, and which API tokens are
still good.

Kept free of rest_framework.views imports: DRF imports the authentication class named in
settings while rest_framework.views itself is still loading.
"""

import ipaddress
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from knox.auth import TokenAuthentication
from rest_framework import exceptions


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str:
    """The address every rate limit counts against.

    X-Forwarded-For is written by whoever sends the request, so it is only read behind our
    own proxies (BEHIND_PROXY), and then only the entry PROXY_COUNT hops from the right:
    entries further left were supplied by the client. The same rule as DRF's NUM_PROXIES.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_PROXY and forwarded:
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return _address(hops[-min(settings.PROXY_COUNT, len(hops))]) or remote
    return remote


def site_url(path: str) -> str:
    """An absolute link for e-mails: SITE_URL, never the Host header of whoever happened
    to trigger the mail (a worker has no request, and a forged Host must not end up in a
    password-reset link)."""
    return f"{settings.SITE_URL}{path}"


def on_site(url: str) -> str:
    """The same link with SITE_URL as its scheme and host."""
    bits = urlsplit(url)
    return site_url(
        bits.path + (f"?{bits.query}" if bits.query else "") + (f"#{bits.fragment}" if bits.fragment else "")
    )


@dataclass(frozen=True)
class SiteIdentity:
    """What allauth's e-mail templates read from `current_site`: the product's name, not
    the host name that Django's RequestSite would give without the sites framework."""

    name: str
    domain: str


def current_site() -> SiteIdentity:
    return SiteIdentity(name=settings.SITE_NAME, domain=urlsplit(settings.SITE_URL).netloc)


def home_path(user) -> str:
    """Where a person lands after login: agents in the agent app, supervisors on their home,
    platform staff in the admin, everyone else (new sign-ups included) in the application."""
    # The reverse accessor, not an import: the core imports no app (agents sits above it).
    if hasattr(user, "agent_profile"):
        return reverse("agent-app")
    if user.role == user.Role.SUPERVISOR:
        return reverse("supervisor-home")
    if user.is_staff and (user.role == user.Role.STAFF or user.is_superuser):
        return reverse("admin:index")
    return reverse("apply-start")


def two_factor_setup_done_path(user) -> str:
    """Where finishing the two-factor setup leads: the supervisor home for those it is
    compulsory for (supervisors and platform staff), who set it up to reach their work
    there; anyone else to their usual home."""
    if user.role == user.Role.SUPERVISOR or user.is_platform_staff:
        return reverse("supervisor-home")
    return home_path(user)


def logged_in_with_password_recently(request) -> bool:
    """True when this session's password login (or password re-entry) is younger than
    ACCOUNT_REAUTHENTICATION_TIMEOUT. allauth only counts explicit re-entries, so a
    supervisor sent to TOTP setup straight from the login form was asked for the password
    a second time; a login seconds ago proves the same thing."""
    if request is None or not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    times = [record.get("at", 0) for record in records if record.get("method") == "password"]
    return bool(times) and time.time() - max(times) < account_settings.REAUTHENTICATION_TIMEOUT


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's own reading trusts X-Forwarded-For by a separate setting; one rule for
        # every limit keeps the login page and the token endpoint counting the same address.
        return client_ip(request)

    def get_login_redirect_url(self, request) -> str:
        return home_path(request.user)

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not logged_in_with_password_recently(self.request)

    # --- E-mails: the site's name and absolute links on SITE_URL -----------------------------

    def format_email_subject(self, subject: str) -> str:
        return f"[{settings.SITE_NAME}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # allauth builds each link (verification, password reset, sign-up) from the request
        # that triggered the mail; every one is moved onto SITE_URL here, in one place.
        links = {
            key: on_site(value) for key, value in context.items() if key.endswith("_url") and isinstance(value, str)
        }
        ctx = {"current_site": current_site(), "site_url": settings.SITE_URL, **context, **links}
        super().send_mail(template_prefix, email, ctx)


def password_fingerprint(user) -> str:
    """Changes whenever the password does (Django invalidates sessions with the same hash)."""
    return user.get_session_auth_hash()


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <token>`: knox's hashed, expiring tokens, refused once the
    user's password has changed since the token was issued. Websocket handshakes use
    the same check (marketplace.ws_auth)."""

    def validate_user(self, auth_token):
        user = auth_token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        current = [password_fingerprint(user), *user.get_session_auth_fallback_hash()]
        if not any(constant_time_compare(auth_token.password_fingerprint, value) for value in current):
            auth_token.delete()
            raise exceptions.AuthenticationFailed("The password has changed since this token was issued; log in again.")
        return user, auth_token

    def user_for_token(self, raw: str):
        """The token's user, or None when the token is unknown, expired or revoked."""
        try:
            user, _ = self.authenticate_credentials(raw.encode())
        except exceptions.AuthenticationFailed:
            return None
        return user
