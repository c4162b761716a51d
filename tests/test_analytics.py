"""Supervisor analytics (/supervisor/analytics/): every figure on a small data set whose
numbers are worked out by hand below, through the rollups and through one agent's source
rows; the rollup job against a computation from scratch; who may see what; the CSV exports
and their audit rows; and the tickets behind a point.

The data set, all on Monday 2 March 2026 (UTC), brand Acme (SEK), agents Ada (standard)
and Bo (expert), plus one ticket of another brand:

  T1 en 10:00:00  offer to Bo 10:00:10 declined, to Ada 10:00:20 accepted, assigned 10:00:30,
                  Ada replies 10:01:00, resolved 10:10:30, rated 5, closed; pay 4500
  T2 sv 10:20:00  offer to Bo 10:20:20 timed out, again 10:21:00 accepted, assigned 10:21:40,
                  Bo replies 10:23:40, resolved 10:41:40, rated 2, closed; pay 5000
  T3 en 10:40:00  offer to Ada 10:40:30 accepted, assigned 10:40:40, Ada replies 10:42:40,
                  resolved 10:50:40, reopened 11:05:00 (pay 4500 reversed), back in the queue
  T4 en 10:55:00  cancelled 10:58:00, never offered
  T5 en 11:10:00  offer to Ada 11:10:05 accepted, assigned 11:10:15, Ada replies 11:11:15,
                  resolved 11:31:15, rated 4, closed; pay 4500
  Ada available 09:30, away 11:00, available 11:05, offline 12:00; Bo available 10:00-11:00.
"""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from agents.models import AgentProfile, AgentStatusChange
from marketplace.models import AuditEvent
from payouts.models import Earning
from tasks import analytics, analytics_rollups, histogram
from tasks.models import (
    AgentEarningHourlyRollup,
    AgentHourlyRollup,
    AgentTicketHourlyRollup,
    AgentTimeHourlyRollup,
    AnalyticsRollupState,
    EarningHourlyRollup,
    Message,
    Offer,
    Resolution,
    Ticket,
    TicketHourlyRollup,
)

from .factories import BrandFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/supervisor/analytics/"
TICKETS = "/supervisor/analytics/tickets/"
DAY = date(2026, 3, 2)


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the TOTP gate has its own tests


def make_ticket(brand, created, *, language="en", status="queued", agent=None, **fields):
    ticket = TicketFactory(brand=brand, language=language)
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=created, queued_at=fields.pop("queued_at", created), status=status, agent=agent, **fields
    )
    Message.objects.filter(ticket=ticket).delete()
    return Ticket.objects.get(pk=ticket.pk)


def offer(ticket, agent, made, state, answered):
    made_offer = Offer.objects.create(
        ticket=ticket,
        agent=agent,
        state=state,
        pay_amount_minor=4500,
        currency="SEK",
        expires_at=made + timedelta(seconds=20),
        responded_at=answered,
    )
    Offer.objects.filter(pk=made_offer.pk).update(created_at=made)


def message(ticket, sender, sent, author=None):
    sent_message = Message.objects.create(ticket=ticket, sender=sender, author=author, text="hi")
    Message.objects.filter(pk=sent_message.pk).update(sent_at=sent)


def earning(ticket, agent, kind, amount, written, round_=1, reverses=None):
    made = Earning.objects.create(
        agent=agent,
        brand=ticket.brand,
        ticket=ticket,
        kind=kind,
        amount_minor=amount,
        currency="SEK",
        round=round_,
        reverses=reverses,
        available_at=written,
    )
    Earning.objects.filter(pk=made.pk).update(created_at=written)
    return made


def status(agent, state, moment):
    AgentStatusChange.objects.create(agent=agent, status=state, at=moment)


@pytest.fixture
def ada(agent):
    return agent  # tier standard (the factory's)


