"""The supervisors' hub: the home page with each brand's live-ish counts and the way to every
desk, the navigation bar on every supervisor page, the agents directory and one agent's page,
and the audit log with its CSV export. Who gets in (supervisors of the row's brand with
two-factor set up, platform staff everywhere), what each page shows and never shows (another
brand's rows), and where supervisors and staff land after logging in and after setting up
two-factor authentication."""

import csv
import io
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import services as agent_services
from agents.models import AgentProfile, AgentStatusChange, Application, QualityFlag, Review
from agents.quality import services as quality
from marketplace.models import AuditEvent, User
from tasks.models import Resolution, Shift, ShiftBooking, Ticket

from .factories import PASSWORD, AgentFactory, BrandFactory, TicketFactory, UserFactory
from .payouts_helpers import fund
from .test_applications import answers_for

pytestmark = pytest.mark.django_db

HOME = "/supervisor/"
AGENTS = "/supervisor/agents/"
AUDIT = "/supervisor/audit/"
EXPORT = "/supervisor/audit/export.csv"
TOTP_SETUP = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def _two_factor_required_and_a_private_cache(settings):
    """Two-factor on, as in production; allauth counts logins in the cache, a private one
    per test keeps the limits apart."""
    settings.SUPERVISOR_MFA_REQUIRED = True
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


@pytest.fixture
def sup(supervisor):
    """The conftest supervisor of Acme (staff status ticked by mistake, still a supervisor)."""
    return with_totp(supervisor)


@pytest.fixture
def stranger(other_brand):
    """A supervisor of Globex only."""
    user = with_totp(UserFactory(email="stranger@example.test", role=User.Role.SUPERVISOR))
    other_brand.supervisors.add(user)
    return user


@pytest.fixture
def staff(db):
    return with_totp(UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True))


def logged_in(client, user: User):
    client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def texts_of(page: str, name: str) -> list[str]:
    """The text of every element carrying data-testid=name (no nested tags)."""
    return [m.strip() for m in re.findall(rf'data-testid="{name}"[^>]*>([^<]*)<', page)]


def waiting_application(email: str, brand) -> Application:
    application = agent_services.application_for(user=UserFactory(email=email, role=User.Role.APPLICANT))
    Application.objects.filter(pk=application.pk).update(answers=answers_for(brand), country="SE")
    application.refresh_from_db()
    return agent_services.application_submit(application=application)


def worked(agent: AgentProfile, brand, *, subject: str, rating: int | None = None, at=None) -> Ticket:
    """A ticket of `brand` the agent took and resolved (rows only: the pages read them)."""
    at = at or timezone.now()
    ticket = TicketFactory(
        brand=brand,
        subject=subject,
        agent=agent,
        status=Ticket.Status.RESOLVED,
        assigned_at=at,
        resolved_at=at,
        resolution_count=1,
        rating=rating,
    )
    Resolution.objects.create(
        ticket=ticket, agent=agent, number=1, resolved_at=at, rating=rating, rated_at=at if rating else None
    )
    return ticket


def event(action: str, *, brand=None, actor=None, at=None, detail=None, ip="203.0.113.9") -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        brand=brand,
        target_type="agents.review",
        target_id="7",
        detail=detail or {},
        ip=ip,
        created_at=at or timezone.now(),
    )


# --- Who gets in -------------------------------------------------------------------------------------


@pytest.fixture
def paths(agent):
    return [HOME, AGENTS, f"/supervisor/agents/{agent.pk}/", AUDIT, EXPORT]


@pytest.mark.parametrize("role", [User.Role.AGENT, User.Role.APPLICANT])
def test_agents_and_applicants_are_refused_every_page(client, paths, role, agent):
    user = agent.user if role == User.Role.AGENT else UserFactory(email="app@example.test", role=role)
    logged_in(client, user)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Supervisors only" in html(response), path
        assert 'data-testid="supervisor-nav"' not in html(response), path
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_anonymous_visitors_are_sent_to_the_login(client, paths):
    for path in paths:
        assert client.get(path)["Location"] == f"/accounts/login/?next={path}", path


