"""Who may do what: every page, REST endpoint and socket action, tried by every kind of
caller, each with its exact answer. docs/security.md publishes this same table.

The target of every cell is one ticket T of brand Acme (queued, or assigned to Acme's agent
with a file the customer sent, for HTTP; offered to, assigned to or resolved by Acme's agent
for the socket actions, as each action needs) and one application sent to Acme. Who the callers are and what they send:

- people log in (a session for pages and REST, an API token on sockets); supervisors and
  staff have TOTP set up, as they must;
- the two customers hold a chat token: T's own, or that of a ticket U of another brand.
  They send it where a token may go (`Authorization: Token …`) and use it in chat links;
- the brands hold API keys (Acme's, another brand's, a wrong one) and send them as
  `Authorization: Bearer …` on every request;
- a chat link is its own key: callers without a chat token use an unknown one.

Answers: an HTTP status, with the redirect target or the REST error code; on sockets
`open`, `ack`, `error <code>` or `refused <close code> <code>`.
"""

import base64
import io
import json
import os
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from agents import services as agent_services
from agents.models import Application
from marketplace.asgi import application as asgi_application
from marketplace.models import User
from marketplace.services import api_token_create
from payouts.services import earning_credit, payout_method_set
from tasks import services
from tasks.models import Message, Offer, Shift, Ticket

from .conftest import TICKET_BODY
from .factories import PASSWORD, AgentFactory, TicketFactory, UserFactory, brand_with_key
from .ws import receive, request

ROLES = [
    "anonymous",
    "applicant",
    "agent",
    "other_agent",
    "other_supervisor",
    "supervisor",
    "staff",
    "customer",
    "other_customer",
    "brand",
    "other_brand",
    "wrong_key",
]
TITLES = {
    "anonymous": "anonymous",
    "applicant": "applicant",
    "agent": "agent",
    "other_agent": "agent of another brand",
    "other_supervisor": "supervisor of another brand",
    "supervisor": "supervisor",
    "staff": "staff",
    "customer": "customer (T's chat token)",
    "other_customer": "customer token of another ticket",
    "brand": "brand (right API key)",
    "other_brand": "another brand's API key",
    "wrong_key": "wrong API key",
}
PEOPLE = {"applicant", "agent", "other_agent", "other_supervisor", "supervisor", "staff"}


def row(default: str, **answers: str) -> dict[str, str]:
    """Every role's expected answer: `default` unless named."""
    unknown = set(answers) - set(ROLES)
    assert not unknown, unknown
    return {role: answers.get(role, default) for role in ROLES}


def login(path: str) -> str:
    return f"302 /accounts/login/?next={path}"


NOT_AGENT = "refused 4403 not_an_agent"
NO_AGENT_LOGIN = "refused 4401 unauthenticated"
agent_socket = dict(
    default=NO_AGENT_LOGIN, applicant=NOT_AGENT, other_supervisor=NOT_AGENT, supervisor=NOT_AGENT, staff=NOT_AGENT
)
NO_CHAT = "refused 4404 ticket_not_found"
UNAUTHENTICATED = "401 unauthenticated"
ANSWER_APPLY = "302 /apply/profile/"
NOT_AN_AGENT = "403 not_an_agent"
NO_TICKET = "404 ticket_not_found"
AGENT_PAGE = {**dict.fromkeys(PEOPLE, "403"), "agent": "200", "other_agent": "200"}
SUPERVISOR_PAGE = {**dict.fromkeys(PEOPLE, "403"), "other_supervisor": "200", "supervisor": "200"}
SHIFT_WEEK = "302 /supervisor/shifts/?brand=acme&week={week}&tz=Europe%2FStockholm"
SHIFT_ACTION = {
    **dict.fromkeys(PEOPLE, "403"),
    "other_supervisor": "404",
    "supervisor": SHIFT_WEEK,
    "staff": SHIFT_WEEK,
}

QUALITY_ACTION = {**dict.fromkeys(PEOPLE, "403 forbidden"), "supervisor": "200", "staff": "200"}

