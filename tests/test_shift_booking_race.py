"""1,000 agents booking 100 slots at once, on real PostgreSQL connections from real threads:
exactly 100 bookings, never more than a shift's slots, and nobody with two overlapping
shifts, although every agent tries to book two shifts that overlap."""

import json
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from agents.models import AgentLanguage, AgentProfile
from marketplace.errors import DomainError
from marketplace.models import User
from tasks import services
from tasks.models import Shift, ShiftBooking

from . import live
from .factories import BrandFactory

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS = 1000
# The server allows 100 connections in all, shared with other test runs on this machine.
CONNECTIONS = 40
FIGURES = live.ROOT / "test-output" / "reliability"


def make_agents(brand, count: int) -> list[AgentProfile]:
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"racer{i}@shifts.test", role=User.Role.AGENT, password=unusable) for i in range(count)]
    )
    agents = AgentProfile.objects.bulk_create(
        [AgentProfile(user=u, display_name=f"Racer {i}", tier="standard", capacity=2) for i, u in enumerate(users)]
    )
    AgentLanguage.objects.bulk_create([AgentLanguage(agent=a, code="en") for a in agents])
    AgentProfile.brands.through.objects.bulk_create(
        [AgentProfile.brands.through(agentprofile_id=a.pk, brand_id=brand.pk) for a in agents]
    )
    return agents


def test_a_thousand_agents_booking_a_hundred_slots_get_exactly_a_hundred_and_never_overlap():
    brand = BrandFactory()
    start = timezone.now() + timedelta(days=2)
    # Two shifts of 50 slots that overlap by an hour: each agent tries both.
    first = Shift.objects.create(
        brand=brand, starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], slots=50
    )
    second = Shift.objects.create(
        brand=brand,
        starts_at=start + timedelta(hours=3),
        ends_at=start + timedelta(hours=7),
        languages=["en"],
        slots=50,
    )
    agents = make_agents(brand, AGENTS)
    attempts = [(agent, shift) for agent in agents for shift in (first, second)]
    outcomes: dict[str, int] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()
    cursor = iter(range(len(attempts)))
    go = threading.Barrier(CONNECTIONS)

    def worker() -> None:
        try:
            connection.ensure_connection()
            go.wait(timeout=30)
            while True:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    return
                agent, shift = attempts[n]
                try:
                    services.shift_book(agent=agent, shift_id=shift.pk)
                    code = "booked"
                except DomainError as refusal:
                    code = refusal.code
                with lock:
                    outcomes[code] = outcomes.get(code, 0) + 1
        except BaseException as exc:
            failures.append(exc)
            go.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures[:3]

    booked = ShiftBooking.objects.filter(status=ShiftBooking.Status.BOOKED)
    assert booked.count() == 100
    assert outcomes["booked"] == 100
    assert set(outcomes) <= {"booked", "shift_full", "shift_overlap"}
    for shift in (first, second):
        shift.refresh_from_db()
        assert shift.booked == booked.filter(shift=shift).count() == shift.slots
    # Nobody holds both: they overlap.
    assert booked.values("agent").distinct().count() == 100
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / "shift_booking_race.json").write_text(
        json.dumps(
            {
                "agents": AGENTS,
                "attempts": len(attempts),
                "connections": CONNECTIONS,
                "slots": first.slots + second.slots,
                "outcomes": dict(sorted(outcomes.items())),
                "bookings": booked.count(),
                "agents_with_two_bookings": 0,
            },
            indent=2,
        )
        + "\n"
    )


def test_the_database_itself_refuses_an_overlapping_booking_written_around_the_service():
    from django.db import IntegrityError, transaction

    brand = BrandFactory()
    (agent,) = make_agents(brand, 1)
    start = timezone.now() + timedelta(days=1)
    a = Shift.objects.create(
        brand=brand, starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], slots=5
    )
    b = Shift.objects.create(
        brand=brand, starts_at=start + timedelta(hours=1), ends_at=start + timedelta(hours=2), languages=["en"], slots=5
    )
    ShiftBooking.objects.create(shift=a, agent=agent, starts_at=a.starts_at, ends_at=a.ends_at)
    with pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic():
        ShiftBooking.objects.create(shift=b, agent=agent, starts_at=b.starts_at, ends_at=b.ends_at)
    with pytest.raises(IntegrityError, match="shift_never_overbooked"), transaction.atomic():
        Shift.objects.filter(pk=a.pk).update(booked=6)


def test_an_agent_cancelling_while_the_supervisor_withdraws_the_shift_never_deadlocks():
    """Both paths take the shift first, then its bookings: 20 rounds of the two at once end
    with the shift cancelled and the booking cancelled, and no deadlock."""
    from .factories import UserFactory

    brand = BrandFactory()
    supervisor = UserFactory(role="supervisor")
    brand.supervisors.add(supervisor)
    agents = make_agents(brand, 20)
    for n, agent in enumerate(agents):
        start = timezone.now() + timedelta(days=3, hours=n * 5)
        shift = Shift.objects.create(
            brand=brand, starts_at=start, ends_at=start + timedelta(hours=4), languages=["en"], slots=2
        )
        booking = services.shift_book(agent=agent, shift_id=shift.pk)
        go = threading.Barrier(2)
        errors: list[BaseException] = []

        def cancel_booking(agent=agent, booking=booking, go=go, errors=errors):
            try:
                go.wait(timeout=10)
                services.booking_cancel(agent=agent, booking_id=booking.pk)
            except DomainError:
                pass  # the shift was withdrawn first: the booking is no longer active
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        def withdraw(shift=shift, go=go, errors=errors):
            try:
                go.wait(timeout=10)
                services.shift_cancel(user=supervisor, shift_id=shift.pk, reason="Low volume")
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=cancel_booking), threading.Thread(target=withdraw)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        booking.refresh_from_db()
        shift.refresh_from_db()
        assert (shift.status, booking.status, shift.booked) == ("cancelled", "cancelled", 0)
