"""One form per application step. Each validates its own part of the draft."""

import zoneinfo

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from marketplace.models import Brand

LANGUAGE_CHOICES = [
    ("en", _("English")),
    ("sv", _("Swedish")),
    ("de", _("German")),
    ("fr", _("French")),
    ("es", _("Spanish")),
    ("fi", _("Finnish")),
    ("no", _("Norwegian")),
    ("da", _("Danish")),
    ("nl", _("Dutch")),
    ("it", _("Italian")),
    ("pl", _("Polish")),
    ("pt", _("Portuguese")),
    ("ar", _("Arabic")),
    ("tr", _("Turkish")),
]
PROFICIENCY_CHOICES = [("native", _("Native")), ("fluent", _("Fluent")), ("working", _("Working"))]
SKILL_CHOICES = [
    ("billing", _("Billing and payments")),
    ("cards", _("Cards")),
    ("fraud", _("Fraud and security")),
    ("tech", _("Technical troubleshooting")),
    ("onboarding", _("Account opening")),
    ("disputes", _("Disputes and refunds")),
]
DAY_NAMES = [
    ("mon", _("Monday")),
    ("tue", _("Tuesday")),
    ("wed", _("Wednesday")),
    ("thu", _("Thursday")),
    ("fri", _("Friday")),
    ("sat", _("Saturday")),
    ("sun", _("Sunday")),
]
DAYS = [
    ("mon", _("Mon")),
    ("tue", _("Tue")),
    ("wed", _("Wed")),
    ("thu", _("Thu")),
    ("fri", _("Fri")),
    ("sat", _("Sat")),
    ("sun", _("Sun")),
]
BLOCKS = [("morning", "06-12"), ("afternoon", "12-18"), ("evening", "18-24"), ("night", "00-06")]
AVAILABILITY_CHOICES = [(f"{d}-{b}", format_lazy("{} {}", dl, bl)) for d, dl in DAYS for b, bl in BLOCKS]
MAX_LANGUAGES = 5


def country_choices() -> list[tuple[str, str]]:
    """ISO 3166 countries by name; a callable, so the list is built (and its names
    translated) when a form is made, not at import."""
    return [("", str(_("Choose your country"))), *((country.code, str(country.name)) for country in countries)]


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone of a place (Europe/Stockholm, not UTC or EST5EDT), as the browser's
    Intl API names them, so the page can preselect the device's zone."""
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [(zone, zone.replace("_", " ")) for zone in zones]


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"), min_length=2, max_length=80, help_text=_("Shown to customers, e.g. your first name")
    )
    country = forms.ChoiceField(
        label=_("Country"),
        choices=country_choices,
        help_text=_("Where you live and work from."),
        error_messages={"required": _("Choose your country from the list.")},
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=[("", _("Choose your time zone")), *time_zone_choices()],
        help_text=_("Your availability is read in this zone."),
        error_messages={"required": _("Choose your time zone from the list.")},
        widget=forms.Select(attrs={"data-preselect": "browser-time-zone"}),
    )


