"""The supervisors' analytics: figures per hour, day or week with their charts, the tickets
behind any point, and both tables as CSV (each export written to the audit log).

Supervisors see their brands, platform staff every brand; anyone else gets the
supervisors-only page (403), and a brand or agent outside the supervisor's brands named in
the filters is not found (404). The figures' definitions are in tasks.analytics.
"""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any, cast
from urllib.parse import quote, urlencode

from django import forms
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET

from agents.models import AgentProfile
from marketplace.audit import audit_record
from marketplace.models import Brand, User
from payouts.views.supervisor import supervisor_or_staff_required

from . import analytics, analytics_rollups
from .staffing_selectors import zone_named

PAGE_SIZE = 50
DEFAULT_DAYS = 14
# Offered in the time zone field's list; any IANA name may be typed.
COMMON_ZONES = (
    "UTC",
    "Europe/Stockholm",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Australia/Sydney",
)


# --- Filters ----------------------------------------------------------------------------------

TOO_LONG = {
    "hour": gettext_lazy("Per hour, choose at most %(days)s days; or show them per day or week."),
    "day": gettext_lazy("Per day, choose at most %(days)s days; or show them per week."),
    "week": gettext_lazy("Per week, choose at most %(days)s days."),
}


class DayInput(forms.DateInput):
    """The browser's date picker; it sends YYYY-MM-DD."""

    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class AnalyticsFilterForm(forms.Form):
    """The page's filters, as GET parameters. Brand and agent choices are the supervisor's
    own; dates are days on the chosen zone's calendar, both included."""

    brand = forms.ChoiceField(label=gettext_lazy("Brand"), required=False)
    language = forms.ChoiceField(label=gettext_lazy("Language"), required=False)
    agent = forms.ChoiceField(label=gettext_lazy("Agent"), required=False)
    tier = forms.ChoiceField(label=gettext_lazy("Agent tier"), required=False)
    granularity = forms.ChoiceField(
        label=gettext_lazy("Per"),
        choices=[
            ("hour", pgettext_lazy("analytics granularity", "Hour")),
            ("day", pgettext_lazy("analytics granularity", "Day")),
            ("week", pgettext_lazy("analytics granularity", "Week")),
        ],
    )
    time_zone = forms.CharField(
        label=gettext_lazy("Time zone"),
        max_length=64,
        help_text=gettext_lazy("An IANA name such as Europe/Stockholm: days and hours follow its clock."),
    )

    def __init__(self, data: Any, *, brands: list[Brand], agents: list[tuple[int, str]], languages: list[str]) -> None:
        super().__init__(data, label_suffix="")
        self.brands = {brand.slug: brand for brand in brands}
        cast(forms.ChoiceField, self.fields["brand"]).choices = [("", gettext("All my brands"))] + [
            (b.slug, b.name) for b in brands
        ]
        cast(forms.ChoiceField, self.fields["language"]).choices = [("", gettext("All languages"))] + [
            (code, code) for code in languages
        ]
        cast(forms.ChoiceField, self.fields["agent"]).choices = [("", gettext("All agents"))] + [
            (str(pk), name) for pk, name in agents
        ]
        cast(forms.ChoiceField, self.fields["tier"]).choices = [("", gettext("All tiers"))] + list(
            AgentProfile.Tier.choices
        )
        # "from" is a Python keyword: these two are added by name.
        self.fields["from"] = forms.DateField(label=gettext("From"), widget=DayInput())
        self.fields["to"] = forms.DateField(label=gettext("To"), widget=DayInput())
        self.order_fields(["brand", "language", "agent", "tier", "granularity", "from", "to", "time_zone"])

    SELECTS = ("brand", "language", "agent", "tier", "granularity")

    def layout(self) -> list[tuple[forms.BoundField, list[tuple[str, str, bool]] | None]]:
        """Each field, and for a select its (value, label, selected) options, which the
        template writes out itself: Django renders a select through a template per
        option, slow for hundreds of agents."""
        found = []
        for field in self:
            options = None
            if field.name in self.SELECTS:
                current = str(field.value() or "")
                choices = cast(list[tuple[Any, Any]], cast(forms.ChoiceField, field.field).choices)
                options = [(str(value), str(label), str(value) == current) for value, label in choices]
            found.append((field, options))
        return found

    def clean_time_zone(self) -> str:
        name: str = self.cleaned_data["time_zone"].strip()
        if zone_named(name) is None:
            raise forms.ValidationError(gettext("Unknown time zone. Use a name such as Europe/Stockholm or UTC."))
        return name

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        start, end, granularity = data.get("from"), data.get("to"), data.get("granularity")
        if start and end:
            if end < start:
                self.add_error("to", gettext("The last day is before the first."))
            elif granularity and (end - start).days + 1 > analytics.MAX_DAYS[granularity]:
                self.add_error("from", TOO_LONG[granularity] % {"days": analytics.MAX_DAYS[granularity]})
        return data

    def filters(self) -> analytics.Filters:
        data = self.cleaned_data
        brand = self.brands.get(data["brand"])
        brand_ids = (brand.pk,) if brand else tuple(sorted(b.pk for b in self.brands.values()))
        return analytics.Filters(
            brand_ids=brand_ids,
            brand_slug=brand.slug if brand else "",
            start=data["from"],
            end=data["to"],
            granularity=data["granularity"],
            zone_name=data["time_zone"],
            language=data["language"],
            tier=data["tier"],
            agent_id=int(data["agent"]) if data["agent"] else None,
        )


