"""The agent app page (the live part runs over the agent socket)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .. import selectors


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
            "offer_seconds": settings.OFFER_TIMEOUT_SECONDS,
            "reopen_hours": settings.REOPEN_WINDOW_HOURS,
            "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
        },
    )