# (surface, what is sent) -> expected answer per role.
TABLE: dict[tuple[str, str], dict[str, str]] = {
    # --- Pages -------------------------------------------------------------------------------
    ("page", "GET /"): row("200"),
    ("page", "GET /agent/"): row(
        login("/agent/"),
        applicant="403",
        agent="200",
        other_agent="200",
        other_supervisor="403",
        supervisor="403",
        staff="403",
    ),
    ("page", "GET /apply/"): row(
        login("/apply/"),
        applicant=ANSWER_APPLY,
        agent="302 /agent/",
        other_agent="302 /agent/",
        other_supervisor=ANSWER_APPLY,
        supervisor=ANSWER_APPLY,
        staff=ANSWER_APPLY,
    ),
    ("page", "GET /apply/status/"): row(login("/apply/status/"), **dict.fromkeys(PEOPLE, "200")),
    ("page", "GET /supervisor/"): row(login("/supervisor/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    # The agents directory and the audit log: each supervisor sees their own brands' rows,
    # platform staff every brand's; another brand's agent is 404.
    ("page", "GET /supervisor/agents/"): row(login("/supervisor/agents/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/agents/{agent_id}/"): row(
        login("/supervisor/agents/{agent_id}/"), **{**SUPERVISOR_PAGE, "staff": "200", "other_supervisor": "404"}
    ),
    ("page", "GET /supervisor/audit/"): row(login("/supervisor/audit/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/audit/export.csv"): row(
        login("/supervisor/audit/export.csv"), **{**SUPERVISOR_PAGE, "staff": "200"}
    ),
    ("page", "GET /supervisor/applications/"): row(login("/supervisor/applications/"), **SUPERVISOR_PAGE),
    ("page", "GET /supervisor/applications/{application}/"): row(
        login("/supervisor/applications/{application}/"),
        **{**dict.fromkeys(PEOPLE, "403"), "other_supervisor": "404", "supervisor": "200"},
    ),
    ("page", "GET /supervisor/tickets/{ticket}/"): row(
        login("/supervisor/tickets/{ticket}/"), **{**SUPERVISOR_PAGE, "other_supervisor": "404"}
    ),
    # Shift planning: each supervisor their own brands' shifts (another brand's is 404),
    # platform staff every brand's; changes go back to the shift's week.
    ("page", "GET /supervisor/shifts/"): row(login("/supervisor/shifts/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "POST /supervisor/shifts/"): row(login("/supervisor/shifts/"), **SHIFT_ACTION),
    ("page", "POST /supervisor/shifts/{shift}/edit/"): row(login("/supervisor/shifts/{shift}/edit/"), **SHIFT_ACTION),
    ("page", "POST /supervisor/shifts/{shift}/boost/"): row(login("/supervisor/shifts/{shift}/boost/"), **SHIFT_ACTION),
    ("page", "POST /supervisor/shifts/{shift}/cancel/"): row(
        login("/supervisor/shifts/{shift}/cancel/"), **SHIFT_ACTION
    ),
    # Pay: each supervisor their own brands' figures, platform staff every brand's.
    ("page", "GET /supervisor/payouts/"): row(login("/supervisor/payouts/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    # The staffing plan: each supervisor their own brands', platform staff every brand's.
    ("page", "GET /supervisor/staffing/?brand=acme"): row(
        login("/supervisor/staffing/%3Fbrand%3Dacme"), **{**SUPERVISOR_PAGE, "other_supervisor": "403", "staff": "200"}
    ),
    # Quality: the world of the quality endpoints below (T resolved by Acme's agent, its
    # review R, Acme's warning S with the appeal A).
    ("page", "GET /agent/quality/"): row(login("/agent/quality/"), **AGENT_PAGE),
    ("page", "POST /agent/quality/reviews/{review}/acknowledge/"): row(
        login("/agent/quality/reviews/{review}/acknowledge/"),
        **{**AGENT_PAGE, "agent": "302 /agent/quality/", "other_agent": "200"},
    ),
    ("page", "POST /agent/quality/sanctions/{sanction}/appeal/"): row(
        login("/agent/quality/sanctions/{sanction}/appeal/"),
        **{**AGENT_PAGE, "agent": "302 /agent/quality/", "other_agent": "200"},
    ),
    ("page", "GET /supervisor/analytics/"): row(login("/supervisor/analytics/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/analytics/?brand=acme&format=csv"): row(
        login("/supervisor/analytics/%3Fbrand%3Dacme%26format%3Dcsv"),
        **{**SUPERVISOR_PAGE, "staff": "200", "other_supervisor": "404"},
    ),
    ("page", "GET /supervisor/live/"): row(login("/supervisor/live/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/quality/"): row(login("/supervisor/quality/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/reviews/"): row(login("/supervisor/reviews/"), **{**SUPERVISOR_PAGE, "staff": "200"}),
    ("page", "GET /supervisor/reviews/{review}/"): row(
        login("/supervisor/reviews/{review}/"), **{**SUPERVISOR_PAGE, "staff": "200", "other_supervisor": "404"}
    ),
    ("page", "GET /supervisor/agents/{agent_id}/quality/"): row(
        login("/supervisor/agents/{agent_id}/quality/"),
        **{**SUPERVISOR_PAGE, "staff": "200", "other_supervisor": "404"},
    ),
    ("page", "GET /supervisor/appeals/{appeal}/"): row(
        login("/supervisor/appeals/{appeal}/"), **{**SUPERVISOR_PAGE, "staff": "200", "other_supervisor": "404"}
    ),
    # The agent's pay pages show only the caller's own money; the payout method asks for the
    # password again (none of these sessions entered it recently).
    ("page", "GET /agent/earnings/"): row(login("/agent/earnings/"), **AGENT_PAGE),
    ("page", "POST /agent/earnings/cash-out/"): row(login("/agent/earnings/cash-out/"), **AGENT_PAGE),
    ("page", "GET /agent/earnings/statement/2026-12.csv"): row(
        login("/agent/earnings/statement/2026-12.csv"), **AGENT_PAGE
    ),
    ("page", "GET /agent/payout-method/"): row(
        login("/agent/payout-method/"),
        **{
            **AGENT_PAGE,
            "agent": "302 /accounts/reauthenticate/?next=%2Fagent%2Fpayout-method%2F",
            "other_agent": "302 /accounts/reauthenticate/?next=%2Fagent%2Fpayout-method%2F",
        },
    ),
    # The agent's shifts: Acme's agent holds booking B on Acme's shift S (see book_a_shift).
    ("page", "GET /agent/shifts/"): row(login("/agent/shifts/"), **AGENT_PAGE),
    ("page", "POST /agent/shifts/{shift}/book/"): row(
        login("/agent/shifts/{shift}/book/"),
        **{**AGENT_PAGE, "agent": "302 /agent/shifts/", "other_agent": "302 /agent/shifts/"},
    ),
    ("page", "POST /agent/bookings/{booking}/cancel/"): row(
        login("/agent/bookings/{booking}/cancel/"),
        **{**AGENT_PAGE, "agent": "302 /agent/shifts/", "other_agent": "302 /agent/shifts/"},
    ),
    ("page", "GET /agent/sw.js"): row("200"),
    ("page", "GET /jsi18n/"): row("200"),
    ("page", "POST /i18n/setlang/"): row("302 /"),
    ("page", "GET /chat/{token}/"): row("404", customer="200", other_customer="200"),
    ("page", "GET /chat/{token}/attachments/{attachment}/"): row("404 attachment_not_found", customer="200"),
    ("page", "POST /chat/{token}/attachments/"): row("404 ticket_not_found", customer="201", other_customer="201"),
    ("page", "GET /admin/"): row("302 /admin/login/?next=/admin/", staff="200"),
    ("page", "GET /api/docs/"): row("200", customer="401", other_customer="401"),
    ("page", "GET /api/schema/"): row("200", customer="401", other_customer="401"),
    ("page", "GET /healthz"): row("200"),
    # --- REST ------------------------------------------------------------------------------------
    ("rest", "POST /api/v1/auth/token/"): row(
        "400 invalid_credentials",
        applicant="200",
        agent="200",
        other_agent="200",
        other_supervisor="401 mfa_code_required",
        supervisor="401 mfa_code_required",
        staff="401 mfa_code_required",
    ),
    ("rest", "POST /api/v1/tickets/"): row(UNAUTHENTICATED, brand="201", other_brand="201"),
    ("rest", "GET /api/v1/tickets/{ticket}/"): row(UNAUTHENTICATED, brand="200", other_brand="404 ticket_not_found"),
    ("rest", "POST /api/v1/tickets/{ticket}/cancel/"): row(
        UNAUTHENTICATED, brand="200", other_brand="404 ticket_not_found"
    ),
    ("rest", "POST /api/v1/me/push-subscriptions/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "201", "other_agent": "201"}
    ),
    ("rest", "DELETE /api/v1/me/push-subscriptions/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "204", "other_agent": "404 push_subscription_not_found"},
    ),
    # Money: each agent has only their own (no ids to aim at); Acme's agent has available
    # money and a bank account, the other agent neither.
    ("rest", "GET /api/v1/me/earnings/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    ("rest", "POST /api/v1/me/payouts/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "201", "other_agent": "409 no_payout_method"},
    ),
    ("rest", "GET /api/v1/me/payouts/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    ("rest", "GET /api/v1/me/payout-method/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "404 no_payout_method"},
    ),
    ("rest", "PUT /api/v1/me/payout-method/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    # Shifts: Acme has a shift S (English, not started) on which Acme's agent holds booking B.
    ("rest", "GET /api/v1/me/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    ("rest", "GET /api/v1/me/bookings/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    ("rest", "GET /api/v1/shifts/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, "200"), "applicant": "403 forbidden"}
    ),
    ("rest", "POST /api/v1/shifts/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, "403 forbidden"), "supervisor": "201", "staff": "201"}
    ),
    ("rest", "POST /api/v1/shifts/{shift}/cancel/"): row(
        UNAUTHENTICATED,
        **{
            **dict.fromkeys(PEOPLE, "403 forbidden"),
            "supervisor": "200",
            "staff": "200",
            "other_supervisor": "404 shift_not_found",
        },
    ),
    ("rest", "POST /api/v1/shifts/{shift}/bookings/"): row(
        UNAUTHENTICATED,
        **{
            **dict.fromkeys(PEOPLE, NOT_AN_AGENT),
            "agent": "409 already_booked",
            "other_agent": "403 shift_not_eligible",
        },
    ),
    ("rest", "POST /api/v1/bookings/{booking}/cancel/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "404 booking_not_found"},
    ),
    ("rest", "POST /api/v1/tickets/{ticket}/attachments/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, "403 forbidden"), "agent": "201", "other_agent": NO_TICKET}
    ),
    ("rest", "GET /api/v1/tickets/{ticket}/attachments/{attachment}/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, "404 attachment_not_found"), "agent": "200", "supervisor": "200"}
    ),
    # Staffing: the calculator for any supervisor and staff, a brand's plan for its supervisors
    # and staff.
    (
        "rest",
        "GET /api/v1/staffing/erlang-c/?arrivals_per_hour=200&aht_seconds=180&target_seconds=20&target_share=0.8",
    ): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, "403 forbidden"), "other_supervisor": "200", "supervisor": "200", "staff": "200"},
    ),
    ("rest", "GET /api/v1/staffing/?brand=acme&date=2026-03-02"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, "403 forbidden"), "supervisor": "200", "staff": "200"}
    ),
    # Quality: Acme's agent resolved T; its review R, Acme's warning S on that agent with
    # the appeal A, and the case F for a human are set up as each surface needs (see
    # prepare_quality). Another brand's supervisor meets 404s: those rows are not theirs.
    ("rest", "GET /api/v1/me/quality/"): row(
        UNAUTHENTICATED, **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "200"}
    ),
    ("rest", "POST /api/v1/me/reviews/{review}/acknowledge/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "404 review_not_found"},
    ),
    ("rest", "POST /api/v1/me/reviews/{review}/dispute/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "200", "other_agent": "404 review_not_found"},
    ),
    ("rest", "POST /api/v1/me/sanctions/{sanction}/appeal/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, NOT_AN_AGENT), "agent": "201", "other_agent": "404 sanction_not_found"},
    ),
    ("rest", "GET /api/v1/reviews/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, "403 forbidden"), "other_supervisor": "200", "supervisor": "200", "staff": "200"},
    ),
    ("rest", "POST /api/v1/reviews/{review}/score/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 review_not_found"}
    ),
    ("rest", "POST /api/v1/reviews/{review}/dispute-decision/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 review_not_found"}
    ),
    ("rest", "POST /api/v1/agents/{agent_id}/sanctions/"): row(
        UNAUTHENTICATED,
        **{**QUALITY_ACTION, "supervisor": "201", "staff": "201", "other_supervisor": "404 agent_not_found"},
    ),
    ("rest", "POST /api/v1/sanctions/{sanction}/lift/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 sanction_not_found"}
    ),
    ("rest", "GET /api/v1/appeals/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, "403 forbidden"), "other_supervisor": "200", "supervisor": "200", "staff": "200"},
    ),
    ("rest", "POST /api/v1/appeals/{appeal}/decide/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 appeal_not_found"}
    ),
    ("rest", "GET /api/v1/quality-flags/"): row(
        UNAUTHENTICATED,
        **{**dict.fromkeys(PEOPLE, "403 forbidden"), "other_supervisor": "200", "supervisor": "200", "staff": "200"},
    ),
    ("rest", "POST /api/v1/quality-flags/{flag}/dismiss/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 flag_not_found"}
    ),
    # The supervisor's actions on the live view: T waits in Acme's English queue and Acme's
    # agent is available (see prepare_http for the intake pause that resume needs).
    ("rest", "POST /api/v1/ops/tickets/{ticket}/reassign/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 ticket_not_found"}
    ),
    ("rest", "POST /api/v1/ops/agents/{agent_id}/note/"): row(
        UNAUTHENTICATED,
        **{**QUALITY_ACTION, "supervisor": "201", "staff": "201", "other_supervisor": "404 agent_not_found"},
    ),
    ("rest", "POST /api/v1/ops/agents/{agent_id}/away/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 agent_not_found"}
    ),
    ("rest", "POST /api/v1/ops/intake/pause/"): row(
        UNAUTHENTICATED,
        **{**QUALITY_ACTION, "supervisor": "201", "staff": "201", "other_supervisor": "404 brand_not_found"},
    ),
    ("rest", "POST /api/v1/ops/intake/resume/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 brand_not_found"}
    ),
    ("rest", "POST /api/v1/ops/surge/"): row(
        UNAUTHENTICATED, **{**QUALITY_ACTION, "other_supervisor": "404 brand_not_found"}
    ),
    # --- Supervisor socket -----------------------------------------------------------------------
    ("socket", "/ws/supervisor/ connect"): row(
        "refused 4401 unauthenticated",
        **{
            **dict.fromkeys(PEOPLE, "refused 4403 forbidden"),
            "supervisor": "open",
            "other_supervisor": "open",
            "staff": "open",
        },
    ),
    # --- Agent socket ----------------------------------------------------------------------------
    ("socket", "/ws/agent/ connect"): row(**agent_socket, agent="open", other_agent="open"),
    ("socket", "/ws/agent/ presence"): row(**agent_socket, agent="ack", other_agent="ack"),
    ("socket", "/ws/agent/ offer.accept"): row(**agent_socket, agent="ack", other_agent="error offer_not_found"),
    ("socket", "/ws/agent/ offer.decline"): row(**agent_socket, agent="ack", other_agent="error offer_not_found"),
    ("socket", "/ws/agent/ message"): row(**agent_socket, agent="ack", other_agent="error ticket_not_found"),
    ("socket", "/ws/agent/ ticket.resolve"): row(**agent_socket, agent="ack", other_agent="error ticket_not_found"),
    ("socket", "/ws/agent/ typing"): row(**agent_socket, agent="ack", other_agent="error ticket_not_found"),
    ("socket", "/ws/agent/ read"): row(**agent_socket, agent="ack", other_agent="error ticket_not_found"),
    # --- Customer socket -------------------------------------------------------------------------
    ("socket", "/ws/customer/{token}/ connect"): row(NO_CHAT, customer="open", other_customer="open"),
    ("socket", "/ws/customer/{token}/ message"): row(NO_CHAT, customer="ack", other_customer="ack"),
    ("socket", "/ws/customer/{token}/ rate"): row(NO_CHAT, customer="ack", other_customer="error ticket_not_resolved"),
    ("socket", "/ws/customer/{token}/ reopen"): row(
        NO_CHAT, customer="ack", other_customer="error ticket_not_resolved"
    ),
    ("socket", "/ws/customer/{token}/ confirm"): row(
        NO_CHAT, customer="ack", other_customer="error ticket_not_resolved"
    ),
    ("socket", "/ws/customer/{token}/ typing"): row(NO_CHAT, customer="ack", other_customer="ack"),
    ("socket", "/ws/customer/{token}/ read"): row(NO_CHAT, customer="ack", other_customer="error message_not_found"),
    ("socket", "/ws/customer/{token}/ notify_me"): row(NO_CHAT, customer="ack", other_customer="ack"),
}

