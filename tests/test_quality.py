"""Quality rules end to end at the service level: the customer's confirmation and rating,
premature resolution, QA sampling, scoring and disputes, the score, tiers and cases for a
human, warnings, suspensions and appeals."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agents.models import AgentProfile, Appeal, QualityFlag, QualityScoreChange, Review, Sanction
from agents.quality import rules
from agents.quality import services as quality
from marketplace.errors import DomainError
from marketplace.models import AuditEvent
from payouts.models import Earning
from tasks import services
from tasks.models import Offer, Resolution, Ticket

from .factories import AgentFactory, TicketFactory, UserFactory
from .quality_helpers import FULL, open_review, resolve

# Scores and tiers are recomputed by a job enqueued on commit: the tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


def refused(code: str, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


@pytest.fixture
def second_supervisor(brand):
    user = UserFactory(email="sup2@example.test", role="supervisor", is_staff=True)
    brand.supervisors.add(user)
    return user


@pytest.fixture
def other_supervisor(other_brand):
    user = UserFactory(email="globex-sup@example.test", role="supervisor", is_staff=True)
    other_brand.supervisors.add(user)
    return user


# --- The arithmetic ----------------------------------------------------------------------------


def test_a_scorecard_is_weighed_with_the_brands_weights():
    weights = {"accuracy": 3, "empathy": 1, "policy": 0, "tone": 1}
    # (4*3 + 2*1 + 0*0 + 1*1) / (4 * 5) = 15/20
    assert rules.review_percent({"accuracy": 4, "empathy": 2, "policy": 0, "tone": 1}, weights) == Decimal("75.00")
    assert rules.review_percent(FULL, weights) == Decimal("100.00")


def test_a_new_agent_starts_at_the_prior_and_a_few_ratings_move_it_only_a_little(settings):
    settings.QUALITY_PRIOR_MEAN, settings.QUALITY_PRIOR_WEIGHT = 4.0, 10.0
    assert rules.quality_score([], []) == Decimal("4.000")
    # (40 + 1 + 1) / 12
    assert rules.quality_score([1, 1], []) == Decimal("3.500")
    # A review of 100% counts as QUALITY_REVIEW_WEIGHT (3) ratings of 5: (40 + 15) / 13
    settings.QUALITY_REVIEW_WEIGHT = 3.0
    assert rules.quality_score([], [Decimal(100)]) == Decimal("4.231")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    ratings=st.lists(st.integers(min_value=1, max_value=5), max_size=60),
    reviews=st.lists(st.decimals(min_value=0, max_value=100, places=2), max_size=15),
    new=st.integers(min_value=1, max_value=5),
)
def test_the_score_stays_within_1_and_5_and_moves_toward_each_new_rating(ratings, reviews, new):
    before = rules.quality_score(ratings, reviews)
    after = rules.quality_score([*ratings, new], reviews)
    assert Decimal(1) <= before <= Decimal(5) and Decimal(1) <= after <= Decimal(5)
    tolerance = Decimal("0.001")  # rounding to three decimals
    if new > before:
        assert before - tolerance <= after <= new
    elif new < before:
        assert new <= after <= before + tolerance
    # One rating moves the score at most 1/(prior weight + 1) of the way to itself: a few
    # ratings do not swing it, and the more history, the less each one weighs.
    weight = (
        Decimal(str(settings.QUALITY_PRIOR_WEIGHT))
        + len(ratings)
        + Decimal(str(settings.QUALITY_REVIEW_WEIGHT)) * len(reviews)
    )
    assert abs(after - before) <= abs(new - before) / (weight + 1) + tolerance


def test_the_sample_is_stable_and_near_its_share():
    keys = [f"{n}:1" for n in range(4000)]
    picked = [k for k in keys if rules.sampled(key=k, percent=20)]
    assert 0.17 < len(picked) / len(keys) < 0.23
    assert picked == [k for k in keys if rules.sampled(key=k, percent=20)]
    assert not any(rules.sampled(key=k, percent=0) for k in keys[:200])
    assert all(rules.sampled(key=k, percent=100) for k in keys[:200])


def test_standing_takes_volume_and_quality_never_acceptance():
    thresholds = {
        "standard": rules.Threshold(30, Decimal("4.0")),
        "expert": rules.Threshold(200, Decimal("4.5"), 5),
    }
    low = rules.standing(thresholds, cases=12, score=Decimal("4.2"), reviews=0)
    assert (low.reached, low.next_tier) == ("probation", "standard")
    assert [(n.criterion, n.met) for n in low.needs] == [("resolved_cases", False), ("quality_score", True)]
    top = rules.standing(thresholds, cases=250, score=Decimal("4.6"), reviews=5)
    assert (top.reached, top.next_tier, top.needs) == ("expert", None, [])
    strict = rules.strictest(
        [thresholds, {"standard": rules.Threshold(10, Decimal("4.3")), "expert": rules.Threshold(300, Decimal("4"))}]
    )
    assert strict["standard"] == rules.Threshold(30, Decimal("4.3")) and strict["expert"].min_cases == 300


# --- The customer: confirm, rate, reopen --------------------------------------------------------


def test_each_resolution_is_recorded_and_the_customer_confirms_then_rates(brand, agent):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    ticket = resolve(agent, brand, confirm=True)
    resolution = Resolution.objects.get(ticket=ticket)
    assert (ticket.status, resolution.number, resolution.agent_id) == ("closed", 1, agent.pk)
    assert (resolution.outcome, resolution.confirmed_by) == ("confirmed", "customer")
    refused("already_confirmed", services.ticket_confirm, ticket=ticket)
    # Confirming first still lets the customer rate, once.
    services.ticket_rate(ticket=ticket, score=4, comment="Quick and kind")
    resolution.refresh_from_db()
    assert (resolution.rating, resolution.rating_comment) == (4, "Quick and kind")
    refused("already_rated", services.ticket_rate, ticket=ticket, score=5)
    assert Resolution.objects.get(ticket=ticket).rating == 4


def test_rating_refusals_change_nothing(brand, agent):
    waiting = TicketFactory(brand=brand)
    refused("ticket_not_resolved", services.ticket_rate, ticket=waiting, score=4)
    refused("ticket_not_resolved", services.ticket_confirm, ticket=waiting)
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    ticket = resolve(agent, brand)
    for bad in (0, 6, "5", True, None, 4.5):
        refused("invalid_score", services.ticket_rate, ticket=ticket, score=bad)
    # Past the window the case closes unrated, and then it can no longer be rated.
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    services.tickets_close_after_window()
    ticket.refresh_from_db()
    refused("rating_window_passed", services.ticket_rate, ticket=ticket, score=5)
    assert Resolution.objects.get(ticket=ticket).rating is None
    assert Ticket.objects.get(pk=ticket.pk).rating is None


def test_no_answer_confirms_at_the_end_of_the_window(brand, agent):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    ticket = resolve(agent, brand)
    assert services.tickets_close_after_window() == 0
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(hours=73))
    assert services.tickets_close_after_window() == 1
    resolution = Resolution.objects.get(ticket=ticket)
    assert (resolution.outcome, resolution.confirmed_by) == ("confirmed", "window")
    assert services.tickets_close_after_window() == 0


def test_a_premature_resolution_costs_its_pay_goes_back_to_the_same_agent_and_is_always_reviewed(brand, agent, agent2):
    for a in (agent, agent2):
        a.status, a.connections = AgentProfile.Status.AVAILABLE, 1
        a.save()
    AgentProfile.objects.filter(pk=agent2.pk).update(status=AgentProfile.Status.AWAY)
    ticket = resolve(agent, brand, rating=5)
    AgentProfile.objects.filter(pk=agent2.pk).update(status=AgentProfile.Status.AVAILABLE)
    services.ticket_reopen(ticket=ticket)
    first = Resolution.objects.get(ticket=ticket, number=1)
    assert first.outcome == "reopened" and first.rating == 5
    # The pay of that resolution is reversed in the ledger's Earning rows.
    assert Earning.objects.filter(ticket=ticket, agent=agent, kind=Earning.Kind.REVERSAL).count() == 1
    # Offered to the agent who resolved it first, though the other one is idle longer.
    assert Offer.objects.filter(ticket=ticket, state=Offer.State.PENDING).get().agent_id == agent.pk
    assert quality.reviews_sample_due() == 1
    review = Review.objects.get(resolution=first)
    assert (review.reason, review.agent_id) == (Review.Reason.REOPENED, agent.pk)


# --- Sampling ----------------------------------------------------------------------------------


def test_low_ratings_are_always_sampled_each_case_once_and_a_later_rating_is_seen(brand, agent, settings):
    brand.qa_sample_percent = brand.qa_sample_probation_percent = 0
    brand.save()
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    fine = resolve(agent, brand, rating=4)
    confirmed_only = resolve(agent, brand, confirm=True)
    low = resolve(agent, brand, rating=2)
    assert quality.reviews_sample_due() == 1
    assert quality.reviews_sample_due() == 0
    assert list(Review.objects.values_list("ticket_id", "reason")) == [(low.pk, "low_rating")]
    # The customer who confirmed without rating rates 1 later: that case reaches QA too.
    services.ticket_rate(ticket=confirmed_only, score=1)
    assert quality.reviews_sample_due() == 1
    assert set(Review.objects.values_list("ticket_id", flat=True)) == {low.pk, confirmed_only.pk}
    assert not Review.objects.filter(ticket=fine).exists()


def test_probation_agents_are_sampled_at_their_share(brand, settings):
    brand.qa_sample_probation_percent, brand.qa_sample_percent = 100, 0
    brand.save()
    rookie = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.PROBATION, capacity=1)
    ticket = resolve(rookie, brand, rating=5)
    assert quality.reviews_sample_due() == 1
    assert Review.objects.get().reason == Review.Reason.SAMPLE and Review.objects.get().ticket_id == ticket.pk


def test_an_unconfirmed_case_waits_for_the_window_before_sampling(brand, agent):
    brand.qa_sample_percent = 100
    brand.save()
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    ticket = resolve(agent, brand)
    assert quality.reviews_sample_due() == 0
    Resolution.objects.filter(ticket=ticket).update(resolved_at=timezone.now() - timedelta(hours=73))
    assert quality.reviews_sample_due() == 1


# --- Reviews and disputes ------------------------------------------------------------------------


def test_a_supervisor_scores_with_feedback_and_the_score_moves(brand, agent, supervisor, settings):
    brand.qa_weight_accuracy = 2
    brand.save()
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    review = open_review(agent, brand, rating=2)
    agent.refresh_from_db()
    after_rating = agent.quality_score
    assert after_rating < Decimal("4.000")
    change = QualityScoreChange.objects.get(agent=agent)
    assert (change.cause, change.ticket_id, change.detail) == ("rating", review.ticket_id, {"rating": 2})

    scored = quality.review_score(
        user=supervisor,
        review_id=review.pk,
        scores={"accuracy": 4, "empathy": 2, "policy": 3, "tone": 3},
        feedback="Right answer; acknowledge the frustration first.",
    )
    # (4*2 + 2 + 3 + 3) / (4 * 5)
    assert (scored.state, scored.percent, scored.weights["accuracy"]) == ("scored", Decimal("80.00"), 2)
    agent.refresh_from_db()
    assert agent.quality_score > after_rating
    assert QualityScoreChange.objects.filter(agent=agent, cause="review").count() == 1
    assert AuditEvent.objects.filter(action="review.scored", actor=supervisor, target_id=str(review.pk)).exists()
    refused(
        "review_already_scored", quality.review_score, user=supervisor, review_id=review.pk, scores=FULL, feedback="x"
    )


def test_scoring_refusals_change_nothing(brand, agent, supervisor, other_supervisor):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    review = open_review(agent, brand)
    bad_scores = [
        {**FULL, "tone": 5},
        {**FULL, "tone": -1},
        {"accuracy": 4, "empathy": 4, "policy": 4},
        {**FULL, "speed": 3},
        {**FULL, "tone": True},
        [4, 4, 4, 4],
        None,
    ]
    for scores in bad_scores:
        refused(
            "invalid_scores", quality.review_score, user=supervisor, review_id=review.pk, scores=scores, feedback="ok"
        )
    refused("feedback_required", quality.review_score, user=supervisor, review_id=review.pk, scores=FULL, feedback=" ")
    refused(
        "review_not_found", quality.review_score, user=other_supervisor, review_id=review.pk, scores=FULL, feedback="ok"
    )
    refused("review_not_found", quality.review_score, user=agent.user, review_id=review.pk, scores=FULL, feedback="ok")
    review.refresh_from_db()
    assert (review.state, review.percent, review.scored_by_id) == ("open", None, None)
    assert not AuditEvent.objects.filter(action="review.scored").exists()


def test_the_agent_disputes_and_another_supervisor_voids_the_review(
    brand, agent, agent2, supervisor, second_supervisor
):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    review = open_review(agent, brand)
    refused("review_not_found", quality.review_acknowledge, agent=agent, review_id=review.pk)  # not scored yet
    quality.review_score(user=supervisor, review_id=review.pk, scores={**FULL, "tone": 0}, feedback="Too curt.")
    agent.refresh_from_db()
    with_review = agent.quality_score
    refused("review_not_found", quality.review_dispute, agent=agent2, review_id=review.pk, comment="not mine")
    refused("comment_required", quality.review_dispute, agent=agent, review_id=review.pk, comment="")
    quality.review_dispute(agent=agent, review_id=review.pk, comment="The customer was abusive; see message 4.")
    refused("review_already_answered", quality.review_acknowledge, agent=agent, review_id=review.pk)
    refused(
        "same_supervisor",
        quality.review_dispute_decide,
        user=supervisor,
        review_id=review.pk,
        decision="voided",
        note="fine",
    )
    quality.review_dispute_decide(
        user=second_supervisor, review_id=review.pk, decision="voided", note="Agreed, the tone was warranted."
    )
    review.refresh_from_db()
    assert (review.state, review.dispute_decision) == ("void", "voided")
    agent.refresh_from_db()
    assert agent.quality_score != with_review
    assert QualityScoreChange.objects.filter(agent=agent, cause="review_voided").exists()
    assert set(AuditEvent.objects.filter(target_id=str(review.pk)).values_list("action", flat=True)) >= {
        "review.scored",
        "review.disputed",
        "review.dispute_voided",
    }


# --- Tiers and cases for a human -------------------------------------------------------------------


def test_volume_and_quality_promote_and_set_the_capacity_while_declines_never_count(brand, settings):
    settings.EXPERT_CAPACITY = 3
    brand.tier_standard_min_cases, brand.tier_standard_min_score = 2, Decimal("4.0")
    brand.save()
    rookie = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.PROBATION, capacity=1)
    # Declining offers again and again: nothing in quality sees it.
    for _ in range(3):
        ticket = TicketFactory(brand=brand)
        offer = services.ticket_dispatch(ticket_id=ticket.pk)
        services.offer_decline(agent=rookie, offer_id=offer.pk)
        services.ticket_cancel(ticket_id=ticket.pk, brand=brand)
    resolve(rookie, brand, rating=5)
    rookie.refresh_from_db()
    assert rookie.tier == "probation"
    resolve(rookie, brand, rating=5)
    rookie.refresh_from_db()
    assert (rookie.tier, rookie.capacity) == ("standard", settings.DEFAULT_CAPACITY)
    assert AuditEvent.objects.filter(action="agent.tier_promoted", actor=None, target_id=str(rookie.pk)).exists()


def test_a_dip_below_the_tier_opens_a_case_and_never_demotes(brand, settings):
    settings.QUALITY_PRIOR_WEIGHT = 1.0
    brand.tier_standard_min_score = Decimal("4.5")
    brand.tier_standard_min_cases = 0
    brand.save()
    veteran = AgentFactory(brands=[brand], available=True, tier=AgentProfile.Tier.STANDARD)
    resolve(veteran, brand, rating=1)
    resolve(veteran, brand, rating=1)
    veteran.refresh_from_db()
    assert veteran.tier == "standard" and not veteran.suspended
    assert QualityFlag.objects.filter(agent=veteran, kind="below_tier", state="open").count() == 1
    quality.quality_recompute(agent_id=veteran.pk)
    assert QualityFlag.objects.filter(agent=veteran, state="open").count() == 1


def test_reviews_below_the_floor_open_one_case(brand, agent, supervisor):
    brand.quality_floor_reviews, brand.quality_floor_score = 2, Decimal("3.00")
    brand.save()
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    weak = {"accuracy": 1, "empathy": 1, "policy": 1, "tone": 1}  # 25% -> 2 on the 1-5 scale
    for n in range(3):
        review = open_review(agent, brand, subject=f"case {n}")
        quality.review_score(user=supervisor, review_id=review.pk, scores=weak, feedback="Missed the policy.")
    flags = QualityFlag.objects.filter(agent=agent, kind="low_reviews")
    assert flags.count() == 1 and flags.get().detail["brand"] == brand.slug
    agent.refresh_from_db()
    assert not agent.suspended
    quality.flag_dismiss(user=supervisor, flag_id=flags.get().pk, note="Coached in person.")
    refused("flag_closed", quality.flag_dismiss, user=supervisor, flag_id=flags.get().pk, note="again")


# --- Warnings, suspensions, appeals -------------------------------------------------------------------


def test_a_suspension_needs_reason_note_and_evidence_of_this_agent_and_brand(
    brand, other_brand, agent, agent2, outsider_agent, supervisor, other_supervisor
):
    for a in (agent, agent2):
        a.status, a.connections = AgentProfile.Status.AVAILABLE, 1
        a.save()
    AgentProfile.objects.filter(pk=agent2.pk).update(status=AgentProfile.Status.AWAY)
    mine = resolve(agent, brand)
    AgentProfile.objects.filter(pk=agent2.pk).update(status=AgentProfile.Status.AVAILABLE)
    AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AWAY)
    theirs = resolve(agent2, brand)
    AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AVAILABLE)
    outsider_agent.status, outsider_agent.connections = AgentProfile.Status.AVAILABLE, 1
    outsider_agent.save()
    elsewhere = resolve(outsider_agent, other_brand)
    base = {"user": supervisor, "agent_id": agent.pk, "kind": "suspension", "reason": "conduct", "note": "Rude."}
    refused("reason_required", quality.sanction_issue, **{**base, "reason": ""}, ticket_ids=[mine.pk])
    refused("invalid_kind", quality.sanction_issue, **{**base, "kind": "ban"}, ticket_ids=[mine.pk])
    refused("note_required", quality.sanction_issue, **{**base, "note": "  "}, ticket_ids=[mine.pk])
    refused("evidence_required", quality.sanction_issue, **base, ticket_ids=[])
    refused("evidence_required", quality.sanction_issue, **base, ticket_ids="1,2")
    refused("invalid_evidence", quality.sanction_issue, **base, ticket_ids=[theirs.pk])
    refused("invalid_evidence", quality.sanction_issue, **base, ticket_ids=[mine.pk, elsewhere.pk])
    refused("agent_not_found", quality.sanction_issue, **{**base, "user": other_supervisor}, ticket_ids=[mine.pk])
    refused("agent_not_found", quality.sanction_issue, **{**base, "user": agent2.user}, ticket_ids=[mine.pk])
    assert not Sanction.objects.exists() and not AuditEvent.objects.filter(action__startswith="agent.").exists()
    agent.refresh_from_db()
    assert not agent.suspended


def test_a_suspension_takes_the_agent_off_duty_and_an_appeal_to_another_supervisor_reinstates(
    brand, agent, agent2, supervisor, second_supervisor, mailoutbox
):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    evidence = resolve(agent, brand)
    open_chat = TicketFactory(brand=brand, subject="Still talking")
    services.offer_accept(agent=agent, offer_id=services.ticket_dispatch(ticket_id=open_chat.pk).pk)
    sanction = quality.sanction_issue(
        user=supervisor,
        agent_id=agent.pk,
        kind="suspension",
        reason="premature_resolution",
        note="Cases closed before the customer's question was answered.",
        ticket_ids=[evidence.pk],
    )
    agent.refresh_from_db()
    assert agent.suspended and agent.status == "offline"
    open_chat.refresh_from_db()
    assert (open_chat.status, open_chat.previous_agent_id, open_chat.queue_reason) == ("queued", agent.pk, "suspended")
    refused("suspended", services.presence_set, agent=agent, status="available")
    assert list(sanction.evidence.values_list("pk", flat=True)) == [evidence.pk]
    # The agent is told why at once, in full, with where to appeal.
    [told] = mailoutbox
    assert told.to == [agent.user.email] and "suspended" in told.subject
    assert "Cases resolved before they were solved" in told.body
    assert "Cases closed before the customer's question was answered." in told.body
    assert "/agent/quality/" in told.body

    refused("sanction_not_found", quality.appeal_file, agent=agent2, sanction_id=sanction.pk, statement="Not me")
    refused("statement_required", quality.appeal_file, agent=agent, sanction_id=sanction.pk, statement="")
    appeal = quality.appeal_file(agent=agent, sanction_id=sanction.pk, statement="The customer left each time.")
    refused("already_appealed", quality.appeal_file, agent=agent, sanction_id=sanction.pk, statement="Again")
    refused(
        "same_supervisor", quality.appeal_decide, user=supervisor, appeal_id=appeal.pk, decision="overturned", note="x"
    )
    refused(
        "invalid_decision", quality.appeal_decide, user=second_supervisor, appeal_id=appeal.pk, decision="x", note="y"
    )
    quality.appeal_decide(
        user=second_supervisor, appeal_id=appeal.pk, decision="overturned", note="The transcripts show it."
    )
    agent.refresh_from_db()
    sanction.refresh_from_db()
    assert not agent.suspended and sanction.state == "overturned"
    assert (
        mailoutbox[-1].subject.endswith("Your appeal was upheld") and "The transcripts show it." in mailoutbox[-1].body
    )
    assert Appeal.objects.get().decided_by == second_supervisor
    refused(
        "appeal_already_decided",
        quality.appeal_decide,
        user=second_supervisor,
        appeal_id=appeal.pk,
        decision="upheld",
        note="y",
    )
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert [a for a in actions if a.startswith(("agent.suspension", "appeal."))] == [
        "agent.suspension",
        "appeal.filed",
        "appeal.overturned",
    ]


def test_a_warning_leaves_the_agent_working_and_a_lift_ends_a_suspension(brand, agent, supervisor):
    agent.status, agent.connections = AgentProfile.Status.AVAILABLE, 1
    agent.save()
    ticket = resolve(agent, brand)
    quality.sanction_issue(
        user=supervisor,
        agent_id=agent.pk,
        kind="warning",
        reason="policy",
        note="Refund policy.",
        ticket_ids=[ticket.pk],
    )
    agent.refresh_from_db()
    assert not agent.suspended and agent.status == "available"
    suspension = quality.sanction_issue(
        user=supervisor, agent_id=agent.pk, kind="suspension", reason="policy", note="Again.", ticket_ids=[ticket.pk]
    )
    quality.sanction_lift(user=supervisor, sanction_id=suspension.pk, note="Retrained.")
    agent.refresh_from_db()
    assert not agent.suspended
    refused("sanction_not_active", quality.appeal_file, agent=agent, sanction_id=suspension.pk, statement="late")