@pytest.fixture
def bo(agent2):
    AgentProfile.objects.filter(pk=agent2.pk).update(tier=AgentProfile.Tier.EXPERT)
    agent2.refresh_from_db()
    agent2.languages.create(code="sv")
    return agent2


@pytest.fixture
def day(brand, other_brand, ada, bo, outsider_agent):
    """The data set of the module docstring; returns the tickets by name."""
    t1 = make_ticket(
        brand, at(10), status="closed", agent=ada, assigned_at=at(10, 0, 30), resolved_at=at(10, 10, 30), rating=5
    )
    offer(t1, bo, at(10, 0, 10), "declined", at(10, 0, 15))
    offer(t1, ada, at(10, 0, 20), "accepted", at(10, 0, 30))
    message(t1, "customer", at(10, 0, 5))
    message(t1, "agent", at(10, 1), ada.user)
    Resolution.objects.create(ticket=t1, agent=ada, number=1, resolved_at=at(10, 10, 30), outcome="confirmed", rating=5)
    earning(t1, ada, "case", 4500, at(10, 10, 30))

    t2 = make_ticket(
        brand,
        at(10, 20),
        language="sv",
        status="closed",
        agent=bo,
        assigned_at=at(10, 21, 40),
        resolved_at=at(10, 41, 40),
        rating=2,
    )
    offer(t2, bo, at(10, 20, 20), "expired", at(10, 20, 40))
    offer(t2, bo, at(10, 21), "accepted", at(10, 21, 40))
    message(t2, "agent", at(10, 23, 40), bo.user)
    Resolution.objects.create(ticket=t2, agent=bo, number=1, resolved_at=at(10, 41, 40), outcome="confirmed", rating=2)
    earning(t2, bo, "case", 5000, at(10, 41, 40))

    t3 = make_ticket(
        brand,
        at(10, 40),
        status="queued",
        previous_agent=ada,
        assigned_at=at(10, 40, 40),
        resolved_at=at(10, 50, 40),
        queued_at=at(11, 5),
        resolution_count=1,
    )
    offer(t3, ada, at(10, 40, 30), "accepted", at(10, 40, 40))
    message(t3, "agent", at(10, 42, 40), ada.user)
    Resolution.objects.create(
        ticket=t3, agent=ada, number=1, resolved_at=at(10, 50, 40), outcome="reopened", outcome_at=at(11, 5)
    )
    case = earning(t3, ada, "case", 4500, at(10, 50, 40))
    earning(t3, ada, "reversal", -4500, at(11, 5), reverses=case)

    t4 = make_ticket(brand, at(10, 55), status="cancelled", closed_at=at(10, 58))

    t5 = make_ticket(
        brand, at(11, 10), status="closed", agent=ada, assigned_at=at(11, 10, 15), resolved_at=at(11, 31, 15), rating=4
    )
    offer(t5, ada, at(11, 10, 5), "accepted", at(11, 10, 15))
    message(t5, "agent", at(11, 11, 15), ada.user)
    Resolution.objects.create(ticket=t5, agent=ada, number=1, resolved_at=at(11, 31, 15), outcome="confirmed", rating=4)
    earning(t5, ada, "case", 4500, at(11, 31, 15))

    t6 = make_ticket(
        other_brand,
        at(10, 30),
        status="closed",
        agent=outsider_agent,
        assigned_at=at(10, 31),
        resolved_at=at(10, 45),
        rating=1,
    )
    Resolution.objects.create(ticket=t6, agent=outsider_agent, number=1, resolved_at=at(10, 45), rating=1)

    for who, state, moment in (
        (ada, "available", at(9, 30)),
        (ada, "away", at(11)),
        (ada, "available", at(11, 5)),
        (ada, "offline", at(12)),
        (bo, "available", at(10)),
        (bo, "offline", at(11)),
    ):
        status(who, state, moment)
    analytics_rollups.rebuild(at(0), at(0, day=DAY + timedelta(days=1)))
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5, "t6": t6}


