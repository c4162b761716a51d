"""The ASGI application runs Django's middleware chain and a sync view as one call in the
request's thread: no crossing back to the event loop halfway (marketplace/asgi.py), with
what the middleware add still there, and the async health check still answered."""

import threading

import httpx
import pytest
from asgiref import sync

from marketplace.asgi import application

from .conftest import TICKET_BODY


@pytest.fixture
def crossings(monkeypatch):
    """The threads each middleware-wrapped call ran on, and every sync-to-async crossing."""
    seen: dict = {"async_to_sync": 0, "threads": set()}
    original = sync.AsyncToSync.__call__

    def counted(self, *args, **kwargs):
        seen["async_to_sync"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sync.AsyncToSync, "__call__", counted)
    return seen


async def call(method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path, **kwargs)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_handover_runs_its_middleware_and_view_without_going_back_to_the_event_loop(
    api_key, crossings, monkeypatch
):
    from marketplace.middleware import ContentSecurityPolicyMiddleware
    from tasks.api import TicketListCreateView

    view_post, csp_call = TicketListCreateView.post, ContentSecurityPolicyMiddleware.__call__

    def post(self, request, *args, **kwargs):
        crossings["threads"].add(("view", threading.get_ident()))
        return view_post(self, request, *args, **kwargs)

    def csp(self, request):
        crossings["threads"].add(("middleware", threading.get_ident()))
        return csp_call(self, request)

    monkeypatch.setattr(TicketListCreateView, "post", post)
    monkeypatch.setattr(ContentSecurityPolicyMiddleware, "__call__", csp)
    response = await call(
        "POST",
        "/api/v1/tickets/",
        json=TICKET_BODY,
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "one-crossing"},
    )
    assert response.status_code == 201, response.text
    # What the outer and inner middleware add is there.
    assert "Content-Security-Policy" in response.headers and response.headers["X-Frame-Options"] == "DENY"
    assert crossings["async_to_sync"] == 0
    threads = {ident for _, ident in crossings["threads"]}
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert {where for where, _ in crossings["threads"]} == {"view", "middleware"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_async_health_check_is_answered_through_the_sync_chain():
    response = await call("GET", "/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["channel_layer"] == "ok"