def test_a_supervisor_without_two_factor_is_held_at_its_setup(client, paths, brand):
    bare = UserFactory(email="bare@example.test", role=User.Role.SUPERVISOR)
    brand.supervisors.add(bare)
    logged_in(client, bare)
    for path in paths:
        assert client.get(path)["Location"] == TOTP_SETUP, path


def test_every_page_renders_for_a_supervisor_and_for_staff(client, paths, sup, staff):
    for user in (sup, staff):
        logged_in(client, user)
        for path in paths:
            assert client.get(path).status_code == 200, (user.email, path)


# --- Where people land ----------------------------------------------------------------------------


def verified(user: User) -> User:
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_supervisor_lands_on_the_supervisor_home_after_logging_in_with_their_code(client, supervisor):
    verified(supervisor)
    secret = generate_totp_secret()
    TOTP.activate(supervisor, secret)

    step = client.post("/accounts/login/", {"login": supervisor.email, "password": PASSWORD})
    assert step["Location"] == "/accounts/2fa/authenticate/"
    done = client.post(step["Location"], {"code": code_for(secret)})

    assert done.status_code == 302 and done["Location"] == HOME
    assert client.get("/after-login/")["Location"] == HOME
    assert client.get(HOME).status_code == 200


def set_up_two_factor(client, user: User) -> str:
    """Log in with the password, activate an authenticator app on the page the login leads
    to, and follow the recovery codes page's Continue: where it ends."""
    verified(user)
    login = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert client.get(login["Location"])["Location"] == TOTP_SETUP  # held at the setup
    client.get(TOTP_SETUP)
    activated = client.post(TOTP_SETUP, {"code": code_for(client.session[SECRET_SESSION_KEY])})
    assert activated["Location"] == "/accounts/2fa/recovery-codes/"
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    codes = html(client.get(activated["Location"]))
    link = re.search(r'<a href="([^"]+)"[^>]*data-testid="recovery-continue"', codes)
    assert link is not None
    return client.get(link.group(1))["Location"]


def test_a_supervisor_lands_on_the_supervisor_home_after_setting_up_two_factor(client, supervisor):
    assert set_up_two_factor(client, supervisor) == HOME
    assert client.get(HOME).status_code == 200


def test_staff_land_on_the_supervisor_home_after_setting_up_two_factor(client):
    ops = UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True)

    assert set_up_two_factor(client, ops) == HOME
    assert client.get(HOME).status_code == 200
    # Logging in later still takes staff to the admin, as before.
    assert client.get("/after-login/")["Location"] == "/admin/"


def test_the_end_of_two_factor_setup_is_the_usual_home_for_everyone_else(client, agent):
    logged_in(client, agent.user)
    assert client.get("/after-two-factor-setup/")["Location"] == "/agent/"
    client.logout()
    assert client.get("/after-two-factor-setup/")["Location"] == "/accounts/login/"


# --- The home page ------------------------------------------------------------------------------


def test_the_home_counts_what_is_happening_in_each_of_the_supervisors_brands(
    client, sup, brand, other_brand, agent, outsider_agent
):
    now = timezone.now()
    oldest = TicketFactory(brand=brand)
    Ticket.objects.filter(pk=oldest.pk).update(queued_at=now - timedelta(minutes=42))
    TicketFactory(brand=brand)
    TicketFactory(brand=brand, status=Ticket.Status.OFFERED)
    TicketFactory(brand=brand, status=Ticket.Status.ASSIGNED)  # taken: not waiting
    TicketFactory(brand=other_brand)
    AgentFactory(brands=[brand], available=True)
    AgentFactory(brands=[brand], available=True, suspended=True)  # suspended: not online
    AgentFactory(brands=[other_brand], available=True)
    sampled = worked(agent, brand, subject="Sampled")
    Review.objects.create(
        resolution=sampled.resolutions.get(), ticket=sampled, agent=agent, brand=brand, reason=Review.Reason.SAMPLE
    )
    waiting_application("a@example.test", brand)
    waiting_application("b@example.test", other_brand)

    page = logged_in(client, sup).get(HOME)

    rows = page.context["brands"]
    assert [row["brand"] for row in rows] == [brand]
    row = rows[0]
    assert (row["tickets_waiting"], row["agents_online"], row["open_reviews"], row["waiting"]) == (3, 1, 1, 1)
    assert row["oldest_queued_at"] == Ticket.objects.get(pk=oldest.pk).queued_at
    text = html(page)
    assert texts_of(text, "brand-tickets-waiting") == ["3"]
    assert texts_of(text, "brand-oldest-wait") == ["42\xa0minutes"]
    assert texts_of(text, "brand-agents-online") == ["1"]
    assert other_brand.name not in text


