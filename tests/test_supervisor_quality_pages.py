"""The supervisors' quality pages: the quality desk, the QA review queue, one review with
its scorecard and dispute decision, one agent's quality with warnings, suspensions and
lifts, and one appeal. Who gets in (supervisors with two-factor set up, of the row's brand),
what each form does through the quality services (audit-logged), and that a refusal shows
the service's message, keeps what was typed and changes nothing."""

import re
from decimal import Decimal

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import AgentProfile, Appeal, QualityFlag, Review, Sanction
from agents.quality import services as quality
from marketplace.models import AuditEvent, User
from tasks import services
from tasks.models import Resolution, Ticket

from .factories import AgentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

DESK = "/supervisor/quality/"
QUEUE = "/supervisor/reviews/"


@pytest.fixture(autouse=True)
def _two_factor_required(settings):
    settings.SUPERVISOR_MFA_REQUIRED = True


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


def supervisor_of(brand, email: str) -> User:
    user = with_totp(UserFactory(email=email, role=User.Role.SUPERVISOR))
    brand.supervisors.add(user)
    return user


@pytest.fixture
def sup(supervisor):
    """The conftest supervisor of Acme, with TOTP set up as supervisors must."""
    return with_totp(supervisor)


@pytest.fixture
def second(brand):
    """Another supervisor of Acme: the one who decides disputes and appeals."""
    return supervisor_of(brand, "second@example.test")


@pytest.fixture
def stranger(other_brand):
    """A supervisor of Globex only."""
    return supervisor_of(other_brand, "stranger@example.test")


def logged_in(client, user: User):
    client.force_login(user)
    return client


def case(agent: AgentProfile, brand, *, subject: str = "", rating: int | None = None, comment: str = "") -> Resolution:
    """A ticket of `brand` the agent resolved, as a row (for pages about what is shown)."""
    ticket = TicketFactory(brand=brand, **({"subject": subject} if subject else {}))
    return Resolution.objects.create(
        ticket=ticket,
        agent=agent,
        number=1,
        resolved_at=timezone.now(),
        rating=rating,
        rating_comment=comment,
        rated_at=timezone.now() if rating else None,
        qa_considered=True,
    )


def open_review(agent: AgentProfile, brand, *, reason=Review.Reason.SAMPLE, **kwargs) -> Review:
    resolution = case(agent, brand, **kwargs)
    return Review.objects.create(
        resolution=resolution, ticket=resolution.ticket, agent=agent, brand=brand, reason=reason
    )


