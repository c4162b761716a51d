from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import cache_page
from django.views.i18n import JavaScriptCatalog

from marketplace.adapters import home_path, two_factor_setup_done_path
from marketplace.errors import error_body
from marketplace.i18n import supported_language


def landing(request):
    return render(request, "landing.html")


def after_login(request):
    """Send each role to its home: the same rule as allauth's login redirect, for links that
    cannot know the role (the landing page, the recovery codes' Continue)."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    return redirect(home_path(request.user))


def after_two_factor_setup(request):
    """The recovery codes page's Continue: allauth shows the codes right after the
    authenticator app is activated, and this is where setting up ends."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    return redirect(two_factor_setup_done_path(request.user))


def not_found(request, exception=None):
    # An API path no route matches (a negative ticket id) still gets the API's error shape.
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "There is no such API endpoint."), status=404)
    return render(request, "404.html", status=404)


@cache_page(3600)
def javascript_catalog(request):
    """The translated strings static/js needs. `?lang=` picks the language explicitly, so a page
    rendered in a language other than the browser's (a customer chat in its ticket's language)
    loads the matching catalogue; without it the request's own language applies."""
    language = supported_language(request.GET.get("lang"))
    if language:
        translation.activate(language)
    return JavaScriptCatalog.as_view()(request)
