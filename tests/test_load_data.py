"""`manage.py generate_load_data` at a tiny size: the rows it writes hang together (every
foreign key checked by PostgreSQL as they go in), each resolved ticket has a conversation, its
offers include declined and timed-out ones, the rollups are built and agree with the source
rows, and it refuses a database that already holds data unless forced."""

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q, Sum

from agents.models import AgentProfile, AgentStatusChange
from marketplace.models import Brand, User
from payouts.models import Earning
from tasks import analytics_rollups
from tasks.models import (
    AgentHourlyRollup,
    AnalyticsRollupState,
    Message,
    Offer,
    Resolution,
    Ticket,
    TicketHourlyRollup,
)

from .factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=False)

TINY = {"tickets": 200, "brands": 2, "agents": 12, "days": 3, "seed": 7, "quiet": True, "check_keys": True}


def test_a_tiny_data_set(capsys):
    call_command("generate_load_data", **TINY)
    assert "tickets 200" in capsys.readouterr().out
    assert Ticket.objects.count() == 200
    assert Brand.objects.count() == 2 and AgentProfile.objects.count() == 12
    assert User.objects.filter(role=User.Role.SUPERVISOR).count() == 2
    resolved = Ticket.objects.filter(status__in=["resolved", "closed"])
    assert resolved.count() > 150
    # At least two messages (the customer's and the agent's reply) per resolved ticket.
    assert not resolved.annotate(n=Count("messages")).filter(n__lt=2).exists()
    assert Resolution.objects.count() >= resolved.count()
    assert Resolution.objects.filter(rating__isnull=False).exists()
    assert Offer.objects.filter(state="declined").exists() and Offer.objects.filter(state="expired").exists()
    # One case per resolution; a reversal per reopened one.
    assert Earning.objects.filter(kind="case").count() == Resolution.objects.count()
    assert Earning.objects.filter(kind="reversal").count() == Resolution.objects.filter(outcome="reopened").count()
    assert AgentStatusChange.objects.exists()
    # Every resolved ticket's agent was assigned after it was created and resolved after that.
    assert not resolved.filter(Q(assigned_at__lt=F("created_at")) | Q(resolved_at__lt=F("assigned_at"))).exists()
    # The rollups are built and are current.
    everything = TicketHourlyRollup.objects.filter(language="*", tier="*")
    assert everything.aggregate(n=Sum("tickets"))["n"] == 200
    assert everything.aggregate(n=Sum("resolutions"))["n"] == Resolution.objects.count()
    assert AgentHourlyRollup.objects.exists()
    assert AnalyticsRollupState.objects.get().ran_at is not None


def test_the_rollups_it_builds_are_what_the_job_would_build():
    call_command("generate_load_data", **TINY)
    rows = sorted(TicketHourlyRollup.objects.values_list("brand_id", "hour", "language", "tier", "tickets", "resolved"))
    AnalyticsRollupState.objects.all().delete()
    analytics_rollups.rollup_run()  # a first run rebuilds everything from the source rows
    assert (
        sorted(TicketHourlyRollup.objects.values_list("brand_id", "hour", "language", "tier", "tickets", "resolved"))
        == rows
    )


def test_refuses_a_database_that_holds_data():
    UserFactory(email="someone@example.test")
    with pytest.raises(CommandError, match="already holds users"):
        call_command("generate_load_data", **TINY)
    assert not Ticket.objects.exists()
    call_command("generate_load_data", **{**TINY, "tickets": 20, "force": True})
    assert Ticket.objects.count() == 20


def test_refuses_nonsense_sizes():
    with pytest.raises(CommandError, match="--tickets must be at least 1"):
        call_command("generate_load_data", **{**TINY, "tickets": 0})
    assert not Message.objects.exists()


def test_the_measurement_runs_on_it(capsys):
    call_command("generate_load_data", **TINY)
    call_command("measure_dashboard", runs=1)
    out = capsys.readouterr().out
    assert "week per hour, one brand" in out and "drill-down: an hour, one brand, handle time" in out
