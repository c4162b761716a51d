"""A supervisor plans shifts: changes slots and pay before the start (never fewer slots than
agents booked), boosts a shift nobody fills with a per-case bonus, cancels with a reason.
The agents concerned hear it on their sockets (who could book a new or boosted shift; who
booked a changed or cancelled one), booked agents get an e-mail, and the planning page does
it all for the supervisor's own brands, audit-logged."""

import asyncio
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core import mail
from django.utils import timezone

from agents.models import Application
from marketplace.errors import DomainError
from marketplace.models import AuditEvent, User
from tasks import services
from tasks.models import Shift, ShiftBooking
from tasks.realtime import agent_group

from .factories import AgentFactory, UserFactory

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PAGE = "/supervisor/shifts/"


def next_monday() -> date:
    today = timezone.now().astimezone(STOCKHOLM).date()
    return today + timedelta(days=7 - today.weekday())


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def terms(start: datetime, hours: int = 4, **extra) -> services.ShiftTerms:
    fields = {"languages": ["en"], "skills": [], "slots": 3, **extra}
    return services.ShiftTerms(starts_at=start, ends_at=start + timedelta(hours=hours), **fields)


def publish(user, brand, start: datetime | None = None, **extra) -> Shift:
    start = start or at(next_monday() + timedelta(days=1), 9)
    return services.shift_publish(user=user, brand=brand, terms=terms(start, **extra), time_zone="Europe/Stockholm")[0]


def refused(call, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as exc:
        call(**kwargs)
    return exc.value


def supervisor_of(brand, email: str) -> User:
    user = UserFactory(email=email, role=User.Role.SUPERVISOR)
    brand.supervisors.add(user)
    return user


@pytest.fixture(autouse=True)
def _no_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False  # the TOTP gate has its own tests


# --- Changing a shift ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_supervisor_changes_slots_and_pay_and_an_unnamed_term_stays_as_it_was(brand, supervisor):
    shift = publish(supervisor, brand, hourly_floor_minor=40000)

    services.shift_update(user=supervisor, shift_id=shift.pk, slots=5, bonus_per_case_minor=1000)
    shift.refresh_from_db()
    assert (shift.slots, shift.hourly_floor_minor, shift.bonus_per_case_minor) == (5, 40000, 1000)

    services.shift_update(user=supervisor, shift_id=shift.pk, hourly_floor_minor=None)
    shift.refresh_from_db()
    assert (shift.slots, shift.hourly_floor_minor, shift.bonus_per_case_minor) == (5, None, 1000)


@pytest.mark.django_db
def test_slots_never_go_below_the_agents_who_booked(brand, supervisor, agent, agent2):
    shift = publish(supervisor, brand)
    services.shift_book(agent=agent, shift_id=shift.pk)
    services.shift_book(agent=agent2, shift_id=shift.pk)

    error = refused(services.shift_update, user=supervisor, shift_id=shift.pk, slots=1)

    assert (error.code, error.status, error.fields) == ("slots_below_booked", 422, {"slots": [">= 2"]})
    assert "keep at least 2 slots" in error.message
    services.shift_update(user=supervisor, shift_id=shift.pk, slots=2)
    shift.refresh_from_db()
    assert (shift.slots, shift.booked) == (2, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "code"),
    [({"slots": 0}, "invalid"), ({"hourly_floor_minor": -1}, "invalid"), ({"bonus_per_case_minor": -5}, "invalid")],
)
def test_bad_terms_are_refused_and_change_nothing(brand, supervisor, change, code):
    shift = publish(supervisor, brand)
    assert refused(services.shift_update, user=supervisor, shift_id=shift.pk, **change).code == code
    shift.refresh_from_db()
    assert (shift.slots, shift.hourly_floor_minor, shift.bonus_per_case_minor) == (3, None, None)


