"""Nobody waits forever for a narrow match: a ticket nobody took within WIDEN_AFTER_SECONDS
drops its skill tags, then the brand's tier floor, gets the brand's surge bonus once, is
offered again at once, and the brand's supervisors are e-mailed (at most once per
WIDEN_ALERT_MINUTES)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import AgentProfile
from tasks import frames, services
from tasks.models import Offer, SupervisorAlert, Ticket, TicketEvent
from tasks.sweeper import Sweeper

from .factories import AgentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = TicketEvent.Kind


def _pending(ticket) -> Offer | None:
    return Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).first()


def _age(ticket, seconds: float = 61) -> None:
    """As if the ticket had entered the queue (and taken its last step) `seconds` ago."""
    past = timezone.now() - timedelta(seconds=seconds)
    Ticket.objects.filter(pk=ticket.pk).update(queued_at=past, widened_at=None if ticket.widened_at is None else past)
    ticket.refresh_from_db()


def _step_again(ticket) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(widened_at=timezone.now() - timedelta(seconds=61))


def _kinds(ticket) -> list[str]:
    return list(TicketEvent.objects.filter(ticket=ticket).order_by("id").values_list("kind", flat=True))


@pytest.fixture(autouse=True)
def _widen_rules(settings):
    settings.WIDEN_AFTER_SECONDS = 60
    settings.WIDEN_ALERT_MINUTES = 10
    settings.SITE_URL = "https://help.example.com"


def test_a_skilled_ticket_goes_to_an_unskilled_agent_once_the_widen_time_has_passed(brand, handover):
    unskilled = AgentFactory(brands=[brand], available=True, skills=[])
    ticket = handover(tags=["cards"])
    assert _pending(ticket) is None

    services.tickets_widen_due()
    assert _pending(ticket) is None  # not yet: the ticket has only just arrived

    _age(ticket)
    assert services.tickets_widen_due() == 1

    ticket.refresh_from_db()
    assert _pending(ticket).agent_id == unskilled.pk
    assert ticket.widen_level == 1 and ticket.tags == ["cards"]  # kept for the record
    assert _kinds(ticket)[0] == Kind.WIDENED_SKILLS


def test_the_brand_tier_floor_is_dropped_on_the_second_step(brand, handover):
    brand.dispatch_min_tier = "standard"
    brand.save()
    probation = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.PROBATION, capacity=1)
    ticket = handover(tags=["cards"])
    assert _pending(ticket) is None

    _age(ticket)
    services.tickets_widen_due()
    assert _pending(ticket) is None  # skills dropped, but below the floor still
    services.tickets_widen_due()
    assert _pending(ticket) is None  # the next step waits its own WIDEN_AFTER_SECONDS

    _step_again(ticket)
    services.tickets_widen_due()

    ticket.refresh_from_db()
    assert ticket.widen_level == 2
    assert _pending(ticket).agent_id == probation.pk


def test_a_ticket_without_tags_goes_straight_to_the_tier_step(brand, handover):
    brand.dispatch_min_tier = "expert"
    brand.save()
    standard = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.STANDARD)
    ticket = handover()
    assert _pending(ticket) is None

    _age(ticket)
    services.tickets_widen_due()

    assert _pending(ticket).agent_id == standard.pk
    assert Kind.WIDENED_SKILLS not in _kinds(ticket) and Kind.WIDENED_TIERS in _kinds(ticket)


def test_the_tier_floor_holds_for_tickets_not_widened(brand, handover):
    brand.dispatch_min_tier = "standard"
    brand.save()
    AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.PROBATION)
    expert = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.EXPERT, quality_score=1)

    assert _pending(handover()).agent_id == expert.pk


def test_supervisors_get_one_email_per_throttle_window_listing_the_tickets_with_links(
    brand, handover, supervisor, mailoutbox, django_capture_on_commit_callbacks
):
    second_supervisor = UserFactory(email="sup2@example.test", role="supervisor")
    brand.supervisors.add(second_supervisor)
    first, second = handover(tags=["cards"]), handover(tags=["billing"], customer={"external_id": "c2", "name": "Bo"})
    _age(first)
    _age(second)

    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert sorted(email.to) == ["sup2@example.test", "sup@example.test"]
    assert "2 tickets" in email.subject
    assert "skill tags cards dropped" in email.body and "skill tags billing dropped" in email.body
    for ticket in (first, second):
        assert f"https://help.example.com/supervisor/tickets/{ticket.pk}/" in email.body

    # Widened again within the window: no second e-mail, the ticket waits for the next one.
    _step_again(first)
    third = handover(customer={"external_id": "c3", "name": "Cy"})
    _age(third)
    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()
    assert len(mailoutbox) == 1

    SupervisorAlert.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()
    assert len(mailoutbox) == 2
    assert f"/supervisor/tickets/{third.pk}/" in mailoutbox[1].body
    assert f"/supervisor/tickets/{second.pk}/" not in mailoutbox[1].body


def test_other_brands_supervisors_hear_nothing(
    brand, other_brand, handover, supervisor, mailoutbox, django_capture_on_commit_callbacks
):
    other = UserFactory(email="other-sup@example.test", role="supervisor")
    other_brand.supervisors.add(other)
    _age(handover(tags=["cards"]))

    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()

    assert [m.to for m in mailoutbox] == [["sup@example.test"]]


def test_the_surge_bonus_is_added_once_and_shows_in_the_offer_pay(brand, handover):
    brand.surge_bonus_minor = 1500
    brand.save()
    brand.dispatch_min_tier = "expert"
    brand.save()
    agent = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.STANDARD)
    ticket = handover(tags=["cards"])
    _age(ticket)

    services.tickets_widen_due()  # skills: still below the floor, surge added
    _step_again(ticket)
    services.tickets_widen_due()  # tiers: offered

    ticket.refresh_from_db()
    offer = _pending(ticket)
    assert offer.agent_id == agent.pk
    assert ticket.surge_bonus_minor == 1500
    assert frames.offer_frame(offer, ticket)["pay"] == {"amount": "60.00", "currency": "SEK"}  # 45.00 + 15.00
    assert _kinds(ticket).count(Kind.SURGE_ADDED) == 1


def test_a_brand_without_surge_pays_the_rate_card(brand, handover):
    AgentFactory(brands=[brand], available=True)
    ticket = handover(tags=["cards"])
    _age(ticket)
    services.tickets_widen_due()
    assert _pending(ticket).pay_amount_minor == 4500
    assert Kind.SURGE_ADDED not in _kinds(ticket)


def test_every_step_is_recorded_in_order(brand, handover, supervisor, django_capture_on_commit_callbacks):
    brand.dispatch_min_tier = "expert"
    brand.surge_bonus_minor = 1000
    brand.save()
    ticket = handover(tags=["cards"])
    _age(ticket)
    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()
    _step_again(ticket)
    SupervisorAlert.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        services.tickets_widen_due()

    assert _kinds(ticket) == [
        Kind.WIDENED_SKILLS,
        Kind.SURGE_ADDED,
        Kind.SUPERVISORS_ALERTED,
        Kind.WIDENED_TIERS,
        Kind.SUPERVISORS_ALERTED,
    ]
    skills = TicketEvent.objects.get(ticket=ticket, kind=Kind.WIDENED_SKILLS)
    assert skills.detail == {"ignored_tags": ["cards"]}
    # Nothing is left to widen: the sweep leaves it alone from now on.
    _step_again(ticket)
    assert services.tickets_widen_due() == 0


def test_a_ticket_that_found_an_agent_is_never_widened(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, skills=["cards"], capacity=2)
    assigned = handover(tags=["cards"])
    services.offer_accept(agent=agent, offer_id=_pending(assigned).pk)
    offered = handover(tags=["cards"], customer={"external_id": "c2", "name": "Bo"})
    assert _pending(offered) is not None
    for ticket in (assigned, offered):
        _age(ticket, 600)

    assert services.tickets_widen_due() == 0
    for ticket in (assigned, offered):
        ticket.refresh_from_db()
        assert ticket.widen_level == 0 and _kinds(ticket) == []


def test_the_embedded_sweeper_widens_too(brand, handover, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # embedded mode: no beat
    unskilled = AgentFactory(brands=[brand], available=True)
    ticket = handover(tags=["cards"])
    _age(ticket)

    result = Sweeper().sweep_once()

    assert result["widened"] == 1
    assert _pending(ticket).agent_id == unskilled.pk


def test_with_a_broker_the_sweeper_leaves_widening_to_beat(brand, handover, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    ticket = handover(tags=["cards"])
    _age(ticket)
    assert "widened" not in Sweeper().sweep_once()
    ticket.refresh_from_db()
    assert ticket.widen_level == 0


def test_the_widen_scan_is_served_by_its_partial_index(brand):
    for _ in range(3):
        TicketFactory(brand=brand)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM tasks_ticket WHERE status = 'queued' AND widen_level < 2 "
            "AND queued_at <= now() ORDER BY queued_at"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "ticket_widen_due_idx" in plan


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_take_each_step_exactly_once(brand, supervisor, mailoutbox):
    tickets = [TicketFactory(brand=brand, tags=["cards"]) for _ in range(12)]
    for ticket in tickets:
        _age(ticket)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sweep():
        try:
            barrier.wait()
            services.tickets_widen_due()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    alert = SupervisorAlert.objects.get()
    assert len(mailoutbox) == 1
    for ticket in tickets:
        kinds = _kinds(ticket)
        ticket.refresh_from_db()
        # Each step exactly once. A ticket that one sweep widened while the other was taking
        # the alert is not in it: like any ticket widened after an alert, it stays pending
        # for the next one. None is listed twice, none is forgotten.
        assert kinds.count(Kind.WIDENED_SKILLS) == 1 and kinds.count(Kind.SUPERVISORS_ALERTED) <= 1
        assert (ticket.pk in alert.ticket_ids) == (Kind.SUPERVISORS_ALERTED in kinds) != ticket.widen_alert_pending


def test_brand_tier_choices_are_the_agent_tiers():
    from marketplace.models import Brand

    assert [v for v in Brand.DispatchTier.values if v] == list(AgentProfile.Tier.values)