def filters(brand, **overrides):
    values = {"brand_ids": (brand.pk,), "start": DAY, "end": DAY, "granularity": "hour", "brand_slug": brand.slug}
    values.update(overrides)
    return analytics.Filters(**values)


def by_hour(report):
    return {bucket.start.astimezone(UTC).hour: bucket.figures for bucket in report.buckets}


# --- The figures, by hand -----------------------------------------------------------------------


def test_hourly_figures_equal_the_hand_count(brand, day):
    hours = by_hour(analytics.figures(filters(brand)))
    assert sorted(hours) == [9, 10, 11]  # 09:00 only has Ada online
    ten = hours[10]
    assert ten["created"] == 4  # T1, T2, T3, T4
    # Resolved or closed now: T1 and T2 of the four (T3 is back in the queue, T4 cancelled).
    assert ten["resolution_rate"] == {"share": 0.5, "resolved": 2}
    # Time to offer: T1 10 s, T2 20 s, T3 30 s (T4 none): (10 + 20 + 30) / 3 = 20.
    assert ten["offer"]["count"] == 3 and ten["offer"]["mean"] == 20
    # Time to assign: 30, 100 (10:20:00 -> 10:21:40), 40: 170 / 3.
    assert ten["assign"]["mean"] == pytest.approx(170 / 3)
    # First reply: 60, 220 (10:20:00 -> 10:23:40), 160 (10:40:00 -> 10:42:40): 440 / 3.
    assert ten["reply"]["mean"] == pytest.approx(440 / 3)
    # Handle: T1 10:00:30 -> 10:10:30 = 600, T2 10:21:40 -> 10:41:40 = 1200; T3 is not resolved now.
    assert ten["handle"]["count"] == 2 and ten["handle"]["mean"] == 900
    # Resolution: T1 630, T2 1300 (10:20:00 -> 10:41:40): 1930 / 2.
    assert ten["resolution_time"]["mean"] == 965
    # Resolutions made 10:00-11:00: T1 (5), T2 (2), T3 (reopened, unrated).
    assert ten["csat"] == {"rated": 2, "mean": 3.5, "share_high": 0.5}
    assert ten["reopen"] == {"share": pytest.approx(1 / 3), "reopened": 1, "resolutions": 3}
    # Offers made 10:00-11:00: five; Bo declined one (T1) and let one time out (T2).
    assert (ten["offers"], ten["declined"], ten["expired"]) == (5, 1, 1)
    # Pay earned 10:00-11:00: 4500 + 5000 + 4500 for three cases = 14000 / 3 = 4666.67 -> 46.67 SEK.
    assert ten["cost"]["SEK"]["total_minor"] == 14000 and ten["cost"]["SEK"]["cases"] == 3
    assert ten["cost"]["SEK"]["per_case"] == Decimal("46.67")
    # Agent time 10:00-11:00: Ada and Bo online all hour (7200 s), both available (staffed 7200),
    # busy Ada 600 (T1) + 600 (T3) and Bo 1200 (T2) = 2400: occupancy 2400 / 7200 = 1/3, 2 hours online.
    assert ten["occupancy"] == pytest.approx(1 / 3) and ten["online"] == 2

    eleven = hours[11]
    assert eleven["created"] == 1 and eleven["resolution_rate"]["share"] == 1
    # T5: offer 5 s, assign 15 s, reply 75 s, handle 11:10:15 -> 11:31:15 = 1260 s, resolution 1275 s.
    assert [eleven[f]["mean"] for f in ("offer", "assign", "reply", "handle", "resolution_time")] == [
        5,
        15,
        75,
        1260,
        1275,
    ]
    assert eleven["csat"] == {"rated": 1, "mean": 4, "share_high": 1}
    assert eleven["reopen"]["share"] == 0
    # The reversal of T3 (-4500 at 11:05) and T5's case (4500): 0 for one case.
    assert eleven["cost"]["SEK"] == {
        "total_minor": 0,
        "cases": 1,
        "per_case": Decimal("0.00"),
        "total": Decimal("0.00"),
    }
    # 11:00-12:00: Ada away 300 s then available 3300 s (online 3600, staffed 3300), busy with T5
    # 1260 s; Bo offline. Occupancy 1260 / 3300.
    assert eleven["occupancy"] == pytest.approx(1260 / 3300) and eleven["online"] == 1

    nine = hours[9]
    # Ada available from 09:30: 1800 s online and staffed, no chat.
    assert nine["created"] == 0 and nine["occupancy"] == 0 and nine["online"] == 0.5