# The state T is put in before each HTTP request (queued unless named): its files can only
# be reached while someone works the chat.
HTTP_STATE = {
    "GET /chat/{token}/attachments/{attachment}/": "assigned",
    "POST /chat/{token}/attachments/": "assigned",
    "POST /api/v1/tickets/{ticket}/attachments/": "assigned",
    "GET /api/v1/tickets/{ticket}/attachments/{attachment}/": "assigned",
}

# The state T is put in before each socket action, so that the rightful caller can do it.
T_STATE = {
    "connect": "assigned",
    "presence": "assigned",
    "offer.accept": "offered",
    "offer.decline": "offered",
    "message": "assigned",
    "ticket.resolve": "assigned",
    "rate": "resolved",
    "reopen": "resolved",
    "confirm": "resolved",
    "typing": "assigned",
    "read": "chatting",
    "notify_me": "queued",
}
# Who may change T with an action (when the table says ack), and the actions that change
# nothing even then (typing is relayed, never stored).
MAY_CHANGE_T = {"/ws/agent/": {"agent"}, "/ws/customer/{token}/": {"customer"}, "/ws/supervisor/": set()}
CHANGES_NOTHING = {"presence", "typing"}
UNKNOWN_CHAT_TOKEN = "no-such-chat-token"
PUSH_HOST = "fcm.googleapis.com"
# Frame types both sockets know, with a different shape on each.
SIDED_ACTIONS = {"message", "typing", "read"}