def test_a_brand_with_nothing_waiting_shows_zeros_and_no_oldest_wait(client, sup):
    text = html(logged_in(client, sup).get(HOME))
    assert texts_of(text, "brand-tickets-waiting") == ["0"]
    assert texts_of(text, "brand-oldest-wait") == ["—"]


def test_staff_see_every_brand_on_the_home_without_the_vetting_desk_they_cannot_open(client, staff, brand, other_brand):
    page = logged_in(client, staff).get(HOME)

    assert page.status_code == 200
    assert {row["brand"] for row in page.context["brands"]} == {brand, other_brand}
    text = html(page)
    assert 'data-testid="open-vetting-queue"' not in text and 'data-testid="nav-vetting"' not in text
    assert client.get("/supervisor/applications/").status_code == 403


def test_the_home_costs_at_most_two_queries_per_brand(client, staff, brand):
    logged_in(client, staff)
    client.get(HOME)  # the session and the authenticator, read once per request anyway
    with CaptureQueriesContext(connection) as one:
        client.get(HOME)
    for n in range(3):
        BrandFactory(slug=f"extra{n}")
        TicketFactory(brand=brand)
    with CaptureQueriesContext(connection) as four:
        client.get(HOME)
    assert len(four) - len(one) <= 2 * 3


def test_the_home_links_every_desk(client, sup):
    text = html(logged_in(client, sup).get(HOME))
    for href, testid in [
        ("/supervisor/live/", "open-live"),
        ("/supervisor/applications/", "open-vetting-queue"),
        ("/supervisor/shifts/", "open-shifts"),
        ("/supervisor/staffing/", "open-staffing"),
        ("/supervisor/quality/", "open-quality"),
        ("/supervisor/payouts/", "open-payouts"),
        ("/supervisor/analytics/", "open-analytics"),
        ("/supervisor/agents/", "open-agents"),
        ("/supervisor/audit/", "open-audit"),
    ]:
        assert re.search(rf'<a href="{href}"[^>]*data-testid="{testid}"', text), testid


# --- The navigation bar --------------------------------------------------------------------------

NAV = {
    "home": "/supervisor/",
    "live": "/supervisor/live/",
    "vetting": "/supervisor/applications/",
    "shifts": "/supervisor/shifts/",
    "staffing": "/supervisor/staffing/",
    "quality": "/supervisor/quality/",
    "payouts": "/supervisor/payouts/",
    "analytics": "/supervisor/analytics/",
    "agents": "/supervisor/agents/",
    "audit": "/supervisor/audit/",
}


def nav_links(page: str) -> dict[str, str]:
    bar = re.search(r'<nav class="container sup-nav".*?</nav>', page, re.S)
    assert bar is not None, "no navigation bar"
    return dict((key, href) for href, key in re.findall(r'<a href="([^"]+)" data-testid="nav-([a-z]+)"', bar.group(0)))


def current(page: str) -> list[str]:
    return re.findall(r'data-testid="nav-([a-z]+)" aria-current="page"', page)


@pytest.mark.parametrize(
    "path, section",
    [
        ("/supervisor/", "home"),
        ("/supervisor/applications/", "vetting"),
        ("/supervisor/shifts/", "shifts"),
        ("/supervisor/staffing/", "staffing"),
        ("/supervisor/quality/", "quality"),
        ("/supervisor/reviews/", "quality"),
        ("/supervisor/payouts/", "payouts"),
        ("/supervisor/agents/", "agents"),
        ("/supervisor/audit/", "audit"),
    ],
)
def test_every_supervisor_page_has_the_navigation_bar_with_its_section_marked(client, sup, path, section):
    page = logged_in(client, sup).get(path)
    assert page.status_code == 200
    text = html(page)
    assert nav_links(text) == NAV
    assert current(text) == [section]


