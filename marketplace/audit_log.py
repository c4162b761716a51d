"""Reading the audit log: its rows for the people who may see them, filtered, and each
row's detail in words for a page or a spreadsheet.

Who may see which rows is decided by the caller (the core does not know who supervises
what beyond the brands' supervisors): it passes the brand ids in scope and whether rows
without a brand (platform-wide actions) are included, which only platform staff see.
"""

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AuditEvent

PAGE_SIZE = 50
# An export is read whole before it is written, so it is kept to a size a spreadsheet opens.
EXPORT_MAX_ROWS = 50_000
CSV_HEADER = ["when", "actor", "action", "brand", "target", "detail", "address"]


@dataclass(frozen=True)
class AuditFilters:
    brand: str = ""  # a brand slug
    actor: str = ""  # part of the actor's e-mail address
    action: str = ""  # the start of the action's name, e.g. "review." or "payouts.batch_"
    date_from: date | None = None
    date_to: date | None = None  # included

    def as_detail(self) -> dict[str, Any]:
        """The filters set, as the export's own audit row records them."""
        return {key: value for key, value in asdict(self).items() if value not in ("", None)}


def audit_events(
    *, brand_ids: Collection[int], include_unbranded: bool, filters: AuditFilters, zone: ZoneInfo
) -> QuerySet[AuditEvent]:
    """The rows in scope that match, newest first. Dates are whole days in `zone`."""
    scope = Q(brand_id__in=list(brand_ids))
    if include_unbranded:
        scope |= Q(brand__isnull=True)
    rows = AuditEvent.objects.filter(scope)
    if filters.brand:
        rows = rows.filter(brand__slug=filters.brand)
    if filters.actor:
        rows = rows.filter(actor__email__icontains=filters.actor)
    if filters.action:
        rows = rows.filter(action__startswith=filters.action)
    if filters.date_from:
        rows = rows.filter(created_at__gte=datetime.combine(filters.date_from, time.min, tzinfo=zone))
    if filters.date_to:
        rows = rows.filter(created_at__lt=datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone))
    return rows.select_related("actor", "brand").order_by("-created_at", "-pk")


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def detail_pairs(detail: Any) -> list[tuple[str, str]]:
    """A row's detail as (key, value) pairs in words, keys in alphabetical order (the
    database keeps no order): lists of plain values joined with commas, anything nested as
    compact JSON."""
    if not isinstance(detail, dict):
        return [("", _value_text(detail))] if detail not in (None, "", [], {}) else []
    return [(str(key), _value_text(value)) for key, value in sorted(detail.items(), key=lambda item: str(item[0]))]


def detail_text(detail: Any) -> str:
    """ "key: value; key: value", for a spreadsheet cell."""
    return "; ".join(f"{key}: {value}" if key else value for key, value in detail_pairs(detail))


def target_text(event: AuditEvent) -> str:
    """ "payouts.payoutbatch #12", or "" for an action on nothing in particular."""
    if not event.target_type:
        return ""
    return f"{event.target_type} #{event.target_id}" if event.target_id else event.target_type


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(event: AuditEvent, zone: ZoneInfo) -> list[str]:
    return [
        timezone.localtime(event.created_at, zone).isoformat(timespec="seconds"),
        csv_cell(event.actor.email if event.actor else "system"),
        csv_cell(event.action),
        event.brand.slug if event.brand else "",
        csv_cell(target_text(event)),
        csv_cell(detail_text(event.detail)),
        event.ip or "",
    ]
