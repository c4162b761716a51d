"""Websocket endpoints of the public contract (agent and customer sockets).

A consumer authenticates, joins its groups (names from tasks.realtime), routes each client
frame by `type` to a service and relays group events. Every client frame that carries a
`ref` is answered with `ack` or `error`; an error never closes the connection unless the
socket itself is not allowed.
"""

import contextlib
import json
import logging
import time

from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from marketplace.errors import DomainError, NotFound
from marketplace.parsers import has_forbidden_characters
from marketplace.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from marketplace.unavailable import UNAVAILABLE_ERRORS

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
# A client that keeps sending over its budget (this many refused frames without once letting
# its bucket fill up again) is cut off; 4429 says why, like HTTP's 429.
FLOOD_REFUSALS_BEFORE_CLOSE = 200
FLOOD_CLOSE_CODE = 4429
# A ref is echoed so the client can match the answer; anything else could make the answer
# arbitrarily large. Larger integers would lose precision in JavaScript.
REF_MAX_CHARS = 100
REF_MAX_INT = 2**53
# Ids are PostgreSQL bigints: a larger number could only fail inside the query.
MAX_ID = 2**63 - 1
DECLINE_REASON_MAX_CHARS = 200
HISTORY_MAX_LIMIT = 100
TYPE_ECHO_MAX_CHARS = 40