def test_percentiles_are_read_from_the_bins_by_hand(brand, day):
    ten = by_hour(analytics.figures(filters(brand)))[10]
    # Offer times 10, 20, 30 fall in the bins [10, 15), [20, 30), [30, 45). p50: rank 0.5 * 3
    # = 1.5, reached in [20, 30) with one below it: 20 + 10 * (1.5 - 1) / 1 = 25. p90: rank 2.7
    # in [30, 45): 30 + 15 * 0.7 = 40.5, clamped to the largest time, 30.
    assert ten["offer"]["p50"] == 25 and ten["offer"]["p90"] == 30
    # Handle times 600 [600, 900) and 1200 [1200, 1800). p50: rank 1 in [600, 900): 600 + 300 * 1
    # = 900. p90: rank 1.8 in [1200, 1800): 1200 + 600 * 0.8 = 1680, clamped to 1200.
    assert ten["handle"]["p50"] == 900 and ten["handle"]["p90"] == 1200
    # One time alone reads back exactly (clamped to itself): T5's handle time.
    assert by_hour(analytics.figures(filters(brand)))[11]["handle"]["p50"] == 1260


def test_histogram_packing_and_reading():
    packed = sum(histogram.unit(s) for s in (10, 20, 30))
    assert histogram.unpack(packed)[2] == 1 and histogram.unpack(packed)[4] == 1 and sum(histogram.unpack(packed)) == 3
    assert histogram.quantile(0, 0.5) is None
    assert histogram.quantile(histogram.pack([0] * (histogram.BINS - 1) + [3]), 0.5) == histogram.EDGES[-1]
    with pytest.raises(ValueError):
        histogram.pack([1 << 32])


def test_the_day_adds_up_the_hours(brand, day):
    [whole] = analytics.figures(filters(brand, granularity="day")).buckets
    f = whole.figures
    assert f["created"] == 5 and f["resolution_rate"]["share"] == pytest.approx(3 / 5)
    assert f["offer"]["mean"] == pytest.approx((10 + 20 + 30 + 5) / 4)
    # Ratings 5, 2, 4: 11 / 3; two of three are 4 or 5. One reopen of four resolutions.
    assert f["csat"]["mean"] == pytest.approx(11 / 3) and f["csat"]["share_high"] == pytest.approx(2 / 3)
    assert f["reopen"]["share"] == 0.25
    assert (f["declined"], f["expired"]) == (1, 1)
    # 4500 + 5000 + 4500 - 4500 + 4500 = 14000 for four cases: 3500 -> 35.00 SEK.
    assert f["cost"]["SEK"]["per_case"] == Decimal("35.00")
    # Busy 2400 + 1260 = 3660 of staffed 1800 + 7200 + 3300 = 12300; online 1800 + 7200 + 3600 = 3.5 h.
    assert f["occupancy"] == pytest.approx(3660 / 12300) and f["online"] == 3.5


