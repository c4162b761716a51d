"""The supervisor's shift planning page: one brand's week of shifts, day by day, in a chosen
time zone; the form that publishes a shift (or the same shift for several weeks); and per
shift the changes a supervisor makes: slots and pay, "+ bonus" for a shift nobody fills,
cancel with a reason.

The rules are the services' (`shift_publish`, `shift_update`, `shift_boost`,
`shift_cancel_and_tell`); their refusals are shown next to the fields, with what was typed
kept. Every change is a POST (CSRF) that writes its audit row in the same transaction. Only
supervisors of the brand and platform staff get in; a shift or brand of someone else's is 404.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from agents.forms import LANGUAGE_CHOICES, SKILL_CHOICES, time_zone_choices
from marketplace.audit import audit_record
from marketplace.errors import DomainError
from marketplace.models import Brand, User
from payouts.models import decimal_to_minor, minor_to_decimal

from . import services, shift_selectors
from .models import Shift

DEFAULT_TIME_ZONE = "Europe/Stockholm"
# What "+ bonus" adds per case unless the supervisor types another amount (major units).
BOOST_DEFAULT = Decimal("10.00")
LANGUAGE_NAMES = dict(LANGUAGE_CHOICES)
SKILL_NAMES = dict(SKILL_CHOICES)


def _money_field(label: Any, help_text: Any, *, required: bool = False, minimum: str = "0") -> forms.DecimalField:
    """An amount in the brand's currency (major units); its decimals are checked against
    the currency when it is converted."""
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=required,
        min_value=Decimal(minimum),
        max_digits=12,
        decimal_places=3,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def planner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Supervisors (their brands) and platform staff (every brand); others are refused as
    on every supervisor page."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or (user.role != User.Role.SUPERVISOR and not user.is_platform_staff):
            return render(request, "supervisor/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # behind planner_required
    return request.user


# --- Forms -----------------------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


class PublishForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DateInput(format="%Y-%m-%d"))
    # Both described by the note under them (the template's "times-note").
    start_time = forms.TimeField(
        label=_("Starts"),
        widget=TimeInput(format="%H:%M", attrs={"aria-describedby": "times-note"}),
    )
    end_time = forms.TimeField(
        label=_("Ends"),
        widget=TimeInput(format="%H:%M", attrs={"aria-describedby": "times-note"}),
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices, initial=DEFAULT_TIME_ZONE)
    languages = forms.MultipleChoiceField(
        label=_("Languages (any of them)"),
        choices=LANGUAGE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one language.")},
    )
    skills = forms.MultipleChoiceField(
        label=_("Skills (all of them)"),
        choices=SKILL_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    slots = forms.IntegerField(label=_("Agents needed"), min_value=1, max_value=1000, initial=3)
    hourly_floor = _money_field(_("Hourly floor"), _("Paid per available hour if cases pay less."))
    bonus_per_case = _money_field(_("Bonus per case"), _("Added to each case's pay."))
    weeks = forms.IntegerField(
        label=_("Repeat for weeks"),
        min_value=1,
        max_value=services.shifts.MAX_PATTERN_WEEKS,
        initial=1,
        help_text=_("1 publishes this shift only; more publishes it on the same weekday each week."),
    )


class EditForm(forms.Form):
    slots = forms.IntegerField(label=_("Agents needed"), min_value=1, max_value=1000)
    hourly_floor = _money_field(_("Hourly floor"), _("Empty: no floor."))
    bonus_per_case = _money_field(_("Bonus per case"), _("Empty: no bonus."))


class BoostForm(forms.Form):
    amount = _money_field(_("Bonus to add per case"), "", required=True, minimum="0.01")


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is it cancelled? The booked agents see this."),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Say why; the booked agents see it.")},
    )


def _minor(form: forms.Form, field: str, currency: str) -> int | None:
    """A money field in minor units (None when empty); a field error when it has more
    decimals than the currency."""
    value = form.cleaned_data.get(field)
    if value is None:
        return None
    try:
        return decimal_to_minor(value, currency)
    except ValueError:
        form.add_error(field, gettext("Too many decimals for %(currency)s.") % {"currency": currency})
        return None


def _refusal_to_form(form: forms.Form, exc: DomainError, field_of: dict[str, str]) -> None:
    """A service's refusal next to the field it is about (its `fields`, else by code)."""
    field = next((name for name in (exc.fields or {}) if name in form.fields), None)
    if field is None and exc.code in field_of:
        field = field_of[exc.code]
    form.add_error(field, exc.message)


# --- The week ----------------------------------------------------------------------------------------


def _zone_name(raw: str | None) -> str:
    try:
        ZoneInfo(raw or "")
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIME_ZONE
    return str(raw)


