"""REST plumbing shared by every app: error shape, brand API keys, login tokens, health."""

import asyncio
import hashlib
import hmac
import logging
import time
import uuid

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.utils import has_verified_email
from allauth.mfa.adapter import get_adapter as mfa_adapter
from allauth.mfa.base.forms import AuthenticateForm as MFAAuthenticateForm
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django import forms
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from .adapters import client_ip
from .errors import DomainError, error_body
from .mfa import mfa_required
from .models import Brand, BrandApiKey, User, hash_api_key
from .prepared import PreparedQuery
from .services import api_token_create

log = logging.getLogger(__name__)


# --- Error shape ---------------------------------------------------------------------------

_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc, context):
    """Every API error becomes `{"error": {"code", "message", "fields"?}}`."""
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        # A refusal that says when to come back (a brand's intake paused, too many uploads).
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(code, "The request has invalid fields.", fields)
    else:
        message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
        response.data = error_body(code, message)
    return response


# --- Brand API keys --------------------------------------------------------------------------


class BrandClient:
    """The request.user of a brand system: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, brand: Brand):
        self.brand = brand
        self.pk = None

    def __str__(self) -> str:
        return f"brand:{self.brand.slug}"


def _key_with_brand(_shape: None, *, key_hash: str) -> QuerySet[BrandApiKey]:
    return BrandApiKey.objects.select_related("brand").filter(key_hash=key_hash, revoked_at__isnull=True)[:1]


# Every handover is authenticated: compiled once (marketplace/prepared.py), not per request.
_live_key = PreparedQuery(_key_with_brand)


class BrandApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <brand API key>`; request.auth is the Brand."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the key as: Authorization: Bearer <brand API key>.")
        raw = parts[1].decode("latin1")
        digest = hash_api_key(raw)
        key = _live_key.first(None, key_hash=digest)
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        return BrandClient(key.brand), key.brand

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BrandApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.api.BrandApiKeyAuthentication"
    name = "brandApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Brand API key"}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """People (agents, supervisors) on the API: `Authorization: Token <token>`."""

    target_class = "marketplace.adapters.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, the token from POST /api/v1/auth/token/",
        }


class IsBrand(BasePermission):
    message = "A brand API key is required (Authorization: Bearer <key>)."

    def has_permission(self, request, view):
        return isinstance(request.auth, Brand)


class BrandThrottle(BaseThrottle):
    """Requests per brand in fixed windows, counted with one atomic cache increment.

    DRF's SimpleRateThrottle keeps every request time of the window in one cached list and
    rewrites it on each request; at thousands of requests a minute that list is the most
    expensive part of the call. A counter per window costs one round trip.
    """

    scope = "brand"

    def __init__(self):
        from django.conf import settings

        self.limit, self.window = SimpleRateThrottle.parse_rate(
            None, settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]
        )
        self.reset_in = 0

    def allow_request(self, request, view):
        from django.core.cache import cache

        ident = self.throttle_ident(request, view)
        now = time.time()
        bucket = int(now // self.window)
        key = f"throttle:{self.scope}:{ident}:{bucket}"
        try:
            count = cache.incr(key)
        except ValueError:  # first request of the window
            if cache.add(key, 1, timeout=self.window + 1):
                count = 1
            else:
                count = cache.incr(key)
        self.reset_in = (bucket + 1) * self.window - now
        return count <= self.limit

    def throttle_ident(self, request, view) -> object:
        return request.auth.pk if isinstance(request.auth, Brand) else self.get_ident(request)

    def wait(self):
        return self.reset_in


# --- Login tokens ---------------------------------------------------------------------------


class AuthTokenThrottle(SimpleRateThrottle):
    """Token requests per client address; X-Forwarded-For counts only behind our proxies."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class AuthTokenAccountThrottle(SimpleRateThrottle):
    """Token requests per e-mail address, from whatever addresses they come. The address is
    hashed so the cache holds no personal data."""

    scope = "auth_token_account"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email.strip():
            return None
        ident = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRequestSerializer(serializers.Serializer):
    # As long as the column it is looked up in; a longer address cannot belong to anyone.
    email = serializers.EmailField(max_length=User._meta.get_field("email").max_length)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The authenticator app's current code (or a recovery code); required once two-factor "
        "authentication is set up.",
    )


