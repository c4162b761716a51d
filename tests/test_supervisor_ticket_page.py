"""The ticket page a supervisor reaches from the "found no agent in time" e-mail: their own
brands' tickets only, with what widening did, and never the conversation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks import services
from tasks.models import Message, Ticket

from .factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the TOTP gate has its own tests


@pytest.fixture
def widened(handover):
    ticket = handover(tags=["cards"])
    Message.objects.create(ticket=ticket, sender=Message.Sender.CUSTOMER, text="my secret story")
    Ticket.objects.filter(pk=ticket.pk).update(queued_at=timezone.now() - timedelta(seconds=600))
    services.tickets_widen_due()
    return ticket


def test_the_supervisor_of_the_brand_sees_the_ticket_and_its_widening(client, supervisor, widened):
    client.force_login(supervisor)
    page = client.get(f"/supervisor/tickets/{widened.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert widened.subject in html and 'data-kind="widened_skills"' in html
    assert "my secret story" not in html


def test_another_brands_supervisor_is_refused(client, other_brand, widened):
    outsider = UserFactory(email="other-sup@example.test", role="supervisor")
    other_brand.supervisors.add(outsider)
    client.force_login(outsider)
    assert client.get(f"/supervisor/tickets/{widened.pk}/").status_code == 404


def test_an_agent_is_refused(client, brand, widened):
    agent = AgentFactory(brands=[brand])
    client.force_login(agent.user)
    assert client.get(f"/supervisor/tickets/{widened.pk}/").status_code == 403


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, widened):
    page = client.get(f"/supervisor/tickets/{widened.pk}/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