def cells(kind: str) -> list:
    return [
        pytest.param(surface, role, answers[role], id=f"{surface} | {role}")
        for (cell_kind, surface), answers in TABLE.items()
        if cell_kind == kind
        for role in ROLES
    ]


@pytest.fixture(autouse=True)
def _fast_and_private(settings, tmp_path):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.SUPERVISOR_MFA_REQUIRED = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Push is set up, so that a subscription is judged on who sends it, not refused for all.
    settings.WEB_PUSH_ENABLED = True
    settings.WEB_PUSH_HOSTS = [PUSH_HOST]


def person(email: str, role: str, *, totp: bool = False, **extra) -> User:
    user = UserFactory(email=email, role=role, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if totp:
        TOTP.activate(user, generate_totp_secret())
    return user


def build_world() -> dict:
    acme, acme_key = brand_with_key(slug="acme", name="Acme", rate=4500)
    globex, globex_key = brand_with_key(slug="globex", name="Globex", rate=3000)
    agent = AgentFactory(brands=[acme], available=True, user=person("agent@example.test", User.Role.AGENT))
    other_agent = AgentFactory(brands=[globex], user=person("other.agent@example.test", User.Role.AGENT))
    supervisor = person("sup@example.test", User.Role.SUPERVISOR, totp=True)
    acme.supervisors.add(supervisor)
    other_supervisor = person("other.sup@example.test", User.Role.SUPERVISOR, totp=True)
    globex.supervisors.add(other_supervisor)
    users = {
        "applicant": person("applicant@example.test", User.Role.APPLICANT),
        "agent": agent.user,
        "other_agent": other_agent.user,
        "other_supervisor": other_supervisor,
        "supervisor": supervisor,
        "staff": person("ops@example.test", User.Role.STAFF, totp=True, is_staff=True),
    }
    applied = Application.objects.create(
        user=person("sent@example.test", User.Role.APPLICANT),
        status=Application.Status.SUBMITTED,
        answers={
            "profile": {"display_name": "Sara", "country": "SE", "time_zone": "Europe/Stockholm"},
            "languages": {"languages": [{"code": "en", "proficiency": "fluent"}]},
            "skills": {"skills": []},
            "brands": {"brands": [{"brand_id": acme.pk, "why": "I use their app every day."}]},
            "availability": {"slots": ["mon-evening"]},
            "device": {"websocket_ok": True, "notifications": "granted", "user_agent": "test", "quiet_place": True},
        },
    )
    target = TicketFactory(brand=acme)
    other_ticket = TicketFactory(brand=globex)
    return {
        "agent": agent,
        "users": users,
        "application": applied,
        "ticket": target,
        "chat_tokens": {"customer": target.customer_token, "other_customer": other_ticket.customer_token},
        "keys": {"brand": acme_key, "other_brand": globex_key, "wrong_key": "mk_00000000_not-a-key"},
    }


def authorization(world: dict, role: str) -> str | None:
    if role in world["chat_tokens"]:
        return f"Token {world['chat_tokens'][role]}"
    if role in world["keys"]:
        return f"Bearer {world['keys'][role]}"
    return None


def fill(template: str, world: dict, role: str) -> str:
    return template.format(
        application=world["application"].pk,
        ticket=world["ticket"].pk,
        token=world["chat_tokens"].get(role, UNKNOWN_CHAT_TOKEN),
        attachment=world.get("attachment_id", 0),
        shift=world.get("shift_id", 0),
        booking=world.get("booking_id", 0),
        week=world.get("week", ""),
        review=world.get("review_id", 0),
        sanction=world.get("sanction_id", 0),
        appeal=world.get("appeal_id", 0),
        flag=world.get("flag_id", 0),
        agent_id=world["agent"].pk,
    )


# --- HTTP ------------------------------------------------------------------------------------------


def http_answer(response) -> str:
    if 300 <= response.status_code < 400:
        return f"{response.status_code} {response['Location']}"
    if response.get("Content-Type", "").startswith("application/json"):
        body = json.loads(response.content)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return f"{response.status_code} {body['error']['code']}"
    return str(response.status_code)


def token_request_body(world: dict, role: str) -> dict:
    user = world["users"].get(role)
    return {"email": user.email if user else "nobody@example.test", "password": PASSWORD}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def push_subscription() -> dict:
    """What a browser's PushSubscription.toJSON() gives: a new endpoint on an allowed host."""
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {
        "endpoint": f"https://{PUSH_HOST}/fcm/send/{b64url(os.urandom(12))}",
        "keys": {"p256dh": b64url(public), "auth": b64url(os.urandom(16))},
    }


def png_upload() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return SimpleUploadedFile("receipt.png", buffer.getvalue(), content_type="image/png")


def book_a_shift(world: dict) -> None:
    """Acme's English shift S, two days on, and Acme's agent's booking B on it."""
    acme = world["agent"].brands.first()
    start = timezone.now() + timedelta(days=2)
    shift = Shift.objects.create(
        brand=acme, starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], slots=3
    )
    booking = services.shift_book(agent=world["agent"], shift_id=shift.pk)
    world["shift_id"], world["booking_id"] = shift.pk, booking.pk


