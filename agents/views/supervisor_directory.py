"""The supervisors' agents directory and one agent's page: who works for their brands, how
each is doing, and the way to the agent's quality page where warnings and suspensions are
given. Read-only; the scope is `agents.supervisor_selectors` (another brand's agent is 404
as if it did not exist)."""

from dataclasses import asdict

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from marketplace.models import Brand, User
from payouts.views.supervisor import supervisor_or_staff_required

from .. import supervisor_selectors as selectors
from ..models import AgentProfile
from ..quality import selectors as quality_selectors
from .quality_supervisor import NEED_LABELS, flag_summary

SUSPENDED_OPTIONS = [("", _("Any")), ("no", _("Not suspended")), ("yes", _("Suspended"))]


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # behind supervisor_or_staff_required
    return request.user


@supervisor_or_staff_required
@require_GET
def agents_directory(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = selectors.DirectoryFilters.from_query(request.GET)
    paginator = Paginator(selectors.directory_agents(user, filters), selectors.DIRECTORY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = {key: value for key, value in asdict(filters).items() if value}
    return render(
        request,
        "supervisor/agents.html",
        {
            "page": page,
            "filters": filters,
            "query": urlencode(query),
            "filtered": bool(query),
            "brands": Brand.objects.filter(pk__in=quality_selectors.supervised_brand_ids(user)).order_by("name", "pk"),
            "tiers": AgentProfile.Tier.choices,
            "statuses": AgentProfile.Status.choices,
            "suspended_options": SUSPENDED_OPTIONS,
        },
    )


@supervisor_or_staff_required
@require_GET
def agent_detail(request: HttpRequest, agent_id: int) -> HttpResponse:
    user = _user(request)
    agent = selectors.directory_agent(user, agent_id)
    if agent is None:
        raise Http404
    overview = selectors.agent_overview(user, agent)
    upcoming = overview["next_tier"]
    if upcoming is not None:
        upcoming["label"] = AgentProfile.Tier(upcoming["name"]).label
        for need in upcoming["needs"]:
            need["label"] = NEED_LABELS.get(need["criterion"], need["criterion"])
    overview["open_flags"] = [{"flag": flag, "summary": flag_summary(flag)} for flag in overview["open_flags"]]
    return render(request, "supervisor/agent.html", {"agent": agent, **overview})