def test_one_agents_figures(brand, day, ada):
    [whole] = analytics.figures(filters(brand, granularity="day", agent_id=ada.pk)).buckets
    f = whole.figures
    # Ada's tickets: T1, T5 and T3 (back in the queue, she was its last agent).
    assert f["created"] == 3 and f["resolution_rate"]["resolved"] == 2
    # Their first offers (to anyone): 10, 30, 5 -> 15.
    assert f["offer"]["mean"] == 15
    # Her resolutions: T1 (5), T3 (reopened), T5 (4).
    assert f["csat"] == {"rated": 2, "mean": 4.5, "share_high": 1}
    assert f["reopen"]["share"] == pytest.approx(1 / 3)
    # Offers to her: three, all accepted.
    assert (f["offers"], f["declined"], f["expired"]) == (3, 0, 0)
    # 4500 + 4500 - 4500 + 4500 = 9000 for three cases: 30.00 SEK.
    assert f["cost"]["SEK"]["per_case"] == Decimal("30.00")
    # Busy 1200 + 1260 = 2460 of staffed 1800 + 3600 + 3300 = 8700; online 9000 s = 2.5 h.
    assert f["occupancy"] == pytest.approx(2460 / 8700) and f["online"] == 2.5


def test_tier_and_language_filters(brand, day, bo):
    [expert] = analytics.figures(filters(brand, granularity="day", tier="expert")).buckets
    # Bo is the expert: T2 and the three offers made to him (one declined, one timed out).
    assert expert.figures["created"] == 1 and expert.figures["offers"] == 3
    assert (expert.figures["declined"], expert.figures["expired"]) == (1, 1)
    # Bo's hour: online and staffed 3600 s, busy 1200 s.
    assert expert.figures["occupancy"] == pytest.approx(1 / 3) and expert.figures["online"] == 1
    [swedish] = analytics.figures(filters(brand, granularity="day", language="sv")).buckets
    assert swedish.figures["created"] == 1 and swedish.figures["csat"]["mean"] == 2
    # Only Bo speaks Swedish among Acme's agents.
    assert swedish.figures["online"] == 1
    assert analytics.figures(filters(brand, granularity="day", language="de")).buckets == []


def test_the_agent_and_brand_rollups_agree(brand, day, ada, bo):
    """One agent's figures from the agent rollups equal the brand rollups' figures where
    both can be read: the expert tier is Bo alone."""
    from_rollups = analytics.figures(filters(brand, tier="expert"))
    from_source = analytics.figures(filters(brand, tier="expert", agent_id=bo.pk))
    assert [b.figures for b in from_rollups.buckets] == [b.figures for b in from_source.buckets]


def test_days_follow_the_chosen_time_zone(brand, ada):
    # 23:30 UTC on 2 March is 00:30 on 3 March in Stockholm (UTC+1 then).
    make_ticket(brand, at(23, 30), agent=ada, status="assigned", assigned_at=at(23, 31))
    analytics_rollups.rebuild(at(0), at(0, day=DAY + timedelta(days=2)))
    for agent_id in (None, ada.pk):
        utc = analytics.figures(filters(brand, granularity="day", end=DAY + timedelta(days=1), agent_id=agent_id))
        assert [(b.start.date(), b.figures["created"]) for b in utc.buckets if b.figures["created"]] == [(DAY, 1)]
        stockholm = analytics.figures(
            filters(
                brand,
                granularity="day",
                end=DAY + timedelta(days=1),
                zone_name="Europe/Stockholm",
                agent_id=agent_id,
            )
        )
        created = [(b.start.date(), b.figures["created"]) for b in stockholm.buckets if b.figures["created"]]
        assert created == [(DAY + timedelta(days=1), 1)]


# --- The rollup job -----------------------------------------------------------------------------


def rollup_rows():
    with connection.cursor() as cursor:
        found = {}
        for model in (
            TicketHourlyRollup,
            EarningHourlyRollup,
            AgentTicketHourlyRollup,
            AgentEarningHourlyRollup,
            AgentHourlyRollup,
            AgentTimeHourlyRollup,
        ):
            columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
            cursor.execute(f"SELECT {', '.join(columns)} FROM {model._meta.db_table}")  # noqa: S608
            found[model.__name__] = sorted(cursor.fetchall(), key=repr)
    return found


