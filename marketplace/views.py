from django.http import JsonResponse
from django.shortcuts import redirect, render

from agents.models import AgentProfile
from marketplace.errors import error_body
from marketplace.models import User


def landing(request):
    return render(request, "landing.html")


def after_login(request):
    """Send each role to its home after login."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    if AgentProfile.objects.filter(user=request.user).exists():
        return redirect("agent-app")
    if request.user.role == User.Role.SUPERVISOR:
        return redirect("vetting-queue")
    if request.user.is_staff:
        return redirect("admin:index")
    # Applicants (new sign-ups included) continue their application.
    return redirect("apply-start")


def not_found(request, exception=None):
    # An API path no route matches (a negative ticket id) still gets the API's error shape.
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "There is no such API endpoint."), status=404)
    return render(request, "404.html", status=404)
