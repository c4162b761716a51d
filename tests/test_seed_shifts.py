"""The demo has a week of shifts from tomorrow (mornings with an hourly floor, afternoons
with a per-case bonus, Stockholm time) and Alex booked on one, however often it is seeded."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from tasks.models import Shift, ShiftBooking

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def test_seeding_twice_gives_one_week_of_shifts_and_alex_booked_once(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    capsys.readouterr()

    shifts = list(Shift.objects.filter(brand__slug="demo").order_by("starts_at"))
    tomorrow = timezone.now().astimezone(STOCKHOLM).date() + timedelta(days=1)
    days = [tomorrow + timedelta(days=n) for n in range(7)]
    local = [(s.starts_at.astimezone(STOCKHOLM), s.ends_at.astimezone(STOCKHOLM)) for s in shifts]
    assert [(start.date(), start.hour, end.hour) for start, end in local] == [
        (day, start, end) for day in days for start, end in ((9, 13), (13, 17))
    ]
    assert all(s.languages == ["en", "sv"] and s.slots == 3 and s.status == "open" for s in shifts)
    mornings, afternoons = shifts[::2], shifts[1::2]
    assert {(s.hourly_floor_minor, s.bonus_per_case_minor) for s in mornings} == {(40000, None)}
    assert {(s.hourly_floor_minor, s.bonus_per_case_minor) for s in afternoons} == {(None, 1000)}

    [booking] = ShiftBooking.objects.filter(agent__user__email="agent1@demo.test")
    assert (booking.shift, booking.status) == (shifts[0], "booked")
    assert Shift.objects.get(pk=shifts[0].pk).booked == 1
