"""Websocket endpoints of the contract (PRODUCT.md section 4).

A consumer authenticates, joins its groups (names from tasks.realtime), routes each client
frame by `type` to a service and relays group events. Every client frame that carries a
`ref` is answered with `ack` or `error`; an error never closes the connection unless the
socket itself is not allowed.
"""

import json
import logging

from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from marketplace.errors import DomainError

from . import heartbeat, selectors, services
from .realtime import agent_group, customer_group

log = logging.getLogger(__name__)


def database_sync_to_async(func):
    """Run a service in the thread pool, not in the one shared "sync thread".

    Channels' default (thread_sensitive=True) funnels every consumer's database work in a
    process through a single thread, so one slow transaction delays every agent. Services
    are independent transactions that claim their rows with locks, so they may run in
    parallel; each thread takes a connection from the pool and gives it back afterwards.
    """
    return DatabaseSyncToAsync(func, thread_sensitive=False)

# A frame is at most a message plus some envelope; anything larger is refused unread.
MAX_FRAME_CHARS = settings.MESSAGE_MAX_CHARS * 2 + 1024


def _int_field(frame: dict, name: str) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(f"invalid_{name}", f"{name} must be an integer.")
    return value


class FrameConsumer(AsyncWebsocketConsumer):
    handlers: dict[str, str] = {}

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_error(self, ref, code: str, message: str) -> None:
        await self.send_frame({"type": "error", "ref": ref, "code": code, "message": message})

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        await self.accept()
        await self.send_error(None, code, message)
        await self.close(code=close_code)

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            return await self.send_error(None, "bad_frame", "Frames must be JSON text, not binary.")
        if len(text_data) > MAX_FRAME_CHARS:
            return await self.send_error(None, "frame_too_large", f"Frames are limited to {MAX_FRAME_CHARS} characters.")
        try:
            frame = json.loads(text_data)
        except ValueError:
            return await self.send_error(None, "bad_json", "The frame is not valid JSON.")
        if not isinstance(frame, dict):
            return await self.send_error(None, "bad_frame", "A frame must be a JSON object with a type.")
        ref = frame.get("ref")
        handler = self.handlers.get(frame.get("type"))
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return await self.send_error(ref, "unknown_type", f"Unknown frame type {frame.get('type')!r}; expected one of {known}.")
        try:
            await getattr(self, handler)(frame)
        except DomainError as exc:
            return await self.send_error(ref, exc.code, exc.message)
        except Exception:
            log.exception("frame %s failed", frame.get("type"))
            return await self.send_error(ref, "server_error", "Something went wrong on our side; nothing was changed.")
        if ref is not None:
            await self.send_frame({"type": "ack", "ref": ref})

    async def push(self, event):
        await self.send_frame(event["frame"])

    async def on_ping(self, frame):
        pass


class AgentConsumer(FrameConsumer):
    handlers = {
        "presence": "on_presence",
        "offer.accept": "on_accept",
        "offer.decline": "on_decline",
        "message": "on_message",
        "ticket.resolve": "on_resolve",
        "ping": "on_ping",
    }
    agent = None

    async def connect(self):
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False):
            return await self.refuse("unauthenticated", "Log in, or send Authorization: Token <token>.", 4401)
        self.agent = await database_sync_to_async(selectors.agent_for_user)(user)
        if self.agent is None:
            return await self.refuse("not_an_agent", "This account is not an approved agent.", 4403)
        self.group = agent_group(self.agent.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for frame in await database_sync_to_async(selectors.agent_snapshot)(self.agent.pk):
            await self.send_frame(frame)
        await database_sync_to_async(services.agent_connected)(
            agent_id=self.agent.pk, channel_name=self.channel_name, server=heartbeat.SERVER_ID
        )
        heartbeat.register(self.channel_name, self.agent.pk)

    async def __call__(self, scope, receive, send):
        # The connection row is removed however the consumer ends: a clean close, a crash
        # in a handler, or a cancelled task. A killed process is left to the heartbeat TTL.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._forget_connection()

    async def on_presence(self, frame):
        await database_sync_to_async(services.presence_set)(agent=self.agent, status=frame.get("status"))

    async def on_accept(self, frame):
        offer_id = _int_field(frame, "offer_id")
        await database_sync_to_async(services.offer_accept)(agent=self.agent, offer_id=offer_id)

    async def on_decline(self, frame):
        offer_id = _int_field(frame, "offer_id")
        reason = frame.get("reason") or ""
        if not isinstance(reason, str):
            raise DomainError("invalid_reason", "reason must be text.")
        await database_sync_to_async(services.offer_decline)(agent=self.agent, offer_id=offer_id, reason=reason)

    async def on_message(self, frame):
        await database_sync_to_async(services.message_send_agent)(
            agent=self.agent, ticket_id=frame.get("ticket_id"), text=frame.get("text")
        )

    async def on_resolve(self, frame):
        await database_sync_to_async(services.ticket_resolve)(agent=self.agent, ticket_id=frame.get("ticket_id"))


class CustomerConsumer(FrameConsumer):
    handlers = {"message": "on_message", "rate": "on_rate", "reopen": "on_reopen", "ping": "on_ping"}
    ticket = None

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        found = await database_sync_to_async(selectors.customer_snapshot)(token)
        if found is None:
            return await self.refuse("ticket_not_found", "This chat link is not valid.", 4404)
        self.ticket, snapshot = found
        await self.channel_layer.group_add(customer_group(self.ticket.pk), self.channel_name)
        await self.accept()
        for frame in snapshot:
            await self.send_frame(frame)

    async def disconnect(self, code):
        if self.ticket is not None:
            await self.channel_layer.group_discard(customer_group(self.ticket.pk), self.channel_name)

    async def on_message(self, frame):
        await database_sync_to_async(services.message_send_customer)(ticket=self.ticket, text=frame.get("text"))

    async def on_rate(self, frame):
        await database_sync_to_async(services.ticket_rate)(
            ticket=self.ticket, score=frame.get("score"), comment=frame.get("comment") or ""
        )

    async def on_reopen(self, frame):
        await database_sync_to_async(services.ticket_reopen)(ticket=self.ticket)