def test_the_bar_is_on_the_pages_of_one_row_too(client, sup, agent):
    logged_in(client, sup)
    ticket = worked(agent, sup.supervised_brands.get(), subject="Card declined")
    for path, section in [
        (f"/supervisor/agents/{agent.pk}/", "agents"),
        (f"/supervisor/agents/{agent.pk}/quality/", "agents"),
        (f"/supervisor/tickets/{ticket.pk}/", None),
    ]:
        text = html(client.get(path))
        assert nav_links(text) == NAV, path
        assert current(text) == ([section] if section else []), path


# --- The agents directory -------------------------------------------------------------------------


def listed(page) -> list[str]:
    return [agent.display_name for agent in page.context["page"].object_list]


@pytest.fixture
def crew(brand, other_brand, agent, agent2, outsider_agent):
    """Ada and Bo of Acme, Olle of Globex, and Dana of both."""
    both = AgentFactory(
        brands=[brand, other_brand], display_name="Dana", user__email="dana@example.test", tier="expert"
    )
    return {"ada": agent, "bo": agent2, "olle": outsider_agent, "dana": both}


def test_the_directory_lists_the_agents_of_the_supervisors_brands_only(client, sup, crew, other_brand):
    page = logged_in(client, sup).get(AGENTS)

    assert listed(page) == ["Ada", "Bo", "Dana"]
    text = html(page)
    assert "Olle" not in text and "olle@example.test" not in text
    assert other_brand.name not in text  # Dana's other brand is not named either
    assert f'href="/supervisor/agents/{crew["ada"].pk}/"' in text
    for column in ("Name", "Tier", "Status", "Quality score", "Brands"):
        assert f">{column}</th>" in text


def test_staff_find_every_agent(client, staff, crew):
    assert listed(logged_in(client, staff).get(AGENTS)) == ["Ada", "Bo", "Dana", "Olle"]


def test_the_directory_shows_load_and_capacity(client, sup, crew):
    AgentProfile.objects.filter(pk=crew["ada"].pk).update(status="available", load=1, capacity=3)
    text = html(logged_in(client, sup).get(AGENTS + "?q=ada"))
    assert texts_of(text, "agent-load") == ["1/3 chats"]


@pytest.mark.parametrize(
    "query, names",
    [
        ("q=bo", ["Bo"]),
        ("q=DANA%40example", ["Dana"]),  # by e-mail, any case
        ("brand=globex", []),  # Dana works for Globex too, but Globex is not the supervisor's brand
        ("brand=acme", ["Ada", "Bo", "Dana"]),
        ("tier=expert", ["Dana"]),
        ("status=available", ["Bo"]),
        ("status=away", []),
        ("suspended=yes", ["Ada"]),
        ("suspended=no", ["Bo", "Dana"]),
        ("tier=nonsense&status=nonsense", ["Ada", "Bo", "Dana"]),  # unknown choices are ignored
    ],
)
def test_the_directory_filters(client, sup, crew, query, names):
    AgentProfile.objects.filter(pk=crew["ada"].pk).update(suspended=True)
    AgentProfile.objects.filter(pk=crew["bo"].pk).update(status="available")
    assert listed(logged_in(client, sup).get(f"{AGENTS}?{query}")) == names


def test_staff_filter_by_any_brand(client, staff, crew):
    assert listed(logged_in(client, staff).get(f"{AGENTS}?brand=globex")) == ["Dana", "Olle"]


def test_an_empty_result_says_why(client, sup, crew):
    text = html(logged_in(client, sup).get(f"{AGENTS}?q=nobody"))
    assert 'data-testid="no-agents"' in text and "No agent matches" in text


