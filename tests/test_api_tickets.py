"""REST contract for brand systems: create and follow tickets."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tasks.models import Customer, Ticket

from .conftest import TICKET_BODY
from .factories import AgentFactory
from .windows import away_from_window_edge

pytestmark = pytest.mark.django_db


def test_create_ticket_returns_the_contract_shape(brand_client, settings):
    response = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "status", "customer_token", "customer_chat_url"}
    assert body["status"] == "queued"
    # On SITE_URL, not on the host the brand system happened to call.
    assert body["customer_chat_url"] == f"{settings.SITE_URL}/chat/{body['customer_token']}/"
    ticket = Ticket.objects.get(pk=body["id"])
    assert ticket.transcript[0]["text"] == "My card does not work"
    assert ticket.category == "cards" and ticket.summary.startswith("Card declined")


def test_site_url_setting_is_used_for_the_chat_link(brand_client, settings):
    settings.SITE_URL = "https://help.example.com"
    body = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").json()
    assert body["customer_chat_url"].startswith("https://help.example.com/chat/")


def test_minimal_body_is_enough(brand_client):
    body = {"customer": {"external_id": "x", "name": "X"}, "language": "sv", "subject": "Hej"}
    response = brand_client.post("/api/v1/tickets/", body, format="json")
    assert response.status_code == 201
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.priority == Ticket.Priority.NORMAL and ticket.transcript == []


def test_get_ticket_follows_status_and_agent(brand, brand_client):
    agent = AgentFactory(brands=[brand], available=True, display_name="Ada")
    created = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").json()
    from tasks import services

    services.offer_accept(agent=agent, offer_id=agent.offers.get().pk)
    body = brand_client.get(f"/api/v1/tickets/{created['id']}/").json()
    assert set(body) == {"id", "status", "language", "agent", "created_at", "assigned_at", "resolved_at", "rating"}
    assert body["status"] == "assigned" and body["agent"] == {"display_name": "Ada"}
    assert body["assigned_at"] is not None and body["resolved_at"] is None and body["rating"] is None


def test_idempotency_key_replays_the_first_response(brand_client):
    first = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    second = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Ticket.objects.count() == 1


def test_idempotency_key_with_a_different_body_is_refused(brand_client):
    brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    response = brand_client.post(
        "/api/v1/tickets/", {**TICKET_BODY, "subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="abc-2"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_create_one_ticket(brand_and_key):
    _, key = brand_and_key
    results = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        try:
            results.append(client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201] * 8
    assert len({r.json()["id"] for r in results}) == 1
    assert Ticket.objects.count() == 1


def test_same_customer_is_reused_and_updated(brand_client):
    brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json")
    body = {**TICKET_BODY, "customer": {**TICKET_BODY["customer"], "name": "Maja S."}}
    brand_client.post("/api/v1/tickets/", body, format="json")
    assert Customer.objects.get().name == "Maja S."


@pytest.mark.parametrize(
    "change, field",
    [
        ({"language": "english!"}, "language"),
        ({"priority": "asap"}, "priority"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"customer": {"name": "No id"}}, "customer"),
        ({"transcript": [{"role": "agent", "text": "hi"}]}, "transcript"),
        ({"transcript": [{"role": "bot", "text": "x" * 4001}]}, "transcript"),
        ({"tags": ["not a slug"]}, "tags"),
        ({"tags": "billing"}, "tags"),
        # Valid addresses, but longer than the 254 characters of the e-mail column.
        (
            {
                "customer": {
                    "external_id": "x",
                    "name": "X",
                    "email": "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.test",
                }
            },
            "customer",
        ),
        ({"tags": ["x" * 41]}, "tags"),
        ({"category": "c" * 61}, "category"),
        ({"language": "en-" + "x" * 40}, "language"),
    ],
)
def test_invalid_fields_get_the_error_shape_and_change_nothing(brand_client, change, field):
    response = brand_client.post("/api/v1/tickets/", {**TICKET_BODY, **change}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert Ticket.objects.count() == 0


def test_malformed_json_is_a_clear_400(brand_client):
    response = brand_client.generic("POST", "/api/v1/tickets/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_body_that_is_not_an_object_is_a_clear_400(brand_client):
    response = brand_client.generic("POST", "/api/v1/tickets/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_card_numbers_in_the_handover_are_masked(brand_client):
    body = {**TICKET_BODY, "summary": "Card 4111 1111 1111 1111 declined"}
    created = brand_client.post("/api/v1/tickets/", body, format="json").json()
    assert Ticket.objects.get(pk=created["id"]).summary == "Card ••••••••••••1111 declined"


# --- Outsiders -----------------------------------------------------------------------------


def test_missing_api_key_is_refused(db):
    response = APIClient().post("/api/v1/tickets/", TICKET_BODY, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert Ticket.objects.count() == 0


def test_wrong_api_key_is_refused(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer mk_nope_nope")
    response = client.post("/api/v1/tickets/", TICKET_BODY, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_revoked_api_key_is_refused(brand, api_key, brand_client):
    from django.utils import timezone

    brand.api_keys.update(revoked_at=timezone.now())
    assert brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").status_code == 401


def test_api_key_is_stored_only_as_a_hash(brand, api_key):
    stored = brand.api_keys.get()
    assert api_key not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64


def test_brand_cannot_read_another_brands_ticket(brand_client, other_brand_and_key):
    _, other_key = other_brand_and_key
    created = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    response = other.get(f"/api/v1/tickets/{created['id']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ticket_not_found"


def test_agent_token_cannot_create_tickets(agent):
    from marketplace.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=agent.user)[0]}")
    response = client.post("/api/v1/tickets/", TICKET_BODY, format="json")
    assert response.status_code == 401  # an agent's login token is no brand credential
    assert response.json()["error"]["code"] == "unauthenticated"
    assert Ticket.objects.count() == 0


def test_brand_cancels_an_offered_ticket_and_the_agent_gets_the_slot_back(brand, brand_client):
    agent = AgentFactory(brands=[brand], available=True)
    created = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").json()
    response = brand_client.post(f"/api/v1/tickets/{created['id']}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    agent.refresh_from_db()
    assert agent.load == 0 and agent.offers.get().state == "rescinded"
    again = brand_client.post(f"/api/v1/tickets/{created['id']}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "ticket_not_open"


def test_brand_cannot_cancel_another_brands_ticket(brand_client, other_brand_and_key):
    created = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json").json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_brand_and_key[1]}")
    assert other.post(f"/api/v1/tickets/{created['id']}/cancel/").status_code == 404
    assert Ticket.objects.get(pk=created["id"]).status == "queued"


def test_brand_api_is_rate_limited_per_brand(brand_client, other_brand_and_key, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "brand": "3/min"},
    }
    away_from_window_edge(60)
    statuses = [brand_client.get("/api/v1/tickets/999/").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    limited = brand_client.get("/api/v1/tickets/999/")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited["Retry-After"]) <= 60
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_brand_and_key[1]}")
    assert other.get("/api/v1/tickets/999/").status_code == 404  # another brand has its own budget
    cache.clear()
