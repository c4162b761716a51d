from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse

from .errors import error_body
from .parsers import has_forbidden_characters

# Scripts only from our own origin (no inline JS anywhere); sockets back to the same host.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class InvalidCharactersMiddleware:
    """A NUL character or a lone surrogate in the path, the query string or a form body is a 400.

    PostgreSQL refuses NUL in text and UTF-8 cannot encode a lone surrogate, so such a
    string reaching a query (a chat token in the URL, a login form's e-mail) would be a 500.
    One check here covers every page and endpoint; JSON bodies are checked by
    marketplace.parsers.SafeJSONParser, which DRF calls later.
    """

    FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self.carries_invalid_characters(request):
            return self.refuse(request)
        return self.get_response(request)

    def carries_invalid_characters(self, request) -> bool:
        if has_forbidden_characters(request.path) or has_forbidden_characters(request.path_info):
            return True
        if self.any_forbidden(request.GET):
            return True
        # Django only parses form bodies of POST requests; reading one here is what CSRF
        # protection does next anyway, and other content types are left unread.
        if request.method == "POST" and request.content_type in self.FORM_TYPES:
            return self.any_forbidden(request.POST)
        return False

    @staticmethod
    def any_forbidden(data) -> bool:
        return any(
            has_forbidden_characters(key) or any(has_forbidden_characters(value) for value in values)
            for key, values in data.lists()
        )

    @staticmethod
    def refuse(request):
        if request.path.startswith("/api/"):
            body = error_body(
                "invalid_characters",
                "The request contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored.",
            )
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(
            "Bad request: the address or form contains characters that cannot be stored.", content_type="text/plain"
        )
