"""The agent app page (the live part runs over the agent socket) and its service worker."""

import hashlib
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import selectors

# The app shell the service worker keeps, so the installed app opens without a network.
SHELL = [
    "vendor/pico.min.css",
    "css/app.css",
    "js/ui.js",
    "js/socket.js",
    "js/agent.js",
    "js/agent-alerts.js",
    "manifest.webmanifest",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "offline.html",
]
# Set by static/js/agent.js when the agent closes the first-day guide; read here so a
# reload renders it closed instead of flashing it open.
GUIDE_COOKIE = "agent_guide"


@login_required
def agent_app(request):
    agent = selectors.agent_for_user(user=request.user)
    if agent is None:
        return render(request, "agent/not_agent.html", status=403)
    return render(
        request,
        "agent/app.html",
        {
            "agent": agent,
            "ws_path": "/ws/agent/",
            # The guide stays until the first case is resolved.
            "first_day": not selectors.agent_has_earned(agent=agent),
            "guide_collapsed": request.COOKIES.get(GUIDE_COOKIE) == "collapsed",
            "offer_seconds": settings.OFFER_TIMEOUT_SECONDS,
            "reopen_hours": settings.REOPEN_WINDOW_HOURS,
            "vapid_public_key": settings.VAPID_PUBLIC_KEY if settings.WEB_PUSH_ENABLED else "",
            "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
        },
    )


def _read_static(name: str) -> bytes:
    path = finders.find(name)
    if not path:
        raise FileNotFoundError(name)
    with open(path if isinstance(path, str) else path[0], "rb") as handle:
        return handle.read()


@require_GET
def service_worker(request):
    """static/js/sw.js, served from /agent/ so its scope is the app, headed by the shell's
    URLs and a version made from their contents: a changed file is a changed worker, which
    the browser installs, refreshing its cache."""
    source = _read_static("js/sw.js")
    digest = hashlib.sha256(source)
    for name in SHELL:
        digest.update(_read_static(name))
    head = (
        f"var SHELL_VERSION = {json.dumps(digest.hexdigest()[:16])};\n"
        f"var SHELL_URLS = {json.dumps([static(name) for name in SHELL])};\n"
        f"var APP_URL = {json.dumps(reverse('agent-app'))};\n"
        f"var OFFLINE_URL = {json.dumps(static('offline.html'))};\n"
        f"var ICON_URL = {json.dumps(static('icons/icon-192.png'))};\n"
    )
    response = HttpResponse(head.encode() + source, content_type="text/javascript; charset=utf-8")
    # Browsers look for a new worker on every visit; a cached copy would hide a release.
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = reverse("agent-app")
    return response
