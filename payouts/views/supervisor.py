"""The supervisors' pay pages: pay cost per brand and period, the weekly batches to approve
or reject, cash-outs waiting for a bank file, bank files to download and confirm, and the
accounting export.

Who sees what is `payouts.selectors`' scope rule (a batch, bank file or payout whose agents
are all certified for a brand the supervisor supervises; staff see everything). Every action
is a POST that calls one service and writes its audit row in the same transaction; a
refusal (DomainError) is shown as a message and changes nothing.
"""

import csv
import re
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from marketplace.audit import audit_record
from marketplace.errors import DomainError
from marketplace.models import Brand, User

from .. import selectors, services
from ..models import BankFile, Payout, PayoutBatch, PayoutMethod, minor_to_decimal

MIXED_BATCH = gettext_lazy("This batch includes agents of brands you do not supervise; platform staff approve it.")
MIXED_FILE = gettext_lazy("This bank file includes agents of brands you do not supervise; platform staff handle it.")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# An export covers at most a year (366 days, for a leap year's 1 January to 31 December).
EXPORT_MAX_DAYS = 366

PERIODS = [
    ("this_week", gettext_lazy("This week")),
    ("last_week", gettext_lazy("Last week")),
    ("this_month", gettext_lazy("This month")),
    ("last_month", gettext_lazy("Last month")),
    ("custom", gettext_lazy("From – to")),
]


