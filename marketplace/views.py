from django.http import JsonResponse
from django.shortcuts import redirect, render

from marketplace.adapters import home_path
from marketplace.errors import error_body


def landing(request):
    return render(request, "landing.html")


def after_login(request):
    """Send each role to its home: the same rule as allauth's login redirect, for links that
    cannot know the role (the landing page, the recovery codes' Continue)."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    return redirect(home_path(request.user))


def not_found(request, exception=None):
    # An API path no route matches (a negative ticket id) still gets the API's error shape.
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "There is no such API endpoint."), status=404)
    return render(request, "404.html", status=404)
