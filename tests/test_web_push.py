"""Web Push: the agent's subscription endpoint, and an offer pushed to a stand-in push
service (a real HTTP server in a thread) that decrypts what it receives with the browser's
keys and checks the VAPID signature, as a browser's push service would."""

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.management import call_command
from rest_framework.test import APIClient

from agents.models import AgentProfile, PushSubscription
from marketplace.services import api_token_create
from tasks.models import Offer

from .factories import AgentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/push-subscriptions/"
SUBJECT = "mailto:ops@example.test"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_vapid_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(public), b64url(key.private_numbers().private_value.to_bytes(32, "big"))


class Browser:
    """What a browser holds for one subscription: its P-256 key pair and auth secret."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    @property
    def keys(self) -> dict:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def subscription(self) -> dict:
        return {"endpoint": self.endpoint, "keys": self.keys}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


class PushService:
    """A local HTTP server standing in for a browser vendor's push service."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: dict[str, int] = {}  # path -> status (default 201)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                service.received.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(service.answers.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def vapid(settings):
    public, private = new_vapid_pair()
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = SUBJECT
    settings.WEB_PUSH_ENABLED = True
    settings.WEB_PUSH_HOSTS = ["127.0.0.1", "fcm.googleapis.com"]
    settings.WEB_PUSH_SCHEMES = ("https", "http")
    return public


@pytest.fixture
def push_service():
    with PushService() as service:
        yield service


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[0]}")
    return client


def fcm_browser() -> Browser:
    return Browser(f"https://fcm.googleapis.com/fcm/send/{b64url(os.urandom(12))}")


# --- The subscription endpoint ---------------------------------------------------------------


def test_agent_subscribes_a_browser_and_dispatch_learns_it_has_push(agent, vapid):
    browser = fcm_browser()
    response = client_for(agent.user).post(URL, browser.subscription(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["endpoint"] == browser.endpoint
    stored = PushSubscription.objects.get(endpoint=browser.endpoint)
    assert (stored.agent_id, stored.p256dh, stored.auth) == (agent.pk, browser.keys["p256dh"], browser.keys["auth"])
    agent.refresh_from_db()
    assert agent.has_push is True


def test_subscribing_the_same_browser_again_refreshes_it(agent, vapid):
    browser = fcm_browser()
    client = client_for(agent.user)
    assert client.post(URL, browser.subscription(), format="json").status_code == 201
    browser.auth = os.urandom(16)  # the browser renewed its subscription keys
    again = client.post(URL, browser.subscription(), format="json")
    assert again.status_code == 200
    assert PushSubscription.objects.get().auth == browser.keys["auth"]


def test_a_browser_moves_to_the_agent_who_logged_in_last(agent, agent2, vapid):
    browser = fcm_browser()
    client_for(agent.user).post(URL, browser.subscription(), format="json")
    assert client_for(agent2.user).post(URL, browser.subscription(), format="json").status_code == 201
    assert PushSubscription.objects.get().agent_id == agent2.pk
    assert AgentProfile.objects.get(pk=agent.pk).has_push is False
    assert AgentProfile.objects.get(pk=agent2.pk).has_push is True


def test_unsubscribing_deletes_the_row_and_clears_has_push(agent, vapid):
    browser = fcm_browser()
    client = client_for(agent.user)
    client.post(URL, browser.subscription(), format="json")
    response = client.delete(URL, {"endpoint": browser.endpoint}, format="json")
    assert response.status_code == 204
    assert not PushSubscription.objects.exists()
    agent.refresh_from_db()
    assert agent.has_push is False


def test_an_agent_cannot_remove_another_agents_subscription(agent, agent2, vapid):
    browser = fcm_browser()
    client_for(agent.user).post(URL, browser.subscription(), format="json")
    response = client_for(agent2.user).delete(URL, {"endpoint": browser.endpoint}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "push_subscription_not_found"
    assert PushSubscription.objects.filter(agent=agent).exists()


def test_outsider_without_login_is_refused(vapid):
    response = APIClient().post(URL, fcm_browser().subscription(), format="json")
    assert response.status_code == 401
    assert not PushSubscription.objects.exists()


def test_brand_key_and_customer_token_are_refused(brand_client, handover, agent, vapid):
    ticket = handover()
    assert brand_client.post(URL, fcm_browser().subscription(), format="json").status_code == 401
    customer = APIClient()
    customer.credentials(HTTP_AUTHORIZATION=f"Token {ticket.customer_token}")
    assert customer.post(URL, fcm_browser().subscription(), format="json").status_code == 401
    assert not PushSubscription.objects.exists()


def test_supervisor_is_refused(supervisor, vapid, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    client = APIClient()
    client.force_authenticate(user=supervisor)
    response = client.post(URL, fcm_browser().subscription(), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_an_agent"
    assert client.delete(URL, {"endpoint": "https://fcm.googleapis.com/x"}, format="json").status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid"),
        ({"endpoint": "https://fcm.googleapis.com/fcm/send/x"}, "invalid"),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "abc", "auth": "abc"}},
            "invalid_subscription",
        ),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "!!!", "auth": "!!!"}},
            "invalid_subscription",
        ),
        ({"endpoint": "https://169.254.169.254/latest/meta-data", "keys": "VALID"}, "push_endpoint_not_allowed"),
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/x", "keys": "VALID"}, "push_endpoint_not_allowed"),
        ({"endpoint": "https://fcm.googleapis.com.evil.test/x", "keys": "VALID"}, "push_endpoint_not_allowed"),
    ],
)
def test_bad_subscriptions_are_refused_with_their_code(agent, vapid, settings, body, code):
    settings.WEB_PUSH_SCHEMES = ("https",)
    if body.get("keys") == "VALID":
        body = {**body, "keys": fcm_browser().keys}
    response = client_for(agent.user).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not PushSubscription.objects.exists()
    assert AgentProfile.objects.get(pk=agent.pk).has_push is False


