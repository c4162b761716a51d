"""The fixed cast every test can use: a brand with an API key, two agents of that brand,
an agent of another brand, a supervisor, and a helper to hand over tickets."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tasks import services

from .factories import AgentFactory, UserFactory, brand_with_key


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError("The tests run on PostgreSQL: use `make test` (or set DATABASE_URL=postgres://...).")
    # Without REDIS_URL the settings fall back to the in-process channel layer: the socket
    # tests would still pass while proving nothing about pushes between processes.
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not layer.startswith("channels_redis."):
        raise pytest.UsageError(
            f"The tests run on Redis, but the channel layer is {layer}: use `make test` "
            "(or set REDIS_URL=redis://127.0.0.1:6379/15)."
        )


@pytest.fixture
def brand_and_key(db):
    return brand_with_key(slug="acme", name="Acme", rate=4500)


@pytest.fixture
def brand(brand_and_key):
    return brand_and_key[0]


@pytest.fixture
def api_key(brand_and_key):
    return brand_and_key[1]


@pytest.fixture
def other_brand_and_key(db):
    return brand_with_key(slug="globex", name="Globex", rate=3000)


@pytest.fixture
def other_brand(other_brand_and_key):
    return other_brand_and_key[0]


@pytest.fixture
def agent(brand):
    return AgentFactory(brands=[brand], display_name="Ada", user__email="ada@example.test")


@pytest.fixture
def agent2(brand):
    return AgentFactory(brands=[brand], display_name="Bo", user__email="bo@example.test")


@pytest.fixture
def outsider_agent(other_brand):
    """Certified only for another brand."""
    return AgentFactory(brands=[other_brand], display_name="Olle", user__email="olle@example.test")


@pytest.fixture
def supervisor(brand):
    user = UserFactory(email="sup@example.test", role="supervisor", is_staff=True)
    brand.supervisors.add(user)
    return user


@pytest.fixture
def brand_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


TICKET_BODY = {
    "customer": {"external_id": "cust-1", "name": "Maja Svensson", "email": "maja@example.test"},
    "language": "en",
    "subject": "My card was declined",
    "category": "cards",
    "priority": "normal",
    "transcript": [
        {"role": "customer", "text": "My card does not work"},
        {"role": "bot", "text": "I can connect you with a human."},
    ],
    "summary": "Card declined at checkout; wants a human.",
}


@pytest.fixture
def handover(brand):
    """Hand a ticket over as the brand system would (service level), return the Ticket."""

    def make(brand=brand, **overrides):
        data = {**TICKET_BODY, **overrides}
        data["priority"] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}[data["priority"]]
        ticket = services.ticket_create(brand=brand, data=data)
        ticket.refresh_from_db()
        return ticket

    return make


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    settings.REOPEN_WINDOW_HOURS = 72
    settings.OFFER_TIMEOUT_SECONDS = 20
    # Expiry exactly at the end of the countdown, and no restart of a countdown for a push
    # that a slow test machine delivered late: tests/test_overload.py covers both.
    settings.OFFER_EXPIRY_GRACE_SECONDS = 0
    settings.OFFER_LATE_DELIVERY_SECONDS = 60


@pytest.fixture(scope="session", autouse=True)
def _close_stray_connections(django_db_setup):
    """Websocket tests leave connections open in asgiref's worker threads; end them so the
    test database can be dropped cleanly at the end of the run. Done from a separate
    connection to the maintenance database: Django's own connection objects are
    per-context and may not point at the test database here."""
    yield
    import psycopg
    from django.db import connections

    connections.close_all()
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db["NAME"]],
        )


def pytest_collection_modifyitems(items):
    """schemathesis names every operation's test alike; pytest-xdist schedules tests by node
    id, so it would run one of them. The operation goes into the id, as in the report."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith(f"[{label}]"):
            item._id = item.parent.id.child(item.name)