def fund_agent(agent) -> None:
    """Acme's agent: 200.00 SEK available from a resolved case, and a bank account."""
    ticket = TicketFactory(
        brand=agent.brands.first(), status=Ticket.Status.RESOLVED, resolved_at=timezone.now(), resolution_count=1
    )
    with override_settings(REOPEN_WINDOW_HOURS=0):
        earning_credit(ticket=ticket, agent=agent, amount_minor=20000)
    payout_method_set(agent_id=agent.pk, kind="iban", holder_name="Agent", iban="SE4050000000054910000010")


QUALITY_SURFACES = ("/quality/", "/reviews/", "/sanctions/", "/appeals/", "/quality-flags/")


def prepare_quality(surface: str, world: dict) -> None:
    """T resolved by Acme's agent and its review R, opened by the sampler. Scored reviews,
    the warning S and its appeal A come from a third Acme supervisor, so that Acme's
    supervisor and staff may decide disputes and appeals (the issuer may not)."""
    from agents.models import QualityFlag, Review
    from agents.quality import services as quality
    from tasks.models import Resolution

    agent = world["agent"]
    acme = agent.brands.get()
    put_target_in_state(world, "resolved")
    resolution = Resolution.objects.get(ticket=world["ticket"])
    review = Review.objects.create(
        resolution=resolution, ticket=world["ticket"], agent=agent, brand=acme, reason=Review.Reason.SAMPLE
    )
    world["review_id"] = review.pk
    third = person("sup3@example.test", User.Role.SUPERVISOR, totp=True)
    acme.supervisors.add(third)
    full = {"accuracy": 4, "empathy": 3, "policy": 4, "tone": 3}
    if "/me/reviews/" in surface or "/quality/reviews/" in surface or "dispute-decision" in surface:
        quality.review_score(user=third, review_id=review.pk, scores=full, feedback="Good work.")
    if "dispute-decision" in surface:
        quality.review_dispute(agent=agent, review_id=review.pk, comment="The policy allowed it.")
    if "/sanctions/{sanction}" in surface or "/appeals/" in surface:
        sanction = quality.sanction_issue(
            user=third,
            agent_id=agent.pk,
            kind="warning",
            reason="policy",
            note="Refund rule.",
            ticket_ids=[world["ticket"].pk],
        )
        world["sanction_id"] = sanction.pk
        if "/appeals/" in surface:
            world["appeal_id"] = quality.appeal_file(
                agent=agent, sanction_id=sanction.pk, statement="It was allowed."
            ).pk
    if "/quality-flags/" in surface:
        world["flag_id"] = QualityFlag.objects.create(agent=agent, kind=QualityFlag.Kind.LOW_REVIEWS).pk