def _monday(raw: str | None, zone: ZoneInfo) -> date:
    """The Monday of the week holding `raw` (YYYY-MM-DD), or of today in `zone`."""
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        day = datetime.now(zone).date()
    return day - timedelta(days=day.weekday())


def planning_brands(user: User) -> list[Brand]:
    brands = Brand.objects.all() if user.is_platform_staff else user.supervised_brands.all()
    return list(brands.order_by("name", "pk"))


def _money(amount: int | None, currency: str) -> str | None:
    return f"{minor_to_decimal(amount, currency)} {currency}" if amount is not None else None


@dataclass
class Row:
    """One shift as the week shows it."""

    shift: Shift
    starts: datetime
    ends: datetime
    languages: list[str]
    skills: list[str]
    floor: str | None
    bonus: str | None
    changeable: bool
    edit_form: EditForm
    boost_form: BoostForm
    cancel_form: CancelForm
    open_action: str = ""

    @property
    def refusal(self) -> str:
        """The refusal of the action just tried on this shift that is about no one field."""
        form = {"edit": self.edit_form, "boost": self.boost_form, "cancel": self.cancel_form}.get(self.open_action)
        return " ".join(str(error) for error in form.non_field_errors()) if form is not None else ""

    @property
    def status(self) -> str:
        if self.shift.status == Shift.Status.CANCELLED:
            return "cancelled"
        if not self.changeable:
            return "started"
        return "full" if self.shift.is_full else "open"


def _row(shift: Shift, zone: ZoneInfo, now: datetime, posted: dict[str, Any]) -> Row:
    currency = shift.brand.currency
    changeable = shift.status == Shift.Status.OPEN and shift.starts_at > now
    edit = EditForm(
        initial={
            "slots": shift.slots,
            "hourly_floor": minor_to_decimal(shift.hourly_floor_minor, currency)
            if shift.hourly_floor_minor is not None
            else None,
            "bonus_per_case": minor_to_decimal(shift.bonus_per_case_minor, currency)
            if shift.bonus_per_case_minor is not None
            else None,
        },
        prefix=f"edit{shift.pk}",
    )
    boost = BoostForm(initial={"amount": BOOST_DEFAULT}, prefix=f"boost{shift.pk}")
    cancel = CancelForm(prefix=f"cancel{shift.pk}")
    open_action = ""
    if posted.get("shift_id") == shift.pk:
        open_action = posted["action"]
        edit = posted.get("edit", edit)
        boost = posted.get("boost", boost)
        cancel = posted.get("cancel", cancel)
    return Row(
        shift=shift,
        starts=shift.starts_at.astimezone(zone),
        ends=shift.ends_at.astimezone(zone),
        languages=[str(LANGUAGE_NAMES.get(code, code)) for code in shift.languages],
        skills=[str(SKILL_NAMES.get(code, code)) for code in shift.skills],
        floor=_money(shift.hourly_floor_minor, currency),
        bonus=_money(shift.bonus_per_case_minor, currency),
        changeable=changeable,
        edit_form=edit,
        boost_form=boost,
        cancel_form=cancel,
        open_action=open_action,
    )


def _page_query(brand: Brand, monday: date, zone_name: str) -> str:
    return urlencode({"brand": brand.slug, "week": monday.isoformat(), "tz": zone_name})


def _render(
    request: HttpRequest,
    *,
    brand: Brand | None,
    brands: list[Brand],
    monday: date,
    zone_name: str,
    publish_form: PublishForm | None = None,
    posted: dict[str, Any] | None = None,
) -> HttpResponse:
    zone = ZoneInfo(zone_name)
    context: dict[str, Any] = {
        "brands": brands,
        "brand": brand,
        "zone_name": zone_name,
        "zones": time_zone_choices(),
        "monday": monday,
        "sunday": monday + timedelta(days=6),
    }
    if brand is not None:
        start = datetime.combine(monday, time(0), zone)
        end = datetime.combine(monday + timedelta(days=7), time(0), zone)
        shifts = (
            shift_selectors.planned_shifts(_user(request))
            .filter(brand=brand, starts_at__gte=start, starts_at__lt=end)
            .order_by("starts_at", "pk")
        )
        now = datetime.now(zone)
        rows = [_row(shift, zone, now, posted or {}) for shift in shifts]
        days = []
        for offset in range(7):
            day = monday + timedelta(days=offset)
            days.append({"date": day, "rows": [row for row in rows if row.starts.date() == day]})
        context.update(
            days=days,
            week_count=len(rows),
            query=_page_query(brand, monday, zone_name),
            prev_query=_page_query(brand, monday - timedelta(days=7), zone_name),
            next_query=_page_query(brand, monday + timedelta(days=7), zone_name),
            this_week_query=urlencode({"brand": brand.slug, "tz": zone_name}),
            publish_form=publish_form
            or PublishForm(initial={"time_zone": zone_name, "date": max(monday, datetime.now(zone).date())}),
            currency=brand.currency,
        )
    return render(request, "supervisor/shifts.html", context)


