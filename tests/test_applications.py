"""Application wizard, status page and the supervisors' vetting queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import services
from agents.models import AgentProfile, Application
from marketplace.errors import DomainError
from marketplace.models import User

from .factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    """These tests are about vetting; tests/test_accounts.py covers the TOTP requirement."""
    settings.SUPERVISOR_MFA_REQUIRED = False


def answers_for(brand) -> dict:
    """A complete draft; the country is a column of its own (`country="SE"` where it matters)."""
    return {
        "profile": {"display_name": "Sara", "time_zone": "Europe/Stockholm"},
        "languages": {"languages": [{"code": "sv", "proficiency": "native"}, {"code": "en", "proficiency": "fluent"}]},
        "skills": {"skills": ["cards"]},
        "brands": {"brands": [{"brand_id": brand.pk, "why": "I have used their app daily for five years."}]},
        "availability": {"slots": ["mon-evening", "sat-morning"]},
        "device": {"websocket_ok": True, "notifications": "granted", "user_agent": "test", "quiet_place": True},
    }


@pytest.fixture
def applicant(db):
    return UserFactory(email="sara@example.test", role=User.Role.APPLICANT)


@pytest.fixture
def applicant_client(client, applicant):
    client.force_login(applicant)
    return client


@pytest.fixture
def submitted(applicant, brand):
    application = services.application_for(user=applicant)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    application.refresh_from_db()
    return services.application_submit(application=application)


# --- Wizard --------------------------------------------------------------------------------


def test_apply_starts_a_draft_at_the_first_step(applicant_client, applicant):
    response = applicant_client.get("/apply/")
    assert response.status_code == 302 and response["Location"] == "/apply/profile/"
    assert Application.objects.get(user=applicant).status == "draft"


def test_each_step_saves_the_draft_and_moves_on(applicant_client, applicant):
    response = applicant_client.post(
        "/apply/profile/", {"display_name": "Sara", "country": "SE", "time_zone": "Europe/Stockholm"}
    )
    assert response["Location"] == "/apply/languages/"
    application = Application.objects.get(user=applicant)
    assert application.answers["profile"] == {"display_name": "Sara", "time_zone": "Europe/Stockholm"}
    assert application.country.code == "SE" and application.country.name == "Sweden"
    # Coming back later resumes at the first unfinished step, with nothing lost.
    assert applicant_client.get("/apply/")["Location"] == "/apply/languages/"
    page = applicant_client.get("/apply/profile/").content.decode()
    assert 'value="Sara"' in page
    assert '<option value="SE" selected>Sweden</option>' in page
    assert '<option value="Europe/Stockholm" selected>Europe/Stockholm</option>' in page


def test_the_country_is_chosen_from_the_iso_list_and_anything_else_is_refused_not_cut(applicant_client, applicant):
    page = applicant_client.get("/apply/profile/").content.decode()
    assert '<option value="" selected>Choose your country</option>' in page
    assert '<option value="SE">Sweden</option>' in page and '<option value="DE">Germany</option>' in page

    for typed in ("Sweden", "SWE", "XX", "se"):
        response = applicant_client.post(
            "/apply/profile/", {"display_name": "Sara", "country": typed, "time_zone": "Europe/Stockholm"}
        )
        assert response.status_code == 200 and "country" in response.context["form"].errors, typed
    application = Application.objects.get(user=applicant)
    assert application.country == "" and "profile" not in application.answers


def test_the_time_zone_list_comes_from_the_server_with_nothing_preselected_without_the_browser(applicant_client):
    form = applicant_client.get("/apply/profile/").context["form"]
    zones = [value for value, _ in form.fields["time_zone"].choices]

    assert zones[0] == "" and "Europe/Stockholm" in zones and "America/Argentina/Buenos_Aires" in zones
    assert "UTC" not in zones and not any(zone.startswith("Etc/") for zone in zones)
    html = applicant_client.get("/apply/profile/").content.decode()
    assert 'data-preselect="browser-time-zone"' in html and "js/time-zone.js" in html


def test_invalid_step_input_is_explained_and_nothing_is_saved(applicant_client, applicant):
    response = applicant_client.post(
        "/apply/profile/", {"display_name": "S", "country": "Swe", "time_zone": "Mars/Base"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"display_name", "country", "time_zone"}
    assert "profile" not in Application.objects.get(user=applicant).answers


def test_languages_need_at_least_one_and_no_duplicates(applicant_client):
    none = applicant_client.post("/apply/languages/", {})
    assert "at least one language" in str(none.context["form"].non_field_errors())
    dup = applicant_client.post(
        "/apply/languages/", {"code_0": "sv", "level_0": "native", "code_1": "sv", "level_1": "fluent"}
    )
    assert "only once" in str(dup.context["form"].non_field_errors())


def test_brand_choice_needs_a_reason(applicant_client, applicant, brand):
    short = applicant_client.post("/apply/brands/", {f"brand_{brand.pk}": "on", f"why_{brand.pk}": "cool"})
    assert f"why_{brand.pk}" in short.context["form"].errors
    ok = applicant_client.post(
        "/apply/brands/", {f"brand_{brand.pk}": "on", f"why_{brand.pk}": "I have been a happy customer for years."}
    )
    assert ok.status_code == 302
    assert Application.objects.get(user=applicant).answers["brands"]["brands"][0]["brand_id"] == brand.pk


def test_device_step_requires_a_working_live_connection(applicant_client):
    failed = applicant_client.post("/apply/device/", {"websocket_ok": "no", "quiet_place": "on"})
    assert "live connection" in str(failed.context["form"].errors["websocket_ok"])
    passed = applicant_client.post(
        "/apply/device/", {"websocket_ok": "yes", "notifications": "granted", "quiet_place": "on"}
    )
    assert passed.status_code == 302


def test_save_and_finish_later_goes_to_the_status_page(applicant_client):
    response = applicant_client.post(
        "/apply/profile/", {"display_name": "Sara", "country": "SE", "time_zone": "Europe/Oslo", "save_exit": "1"}
    )
    assert response["Location"] == "/apply/status/"


def test_unknown_step_is_a_404(applicant_client):
    assert applicant_client.get("/apply/teleport/").status_code == 404


def test_incomplete_application_cannot_be_sent(applicant_client, applicant):
    applicant_client.post("/apply/profile/", {"display_name": "Sara", "country": "SE", "time_zone": "Europe/Oslo"})
    response = applicant_client.post("/apply/review/", follow=True)
    assert "complete every step" in response.content.decode()
    assert Application.objects.get(user=applicant).status == "draft"


def test_complete_application_is_sent_and_the_applicant_is_emailed(
    applicant, brand, mailoutbox, django_capture_on_commit_callbacks
):
    application = services.application_for(user=applicant)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    with django_capture_on_commit_callbacks(execute=True):
        services.application_submit(application=application)
    application.refresh_from_db()
    assert application.status == "submitted" and application.submitted_at
    assert mailoutbox[-1].to == ["sara@example.test"] and "received" in mailoutbox[-1].subject


def test_a_second_submission_while_one_is_open_is_refused(submitted):
    with pytest.raises(DomainError) as refused:
        services.application_submit(application=submitted)
    assert refused.value.code == "application_open"


def test_a_sent_application_cannot_be_edited(applicant_client, submitted):
    response = applicant_client.post(
        "/apply/profile/", {"display_name": "Changed", "country": "SE", "time_zone": "Europe/Oslo"}
    )
    assert response["Location"] == "/apply/status/"
    submitted.refresh_from_db()
    assert submitted.answers["profile"]["display_name"] == "Sara"


def test_the_review_page_shows_names_not_codes(applicant_client, applicant, brand):
    application = services.application_for(user=applicant)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")

    page = applicant_client.get("/apply/review/")
    answers = page.context["answers"]
    html = page.content.decode()

    assert answers["profile"]["country"] == "Sweden"
    assert answers["profile"]["time_zone"].startswith("Stockholm (Europe), now UTC+0")
    assert [(row["name"], row["proficiency"]) for row in answers["languages"]] == [
        ("Swedish", "Native"),
        ("English", "Fluent"),
    ]
    assert answers["skills"] == ["Cards"]
    assert answers["brands"][0]["name"] == brand.name
    monday, saturday = answers["availability"]["days"][0], answers["availability"]["days"][5]
    assert answers["availability"]["blocks"] == ["06-12", "12-18", "18-24", "00-06"]
    assert (monday["name"], monday["blocks"]) == ("Monday", [False, False, True, False])
    assert (saturday["name"], saturday["blocks"]) == ("Saturday", [True, False, False, False])
    for shown in (
        "Sweden",
        "Swedish (native)",
        "English (fluent)",
        "Cards",
        "Stockholm (Europe)",
        "Monday",
        "Saturday",
    ):
        assert shown in html, shown
    for code in (">SE<", "sv (", "mon-evening", "Europe/Stockholm"):
        assert code not in html, code


def test_a_country_that_matched_no_iso_code_is_shown_and_must_be_chosen_before_sending(
    applicant_client, applicant, brand
):
    """What an older form stored and the country list could not place is kept for review."""
    application = services.application_for(user=applicant)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country_unmatched="XX")

    review = applicant_client.get("/apply/review/").content.decode()
    assert "Not a country we know: “XX”" in review and 'data-testid="apply-submit"' not in review
    assert applicant_client.get("/apply/")["Location"] == "/apply/profile/"
    assert "You wrote “XX” as your country" in applicant_client.get("/apply/profile/").content.decode()
    with pytest.raises(DomainError) as refused:
        services.application_submit(application=application)
    assert refused.value.code == "application_incomplete"

    applicant_client.post("/apply/profile/", {"display_name": "Sara", "country": "NO", "time_zone": "Europe/Oslo"})
    application.refresh_from_db()
    assert (application.country.code, application.country_unmatched) == ("NO", "")
    assert applicant_client.get("/apply/")["Location"] == "/apply/review/"


def test_the_supervisor_sees_the_unmatched_country_of_a_sent_application(client, supervisor, submitted):
    Application.objects.filter(pk=submitted.pk).update(country="", country_unmatched="UK?")
    client.force_login(supervisor)

    page = client.get(f"/supervisor/applications/{submitted.pk}/").content.decode()

    assert "Not a country we know: “UK?”" in page
    assert "choose your country" not in page  # that link is for the applicant


def test_status_page_shows_where_the_applicant_stands(applicant_client, submitted):
    page = applicant_client.get("/apply/status/").content.decode()
    assert 'data-status="submitted"' in page and "With our team" in page


def test_agents_skip_the_application(client, agent):
    client.force_login(agent.user)
    assert client.get("/apply/")["Location"] == "/agent/"


# --- Vetting ----------------------------------------------------------------------------------


def test_supervisor_sees_applications_for_their_brands_only(client, supervisor, submitted, other_brand):
    stranger = UserFactory(email="x@example.test", role=User.Role.APPLICANT)
    other = services.application_for(user=stranger)
    Application.objects.filter(pk=other.pk).update(answers=answers_for(other_brand), country="DK")
    other.refresh_from_db()
    services.application_submit(application=other)
    client.force_login(supervisor)
    rows = client.get("/supervisor/applications/").context["page"].object_list
    assert [r["application"].pk for r in rows] == [submitted.pk]
    assert client.get(f"/supervisor/applications/{other.pk}/").status_code == 404


def test_queue_filters_by_language(client, supervisor, submitted):
    client.force_login(supervisor)
    swedish = client.get("/supervisor/applications/?language=sv").context["page"].object_list
    assert [row["application"].pk for row in swedish] == [submitted.pk]
    assert list(client.get("/supervisor/applications/?language=de").context["page"].object_list) == []


def test_approval_makes_a_probation_agent_certified_for_the_brand(
    client, supervisor, submitted, brand, mailoutbox, settings, django_capture_on_commit_callbacks
):
    client.force_login(supervisor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/supervisor/applications/{submitted.pk}/", {"decision": "approve"})
    assert response.status_code == 302
    profile = AgentProfile.objects.get(user=submitted.user)
    assert profile.tier == "probation" and profile.capacity == settings.PROBATION_CAPACITY
    assert list(profile.brands.all()) == [brand]
    assert sorted(profile.language_codes) == ["en", "sv"] and profile.skill_codes == ["cards"]
    submitted.user.refresh_from_db()
    assert submitted.user.role == "agent"
    assert "Welcome" in mailoutbox[-1].subject


def test_rejection_needs_a_reason_and_tells_when_to_retry(client, supervisor, submitted, applicant):
    client.force_login(supervisor)
    client.post(f"/supervisor/applications/{submitted.pk}/", {"decision": "reject"})
    submitted.refresh_from_db()
    assert submitted.status == "submitted"  # refused without a reason: nothing changed
    client.post(
        f"/supervisor/applications/{submitted.pk}/",
        {"decision": "reject", "reason": "language", "message": "Your English sample was too short."},
    )
    submitted.refresh_from_db()
    assert submitted.status == "rejected" and submitted.reject_reason == "language"
    assert submitted.retry_after > timezone.now() + timedelta(days=29)
    client.force_login(applicant)
    page = client.get("/apply/status/").content.decode()
    assert "Language level not sufficient" in page and "Your English sample was too short." in page


def test_applicant_can_start_again_only_after_the_waiting_time(applicant_client, submitted, supervisor):
    services.application_decide(application=submitted, supervisor=supervisor, decision="reject", reason="other")
    response = applicant_client.post("/apply/restart/", follow=True)
    assert "apply again from" in response.content.decode()
    Application.objects.filter(pk=submitted.pk).update(retry_after=timezone.now() - timedelta(seconds=1))
    assert applicant_client.post("/apply/restart/")["Location"] == "/apply/"
    submitted.refresh_from_db()
    assert submitted.status == "draft" and submitted.answers["profile"]["display_name"] == "Sara"


def test_asking_for_information_lets_the_applicant_update_and_resend(applicant_client, supervisor, submitted):
    services.application_decide(
        application=submitted, supervisor=supervisor, decision="info", message="Which hours on weekdays?"
    )
    page = applicant_client.get("/apply/status/").content.decode()
    assert "Which hours on weekdays?" in page
    applicant_client.post("/apply/availability/", {"slots": ["mon-evening", "tue-evening"]})
    applicant_client.post("/apply/review/")
    submitted.refresh_from_db()
    assert submitted.status == "submitted"
    assert submitted.answers["availability"]["slots"] == ["mon-evening", "tue-evening"]


def test_deciding_twice_is_refused(supervisor, submitted):
    services.application_decide(application=submitted, supervisor=supervisor, decision="approve")
    with pytest.raises(DomainError) as refused:
        services.application_decide(application=submitted, supervisor=supervisor, decision="reject", reason="other")
    assert refused.value.code == "application_not_open"


def test_supervisor_of_another_brand_cannot_decide(submitted, other_brand):
    outsider = UserFactory(email="sup2@example.test", role=User.Role.SUPERVISOR)
    other_brand.supervisors.add(outsider)
    with pytest.raises(DomainError) as refused:
        services.application_decide(application=submitted, supervisor=outsider, decision="approve")
    assert refused.value.code == "not_your_brand"
    assert not AgentProfile.objects.filter(user=submitted.user).exists()


@pytest.mark.parametrize("who", ["applicant", "agent"])
def test_applicants_and_agents_cannot_open_the_vetting_queue(client, who, applicant, agent, submitted):
    client.force_login(applicant if who == "applicant" else agent.user)
    assert client.get("/supervisor/applications/").status_code == 403
    assert client.post(f"/supervisor/applications/{submitted.pk}/", {"decision": "approve"}).status_code == 403
    submitted.refresh_from_db()
    assert submitted.status == "submitted"


def test_applicant_cannot_see_another_applicants_application(client, submitted):
    other = UserFactory(email="nosy@example.test", role=User.Role.APPLICANT)
    client.force_login(other)
    page = client.get("/apply/status/").content.decode()
    assert "Sara" not in page and 'data-status="none"' in page


def test_login_page_still_works_for_applicants(client, applicant):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=applicant, email=applicant.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": applicant.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/apply/profile/"  # the first step of a new application
    assert response.wsgi_request.user == applicant
