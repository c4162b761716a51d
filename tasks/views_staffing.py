"""The supervisors' staffing page: one brand's week, hour by hour, agents needed (Erlang C
over the forecast) against agents booked on shifts, with the short hours marked; and an
Erlang C calculator giving the same numbers as GET /api/v1/staffing/erlang-c/.

Supervisors see their own brands, platform staff every brand; anyone else, and a
supervisor asking for another brand, gets the supervisors-only page (403).
"""

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET

from marketplace.errors import DomainError
from marketplace.models import Brand, User
from payouts.views.supervisor import supervisor_or_staff_required

from . import staffing, staffing_selectors
from .staffing_api import FIRST_PLAN_DAY, LAST_PLAN_DAY

WEEK = re.compile(r"(\d{4})-W(\d{2})")
CALCULATOR_PREFIX = "calc"


class ErlangCForm(forms.Form):
    """The calculator: the API's inputs, with the share as a percentage, as people say it."""

    arrivals_per_hour = forms.FloatField(
        label=gettext_lazy("Contacts per hour"), min_value=0, max_value=staffing.MAX_ARRIVALS_PER_HOUR
    )
    aht_seconds = forms.FloatField(
        label=gettext_lazy("Average handle time (seconds)"), max_value=staffing.MAX_AHT_SECONDS
    )
    target_seconds = forms.FloatField(
        label=gettext_lazy("Answer within (seconds)"), min_value=0, max_value=staffing.MAX_TARGET_SECONDS
    )
    target_percent = forms.FloatField(label=gettext_lazy("Share answered in time (%)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_aht_seconds(self) -> float:
        value: float = self.cleaned_data["aht_seconds"]
        if value <= 0:
            raise forms.ValidationError(gettext("Enter a handle time of more than 0 seconds."))
        return value

    def clean_target_percent(self) -> float:
        value: float = self.cleaned_data["target_percent"]
        if not 0 < value < 100:
            raise forms.ValidationError(gettext("Enter a share of more than 0 and less than 100."))
        return value

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if "arrivals_per_hour" in data and "aht_seconds" in data:
            try:
                staffing.traffic_intensity(arrivals_per_hour=data["arrivals_per_hour"], aht_seconds=data["aht_seconds"])
            except staffing.StaffingInputError:
                self.add_error(
                    "arrivals_per_hour",
                    gettext("Contacts per hour × handle time is more than %(erlangs)s agents could ever handle here.")
                    % {"erlangs": f"{staffing.MAX_TRAFFIC_ERLANGS:,.0f}"},
                )
        return data

    def result(self) -> staffing.StaffingResult:
        data = self.cleaned_data
        return staffing.agents_needed(
            arrivals_per_hour=data["arrivals_per_hour"],
            aht_seconds=data["aht_seconds"],
            target_seconds=data["target_seconds"],
            target_share=data["target_percent"] / 100,
        )


def parse_week(raw: str) -> date | None:
    """The Monday of an ISO week written YYYY-Www (what <input type="week"> sends), or None."""
    match = WEEK.fullmatch(raw.strip())
    if not match:
        return None
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:  # week 00, or 53 of a year that has 52
        return None
    return monday if FIRST_PLAN_DAY <= monday <= LAST_PLAN_DAY - timedelta(days=6) else None


def week_value(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_rows(week: list[tuple[date, list[staffing_selectors.HourPlan]]]) -> list[dict[str, Any]]:
    """The week as grid rows: one per hour of the day on the wall clock, one cell per day.
    A day whose clocks skip an hour has no cell there; an hour the clocks repeat gets a row
    of its own, filled only on that day."""
    keys: set[tuple[int, int, int]] = set()
    by_day: list[dict[tuple[int, int, int], staffing_selectors.HourPlan]] = []
    for _day, plan in week:
        cells = {(hour.start.hour, hour.start.minute, hour.start.fold): hour for hour in plan}
        keys.update(cells)
        by_day.append(cells)
    rows = []
    for key in sorted(keys):
        label = f"{key[0]:02d}:{key[1]:02d}"
        if key[2]:
            label = gettext("%(time)s (clocks back, second time)") % {"time": label}
        rows.append({"label": label, "cells": [cells.get(key) for cells in by_day]})
    return rows


def _link(brand: Brand, monday: date, zone_name: str) -> str:
    query = {"brand": brand.slug, "week": week_value(monday)}
    if zone_name != "UTC":
        query["time_zone"] = zone_name
    return "?" + urlencode(query)


@supervisor_or_staff_required
@require_GET
def staffing_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # supervisor_or_staff_required let only people through
    brands = list(staffing_selectors.staffing_brands(user=user))
    slug = request.GET.get("brand", "").strip()
    brand = next((b for b in brands if b.slug == slug), None) if slug else (brands[0] if brands else None)
    if slug and brand is None:
        return render(request, "supervisor/forbidden.html", status=403)

    zone_name = request.GET.get("time_zone", "").strip() or "UTC"
    zone = staffing_selectors.zone_named(zone_name)
    if zone is None:
        messages.error(request, gettext("Unknown time zone; showing UTC. Use a name such as Europe/Stockholm."))
        zone_name, zone = "UTC", ZoneInfo("UTC")
    today = timezone.now().astimezone(zone).date()
    raw_week = request.GET.get("week", "").strip()
    monday = parse_week(raw_week) if raw_week else None
    if raw_week and monday is None:
        messages.error(request, gettext("Choose a week as YYYY-Www, for example 2026-W10; showing this week."))
    monday = monday or today - timedelta(days=today.weekday())

    context: dict[str, Any] = {"brands": brands, "brand": brand, "time_zone": zone_name, "week": week_value(monday)}
    aht: float | None = None
    if brand is not None:
        try:
            week = staffing_selectors.staffing_week(brand=brand, monday=monday, zone=zone)
        except DomainError as exc:
            messages.error(request, exc.message)
            week = []
        rows = week_rows(week)
        context.update(
            days=[day for day, _plan in week],
            rows=rows,
            short_hours=sum(1 for row in rows for cell in row["cells"] if cell is not None and cell.gap),
            previous_link=_link(brand, monday - timedelta(weeks=1), zone_name),
            next_link=_link(brand, monday + timedelta(weeks=1), zone_name),
            target_seconds=brand.staffing_target_seconds,
            target_percent=f"{float(brand.staffing_target_share) * 100:g}",
        )
        aht = next((plan[0].aht_seconds for _day, plan in week if plan), None)
    context.update(_calculator(request, brand, aht))
    return render(request, "supervisor/staffing.html", context)


def _calculator(request: HttpRequest, brand: Brand | None, aht: float | None) -> dict[str, Any]:
    """The calculator form, bound once any of its fields is sent, and its answer."""
    sent = any(key.startswith(f"{CALCULATOR_PREFIX}-") for key in request.GET)
    initial: dict[str, Any] = {}
    if brand is not None:
        initial = {
            "target_seconds": brand.staffing_target_seconds,
            "target_percent": f"{float(brand.staffing_target_share) * 100:g}",
        }
    if aht is not None:
        initial["aht_seconds"] = round(aht)
    form = ErlangCForm(request.GET if sent else None, prefix=CALCULATOR_PREFIX, initial=initial)
    shown = None
    if sent and form.is_valid():
        result = form.result().as_dict()
        # data-value carries the API's number; people read shares as percentages.
        shown = [
            {"key": "agents", "label": gettext("Agents needed"), "shown": str(result["agents"])},
            {"key": "service_level", "label": gettext("Answered in time"), "shown": _percent(result["service_level"])},
            {"key": "occupancy", "label": gettext("Occupancy"), "shown": _percent(result["occupancy"])},
            {
                "key": "probability_wait",
                "label": gettext("Probability of waiting"),
                "shown": _percent(result["probability_wait"]),
            },
            {
                "key": "average_speed_of_answer_seconds",
                "label": gettext("Average wait"),
                "shown": gettext("%(seconds)s s")
                % {"seconds": formats.number_format(result["average_speed_of_answer_seconds"], 1)},
            },
        ]
        for item in shown:
            item["value"] = str(result[item["key"]])
    return {"calculator": form, "calculator_result": shown}


def _percent(share: float) -> str:
    return f"{formats.number_format(share * 100, 1)} %"
