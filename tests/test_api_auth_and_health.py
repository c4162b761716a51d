import pytest
from rest_framework.test import APIClient

from .factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_agent_exchanges_email_and_password_for_a_token(agent):
    response = APIClient().post("/api/v1/auth/token/", {"email": "ADA@example.test", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    again = APIClient().post("/api/v1/auth/token/", {"email": "ada@example.test", "password": PASSWORD}, format="json")
    assert again.json()["token"] == token


def test_wrong_password_gets_a_clear_error(agent):
    response = APIClient().post("/api/v1/auth/token/", {"email": "ada@example.test", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_token_request_without_fields_lists_them(db):
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "password"}


def test_token_endpoint_is_rate_limited(agent, settings):
    from django.core.cache import cache

    cache.clear()
    client = APIClient()
    statuses = [
        client.post("/api/v1/auth/token/", {"email": "ada@example.test", "password": "x"}, format="json").status_code
        for _ in range(25)
    ]
    assert statuses[-1] == 429
    cache.clear()


def test_healthz_checks_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["channel_layer"] == "ok"


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/tickets/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_pages_send_a_content_security_policy(client):
    response = client.get("/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
