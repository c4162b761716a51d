"""Where the project plugs into allauth and knox: who the client is, and which API tokens
are still good.

Kept free of rest_framework.views imports: DRF imports the authentication class named in
settings while rest_framework.views itself is still loading.
"""

import ipaddress

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
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


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's own reading trusts X-Forwarded-For by a separate setting; one rule for
        # every limit keeps the login page and the token endpoint counting the same address.
        return client_ip(request)


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