class FrameBucket:
    """Token bucket over one socket's client frames: `burst` at once, then `rate` a second.

    `refused` counts the frames turned away since the bucket was last full, that is since
    the client last paused long enough; a client that never pauses accumulates them.
    """

    def __init__(self, *, rate: float, burst: int, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()
        self.refused = 0

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= self.burst:
            self.refused = 0
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        return False


def echo_ref(value):
    """The ref to answer with: a short string or a safe integer, else null."""
    if isinstance(value, str) and len(value) <= REF_MAX_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -REF_MAX_INT <= value <= REF_MAX_INT:
        return value
    return None


def rate_limited() -> DomainError:
    return DomainError(
        "rate_limited",
        f"Too many frames: at most {settings.WS_FRAME_BURST} at once and {settings.WS_FRAMES_PER_SECOND:g} a second; "
        "this one was not read.",
    )


def parse_frame(text_data, bytes_data) -> dict:
    if text_data is None:
        raise DomainError("bad_frame", "Frames must be JSON text, not binary.")
    if len(text_data) > MAX_FRAME_CHARS:
        raise DomainError("frame_too_large", f"Frames are limited to {MAX_FRAME_CHARS} characters.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError):
        # RecursionError: a few thousand nested brackets fit in one frame.
        raise DomainError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise DomainError("bad_frame", "A frame must be a JSON object with a type.")
    return frame


_JSON_TYPES = {dict: "object", list: "array", bool: "boolean", int: "number", float: "number", type(None): "null"}


def _type_name(frame: dict) -> str:
    """The frame's type for messages and logs, never longer than a line."""
    value = frame.get("type")
    if isinstance(value, str):
        return repr(value if len(value) <= TYPE_ECHO_MAX_CHARS else value[:TYPE_ECHO_MAX_CHARS] + "...")
    return f"(a JSON {_JSON_TYPES.get(type(value), 'value')})"


def _id_field(frame: dict, name: str, *, required: bool = True) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise DomainError(f"invalid_{name}", f"{name} must be a positive integer.")
    return value


def _text_field(frame: dict, name: str, *, code: str = "invalid_text") -> object:
    """The text as sent; only characters no database can store are refused here. Type,
    emptiness and length stay the service's rules."""
    value = frame.get(name)
    if isinstance(value, str) and has_forbidden_characters(value):
        raise DomainError(code, f"{name} contains a NUL character or an unpaired surrogate.")
    return value


def _history_query(frame: dict) -> tuple[int | None, int]:
    before = _id_field(frame, "before", required=False)
    limit = frame.get("limit", min(settings.SNAPSHOT_MESSAGES, HISTORY_MAX_LIMIT))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise DomainError("invalid_limit", f"limit must be a whole number from 1 to {HISTORY_MAX_LIMIT}.")
    return before, limit


async def _refuse_while_unavailable(receive, send) -> None:
    """Answer a handshake the channel layer could not serve (Redis is away): accept, say
    why in an error frame, close with 1013 ("try again later")."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    frame = {"type": "error", "ref": None, "code": "service_unavailable", "message": UNAVAILABLE_MESSAGE}
    await send({"type": "websocket.send", "text": json.dumps(frame)})
    await send({"type": "websocket.close", "code": 1013})


class FrameConsumer(AsyncWebsocketConsumer):
    handlers: dict[str, str] = {}
    bucket: FrameBucket | None = None
    flooded = False

    async def __call__(self, scope, receive, send):
        # The channel layer is first used before the handshake is even read (a channel name
        # is made for the socket): without Redis that fails, and the client would see a bare
        # HTTP 500. Tell it the truth instead; it reconnects once Redis is back.
        received: list[str] = []

        async def receive_and_note():
            message = await receive()
            received.append(message["type"])
            return message

        try:
            await super().__call__(scope, receive_and_note, send)
        except UNAVAILABLE_ERRORS as exc:
            log.warning("websocket %s refused or ended: Redis is unavailable (%s)", scope.get("path"), exc)
            if not received:
                await _refuse_while_unavailable(receive, send)
            else:
                with contextlib.suppress(Exception):  # the client may be gone already
                    await send({"type": "websocket.close", "code": 1013})

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_error(self, ref, code: str, message: str) -> None:
        await self.send_frame({"type": "error", "ref": ref, "code": code, "message": message})

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        await self.accept()
        await self.send_error(None, code, message)
        await self.close(code=close_code)

    def take_frame_token(self) -> bool:
        if self.bucket is None:
            self.bucket = FrameBucket(rate=settings.WS_FRAMES_PER_SECOND, burst=settings.WS_FRAME_BURST)
        return self.bucket.take()

    async def receive(self, text_data=None, bytes_data=None):
        """Answer every frame, whatever it holds: the error codes of parse_frame, rate_limited,
        unknown_type, the handler's DomainError, or server_error; an ack when it carries a ref.
        Nothing a client sends closes the socket, except flooding it."""
        if self.flooded:
            return
        allowed = self.take_frame_token()
        ref = None
        wants_answer = False
        name = "?"
        try:
            frame = parse_frame(text_data, bytes_data)
            ref = echo_ref(frame.get("ref"))
            wants_answer = frame.get("ref") is not None
            name = _type_name(frame)
            if not allowed:
                raise rate_limited()
            frame_type = frame.get("type")
            handler = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                known = ", ".join(sorted(self.handlers))
                raise DomainError("unknown_type", f"Unknown frame type {name}; expected one of {known}.")
            await getattr(self, handler)(frame)
        except DomainError as exc:
            # Over the budget, even a malformed frame only hears that it was not read.
            refusal = exc if allowed else rate_limited()
            await self.send_error(ref, refusal.code, refusal.message)
        except Exception:
            log.exception("frame %s failed", name)
            await self.send_error(ref, "server_error", "Something went wrong on our side; nothing was changed.")
        else:
            if wants_answer:
                await self.send_frame({"type": "ack", "ref": ref})
        if not allowed and self.bucket.refused >= FLOOD_REFUSALS_BEFORE_CLOSE:
            self.flooded = True
            log.warning("closing a socket that sent %d frames over its budget", self.bucket.refused)
            await self.close(code=FLOOD_CLOSE_CODE)

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
        "history": "on_history",
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
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except UNAVAILABLE_ERRORS:
            return await self.refuse("service_unavailable", UNAVAILABLE_MESSAGE, 1013)
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

    async def _forget_connection(self):
        if self.agent is None or getattr(self, "_forgotten", False):
            return
        self._forgotten = True
        heartbeat.unregister(self.channel_name)
        try:
            await database_sync_to_async(services.agent_disconnected)(
                agent_id=self.agent.pk, channel_name=self.channel_name
            )
        except Exception:
            log.exception("could not record the close of %s; the heartbeat TTL will", self.channel_name)

    async def disconnect(self, code):
        if self.agent is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self._forget_connection()

    async def on_presence(self, frame):
        status = frame.get("status")
        if not isinstance(status, str):
            raise DomainError("invalid_status", "Status must be available, away or offline.")
        await database_sync_to_async(services.presence_set)(agent=self.agent, status=status)

    async def on_accept(self, frame):
        offer_id = _id_field(frame, "offer_id")
        await database_sync_to_async(services.offer_accept)(agent=self.agent, offer_id=offer_id)

    async def on_decline(self, frame):
        offer_id = _id_field(frame, "offer_id")
        reason = _text_field(frame, "reason", code="invalid_reason") or ""
        if not isinstance(reason, str) or len(reason) > DECLINE_REASON_MAX_CHARS:
            raise DomainError("invalid_reason", f"reason must be text of at most {DECLINE_REASON_MAX_CHARS} characters.")
        await database_sync_to_async(services.offer_decline)(agent=self.agent, offer_id=offer_id, reason=reason)

    async def on_message(self, frame):
        ticket_id = _id_field(frame, "ticket_id")
        text = _text_field(frame, "text")
        await database_sync_to_async(services.message_send_agent)(agent=self.agent, ticket_id=ticket_id, text=text)

    async def on_resolve(self, frame):
        ticket_id = _id_field(frame, "ticket_id")
        await database_sync_to_async(services.ticket_resolve)(agent=self.agent, ticket_id=ticket_id)

    async def on_history(self, frame):
        ticket_id = _id_field(frame, "ticket_id")
        before, limit = _history_query(frame)
        page = await database_sync_to_async(selectors.agent_history)(
            agent=self.agent, ticket_id=ticket_id, before=before, limit=limit
        )
        await self.send_frame(page)


class CustomerConsumer(FrameConsumer):
    handlers = {
        "message": "on_message",
        "rate": "on_rate",
        "reopen": "on_reopen",
        "history": "on_history",
        "ping": "on_ping",
    }
    ticket = None

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.ticket = await database_sync_to_async(selectors.customer_ticket)(token)
        if self.ticket is None:
            return await self.refuse("ticket_not_found", "This chat link is not valid.", 4404)
        # Join first, then read the snapshot: a message committed in between is pushed to
        # the group (events wait until connect returns), never lost between the two.
        try:
            await self.channel_layer.group_add(customer_group(self.ticket.pk), self.channel_name)
        except UNAVAILABLE_ERRORS:
            return await self.refuse("service_unavailable", UNAVAILABLE_MESSAGE, 1013)
        await self.accept()
        for frame in await database_sync_to_async(selectors.customer_snapshot)(self.ticket.pk):
            await self.send_frame(frame)

    async def disconnect(self, code):
        if self.ticket is not None:
            await self.channel_layer.group_discard(customer_group(self.ticket.pk), self.channel_name)

    async def on_message(self, frame):
        text = _text_field(frame, "text")
        await database_sync_to_async(services.message_send_customer)(ticket=self.ticket, text=text)

    async def on_rate(self, frame):
        comment = _text_field(frame, "comment") or ""
        await database_sync_to_async(services.ticket_rate)(ticket=self.ticket, score=frame.get("score"), comment=comment)

    async def on_reopen(self, frame):
        await database_sync_to_async(services.ticket_reopen)(ticket=self.ticket)

    async def on_history(self, frame):
        # ticket_id is optional here: this socket belongs to one ticket.
        ticket_id = _id_field(frame, "ticket_id", required=False)
        if ticket_id is not None and ticket_id != self.ticket.pk:
            raise NotFound("ticket_not_found", "This chat has no such ticket.")
        before, limit = _history_query(frame)
        page = await database_sync_to_async(selectors.customer_history)(ticket_id=self.ticket.pk, before=before, limit=limit)
        await self.send_frame(page)
