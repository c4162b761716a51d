"""The audit log for supervisors: who did what in their brands, when and from where, with
filters, and the filtered rows as CSV. A supervisor reads their brands' rows; platform
staff read every row, including those of platform-wide actions (no brand). Exporting is
itself an audited action, as the pay export is."""

import csv
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from marketplace import audit_log
from marketplace.audit import audit_record
from marketplace.models import AuditEvent, Brand, User
from payouts.views.supervisor import supervisor_or_staff_required
from tasks.staffing_selectors import zone_named

from ..forms import time_zone_choices
from ..quality.selectors import supervised_brand_ids

# Where the product's supervisors work; the page offers every other zone too.
DEFAULT_TIME_ZONE = "Europe/Stockholm"


@dataclass
class AuditQuery:
    """What the page was asked for: the filters, the zone times are shown in, the text typed
    (kept as typed, to show it back) and what could not be read."""

    filters: audit_log.AuditFilters
    zone_name: str
    typed: dict[str, str]
    errors: list[str] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    def querystring(self) -> str:
        return urlencode({key: value for key, value in self.typed.items() if value})


def _day(raw: str, label: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(gettext("%(field)s: give a date as YYYY-MM-DD, for example 2026-03-01.") % {"field": label})
        return None


def read_query(params: QueryDict) -> AuditQuery:
    typed = {key: params.get(key, "").strip()[:100] for key in ("brand", "actor", "action", "from", "to", "tz")}
    errors: list[str] = []
    start = _day(typed["from"], gettext("From"), errors)
    last = _day(typed["to"], gettext("To"), errors)
    if start and last and last < start:
        errors.append(gettext("The end date is before the start date."))
        start = last = None
    zone_name = typed["tz"] if zone_named(typed["tz"]) else DEFAULT_TIME_ZONE
    filters = audit_log.AuditFilters(
        brand=typed["brand"], actor=typed["actor"], action=typed["action"], date_from=start, date_to=last
    )
    return AuditQuery(filters=filters, zone_name=zone_name, typed=typed, errors=errors)


def _events(user: User, query: AuditQuery) -> QuerySet[AuditEvent]:
    return audit_log.audit_events(
        brand_ids=supervised_brand_ids(user),
        include_unbranded=user.is_platform_staff,
        filters=query.filters,
        zone=query.zone,
    )


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # behind supervisor_or_staff_required
    return request.user


def _page(request: HttpRequest, query: AuditQuery, *, refusal: str = "") -> HttpResponse:
    user = _user(request)
    page = Paginator(_events(user, query), audit_log.PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "event": event,
            "target": audit_log.target_text(event),
            "detail": audit_log.detail_pairs(event.detail),
        }
        for event in page.object_list
    ]
    errors = [*query.errors, refusal] if refusal else query.errors
    return render(
        request,
        "supervisor/audit.html",
        {
            "page": page,
            "rows": rows,
            "errors": errors,
            "typed": query.typed,
            "querystring": query.querystring(),
            "filtered": any(query.typed[key] for key in ("brand", "actor", "action", "from", "to")),
            "brands": Brand.objects.filter(pk__in=supervised_brand_ids(user)).order_by("name", "pk"),
            "zones": time_zone_choices(),
            "zone_name": query.zone_name,
        },
        status=400 if errors else 200,
    )


@supervisor_or_staff_required
@require_GET
def audit_page(request: HttpRequest) -> HttpResponse:
    return _page(request, read_query(request.GET))


@supervisor_or_staff_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The rows the page's filters select, all of them (not one page), as CSV; the export
    is recorded with its filters before the file is handed over. A filter that cannot be
    read, or too many rows, shows the page with the reason instead."""
    user = _user(request)
    query = read_query(request.GET)
    if query.errors:
        return _page(request, query)
    events: list[AuditEvent] = list(_events(user, query)[: audit_log.EXPORT_MAX_ROWS + 1])
    if len(events) > audit_log.EXPORT_MAX_ROWS:
        refusal = gettext("More than %(max)s rows match: narrow the filter (a shorter period, one brand).") % {
            "max": audit_log.EXPORT_MAX_ROWS
        }
        return _page(request, query, refusal=refusal)
    # Recorded under the brand exported when one was chosen; an export across brands
    # belongs to none of them.
    brand = None
    if query.filters.brand:
        brand = Brand.objects.filter(pk__in=supervised_brand_ids(user), slug=query.filters.brand).first()
    audit_record(
        actor=user,
        action="audit.exported",
        brand=brand,
        detail={**query.filters.as_detail(), "time_zone": query.zone_name, "rows": len(events)},
        request=request,
    )
    stamp = timezone.localtime(timezone.now(), query.zone).strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(audit_log.CSV_HEADER)
    for event in events:
        writer.writerow(audit_log.csv_row(event, query.zone))
    return response
