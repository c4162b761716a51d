"""Helpers for websocket tests: real consumers over the Redis channel layer."""

import asyncio
import json

from channels.db import database_sync_to_async
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


async def drain(comm, wait: float = 0.2) -> list[dict]:
    """Every frame that arrives until `wait` seconds pass in silence. Unlike a timed-out
    receive, this leaves the connection open."""
    frames = []
    while not await comm.receive_nothing(timeout=wait):
        frames.append(await receive(comm))
    return frames
