"""When Redis is away: a clear 503 instead of a 500, a warning at start, and nothing to
restart when it returns.

Redis carries the rate-limit counters, allauth's login throttles and the channel layer.
Its clients reconnect by themselves, so the only job here is to answer honestly while it
is gone: JSON for the API, a short page for people, `Retry-After` for both.
"""

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext, gettext_noop
from redis.exceptions import RedisError

from .errors import error_body

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = gettext_noop(
    "A service we depend on is unavailable for a moment. Nothing was changed; please try again shortly."
)


def unavailable_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [RedisError]
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:  # embedded mode runs without django-redis' cache
        pass
    return tuple(errors)


UNAVAILABLE_ERRORS = unavailable_errors()


def service_unavailable_response(request) -> HttpResponse:
    if request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse(error_body("service_unavailable", MESSAGE), status=503)
    else:
        try:
            body: str = render_to_string("503.html", {"message": gettext(MESSAGE)}, request=request)
        except Exception:  # the page itself must not need what is missing
            body = MESSAGE
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ServiceUnavailableMiddleware:
    """Turns a Redis outage met anywhere in a view (throttles, allauth's rate limits, the
    cache) into a 503 the client can act on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE_ERRORS):
            log.warning("answering 503 for %s: Redis is unavailable (%s)", request.path_info, exception)
            return service_unavailable_response(request)
        return None


def check_redis_at_start() -> bool:
    """Say in the log, at server start, when Redis cannot be reached. Returns reachability."""
    if not settings.REDIS_URL:
        return True
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except RedisError as exc:
        log.error(
            "Redis at %s is not reachable (%s). Requests that need it answer 503 and sockets are refused "
            "until it is back; the server reconnects by itself.",
            redact(settings.REDIS_URL),
            exc,
        )
        return False
    return True


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
