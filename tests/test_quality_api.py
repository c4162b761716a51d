"""The quality endpoints: shapes, refusals with the error shape, and outsiders."""

import pytest
from rest_framework.test import APIClient

from agents.models import AgentProfile, Appeal, QualityFlag, Review, Sanction
from agents.quality import services as quality

from .factories import UserFactory
from .quality_helpers import FULL, open_review, resolve

pytestmark = pytest.mark.django_db(transaction=True)


def as_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def working(agent):
    AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AVAILABLE, connections=1)
    agent.refresh_from_db()
    return agent


@pytest.fixture
def other_supervisor(other_brand):
    user = UserFactory(email="globex-sup@example.test", role="supervisor", is_staff=True)
    other_brand.supervisors.add(user)
    return user


@pytest.fixture
def second_supervisor(brand):
    user = UserFactory(email="sup2@example.test", role="supervisor", is_staff=True)
    brand.supervisors.add(user)
    return user


def test_the_agent_reads_score_tier_progress_ratings_reviews_and_sanctions(brand, working, supervisor):
    rated = resolve(working, brand, rating=5, subject="Lost card")
    review = open_review(working, brand, rating=2, subject="Refund")
    quality.review_score(user=supervisor, review_id=review.pk, scores=FULL, feedback="Textbook.")
    quality.sanction_issue(
        user=supervisor,
        agent_id=working.pk,
        kind="warning",
        reason="policy",
        note="Mind the refund rule.",
        ticket_ids=[rated.pk],
    )
    body = as_client(working.user).get("/api/v1/me/quality/").json()
    working.refresh_from_db()
    assert body["score"] == str(working.quality_score) and body["tier"] == "standard"
    assert body["next_tier"]["name"] == "expert"
    assert [n["criterion"] for n in body["next_tier"]["needs"]] == ["resolved_cases", "quality_score", "qa_reviews"]
    assert body["next_tier"]["needs"][0] == {"criterion": "resolved_cases", "current": 2, "required": 200, "met": False}
    assert [(r["ticket_id"], r["score"]) for r in body["ratings"]] == [(review.ticket_id, 2), (rated.pk, 5)]
    [shown] = body["reviews"]
    assert (shown["id"], shown["percent"], shown["feedback"], shown["scores"]) == (
        review.pk,
        "100.00",
        "Textbook.",
        FULL,
    )
    [warning] = body["sanctions"]
    assert warning["kind"] == "warning" and warning["reason"] == "policy" and warning["note"] == "Mind the refund rule."
    assert warning["evidence"] == [{"ticket_id": rated.pk, "subject": "Lost card"}] and warning["can_appeal"]
    assert [c["cause"] for c in body["score_history"]][-1] == "rating"
    me = as_client(working.user).get("/api/v1/me/").json()
    assert me["quality"] == {"score": float(working.quality_score), "ratings": 2, "reviews": 1}


def test_supervisors_list_and_score_reviews_of_their_brands_only(
    brand, other_brand, working, supervisor, other_supervisor
):
    review = open_review(working, brand)
    listed = as_client(supervisor).get("/api/v1/reviews/?status=open").json()
    assert [r["id"] for r in listed["results"]] == [review.pk] and listed["next"] is None
    assert listed["results"][0]["agent"] == {"id": working.pk, "display_name": working.display_name}
    assert as_client(other_supervisor).get("/api/v1/reviews/?status=all").json()["results"] == []
    error(as_client(supervisor).get("/api/v1/reviews/?status=maybe"), 422, "invalid_status")

    url = f"/api/v1/reviews/{review.pk}/score/"
    error(
        as_client(other_supervisor).post(url, {"scores": FULL, "feedback": "x"}, format="json"), 404, "review_not_found"
    )
    bad = error(
        as_client(supervisor).post(url, {"scores": {**FULL, "tone": 7}, "feedback": "x"}, format="json"),
        422,
        "invalid_scores",
    )
    assert list(bad["fields"]["scores"]) == ["tone"]
    error(as_client(supervisor).post(url, {"scores": FULL}, format="json"), 422, "feedback_required")
    error(as_client(supervisor).post(url, ["not", "an", "object"], format="json"), 400, "invalid_body")
    assert Review.objects.get(pk=review.pk).state == "open"
    ok = as_client(supervisor).post(url, {"scores": FULL, "feedback": "Well handled."}, format="json")
    assert ok.status_code == 200 and ok.json()["percent"] == "100.00" and ok.json()["status"] == "scored"
    error(
        as_client(supervisor).post(url, {"scores": FULL, "feedback": "again"}, format="json"),
        409,
        "review_already_scored",
    )
    assert [r["id"] for r in as_client(supervisor).get("/api/v1/reviews/").json()["results"]] == []


def test_dispute_and_decision_over_rest(brand, working, agent2, supervisor, second_supervisor):
    review = open_review(working, brand)
    quality.review_score(user=supervisor, review_id=review.pk, scores={**FULL, "empathy": 1}, feedback="Cold.")
    error(
        as_client(agent2.user).post(f"/api/v1/me/reviews/{review.pk}/dispute/", {"comment": "x"}, format="json"),
        404,
        "review_not_found",
    )
    error(
        as_client(working.user).post(f"/api/v1/me/reviews/{review.pk}/dispute/", {}, format="json"),
        422,
        "comment_required",
    )
    disputed = as_client(working.user).post(
        f"/api/v1/me/reviews/{review.pk}/dispute/", {"comment": "I apologised twice."}, format="json"
    )
    assert disputed.status_code == 200 and disputed.json()["response"] == "disputed"
    assert [r["id"] for r in as_client(supervisor).get("/api/v1/reviews/?status=disputed").json()["results"]] == [
        review.pk
    ]
    decide = f"/api/v1/reviews/{review.pk}/dispute-decision/"
    error(
        as_client(supervisor).post(decide, {"decision": "voided", "note": "x"}, format="json"), 403, "same_supervisor"
    )
    error(
        as_client(second_supervisor).post(decide, {"decision": "maybe", "note": "x"}, format="json"),
        422,
        "invalid_decision",
    )
    upheld = as_client(second_supervisor).post(
        decide, {"decision": "upheld", "note": "The tone was cold."}, format="json"
    )
    assert upheld.status_code == 200 and upheld.json()["dispute"]["decision"] == "upheld"