TOO_MANY_ATTEMPTS = "Too many failed attempts for this account; wait a few minutes and try again."


def _password_user(request, email: str, password: str):
    """The user, if the password is right. Goes through allauth so that failed attempts count
    against the same per-account and per-address limits as the login page."""
    adapter = get_account_adapter(request)
    try:
        user = adapter.authenticate(request, email=email, password=password)
    except forms.ValidationError as exc:
        if exc.code == "too_many_login_attempts":
            raise DomainError("too_many_attempts", TOO_MANY_ATTEMPTS, status=429) from None
        raise
    if user is None or not user.is_active:
        raise DomainError("invalid_credentials", "The e-mail or password is not correct.")
    return user


def _check_second_factor(request, user, code: str) -> None:
    """What the login page asks after the password: the authenticator code when the user has
    one, and none at all for supervisors and staff who were required to set one up."""
    if mfa_adapter().is_mfa_enabled(user):
        if not code:
            raise DomainError("mfa_code_required", "Send the code of your authenticator app in `code`.", status=401)
        # allauth's own check: TOTP with replay protection, recovery codes, and its limit
        # on failed codes per user.
        form = MFAAuthenticateForm(user=user, data={"code": code})
        if not form.is_valid():
            if any(e.code == "too_many_login_attempts" for e in form.errors.as_data().get("code", [])):
                raise DomainError("too_many_attempts", TOO_MANY_ATTEMPTS, status=429)
            raise DomainError("mfa_code_invalid", "The authenticator code is not correct.", status=401)
        form.authenticator.record_usage()
    elif settings.SUPERVISOR_MFA_REQUIRED and mfa_required(user):
        raise DomainError(
            "mfa_required",
            "Set up two-factor authentication by logging in on the website first.",
            status=403,
        )


class AuthTokenView(APIView):
    """Exchange e-mail, password and (with two-factor authentication) the authenticator code
    for an API token, used as `Authorization: Token <token>` on REST and websockets.

    It refuses whatever the login page refuses: wrong passwords, too many failures, an
    unverified e-mail address, a missing or wrong second factor.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthTokenThrottle, AuthTokenAccountThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer(
                "TokenResponse", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
            ),
            400: OpenApiResponse(description="invalid_credentials: wrong e-mail or password"),
            401: OpenApiResponse(description="mfa_code_required / mfa_code_invalid"),
            403: OpenApiResponse(description="email_unverified / mfa_required"),
            429: OpenApiResponse(description="too_many_attempts (this account) / rate_limited"),
        },
        auth=[],
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"].lower()
        # allauth's limits and context want Django's request, not DRF's wrapper.
        user = _password_user(request._request, email, data.validated_data["password"])
        if account_settings.EMAIL_VERIFICATION == account_settings.EmailVerificationMethod.MANDATORY and not (
            has_verified_email(user, email)
        ):
            raise DomainError(
                "email_unverified", "Verify your e-mail address with the link we sent, then try again.", status=403
            )
        _check_second_factor(request._request, user, data.validated_data.get("code", "").strip())
        raw, token = api_token_create(user=user)
        return Response({"token": raw, "expires_at": token.expiry})


# --- Health ---------------------------------------------------------------------------------


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def healthz(request):
    """200 when the database and the channel layer both answer, else 503 with the failure."""
    checks = {}
    try:
        await sync_to_async(_database_ok)()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        layer = get_channel_layer()
        channel = await layer.new_channel("healthz.")
        marker = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "marker": marker})
        received = await asyncio.wait_for(layer.receive(channel), timeout=2)
        checks["channel_layer"] = "ok" if received.get("marker") == marker else "error: wrong message"
    except Exception as exc:
        checks["channel_layer"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if healthy else "error", **checks, "time": timezone.now().isoformat()}
    return JsonResponse(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