def test_the_directory_pages_by_fifty_in_a_fixed_number_of_queries(client, sup, brand):
    for n in range(51):
        AgentFactory(brands=[brand], display_name=f"Agent {n:03d}", languages=[])
    logged_in(client, sup)
    client.get(AGENTS)
    with CaptureQueriesContext(connection) as first:
        page = client.get(AGENTS)
    assert len(page.context["page"].object_list) == 50
    second = client.get(f"{AGENTS}?page=2")
    assert listed(second) == ["Agent 050"]
    assert 'rel="next"' in html(page)

    with CaptureQueriesContext(connection) as few:
        client.get(f"{AGENTS}?q=Agent+00")
    assert len(few) == len(first)


# --- One agent ---------------------------------------------------------------------------------------


def history(agent: AgentProfile, brand, other_brand, sup: User, *, size: int) -> None:
    """`size` of everything the page reads: tickets (and one of another brand), status
    changes, bookings, pay, reviews, open cases and sanctions."""
    now = timezone.now()
    tickets = [worked(agent, brand, subject=f"Case {n}", rating=(n % 5) + 1) for n in range(size)]
    worked(agent, other_brand, subject="Globex secret case")
    for n in range(size):
        AgentStatusChange.objects.create(
            agent=agent, status=["available", "away", "offline"][n % 3], at=now - timedelta(minutes=n)
        )
        start = now + timedelta(days=n + 1)
        shift = Shift.objects.create(brand=brand, starts_at=start, ends_at=start + timedelta(hours=4), slots=3)
        ShiftBooking.objects.create(shift=shift, agent=agent, starts_at=shift.starts_at, ends_at=shift.ends_at)
        fund(agent, brand, 5000)
        Review.objects.create(
            resolution=tickets[n].resolutions.get(),
            ticket=tickets[n],
            agent=agent,
            brand=brand,
            reason=Review.Reason.SAMPLE,
        )
    past = now - timedelta(days=3)
    missed = Shift.objects.create(brand=brand, starts_at=past, ends_at=past + timedelta(hours=4), slots=3)
    ShiftBooking.objects.create(
        shift=missed, agent=agent, starts_at=missed.starts_at, ends_at=missed.ends_at, status="no_show"
    )
    QualityFlag.objects.create(agent=agent, kind=QualityFlag.Kind.LOW_REVIEWS, detail={"brand": "acme"})
    for n in range(max(1, size // 5)):
        quality.sanction_issue(
            user=sup, agent_id=agent.pk, kind="warning", reason="conduct", note=f"Note {n}", ticket_ids=[tickets[n].pk]
        )


def test_the_agent_page_shows_history_quality_pay_shifts_and_flags(client, sup, agent, brand, other_brand):
    history(agent, brand, other_brand, sup, size=3)
    AgentProfile.objects.filter(pk=agent.pk).update(consecutive_timeouts=2)

    page = logged_in(client, sup).get(f"/supervisor/agents/{agent.pk}/")

    assert page.status_code == 200
    text = html(page)
    assert texts_of(text, "agent-name") == ["Ada"]
    assert len(page.context["tickets"]) == 3
    assert "Case 2" in text and "Globex secret case" not in text
    assert len(page.context["status_changes"]) == 3
    assert texts_of(text, "agent-open-cases") == ["1"]
    assert texts_of(text, "agent-sanctions-in-force") == ["1"]
    assert page.context["next_tier"]["name"] == "expert"
    assert f'href="/supervisor/agents/{agent.pk}/quality/"' in text
    assert texts_of(text, "pay-pending") == ["0.00 SEK"] and texts_of(text, "pay-available") == ["150.00 SEK"]
    assert 'data-testid="pay-note"' in text
    assert len(page.context["bookings"]) == 3
    assert page.context["reliability"].score < 100  # the no-show counts
    flags = texts_of(text, "agent-flag")
    assert "1 warning in force." in flags
    assert "Let the last 2 offers run out without answering." in flags
    assert "No push notifications: offers reach them only while the app is open." in flags


def test_a_new_agent_page_says_what_will_appear(client, sup, agent):
    text = html(logged_in(client, sup).get(f"/supervisor/agents/{agent.pk}/"))
    for empty in ("no-tickets", "no-status-changes", "no-pay", "no-bookings"):
        assert f'data-testid="{empty}"' in text, empty


def test_another_brands_agent_is_not_found(client, sup, stranger, agent, outsider_agent):
    assert logged_in(client, sup).get(f"/supervisor/agents/{outsider_agent.pk}/").status_code == 404
    assert logged_in(client, stranger).get(f"/supervisor/agents/{agent.pk}/").status_code == 404
    assert client.get("/supervisor/agents/999999/").status_code == 404


def test_staff_open_any_agent(client, staff, outsider_agent):
    assert logged_in(client, staff).get(f"/supervisor/agents/{outsider_agent.pk}/").status_code == 200


def test_the_agent_page_costs_the_same_queries_for_a_short_and_a_long_history(
    client, sup, agent, agent2, brand, other_brand, django_assert_max_num_queries
):
    history(agent, brand, other_brand, sup, size=1)
    history(agent2, brand, other_brand, sup, size=12)
    logged_in(client, sup)
    client.get(f"/supervisor/agents/{agent.pk}/")

    with CaptureQueriesContext(connection) as short:
        client.get(f"/supervisor/agents/{agent.pk}/")
    with django_assert_max_num_queries(len(short)):
        long = client.get(f"/supervisor/agents/{agent2.pk}/")
    assert len(long.context["tickets"]) == 12 and len(long.context["sanctions_in_force"]) == 2


# --- The audit log ----------------------------------------------------------------------------------


@pytest.fixture
def log(brand, other_brand, sup, stranger, staff):
    now = timezone.now()
    return {
        "scored": event(
            "review.scored",
            brand=brand,
            actor=sup,
            at=now - timedelta(hours=1),
            detail={"percent": "75.00", "tickets": [3, 4], "note": "=cmd()"},
        ),
        "approve": event("payouts.batch_approve", brand=brand, actor=staff, at=now - timedelta(days=2)),
        "theirs": event("review.scored", brand=other_brand, actor=stranger, at=now - timedelta(minutes=5)),
        "platform": event("payouts.bank_file_create", actor=staff, at=now - timedelta(minutes=1)),
        "system": event("payouts.batch_propose", brand=brand, at=now - timedelta(days=9), ip=None),
    }


def shown(page) -> list[int]:
    return [row["event"].pk for row in page.context["rows"]]


def test_a_supervisor_reads_their_brands_rows_newest_first(client, sup, log):
    page = logged_in(client, sup).get(AUDIT)

    assert shown(page) == [log["scored"].pk, log["approve"].pk, log["system"].pk]
    text = html(page)
    assert "stranger@example.test" not in text and "bank_file_create" not in text
    row = re.search(rf'data-event="{log["scored"].pk}".*?</tr>', text, re.S).group(0)
    assert "sup@example.test" in row and "review.scored" in row and "agents.review #7" in row
    assert "203.0.113.9" in row
    assert re.search(r"percent:</span> 75.00", row) and re.search(r"tickets:</span> 3, 4", row)
    assert "the system" in text


def test_staff_read_every_row_including_those_without_a_brand(client, staff, log):
    assert shown(logged_in(client, staff).get(AUDIT)) == [
        log["platform"].pk,
        log["theirs"].pk,
        log["scored"].pk,
        log["approve"].pk,
        log["system"].pk,
    ]


@pytest.mark.parametrize(
    "query, keys",
    [
        ("action=review.", ["scored"]),
        ("action=payouts.", ["approve", "system"]),
        ("actor=OPS%40", ["approve"]),
        ("brand=acme", ["scored", "approve", "system"]),
        ("brand=globex", []),  # not theirs
    ],
)
def test_the_log_filters(client, sup, log, query, keys):
    assert shown(logged_in(client, sup).get(f"{AUDIT}?{query}")) == [log[k].pk for k in keys]


def test_the_date_filter_takes_whole_days_in_the_chosen_time_zone(client, sup, brand):
    # 23:30 on 1 March in UTC is already 2 March in Stockholm.
    late = event("review.scored", brand=brand, at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    early = event("review.scored", brand=brand, at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    logged_in(client, sup)

    stockholm = client.get(f"{AUDIT}?from=2026-03-02&to=2026-03-02&tz=Europe/Stockholm")
    assert shown(stockholm) == [late.pk]
    assert "00:30:00" in html(stockholm)  # shown in the zone too
    assert shown(client.get(f"{AUDIT}?from=2026-03-01&to=2026-03-01&tz=UTC")) == [late.pk, early.pk]
    assert shown(client.get(f"{AUDIT}?to=2026-02-28&tz=UTC")) == []


def test_a_date_that_cannot_be_read_is_explained_and_the_input_kept(client, sup, log):
    page = logged_in(client, sup).get(f"{AUDIT}?from=yesterday&actor=sup")

    assert page.status_code == 400
    text = html(page)
    assert "give a date as YYYY-MM-DD" in text and 'role="alert"' in text
    assert 'value="yesterday"' in text and 'value="sup"' in text
    assert client.get(f"{AUDIT}?from=2026-03-05&to=2026-03-01").status_code == 400


def test_the_log_pages_by_fifty_in_a_fixed_number_of_queries(client, sup, brand):
    for n in range(5):
        event(f"review.n{n}", brand=brand, actor=sup)
    logged_in(client, sup)
    client.get(AUDIT)
    with CaptureQueriesContext(connection) as few:
        client.get(AUDIT)
    for n in range(60):
        event(f"review.m{n}", brand=brand, actor=UserFactory(email=f"s{n}@example.test", role="supervisor"))
    with CaptureQueriesContext(connection) as many:
        page = client.get(AUDIT)
    assert len(page.context["rows"]) == 50 and 'rel="next"' in html(page)
    assert len(many) == len(few)


def rows_of(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_export_holds_the_filtered_rows_in_scope_and_is_itself_logged(client, sup, log, brand):
    logged_in(client, sup)

    response = client.get(f"{EXPORT}?action=review.&brand=acme&tz=Europe/Stockholm", REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = rows_of(response)
    assert [(r["action"], r["actor"], r["brand"]) for r in rows] == [("review.scored", "sup@example.test", "acme")]
    when = datetime.fromisoformat(rows[0]["when"])
    assert when == log["scored"].created_at.replace(microsecond=0)
    assert when.utcoffset() == log["scored"].created_at.astimezone(ZoneInfo("Europe/Stockholm")).utcoffset()
    assert rows[0]["detail"] == "note: =cmd(); percent: 75.00; tickets: 3, 4"
    assert rows[0]["target"] == "agents.review #7" and rows[0]["address"] == "203.0.113.9"

    exported = AuditEvent.objects.get(action="audit.exported")
    assert (exported.actor, exported.brand, exported.ip) == (sup, brand, "198.51.100.4")
    assert exported.detail == {"brand": "acme", "action": "review.", "time_zone": "Europe/Stockholm", "rows": 1}


def test_an_export_across_brands_has_only_the_supervisors_rows(client, sup, log):
    rows = rows_of(logged_in(client, sup).get(EXPORT))

    assert {r["brand"] for r in rows} == {"acme"}
    assert len(rows) == 3
    assert AuditEvent.objects.get(action="audit.exported").detail == {"time_zone": "Europe/Stockholm", "rows": 3}
    # The export now shows in the log for staff (an export across brands belongs to none).
    assert AuditEvent.objects.get(action="audit.exported").brand is None


def test_a_cell_that_would_run_as_a_formula_is_defused(client, sup, brand):
    event("=HYPERLINK(1)", brand=brand, actor=sup, detail={})
    rows = rows_of(logged_in(client, sup).get(EXPORT))
    assert rows[0]["action"] == "'=HYPERLINK(1)"


def test_an_export_with_a_bad_filter_is_refused_and_not_logged(client, sup, log):
    response = logged_in(client, sup).get(f"{EXPORT}?from=01/03/2026")
    assert response.status_code == 400
    assert "give a date as YYYY-MM-DD" in html(response)
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_staff_export_every_row(client, staff, log):
    rows = rows_of(logged_in(client, staff).get(EXPORT))
    assert len(rows) == 5 and {r["brand"] for r in rows} == {"acme", "globex", ""}


def test_an_empty_log_says_what_will_appear(client, sup):
    text = html(logged_in(client, sup).get(AUDIT))
    assert 'data-testid="no-events"' in text and 'data-testid="export-csv"' not in text
