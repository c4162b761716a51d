"""Versioned rate cards: a case is paid by the card in force when its offer was made, times
the agent's tier multiplier, plus surge; the offer shows exactly that, and the earning keeps
the calculation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payouts.models import Earning, RateCard
from payouts.services import case_pay
from payouts.services.rates import rate_card_create
from tasks import frames, services
from tasks.models import Offer, Ticket
from tasks.services.dispatch import ticket_dispatch

from .factories import AgentFactory, BrandFactory

pytestmark = pytest.mark.django_db


def offer_of(ticket: Ticket) -> Offer:
    return Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)


def resolve(agent, ticket) -> Earning:
    services.offer_accept(agent=agent, offer_id=offer_of(ticket).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    return Earning.objects.get(ticket=ticket, kind=Earning.Kind.CASE)


def test_the_expert_multiplier_is_applied_and_rounded_half_up_to_a_whole_minor_unit():
    brand = BrandFactory(rate=4500)
    rate_card_create(
        brand_id=brand.pk,
        lines={"": 4500, "cards": 6005},
        multipliers={"expert": Decimal("1.25")},
        effective_from=timezone.now() - timedelta(minutes=1),
    )
    pay = case_pay(brand_id=brand.pk, category="cards", tier="expert")
    # 6005 * 1.25 = 7506.25 -> 7506
    assert pay.amount_minor == 7506
    assert pay.calculation["base_minor"] == 6005
    assert pay.calculation["multiplier"] == "1.25"
    assert pay.calculation["tier_bonus_minor"] == 1501
    assert case_pay(brand_id=brand.pk, category="cards", tier="probation").amount_minor == 6005
    assert case_pay(brand_id=brand.pk, category="unknown", tier="standard").amount_minor == 4500


def test_a_card_taking_force_later_does_not_change_an_offer_already_made(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover(category="")
    assert offer_of(ticket).pay_amount_minor == 4500

    rate_card_create(brand_id=brand.pk, lines={"": 9900}, effective_from=timezone.now())
    earning = resolve(agent, ticket)

    assert earning.amount_minor == 4500
    assert earning.calculation["base_minor"] == 4500
    # The next case is offered by the new card.
    second = handover(customer={"external_id": "c-2", "name": "Ola"}, category="")
    assert offer_of(second).pay_amount_minor == 9900


def test_a_card_dated_in_the_future_is_not_used_before_its_time(brand):
    rate_card_create(brand_id=brand.pk, lines={"": 1}, effective_from=timezone.now() + timedelta(days=1))
    assert case_pay(brand_id=brand.pk, category="", tier="standard").amount_minor == 4500


def test_the_offer_frame_shows_exactly_what_the_earning_credits_including_tier_and_surge(brand, handover):
    RateCard.objects.filter(brand=brand).update(multiplier_expert=Decimal("1.20"))
    ticket = handover(category="")  # nobody online yet: it waits
    Ticket.objects.filter(pk=ticket.pk).update(surge_bonus_minor=1000)  # as a widening step does
    agent = AgentFactory(brands=[brand], available=True, tier="expert")

    offer = ticket_dispatch(ticket_id=ticket.pk)

    assert offer is not None and offer.agent_id == agent.pk
    frame = frames.offer_frame(offer, ticket=Ticket.objects.select_related("brand").get(pk=ticket.pk))
    assert frame["pay"] == {"amount": "64.00", "currency": "SEK"}  # 45.00 x 1.20 + 10.00 surge
    earning = resolve(agent, ticket)
    assert earning.amount_minor == 6400
    assert earning.calculation["surge_minor"] == 1000
    assert earning.calculation["multiplier"] == "1.20"


def test_the_demo_card_pays_sixty_crowns_for_cards_and_a_fifth_more_to_an_expert(db):
    from django.core.management import call_command

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    from marketplace.models import Brand

    demo = Brand.objects.get(slug="demo")
    assert case_pay(brand_id=demo.pk, category="cards", tier="standard").amount_minor == 6000
    assert case_pay(brand_id=demo.pk, category="cards", tier="expert").amount_minor == 7200


def test_the_demo_agent_has_pay_to_cash_out_and_a_valid_bank_account_and_a_second_seed_adds_nothing(db):
    from django.core.management import call_command

    from agents.models import AgentProfile
    from payouts.models import PayoutMethod
    from payouts.selectors import earnings_summary

    for _ in range(2):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    alex = AgentProfile.objects.get(user__email="agent1@demo.test")

    summary = earnings_summary(agent_id=alex.pk, currency="SEK")
    assert [line.status for line in summary.lines] == ["pending", "available", "available"]
    assert (summary.available, summary.pending) == (11500, 6000)
    for agent in AgentProfile.objects.filter(user__email__endswith="@demo.test"):
        method = PayoutMethod.objects.get(agent=agent, removed_at__isnull=True)
        assert method.kind == "iban" and method.iban.startswith("SE")
