"""The agent's quality screen: the score with how it is made, the tier and what the next one
takes, the trend and what moved it, ratings, QA reviews (acknowledge, dispute), warnings and
suspensions (appeal), each with its empty state; refusals re-render with the reason and what
was typed; nobody but the agent reaches any of it. The data is made through the services."""

import re
from decimal import Decimal
from html import unescape

import pytest

from agents.models import Appeal, Review, Sanction
from agents.quality import services as quality
from agents.views.quality_agent import sparkline
from tasks import services

from .factories import AgentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/agent/quality/"


def acknowledge_url(review_id: int) -> str:
    return f"/agent/quality/reviews/{review_id}/acknowledge/"


def dispute_url(review_id: int) -> str:
    return f"/agent/quality/reviews/{review_id}/dispute/"


def appeal_url(sanction_id: int) -> str:
    return f"/agent/quality/sanctions/{sanction_id}/appeal/"


def text(response) -> str:
    return unescape(response.content.decode())


def inner_text(html: str, name: str) -> str:
    """The text inside the first element with data-testid=name, tags and runs of spaces removed."""
    start = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(name)}"[^>]*>', html)
    assert start, f"no {name} in the page"
    tag, depth, at = start.group(1), 1, start.end()
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[at:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            inner = html[at : at + match.start()]
            return " ".join(re.sub(r"<[^>]+>", " ", inner).split())
    raise AssertionError(f"{name} is never closed")


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False


@pytest.fixture
def no_sampling(brand):
    """Only the rules that always apply put a case in QA (a rating of 1-2, a reopen)."""
    brand.qa_sample_percent = 0
    brand.qa_sample_probation_percent = 0
    brand.save(update_fields=["qa_sample_percent", "qa_sample_probation_percent"])
    return brand


@pytest.fixture
def second_supervisor(brand):
    """Disputes and appeals are decided by a supervisor other than the one who acted."""
    user = UserFactory(email="sup2@example.test", role="supervisor", is_staff=True)
    brand.supervisors.add(user)
    return user


def resolved(agent, brand, *, subject: str, rating: int | None = None, comment: str = ""):
    """A case offered to `agent` (the only one who can take it), accepted and resolved,
    then rated by the customer."""
    agent.status, agent.connections = "available", 1
    agent.save(update_fields=["status", "connections"])
    ticket = TicketFactory(brand=brand, subject=subject)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer is not None and offer.agent_id == agent.pk
    services.offer_accept(agent=agent, offer_id=offer.pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    if rating:
        ticket.refresh_from_db()
        services.ticket_rate(ticket=ticket, score=rating, comment=comment)
    return ticket


SCORES = {"accuracy": 3, "empathy": 2, "policy": 4, "tone": 3}  # 12 of 16: 75%


def scored_review(agent, supervisor, ticket, *, feedback: str = "Check the refund policy before you answer.") -> Review:
    assert quality.reviews_sample_due() >= 1
    review = Review.objects.get(agent=agent, ticket=ticket)
    quality.review_score(user=supervisor, review_id=review.pk, scores=SCORES, feedback=feedback)
    review.refresh_from_db()
    return review


def suspension(agent, supervisor, tickets, *, note: str = "Two cases closed before the customer's problem was solved."):
    return quality.sanction_issue(
        user=supervisor,
        agent_id=agent.pk,
        kind="suspension",
        reason="quality",
        note=note,
        ticket_ids=[t.pk for t in tickets],
    )


@pytest.fixture
def record(agent, brand, supervisor, no_sampling, django_capture_on_commit_callbacks):
    """Ada: a 2-star case with a comment (so QA reviews it, 75%), a 5-star case, and a
    suspension with the first case as evidence. Scores recomputed as the jobs would."""
    with django_capture_on_commit_callbacks(execute=True):
        low = resolved(agent, brand, subject="Refund for order 1001", rating=2, comment="Slow and unclear answers")
    with django_capture_on_commit_callbacks(execute=True):
        high = resolved(agent, brand, subject="Card blocked abroad", rating=5, comment="Lovely, thank you!")
    with django_capture_on_commit_callbacks(execute=True):
        review = scored_review(agent, supervisor, low)
    sanction = suspension(agent, supervisor, [low])
    return {"low": low, "high": high, "review": review, "sanction": sanction}


@pytest.fixture
def ada_client(client, agent):
    client.force_login(agent.user)
    return client


# --- Reading ------------------------------------------------------------------------------


def test_a_new_agent_sees_the_starting_score_the_next_tier_and_an_empty_state_in_each_section(client, brand):
    newcomer = AgentFactory(brands=[brand], tier="probation", capacity=1, display_name="Nia")
    client.force_login(newcomer.user)
    response = client.get(PAGE)
    assert response.status_code == 200
    html = text(response)
    assert inner_text(html, "quality-score") == "4.00"
    assert "so a few ratings do not swing it" in inner_text(html, "score-how")
    assert "starting value of 10 ratings of 4.00" in inner_text(html, "score-how")
    assert inner_text(html, "tier") == "Tier: Probation · 1 chat at a time"
    assert "Next tier: Standard" in html
    needs = re.findall(r'data-testid="need" data-criterion="(\w+)" data-met="(\w+)"', html)
    assert needs == [("resolved_cases", "false"), ("quality_score", "true")]
    assert "0 of 30 resolved cases" in html
    assert "Quality score 4.00 of 4.00" in html
    assert "Declining an offer never counts against you" in inner_text(html, "declines-free")
    assert "Your score has not moved yet" in inner_text(html, "trend-empty")
    assert 'data-testid="sparkline"' not in html
    assert "No ratings yet" in inner_text(html, "ratings-empty")
    reviews_empty = inner_text(html, "reviews-empty")
    assert "No reviews yet." in reviews_empty
    assert "About 1 in 5 of your cases is reviewed while you are on probation." in reviews_empty
    assert "No warnings or suspensions" in inner_text(html, "sanctions-empty")
    assert 'data-testid="suspended-banner"' not in html
    assert 'href="/agent/"' in html and 'data-testid="back-to-app"' in html


def test_the_top_tier_says_so_and_a_standard_agent_reads_the_usual_sample(client, brand):
    expert = AgentFactory(brands=[brand], tier="expert", capacity=3)
    client.force_login(expert.user)
    html = text(client.get(PAGE))
    assert "You are in the top tier, Expert." in inner_text(html, "top-tier")
    assert 'data-testid="need"' not in html
    assert "3 chats at a time" in inner_text(html, "tier")
    assert "About 1 in 20 of your cases is reviewed." in inner_text(html, "reviews-empty")


def test_the_page_lists_ratings_reviews_the_trend_and_a_suspension_with_its_evidence(ada_client, agent, record):
    low, high, review, sanction = record["low"], record["high"], record["review"], record["sanction"]
    response = ada_client.get(PAGE)
    assert response.status_code == 200
    html = text(response)
    # 10 ratings of 4 to start, then 2 and 5, then a 75% review (4 on the 1-5 scale) x3.
    assert inner_text(html, "quality-score") == "3.93"
    assert "Based on 2 customer ratings · 1 QA review" in inner_text(html, "score-basis")

    changes = re.findall(r'data-testid="change-text">([^<]+)<', html)
    assert changes == [
        f"QA review 75% on #{low.pk}: 3.92 → 3.93",
        f"Rating 5★ on ticket #{high.pk}: 3.82 → 3.92",
        f"Rating 2★ on ticket #{low.pk}: 4.00 → 3.82",
    ]
    assert 'data-testid="sparkline"' in html and "<polyline" in html
    assert "Your score went from 4.00 to 3.93" in html

    ratings = re.findall(r'data-testid="rating" data-ticket="(\d+)" data-score="(\d)"', html)
    assert sorted(ratings) == sorted([(str(low.pk), "2"), (str(high.pk), "5")])
    assert "Slow and unclear answers" in html and "Lovely, thank you!" in html

    assert inner_text(html, "review-percent") == "75%"
    assert "Check the refund policy before you answer." in inner_text(html, "review-feedback")
    scores = inner_text(html, "review-scores")
    assert "Accuracy 3 of 4" in scores and "Empathy 2 of 4" in scores
    assert "Policy 4 of 4" in scores and "Tone 3 of 4" in scores
    assert "Rated 1 or 2 by the customer" in html
    assert f'action="{acknowledge_url(review.pk)}"' in html
    assert f'action="{dispute_url(review.pk)}"' in html

    assert inner_text(html, "sanction-kind") == "Suspension"
    assert inner_text(html, "sanction-reason") == "Quality below the standard"
    assert inner_text(html, "sanction-state") == "In force"
    assert "Two cases closed before the customer's problem was solved." in inner_text(html, "sanction-note")
    assert inner_text(html, "evidence") == f"#{low.pk} · Refund for order 1001"
    assert f'action="{appeal_url(sanction.pk)}"' in html
    assert "You are suspended." in inner_text(html, "suspended-banner")


def test_the_agent_app_links_the_quality_screen_and_says_when_the_agent_is_suspended(ada_client, agent, record):
    html = text(ada_client.get("/agent/"))
    assert 'href="/agent/quality/"' in html and 'data-testid="quality-link"' in html
    banner = re.search(r'<div[^>]*data-testid="suspended-banner"[^>]*>', html).group(0)
    assert "hidden" not in banner
    assert "Your account is suspended." in inner_text(html, "suspended-banner")
    assert 'href="/agent/quality/#sanctions-title"' in html


def test_the_agent_app_keeps_the_suspension_banner_hidden_for_an_agent_in_good_standing(ada_client):
    html = text(ada_client.get("/agent/"))
    banner = re.search(r'<div[^>]*data-testid="suspended-banner"[^>]*>', html).group(0)
    assert " hidden" in banner
    assert 'data-testid="quality-link"' in html


# --- Acknowledge and dispute ---------------------------------------------------------------


def test_acknowledging_a_review_records_it_once_and_the_buttons_go(ada_client, record):
    review = record["review"]
    response = ada_client.post(acknowledge_url(review.pk))
    assert response.status_code == 302 and response["Location"] == PAGE
    review.refresh_from_db()
    assert review.agent_response == Review.Response.ACKNOWLEDGED
    answered_at = review.responded_at

    html = text(ada_client.get(PAGE))
    assert f"Review of ticket #{review.ticket_id} acknowledged." in inner_text(html, "flash-messages")
    assert "You acknowledged this review." in inner_text(html, "review-response")
    assert 'data-testid="review-acknowledge"' not in html and 'data-testid="dispute-form"' not in html

    again = ada_client.post(acknowledge_url(review.pk))
    assert again.status_code == 200
    html = text(again)
    assert "You have already answered this review." in inner_text(html, "review-error")
    review.refresh_from_db()
    assert review.agent_response == Review.Response.ACKNOWLEDGED and review.responded_at == answered_at


def test_a_dispute_needs_a_comment_and_a_refusal_keeps_what_was_typed(ada_client, record):
    review = record["review"]
    for comment in ("", "   "):
        response = ada_client.post(dispute_url(review.pk), {"comment": comment})
        assert response.status_code == 200
        html = text(response)
        assert "Say what you disagree with" in inner_text(html, "review-error")
        assert re.search(r'<details[^>]*data-testid="review-dispute" open>', html), "the refused form stays open"
    too_long = "The customer asked for a refund I could not give. " * 90
    html = text(ada_client.post(dispute_url(review.pk), {"comment": too_long}))
    assert "That is too long" in inner_text(html, "review-error")
    assert too_long in html
    review.refresh_from_db()
    assert review.agent_response == "" and review.agent_comment == ""

    comment = "The policy allowed the refund: see section 4."
    response = ada_client.post(dispute_url(review.pk), {"comment": comment})
    assert response.status_code == 302 and response["Location"] == PAGE
    review.refresh_from_db()
    assert review.agent_response == Review.Response.DISPUTED and review.agent_comment == comment
    html = text(ada_client.get(PAGE))
    assert "Dispute sent" in inner_text(html, "flash-messages")
    assert comment in inner_text(html, "review-dispute-comment")
    assert "Waiting for a supervisor other than the reviewer" in inner_text(html, "dispute-pending")
    assert 'data-testid="review-acknowledge"' not in html


def test_a_voided_dispute_shows_the_decision_and_the_move_it_made(
    ada_client, agent, record, second_supervisor, django_capture_on_commit_callbacks
):
    review = record["review"]
    ada_client.post(dispute_url(review.pk), {"comment": "The policy allowed it."})
    with django_capture_on_commit_callbacks(execute=True):
        quality.review_dispute_decide(
            user=second_supervisor, review_id=review.pk, decision="voided", note="You were right; section 4 applies."
        )
    html = text(ada_client.get(PAGE))
    assert inner_text(html, "dispute-decision").startswith("Dispute accepted: the review was voided")
    assert "You were right; section 4 applies." in inner_text(html, "dispute-note")
    assert inner_text(html, "review-state") == "Voided"
    assert f"QA review voided on #{review.ticket_id}: 3.93 → 3.92" in inner_text(html, "changes")


# --- Appeals --------------------------------------------------------------------------------


def test_an_appeal_needs_a_statement_is_filed_once_and_shows_its_state(ada_client, record):
    sanction = record["sanction"]
    response = ada_client.post(appeal_url(sanction.pk), {"statement": "  "})
    assert response.status_code == 200
    assert "Tell the supervisor why this should be overturned." in inner_text(text(response), "appeal-error")
    assert not Appeal.objects.exists()

    statement = "The customer confirmed in the chat that the card worked again."
    response = ada_client.post(appeal_url(sanction.pk), {"statement": statement})
    assert response.status_code == 302 and response["Location"] == PAGE
    appeal = Appeal.objects.get(sanction=sanction)
    assert appeal.state == Appeal.State.OPEN and appeal.statement == statement

    html = text(ada_client.get(PAGE))
    assert "Appeal sent." in inner_text(html, "flash-messages")
    assert inner_text(html, "appeal-state") == "Waiting for a decision"
    assert statement in inner_text(html, "appeal-statement")
    assert "appeal-pending" in html and 'data-testid="appeal-form"' not in html

    again = ada_client.post(appeal_url(sanction.pk), {"statement": "Please look again."})
    assert again.status_code == 200
    assert "You have already appealed this." in inner_text(text(again), "appeal-error")
    assert Appeal.objects.count() == 1
    appeal.refresh_from_db()
    assert appeal.statement == statement


def test_a_refused_appeal_keeps_the_statement(ada_client, record):
    sanction = record["sanction"]
    too_long = "x" * 4001
    html = text(ada_client.post(appeal_url(sanction.pk), {"statement": too_long}))
    assert "That is too long" in inner_text(html, "appeal-error")
    assert too_long in html
    assert 'aria-invalid="true"' in html
    assert not Appeal.objects.exists()


def test_an_overturned_appeal_shows_the_decision_and_lifts_the_banner(ada_client, agent, record, second_supervisor):
    sanction = record["sanction"]
    ada_client.post(appeal_url(sanction.pk), {"statement": "It was solved."})
    appeal = Appeal.objects.get(sanction=sanction)
    quality.appeal_decide(
        user=second_supervisor, appeal_id=appeal.pk, decision="overturned", note="The chat shows it was solved."
    )
    html = text(ada_client.get(PAGE))
    assert inner_text(html, "appeal-state") == "Sanction overturned"
    assert "The chat shows it was solved." in inner_text(html, "appeal-decision")
    assert inner_text(html, "sanction-state") == "Overturned on appeal"
    assert 'data-testid="suspended-banner"' not in html


# --- Who may ----------------------------------------------------------------------------------


def test_another_agents_review_and_sanction_are_refused_and_unchanged(
    ada_client, agent2, brand, supervisor, no_sampling, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        theirs = resolved(agent2, brand, subject="Bo's case", rating=1)
    review = scored_review(agent2, supervisor, theirs)
    sanction = suspension(agent2, supervisor, [theirs])

    for response in (
        ada_client.post(acknowledge_url(review.pk)),
        ada_client.post(dispute_url(review.pk), {"comment": "Not fair"}),
    ):
        assert response.status_code == 200
        html = text(response)
        assert inner_text(html, "quality-error") == "You have no such review."
        assert "Bo's case" not in html
    response = ada_client.post(appeal_url(sanction.pk), {"statement": "Not fair"})
    assert inner_text(text(response), "quality-error") == "You have no such warning or suspension."

    review.refresh_from_db()
    assert review.agent_response == "" and review.agent_comment == ""
    assert not Appeal.objects.exists()
    assert Sanction.objects.get(pk=sanction.pk).state == Sanction.State.ACTIVE
    assert ada_client.post(acknowledge_url(999999)).status_code == 200


def test_an_anonymous_visitor_is_sent_to_log_in(client, record):
    review, sanction = record["review"], record["sanction"]
    for response in (
        client.get(PAGE),
        client.post(acknowledge_url(review.pk)),
        client.post(dispute_url(review.pk), {"comment": "x"}),
        client.post(appeal_url(sanction.pk), {"statement": "x"}),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    review.refresh_from_db()
    assert review.agent_response == "" and not Appeal.objects.exists()


def test_a_supervisor_without_an_agent_profile_gets_the_agent_apps_403_page(client, supervisor, record):
    review, sanction = record["review"], record["sanction"]
    client.force_login(supervisor)
    page = client.get(PAGE)
    assert page.status_code == 403 and 'data-testid="not-agent"' in page.content.decode()
    assert client.post(acknowledge_url(review.pk)).status_code == 403
    assert client.post(dispute_url(review.pk), {"comment": "x"}).status_code == 403
    assert client.post(appeal_url(sanction.pk), {"statement": "x"}).status_code == 403
    review.refresh_from_db()
    assert review.agent_response == "" and not Appeal.objects.exists()


def test_the_page_is_read_only_and_the_actions_take_only_posts(ada_client, record):
    assert ada_client.post(PAGE).status_code == 405
    assert ada_client.get(acknowledge_url(record["review"].pk)).status_code == 405
    assert ada_client.get(dispute_url(record["review"].pk)).status_code == 405
    assert ada_client.get(appeal_url(record["sanction"].pk)).status_code == 405


# --- The sparkline ----------------------------------------------------------------------------


def test_the_sparkline_draws_higher_scores_higher_and_a_tiny_move_small():
    assert sparkline([Decimal("4")]) is None
    line = sparkline([Decimal("4.000"), Decimal("3.800"), Decimal("4.200")])
    ys = [float(point.split(",")[1]) for point in line.points.split()]
    assert ys[2] < ys[0] < ys[1]  # SVG y grows downward
    flat = sparkline([Decimal("4.000"), Decimal("4.001")])
    flat_ys = [float(point.split(",")[1]) for point in flat.points.split()]
    assert abs(flat_ys[0] - flat_ys[1]) < 1, "a move of a thousandth stays nearly flat"
