"""Rules that no other test held in place: each test here fails when its rule is removed."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from agents import services as agent_services
from agents.models import AgentProfile, Application, AssessmentAttempt, AssessmentQuestion
from marketplace.errors import DomainError
from marketplace.models import User
from payouts.models import Earning, RateCard, RateLine
from payouts.services import earning_credit
from tasks import selectors, services
from tasks.models import Offer, Ticket

from .factories import AgentFactory, BrandFactory, TicketFactory, UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db


def pending_offer(ticket):
    return Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)


def customer(name):
    return {"customer": {"external_id": name, "name": name.title()}}


def expire(offer):
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.offers_expire_due() == 1


# --- Pay -------------------------------------------------------------------------------------


def test_a_category_rate_overrides_the_brand_default_rate(brand, handover):
    RateLine.objects.create(card=RateCard.objects.get(brand=brand), category="cards", amount_minor=6000)  # default 4500
    AgentFactory(brands=[brand], available=True, capacity=2)
    assert pending_offer(handover(**customer("a"), category="cards")).pay_amount_minor == 6000
    assert pending_offer(handover(**customer("b"), category="billing")).pay_amount_minor == 4500


def test_a_retried_credit_for_the_same_resolution_returns_the_first_and_adds_nothing(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=pending_offer(ticket).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    first = Earning.objects.get(ticket=ticket)

    # A retry runs inside its own resolve transaction: the duplicate must neither raise nor
    # poison that transaction, which goes on to do more work.
    with transaction.atomic():
        again = earning_credit(ticket=ticket, agent=agent, amount_minor=9999)
        assert Ticket.objects.filter(pk=ticket.pk).exists()

    assert again.pk == first.pk and again.amount_minor == 4500
    assert list(Earning.objects.filter(ticket=ticket).values_list("kind", "amount_minor")) == [("case", 4500)]


# --- Offers ----------------------------------------------------------------------------------


def test_a_brands_own_offer_timeout_sets_the_offer_expiry(brand, handover, settings):
    settings.OFFER_TIMEOUT_SECONDS = 20
    brand.offer_timeout_seconds = 45
    brand.save(update_fields=["offer_timeout_seconds"])
    AgentFactory(brands=[brand], available=True)
    offer = pending_offer(handover())
    assert (offer.expires_at - offer.created_at).total_seconds() == pytest.approx(45, abs=1)


def test_a_decline_resets_the_streak_of_missed_offers(brand, handover, settings):
    settings.MAX_TIMEOUTS_IN_ROW = 3
    agent = AgentFactory(brands=[brand], available=True, capacity=3)
    expire(pending_offer(handover(**customer("a"))))
    expire(pending_offer(handover(**customer("b"))))
    agent.refresh_from_db()
    assert agent.consecutive_timeouts == 2

    services.offer_decline(agent=agent, offer_id=pending_offer(handover(**customer("c"))).pk)
    agent.refresh_from_db()
    assert agent.consecutive_timeouts == 0
    # Without the reset this would be the third miss in a row and set the agent away.
    expire(pending_offer(handover(**customer("d"))))
    agent.refresh_from_db()
    assert agent.status == AgentProfile.Status.AVAILABLE and agent.consecutive_timeouts == 1


# --- Agents ----------------------------------------------------------------------------------


def test_a_suspended_agent_cannot_go_available(brand):
    agent = AgentFactory(brands=[brand], status=AgentProfile.Status.AWAY, connections=1, suspended=True)
    with pytest.raises(DomainError) as refused:
        services.presence_set(agent=agent, status="available")
    assert refused.value.code == "suspended"
    agent.refresh_from_db()
    assert agent.status == AgentProfile.Status.AWAY


def test_cancelling_an_assigned_ticket_gives_the_agent_the_slot_and_the_next_ticket(brand, handover):
    agent = AgentFactory(brands=[brand], available=True, capacity=1)
    working = handover(**customer("a"))
    services.offer_accept(agent=agent, offer_id=pending_offer(working).pk)
    waiting = handover(**customer("b"))
    assert waiting.status == Ticket.Status.QUEUED  # the agent is full

    services.ticket_cancel(ticket_id=working.pk, brand=brand)

    working.refresh_from_db()
    agent.refresh_from_db()
    assert working.status == Ticket.Status.CANCELLED
    assert pending_offer(waiting).agent == agent
    assert agent.load == 1  # the cancelled chat's slot, now taken by the new offer


# --- Queue -----------------------------------------------------------------------------------


def test_queue_position_counts_only_the_same_brand_and_language(brand):
    other_brand = BrandFactory(slug="initech")
    first_en = TicketFactory(brand=brand, language="en")
    TicketFactory(brand=other_brand, language="en")
    TicketFactory(brand=brand, language="sv")
    second_en = TicketFactory(brand=brand, language="en")
    other_en = TicketFactory(brand=other_brand, language="en")
    second_sv = TicketFactory(brand=brand, language="sv")

    expected = {first_en.pk: 1, second_en.pk: 2, other_en.pk: 2, second_sv.pk: 2}
    # The customer's snapshot and the sweeper's broadcast count the same way.
    assert {pk: selectors.queue_position(Ticket.objects.get(pk=pk)) for pk in expected} == expected
    positions = selectors.queue_positions()
    assert {pk: positions[pk] for pk in expected} == expected


# --- Vetting ---------------------------------------------------------------------------------


def test_approval_certifies_only_brands_the_applicant_chose_and_the_approver_supervises(brand, other_brand):
    unchosen = BrandFactory(slug="hooli")
    supervisor = UserFactory(email="sup@example.test", role=User.Role.SUPERVISOR)
    brand.supervisors.add(supervisor)
    unchosen.supervisors.add(supervisor)  # supervised, but not chosen
    applicant = UserFactory(email="sara@example.test", role=User.Role.APPLICANT)
    application = agent_services.application_for(user=applicant)
    answers = answers_for(brand)
    answers["brands"]["brands"].append({"brand_id": other_brand.pk, "why": "Chosen, but not this supervisor's."})
    Application.objects.filter(pk=application.pk).update(answers=answers)
    application.refresh_from_db()
    agent_services.application_submit(application=application)

    agent_services.application_decide(application=application, supervisor=supervisor, decision="approve")

    profile = AgentProfile.objects.get(user=applicant)
    assert list(profile.brands.all()) == [brand]


# --- Assessments -----------------------------------------------------------------------------


@pytest.fixture
def attempt_due(brand):
    """Start an assessment (one multiple-choice question) for a new applicant; return a
    function that hands it in as if its deadline was `seconds_ago`."""
    question = AssessmentQuestion.objects.create(
        brand=brand, kind="choice", prompt="Q", options=["a", "b"], correct_option=1
    )
    made = 0

    def hand_in(seconds_ago: float):
        nonlocal made
        made += 1
        user = UserFactory(email=f"late{made}@example.test", role=User.Role.APPLICANT)
        application = agent_services.application_for(user=user)
        Application.objects.filter(pk=application.pk).update(answers=answers_for(brand))
        application = agent_services.application_submit(application=application)
        attempt = agent_services.assessment_start(application=application, brand=brand)
        AssessmentAttempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - timedelta(seconds=seconds_ago))
        return agent_services.assessment_submit(attempt_id=attempt.pk, user=user, answers={str(question.pk): 1})

    return hand_in


def test_answers_inside_the_assessment_grace_period_count(attempt_due, settings):
    settings.ASSESSMENT_GRACE_SECONDS = 30
    attempt = attempt_due(seconds_ago=25)
    assert attempt.status == AssessmentAttempt.Status.GRADED and attempt.passed


def test_answers_just_after_the_assessment_grace_period_are_refused(attempt_due, settings):
    settings.ASSESSMENT_GRACE_SECONDS = 30
    with pytest.raises(DomainError) as refused:
        attempt_due(seconds_ago=35)
    assert refused.value.code == "assessment_expired"