def supervisor_or_staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Supervisors (their brands' pay) and platform staff (everyone's); others are refused
    as on every supervisor page."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or (user.role != User.Role.SUPERVISOR and not user.is_platform_staff):
            return render(request, "supervisor/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    """The logged-in user; every view here is behind supervisor_or_staff_required."""
    assert isinstance(request.user, User)
    return request.user


def out_of_scope(request: HttpRequest, message: Any) -> HttpResponse:
    return render(request, "payouts/supervisor/out_of_scope.html", {"message": message}, status=403)


# --- Periods and dates ---------------------------------------------------------------------------


def parse_day(raw: str | None) -> date | None:
    """A YYYY-MM-DD date, or None."""
    text = (raw or "").strip()
    if not DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """[start, end) of a named period around `today`: weeks start on Monday."""
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    if period == "last_week":
        return monday - timedelta(days=7), monday
    if period == "this_month":
        return first, (first + timedelta(days=32)).replace(day=1)
    if period == "last_month":
        return (first - timedelta(days=1)).replace(day=1), first
    return monday, monday + timedelta(days=7)


def custom_bounds(raw_from: str | None, raw_to: str | None) -> tuple[date, date]:
    """[start, end) from an inclusive from-to pair; ValueError with the message to show."""
    start, last = parse_day(raw_from), parse_day(raw_to)
    if start is None or last is None:
        raise ValueError(gettext("Give both dates as YYYY-MM-DD, for example 2026-03-01."))
    if last < start:
        raise ValueError(gettext("The end date is before the start date."))
    if (last - start).days + 1 > EXPORT_MAX_DAYS:
        raise ValueError(gettext("Choose at most a year (366 days) at a time."))
    return start, last + timedelta(days=1)


def _brand_totals(brands: list[Brand], start: date, end: date) -> list[dict[str, Any]]:
    rows = []
    for brand in brands:
        totals = selectors.brand_totals(brand_id=brand.pk, start=start, end=end)
        per_case = totals["per_case_minor"]
        rows.append(
            {
                "brand": brand,
                "cases": totals["cases"],
                "reversals": totals["reversals"],
                "total": minor_to_decimal(totals["total_minor"], brand.currency),
                "per_case": None if per_case is None else minor_to_decimal(per_case, brand.currency),
            }
        )
    return rows


# --- Pages -------------------------------------------------------------------------------------------


@supervisor_or_staff_required
@require_GET
def payouts_home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    today = timezone.localdate()
    period = request.GET.get("period") or "this_week"
    if period not in dict(PERIODS):
        period = "this_week"
    if period == "custom":
        try:
            start, end = custom_bounds(request.GET.get("from"), request.GET.get("to"))
        except ValueError as exc:
            messages.error(request, str(exc))
            period = "this_week"
            start, end = period_bounds(period, today)
    else:
        start, end = period_bounds(period, today)
    brands = list(selectors.brands_supervised(user=user))
    waiting = list(selectors.bank_payouts_waiting(user=user))
    # Per currency, the cash-outs the next bank file would take.
    fileable: dict[str, int] = {}
    for payout in waiting:
        if payout.status == Payout.Status.CREATED:
            fileable[payout.currency] = fileable.get(payout.currency, 0) + 1
    return render(
        request,
        "payouts/supervisor/home.html",
        {
            "periods": PERIODS,
            "period": period,
            "start": start,
            "last": end - timedelta(days=1),
            "brand_totals": _brand_totals(brands, start, end),
            "batches": selectors.batches_for(user=user),
            "waiting": waiting,
            "fileable": sorted(fileable.items()),
            "bank_files": selectors.bank_files_for(user=user),
        },
    )


@supervisor_or_staff_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    user = _user(request)
    batch = get_object_or_404(PayoutBatch.objects.select_related("decided_by"), pk=batch_id)
    scope = selectors.batch_scope(user=user, batch_id=batch.pk)
    if not scope.visible:
        raise Http404
    lines = list(
        selectors.payouts_visible(user=user, payouts=batch.payouts.all())
        .select_related("agent", "method", "bank_file")
        .order_by("agent__display_name", "pk")
    )
    context: dict[str, Any] = {"batch": batch, "scope": scope, "lines": lines, "mixed_message": MIXED_BATCH}
    if scope.actionable:
        agg = batch.payouts.aggregate(
            n=Count("pk"),
            total=Sum("amount_minor"),
            paid=Count("pk", filter=Q(status=Payout.Status.PAID)),
            failed=Count("pk", filter=Q(status=Payout.Status.FAILED)),
            in_flight=Count("pk", filter=Q(status__in=Payout.IN_FLIGHT)),
        )
        context["totals"] = {**agg, "total": minor_to_decimal(int(agg["total"] or 0), batch.currency)}
        context["fileable"] = sum(
            1 for p in lines if p.status == Payout.Status.CREATED and p.method.kind == PayoutMethod.Kind.IBAN
        )
        context["bank_files"] = selectors.bank_files_for(
            user=user, ids={p.bank_file_id for p in lines if p.bank_file_id is not None}
        )
    return render(request, "payouts/supervisor/batch.html", context)


# --- Batch actions -----------------------------------------------------------------------------------


def _batch_for_action(request: HttpRequest, batch_id: int) -> PayoutBatch | HttpResponse:
    batch = get_object_or_404(PayoutBatch, pk=batch_id)
    scope = selectors.batch_scope(user=_user(request), batch_id=batch.pk)
    if not scope.visible:
        raise Http404
    if not scope.actionable:
        return out_of_scope(request, MIXED_BATCH)
    return batch


def _batch_size(batch: PayoutBatch) -> dict[str, int]:
    agg = batch.payouts.aggregate(n=Count("pk"), total=Sum("amount_minor"))
    return {"payouts": agg["n"], "total_minor": int(agg["total"] or 0)}


def _audited(
    request: HttpRequest, *, action: str, target: Any, detail: dict[str, Any], run: Callable[[], object], success: str
) -> None:
    """Run a pay action and write its audit row in one transaction: a refusal writes neither
    and is shown as a message; success is shown too."""
    try:
        with transaction.atomic():
            run()
            audit_record(actor=_user(request), action=action, target=target, detail=detail, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)


@supervisor_or_staff_required
@require_POST
def batch_approve(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch_for_action(request, batch_id)
    if isinstance(batch, HttpResponse):
        return batch
    user = _user(request)
    if request.POST.get("confirm") != "yes":
        messages.error(request, gettext("Tick the box to confirm that you checked the payouts."))
        return redirect("supervisor-payout-batch", batch_id=batch.pk)
    _audited(
        request,
        action="payouts.batch_approve",
        target=batch,
        detail={"currency": batch.currency, "period_start": batch.period_start, **_batch_size(batch)},
        run=lambda: services.payout_batch_approve(batch_id=batch.pk, user_id=user.pk),
        success=gettext("Batch approved: the payouts are on their way."),
    )
    return redirect("supervisor-payout-batch", batch_id=batch.pk)


@supervisor_or_staff_required
@require_POST
def batch_reject(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch_for_action(request, batch_id)
    if isinstance(batch, HttpResponse):
        return batch
    user = _user(request)
    note = request.POST.get("note", "").strip()
    _audited(
        request,
        action="payouts.batch_reject",
        target=batch,
        detail={"currency": batch.currency, "period_start": batch.period_start, "note": note, **_batch_size(batch)},
        run=lambda: services.payout_batch_reject(batch_id=batch.pk, user_id=user.pk, note=note),
        success=gettext("Batch rejected: the money is available to the agents again."),
    )
    return redirect("supervisor-payout-batch", batch_id=batch.pk)


@supervisor_or_staff_required
@require_POST
def batch_bank_file(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch_for_action(request, batch_id)
    if isinstance(batch, HttpResponse):
        return batch
    _make_bank_file(request, currency=batch.currency, batch_id=batch.pk)
    return redirect("supervisor-payout-batch", batch_id=batch.pk)


# --- Bank files ---------------------------------------------------------------------------------------


def _make_bank_file(request: HttpRequest, *, currency: str, batch_id: int | None = None) -> BankFile | None:
    user = _user(request)
    try:
        with transaction.atomic():
            file = services.bank_file_create(
                currency=currency,
                user_id=user.pk,
                batch_id=batch_id,
                # A supervisor's file holds only their agents' payouts, whatever arrives meanwhile.
                supervisor_id=None if user.is_platform_staff else user.pk,
            )
            if file is not None:
                audit_record(
                    actor=user,
                    action="payouts.bank_file_create",
                    target=file,
                    detail={
                        "currency": currency,
                        "batch_id": batch_id,
                        "message_id": file.message_id,
                        "payments": file.payment_count,
                        "total_minor": file.total_minor,
                    },
                    request=request,
                )
    except DomainError as exc:
        messages.error(request, exc.message)
        return None
    if file is None:
        messages.info(request, gettext("There is nothing to put in a bank file: no bank payout is waiting."))
    else:
        messages.success(
            request,
            gettext("Bank file %(id)s made with %(count)s payments. Download it and upload it to the bank.")
            % {"id": file.message_id, "count": file.payment_count},
        )
    return file


@supervisor_or_staff_required
@require_POST
def bank_file_create(request: HttpRequest) -> HttpResponse:
    """A bank file of the cash-outs waiting in one currency (the user's agents' only, for a supervisor)."""
    currency = request.POST.get("currency", "").strip().upper()
    if not currency or not Payout.objects.filter(currency=currency).exists():
        messages.error(request, gettext("Choose a currency that has payouts waiting."))
    else:
        _make_bank_file(request, currency=currency)
    return redirect("supervisor-payouts")


def _bank_file_for_action(request: HttpRequest, bank_file_id: int) -> BankFile | HttpResponse:
    file = get_object_or_404(BankFile, pk=bank_file_id)
    scope = selectors.bank_file_scope(user=_user(request), bank_file_id=file.pk)
    if not scope.visible:
        raise Http404
    if not scope.actionable:
        return out_of_scope(request, MIXED_FILE)
    return file


@supervisor_or_staff_required
@require_GET
def bank_file_download(request: HttpRequest, bank_file_id: int) -> HttpResponse:
    """The stored pain.001 XML, as an attachment. It lists every payee's IBAN, so it is
    offered only to those who may act on the whole file, and each download is logged."""
    file = _bank_file_for_action(request, bank_file_id)
    if isinstance(file, HttpResponse):
        return file
    audit_record(
        actor=_user(request),
        action="payouts.bank_file_download",
        target=file,
        detail={"message_id": file.message_id},
        request=request,
    )
    response = HttpResponse(file.content, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file.message_id}.xml"'
    return response


@supervisor_or_staff_required
@require_POST
def bank_file_confirm(request: HttpRequest, bank_file_id: int) -> HttpResponse:
    file = _bank_file_for_action(request, bank_file_id)
    if isinstance(file, HttpResponse):
        return file
    back = request.POST.get("back") == "batch" and request.POST.get("batch_id", "").isdigit()
    target = (
        reverse("supervisor-payout-batch", kwargs={"batch_id": int(request.POST["batch_id"])})
        if back
        else reverse("supervisor-payouts")
    )
    if request.POST.get("confirm") != "yes":
        messages.error(request, gettext("Tick the box to confirm that the bank has paid this file."))
        return redirect(target)
    try:
        with transaction.atomic():
            done = services.bank_file_confirm_paid(bank_file_id=file.pk)
            audit_record(
                actor=_user(request),
                action="payouts.bank_file_confirm_paid",
                target=file,
                detail={"message_id": file.message_id, "paid": done},
                request=request,
            )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("%(count)s payments marked paid.") % {"count": done})
    return redirect(target)


# --- Single payouts ------------------------------------------------------------------------------------


@supervisor_or_staff_required
@require_POST
def payout_fail(request: HttpRequest, payout_id: int) -> HttpResponse:
    """Record that the bank returned a payout (or cancel one not yet sent). A weekly payout
    belongs to its batch, so the batch's scope decides; a cash-out is its agent's."""
    user = _user(request)
    payout = get_object_or_404(Payout, pk=payout_id)
    if payout.batch_id is not None:
        scope = selectors.batch_scope(user=user, batch_id=payout.batch_id)
        mine = selectors.payout_scope(user=user, payout_id=payout.pk)
        if not mine.visible:
            raise Http404
        if not scope.actionable:
            return out_of_scope(request, MIXED_BATCH)
        target = reverse("supervisor-payout-batch", kwargs={"batch_id": payout.batch_id})
    else:
        if not selectors.payout_scope(user=user, payout_id=payout.pk).actionable:
            raise Http404
        target = reverse("supervisor-payouts")
    reason = request.POST.get("reason", "").strip()
    before = payout.status
    try:
        with transaction.atomic():
            failed = services.payout_mark_failed(payout_id=payout.pk, reason=reason)
            audit_record(
                actor=user,
                action="payouts.payout_mark_failed",
                target=failed,
                detail={
                    "reason": reason,
                    "agent_id": failed.agent_id,
                    "amount_minor": failed.amount_minor,
                    "currency": failed.currency,
                    "status_before": before,
                },
                request=request,
            )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, gettext("Payout marked failed: the money is available to the agent again."))
    return redirect(target)


# --- Accounting export ----------------------------------------------------------------------------------

CSV_HEADER = ["date", "ticket_id", "agent_id", "agent_name", "kind", "amount", "currency", "status"]


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "payouts/supervisor/export_error.html", {"message": message}, status=400)


@supervisor_or_staff_required
@require_GET
def earnings_export(request: HttpRequest) -> HttpResponse:
    """One brand's earnings in a period as CSV for accounting: one row per earning, then the
    totals. ?brand=<slug>&from=YYYY-MM-DD&to=YYYY-MM-DD (both days included)."""
    user = _user(request)
    slug = request.GET.get("brand", "").strip()
    if not slug:
        return export_refused(request, gettext("Choose a brand to export."))
    brand = selectors.brands_supervised(user=user).filter(slug=slug).first()
    if brand is None:
        return render(request, "supervisor/forbidden.html", status=403)
    try:
        start, end = custom_bounds(request.GET.get("from"), request.GET.get("to"))
    except ValueError as exc:
        return export_refused(request, str(exc))
    rows = selectors.brand_earnings(brand_id=brand.pk, start=start, end=end)
    totals = selectors.brand_totals(brand_id=brand.pk, start=start, end=end)
    last = end - timedelta(days=1)
    audit_record(
        actor=user,
        action="payouts.earnings_export",
        brand=brand,
        detail={"brand": brand.slug, "from": start, "to": last, "rows": len(rows)},
        request=request,
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{brand.slug}-earnings-{start}-{last}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    currency = brand.currency
    for row in rows:
        e = row.earning
        writer.writerow(
            [
                timezone.localtime(e.created_at).date().isoformat(),
                e.ticket_id or "",
                e.agent_id,
                _cell(e.agent.display_name),
                e.kind,
                e.amount,
                e.currency,
                row.status,
            ]
        )
        currency = e.currency
    per_case = totals["per_case_minor"]
    writer.writerow([])
    writer.writerow(["total", "", "", "", "", minor_to_decimal(totals["total_minor"], currency), currency, ""])
    writer.writerow(["resolved_cases", totals["cases"], "", "", "", "", "", ""])
    writer.writerow(["reversals", totals["reversals"], "", "", "", "", "", ""])
    writer.writerow(
        [
            "cost_per_resolved_case",
            "",
            "",
            "",
            "",
            "" if per_case is None else minor_to_decimal(per_case, currency),
            currency,
            "",
        ]
    )
    return response
