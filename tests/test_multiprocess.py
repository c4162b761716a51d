"""Two ASGI server processes on one Redis: an offer made by one reaches an agent whose
socket is held by the other (the scale-out path: many web processes, one channel layer)."""

import asyncio
import json
import urllib.request

import pytest
import websockets

from marketplace.services import api_token_create

from .conftest import TICKET_BODY
from .live import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_offer_created_through_one_process_reaches_an_agent_on_the_other(agent, api_key):
    token, _ = api_token_create(user=agent.user)
    with asgi_server(sweeper=False) as first, asgi_server(sweeper=False) as second:
        assert first != second

        async def story():
            ws_url = second.replace("http://", "ws://") + "/ws/agent/"
            async with websockets.connect(ws_url, additional_headers={"Authorization": f"Token {token}"}) as ws:
                assert json.loads(await ws.recv())["type"] == "presence"
                await ws.send(json.dumps({"type": "presence", "status": "available", "ref": "p"}))
                while json.loads(await asyncio.wait_for(ws.recv(), 5)).get("ref") != "p":
                    pass

                request = urllib.request.Request(
                    f"{first}/api/v1/tickets/",
                    data=json.dumps(TICKET_BODY).encode(),
                    headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
                )
                loop = asyncio.get_running_loop()
                created = json.loads(await loop.run_in_executor(None, lambda: urllib.request.urlopen(request).read()))

                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if frame["type"] == "offer":
                        return created, frame

        created, offer = asyncio.run(story())
    assert offer["ticket"]["id"] == created["id"]
    assert offer["pay"] == {"amount": "45.00", "currency": "SEK"}
