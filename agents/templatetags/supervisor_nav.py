"""The supervisors' navigation bar (templates/supervisor/_nav.html): the same links on every
supervisor page, the current section marked, and only links the viewer may open."""

from dataclasses import dataclass, replace
from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from marketplace.models import User

from ..views.supervisor import may_vet

register = template.Library()


@dataclass(frozen=True)
class NavItem:
    key: str
    label: Any
    href: str
    # The paths of the section; the home matches its own path only.
    prefixes: tuple[str, ...]
    current: bool = False


def nav_items(user: Any) -> list[NavItem]:
    if not isinstance(user, User) or not (user.role == User.Role.SUPERVISOR or user.is_platform_staff):
        return []
    home = reverse("supervisor-home")
    items = [
        NavItem("home", _("Home"), home, ()),
        NavItem("live", _("Live view"), reverse("supervisor-live"), ("/supervisor/live/",)),
    ]
    if may_vet(user):
        items.append(NavItem("vetting", _("Vetting"), reverse("vetting-queue"), ("/supervisor/applications/",)))
    items += [
        NavItem("shifts", _("Shifts"), reverse("supervisor-shifts"), ("/supervisor/shifts/",)),
        NavItem("staffing", _("Staffing"), reverse("supervisor-staffing"), ("/supervisor/staffing/",)),
        NavItem(
            "quality",
            _("QA reviews"),
            reverse("supervisor-quality"),
            ("/supervisor/quality/", "/supervisor/reviews/", "/supervisor/appeals/"),
        ),
        NavItem("payouts", _("Payouts"), reverse("supervisor-payouts"), ("/supervisor/payouts/",)),
        NavItem("analytics", _("Analytics"), reverse("supervisor-analytics"), ("/supervisor/analytics/",)),
        NavItem("agents", _("Agents"), reverse("supervisor-agents"), ("/supervisor/agents/",)),
        NavItem("audit", _("Audit log"), reverse("supervisor-audit"), ("/supervisor/audit/",)),
    ]
    return items


@register.simple_tag(takes_context=True)
def supervisor_nav_items(context: template.Context) -> list[NavItem]:
    """The bar's links for the viewer, the one of the page's section marked current."""
    request = context.get("request")
    if request is None:
        return []
    path = request.path
    items = nav_items(request.user)
    home = reverse("supervisor-home")
    return [
        replace(item, current=path == home if item.key == "home" else path.startswith(item.prefixes)) for item in items
    ]