class LanguagesForm(forms.Form):
    """Up to five languages, each with a level; at least one at working level or better."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i in range(MAX_LANGUAGES):
            self.fields[f"code_{i}"] = forms.ChoiceField(
                choices=[("", "—")] + LANGUAGE_CHOICES,
                required=False,
                label=format_lazy(_("Language {number}"), number=i + 1),
            )
            self.fields[f"level_{i}"] = forms.ChoiceField(choices=PROFICIENCY_CHOICES, required=False, label=_("Level"))

    def clean(self):
        rows, seen = [], set()
        for i in range(MAX_LANGUAGES):
            code, level = self.cleaned_data.get(f"code_{i}"), self.cleaned_data.get(f"level_{i}") or "fluent"
            if not code:
                continue
            if code in seen:
                raise forms.ValidationError(_("Each language only once, please."))
            seen.add(code)
            rows.append({"code": code, "proficiency": level})
        if not rows:
            raise forms.ValidationError(_("Choose at least one language you can support customers in."))
        self.cleaned_data["languages"] = rows
        return self.cleaned_data

    @classmethod
    def initial_from(cls, saved: dict) -> dict:
        initial = {}
        for i, row in enumerate((saved or {}).get("languages", [])[:MAX_LANGUAGES]):
            initial[f"code_{i}"], initial[f"level_{i}"] = row["code"], row["proficiency"]
        return initial


class SkillsForm(forms.Form):
    skills = forms.MultipleChoiceField(
        label=_("Skills"),
        choices=SKILL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("What you already know well. None is fine: you will learn on the job."),
    )


class BrandsForm(forms.Form):
    """One checkbox and one 'why this brand' per brand that recruits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.brands = list(Brand.objects.order_by("name"))
        for brand in self.brands:
            self.fields[f"brand_{brand.pk}"] = forms.BooleanField(required=False, label=brand.name)
            self.fields[f"why_{brand.pk}"] = forms.CharField(
                required=False,
                max_length=500,
                widget=forms.Textarea(attrs={"rows": 3}),
                label=format_lazy(_("Why {brand}?"), brand=brand.name),
            )

    def clean(self):
        chosen = []
        for brand in self.brands:
            if self.cleaned_data.get(f"brand_{brand.pk}"):
                why = (self.cleaned_data.get(f"why_{brand.pk}") or "").strip()
                if len(why) < 20:
                    self.add_error(
                        f"why_{brand.pk}", _("Tell us in a sentence or two (20 characters or more) why this brand.")
                    )
                chosen.append({"brand_id": brand.pk, "why": why})
        if not chosen:
            raise forms.ValidationError(_("Choose at least one brand you would like to support."))
        self.cleaned_data["brands"] = chosen
        return self.cleaned_data

    @classmethod
    def initial_from(cls, saved: dict) -> dict:
        initial = {}
        for row in (saved or {}).get("brands", []):
            initial[f"brand_{row['brand_id']}"], initial[f"why_{row['brand_id']}"] = True, row["why"]
        return initial


class AvailabilityForm(forms.Form):
    slots = forms.MultipleChoiceField(
        label=_("Availability"),
        choices=AVAILABILITY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one block in the week.")},
    )


class DeviceForm(forms.Form):
    """Filled in by static/js/device-check.js; the agent app needs live connections."""

    websocket_ok = forms.CharField(widget=forms.HiddenInput, required=False)
    notifications = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20)
    user_agent = forms.CharField(widget=forms.HiddenInput, required=False, max_length=300)
    quiet_place = forms.BooleanField(label=_("I can work from a quiet place with a stable internet connection."))

    def clean_websocket_ok(self):
        if self.cleaned_data.get("websocket_ok") != "yes":
            raise forms.ValidationError(
                _(
                    "This browser could not open a live connection to us. "
                    "Try another browser or network, then run the check again."
                )
            )
        return True


STEPS = [
    ("profile", _("About you"), ProfileForm),
    ("languages", _("Languages"), LanguagesForm),
    ("skills", _("Skills"), SkillsForm),
    ("brands", _("Brands"), BrandsForm),
    ("availability", _("Availability"), AvailabilityForm),
    ("device", _("Device check"), DeviceForm),
]
STEP_KEYS = [key for key, _, _ in STEPS]


def step_payload(step: str, form: forms.Form) -> dict:
    """What a valid step form stores in Application.answers[step]."""
    data = form.cleaned_data
    if step == "languages":
        return {"languages": data["languages"]}
    if step == "brands":
        return {"brands": data["brands"]}
    if step == "device":
        return {
            "websocket_ok": True,
            "notifications": data.get("notifications") or "unknown",
            "user_agent": data.get("user_agent") or "",
            "quiet_place": True,
        }
    return {k: v for k, v in data.items()}


def step_initial(step: str, saved: dict, *, country: str = "") -> dict:
    """The form's initial values from the saved draft; the profile's country comes from
    its own column."""
    if step == "languages":
        return LanguagesForm.initial_from(saved)
    if step == "brands":
        return BrandsForm.initial_from(saved)
    if step == "profile":
        return {**(saved or {}), "country": country}
    return dict(saved or {})