def _chosen_brand(brands: list[Brand], slug: str | None) -> Brand | None:
    """The brand asked for (404 when it is not the planner's), else their first."""
    if slug:
        brand = next((b for b in brands if b.slug == slug), None)
        if brand is None:
            raise Http404
        return brand
    return brands[0] if brands else None


# --- Views ---------------------------------------------------------------------------------------


@planner_required
@require_http_methods(["GET", "POST"])
def shift_planning(request: HttpRequest) -> HttpResponse:
    """GET: the week (`?brand=<slug>&week=YYYY-MM-DD&tz=<IANA name>`). POST: publish."""
    user = _user(request)
    brands = planning_brands(user)
    params = request.POST if request.method == "POST" else request.GET
    zone_name = _zone_name(params.get("tz"))
    monday = _monday(params.get("week"), ZoneInfo(zone_name))
    brand = _chosen_brand(brands, params.get("brand"))
    if request.method == "GET" or brand is None:
        return _render(request, brand=brand, brands=brands, monday=monday, zone_name=zone_name)

    form = PublishForm(request.POST)
    if form.is_valid():
        published = _publish(request, form, brand)
        if published:
            first = published[0].starts_at.astimezone(ZoneInfo(zone_name)).date()
            count = len(published)
            messages.success(
                request,
                ngettext("%(count)s shift published.", "%(count)s shifts published, one a week.", count)
                % {"count": count},
            )
            target = _monday(first.isoformat(), ZoneInfo(zone_name))
            return redirect(f"{reverse('supervisor-shifts')}?{_page_query(brand, target, zone_name)}")
    return _render(request, brand=brand, brands=brands, monday=monday, zone_name=zone_name, publish_form=form)


def _publish(request: HttpRequest, form: PublishForm, brand: Brand) -> list[Shift]:
    """Publish what the form says, audit-logged; [] with the refusal put on the form."""
    data = form.cleaned_data
    floor = _minor(form, "hourly_floor", brand.currency)
    bonus = _minor(form, "bonus_per_case", brand.currency)
    if form.errors:
        return []
    zone = ZoneInfo(data["time_zone"])
    starts = datetime.combine(data["date"], data["start_time"], zone)
    ends = datetime.combine(data["date"], data["end_time"], zone)
    if data["end_time"] < data["start_time"]:
        ends = datetime.combine(data["date"] + timedelta(days=1), data["end_time"], zone)
    terms = services.ShiftTerms(
        starts_at=starts,
        ends_at=ends,
        languages=list(data["languages"]),
        skills=list(data["skills"]),
        slots=data["slots"],
        hourly_floor_minor=floor,
        bonus_per_case_minor=bonus,
    )
    try:
        with transaction.atomic():
            shifts = services.shift_publish(
                user=_user(request), brand=brand, terms=terms, weeks=data["weeks"], time_zone=data["time_zone"]
            )
            audit_record(
                actor=_user(request),
                action="shifts.publish",
                brand=brand,
                target=shifts[0],
                detail={
                    "shifts": [s.pk for s in shifts],
                    "starts_at": starts,
                    "ends_at": ends,
                    "time_zone": data["time_zone"],
                    "weeks": data["weeks"],
                    "languages": terms.languages,
                    "skills": terms.skills,
                    "slots": terms.slots,
                    "hourly_floor_minor": floor,
                    "bonus_per_case_minor": bonus,
                },
                request=request,
            )
    except DomainError as exc:
        _refusal_to_form(form, exc, {"invalid_period": "end_time", "invalid_time_zone": "time_zone"})
        return []
    return shifts


def _shift_for_action(request: HttpRequest, shift_id: int) -> Shift:
    """The shift, if the user plans its brand (404 otherwise, as for a shift that does not exist)."""
    shift = shift_selectors.planned_shifts(_user(request)).filter(pk=shift_id).first()
    if shift is None:
        raise Http404
    return shift


def _back(request: HttpRequest, shift: Shift) -> tuple[str, date]:
    zone_name = _zone_name(request.POST.get("tz"))
    zone = ZoneInfo(zone_name)
    monday = _monday(request.POST.get("week") or shift.starts_at.astimezone(zone).date().isoformat(), zone)
    return zone_name, monday


