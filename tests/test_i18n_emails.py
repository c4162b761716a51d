"""E-mails are written in the recipient's language when it is known: the applicant's is the
one they sent the application in, the customer's is their ticket's. Supervisors, whose
language is not on record, get English."""

import pytest
from django.core import mail
from django.utils import timezone

from agents import services
from agents.models import Application
from marketplace.models import User
from tasks import jobs as ticket_jobs

from .factories import AgentFactory, TicketFactory, UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False


def draft(brand, email: str = "sara@example.test") -> User:
    user = UserFactory(email=email, role=User.Role.APPLICANT)
    Application.objects.create(user=user, answers=answers_for(brand), country="SE")
    return user


def test_an_application_sent_from_a_swedish_page_is_answered_in_swedish(
    client, brand, supervisor, django_capture_on_commit_callbacks
):
    client.force_login(draft(brand))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/apply/review/", HTTP_ACCEPT_LANGUAGE="sv")
    [received] = mail.outbox
    assert received.subject.endswith("Vi har fått din ansökan")
    assert received.body.startswith("Hej Sara!\n")

    application = Application.objects.get(user__email="sara@example.test")
    assert application.language == "sv"
    mail.outbox.clear()
    # The supervisor decides in English; the applicant still reads Swedish.
    with django_capture_on_commit_callbacks(execute=True):
        services.application_decide(
            application=application, supervisor=supervisor, decision="reject", reason="language"
        )
    [decision] = mail.outbox
    assert decision.subject.endswith("Om din ansökan")
    assert "Språknivån räcker inte" in decision.body and "Du kan söka igen från och med" in decision.body
    assert "Language level" not in decision.body


def test_an_application_sent_in_english_is_answered_in_english(client, brand, django_capture_on_commit_callbacks):
    client.force_login(draft(brand))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/apply/review/", HTTP_ACCEPT_LANGUAGE="en")
    [received] = mail.outbox
    assert received.subject.endswith("We received your application")
    assert received.body.startswith("Hello Sara,\n")


def test_the_customer_hears_that_an_agent_answered_in_the_tickets_language(brand):
    agent = AgentFactory(brands=[brand], display_name="Ada")
    ticket = TicketFactory(brand=brand, language="sv-SE", agent=agent, subject="Kortet nekas")

    subject, body = ticket_jobs.ticket_answered_email(ticket)

    assert subject.endswith("Ada från Acme svarar dig")
    assert body.startswith("Hej!\n")
    assert "har tagit ditt ärende ”Kortet nekas”" in body and "Dela inte länken med någon" in body


def test_a_ticket_in_a_language_without_translation_gets_an_english_email(brand):
    ticket = TicketFactory(brand=brand, language="de", subject="Karte abgelehnt")
    subject, body = ticket_jobs.ticket_answered_email(ticket)
    assert subject.endswith("An agent from Acme is answering you")
    assert body.startswith("Hello,\n")


def test_supervisor_alerts_are_in_english_even_when_sent_from_a_swedish_request(brand, settings):
    from django.utils import translation

    ticket = TicketFactory(brand=brand, language="sv", queued_at=timezone.now())
    with translation.override("sv"):
        subject, body = ticket_jobs.supervisor_alert_email(brand, [ticket])
    assert "1 ticket found no agent in time" in subject
    assert "still waiting" in body and "min in the queue" in body
