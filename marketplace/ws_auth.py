"""Websocket handshake security: token authentication and origin checks."""

from urllib.parse import urlparse

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings


@database_sync_to_async
def _user_for_token(key: str):
    # The REST authentication class itself, so expiry, revocation by a password change and
    # disabled accounts are judged the same way on both doors.
    from .adapters import ApiTokenAuthentication

    return ApiTokenAuthentication().user_for_token(key)


class TokenAuthMiddleware:
    """`Authorization: Token <key>` on the handshake authenticates like the REST API does.

    Runs inside AuthMiddlewareStack, so a valid token overrides the session user and an
    invalid one leaves the socket anonymous (the consumer then refuses it).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization", b"").decode("latin1")
        if raw.lower().startswith("token "):
            from django.contrib.auth.models import AnonymousUser

            user = await _user_for_token(raw[6:].strip())
            scope = dict(scope, user=user or AnonymousUser(), auth_method="token")
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin on websockets; it must be one of our hosts (stops
    cross-site websocket hijacking of the session cookie). Non-browser clients send no
    Origin and authenticate with a token instead."""

    def __init__(self, app):
        super().__init__(app, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)

    def match_allowed_origin(self, parsed_origin, pattern):
        if pattern == "*":
            return True
        host = parsed_origin.hostname or ""
        pattern = pattern.lower()
        if pattern.startswith("."):
            return host == pattern[1:] or host.endswith(pattern)
        return host == urlparse(f"//{pattern}").hostname