def _today(zone_name: str) -> date:
    zone = zone_named(zone_name)
    return timezone.now().astimezone(zone).date() if zone else timezone.now().date()


def _filter_data(request: HttpRequest) -> dict[str, str]:
    """The GET parameters with the defaults filled in: the last two weeks per day, in UTC."""
    data = {key: request.GET.get(key, "").strip() for key in ("brand", "language", "agent", "tier")}
    data["granularity"] = request.GET.get("granularity", "").strip() or "day"
    data["time_zone"] = request.GET.get("time_zone", "").strip() or "UTC"
    today = _today(data["time_zone"])
    data["to"] = request.GET.get("to", "").strip() or today.isoformat()
    data["from"] = request.GET.get("from", "").strip() or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    return data


@dataclass
class Scope:
    user: User
    brands: list[Brand]
    form: AnalyticsFilterForm
    filters: analytics.Filters | None


def _scope(request: HttpRequest) -> Scope:
    """The supervisor's brands and the filters asked for; a brand or agent outside their
    brands is not theirs to ask about (404)."""
    user = request.user
    assert isinstance(user, User)  # supervisor_or_staff_required let only people through
    brands = analytics.scope_brands(user)
    brand_ids = [b.pk for b in brands]
    agents = analytics.scope_agents(brand_ids)
    data = _filter_data(request)
    if data["brand"] and data["brand"] not in {b.slug for b in brands}:
        raise Http404
    if data["agent"] and data["agent"] not in {str(pk) for pk, _name in agents}:
        if data["agent"].isdigit():
            raise Http404
    form = AnalyticsFilterForm(data, brands=brands, agents=agents, languages=analytics.scope_languages(brand_ids))
    return Scope(user=user, brands=brands, form=form, filters=form.filters() if form.is_valid() and brands else None)


def _query(filters: analytics.Filters, **extra: str) -> str:
    return urlencode({**filters.query(), **extra})


def _audit_export(request: HttpRequest, scope: Scope, table: str, **extra: str) -> None:
    filters = scope.filters
    assert filters is not None
    with transaction.atomic():
        audit_record(
            actor=scope.user,
            action="analytics.exported",
            brand=filters.brand_ids[0] if len(filters.brand_ids) == 1 else None,
            detail={"table": table, **filters.query(), **extra},
            request=request,
        )