def resolved_and_rated(agent: AgentProfile, brand, *, subject: str, rating: int, comment: str = "") -> Ticket:
    """Through the services: dispatched to the agent (the only one available), accepted,
    resolved and rated by the customer."""
    ticket = TicketFactory(brand=brand, subject=subject)
    offer = services.ticket_dispatch(ticket_id=ticket.pk)
    assert offer is not None and offer.agent_id == agent.pk
    services.offer_accept(agent=agent, offer_id=offer.pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    services.ticket_rate(ticket=ticket, score=rating, comment=comment)
    return ticket


def scored(review: Review, by: User, *, feedback: str = "Good work.") -> Review:
    return quality.review_score(
        user=by, review_id=review.pk, scores={"accuracy": 3, "empathy": 3, "policy": 3, "tone": 3}, feedback=feedback
    )


def html(response) -> str:
    return response.content.decode()


def audits(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def rows(brand, other_brand, agent, outsider_agent, sup):
    """One of each kind of row in Acme (and one review in Globex): an open review, a
    scored one the agent disputes, an automatic case, a suspension under appeal."""
    review = open_review(agent, brand, subject="Parcel never arrived", rating=2, comment="Nobody helped me")
    disputed = scored(open_review(agent, brand, subject="Refund twice"), sup)
    quality.review_dispute(agent=agent, review_id=disputed.pk, comment="The customer had already been refunded.")
    flag = QualityFlag.objects.create(
        agent=agent, kind=QualityFlag.Kind.LOW_REVIEWS, detail={"brand": "acme", "average": "2.400", "reviews": 5}
    )
    evidence = case(agent, brand, subject="Rude answer").ticket
    sanction = quality.sanction_issue(
        user=sup,
        agent_id=agent.pk,
        kind="warning",
        reason="conduct",
        note="Stay polite.",
        ticket_ids=[evidence.pk],
    )
    appeal = quality.appeal_file(agent=agent, sanction_id=sanction.pk, statement="The customer insulted me first.")
    theirs = open_review(outsider_agent, other_brand, subject="Globex secret subject")
    return {
        "review": review,
        "disputed": disputed,
        "flag": flag,
        "sanction": sanction,
        "appeal": appeal,
        "evidence": evidence,
        "theirs": theirs,
    }


def pages(rows, agent) -> list[str]:
    return [
        DESK,
        QUEUE,
        f"/supervisor/reviews/{rows['review'].pk}/",
        f"/supervisor/agents/{agent.pk}/quality/",
        f"/supervisor/appeals/{rows['appeal'].pk}/",
    ]


# --- Who gets in -----------------------------------------------------------------------------------


def test_every_page_renders_for_a_supervisor_of_the_brand(client, sup, rows, agent):
    logged_in(client, sup)
    for path in pages(rows, agent):
        response = client.get(path)
        assert response.status_code == 200, path
        assert agent.display_name in html(response), path


def test_anonymous_visitors_are_sent_to_the_login(client, rows, agent):
    for path in pages(rows, agent):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={path}", path
        assert client.post(path, {"note": "x"})["Location"].startswith("/accounts/login/"), path


def test_an_agent_is_refused_every_page(client, rows, agent):
    logged_in(client, agent.user)
    for path in pages(rows, agent):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Supervisors only" in html(response)
    assert client.post(DESK, {"flag_id": rows["flag"].pk, "note": "mine"}).status_code == 403
    assert QualityFlag.objects.get(pk=rows["flag"].pk).state == QualityFlag.State.OPEN


def test_a_supervisor_without_two_factor_is_held_at_its_setup(client, rows, agent):
    bare = UserFactory(email="bare@example.test", role=User.Role.SUPERVISOR)
    rows["review"].brand.supervisors.add(bare)
    logged_in(client, bare)
    for path in pages(rows, agent):
        assert client.get(path)["Location"] == "/accounts/2fa/totp/activate/", path


def test_a_supervisor_of_another_brand_finds_none_of_these_rows(client, stranger, rows, agent):
    logged_in(client, stranger)
    for path in pages(rows, agent)[2:]:
        assert client.get(path).status_code == 404, path

    desk = client.get(DESK)
    assert desk.context["counts"] == {"open_reviews": 1, "disputed_reviews": 0, "open_flags": 0, "open_appeals": 0}
    assert agent.display_name not in html(desk) and "Parcel never arrived" not in html(desk)
    queue = client.get(QUEUE, {"status": "all"})
    assert [r.pk for r in queue.context["page"].object_list] == [rows["theirs"].pk]
    assert agent.display_name not in html(queue)


def test_a_supervisor_of_another_brand_cannot_act_on_these_rows(client, stranger, rows, agent):
    logged_in(client, stranger)
    review, flag, appeal = rows["review"], rows["flag"], rows["appeal"]
    scores = {"action": "score", "accuracy": 4, "empathy": 4, "policy": 4, "tone": 4, "feedback": "Fine."}

    assert client.post(f"/supervisor/reviews/{review.pk}/", scores).status_code == 404
    assert client.post(DESK, {"flag_id": flag.pk, "note": "Not mine"}).status_code == 404
    assert client.post(f"/supervisor/appeals/{appeal.pk}/", {"decision": "overturned", "note": "x"}).status_code == 404
    post = {"action": "sanction", "kind": "warning", "reason": "conduct", "note": "x", "tickets": rows["evidence"].pk}
    assert client.post(f"/supervisor/agents/{agent.pk}/quality/", post).status_code == 404

    assert Review.objects.get(pk=review.pk).state == Review.State.OPEN
    assert QualityFlag.objects.get(pk=flag.pk).state == QualityFlag.State.OPEN
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.OPEN
    assert Sanction.objects.filter(agent=agent).count() == 1


def test_the_agent_page_of_an_agent_of_another_brand_is_not_found(client, sup, outsider_agent):
    logged_in(client, sup)
    assert client.get(f"/supervisor/agents/{outsider_agent.pk}/quality/").status_code == 404
    assert client.get("/supervisor/agents/999999/quality/").status_code == 404


def test_the_agent_page_shows_only_the_supervisors_brands_work(client, sup, brand, other_brand):
    both = AgentFactory(brands=[brand, other_brand], display_name="Both")
    case(both, brand, subject="Acme case", rating=5, comment="Lovely")
    case(both, other_brand, subject="Globex case", rating=1, comment="Globex private comment")
    logged_in(client, sup)

    page = html(client.get(f"/supervisor/agents/{both.pk}/quality/"))

    assert "Acme case" in page and "Lovely" in page
    assert "Globex case" not in page and "Globex private comment" not in page


# --- The desk and the home link ------------------------------------------------------------------------


def test_the_desk_lists_what_waits_with_links(client, sup, rows, agent):
    logged_in(client, sup)
    response = client.get(DESK)
    page = html(response)

    assert response.context["counts"] == {"open_reviews": 1, "disputed_reviews": 1, "open_flags": 1, "open_appeals": 1}
    assert f'href="/supervisor/reviews/{rows["review"].pk}/"' in page
    assert 'href="/supervisor/reviews/?status=open"' in page
    assert f'href="/supervisor/reviews/{rows["disputed"].pk}/"' in page
    assert f'href="/supervisor/appeals/{rows["appeal"].pk}/"' in page
    assert f'href="/supervisor/agents/{agent.pk}/quality/?flag={rows["flag"].pk}#sanction-title"' in page
    assert f'href="/supervisor/agents/{agent.pk}/quality/"' in page  # the agent's name
    assert "The latest 5 reviews in acme average 2.400 of 5." in page
    assert 'data-testid="dismiss-form"' in page


def test_an_empty_desk_says_what_will_appear(client, sup):
    logged_in(client, sup)
    page = html(client.get(DESK))
    for empty in ("empty-open-reviews", "empty-disputed", "empty-flags", "empty-appeals"):
        assert f'data-testid="{empty}"' in page


def test_the_supervisor_home_links_the_desk_with_its_counts(client, sup, rows):
    logged_in(client, sup)
    page = html(client.get("/supervisor/"))
    link = re.search(r'<a href="/supervisor/quality/"[^>]*data-testid="open-quality">(.*?)</a>', page, re.S)
    assert link is not None
    assert "to score 1 · disputed 1 · cases 1 · appeals 1" in link.group(1)


def test_dismissing_a_case_needs_a_note(client, sup, rows):
    flag = rows["flag"]
    logged_in(client, sup)

    refused = client.post(DESK, {"flag_id": flag.pk, "note": "   "})

    assert refused.status_code == 200
    assert "Say why no action is needed." in html(refused)
    assert QualityFlag.objects.get(pk=flag.pk).state == QualityFlag.State.OPEN
    assert audits("quality.flag_dismissed") == 0

    done = client.post(DESK, {"flag_id": flag.pk, "note": "Two of the five were another agent's tickets."})

    assert done.status_code == 302 and done["Location"] == DESK
    flag.refresh_from_db()
    assert flag.state == QualityFlag.State.DISMISSED and flag.closed_by == sup
    assert flag.note == "Two of the five were another agent's tickets."
    assert audits("quality.flag_dismissed") == 1
    follow = html(client.get(DESK))
    assert "Case dismissed" in follow and 'data-testid="empty-flags"' in follow


def test_the_dismiss_service_locks_the_case_it_closes(sup, rows):
    """It once joined the agent's brands with DISTINCT, which PostgreSQL refuses with FOR
    UPDATE: every dismissal failed with a database error."""
    flag = quality.flag_dismiss(user=sup, flag_id=rows["flag"].pk, note="Seen it.")
    assert flag.state == QualityFlag.State.DISMISSED


def test_a_refused_dismissal_keeps_the_note_typed(client, sup, rows):
    logged_in(client, sup)
    note = "Seen. " * 700  # past the 4000 characters a note may have

    refused = client.post(DESK, {"flag_id": rows["flag"].pk, "note": note})

    assert refused.status_code == 200
    page = html(refused)
    assert "note is limited to 4000 characters." in page and f">{note}</textarea>" in page
    assert QualityFlag.objects.get(pk=rows["flag"].pk).state == QualityFlag.State.OPEN


def test_dismissing_a_case_closed_meanwhile_says_so(client, sup, rows):
    QualityFlag.objects.filter(pk=rows["flag"].pk).update(state=QualityFlag.State.DISMISSED)
    logged_in(client, sup)

    refused = client.post(DESK, {"flag_id": rows["flag"].pk, "note": "Looked at it"})

    assert refused.status_code == 200
    assert "This case is already closed." in html(refused)


# --- The review queue --------------------------------------------------------------------------------


def test_the_queue_lists_reviews_made_by_the_sampling_job_from_real_cases(client, sup, brand):
    ada = AgentFactory(brands=[brand], available=True, display_name="Ada Queue")
    ticket = resolved_and_rated(ada, brand, subject="Broken kettle", rating=1, comment="Useless")
    assert quality.reviews_sample_due() == 1  # a rating of 1 always goes to QA
    logged_in(client, sup)

    response = client.get(QUEUE)
    page = html(response)

    (review,) = response.context["page"].object_list
    assert review.ticket_id == ticket.pk and review.reason == Review.Reason.LOW_RATING
    assert f"#{ticket.pk} Broken kettle" in page
    assert "Rated 1 or 2 by the customer" in page and "1/5" in page
    assert f'href="/supervisor/agents/{ada.pk}/quality/"' in page
    detail = html(client.get(f"/supervisor/reviews/{review.pk}/"))
    assert "Useless" in detail and f'href="/supervisor/tickets/{ticket.pk}/"' in detail


def test_the_queue_filters_by_status_and_brand(client, sup, brand, other_brand, agent, rows):
    other_brand.supervisors.add(sup)
    logged_in(client, sup)

    def ids(**params) -> set[int]:
        return {r.pk for r in client.get(QUEUE, params).context["page"].object_list}

    assert ids() == {rows["review"].pk, rows["theirs"].pk}  # open by default
    assert ids(status="disputed") == {rows["disputed"].pk}
    assert ids(status="scored") == {rows["disputed"].pk}
    assert ids(status="void") == set()
    assert ids(status="all") == {rows["review"].pk, rows["disputed"].pk, rows["theirs"].pk}
    assert ids(status="all", brand="globex") == {rows["theirs"].pk}
    assert ids(status="nonsense") == ids(status="open")
    assert ids(brand="no-such-brand") == set()


def test_the_queue_shows_fifty_a_page(client, sup, brand, agent):
    for n in range(53):
        open_review(agent, brand, subject=f"Case {n}")
    logged_in(client, sup)

    first = client.get(QUEUE).context["page"]
    second_page = client.get(QUEUE, {"page": 2}).context["page"]

    assert len(first.object_list) == 50 and first.paginator.count == 53
    assert len(second_page.object_list) == 3
    assert 'href="?status=open&amp;brand=&amp;page=2"' in html(client.get(QUEUE))


# Session, user, TOTP, brands (twice), count, filter brands, base.html's agent profile, rows.
QUEUE_QUERIES = 9


@pytest.mark.parametrize("count", [3, 30])
def test_the_queue_costs_the_same_queries_for_3_or_30_reviews(
    client, sup, brand, agent, count, django_assert_max_num_queries
):
    for n in range(count):
        open_review(agent, brand, subject=f"Case {n}", rating=2)
    logged_in(client, sup)

    with django_assert_max_num_queries(QUEUE_QUERIES):
        response = client.get(QUEUE)

    assert len(response.context["page"].object_list) == count


def test_the_queue_query_count_does_not_grow_with_rows(client, sup, brand, agent):
    for n in range(3):
        open_review(agent, brand, subject=f"Case {n}")
    logged_in(client, sup)
    client.get(QUEUE)  # warm the session
    with CaptureQueriesContext(connection) as few:
        client.get(QUEUE)
    for n in range(27):
        open_review(agent, brand, subject=f"More {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(QUEUE)

    assert len(many.captured_queries) == len(few.captured_queries)


# --- Scoring a review ----------------------------------------------------------------------------------


def score_post(**overrides) -> dict:
    return {"action": "score", "accuracy": "4", "empathy": "2", "policy": "3", "tone": "1", **overrides}


def test_the_scorecard_shows_the_brands_weights(client, sup, brand, rows):
    brand.qa_weight_accuracy, brand.qa_weight_policy = 3, 2
    brand.save(update_fields=["qa_weight_accuracy", "qa_weight_policy"])
    logged_in(client, sup)

    page = html(client.get(f"/supervisor/reviews/{rows['review'].pk}/"))

    assert re.search(r'data-testid="weight-accuracy">\s*weight 3\s*<', page)
    assert re.search(r'data-testid="weight-policy">\s*weight 2\s*<', page)
    assert page.count('type="radio"') == 20
    assert "Nobody helped me" in page and "2 of 5" in page
    assert f'href="/supervisor/tickets/{rows["review"].ticket_id}/"' in page


def test_scoring_a_review_weighs_it_by_the_brand_and_logs_it(client, sup, brand, rows):
    brand.qa_weight_accuracy, brand.qa_weight_policy = 3, 2  # 3 + 1 + 2 + 1 = 7
    brand.save(update_fields=["qa_weight_accuracy", "qa_weight_policy"])
    review = rows["review"]
    logged_in(client, sup)

    response = client.post(f"/supervisor/reviews/{review.pk}/", score_post(feedback="Check the tracking first."))

    assert response.status_code == 302 and response["Location"] == f"/supervisor/reviews/{review.pk}/"
    review.refresh_from_db()
    # (4*3 + 2*1 + 3*2 + 1*1) / (4*7) = 21/28
    assert review.state == Review.State.SCORED and review.percent == Decimal("75.00")
    assert (review.accuracy, review.empathy, review.policy, review.tone) == (4, 2, 3, 1)
    assert review.feedback == "Check the tracking first." and review.scored_by == sup
    event = AuditEvent.objects.get(action="review.scored", target_id=str(review.pk))
    assert event.actor == sup
    page = html(client.get(f"/supervisor/reviews/{review.pk}/"))
    assert "Review scored: 75.00%" in page
    assert 'data-testid="review-percent">75.00%' in page
    assert "Check the tracking first." in page and sup.email in page
    assert 'data-testid="score-form"' not in page


def test_scoring_without_feedback_is_refused_and_keeps_the_scores(client, sup, rows):
    review = rows["review"]
    logged_in(client, sup)

    response = client.post(f"/supervisor/reviews/{review.pk}/", score_post(feedback="  "))

    assert response.status_code == 200
    page = html(response)
    assert "Write the feedback the agent will read." in page
    assert re.search(r'name="accuracy" value="4" required checked', page)
    assert re.search(r'name="tone" value="1" required checked', page)
    review.refresh_from_db()
    assert review.state == Review.State.OPEN and review.percent is None
    assert audits("review.scored") == 1  # the fixture's disputed review only


def test_a_score_out_of_range_is_refused_and_keeps_the_feedback(client, sup, rows):
    review = rows["review"]
    logged_in(client, sup)

    response = client.post(f"/supervisor/reviews/{review.pk}/", score_post(accuracy="5", feedback="Mind the tone."))

    assert response.status_code == 200
    page = html(response)
    assert "Each criterion needs a score from 0 to 4." in page
    assert ">Mind the tone.</textarea>" in page
    assert re.search(r'data-testid="criterion-accuracy" aria-invalid="true"', page)
    assert re.search(r'name="empathy" value="2" required checked', page)
    review.refresh_from_db()
    assert review.state == Review.State.OPEN
    assert audits("review.scored") == 1  # the fixture's disputed review only


# --- Deciding a dispute --------------------------------------------------------------------------------


def test_the_reviewer_is_told_another_supervisor_decides_and_cannot(client, sup, rows):
    disputed = rows["disputed"]
    logged_in(client, sup)

    page = html(client.get(f"/supervisor/reviews/{disputed.pk}/"))
    assert 'data-testid="decide-other-supervisor"' in page and 'data-testid="decide-form"' not in page
    assert "The customer had already been refunded." in page

    refused = client.post(
        f"/supervisor/reviews/{disputed.pk}/", {"action": "decide", "decision": "voided", "note": "My own call"}
    )

    assert refused.status_code == 200
    assert "A supervisor other than the reviewer decides a dispute." in html(refused)
    disputed.refresh_from_db()
    assert disputed.dispute_decision == "" and disputed.state == Review.State.SCORED


def test_another_supervisor_voids_a_disputed_review(client, second, rows):
    disputed = rows["disputed"]
    logged_in(client, second)
    assert 'data-testid="decide-form"' in html(client.get(f"/supervisor/reviews/{disputed.pk}/"))

    response = client.post(
        f"/supervisor/reviews/{disputed.pk}/",
        {"action": "decide", "decision": "voided", "note": "The refund was already done."},
    )

    assert response.status_code == 302
    disputed.refresh_from_db()
    assert disputed.state == Review.State.VOID and disputed.dispute_decision == "voided"
    assert disputed.dispute_decided_by == second and disputed.dispute_note == "The refund was already done."
    assert AuditEvent.objects.get(action="review.dispute_voided").actor == second
    page = html(client.get(f"/supervisor/reviews/{disputed.pk}/"))
    assert "no longer counts" in page and 'data-testid="dispute-note"' in page


def test_a_decision_without_a_note_is_refused_and_keeps_the_choice(client, second, rows):
    disputed = rows["disputed"]
    logged_in(client, second)

    response = client.post(f"/supervisor/reviews/{disputed.pk}/", {"action": "decide", "decision": "upheld"})

    assert response.status_code == 200
    page = html(response)
    assert "Explain the decision to the agent." in page
    assert 'value="upheld" required checked' in page
    disputed.refresh_from_db()
    assert disputed.dispute_decision == ""
    assert audits("review.dispute_upheld") == 0


# --- Warnings, suspensions, lifts ----------------------------------------------------------------------


def agent_page(agent) -> str:
    return f"/supervisor/agents/{agent.pk}/quality/"


def sanction_post(ticket, **overrides) -> dict:
    return {
        "action": "sanction",
        "kind": "warning",
        "reason": "premature_resolution",
        "note": "Three cases closed before the customer had an answer.",
        "tickets": [ticket.pk],
        **overrides,
    }


def test_the_agent_page_shows_standing_and_the_evidence_to_pick(client, sup, brand, agent, rows):
    logged_in(client, sup)

    response = client.get(agent_page(agent), {"flag": rows["flag"].pk})
    page = html(response)

    assert 'data-testid="agent-score">4.000<' in page
    assert 'data-testid="agent-tier">Standard<' in page
    assert 'data-testid="next-tier"' in page and "Resolved cases" in page
    assert f'name="flag_id" value="{rows["flag"].pk}"' in page
    assert f'name="tickets" value="{rows["evidence"].pk}"' in page
    for value, _label in Sanction.Reason.choices:
        assert f'<option value="{value}"' in page
    assert "Stay polite." in page and f'href="/supervisor/appeals/{rows["appeal"].pk}/"' in page


def test_a_warning_is_sent_with_its_evidence_and_closes_the_case(client, sup, agent, rows):
    ticket = rows["evidence"]
    logged_in(client, sup)

    response = client.post(agent_page(agent), sanction_post(ticket, flag_id=rows["flag"].pk))

    assert response.status_code == 302 and response["Location"] == agent_page(agent)
    warning = Sanction.objects.exclude(pk=rows["sanction"].pk).get(agent=agent)
    assert warning.kind == "warning" and warning.reason == "premature_resolution" and warning.issued_by == sup
    assert list(warning.evidence.values_list("pk", flat=True)) == [ticket.pk]
    assert QualityFlag.objects.get(pk=rows["flag"].pk).state == QualityFlag.State.ACTED
    assert audits("agent.warning") == 2  # the fixture's and this one
    agent.refresh_from_db()
    assert not agent.suspended
    assert "Warning sent" in html(client.get(agent_page(agent)))


def test_a_suspension_asks_for_confirmation_first(client, sup, agent, rows):
    ticket = rows["evidence"]
    logged_in(client, sup)

    response = client.post(agent_page(agent), sanction_post(ticket, kind="suspension", note="Data shared."))

    assert response.status_code == 200
    page = html(response)
    assert "Tick the box to confirm the suspension" in page
    assert ">Data shared.</textarea>" in page and 'value="suspension" checked' in page
    assert f'name="tickets" value="{ticket.pk}" checked' in page
    assert not Sanction.objects.filter(kind="suspension").exists()
    agent.refresh_from_db()
    assert not agent.suspended


def test_a_confirmed_suspension_takes_the_agent_off_duty(client, sup, brand):
    busy = AgentFactory(brands=[brand], available=True, display_name="Busy")
    ticket = case(busy, brand, subject="Leaked a card number").ticket
    logged_in(client, sup)

    response = client.post(
        agent_page(busy),
        sanction_post(
            ticket, kind="suspension", reason="privacy", note="Card number in chat.", confirm_suspension="yes"
        ),
    )

    assert response.status_code == 302
    busy.refresh_from_db()
    assert busy.suspended and busy.status == AgentProfile.Status.OFFLINE
    assert Sanction.objects.get(agent=busy).kind == "suspension"
    assert AuditEvent.objects.get(action="agent.suspension").actor == sup
    page = html(client.get(agent_page(busy)))
    assert "is suspended and off duty" in page and 'data-testid="agent-suspended"' in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tickets": []}, "Name the tickets that show the problem; the agent will see them."),
        ({"note": "  "}, "Explain to the agent what happened."),
        ({"reason": ""}, "Choose a reason code."),
    ],
)
def test_a_refused_sanction_shows_why_keeps_the_input_and_changes_nothing(client, sup, agent, rows, change, message):
    logged_in(client, sup)
    post = sanction_post(rows["evidence"], **change)

    response = client.post(agent_page(agent), post)

    assert response.status_code == 200
    page = html(response)
    assert message in page
    assert 'value="warning" required checked' in page
    if post["note"].strip():
        assert f">{post['note']}</textarea>" in page
    assert Sanction.objects.filter(agent=agent).count() == 1
    assert audits("agent.warning") == 1


def test_evidence_must_be_this_agents_ticket(client, sup, brand, agent, agent2):
    theirs = case(agent2, brand, subject="Bo's case").ticket
    case(agent, brand, subject="Ada's case")
    logged_in(client, sup)

    response = client.post(agent_page(agent), sanction_post(theirs))

    assert "Evidence must be tickets of your brands that this agent worked." in html(response)
    assert not Sanction.objects.filter(agent=agent).exists()


def test_lifting_a_suspension_puts_the_agent_back(client, sup, brand):
    held = AgentFactory(brands=[brand], display_name="Held")
    ticket = case(held, brand).ticket
    suspension = quality.sanction_issue(
        user=sup, agent_id=held.pk, kind="suspension", reason="conduct", note="Shouted.", ticket_ids=[ticket.pk]
    )
    logged_in(client, sup)

    refused = client.post(agent_page(held), {"action": "lift", "sanction_id": suspension.pk, "note": ""})
    assert refused.status_code == 200 and "Say why it ends." in html(refused)
    held.refresh_from_db()
    assert held.suspended and Sanction.objects.get(pk=suspension.pk).state == Sanction.State.ACTIVE

    done = client.post(agent_page(held), {"action": "lift", "sanction_id": suspension.pk, "note": "Talked it through."})

    assert done.status_code == 302
    held.refresh_from_db()
    assert not held.suspended
    assert Sanction.objects.get(pk=suspension.pk).state == Sanction.State.LIFTED
    assert AuditEvent.objects.get(action="agent.suspension_lifted").actor == sup


def test_a_lift_form_cannot_reach_another_agents_sanction(client, sup, brand, agent, agent2, rows):
    logged_in(client, sup)
    response = client.post(agent_page(agent2), {"action": "lift", "sanction_id": rows["sanction"].pk, "note": "x"})
    assert response.status_code == 404
    assert Sanction.objects.get(pk=rows["sanction"].pk).state == Sanction.State.ACTIVE


# --- Appeals -------------------------------------------------------------------------------------------


def test_the_appeal_page_shows_the_sanction_and_the_statement(client, second, rows):
    logged_in(client, second)
    page = html(client.get(f"/supervisor/appeals/{rows['appeal'].pk}/"))

    assert "Stay polite." in page and "The customer insulted me first." in page
    assert "Rude or unprofessional conduct" in page and "sup@example.test" in page
    assert f'href="/supervisor/tickets/{rows["evidence"].pk}/"' in page
    assert 'data-testid="appeal-form"' in page


def test_the_issuer_cannot_decide_the_appeal(client, sup, rows):
    appeal = rows["appeal"]
    logged_in(client, sup)

    page = html(client.get(f"/supervisor/appeals/{appeal.pk}/"))
    assert 'data-testid="decide-other-supervisor"' in page and 'data-testid="appeal-form"' not in page

    refused = client.post(f"/supervisor/appeals/{appeal.pk}/", {"decision": "upheld", "note": "I stand by it."})

    assert refused.status_code == 200
    assert "A supervisor other than the one who issued it decides an appeal." in html(refused)
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.OPEN


def test_a_second_supervisor_overturns_a_suspension_on_appeal(client, sup, second, brand):
    held = AgentFactory(brands=[brand], display_name="Appealing")
    ticket = case(held, brand).ticket
    suspension = quality.sanction_issue(
        user=sup, agent_id=held.pk, kind="suspension", reason="abandonment", note="Left chats.", ticket_ids=[ticket.pk]
    )
    appeal = quality.appeal_file(agent=held, sanction_id=suspension.pk, statement="My internet was down.")
    logged_in(client, second)

    refused = client.post(f"/supervisor/appeals/{appeal.pk}/", {"decision": "overturned", "note": " "})
    assert refused.status_code == 200
    assert "Explain the decision to the agent." in html(refused) and 'value="overturned" checked' in html(refused)
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.OPEN

    done = client.post(
        f"/supervisor/appeals/{appeal.pk}/", {"decision": "overturned", "note": "The outage is confirmed."}
    )

    assert done.status_code == 302 and done["Location"] == f"/supervisor/appeals/{appeal.pk}/"
    appeal.refresh_from_db()
    assert appeal.state == Appeal.State.OVERTURNED and appeal.decided_by == second
    assert Sanction.objects.get(pk=suspension.pk).state == Sanction.State.OVERTURNED
    held.refresh_from_db()
    assert not held.suspended
    assert AuditEvent.objects.get(action="appeal.overturned").actor == second
    page = html(client.get(f"/supervisor/appeals/{appeal.pk}/"))
    assert "The outage is confirmed." in page and 'data-testid="appeal-form"' not in page
