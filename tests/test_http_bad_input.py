"""Hostile HTTP input: deep nesting, NUL and lone surrogates get a 400, never a 500."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tasks.models import Customer, Ticket

from .conftest import TICKET_BODY

pytestmark = pytest.mark.django_db

BODY_ENDPOINTS = ["/api/v1/tickets/", "/api/v1/auth/token/"]


def brand_client_or_anonymous(path, brand_client):
    return brand_client if path.startswith("/api/v1/tickets/") else APIClient()


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_json_is_malformed_json_on_every_endpoint(brand_client, path, body):
    client = brand_client_or_anonymous(path, brand_client)
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert set(response.json()["error"]) == {"code", "message"}


def test_moderately_nested_json_inside_a_valid_body_is_refused_before_validation(brand_client):
    nested = {"customer": TICKET_BODY["customer"]}
    for _ in range(100):
        nested = {"x": nested}
    response = brand_client.post("/api/v1/tickets/", {**TICKET_BODY, "extra": nested}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "a\udfffb"])
@pytest.mark.parametrize(
    "where",
    [
        lambda bad: {**TICKET_BODY, "subject": f"card{bad}"},
        lambda bad: {**TICKET_BODY, "customer": {**TICKET_BODY["customer"], "external_id": bad}},
        lambda bad: {**TICKET_BODY, "transcript": [{"role": "customer", "text": bad}]},
        lambda bad: {**TICKET_BODY, f"key{bad}": 1},
    ],
    ids=["subject", "customer id", "transcript", "key"],
)
def test_nul_or_lone_surrogate_in_a_json_string_is_refused_and_nothing_is_stored(brand_client, bad, where):
    # json.dumps writes these as \u0000 / \ud800 escapes, as a hostile client would.
    import json

    response = brand_client.generic("POST", "/api/v1/tickets/", json.dumps(where(bad)), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_characters"
    assert Ticket.objects.count() == 0 and Customer.objects.count() == 0


def test_nul_in_the_anonymous_token_login_is_refused(db):
    response = APIClient().post("/api/v1/auth/token/", {"email": "a\x00@example.test", "password": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_characters"


@pytest.mark.parametrize("path", ["/api/v1/tickets/1%00/", "/api/v1/tickets/?q=%00", "/api/v1/tickets/1/?%00=1"])
def test_nul_in_an_api_path_or_query_is_invalid_characters(brand_client, path):
    response = brand_client.get(path)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_characters", "message": response.json()["error"]["message"]}}


@pytest.mark.parametrize("path", ["/chat/%00/", "/chat/abc/?next=%00", "/static/%00.js", "/accounts/login/?next=%00"])
def test_nul_in_a_page_address_is_a_plain_400(db, path):
    response = Client().get(path)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_nul_in_a_login_form_is_a_plain_400(db):
    body = urlencode({"login": "ada\x00@example.test", "password": "x"})
    response = Client().post("/accounts/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_nul_in_a_multipart_form_is_a_plain_400(db):
    response = Client().post("/accounts/signup/", {"email": "new\x00@example.test", "password1": "p", "password2": "p"})
    assert response.status_code == 400


def test_ordinary_requests_pass_the_character_check(brand_client):
    assert (
        brand_client.post("/api/v1/tickets/", {**TICKET_BODY, "subject": "Kort nekat ✓ 💳"}, format="json").status_code
        == 201
    )
    assert Client().get("/accounts/login/?next=/agent/").status_code == 200


def test_an_api_path_no_route_matches_gets_the_error_shape(brand_client):
    response = brand_client.get("/api/v1/tickets/-1/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_token_login_with_an_address_longer_than_the_column_is_an_invalid_field(db):
    email = "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.test"
    response = APIClient().post("/api/v1/auth/token/", {"email": email, "password": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and "email" in response.json()["error"]["fields"]