@pytest.fixture
def recent(brand, ada, bo):
    """A few tickets of the last hours, ending with everyone offline and no chat open (so
    'now' moving between runs changes nothing)."""
    now = timezone.now()
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    status(ada, "available", ago(180))
    status(bo, "available", ago(170))
    first = make_ticket(
        brand, ago(150), status="closed", agent=ada, assigned_at=ago(149), resolved_at=ago(140), rating=None
    )
    offer(first, bo, ago(150), "declined", ago(150))
    offer(first, ada, ago(149.5), "accepted", ago(149))
    message(first, "agent", ago(148), ada.user)
    Resolution.objects.create(ticket=first, agent=ada, number=1, resolved_at=ago(140), outcome="pending")
    earning(first, ada, "case", 4500, ago(140))
    status(ada, "offline", ago(60))
    status(bo, "offline", ago(60))
    return first


def test_the_job_is_idempotent_and_equals_a_rebuild(brand, recent, ada, bo):
    first_run = analytics_rollups.rollup_run()
    assert "rebuilt_from" in first_run
    after_first = rollup_rows()
    assert TicketHourlyRollup.objects.filter(language="*", tier="*").aggregate(n=Sum("tickets"))["n"] == 1
    analytics_rollups.rollup_run()
    assert rollup_rows() == after_first  # a doubled run changes nothing

    # Things happen: the resolution is rated, a new ticket arrives and is declined, Bo's tier changes.
    now = timezone.now()
    Resolution.objects.filter(ticket=recent).update(rating=2, rated_at=now, outcome="confirmed", outcome_at=now)
    Ticket.objects.filter(pk=recent.pk).update(rating=2)
    newer = make_ticket(brand, now - timedelta(minutes=1), language="sv")
    offer(newer, bo, now - timedelta(seconds=30), "declined", now)
    message(recent, "agent", now, ada.user)  # a late message on an old ticket changes no figure
    AgentProfile.objects.filter(pk=bo.pk).update(tier=AgentProfile.Tier.STANDARD)
    result = analytics_rollups.rollup_run()
    assert result["agents_changed"] == 1 and result["brand_hours"] >= 2
    by_job = rollup_rows()
    analytics_rollups.rollup_run()
    assert rollup_rows() == by_job

    analytics_rollups.rebuild(now - timedelta(days=1), now + timedelta(hours=1))
    assert rollup_rows() == by_job
    # Bo's declined offer of earlier is filed under his new tier.
    assert not TicketHourlyRollup.objects.filter(tier="expert").exists()
    assert TicketHourlyRollup.objects.filter(tier="standard", offers_declined=1).count() == 4  # all/sv x all/standard


def test_the_job_skips_while_another_run_holds_the_lock(brand, recent):
    """Two runs never interleave: a second worker finds the lock taken and leaves the hours
    to the one running."""
    import psycopg
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [analytics_rollups.LOCK_KEY])
        assert analytics_rollups.rollup_run() == {"skipped": "another run is under way"}
        other.execute("SELECT pg_advisory_unlock(%s)", [analytics_rollups.LOCK_KEY])
    assert not AnalyticsRollupState.objects.exists()


def test_the_job_is_on_beat_every_minute(settings):
    assert settings.CELERY_BEAT_SCHEDULE["roll-up-analytics"] == {
        "task": "tasks.jobs.analytics_rollup",
        "schedule": 60.0,
    }


# --- The pages ----------------------------------------------------------------------------------


@pytest.fixture
def sup_client(client, supervisor):
    client.force_login(supervisor)
    return client


QUERY = {"from": "2026-03-02", "to": "2026-03-02", "granularity": "hour"}


