"""The data migration that moved the country from the profile answers (free text cut to two
letters) into Application.country: known codes move over, unknown ones stay visible."""

import importlib

import pytest
from django.apps import apps

from agents.models import Application

from .factories import UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("agents.migrations.0007_application_country_from_answers")


def stored(email: str, country) -> Application:
    """An application as the old form saved it: the country inside the profile answers."""
    profile = {"display_name": "Sara", "time_zone": "Europe/Stockholm"}
    if country is not None:
        profile["country"] = country
    return Application.objects.create(user=UserFactory(email=email), answers={"profile": profile}, status="submitted")


def test_stored_codes_become_countries_and_unknown_ones_are_kept_for_review():
    rows = {
        value: stored(f"{n}@example.test", value)
        for n, value in enumerate(["SE", "de", " NO ", "UK", "EL", "XX", "Sverige", ""])
    }

    migration.move_country(apps, None)

    after = {value: Application.objects.get(pk=row.pk) for value, row in rows.items()}
    moved = {value: (row.country.code or "", row.country_unmatched) for value, row in after.items()}
    assert moved == {
        "SE": ("SE", ""),
        "de": ("DE", ""),
        " NO ": ("NO", ""),
        "UK": ("GB", ""),  # what people write for the United Kingdom
        "EL": ("GR", ""),  # the EU's code for Greece
        "XX": ("", "XX"),
        "Sverige": ("", "Sverige"),
        "": ("", ""),
    }
    assert all("country" not in row.answers["profile"] for row in after.values())
    assert all(row.answers["profile"]["display_name"] == "Sara" for row in after.values())


def test_applications_without_a_country_answer_are_left_alone():
    untouched = stored("a@example.test", None)
    empty = Application.objects.create(user=UserFactory(email="b@example.test"))

    migration.move_country(apps, None)

    for row in (untouched, empty):
        before = row.answers
        row.refresh_from_db()
        assert (row.country, row.country_unmatched, row.answers) == ("", "", before)


def test_the_migration_runs_backwards_without_losing_what_was_typed():
    known, unknown = stored("a@example.test", "se"), stored("b@example.test", "XX")
    migration.move_country(apps, None)

    migration.restore_country(apps, None)

    known.refresh_from_db()
    unknown.refresh_from_db()
    assert known.answers["profile"]["country"] == "SE"
    assert unknown.answers["profile"]["country"] == "XX"


def test_an_unmatched_country_shows_on_the_supervisors_page(client, supervisor, brand, settings):
    from .test_applications import answers_for

    settings.SUPERVISOR_MFA_REQUIRED = False

    application = stored("c@example.test", "XX")
    Application.objects.filter(pk=application.pk).update(
        answers={**answers_for(brand), "profile": {**application.answers["profile"]}}
    )
    migration.move_country(apps, None)
    client.force_login(supervisor)

    page = client.get(f"/supervisor/applications/{application.pk}/").content.decode()

    assert "Not a country we know: “XX”" in page
