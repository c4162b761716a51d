"""Fuzzing the REST API from its own OpenAPI schema: whatever a client sends, no 5xx.

schemathesis generates valid and invalid requests for every operation of /api/schema/ and
sends them to the Django application in-process (WSGI, same thread and transaction as the
test), authenticated with a real brand API key (and an agent token for token operations).
The run is derandomized with a fixed seed, so CI sees the same cases every time. Counts
and any server error go to test-output/fuzz/rest.json.
"""

import copy
import json
from collections import Counter, defaultdict
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tasks import services

from .factories import AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "fuzz" / "rest.json"
SEED = 20261126
MAX_EXAMPLES = 50

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        # Valid and invalid requests; the coverage phase would add hundreds of boundary
        # cases per operation and blow the time budget.
        # Credentials are ours (below), not generated.
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
        },
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)

RESULTS: dict[str, dict] = defaultdict(
    lambda: {"cases": 0, "hostile_variants": 0, "statuses": Counter(), "server_errors": []}
)
# What the generator seldom or never makes: text no database stores, and nesting that
# exhausts a recursive decoder. Each JSON body is sent once more with one of these.
HOSTILE_TEXT = ["\x00", "nul\x00inside", "\ud800", "lone \udfff surrogate"]
DEEP_BODIES = [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]


def _string_slots(value, slots):
    """(container, key) of every string and every object key, depth first, in a fixed order."""
    if isinstance(value, dict):
        for key in list(value):
            slots.append((value, ("key", key)))
            if isinstance(value[key], str):
                slots.append((value, key))
            else:
                _string_slots(value[key], slots)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                slots.append((value, index))
            else:
                _string_slots(item, slots)
    return slots


def hostile_variant(body, n: int) -> bytes | None:
    """The n-th hostile twin of a generated JSON body, or None when it has no text to spoil.
    Sent as bytes: json.dumps writes the characters as \\u escapes, as a hostile client would."""
    if n % 5 == 4:
        return DEEP_BODIES[n // 5 % len(DEEP_BODIES)]
    body = copy.deepcopy(body)
    slots = _string_slots(body, [])
    if not slots:
        return None
    container, where = slots[n % len(slots)]
    bad = HOSTILE_TEXT[n % len(HOSTILE_TEXT)]
    if isinstance(where, tuple):
        container[where[1] + bad] = container.pop(where[1])
    else:
        container[where] = container[where][:3] + bad + container[where][3:]
    return json.dumps(body).encode()


@schemathesis.check
def errors_have_the_error_shape(ctx, response, case):
    """The contract: every API error is {"error": {"code", "message", "fields"?}}."""
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.text)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str), body
    assert set(body["error"]) <= {"code", "message", "fields"}, body
    return None


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, errors_have_the_error_shape]


# Loaded when the module is collected: serving the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """Django's test client does the same: the request signals would otherwise close the
    connection that holds the test's transaction after every request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(brand, api_key, agent):
    """One header per security scheme, and real tickets (one offered to an agent) to aim at."""
    AgentFactory(brands=[brand], available=True)
    tickets = [TicketFactory(brand=brand) for _ in range(3)]
    services.ticket_dispatch(ticket_id=tickets[0].pk)
    from marketplace.services import api_token_create

    return {
        "brand": f"Bearer {api_key}",
        "token": f"Token {api_token_create(user=agent.user)[0]}",
        "ticket_ids": [t.pk for t in tickets],
    }


def aim_at_real_tickets(case, ticket_ids) -> None:
    """Random ids almost never exist; every other integer id is swapped for a real one, so
    the paths past the lookup are fuzzed too."""
    value = (case.path_parameters or {}).get("ticket_id")
    if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
        case.path_parameters["ticket_id"] = ticket_ids[value // 2 % len(ticket_ids)]


def authorization_for(case, credentials) -> dict:
    schemes = case.operation.schema.raw_schema.get("components", {}).get("securitySchemes", {})
    for requirement in case.operation.definition.raw.get("security", []):
        for name in requirement:
            scheme = schemes.get(name, {})
            if scheme.get("type") == "http" and scheme.get("scheme") == "bearer":
                return {"Authorization": credentials["brand"]}
            if scheme.get("type") == "apiKey" and scheme.get("name") == "Authorization":
                return {"Authorization": credentials["token"]}
    return {}


@pytest.fixture(scope="module", autouse=True)
def _write_results():
    yield
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    operations = {
        label: {
            "cases": r["cases"],
            "hostile_variants": r["hostile_variants"],
            "statuses": dict(sorted(r["statuses"].items())),
            "server_errors": r["server_errors"],
        }
        for label, r in sorted(RESULTS.items())
    }
    summary = {
        "seed": SEED,
        "max_examples_per_operation": MAX_EXAMPLES,
        "cases": sum(r["cases"] for r in operations.values()),
        "server_errors": sum(len(r["server_errors"]) for r in operations.values()),
        "operations": operations,
    }
    OUTPUT.write_text(json.dumps(summary, indent=2) + "\n")


@schema.parametrize()
# The cast and the credentials are made once per operation; generated requests may add
# tickets, which changes nothing for the next one.
@hypothesis.settings(suppress_health_check=list(hypothesis.HealthCheck), deadline=None)
def test_no_request_makes_the_api_answer_with_a_server_error(case, credentials):
    # Rate limits would turn most cases into 429s: every case starts with fresh counters.
    cache.clear()
    aim_at_real_tickets(case, credentials["ticket_ids"])
    generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    headers = {**generated, **authorization_for(case, credentials)}
    record = RESULTS[case.operation.label]
    send_and_check(case, headers, record)
    if isinstance(case.body, (dict, list)):
        variant = hostile_variant(case.body, record["cases"])
        if variant is not None:
            case.body = variant
            record["hostile_variants"] += 1
            send_and_check(case, headers, record)


def send_and_check(case, headers, record) -> None:
    response = case.call(headers=headers)
    record["cases"] += 1
    record["statuses"][str(response.status_code)] += 1
    if response.status_code >= 500:
        request = (
            case.as_curl_command(headers)
            if not isinstance(case.body, bytes)
            else f"{case.operation.label} <{len(case.body)} bytes>"
        )
        record["server_errors"].append({"status": response.status_code, "request": request})
    case.validate_response(response, checks=CHECKS, headers=headers)