@pytest.mark.django_db
def test_a_started_or_cancelled_shift_cannot_be_changed_or_boosted(brand, supervisor):
    started = publish(supervisor, brand)
    Shift.objects.filter(pk=started.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    cancelled = publish(supervisor, brand, start=at(next_monday() + timedelta(days=2), 9))
    services.shift_cancel(user=supervisor, shift_id=cancelled.pk, reason="Holiday")

    for shift, code in ((started, "shift_started"), (cancelled, "shift_cancelled")):
        assert refused(services.shift_update, user=supervisor, shift_id=shift.pk, slots=4).code == code
        assert refused(services.shift_boost, user=supervisor, shift_id=shift.pk, bonus_per_case_minor=1000).code == code


@pytest.mark.django_db
def test_another_brands_supervisor_finds_no_such_shift(brand, other_brand, supervisor):
    shift = publish(supervisor, brand)
    outsider = supervisor_of(other_brand, "globex.sup@example.test")

    for call, extra in ((services.shift_update, {"slots": 9}), (services.shift_boost, {"bonus_per_case_minor": 500})):
        error = refused(call, user=outsider, shift_id=shift.pk, **extra)
        assert (error.code, error.status) == ("shift_not_found", 404)
    shift.refresh_from_db()
    assert (shift.slots, shift.bonus_per_case_minor) == (3, None)


@pytest.mark.django_db
def test_a_boost_adds_to_the_per_case_bonus(brand, supervisor):
    shift = publish(supervisor, brand)

    services.shift_boost(user=supervisor, shift_id=shift.pk, bonus_per_case_minor=1000)
    services.shift_boost(user=supervisor, shift_id=shift.pk, bonus_per_case_minor=500)

    shift.refresh_from_db()
    assert shift.bonus_per_case_minor == 1500


@pytest.mark.django_db
def test_a_boost_must_add_something_and_a_full_shift_needs_none(brand, supervisor, agent):
    shift = publish(supervisor, brand, slots=1)
    assert refused(services.shift_boost, user=supervisor, shift_id=shift.pk, bonus_per_case_minor=0).code == "invalid"
    services.shift_book(agent=agent, shift_id=shift.pk)

    assert refused(services.shift_boost, user=supervisor, shift_id=shift.pk, bonus_per_case_minor=1000).code == (
        "shift_full"
    )
    shift.refresh_from_db()
    assert shift.bonus_per_case_minor is None


# --- Who hears it on their socket -----------------------------------------------------------------


async def _listen(*agents) -> tuple:
    layer = get_channel_layer()
    channels = []
    for agent in agents:
        channel = await layer.new_channel()
        await layer.group_add(agent_group(agent.pk), channel)
        channels.append(channel)
    return layer, channels


async def _frame(layer, channel) -> dict:
    return (await asyncio.wait_for(layer.receive(channel), 3))["frame"]


async def _nothing(layer, channel, agent) -> None:
    """No frame came for `agent` before this: a marker sent now is the next one they get
    (a group delivers in order, and the services send after their commit, before returning)."""
    await layer.group_send(agent_group(agent.pk), {"type": "push", "frame": {"type": "marker"}})
    assert (await _frame(layer, channel))["type"] == "marker"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_new_shift_reaches_every_connected_agent_who_could_book_it_and_no_one_else(brand, other_brand):
    sync = database_sync_to_async
    supervisor = await sync(supervisor_of)(brand, "acme.sup@example.test")
    able = await sync(AgentFactory)(brands=[brand], available=True, languages=["sv"], skills=["cards"])
    no_skill = await sync(AgentFactory)(brands=[brand], available=True, languages=["sv"])
    no_language = await sync(AgentFactory)(brands=[brand], available=True, languages=["de"], skills=["cards"])
    other = await sync(AgentFactory)(brands=[other_brand], available=True, languages=["sv"], skills=["cards"])
    suspended = await sync(AgentFactory)(
        brands=[brand], available=True, languages=["sv"], skills=["cards"], suspended=True
    )
    deaf_agents = [no_skill, no_language, other, suspended]
    layer, (heard, *deaf) = await _listen(able, *deaf_agents)

    shift = await sync(publish)(supervisor, brand, languages=["en", "sv"], skills=["cards"], hourly_floor_minor=40000)

    frame = await _frame(layer, heard)
    assert frame == {
        "type": "shift.updated",
        "change": "published",
        "shift": {
            "id": shift.pk,
            "brand": "acme",
            "starts_at": frame["shift"]["starts_at"],
            "ends_at": frame["shift"]["ends_at"],
            "languages": ["en", "sv"],
            "skills": ["cards"],
            "slots": 3,
            "booked": 0,
            "status": "open",
            "pay": {"hourly_floor": {"amount": "400.00", "currency": "SEK"}, "bonus_per_case": None},
            "my_booking": None,
        },
    }
    assert datetime.fromisoformat(frame["shift"]["starts_at"]) == shift.starts_at
    for channel, deaf_agent in zip(deaf, deaf_agents, strict=True):
        await _nothing(layer, channel, deaf_agent)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_weekly_pattern_sends_each_week_once(brand):
    sync = database_sync_to_async
    supervisor = await sync(supervisor_of)(brand, "acme.sup@example.test")
    able = await sync(AgentFactory)(brands=[brand], available=True)
    layer, (channel,) = await _listen(able)

    shifts = await sync(services.shift_publish)(
        user=supervisor, brand=brand, terms=terms(at(next_monday(), 9)), weeks=3, time_zone="Europe/Stockholm"
    )

    frames = [await _frame(layer, channel) for _ in shifts]
    assert [f["shift"]["id"] for f in frames] == [s.pk for s in shifts]
    await _nothing(layer, channel, able)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_change_and_a_cancellation_reach_the_booked_agents_and_a_boost_everyone_who_could_book(brand):
    sync = database_sync_to_async
    supervisor = await sync(supervisor_of)(brand, "acme.sup@example.test")
    booked = await sync(AgentFactory)(brands=[brand], available=True)
    left = await sync(AgentFactory)(brands=[brand], available=True)
    idle = await sync(AgentFactory)(brands=[brand], available=True)
    shift = await sync(publish)(supervisor, brand)
    booking = await sync(services.shift_book)(agent=booked, shift_id=shift.pk)
    left_booking = await sync(services.shift_book)(agent=left, shift_id=shift.pk)
    await sync(services.booking_cancel)(agent=left, booking_id=left_booking.pk)
    layer, (to_booked, to_left, to_idle) = await _listen(booked, left, idle)

    await sync(services.shift_update)(user=supervisor, shift_id=shift.pk, hourly_floor_minor=35000)
    updated = await _frame(layer, to_booked)
    assert (updated["change"], updated["shift"]["my_booking"]) == ("updated", booking.pk)
    assert updated["shift"]["pay"]["hourly_floor"] == {"amount": "350.00", "currency": "SEK"}
    await _nothing(layer, to_left, left)
    await _nothing(layer, to_idle, idle)

    await sync(services.shift_boost)(user=supervisor, shift_id=shift.pk, bonus_per_case_minor=1000)
    boosted = {name: await _frame(layer, channel) for name, channel in (("booked", to_booked), ("idle", to_idle))}
    boosted["left"] = await _frame(layer, to_left)
    assert {name: f["change"] for name, f in boosted.items()} == dict.fromkeys(boosted, "boosted")
    assert boosted["booked"]["shift"]["my_booking"] == booking.pk
    assert boosted["idle"]["shift"]["my_booking"] is None
    assert boosted["idle"]["shift"]["pay"]["bonus_per_case"] == {"amount": "10.00", "currency": "SEK"}

    await sync(services.shift_cancel_and_tell)(user=supervisor, shift_id=shift.pk, reason="Office closed")
    cancelled = await _frame(layer, to_booked)
    assert (cancelled["change"], cancelled["shift"]["status"], cancelled["shift"]["my_booking"]) == (
        "cancelled",
        "cancelled",
        None,
    )
    await _nothing(layer, to_left, left)
    await _nothing(layer, to_idle, idle)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_update_that_changes_nothing_and_a_second_cancel_tell_no_one(brand):
    sync = database_sync_to_async
    supervisor = await sync(supervisor_of)(brand, "acme.sup@example.test")
    booked = await sync(AgentFactory)(brands=[brand], available=True)
    shift = await sync(publish)(supervisor, brand)
    await sync(services.shift_book)(agent=booked, shift_id=shift.pk)
    layer, (channel,) = await _listen(booked)

    await sync(services.shift_update)(user=supervisor, shift_id=shift.pk, slots=3, hourly_floor_minor=None)
    await _nothing(layer, channel, booked)
    assert mail.outbox == []

    await sync(services.shift_cancel_and_tell)(user=supervisor, shift_id=shift.pk, reason="Closed")
    assert (await _frame(layer, channel))["change"] == "cancelled"
    await sync(services.shift_cancel_and_tell)(user=supervisor, shift_id=shift.pk, reason="Closed again")
    await _nothing(layer, channel, booked)
    assert len(mail.outbox) == 1


# --- E-mails to booked agents ------------------------------------------------------------------------


def applied_in(agent, language: str, zone: str = "Europe/Stockholm") -> None:
    Application.objects.create(
        user=agent.user,
        status=Application.Status.APPROVED,
        language=language,
        answers={"profile": {"display_name": agent.display_name, "time_zone": zone}},
    )


@pytest.mark.django_db
def test_booked_agents_are_emailed_when_their_shift_is_cancelled(
    brand, supervisor, agent, agent2, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://support.example"
    shift = publish(supervisor, brand, start=at(next_monday() + timedelta(days=1), 9))
    services.shift_book(agent=agent, shift_id=shift.pk)
    applied_in(agent, "en", zone="America/New_York")

    with django_capture_on_commit_callbacks(execute=True):
        services.shift_cancel_and_tell(user=supervisor, shift_id=shift.pk, reason="The office is closed")

    [email] = mail.outbox
    assert email.to == ["ada@example.test"]
    local = shift.starts_at.astimezone(ZoneInfo("America/New_York"))
    assert email.subject.endswith(f"Your shift on {local:%A} {local.day} {local:%B} was cancelled")
    assert "03:00–07:00 (America/New_York)" in email.body  # 09:00 in Stockholm, in the agent's own zone
    assert "The reason given: The office is closed" in email.body
    assert "https://support.example/agent/shifts/" in email.body


@pytest.mark.django_db
def test_a_change_is_emailed_in_the_agents_language_to_those_still_booked(
    brand, supervisor, agent, agent2, django_capture_on_commit_callbacks
):
    shift = publish(supervisor, brand, start=at(next_monday() + timedelta(days=1), 9))
    services.shift_book(agent=agent, shift_id=shift.pk)
    applied_in(agent, "sv")
    gone = services.shift_book(agent=agent2, shift_id=shift.pk)
    services.booking_cancel(agent=agent2, booking_id=gone.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.shift_update(user=supervisor, shift_id=shift.pk, hourly_floor_minor=40000, bonus_per_case_minor=500)

    [email] = mail.outbox
    assert email.to == ["ada@example.test"]
    # Dates come in the agent's language (Django's own Swedish names) and zone.
    assert "tisdag" in email.body.lower() and "09:00–13:00 (Europe/Stockholm)" in email.body
    assert "400.00 SEK" in email.body and "5.00 SEK" in email.body


@pytest.mark.django_db
def test_a_boost_sends_no_email(brand, supervisor, agent, django_capture_on_commit_callbacks):
    shift = publish(supervisor, brand)
    services.shift_book(agent=agent, shift_id=shift.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.shift_boost(user=supervisor, shift_id=shift.pk, bonus_per_case_minor=1000)
    assert mail.outbox == []


# --- The planning page ---------------------------------------------------------------------------------


def week_query(brand, monday: date) -> str:
    return f"{PAGE}?brand={brand.slug}&week={monday.isoformat()}&tz=Europe/Stockholm"


@pytest.mark.django_db
def test_the_supervisor_home_links_to_shift_planning(client, supervisor):
    client.force_login(supervisor)
    assert f'href="{PAGE}"' in client.get("/supervisor/").content.decode()


@pytest.mark.django_db
def test_the_page_shows_the_weeks_shifts_per_day_with_their_terms(client, brand, supervisor):
    agent = AgentFactory(brands=[brand], languages=["sv"], skills=["cards"])
    monday = next_monday()
    tuesday = publish(
        supervisor,
        brand,
        start=at(monday + timedelta(days=1), 9),
        languages=["en", "sv"],
        skills=["cards"],
        hourly_floor_minor=40000,
    )
    publish(supervisor, brand, start=at(monday + timedelta(days=3), 13), bonus_per_case_minor=1000)
    publish(supervisor, brand, start=at(monday + timedelta(days=8), 9))  # next week
    services.shift_book(agent=agent, shift_id=tuesday.pk)
    client.force_login(supervisor)

    page = client.get(week_query(brand, monday)).content.decode()

    assert page.count('data-testid="shift"') == 2
    tuesday_section = page.split(f'data-date="{(monday + timedelta(days=1)).isoformat()}"')[1].split(
        'data-testid="day"'
    )[0]
    assert "09:00–13:00" in tuesday_section
    assert "English, Swedish" in tuesday_section and "Cards" in tuesday_section
    assert "1 of 3" in tuesday_section and "floor 400.00 SEK/h" in tuesday_section
    thursday = page.split(f'data-date="{(monday + timedelta(days=3)).isoformat()}"')[1]
    assert "13:00–17:00" in thursday and "+10.00 SEK per case" in thursday
    assert f"week={(monday - timedelta(days=7)).isoformat()}" in page
    assert f"week={(monday + timedelta(days=7)).isoformat()}" in page


@pytest.mark.django_db
def test_an_empty_week_says_so(client, brand, supervisor):
    client.force_login(supervisor)
    page = client.get(week_query(brand, next_monday()))
    assert page.status_code == 200 and 'data-testid="no-shifts"' in page.content.decode()


def publish_body(brand, monday: date, **change) -> dict:
    body = {
        "brand": brand.slug,
        "week": monday.isoformat(),
        "tz": "Europe/Stockholm",
        "date": (monday + timedelta(days=1)).isoformat(),
        "start_time": "09:00",
        "end_time": "13:00",
        "time_zone": "Europe/Stockholm",
        "languages": ["en", "sv"],
        "skills": ["billing"],
        "slots": "3",
        "hourly_floor": "400.00",
        "bonus_per_case": "",
        "weeks": "3",
    }
    body.update(change)
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.django_db
def test_publishing_a_weekly_pattern_from_the_page_is_audit_logged(client, brand, supervisor):
    monday = next_monday()
    client.force_login(supervisor)

    response = client.post(PAGE, publish_body(brand, monday))

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?brand=acme&week={monday.isoformat()}&tz=Europe%2FStockholm"
    shifts = list(Shift.objects.order_by("starts_at"))
    assert [s.starts_at.astimezone(STOCKHOLM).date() for s in shifts] == [
        monday + timedelta(days=1 + 7 * week) for week in range(3)
    ]
    assert all(s.starts_at.astimezone(STOCKHOLM).hour == 9 for s in shifts)
    assert {
        (tuple(s.languages), tuple(s.skills), s.slots, s.hourly_floor_minor, s.bonus_per_case_minor) for s in shifts
    } == {(("en", "sv"), ("billing",), 3, 40000, None)}
    event = AuditEvent.objects.get(action="shifts.publish")
    assert (event.actor, event.brand, event.target_id) == (supervisor, brand, str(shifts[0].pk))
    assert event.detail["shifts"] == [s.pk for s in shifts] and event.detail["weeks"] == 3
    assert "3 shifts published" in client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_an_end_before_the_start_is_the_next_morning(client, brand, supervisor):
    client.force_login(supervisor)
    client.post(PAGE, publish_body(brand, next_monday(), start_time="22:00", end_time="02:00", weeks="1"))
    shift = Shift.objects.get()
    assert shift.ends_at - shift.starts_at == timedelta(hours=4)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"end_time": "09:00"}, "end_time", "A shift must end after it starts."),
        ({"languages": None}, "languages", "Choose at least one language."),
        ({"slots": "0"}, "slots", "Ensure this value is greater than or equal to 1."),
        ({"hourly_floor": "400.005"}, "hourly_floor", "Too many decimals for SEK."),
        ({"weeks": "13"}, "weeks", "Ensure this value is less than or equal to 12."),
    ],
)
def test_a_refused_publication_shows_why_next_to_the_field_and_keeps_what_was_typed(
    client, brand, supervisor, change, field, message
):
    client.force_login(supervisor)

    response = client.post(PAGE, publish_body(brand, next_monday(), **change))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="publish-error"' in page
    field_html = page.split(f'data-testid="field-{field}"')[1].split('data-testid="field-')[0]
    assert message in field_html
    assert 'value="Europe/Stockholm" selected' in page.split('data-testid="field-time_zone"')[1]
    assert re.search(r'value="sv"[^>]* checked', page) or field == "languages"
    assert 'value="09:00"' in page.split('data-testid="field-start_time"')[1]
    assert not Shift.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_editing_below_the_booked_count_is_refused_next_to_slots(client, brand, supervisor, agent, agent2):
    monday = next_monday()
    shift = publish(supervisor, brand, start=at(monday + timedelta(days=1), 9))
    services.shift_book(agent=agent, shift_id=shift.pk)
    services.shift_book(agent=agent2, shift_id=shift.pk)
    client.force_login(supervisor)

    response = client.post(
        f"{PAGE}{shift.pk}/edit/",
        {
            "week": monday.isoformat(),
            "tz": "Europe/Stockholm",
            f"edit{shift.pk}-slots": "1",
            f"edit{shift.pk}-hourly_floor": "",
            f"edit{shift.pk}-bonus_per_case": "",
        },
    )

    assert response.status_code == 200
    slots = response.content.decode().split('data-testid="edit-slots"')[1].split('data-testid="edit-floor"')[0]
    assert "keep at least 2 slots" in slots and 'value="1"' in slots
    shift.refresh_from_db()
    assert shift.slots == 3 and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_edit_boost_and_cancel_from_the_page_change_the_shift_and_are_audit_logged(
    client, brand, supervisor, agent, django_capture_on_commit_callbacks
):
    monday = next_monday()
    shift = publish(supervisor, brand, start=at(monday + timedelta(days=1), 9), hourly_floor_minor=40000)
    services.shift_book(agent=agent, shift_id=shift.pk)
    client.force_login(supervisor)
    back = {"week": monday.isoformat(), "tz": "Europe/Stockholm"}

    with django_capture_on_commit_callbacks(execute=True):
        edit = client.post(
            f"{PAGE}{shift.pk}/edit/",
            {
                **back,
                f"edit{shift.pk}-slots": "4",
                f"edit{shift.pk}-hourly_floor": "",
                f"edit{shift.pk}-bonus_per_case": "",
            },
        )
    boost = client.post(f"{PAGE}{shift.pk}/boost/", {**back, f"boost{shift.pk}-amount": "10.00"})
    with django_capture_on_commit_callbacks(execute=True):
        cancel = client.post(f"{PAGE}{shift.pk}/cancel/", {**back, f"cancel{shift.pk}-reason": "Storm warning"})

    assert [r.status_code for r in (edit, boost, cancel)] == [302, 302, 302]
    assert edit["Location"] == f"{PAGE}?brand=acme&week={monday.isoformat()}&tz=Europe%2FStockholm"
    shift.refresh_from_db()
    assert (shift.slots, shift.hourly_floor_minor, shift.bonus_per_case_minor) == (4, None, 1000)
    assert (shift.status, shift.cancel_reason) == ("cancelled", "Storm warning")
    assert ShiftBooking.objects.get(agent=agent).status == "cancelled"
    events = {e.action: e for e in AuditEvent.objects.all()}
    assert set(events) == {"shifts.update", "shifts.boost", "shifts.cancel"}
    assert events["shifts.update"].detail == {
        "before": {"slots": 3, "hourly_floor_minor": 40000, "bonus_per_case_minor": None},
        "after": {"slots": 4, "hourly_floor_minor": None, "bonus_per_case_minor": None},
    }
    assert events["shifts.boost"].detail["bonus_per_case_minor"] == 1000
    assert events["shifts.cancel"].detail == {"reason": "Storm warning", "bookings_cancelled": 1}
    assert all(e.actor == supervisor and e.target_id == str(shift.pk) for e in events.values())
    assert len(mail.outbox) == 2  # the booked agent heard of the change and of the cancellation
    assert "Storm warning" in client.get(edit["Location"]).content.decode()