def _text_cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (as the pay exports do)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_response(filename: str, rows: Iterator[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    csv.writer(response).writerows(rows)
    return response


# --- Formatting -------------------------------------------------------------------------------


class Formatter:
    """Durations, numbers and shares in the interface's language. The translations and
    separators are looked up once per page: a week of hours formats thousands of cells."""

    def __init__(self) -> None:
        self.seconds = gettext("%(s)s s")
        self.minutes_seconds = gettext("%(m)s min %(s)s s")
        self.minutes = gettext("%(m)s min")
        self.hours_minutes = gettext("%(h)s h %(m)s min")
        self.days_hours = gettext("%(d)s d %(h)s h")
        self.decimal = str(formats.get_format("DECIMAL_SEPARATOR"))
        self.thousands = str(formats.get_format("THOUSAND_SEPARATOR"))

    def duration(self, seconds: float | None) -> str:
        """45 s, 3 min 20 s, 2 h 5 min, 1 d 4 h."""
        if seconds is None:
            return "–"
        whole = round(seconds)
        if whole < 60:
            return self.seconds % {"s": whole}
        minutes, secs = divmod(whole, 60)
        if minutes < 60:
            return self.minutes_seconds % {"m": minutes, "s": secs} if secs else self.minutes % {"m": minutes}
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return self.hours_minutes % {"h": hours, "m": minutes}
        days, hours = divmod(hours, 24)
        return self.days_hours % {"d": days, "h": hours}

    def number(self, value: float | None, places: int = 0) -> str:
        if value is None:
            return "–"
        text = f"{value:,.{places}f}"
        return text.replace(",", "\0").replace(".", self.decimal).replace("\0", self.thousands)

    def percent(self, share: float | None) -> str:
        return "–" if share is None else f"{self.number(share * 100, 1)} %"


def duration(seconds: float | None) -> str:
    return Formatter().duration(seconds)


@dataclass
class Column:
    """One column of the figures table, on the page and in the CSV."""

    key: str
    label: str
    figure: str
    shown: Callable[[dict[str, Any]], str]
    raw: Callable[[dict[str, Any]], Any]


def _raw_seconds(value: float | None) -> Any:
    return "" if value is None else round(value, 1)


def _raw_share(value: float | None) -> Any:
    return "" if value is None else round(value, 4)


def _duration_column(fmt: Formatter, figure: str, label: str, stat: str) -> Column:
    def shown(f: dict[str, Any]) -> str:
        return fmt.duration(f[figure][stat])

    def raw(f: dict[str, Any]) -> Any:
        return _raw_seconds(f[figure][stat])

    return Column(f"{figure}_{stat}", label, figure, shown, raw)


def _per_case(f: dict[str, Any], currency: str) -> Decimal | None:
    cost = f["cost"].get(currency)
    return None if cost is None else cost["per_case"]


def _cost_column(fmt: Formatter, currency: str) -> Column:
    def shown(f: dict[str, Any]) -> str:
        value = _per_case(f, currency)
        return "–" if value is None else f"{fmt.number(float(value), 2)} {currency}"

    def raw(f: dict[str, Any]) -> Any:
        value = _per_case(f, currency)
        return "" if value is None else str(value)

    label = gettext("Cost per resolved case (%(currency)s)") % {"currency": currency}
    return Column(f"cost_{currency}", label, "cost", shown, raw)


def _csat_mean(f: dict[str, Any]) -> Any:
    mean = f["csat"]["mean"]
    return "" if mean is None else round(mean, 3)


def columns(currencies: list[str]) -> list[Column]:
    fmt = Formatter()
    found = [
        Column(
            "created",
            gettext("Tickets created (AI handovers)"),
            "created",
            lambda f: fmt.number(f["created"]),
            lambda f: f["created"],
        ),
    ]
    for figure, label in (
        ("offer", gettext("Time to offer")),
        ("assign", gettext("Time to assign")),
        ("reply", gettext("Time to first reply")),
        ("handle", gettext("Handle time")),
        ("resolution_time", gettext("Time to resolution")),
    ):
        for stat, stat_label in (("mean", gettext("mean")), ("p50", "p50"), ("p90", "p90")):
            found.append(_duration_column(fmt, figure, f"{label} {stat_label}", stat))
    found += [
        Column(
            "resolution_rate",
            gettext("Resolution rate"),
            "resolution_rate",
            lambda f: fmt.percent(f["resolution_rate"]["share"]),
            lambda f: _raw_share(f["resolution_rate"]["share"]),
        ),
        Column("csat_mean", gettext("CSAT mean (1–5)"), "csat", lambda f: fmt.number(f["csat"]["mean"], 2), _csat_mean),
        Column(
            "csat_high",
            gettext("CSAT 4–5 share"),
            "csat",
            lambda f: fmt.percent(f["csat"]["share_high"]),
            lambda f: _raw_share(f["csat"]["share_high"]),
        ),
        Column(
            "csat_rated",
            gettext("Rated resolutions"),
            "csat",
            lambda f: fmt.number(f["csat"]["rated"]),
            lambda f: f["csat"]["rated"],
        ),
        Column(
            "reopen_rate",
            gettext("Reopen rate"),
            "reopen",
            lambda f: fmt.percent(f["reopen"]["share"]),
            lambda f: _raw_share(f["reopen"]["share"]),
        ),
        Column(
            "declined",
            gettext("Offers declined"),
            "declined",
            lambda f: fmt.number(f["declined"]),
            lambda f: f["declined"],
        ),
        Column(
            "expired",
            gettext("Offers timed out"),
            "expired",
            lambda f: fmt.number(f["expired"]),
            lambda f: f["expired"],
        ),
        Column(
            "occupancy",
            gettext("Occupancy"),
            "occupancy",
            lambda f: fmt.percent(f["occupancy"]),
            lambda f: _raw_share(f["occupancy"]),
        ),
        Column(
            "online_hours",
            gettext("Online hours"),
            "online",
            lambda f: fmt.number(f["online"], 1),
            lambda f: round(f["online"], 2),
        ),
    ]
    found += [_cost_column(fmt, currency) for currency in currencies]
    return found


def bucket_label(filters: analytics.Filters, start: datetime) -> str:
    if filters.granularity == "hour":
        return formats.date_format(start, "Y-m-d H:i")
    if filters.granularity == "week":
        return gettext("Week of %(day)s") % {"day": formats.date_format(start, "Y-m-d")}
    return formats.date_format(start, "D Y-m-d")


def table_rows(table: list[dict[str, Any]], cols: list[Column], drill: str) -> SafeString:
    """The figures table's body: a row per period, each figure a link to its tickets.
    Written here rather than in a template loop: a week of hours is thousands of cells,
    which the template engine takes a few hundred milliseconds to render."""
    rows = []
    for row in table:
        point = escape(f"{drill}&bucket={quote(row['iso'])}&figure=")
        cells = "".join(f'<td><a href="{point}{c.figure}">{escape(c.shown(row["figures"]))}</a></td>' for c in cols)
        rows.append(
            f'<tr data-testid="figures-row" data-bucket="{escape(row["iso"])}">'
            f'<th scope="row" class="nowrap">{escape(row["label"])}</th>{cells}</tr>'
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value above is escaped)


# --- Charts -----------------------------------------------------------------------------------


def charts(report: analytics.Report) -> list[dict[str, Any]]:
    """One chart per figure group, as the page's script draws them: each dataset names the
    figure its points open."""
    buckets = [b.figures for b in report.buckets]

    def series(get: Callable[[dict[str, Any]], Any]) -> list[Any]:
        return [get(f) for f in buckets]

    def share(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 2)

    def stat_of(figure: str, stat: str) -> Callable[[dict[str, Any]], Any]:
        return lambda f: f[figure][stat]

    def cost_of(currency: str) -> Callable[[dict[str, Any]], Any]:
        def per_case(f: dict[str, Any]) -> float | None:
            value = _per_case(f, currency)
            return None if value is None else float(value)

        return per_case

    waiting: list[dict[str, Any]] = []
    handling: list[dict[str, Any]] = []
    for figure, label, group, color in (
        ("offer", gettext("Time to offer"), waiting, 0),
        ("assign", gettext("Time to assign"), waiting, 1),
        ("reply", gettext("Time to first reply"), waiting, 2),
        ("handle", gettext("Handle time"), handling, 0),
        ("resolution_time", gettext("Time to resolution"), handling, 1),
    ):
        # A figure's p50 and p90 share a colour; the p90 line is dashed.
        for stat, dashed in (("p50", False), ("p90", True)):
            group.append(
                {
                    "label": f"{label} {stat}",
                    "figure": figure,
                    "dashed": dashed,
                    "color": color,
                    "data": series(stat_of(figure, stat)),
                }
            )
    cost = [
        {
            "label": gettext("Cost per resolved case (%(currency)s)") % {"currency": currency},
            "figure": "cost",
            "data": series(cost_of(currency)),
        }
        for currency in report.currencies
    ]
    found = [
        {
            "id": "volume",
            "title": gettext("Tickets created (each one an AI conversation handed to a person)"),
            "kind": "bar",
            "unit": "count",
            "datasets": [
                {"label": gettext("Tickets created"), "figure": "created", "data": series(lambda f: f["created"])}
            ],
        },
        {
            "id": "waiting",
            "title": gettext("Waiting: time to offer, to assign, to first reply"),
            "kind": "line",
            "unit": "seconds",
            "datasets": waiting,
        },
        {
            "id": "handling",
            "title": gettext("Handling: handle time and time to resolution"),
            "kind": "line",
            "unit": "seconds",
            "datasets": handling,
        },
        {
            "id": "outcomes",
            "title": gettext("Outcomes: resolution rate, reopen rate, CSAT 4–5 share"),
            "kind": "line",
            "unit": "percent",
            "datasets": [
                {
                    "label": gettext("Resolution rate"),
                    "figure": "resolution_rate",
                    "data": series(lambda f: share(f["resolution_rate"]["share"])),
                },
                {
                    "label": gettext("Reopen rate"),
                    "figure": "reopen",
                    "data": series(lambda f: share(f["reopen"]["share"])),
                },
                {
                    "label": gettext("CSAT 4–5 share"),
                    "figure": "csat",
                    "data": series(lambda f: share(f["csat"]["share_high"])),
                },
            ],
        },
        {
            "id": "csat",
            "title": gettext("Customer satisfaction: mean rating (1–5)"),
            "kind": "line",
            "unit": "rating",
            "datasets": [
                {"label": gettext("CSAT mean"), "figure": "csat", "data": series(lambda f: f["csat"]["mean"])}
            ],
        },
        {
            "id": "offers",
            "title": gettext("Offers declined and timed out"),
            "kind": "bar",
            "unit": "count",
            "datasets": [
                {"label": gettext("Declined"), "figure": "declined", "data": series(lambda f: f["declined"])},
                {"label": gettext("Timed out"), "figure": "expired", "data": series(lambda f: f["expired"])},
            ],
        },
        {
            "id": "occupancy",
            "title": gettext("Occupancy: busy share of staffed agent time"),
            "kind": "line",
            "unit": "percent",
            "datasets": [
                {"label": gettext("Occupancy"), "figure": "occupancy", "data": series(lambda f: share(f["occupancy"]))}
            ],
        },
        {
            "id": "online",
            "title": gettext("Agent hours online (available or away)"),
            "kind": "bar",
            "unit": "hours",
            "datasets": [
                {"label": gettext("Online hours"), "figure": "online", "data": series(lambda f: round(f["online"], 2))}
            ],
        },
    ]
    if cost:
        found.append(
            {
                "id": "cost",
                "title": gettext("Cost per resolved case"),
                "kind": "line",
                "unit": "money",
                "datasets": cost,
            }
        )
    return found


# --- Pages ------------------------------------------------------------------------------------


@supervisor_or_staff_required
@require_GET
def analytics_page(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    filters = scope.filters
    context: dict[str, Any] = {
        "brands": scope.brands,
        "form": scope.form,
        "zones": COMMON_ZONES,
        "supported": analytics_rollups.supported(),
    }
    if filters is None or not context["supported"]:
        return render(request, "supervisor/analytics.html", context)
    report = analytics.figures(filters)
    cols = columns(report.currencies)
    if request.GET.get("format") == "csv":
        _audit_export(request, scope, "figures")

        def rows() -> Iterator[list[Any]]:
            yield [gettext("Period start"), *(c.label for c in cols)]
            for bucket in report.buckets:
                yield [bucket.iso, *(c.raw(bucket.figures) for c in cols)]
            yield [gettext("Whole period"), *(c.raw(report.total) for c in cols)]

        return _csv_response(f"analytics-{filters.start}-{filters.end}.csv", rows())
    drill = f"{reverse('supervisor-analytics-tickets')}?{_query(filters)}"
    table = [
        {"label": bucket_label(filters, bucket.start), "iso": bucket.iso, "figures": bucket.figures}
        for bucket in report.buckets
    ]
    context.update(
        report=report,
        columns=cols,
        table_rows=table_rows(table, cols, drill),
        total=[c.shown(report.total) for c in cols],
        chart_data={
            "labels": [row["label"] for row in table],
            "buckets": [row["iso"] for row in table],
            "drill": drill,
            "charts": charts(report),
        },
        csv_url=f"?{_query(filters, format='csv')}",
        zone=filters.zone_name,
    )
    return render(request, "supervisor/analytics.html", context)


FIGURE_LABELS = {
    "created": gettext_lazy("Tickets created"),
    "offer": gettext_lazy("Time to offer"),
    "assign": gettext_lazy("Time to assign"),
    "reply": gettext_lazy("Time to first reply"),
    "handle": gettext_lazy("Handle time"),
    "resolution_time": gettext_lazy("Time to resolution"),
    "resolution_rate": gettext_lazy("Resolution rate"),
    "csat": gettext_lazy("CSAT (rated resolutions)"),
    "reopen": gettext_lazy("Reopen rate (resolutions)"),
    "declined": gettext_lazy("Offers declined"),
    "expired": gettext_lazy("Offers timed out"),
    "occupancy": gettext_lazy("Occupancy (chats open)"),
    "online": gettext_lazy("Online hours (chats open)"),
    "cost": gettext_lazy("Cost per resolved case (paid tickets)"),
}
VALUE_LABELS = {
    "offer": gettext_lazy("Time to offer"),
    "assign": gettext_lazy("Time to assign"),
    "reply": gettext_lazy("Time to first reply"),
    "handle": gettext_lazy("Handle time"),
    "resolution_time": gettext_lazy("Time to resolution"),
    "csat": gettext_lazy("Rating"),
    "reopen": gettext_lazy("Outcome"),
    "declined": gettext_lazy("Declined by"),
    "expired": gettext_lazy("Timed out with"),
    "cost": gettext_lazy("Paid"),
}


def _bucket(raw: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@supervisor_or_staff_required
@require_GET
def analytics_tickets(request: HttpRequest) -> HttpResponse:
    """The tickets behind one point of a chart (or one cell of the figures table)."""
    scope = _scope(request)
    filters = scope.filters
    figure = request.GET.get("figure", "")
    bucket = _bucket(request.GET.get("bucket", ""))
    supported = analytics_rollups.supported()
    context: dict[str, Any] = {"form": scope.form, "brands": scope.brands, "figure": figure, "supported": supported}
    if not supported or not scope.brands:
        return render(request, "supervisor/analytics_tickets.html", context)
    if filters is None:
        return render(request, "supervisor/analytics_tickets.html", context, status=400)
    if figure not in analytics.FIGURES or bucket is None:
        context["error"] = gettext("This link does not name a point of a chart; open one from the analytics page.")
        return render(request, "supervisor/analytics_tickets.html", context, status=400)
    tickets = analytics.drilldown(filters, bucket, figure)
    start, end = filters.bucket_hours(bucket)
    if request.GET.get("format") == "csv":
        _audit_export(request, scope, "tickets", figure=figure, bucket=bucket.isoformat())
        return _csv_response(
            f"analytics-{figure}-{start:%Y%m%dT%H%M}.csv", _ticket_rows(filters, bucket, figure, tickets)
        )
    page = Paginator(tickets.values_list("pk", flat=True), PAGE_SIZE).get_page(request.GET.get("page"))
    lines = analytics.drilldown_lines(filters, bucket, figure, list(page.object_list))
    context.update(
        filters=filters,
        bucket=bucket.astimezone(filters.zone),
        bucket_label=bucket_label(filters, filters.bucket_of(start)),
        figure_label=FIGURE_LABELS[figure],
        value_label=VALUE_LABELS.get(figure),
        lines=[{"line": line, "value": _shown_value(figure, line.value)} for line in lines],
        page=page,
        page_query=_query(filters, bucket=bucket.isoformat(), figure=figure),
        back_url=f"{reverse('supervisor-analytics')}?{_query(filters)}",
        csv_url=f"?{_query(filters, bucket=bucket.isoformat(), figure=figure, format='csv')}",
        zone=filters.zone_name,
    )
    return render(request, "supervisor/analytics_tickets.html", context)


def _shown_value(figure: str, value: Any) -> str:
    if figure in analytics.DURATIONS:
        return duration(value)
    return "" if value is None else str(value)


def _ticket_rows(filters: analytics.Filters, bucket: datetime, figure: str, tickets: Any) -> Iterator[list[Any]]:
    yield [
        gettext("Ticket"),
        gettext("Created"),
        gettext("Brand"),
        gettext("Language"),
        gettext("Agent"),
        gettext("Status"),
        str(VALUE_LABELS.get(figure, "")),
    ]
    ids = list(tickets.values_list("pk", flat=True))
    for first in range(0, len(ids), 500):
        for line in analytics.drilldown_lines(filters, bucket, figure, ids[first : first + 500]):
            ticket = line.ticket
            value = line.value
            if figure in analytics.DURATIONS:
                value = _raw_seconds(value)
            yield [
                ticket.pk,
                ticket.created_at.astimezone(filters.zone).isoformat(),
                _text_cell(ticket.brand.name),
                _text_cell(ticket.language),
                _text_cell(line.agent),
                ticket.status,
                _text_cell(value) if isinstance(value, str) else "" if value is None else value,
            ]
