"""Helpers for websocket tests: real consumers over the Redis channel layer."""

import asyncio
import json
import secrets

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from marketplace.asgi import application
from marketplace.services import api_token_create


@database_sync_to_async
def token_for(user) -> str:
    return api_token_create(user=user)[0]


async def agent_socket(user) -> WebsocketCommunicator:
    key = await token_for(user)
    comm = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"authorization", f"Token {key}".encode())])
    connected, _ = await comm.connect()
    assert connected
    return comm


async def customer_socket(token: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, f"/ws/customer/{token}/")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def send(comm, frame: dict) -> None:
    await comm.send_to(text_data=json.dumps(frame))


async def receive(comm, timeout: float = 3) -> dict:
    return json.loads(await comm.receive_from(timeout=timeout))


async def receive_type(comm, frame_type: str, timeout: float = 3, **match) -> dict:
    """The next frame of `frame_type` (and matching fields), skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {frame_type} frame matching {match} within {timeout}s")
        frame = await receive(comm, timeout=remaining)
        if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def request(comm, frame: dict, ref: str = "r1", timeout: float = 3) -> dict:
    """Send a frame with a ref and return the ack or error answering it."""
    await send(comm, {**frame, "ref": ref})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = await receive(comm, timeout=max(0.01, deadline - loop.time()))
        if answer["type"] in ("ack", "error") and answer.get("ref") == ref:
            return answer


async def everything_sent(comm, group: str, timeout: float = 3) -> list[dict]:
    """Every frame the server has sent or pushed to `comm` so far, ended by proof rather
    than by a silence that might just be slow.

    First a ping with a ref: the consumer handles frames in order, so whatever it sends
    itself (snapshot, answers to earlier frames) comes before the ack. Then a marker
    pushed to the socket's `group`: pushes to a group travel one Redis channel in order,
    so every push sent before this call arrives before the marker. Neither is returned.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    frames: list[dict] = []
    ref = f"sync-{secrets.token_hex(4)}"
    await send(comm, {"type": "ping", "ref": ref})
    while (frame := await receive(comm, timeout=max(0.01, deadline - loop.time()))) != {"type": "ack", "ref": ref}:
        frames.append(frame)
    marker = {"type": "test.marker", "id": ref}
    await get_channel_layer().group_send(group, {"type": "push", "frame": marker})
    while (frame := await receive(comm, timeout=max(0.01, deadline - loop.time()))) != marker:
        frames.append(frame)
    return frames


async def drain(comm, wait: float = 0.2) -> list[dict]:
    """Every frame that arrives until `wait` seconds pass in silence. Unlike a timed-out
    receive, this leaves the connection open."""
    frames = []
    while not await comm.receive_nothing(timeout=wait):
        frames.append(await receive(comm))
    return frames
