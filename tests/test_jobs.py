"""Celery jobs: enqueued only after commit, the applicant e-mails sent by a job that retries
a failing mail server, and the beat schedule naming jobs that exist. Jobs run eagerly here
(ENVIRONMENT=test), through Celery's real apply path."""

import smtplib
from datetime import timedelta

import pytest
from celery.signals import task_postrun
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction
from django.utils import timezone

from agents import jobs, services
from agents.models import Application, ApplicationEvent
from marketplace.celery import app as celery_app
from marketplace.models import User
from tasks.models import Ticket
from tasks.sweeper import Sweeper

from .factories import TicketFactory, UserFactory
from .test_applications import answers_for

EMAIL_JOB = "agents.jobs.application_event_email_send"
CLOSE_JOB = "tasks.jobs.tickets_close_after_window"


class FlakySMTPBackend(LocmemBackend):
    """Delivers to mail.outbox like the test backend, after the server has dropped the first
    `failures` connections (set per test). Counts every delivery attempt."""

    failures = 0
    attempts = 0

    def send_messages(self, messages):
        cls = type(self)
        cls.attempts += 1
        if cls.attempts <= cls.failures:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakySMTPBackend"
    # Celery only retries an eager job when its errors are not propagated: with propagation
    # (the suite's default, so a failing job fails its test) the first Retry is raised.
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    FlakySMTPBackend.failures = FlakySMTPBackend.attempts = 0
    yield FlakySMTPBackend
    FlakySMTPBackend.failures = FlakySMTPBackend.attempts = 0


@pytest.fixture
def jobs_run():
    """Names of the Celery jobs that ran to the end, in order."""
    names = []

    def record(sender=None, **kwargs):
        names.append(sender.name)

    task_postrun.connect(record, weak=False)
    yield names
    task_postrun.disconnect(record)


@pytest.fixture
def sent(brand):
    """A complete application, sent to the vetting queue."""
    applicant = UserFactory(email="sara@example.test", role=User.Role.APPLICANT)
    application = Application.objects.create(user=applicant, answers=answers_for(brand))
    return services.application_submit(application=application)


def test_jobs_run_eagerly_in_the_test_environment():
    assert celery_app.conf.task_always_eager is True


# --- On commit ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_transaction_that_rolls_back_never_runs(sent, supervisor, mailoutbox, jobs_run):
    mailoutbox.clear()
    jobs_run.clear()

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        services.application_decide(application=sent, supervisor=supervisor, decision="approve")
        raise Undo

    assert jobs_run == [] and mailoutbox == []
    sent.refresh_from_db()
    assert sent.status == Application.Status.SUBMITTED

    # The same decision committed does run the job: the rollback is what stopped it.
    services.application_decide(application=sent, supervisor=supervisor, decision="approve")
    assert jobs_run == [EMAIL_JOB]
    assert [m.subject for m in mailoutbox] == ["[Support Marketplace] Welcome aboard"]


@pytest.mark.django_db
def test_the_decision_email_is_sent_by_the_job_after_commit(
    sent, supervisor, mailoutbox, jobs_run, django_capture_on_commit_callbacks
):
    mailoutbox.clear()
    with django_capture_on_commit_callbacks() as callbacks:
        services.application_decide(
            application=sent, supervisor=supervisor, decision="reject", reason="language", message="Too short."
        )
    assert mailoutbox == [] and jobs_run == []  # nothing before the commit

    for callback in callbacks:
        callback()

    assert jobs_run == [EMAIL_JOB]
    [email] = mailoutbox
    assert email.to == ["sara@example.test"]
    assert email.subject == "[Support Marketplace] About your application"
    assert "Language level not sufficient" in email.body and "Too short." in email.body
    assert "/apply/status/" in email.body