def prepare_http(surface: str, world: dict) -> None:
    """T in the state the surface needs, and what the request refers to."""
    if any(part in surface for part in QUALITY_SURFACES):
        prepare_quality(surface, world)
        return
    put_target_in_state(world, HTTP_STATE.get(surface, "queued"))
    if "{attachment}" in surface:
        message = services.attachment_send_customer(ticket=world["ticket"], upload=png_upload())
        world["attachment_id"] = message.attachment_id
    if "{shift}" in surface or "{booking}" in surface or "/api/v1/me/bookings/" in surface:
        book_a_shift(world)
    if any(part in surface for part in ("/api/v1/me/pay", "/api/v1/me/earnings/", "/agent/earnings", "/agent/payout")):
        fund_agent(world["agent"])
    if "/supervisor/shifts/" in surface:
        # An Acme shift next Tuesday, 09:00 in Stockholm, with Acme's agent booked on it.
        zone = ZoneInfo("Europe/Stockholm")
        today = timezone.now().astimezone(zone).date()
        tuesday = today + timedelta(days=8 - today.weekday())
        start = datetime(tuesday.year, tuesday.month, tuesday.day, 9, tzinfo=zone)
        terms = services.ShiftTerms(
            starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], skills=[], slots=3
        )
        acme = world["agent"].brands.get()
        [shift] = services.shift_publish(user=world["users"]["supervisor"], brand=acme, terms=terms)
        services.shift_book(agent=world["agent"], shift_id=shift.pk)
        world["shift_id"], world["shift_date"] = shift.pk, tuesday
        world["week"] = (tuesday - timedelta(days=1)).isoformat()
    if surface == "POST /api/v1/ops/intake/resume/":
        from tasks.models import IntakePause

        acme = world["agent"].brands.get()
        IntakePause.objects.create(brand=acme, language="", reason="Storm", paused_by=world["users"]["supervisor"])
    if surface == "DELETE /api/v1/me/push-subscriptions/":
        # Acme's agent has subscribed a browser; everyone tries to remove that endpoint.
        body = push_subscription()
        agent_services.push_subscription_save(
            agent=world["agent"], endpoint=body["endpoint"], p256dh=body["keys"]["p256dh"], auth=body["keys"]["auth"]
        )
        world["push_endpoint"] = body["endpoint"]


