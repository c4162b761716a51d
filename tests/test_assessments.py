"""Brand assessments: timed, multiple choice scored at once, written replies graded."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import services
from agents.models import Application, AssessmentAttempt, AssessmentQuestion
from marketplace.errors import DomainError

from .factories import UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    """These tests are about vetting; tests/test_accounts.py covers the TOTP requirement."""
    settings.SUPERVISOR_MFA_REQUIRED = False


@pytest.fixture
def questions(brand):
    choice = [
        AssessmentQuestion.objects.create(
            brand=brand, kind="choice", prompt=f"Q{i}", options=["a", "b", "c"], correct_option=1
        )
        for i in range(4)
    ]
    written = AssessmentQuestion.objects.create(brand=brand, kind="written", prompt="Help!", rubric="Be kind")
    return choice, written


@pytest.fixture
def sent(db, brand):
    user = UserFactory(email="ann@example.test", role="applicant")
    application = services.application_for(user=user)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    application.refresh_from_db()
    return services.application_submit(application=application)


def answers(choice, written, right=4):
    given = {str(q.pk): (1 if i < right else 0) for i, q in enumerate(choice)}
    given[str(written.pk)] = "I'm sorry to hear that. Let me check your payment right now."
    return given


def test_assessment_starts_with_a_deadline_from_the_brand(sent, brand, questions):
    attempt = services.assessment_start(application=sent, brand=brand)
    assert abs((attempt.deadline - timezone.now()) - timedelta(minutes=brand.assessment_minutes)) < timedelta(seconds=5)
    # Starting again while in progress continues the same attempt.
    assert services.assessment_start(application=sent, brand=brand).pk == attempt.pk


def test_multiple_choice_is_scored_and_written_replies_wait_for_grading(sent, brand, questions, supervisor):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    attempt = services.assessment_submit(
        attempt_id=attempt.pk, user=sent.user, answers=answers(choice, written, right=3)
    )
    assert (attempt.status, attempt.choice_correct, attempt.choice_total) == ("submitted", 3, 4)
    graded = services.assessment_grade(attempt_id=attempt.pk, supervisor=supervisor, scores={str(written.pk): 4})
    assert graded.status == "graded" and graded.score_percent == 80 and graded.passed  # (3 + 1) / 5


def test_below_the_pass_mark_fails_and_retake_waits_for_the_cooldown(sent, brand, questions, supervisor, settings):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    services.assessment_submit(attempt_id=attempt.pk, user=sent.user, answers=answers(choice, written, right=1))
    graded = services.assessment_grade(attempt_id=attempt.pk, supervisor=supervisor, scores={str(written.pk): 1})
    assert not graded.passed and graded.score_percent == 25
    with pytest.raises(DomainError) as refused:
        services.assessment_start(application=sent, brand=brand)
    assert refused.value.code == "retake_not_yet"
    AssessmentAttempt.objects.filter(pk=attempt.pk).update(submitted_at=timezone.now() - timedelta(days=8))
    assert services.assessment_start(application=sent, brand=brand).pk != attempt.pk


def test_answers_after_the_deadline_are_refused_and_not_counted(sent, brand, questions):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    AssessmentAttempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - timedelta(minutes=5))
    with pytest.raises(DomainError) as refused:
        services.assessment_submit(attempt_id=attempt.pk, user=sent.user, answers=answers(choice, written))
    assert refused.value.code == "assessment_expired"
    attempt.refresh_from_db()
    assert attempt.status == "expired" and attempt.answers == {} and attempt.passed is False


def test_someone_elses_assessment_cannot_be_answered(sent, brand, questions):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    intruder = UserFactory(email="eve@example.test")
    with pytest.raises(DomainError) as refused:
        services.assessment_submit(attempt_id=attempt.pk, user=intruder, answers=answers(choice, written))
    assert refused.value.code == "attempt_not_found"
    attempt.refresh_from_db()
    assert attempt.status == "in_progress" and attempt.answers == {}


def test_tampered_or_missing_answers_are_refused_with_the_fields(sent, brand, questions):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    bad = answers(choice, written)
    bad[str(choice[0].pk)] = 7
    del bad[str(written.pk)]
    with pytest.raises(DomainError) as refused:
        services.assessment_submit(attempt_id=attempt.pk, user=sent.user, answers=bad)
    assert refused.value.code == "invalid_answers"
    assert set(refused.value.fields) == {str(choice[0].pk), str(written.pk)}
    attempt.refresh_from_db()
    assert attempt.status == "in_progress"


def test_assessment_needs_a_sent_application_and_a_chosen_brand(db, brand, other_brand, questions, sent):
    with pytest.raises(DomainError) as refused:
        services.assessment_start(application=sent, brand=other_brand)
    assert refused.value.code == "brand_not_chosen"
    draft = services.application_for(user=UserFactory(email="d@example.test"))
    with pytest.raises(DomainError) as refused:
        services.assessment_start(application=draft, brand=brand)
    assert refused.value.code == "application_not_open"


def test_supervisor_of_another_brand_cannot_grade(sent, brand, questions, other_brand):
    choice, written = questions
    attempt = services.assessment_start(application=sent, brand=brand)
    services.assessment_submit(attempt_id=attempt.pk, user=sent.user, answers=answers(choice, written))
    outsider = UserFactory(email="sup9@example.test", role="supervisor")
    other_brand.supervisors.add(outsider)
    with pytest.raises(DomainError) as refused:
        services.assessment_grade(attempt_id=attempt.pk, supervisor=outsider, scores={str(written.pk): 4})
    assert refused.value.code == "attempt_not_found"  # the same answer as for an attempt that does not exist
    attempt.refresh_from_db()
    assert attempt.status == "submitted" and attempt.written_scores == {} and attempt.graded_by is None


def test_the_whole_assessment_through_the_pages(client, sent, brand, questions, supervisor):
    choice, written = questions
    client.force_login(sent.user)
    status = client.get("/apply/status/").content.decode()
    assert f'href="/apply/assessment/{brand.pk}/start/"' in status and 'data-testid="assessment-start"' in status
    warning = client.get(f"/apply/assessment/{brand.pk}/start/").content.decode()
    assert 'data-testid="assessment-warning"' in warning
    assert not AssessmentAttempt.objects.exists()  # opening the page starts no clock
    started = client.post(f"/apply/assessment/{brand.pk}/start/")
    attempt = AssessmentAttempt.objects.get(application=sent)
    assert started["Location"] == f"/apply/assessment/attempt/{attempt.pk}/"
    page = client.get(started["Location"]).content.decode()
    assert "Help!" in page and 'data-testid="assessment-timer"' in page
    form = {f"q_{k}": v for k, v in answers(choice, written).items()}
    assert client.post(started["Location"], form)["Location"] == "/apply/status/"
    assert "waiting for a supervisor" in client.get("/apply/status/").content.decode()

    client.force_login(supervisor)
    detail = client.get(f"/supervisor/applications/{sent.pk}/").content.decode()
    assert "I&#x27;m sorry to hear that" in detail and 'data-testid="grade-form"' in detail
    client.post(f"/supervisor/assessments/{attempt.pk}/grade/", {f"score_{written.pk}": "3"})
    attempt.refresh_from_db()
    assert attempt.status == "graded" and attempt.score_percent == 95


def test_seed_demo_adds_a_question_bank(db):
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")
    assert AssessmentQuestion.objects.filter(brand__slug="demo", kind="choice").count() == 4
    assert AssessmentQuestion.objects.filter(brand__slug="demo", kind="written").count() == 2


# --- The warning before the clock starts -------------------------------------------------------


def test_the_start_page_warns_of_the_time_and_starts_nothing_until_start_is_pressed(client, sent, brand, questions):
    client.force_login(sent.user)

    page = client.get(f"/apply/assessment/{brand.pk}/start/")

    html = page.content.decode()
    assert page.status_code == 200
    warning = f"You will have {brand.assessment_minutes} minutes.</strong>\n      The timer starts when you press Start; it keeps running if you leave"
    assert warning in html
    assert "4 multiple-choice questions" in html and "1 customer message to answer in writing" in html
    assert 'method="post"' in html and 'data-testid="assessment-start-confirm"' in html
    assert not AssessmentAttempt.objects.exists()

    client.post(f"/apply/assessment/{brand.pk}/start/")
    [attempt] = AssessmentAttempt.objects.all()
    assert attempt.status == "in_progress"


def test_coming_back_to_the_start_page_while_the_clock_runs_goes_to_the_attempt(client, sent, brand, questions):
    attempt = services.assessment_start(application=sent, brand=brand)
    client.force_login(sent.user)

    response = client.get(f"/apply/assessment/{brand.pk}/start/")

    assert response["Location"] == f"/apply/assessment/attempt/{attempt.pk}/"
    assert AssessmentAttempt.objects.count() == 1


def test_a_brand_without_questions_says_so_and_offers_no_start(client, sent, brand):
    client.force_login(sent.user)

    html = client.get(f"/apply/assessment/{brand.pk}/start/").content.decode()

    assert 'data-testid="no-assessment"' in html and "assessment-start-confirm" not in html


def test_outsiders_cannot_open_the_start_page(client, sent, brand, other_brand, questions):
    assert client.get(f"/apply/assessment/{brand.pk}/start/")["Location"].startswith("/accounts/login/")
    client.force_login(sent.user)
    assert client.get(f"/apply/assessment/{other_brand.pk}/start/").status_code == 404  # a brand not chosen
    client.force_login(UserFactory(email="nosy@example.test", role="applicant"))
    assert client.get(f"/apply/assessment/{brand.pk}/start/").status_code == 404  # no application at all
    assert not AssessmentAttempt.objects.exists()
