"""The supervisors' live view: the page is a shell the server renders (headings, the
brands' intake and surge forms); static/js/ops.js fills it from `/ws/supervisor/` and
calls the `/api/v1/ops/` endpoints for its buttons.

Supervisors (their brands) and platform staff (every brand); anyone else gets the
supervisors-only page (403), anonymous visitors the login page.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from marketplace.models import Brand, User
from payouts.views.supervisor import supervisor_or_staff_required

from .ops_selectors import ops_brand_ids


@require_GET
@supervisor_or_staff_required
def supervisor_live(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # supervisor_or_staff_required let only people through
    brands = list(Brand.objects.filter(pk__in=ops_brand_ids(user) or set()).order_by("name", "pk"))
    urls = {
        "reassign": reverse("api-ops-reassign", args=[0]),
        "note": reverse("api-ops-agent-note", args=[0]),
        "away": reverse("api-ops-agent-away", args=[0]),
        "pause": reverse("api-ops-intake-pause"),
        "resume": reverse("api-ops-intake-resume"),
        "surge": reverse("api-ops-surge"),
        "ticket": reverse("supervisor-ticket", args=[0]),
    }
    return render(
        request,
        "supervisor/live.html",
        {
            "brands": brands,
            "urls": urls,
            "ws_path": "/ws/supervisor/",
            "retry_seconds": settings.INTAKE_PAUSED_RETRY_SECONDS,
        },
    )