@pytest.mark.django_db
def test_the_job_finds_the_event_by_id_and_tells_of_a_request_for_information(sent, supervisor, mailoutbox):
    services.application_decide(application=sent, supervisor=supervisor, decision="info", message="Which hours?")
    event = ApplicationEvent.objects.get(application=sent, kind=ApplicationEvent.Kind.INFO_REQUESTED)
    mailoutbox.clear()

    assert jobs.application_event_email_send.apply(args=[event.pk]).get() is True

    [email] = mailoutbox
    assert email.subject == "[Support Marketplace] We need a little more information"
    assert "\nWhich hours?\n" in email.body


@pytest.mark.django_db
def test_the_job_does_nothing_for_an_event_that_is_gone(mailoutbox):
    assert jobs.application_event_email_send.apply(args=[987654321]).get() is False
    assert mailoutbox == []


# --- Retries -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_mail_server_connection_error_is_retried_until_the_mail_goes_out(sent, flaky_mail):
    event = sent.events.get()
    flaky_mail.failures = 2

    result = jobs.application_event_email_send.apply(args=[event.pk])

    assert result.successful() and result.get() is True
    assert flaky_mail.attempts == 3
    assert [m.to for m in mail.outbox] == [["sara@example.test"]]


@pytest.mark.django_db
def test_a_mail_server_that_stays_down_is_given_up_after_five_retries(sent, flaky_mail):
    event = sent.events.get()
    flaky_mail.failures = 100

    result = jobs.application_event_email_send.apply(args=[event.pk])

    assert result.failed()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        result.get()
    assert flaky_mail.attempts == 1 + 5
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_does_not_fail_the_committed_decision(
    sent, supervisor, flaky_mail, client, settings, caplog
):
    settings.SUPERVISOR_MFA_REQUIRED = False
    settings.CELERY_TASK_EAGER_PROPAGATES = True  # the job's error reaches the on_commit hook
    flaky_mail.failures = 100
    client.force_login(supervisor)

    response = client.post(f"/supervisor/applications/{sent.pk}/", {"decision": "approve"})

    assert response.status_code == 302
    sent.refresh_from_db()
    assert sent.status == Application.Status.APPROVED
    assert flaky_mail.attempts >= 1  # the job did run at commit
    assert "in on_commit()" in caplog.text and "Connection unexpectedly closed" in caplog.text


# --- Beat --------------------------------------------------------------------------------------


def test_every_beat_entry_names_a_job_that_autodiscovery_registers():
    celery_app.loader.import_default_modules()
    schedule = celery_app.conf.beat_schedule

    assert {entry["task"] for entry in schedule.values()} >= {CLOSE_JOB}
    for name, entry in schedule.items():
        assert entry["task"] in celery_app.tasks, f"beat entry {name!r} names an unknown job {entry['task']!r}"


@pytest.fixture
def resolved_long_ago(brand, agent):
    return TicketFactory(
        brand=brand,
        agent=agent,
        status=Ticket.Status.RESOLVED,
        resolved_at=timezone.now() - timedelta(hours=73),
    )


@pytest.mark.django_db
def test_the_beat_job_closes_resolved_tickets_whose_reopen_window_passed(resolved_long_ago):
    celery_app.loader.import_default_modules()

    assert celery_app.tasks[CLOSE_JOB].apply().get() == 1

    resolved_long_ago.refresh_from_db()
    assert resolved_long_ago.status == Ticket.Status.CLOSED
    assert celery_app.tasks[CLOSE_JOB].apply().get() == 0  # a doubled run does no harm


@pytest.mark.django_db
def test_with_a_broker_the_sweeper_leaves_reopen_windows_to_beat(resolved_long_ago, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    result = Sweeper().sweep_once()

    assert "closed" not in result
    resolved_long_ago.refresh_from_db()
    assert resolved_long_ago.status == Ticket.Status.RESOLVED


@pytest.mark.django_db
def test_without_a_broker_the_sweeper_still_closes_reopen_windows(resolved_long_ago, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    assert Sweeper().sweep_once()["closed"] == 1

    resolved_long_ago.refresh_from_db()
    assert resolved_long_ago.status == Ticket.Status.CLOSED