def _after_action(
    request: HttpRequest, shift: Shift, *, refused: DomainError | None, action: str, form: forms.Form
) -> HttpResponse:
    """Back to the shift's week; a refusal re-renders it with the message next to the
    shift's form and what was typed kept."""
    zone_name, monday = _back(request, shift)
    if refused is None and not form.errors:
        return redirect(f"{reverse('supervisor-shifts')}?{_page_query(shift.brand, monday, zone_name)}")
    if refused is not None:
        _refusal_to_form(form, refused, {"slots_below_booked": "slots", "reason_required": "reason"})
    user = _user(request)
    return _render(
        request,
        brand=shift.brand,
        brands=planning_brands(user),
        monday=monday,
        zone_name=zone_name,
        posted={"shift_id": shift.pk, "action": action, action: form},
    )


def _terms(shift: Shift) -> dict[str, int | None]:
    return {
        "slots": shift.slots,
        "hourly_floor_minor": shift.hourly_floor_minor,
        "bonus_per_case_minor": shift.bonus_per_case_minor,
    }


@planner_required
@require_POST
def shift_edit(request: HttpRequest, shift_id: int) -> HttpResponse:
    shift = _shift_for_action(request, shift_id)
    form = EditForm(request.POST, prefix=f"edit{shift.pk}")
    refused = None
    if form.is_valid():
        floor = _minor(form, "hourly_floor", shift.brand.currency)
        bonus = _minor(form, "bonus_per_case", shift.brand.currency)
        if not form.errors:
            before = _terms(shift)
            try:
                with transaction.atomic():
                    updated = services.shift_update(
                        user=_user(request),
                        shift_id=shift.pk,
                        slots=form.cleaned_data["slots"],
                        hourly_floor_minor=floor,
                        bonus_per_case_minor=bonus,
                    )
                    after = _terms(updated)
                    if after != before:
                        audit_record(
                            actor=_user(request),
                            action="shifts.update",
                            brand=shift.brand,
                            target=shift,
                            detail={"before": before, "after": after},
                            request=request,
                        )
            except DomainError as exc:
                refused = exc
            else:
                if after == before:
                    messages.info(request, gettext("Nothing changed."))
                else:
                    messages.success(request, gettext("Shift changed; the booked agents are told."))
    return _after_action(request, shift, refused=refused, action="edit", form=form)


@planner_required
@require_POST
def shift_boost(request: HttpRequest, shift_id: int) -> HttpResponse:
    shift = _shift_for_action(request, shift_id)
    form = BoostForm(request.POST, prefix=f"boost{shift.pk}")
    refused = None
    if form.is_valid():
        added = _minor(form, "amount", shift.brand.currency)
        if added is not None and not form.errors:
            try:
                with transaction.atomic():
                    boosted = services.shift_boost(user=_user(request), shift_id=shift.pk, bonus_per_case_minor=added)
                    audit_record(
                        actor=_user(request),
                        action="shifts.boost",
                        brand=shift.brand,
                        target=shift,
                        detail={
                            "added_minor": added,
                            "before_minor": shift.bonus_per_case_minor,
                            "bonus_per_case_minor": boosted.bonus_per_case_minor,
                        },
                        request=request,
                    )
            except DomainError as exc:
                refused = exc
            else:
                messages.success(
                    request,
                    gettext("Bonus raised to %(amount)s per case; the agents who could take it are told.")
                    % {"amount": _money(boosted.bonus_per_case_minor, shift.brand.currency)},
                )
    return _after_action(request, shift, refused=refused, action="boost", form=form)


@planner_required
@require_POST
def shift_cancel(request: HttpRequest, shift_id: int) -> HttpResponse:
    shift = _shift_for_action(request, shift_id)
    form = CancelForm(request.POST, prefix=f"cancel{shift.pk}")
    refused = None
    if form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            with transaction.atomic():
                # Locked here too, so "was it still open" and the audit row agree with
                # what shift_cancel_and_tell did.
                locked = Shift.objects.select_for_update().get(pk=shift.pk)
                booked = locked.booked
                was_open = locked.status == Shift.Status.OPEN
                services.shift_cancel_and_tell(user=_user(request), shift_id=shift.pk, reason=reason)
                if was_open:
                    audit_record(
                        actor=_user(request),
                        action="shifts.cancel",
                        brand=shift.brand,
                        target=shift,
                        detail={"reason": reason, "bookings_cancelled": booked},
                        request=request,
                    )
        except DomainError as exc:
            refused = exc
        else:
            if was_open:
                text = ngettext(
                    "Shift cancelled; %(count)s booked agent is told.",
                    "Shift cancelled; %(count)s booked agents are told.",
                    booked,
                )
                messages.success(request, text % {"count": booked})
            else:
                messages.info(request, gettext("This shift was already cancelled."))
    return _after_action(request, shift, refused=refused, action="cancel", form=form)