def http_request(client: APIClient, surface: str, path: str, world: dict, role: str):
    method = surface.split(" ", 1)[0]
    match surface:
        case "POST /api/v1/auth/token/":
            return client.post(path, token_request_body(world, role), format="json")
        case "POST /api/v1/tickets/":
            return client.post(path, TICKET_BODY, format="json")
        case "POST /i18n/setlang/":
            return client.post(path, {"language": "sv", "next": "/"}, format="multipart")
        case "POST /api/v1/me/push-subscriptions/":
            return client.post(path, push_subscription(), format="json")
        case "DELETE /api/v1/me/push-subscriptions/":
            return client.delete(path, {"endpoint": world["push_endpoint"]}, format="json")
        case "POST /api/v1/shifts/":
            start = timezone.now() + timedelta(days=3)
            body = {
                "brand": "acme",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=4)).isoformat(),
                "languages": ["en"],
                "slots": 2,
            }
            return client.post(path, body, format="json")
        case "POST /api/v1/shifts/{shift}/cancel/":
            return client.post(path, {"reason": "Low volume"}, format="json")
        case "POST /api/v1/me/payouts/":
            return client.post(path, {"amount": "150.00"}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        case "PUT /api/v1/me/payout-method/":
            body = {"kind": "iban", "holder_name": "Agent", "iban": "SE6150000000054910000020", "password": PASSWORD}
            return client.put(path, body, format="json")
        case "POST /supervisor/shifts/":
            body = {
                "brand": "acme",
                "date": world["shift_date"].isoformat(),
                "start_time": "14:00",
                "end_time": "18:00",
                "time_zone": "Europe/Stockholm",
                "languages": ["en"],
                "slots": "2",
                "weeks": "1",
            }
            return client.post(path, body, format="multipart")
        case "POST /supervisor/shifts/{shift}/edit/":
            return client.post(path, {f"edit{world['shift_id']}-slots": "4"}, format="multipart")
        case "POST /supervisor/shifts/{shift}/boost/":
            return client.post(path, {f"boost{world['shift_id']}-amount": "10.00"}, format="multipart")
        case "POST /supervisor/shifts/{shift}/cancel/":
            return client.post(path, {f"cancel{world['shift_id']}-reason": "Storm warning"}, format="multipart")
        case "POST /agent/quality/sanctions/{sanction}/appeal/":
            return client.post(path, {"statement": "The refund was allowed."}, format="multipart")
        case "POST /api/v1/ops/tickets/{ticket}/reassign/":
            return client.post(path, {"agent_id": world["agent"].pk}, format="json")
        case "POST /api/v1/ops/agents/{agent_id}/note/":
            return client.post(path, {"text": "Please take the Swedish queue."}, format="json")
        case "POST /api/v1/ops/agents/{agent_id}/away/":
            return client.post(path, {"reason": "Break"}, format="json")
        case "POST /api/v1/ops/intake/pause/":
            return client.post(path, {"brand": "acme", "reason": "Storm"}, format="json")
        case "POST /api/v1/ops/intake/resume/":
            return client.post(path, {"brand": "acme"}, format="json")
        case "POST /api/v1/ops/surge/":
            return client.post(path, {"brand": "acme", "language": "en", "amount": "10.00"}, format="json")
        case "POST /api/v1/me/reviews/{review}/dispute/":
            return client.post(path, {"comment": "The customer asked for it."}, format="json")
        case "POST /api/v1/me/sanctions/{sanction}/appeal/":
            return client.post(path, {"statement": "The refund was allowed."}, format="json")
        case "POST /api/v1/reviews/{review}/score/":
            scores = {"accuracy": 4, "empathy": 4, "policy": 3, "tone": 4}
            return client.post(path, {"scores": scores, "feedback": "Clear answer."}, format="json")
        case "POST /api/v1/reviews/{review}/dispute-decision/":
            return client.post(path, {"decision": "upheld", "note": "It was not allowed."}, format="json")
        case "POST /api/v1/agents/{agent_id}/sanctions/":
            body = {"kind": "warning", "reason": "policy", "note": "Refund rule.", "tickets": [world["ticket"].pk]}
            return client.post(path, body, format="json")
        case "POST /api/v1/sanctions/{sanction}/lift/" | "POST /api/v1/quality-flags/{flag}/dismiss/":
            return client.post(path, {"note": "Talked it through."}, format="json")
        case "POST /api/v1/appeals/{appeal}/decide/":
            return client.post(path, {"decision": "overturned", "note": "It was allowed."}, format="json")
        case "POST /chat/{token}/attachments/" | "POST /api/v1/tickets/{ticket}/attachments/":
            return client.post(path, {"file": png_upload()}, format="multipart")
    return client.generic(method, path)


@pytest.mark.django_db
@pytest.mark.parametrize("surface, role, expected", cells("page") + cells("rest"))
def test_http_cell(surface, role, expected):
    world = build_world()
    prepare_http(surface, world)
    client = APIClient()
    if role in world["users"]:
        client.force_login(world["users"][role])
    if header := authorization(world, role):
        client.credentials(HTTP_AUTHORIZATION=header)

    response = http_request(client, surface, fill(surface.split(" ", 1)[1], world, role), world, role)

    assert http_answer(response) == fill(expected, world, role)


# --- Sockets ---------------------------------------------------------------------------------------


def put_target_in_state(world: dict, state: str) -> None:
    """queued, offered, assigned, chatting (assigned, and the customer has written) or resolved."""
    ticket, agent = world["ticket"], world["agent"]
    if state == "queued":
        return
    services.ticket_dispatch(ticket_id=ticket.pk)
    if state == "offered":
        return
    offer = Offer.objects.get(ticket=ticket, agent=agent, state=Offer.State.PENDING)
    services.offer_accept(agent=agent, offer_id=offer.pk)
    if state == "chatting":
        message = services.message_send_customer(ticket=ticket, text="My parcel never came.", client_ref="c1")
        world["message_id"] = message.pk
    if state == "resolved":
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)