def test_without_vapid_keys_push_is_off(agent, settings):
    settings.WEB_PUSH_ENABLED = False
    response = client_for(agent.user).post(URL, fcm_browser().subscription(), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "push_disabled"


def test_the_app_page_offers_push_only_with_vapid_keys(agent, client, settings):
    client.force_login(agent.user)
    settings.WEB_PUSH_ENABLED = False
    assert b'data-vapid-key=""' in client.get("/agent/").content
    settings.WEB_PUSH_ENABLED = True
    settings.VAPID_PUBLIC_KEY = "BPublicKey"
    assert b'data-vapid-key="BPublicKey"' in client.get("/agent/").content


def test_generate_vapid_keys_prints_a_usable_pair(capsys):
    call_command("generate_vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    public = b64url_decode(lines["VAPID_PUBLIC_KEY"])
    private = int.from_bytes(b64url_decode(lines["VAPID_PRIVATE_KEY"]), "big")
    derived = ec.derive_private_key(private, ec.SECP256R1()).public_key()
    assert derived.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint) == public


# --- An offer pushed to the stand-in push service ---------------------------------------------


def subscribe(agent, browser: Browser) -> PushSubscription:
    from agents import services as agent_services

    subscription, _ = agent_services.push_subscription_save(agent=agent, endpoint=browser.endpoint, **browser.keys)
    return subscription


def verify_vapid(header: str, public_key: str, audience: str) -> dict:
    """`vapid t=<JWT>, k=<key>` (RFC 8292): the JWT is ES256-signed by the server's key."""
    assert header.startswith("vapid ")
    parts = dict(part.strip().split("=", 1) for part in header[len("vapid ") :].split(","))
    assert parts["k"] == public_key
    head_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(b64url_decode(head_b64))["alg"] == "ES256"
    raw = b64url_decode(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    try:
        key.verify(signature, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:  # pragma: no cover - the assertion message is the point
        pytest.fail("the VAPID JWT does not verify with VAPID_PUBLIC_KEY")
    claims = json.loads(b64url_decode(claims_b64))
    assert claims["aud"] == audience
    assert claims["sub"] == SUBJECT
    assert claims["exp"] > time.time()
    return claims


def test_an_offer_is_pushed_encrypted_to_the_agents_browser(
    brand, handover, vapid, push_service, django_capture_on_commit_callbacks
):
    agent = AgentFactory(brands=[brand], available=True)
    browser = Browser(f"{push_service.base}/push/one")
    subscribe(agent, browser)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = handover()
    offer = Offer.objects.get(ticket=ticket, state=Offer.State.PENDING)
    assert offer.agent_id == agent.pk

    [request] = push_service.received
    assert request["path"] == "/push/one"
    headers = request["headers"]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["urgency"] == "high"
    assert 0 < int(headers["ttl"]) <= 20
    assert headers["topic"] == f"offer-{offer.pk}"
    verify_vapid(headers["authorization"], vapid, push_service.base)

    payload = browser.decrypt(request["body"])
    assert payload["type"] == "offer"
    assert payload["offer_id"] == offer.pk
    assert payload["pay"] == {"amount": "45.00", "currency": "SEK"}
    assert payload["ticket"] == {"id": ticket.pk, "subject": ticket.subject, "language": "en"}
    assert payload["expires_at"] == offer.expires_at.isoformat()
    subscription = PushSubscription.objects.get()
    assert subscription.last_success_at is not None
    assert subscription.failure_count == 0


def test_a_subscription_the_push_service_calls_gone_is_deleted(
    brand, handover, vapid, push_service, django_capture_on_commit_callbacks
):
    agent = AgentFactory(brands=[brand], available=True)
    subscribe(agent, Browser(f"{push_service.base}/push/gone"))
    push_service.answers["/push/gone"] = 410
    with django_capture_on_commit_callbacks(execute=True):
        handover()
    assert len(push_service.received) == 1
    assert not PushSubscription.objects.exists()
    assert AgentProfile.objects.get(pk=agent.pk).has_push is False


def test_a_failing_push_service_is_counted_and_the_offer_stands(
    brand, handover, vapid, push_service, django_capture_on_commit_callbacks
):
    agent = AgentFactory(brands=[brand], available=True)
    subscribe(agent, Browser(f"{push_service.base}/push/busy"))
    push_service.answers["/push/busy"] = 503
    with django_capture_on_commit_callbacks(execute=True):
        ticket = handover()
    assert Offer.objects.filter(ticket=ticket, agent=agent, state=Offer.State.PENDING).exists()
    subscription = PushSubscription.objects.get()
    assert subscription.failure_count == 1
    assert AgentProfile.objects.get(pk=agent.pk).has_push is True


def test_an_agent_without_a_subscription_costs_no_job_and_no_query(
    brand, handover, vapid, push_service, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    from tasks import services

    from .conftest import TICKET_BODY
    from .test_query_counts import INTAKE_STATEMENTS

    AgentFactory(brands=[brand], available=True)
    data = {**TICKET_BODY, "priority": 1}
    with django_capture_on_commit_callbacks(execute=True):
        with django_assert_max_num_queries(INTAKE_STATEMENTS):
            ticket = services.ticket_create(brand=brand, data=data)
    assert ticket.offers.get().state == Offer.State.PENDING
    assert push_service.received == []
