"""Move the country from the profile answers (free text, cut to two letters) into the
Application.country column. Codes that name an ISO 3166 country move over; anything else is
kept in country_unmatched, shown on the review and vetting pages, instead of being lost."""

from django.db import migrations
from django_countries import countries

# Two-letter forms people write that ISO 3166 spells differently (the EU's own codes).
ALIASES = {"UK": "GB", "EL": "GR"}


def country_code(raw: str) -> str:
    """The ISO 3166 alpha-2 code `raw` stands for, or "" when it names no country."""
    code = raw.strip().upper()
    return countries.alpha2(ALIASES.get(code, code))


def move_country(apps, schema_editor):
    Application = apps.get_model("agents", "Application")
    for application in Application.objects.filter(answers__profile__has_key="country").iterator():
        profile = application.answers["profile"]
        raw = profile.pop("country")
        raw = raw if isinstance(raw, str) else ""
        application.country = country_code(raw)
        application.country_unmatched = "" if application.country else raw.strip()[:100]
        application.save(update_fields=["answers", "country", "country_unmatched"])


def restore_country(apps, schema_editor):
    Application = apps.get_model("agents", "Application")
    for application in Application.objects.exclude(country="", country_unmatched="").iterator():
        if isinstance(application.answers.get("profile"), dict):
            country = application.country.code if application.country else ""
            application.answers["profile"]["country"] = country or application.country_unmatched
            application.save(update_fields=["answers"])


class Migration(migrations.Migration):
    dependencies = [("agents", "0006_application_country")]

    operations = [migrations.RunPython(move_country, restore_country)]