def fingerprint(ticket_id: int) -> tuple:
    ticket = Ticket.objects.get(pk=ticket_id)
    return (
        ticket.status,
        ticket.agent_id,
        ticket.rating,
        ticket.resolution_count,
        ticket.notify_email,
        ticket.agent_read_up_to,
        ticket.customer_read_up_to,
        Message.objects.filter(ticket_id=ticket_id).count(),
        tuple(Offer.objects.filter(ticket_id=ticket_id).order_by("pk").values_list("pk", "state")),
    )


def socket_setup(role: str, action: str) -> dict:
    world = build_world()
    put_target_in_state(world, T_STATE[action])
    if role in world["users"]:
        world["header"] = f"Token {api_token_create(user=world['users'][role])[0]}"
    else:
        world["header"] = authorization(world, role)
    world["offer_id"] = Offer.objects.filter(ticket=world["ticket"]).values_list("pk", flat=True).last()
    world["before"] = fingerprint(world["ticket"].pk)
    return world


def frame_for(action: str, world: dict) -> dict:
    ticket_id, offer_id, message_id = world["ticket"].pk, world["offer_id"], world.get("message_id")
    return {
        "presence": {"type": "presence", "status": "available"},
        "offer.accept": {"type": "offer.accept", "offer_id": offer_id},
        "offer.decline": {"type": "offer.decline", "offer_id": offer_id},
        "agent message": {"type": "message", "ticket_id": ticket_id, "text": "Hello, I am here to help."},
        "ticket.resolve": {"type": "ticket.resolve", "ticket_id": ticket_id},
        "customer message": {"type": "message", "text": "Thank you"},
        "rate": {"type": "rate", "score": 5},
        "reopen": {"type": "reopen"},
        "confirm": {"type": "confirm"},
        "notify_me": {"type": "notify_me", "email": "maja@example.test"},
        "agent typing": {"type": "typing", "ticket_id": ticket_id},
        "agent read": {"type": "read", "ticket_id": ticket_id, "up_to": message_id},
        "customer typing": {"type": "typing"},
        "customer read": {"type": "read", "up_to": message_id},
    }[action]


async def socket_answer(path: str, action: str, world: dict) -> str:
    headers = [(b"authorization", world["header"].encode())] if world["header"] else []
    ws = WebsocketCommunicator(asgi_application, path, headers=headers)
    connected, _ = await ws.connect()
    assert connected
    try:
        first = await receive(ws)
        if first["type"] == "error":
            closed = await ws.receive_output(timeout=3)
            return f"refused {closed['code']} {first['code']}"
        if action == "connect":
            return "open"
        if action in SIDED_ACTIONS:
            action = f"agent {action}" if path == "/ws/agent/" else f"customer {action}"
        answer = await request(ws, frame_for(action, world), ref="cell")
        return "ack" if answer["type"] == "ack" else f"error {answer['code']}"
    finally:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("surface, role, expected", cells("socket"))
async def test_socket_cell(surface, role, expected):
    template, action = surface.split(" ")
    world = await database_sync_to_async(socket_setup)(role, action)

    answer = await socket_answer(fill(template, world, role), action, world)

    assert answer == expected
    changed = await database_sync_to_async(fingerprint)(world["ticket"].pk) != world["before"]
    assert changed == (expected == "ack" and action not in CHANGES_NOTHING and role in MAY_CHANGE_T[template])


# --- The published table -----------------------------------------------------------------------------


def shown(answer: str) -> str:
    """A cell as the docs print it: redirects to the login pages and back to a shift's week
    abbreviated (the test checks the full address, `next` included)."""
    answer = answer.replace("{", "<").replace("}", ">")
    if answer.startswith("302 /accounts/login/?next="):
        return "302 login"
    if answer == "302 /admin/login/?next=/admin/":
        return "302 admin login"
    if answer.startswith("302 /supervisor/shifts/?"):
        return "302 its week"
    return answer


def markdown_table() -> str:
    """TABLE as docs/security.md shows it: one line per surface, one column per role."""
    lines = [
        "| what | " + " | ".join(TITLES[role] for role in ROLES) + " |",
        "| --- | " + " | ".join("---" for _ in ROLES) + " |",
    ]
    for (_, surface), answers in TABLE.items():
        cells = " | ".join(shown(answers[role]) for role in ROLES)
        lines.append(f"| `{surface.replace('{', '<').replace('}', '>')}` | {cells} |")
    return "\n".join(lines) + "\n"


def test_docs_publish_the_tested_matrix():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    assert markdown_table() in docs, "docs/security.md: paste the output of markdown_table()\n" + markdown_table()
