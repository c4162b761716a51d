"""Two-factor authentication is compulsory for supervisors and staff.

Supervisors read applicants' personal data and decide who may work for a brand, so a
leaked password alone must not be enough. allauth.mfa provides TOTP; this middleware
keeps such users on the TOTP setup page until they have an authenticator.
"""

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop

# allauth's pages (TOTP setup, reauthentication, logout) must stay reachable or the user
# could never comply; the API authenticates with tokens and answers machines, not people.
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/")

MESSAGE = gettext_noop(
    "Supervisors must set up two-factor authentication before continuing. "
    "Scan the QR code with an authenticator app and enter the code it shows."
)


def mfa_required(user) -> bool:
    return user.is_authenticated and (user.role == user.Role.SUPERVISOR or user.is_staff)


def has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class SupervisorMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Read per request, not at import, so override_settings and the pytest settings
        # fixture take effect.
        if (
            getattr(settings, "SUPERVISOR_MFA_REQUIRED", True)
            and not request.path_info.startswith(EXEMPT_PREFIXES)
            and mfa_required(request.user)
            and not has_totp(request.user)
        ):
            messages.warning(request, gettext(MESSAGE), fail_silently=True)
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