def test_page_shows_charts_and_table(sup_client, day):
    response = sup_client.get(PAGE, QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="figures-table"' in html and 'id="analytics-data"' in html
    assert 'src="/static/vendor/chart.umd.min.js"' in html
    assert html.count('data-testid="figures-row"') == 3  # 09:00, 10:00, 11:00
    data = response.context["chart_data"]
    assert data["charts"][0]["datasets"][0]["data"] == [0, 4, 1]
    assert {chart["id"] for chart in data["charts"]} >= {"volume", "waiting", "handling", "outcomes", "offers"}


def test_page_empty_state(sup_client, brand):
    response = sup_client.get(PAGE, QUERY)
    assert response.status_code == 200
    assert 'data-testid="analytics-empty"' in response.content.decode()
    assert "chart.umd.min.js" not in response.content.decode()


def test_bad_filters_are_shown_not_used(sup_client, brand):
    response = sup_client.get(PAGE, {**QUERY, "time_zone": "Mars/Olympus", "to": "2026-02-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown time zone" in html and "The last day is before the first." in html
    assert 'value="Mars/Olympus"' in html  # the input is kept
    too_long = sup_client.get(PAGE, {"from": "2026-01-01", "to": "2026-03-02", "granularity": "hour"})
    assert "choose at most 31 days" in too_long.content.decode()


@pytest.mark.parametrize("role", ["agent", "applicant"])
def test_outsiders_are_refused(client, role, brand):
    client.force_login(UserFactory(role=role))
    assert client.get(PAGE).status_code == 403
    assert client.get(TICKETS, {"bucket": "2026-03-02T10:00:00+00:00", "figure": "created"}).status_code == 403


def test_anonymous_goes_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_another_brands_supervisor_sees_none_of_it(client, day, brand, other_brand, ada):
    rival = UserFactory(role="supervisor")
    other_brand.supervisors.add(rival)
    client.force_login(rival)
    response = client.get(PAGE, {**QUERY, "granularity": "day"})
    [bucket] = response.context["report"].buckets
    assert bucket.figures["created"] == 1  # T6, theirs; none of Acme's five
    assert client.get(PAGE, {**QUERY, "brand": brand.slug}).status_code == 404
    assert client.get(PAGE, {**QUERY, "agent": ada.pk}).status_code == 404
    listed = client.get(TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "created"})
    assert [line["line"].ticket.pk for line in listed.context["lines"]] == [day["t6"].pk]
    assert client.get(TICKETS, {**QUERY, "brand": brand.slug, "bucket": "2026-03-02T10:00:00+00:00"}).status_code == 404


def test_staff_see_every_brand(client, day):
    client.force_login(UserFactory(role="staff", is_staff=True))
    [bucket] = client.get(PAGE, {**QUERY, "granularity": "day"}).context["report"].buckets
    assert bucket.figures["created"] == 6


def drilled(client, figure, bucket="2026-03-02T10:00:00+00:00", **extra):
    response = client.get(TICKETS, {**QUERY, "bucket": bucket, "figure": figure, **extra})
    assert response.status_code == 200
    return [line["line"].ticket.pk for line in response.context["lines"]]


def test_drilldown_lists_exactly_the_tickets_behind_a_point(sup_client, day):
    t = {name: ticket.pk for name, ticket in day.items()}
    assert drilled(sup_client, "created") == [t["t1"], t["t2"], t["t3"], t["t4"]]
    assert drilled(sup_client, "resolution_rate") == [t["t1"], t["t2"], t["t3"], t["t4"]]
    assert drilled(sup_client, "offer") == [t["t1"], t["t2"], t["t3"]]
    assert drilled(sup_client, "handle") == [t["t1"], t["t2"]]
    assert drilled(sup_client, "csat") == [t["t1"], t["t2"]]
    assert drilled(sup_client, "reopen") == [t["t1"], t["t2"], t["t3"]]
    assert drilled(sup_client, "declined") == [t["t1"]]
    assert drilled(sup_client, "expired") == [t["t2"]]
    assert drilled(sup_client, "cost") == [t["t1"], t["t2"], t["t3"]]
    assert drilled(sup_client, "cost", bucket="2026-03-02T11:00:00+00:00") == [t["t3"], t["t5"]]
    assert drilled(sup_client, "occupancy") == [t["t1"], t["t2"], t["t3"]]
    assert drilled(sup_client, "created", language="sv") == [t["t2"]]
    assert drilled(sup_client, "created", tier="expert") == [t["t2"]]
    # A day in Stockholm starts at 23:00 UTC the day before: the same five tickets.
    stockholm = {**QUERY, "granularity": "day", "time_zone": "Europe/Stockholm"}
    assert drilled(sup_client, "created", bucket="2026-03-02T00:00:00+01:00", **stockholm) == [
        t["t1"],
        t["t2"],
        t["t3"],
        t["t4"],
        t["t5"],
    ]


def test_drilldown_links_to_the_supervisor_ticket_page_and_pages_by_fifty(sup_client, brand, day):
    for n in range(55):
        make_ticket(brand, at(10, 1, n))
    response = sup_client.get(TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "created"})
    html = response.content.decode()
    assert html.count('data-testid="drilldown-ticket"') == 50
    assert f'href="/supervisor/tickets/{day["t1"].pk}/"' in html
    second = sup_client.get(TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "created", "page": 2})
    assert second.content.decode().count('data-testid="drilldown-ticket"') == 59 - 50


