from django.shortcuts import redirect, render

from agents.models import AgentProfile


def landing(request):
    return render(request, "landing.html")


def after_login(request):
    """Send each role to its home after login."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    if AgentProfile.objects.filter(user=request.user).exists():
        return redirect("agent-app")
    if request.user.is_staff:
        return redirect("admin:index")
    return redirect("landing")


def not_found(request, exception=None):
    return render(request, "404.html", status=404)
