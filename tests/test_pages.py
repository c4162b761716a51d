import pytest

from marketplace.models import User

from .factories import PASSWORD, AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_landing_page_invites_agents(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/accounts/signup/" role="button" data-testid="signup"' in response.content


def test_agent_app_needs_a_login(client):
    response = client.get("/agent/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_agent_app_opens_for_an_agent(client, agent):
    client.force_login(agent.user)
    response = client.get("/agent/")
    assert response.status_code == 200
    assert b"/ws/agent/" in response.content


def test_agent_app_refuses_a_user_who_is_not_an_agent(client):
    user = User.objects.create_user("someone@example.test", PASSWORD)
    client.force_login(user)
    assert client.get("/agent/").status_code == 403


def test_login_sends_an_agent_to_the_agent_app(client, agent):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=agent.user, email=agent.user.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": agent.user.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/agent/"


def test_customer_chat_opens_with_its_token(client, brand):
    ticket = TicketFactory(brand=brand)
    response = client.get(f"/chat/{ticket.customer_token}/")
    assert response.status_code == 200
    assert f"/ws/customer/{ticket.customer_token}/".encode() in response.content


def test_customer_chat_with_an_unknown_token_is_a_404(client):
    assert client.get("/chat/nope/").status_code == 404


def test_pwa_manifest_is_served_with_its_type(client):
    response = client.get("/static/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"


def test_new_agent_sees_the_first_day_guide_until_a_case_is_resolved(client, brand):
    from tasks import services

    agent = AgentFactory(brands=[brand], available=True)
    client.force_login(agent.user)
    assert b'data-testid="first-day-guide"' in client.get("/agent/").content
    offer = services.ticket_dispatch(ticket_id=TicketFactory(brand=brand).pk)
    ticket = services.offer_accept(agent=agent, offer_id=offer.pk)
    assert b'data-testid="first-day-guide"' in client.get("/agent/").content  # working a case is not resolving it
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    assert b'data-testid="first-day-guide"' not in client.get("/agent/").content


@pytest.mark.parametrize(
    "role, staff, target",
    [("applicant", False, "/apply/"), ("supervisor", True, "/supervisor/"), ("staff", True, "/admin/")],
)
def test_after_login_each_role_lands_at_home(client, role, staff, target, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    user = User.objects.create_user(f"{role}@example.test", PASSWORD, role=role, is_staff=staff)
    client.force_login(user)
    assert client.get("/after-login/")["Location"] == target
