"""Every page people see speaks Swedish to a Swedish browser, with no English left in its
key places, and English to everyone else."""

import pytest

from agents import services
from agents.models import Application
from marketplace.models import User

from .factories import TicketFactory, UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db

SWEDISH = {"HTTP_ACCEPT_LANGUAGE": "sv-SE,sv;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False


@pytest.fixture
def applicant_client(client):
    client.force_login(UserFactory(email="sara@example.test", role=User.Role.APPLICANT))
    return client


def page(client, path: str, headers: dict) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def assert_speaks(html: str, *, says: list[str], never: list[str]) -> None:
    for text in says:
        assert text in html, f"{text!r} missing"
    for text in never:
        assert text not in html, f"{text!r} left untranslated"


# (path, Swedish that must be there, its English source that must not)
APPLY_STEPS = [
    (
        "/apply/profile/",
        ["Ansök: Om dig", "Visningsnamn", "Välj ditt land", "Spara och fortsätt"],
        ["About you", "Save and continue"],
    ),
    (
        "/apply/languages/",
        ["Ansök: Språk", "Språk 1", "Nivå", "Modersmål", "Svenska"],
        ["Language 1", "Native", "Swedish"],
    ),
    (
        "/apply/skills/",
        ["Ansök: Kunskaper", "Kort", "Teknisk felsökning"],
        ["Technical troubleshooting", "None is fine"],
    ),
    ("/apply/brands/", ["Ansök: Varumärken", "Varför Acme?"], ["Why Acme?"]),
    ("/apply/availability/", ["Ansök: Tillgänglighet", "Mån", "Sön", "Kryssa i blocken"], ["Tick the blocks", ">Mon<"]),
    (
        "/apply/device/",
        ["Ansök: Enhetskontroll", "Kontrollerar din anslutning…", "lugn plats"],
        ["Checking your connection", "quiet place"],
    ),
]


def test_the_landing_page_speaks_swedish_to_a_swedish_browser(client):
    html = page(client, "/", SWEDISH)
    assert '<html lang="sv">' in html
    assert_speaks(
        html,
        says=["Logga in", "Så fungerar det", "Flexibla tider"],
        never=["How it works", "Flexible hours", "Log in<"],
    )


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_login_and_signup_speak_swedish(client, path):
    html = page(client, path, SWEDISH)
    assert_speaks(html, says=["Logga in", "Lösenord", "Språk"], never=["Password<", "Sign up<", "Language:"])


@pytest.mark.parametrize(("path", "says", "never"), APPLY_STEPS)
def test_each_apply_step_speaks_swedish(applicant_client, brand, path, says, never):
    html = page(applicant_client, path, SWEDISH)
    assert_speaks(html, says=[*says, "Steg i ansökan", "Granska"], never=[*never, "Save and finish later", ">Review<"])


def test_the_review_and_status_pages_speak_swedish(applicant_client, brand):
    review = page(applicant_client, "/apply/review/", SWEDISH)
    assert_speaks(
        review, says=["Granska och skicka", "Kvar att göra:", "Om dig"], never=["Review and send", "Still to do"]
    )
    status = page(applicant_client, "/apply/status/", SWEDISH)
    assert_speaks(
        status, says=["Din ansökan", "<strong>Utkast.</strong>", "Fortsätt"], never=["Your application", "Draft."]
    )


def test_a_sent_application_is_shown_in_swedish_words(client, brand):
    user = UserFactory(email="sara@example.test", role=User.Role.APPLICANT)
    application = services.application_for(user=user)
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    application.refresh_from_db()
    services.application_submit(application=application)
    client.force_login(user)

    html = page(client, "/apply/status/", SWEDISH)

    assert_speaks(
        html,
        says=["<strong>Ligger hos oss.</strong>", "Kunskapstest för varumärken", "Historik", "Skickad"],
        never=["With our team", "Brand assessments", "History"],
    )


def test_the_agent_app_speaks_swedish(client, agent):
    client.force_login(agent.user)
    html = page(client, "/agent/", SWEDISH)
    assert_speaks(
        html,
        says=["Tillgänglig", "Borta", "Du är <strong", "Markera som löst", "Skriv ett svar…", "Ansluter…", "Logga ut"],
        never=[">Available<", ">Away<", "You are", ">Resolve<", "Write a reply", "Connecting", ">Log out<"],
    )


def test_the_agent_app_and_the_customer_chat_carry_the_language_switch(client, agent, brand):
    client.force_login(agent.user)
    assert 'data-testid="language-switch"' in page(client, "/agent/", SWEDISH)
    ticket = TicketFactory(brand=brand, language="sv")
    assert 'data-testid="language-switch"' in page(client, f"/chat/{ticket.customer_token}/", SWEDISH)


def test_the_customer_chat_speaks_swedish(client, brand):
    ticket = TicketFactory(brand=brand, language="sv")
    html = page(client, f"/chat/{ticket.customer_token}/", SWEDISH)
    assert_speaks(
        html,
        says=[
            "Chatta med kundtjänst",
            "Skriv ett meddelande…",
            "Lämna ett meddelande",
            "Hur gick det?",
            "Skicka betyg",
        ],
        never=["Chat with support", "Write a message", "Leave a message", "How did we do?", "Send rating"],
    )


def test_the_supervisor_home_speaks_swedish(client, supervisor):
    client.force_login(supervisor)
    html = page(client, "/supervisor/", SWEDISH)
    assert_speaks(
        html,
        says=["Arbetsledarens startsida", "Dina varumärken", "ansökningar väntar på beslut", "Öppna granskningskön"],
        never=["Supervisor home", "Your brands", "waiting for a decision", "Open the vetting queue"],
    )


def test_english_stays_the_default(client, agent):
    assert "How it works" in page(client, "/", {})
    client.force_login(agent.user)
    html = page(client, "/agent/", ENGLISH)
    assert_speaks(html, says=[">Available<", "You are <strong", ">Resolve<"], never=["Tillgänglig", "Markera som löst"])