def test_drilldown_refuses_a_point_that_is_not_one(sup_client, day):
    assert sup_client.get(TICKETS, {**QUERY, "bucket": "yesterday", "figure": "created"}).status_code == 400
    assert sup_client.get(TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "x"}).status_code == 400


def test_figures_export_is_audit_logged(sup_client, supervisor, brand, day):
    response = sup_client.get(PAGE, {**QUERY, "brand": brand.slug, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, ten = rows[0], rows[2]
    assert ten[0] == "2026-03-02T10:00:00+00:00"
    assert ten[header.index("Tickets created (AI handovers)")] == "4"
    assert ten[header.index("Handle time mean")] == "900.0"
    assert ten[header.index("Cost per resolved case (SEK)")] == "46.67"
    assert rows[-1][0] == "Whole period"
    [event] = AuditEvent.objects.filter(action="analytics.exported")
    assert event.actor == supervisor and event.brand_id == brand.pk
    assert event.detail == {"table": "figures", "brand": brand.slug, **QUERY, "time_zone": "UTC"}


def test_drilldown_export_is_audit_logged(sup_client, supervisor, day):
    response = sup_client.get(
        TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "handle", "format": "csv"}
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[0] for row in rows[1:]] == [str(day["t1"].pk), str(day["t2"].pk)]
    assert [row[-1] for row in rows[1:]] == ["600.0", "1200.0"]
    [event] = AuditEvent.objects.filter(action="analytics.exported")
    assert event.detail["table"] == "tickets" and event.detail["figure"] == "handle"
    assert event.detail["bucket"] == "2026-03-02T10:00:00+00:00" and event.actor == supervisor


def test_supervisor_home_links_to_analytics(sup_client, brand):
    assert 'href="/supervisor/analytics/"' in sup_client.get("/supervisor/").content.decode()


def test_a_supervisor_without_brands_is_told_so(client):
    client.force_login(UserFactory(role="supervisor"))
    assert 'data-testid="no-brands"' in client.get(PAGE).content.decode()


def test_other_brands_make_no_difference_to_one_brands_figures(brand, day):
    BrandFactory(slug="initech")
    assert by_hour(analytics.figures(filters(brand)))[10]["created"] == 4


def test_exported_text_never_starts_a_spreadsheet_formula(sup_client, day, ada):
    AgentProfile.objects.filter(pk=ada.pk).update(display_name="=HYPERLINK(1)")
    response = sup_client.get(
        TICKETS, {**QUERY, "bucket": "2026-03-02T10:00:00+00:00", "figure": "created", "format": "csv"}
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][4] == "'=HYPERLINK(1)" and response["Cache-Control"] == "private, no-store"