@pytest.mark.django_db
def test_cancelling_needs_a_reason_and_a_full_shift_cannot_be_boosted(client, brand, supervisor, agent):
    monday = next_monday()
    shift = publish(supervisor, brand, start=at(monday + timedelta(days=1), 9), slots=1)
    services.shift_book(agent=agent, shift_id=shift.pk)
    client.force_login(supervisor)
    back = {"week": monday.isoformat(), "tz": "Europe/Stockholm"}

    cancel = client.post(f"{PAGE}{shift.pk}/cancel/", {**back, f"cancel{shift.pk}-reason": "  "})
    boost = client.post(f"{PAGE}{shift.pk}/boost/", {**back, f"boost{shift.pk}-amount": "10.00"})

    assert "Say why; the booked agents see it." in cancel.content.decode()
    assert 'data-testid="action-error">This shift is full.' in boost.content.decode()
    shift.refresh_from_db()
    assert (shift.status, shift.bonus_per_case_minor) == ("open", None)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_staff_plan_every_brand(client, brand, other_brand):
    staff = UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True)
    client.force_login(staff)
    page = client.get(f"{PAGE}?brand=globex").content.decode()
    assert 'value="acme"' in page and 'value="globex" selected' in page


# --- Outsiders --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client, brand, supervisor):
    shift = publish(supervisor, brand)
    for response in (client.get(PAGE), client.post(f"{PAGE}{shift.pk}/boost/")):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_an_agent_is_refused(client, brand, supervisor, agent):
    shift = publish(supervisor, brand)
    client.force_login(agent.user)
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}{shift.pk}/boost/", {f"boost{shift.pk}-amount": "10"}).status_code == 403
    assert Shift.objects.get().bonus_per_case_minor is None


@pytest.mark.django_db
def test_a_supervisor_of_another_brand_sees_only_their_own_and_cannot_touch_ours(
    client, brand, other_brand, supervisor
):
    shift = publish(supervisor, brand)
    outsider = supervisor_of(other_brand, "globex.sup@example.test")
    client.force_login(outsider)

    own = client.get(PAGE).content.decode()
    assert 'value="globex" selected' in own and 'value="acme"' not in own
    assert client.get(f"{PAGE}?brand=acme").status_code == 404
    assert client.post(PAGE, publish_body(brand, next_monday())).status_code == 404
    for action, body in (
        ("edit", {f"edit{shift.pk}-slots": "9"}),
        ("boost", {f"boost{shift.pk}-amount": "10"}),
        ("cancel", {f"cancel{shift.pk}-reason": "mine now"}),
    ):
        assert client.post(f"{PAGE}{shift.pk}/{action}/", body).status_code == 404
    shift.refresh_from_db()
    assert (shift.status, shift.slots, shift.bonus_per_case_minor) == ("open", 3, None)
    assert Shift.objects.count() == 1 and not AuditEvent.objects.exists()