def test_suspend_appeal_and_decide_over_rest(brand, working, agent2, supervisor, second_supervisor):
    ticket = resolve(working, brand)
    url = f"/api/v1/agents/{working.pk}/sanctions/"
    body = {"kind": "suspension", "reason": "conduct", "note": "Rude to a customer.", "tickets": [ticket.pk]}
    error(as_client(supervisor).post(url, {**body, "reason": None}, format="json"), 422, "reason_required")
    error(as_client(supervisor).post(url, {**body, "tickets": []}, format="json"), 422, "evidence_required")
    error(
        as_client(supervisor).post(url, {**body, "tickets": [ticket.pk + 1000]}, format="json"), 422, "invalid_evidence"
    )
    error(as_client(supervisor).post(url, {**body, "flag_id": "x"}, format="json"), 422, "invalid_flag")
    error(as_client(working.user).post(url, body, format="json"), 403, "forbidden")
    assert not Sanction.objects.exists()
    made = as_client(supervisor).post(url, body, format="json")
    assert made.status_code == 201, made.content
    sanction_id = made.json()["id"]
    working.refresh_from_db()
    assert working.suspended

    appeal_url = f"/api/v1/me/sanctions/{sanction_id}/appeal/"
    error(as_client(agent2.user).post(appeal_url, {"statement": "x"}, format="json"), 404, "sanction_not_found")
    filed = as_client(working.user).post(appeal_url, {"statement": "I was quoting the customer."}, format="json")
    assert filed.status_code == 201 and filed.json()["status"] == "open"
    error(as_client(working.user).post(appeal_url, {"statement": "again"}, format="json"), 409, "already_appealed")
    [listed] = as_client(second_supervisor).get("/api/v1/appeals/").json()["results"]
    appeal_id = listed["id"]
    assert listed["sanction"]["id"] == sanction_id and listed["statement"] == "I was quoting the customer."
    decide = f"/api/v1/appeals/{appeal_id}/decide/"
    error(
        as_client(supervisor).post(decide, {"decision": "overturned", "note": "x"}, format="json"),
        403,
        "same_supervisor",
    )
    done = as_client(second_supervisor).post(
        decide, {"decision": "overturned", "note": "Quote, not insult."}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "overturned"
    working.refresh_from_db()
    assert not working.suspended and Appeal.objects.get().state == "overturned"


def test_flags_are_listed_and_dismissed_by_supervisors_of_the_agent(brand, working, supervisor, other_supervisor):
    flag = QualityFlag.objects.create(agent=working, kind="low_reviews", detail={"brand": brand.slug})
    assert [f["id"] for f in as_client(supervisor).get("/api/v1/quality-flags/").json()["results"]] == [flag.pk]
    assert as_client(other_supervisor).get("/api/v1/quality-flags/").json()["results"] == []
    url = f"/api/v1/quality-flags/{flag.pk}/dismiss/"
    error(as_client(other_supervisor).post(url, {"note": "x"}, format="json"), 404, "flag_not_found")
    error(as_client(supervisor).post(url, {"note": ""}, format="json"), 422, "note_required")
    assert as_client(supervisor).post(url, {"note": "Talked it through."}, format="json").status_code == 200
    assert QualityFlag.objects.get().state == "dismissed"


SUPERVISOR_ENDPOINTS = [
    ("get", "/api/v1/reviews/"),
    ("post", "/api/v1/reviews/1/score/"),
    ("post", "/api/v1/reviews/1/dispute-decision/"),
    ("post", "/api/v1/agents/1/sanctions/"),
    ("post", "/api/v1/sanctions/1/lift/"),
    ("get", "/api/v1/appeals/"),
    ("post", "/api/v1/appeals/1/decide/"),
    ("get", "/api/v1/quality-flags/"),
    ("post", "/api/v1/quality-flags/1/dismiss/"),
]
AGENT_ENDPOINTS = [
    ("get", "/api/v1/me/quality/"),
    ("post", "/api/v1/me/reviews/1/acknowledge/"),
    ("post", "/api/v1/me/reviews/1/dispute/"),
    ("post", "/api/v1/me/sanctions/1/appeal/"),
]


@pytest.mark.parametrize(("method", "url"), SUPERVISOR_ENDPOINTS + AGENT_ENDPOINTS)
def test_anonymous_callers_are_refused(method, url):
    assert getattr(APIClient(), method)(url).status_code == 401


@pytest.mark.parametrize(("method", "url"), SUPERVISOR_ENDPOINTS)
def test_agents_and_applicants_get_403_on_supervisor_endpoints(method, url, agent):
    applicant = UserFactory(email="applicant@example.test")
    for user in (agent.user, applicant):
        error(getattr(as_client(user), method)(url, {}, format="json"), 403, "forbidden")


@pytest.mark.parametrize(("method", "url"), AGENT_ENDPOINTS)
def test_people_without_an_agent_profile_get_403_on_agent_endpoints(method, url, supervisor):
    error(getattr(as_client(supervisor), method)(url, {}, format="json"), 403, "not_an_agent")
