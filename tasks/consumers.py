"""Websocket endpoints of the public contract (agent and customer sockets).

A consumer authenticates, joins its groups (names from tasks.realtime), parses each client
frame into a typed value (tasks.client_frames), hands it to a service and relays group
events. Every client frame that carries a `ref` is answered with `ack` or `error`; an
error never closes the connection unless the socket itself is not allowed.
"""

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from marketplace import admission
from marketplace.errors import DomainError, NotFound
from marketplace.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from marketplace.unavailable import UNAVAILABLE_ERRORS

from . import heartbeat, selectors, services, snapshots
from .client_frames import (
    AGENT_FRAMES,
    CUSTOMER_FRAMES,
    AgentMessage,
    ClientFrame,
    Confirm,
    CustomerMessage,
    History,
    NotifyMe,
    OfferAccept,
    OfferDecline,
    Ping,
    Presence,
    Rate,
    Read,
    Reopen,
    TicketResolve,
    Typing,
    echo_ref,
    parse_json_frame,
    parse_typed,
    type_name,
)
from .frames import iso
from .models import Message, Ticket
from .notify import notify_typing
from .realtime import agent_group, customer_group

log = logging.getLogger(__name__)


@functools.cache
def database_sync_to_async(func):
    """Run a service in the thread pool, not in the one shared "sync thread".

    Channels' default (thread_sensitive=True) funnels every consumer's database work in a
    process through a single thread, so one slow transaction delays every agent. Services
    are independent transactions that claim their rows with locks, so they may run in
    parallel; each thread takes a connection from the pool and gives it back afterwards.
    One wrapper per service, made once: building it inspects the function every time.
    """
    return DatabaseSyncToAsync(func, thread_sensitive=False)


# A client that keeps sending over its budget (this many refused frames without once letting
# its bucket fill up again) is cut off; 4429 says why, like HTTP's 429.
FLOOD_REFUSALS_BEFORE_CLOSE = 200
FLOOD_CLOSE_CODE = 4429


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


def rate_limited() -> DomainError:
    return DomainError(
        "rate_limited",
        f"Too many frames: at most {settings.WS_FRAME_BURST} at once and {settings.WS_FRAMES_PER_SECOND:g} a second; "
        "this one was not read.",
    )


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
    # Frame type -> parser into a typed value (tasks.client_frames).
    handlers: dict[str, Callable[[dict[str, Any]], ClientFrame]] = {}
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

    async def dispatch(self, message):
        # Channels closes stale database connections before every message it dispatches,
        # through its one thread-sensitive thread: a thread hop for each frame in and each
        # push out, with all of a process's sockets queued on that one thread. These
        # consumers reach the database only through database_sync_to_async above, which
        # closes them around each call in its own worker thread, so the hop buys nothing.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
        """Answer every frame, whatever it holds: a parsing refusal (client_frames),
        rate_limited, the service's DomainError, or server_error; an ack when it carries a
        ref. Nothing a client sends closes the socket, except flooding it."""
        if self.flooded:
            return
        # An offer is judged by when its accept arrived, not by when a busy process got to it.
        self.received_at = timezone.now()
        with admission.work.working(frame=True):
            await self._receive(text_data)

    async def _receive(self, text_data) -> None:
        allowed = self.take_frame_token()
        ref = None
        wants_answer = False
        name = "?"
        try:
            frame = parse_json_frame(text_data)
            ref = echo_ref(frame.get("ref"))
            wants_answer = frame.get("ref") is not None
            name = type_name(frame)
            if not allowed:
                raise rate_limited()
            # A message's ref is kept with it, so a frame resent after a reconnect is
            # recognised; any ref is kept as text.
            client_ref = "" if ref is None else str(ref)
            answer = await self.handle(parse_typed(frame, self.handlers), client_ref)
        except DomainError as exc:
            # Over the budget, even a malformed frame only hears that it was not read.
            refusal = exc if allowed else rate_limited()
            await self.send_error(ref, refusal.code, refusal.message)
        except Exception:
            log.exception("frame %s failed", name)
            await self.send_error(ref, "server_error", "Something went wrong on our side; nothing was changed.")
        else:
            if wants_answer:
                await self.send_frame({"type": "ack", "ref": ref, **(answer or {})})
        if not allowed and self.bucket is not None and self.bucket.refused >= FLOOD_REFUSALS_BEFORE_CLOSE:
            self.flooded = True
            log.warning("closing a socket that sent %d frames over its budget", self.bucket.refused)
            await self.close(code=FLOOD_CLOSE_CODE)

    async def handle(self, frame: ClientFrame, client_ref: str) -> dict[str, Any] | None:
        """Carry out one frame; what it returns goes into the ack (a message's id)."""
        raise NotImplementedError

    async def push(self, event):
        await self.send_frame(event["frame"])


def message_ack(message: Message) -> dict[str, Any]:
    """The ack of a message frame names the stored message, the first copy's for a resend."""
    return {"message_id": message.pk}


class AgentConsumer(FrameConsumer):
    handlers = AGENT_FRAMES
    agent = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.working: set[int] = set()

    async def send_frame(self, frame: dict) -> None:
        # The chats this socket was told are the agent's, from the snapshot and the pushes:
        # a typing frame is authorized from this without a query.
        kind = frame.get("type")
        if kind == "ticket.assigned":
            self.working.add(frame["ticket"]["id"])
        elif kind == "ticket.updated" and frame.get("status") != Ticket.Status.ASSIGNED:
            self.working.discard(frame.get("ticket_id"))
        elif kind == "offer":
            on_time = await self._on_time(frame)
            if on_time is None:
                return
            frame = on_time
        await super().send_frame(frame)

    async def _on_time(self, frame: dict) -> dict | None:
        """An offer frame that reaches the socket late, because the server was busy, starts
        its countdown again now: the agent gets the whole time the frame promises
        (`expires_in`), and so does the sweeper. None when the offer closed meanwhile."""
        promised = frame["expires_in"]
        built_at = datetime.fromisoformat(frame["expires_at"]) - timedelta(seconds=promised)
        now = timezone.now()
        if (now - built_at).total_seconds() <= settings.OFFER_LATE_DELIVERY_SECONDS:
            return frame
        expires_at = now + timedelta(seconds=promised)
        if not await database_sync_to_async(services.offer_countdown_restart)(
            offer_id=frame["offer_id"], expires_at=expires_at
        ):
            return None
        return {**frame, "expires_at": iso(expires_at)}

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
        for frame in await database_sync_to_async(snapshots.agent_snapshot)(self.agent.pk):
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

    async def handle(self, frame: ClientFrame, client_ref: str) -> dict[str, Any] | None:
        agent = self.agent
        match frame:
            case Presence(status=status):
                await database_sync_to_async(services.presence_set)(agent=agent, status=status)
            case OfferAccept(offer_id=offer_id):
                await database_sync_to_async(services.offer_accept)(
                    agent=agent, offer_id=offer_id, received_at=self.received_at
                )
            case OfferDecline(offer_id=offer_id, reason=reason):
                await database_sync_to_async(services.offer_decline)(agent=agent, offer_id=offer_id, reason=reason)
            case AgentMessage(ticket_id=ticket_id, text=text):
                message = await database_sync_to_async(services.message_send_agent)(
                    agent=agent, ticket_id=ticket_id, text=text, client_ref=client_ref
                )
                return message_ack(message)
            case TicketResolve(ticket_id=ticket_id):
                await database_sync_to_async(services.ticket_resolve)(agent=agent, ticket_id=ticket_id)
            case History(ticket_id=int() as ticket_id, before=before, limit=limit):
                page = await database_sync_to_async(snapshots.agent_history)(
                    agent=agent, ticket_id=ticket_id, before=before, limit=limit
                )
                await self.send_frame(page)
            case Typing(ticket_id=int() as ticket_id):
                if ticket_id not in self.working:
                    raise NotFound("ticket_not_found", "There is no such ticket assigned to you.")
                await notify_typing(ticket_id=ticket_id, sender=Message.Sender.AGENT, agent_id=None)
            case Read(ticket_id=int() as ticket_id, up_to=up_to):
                await database_sync_to_async(services.ticket_read_agent)(agent=agent, ticket_id=ticket_id, up_to=up_to)
            case Ping():
                pass
        return None


class CustomerConsumer(FrameConsumer):
    handlers = CUSTOMER_FRAMES
    ticket: Ticket | None = None

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
        for frame in await database_sync_to_async(snapshots.customer_snapshot)(self.ticket.pk):
            await self.send_frame(frame)

    async def disconnect(self, code):
        if self.ticket is not None:
            await self.channel_layer.group_discard(customer_group(self.ticket.pk), self.channel_name)

    async def handle(self, frame: ClientFrame, client_ref: str) -> dict[str, Any] | None:
        # Frames are handled only after connect() found the ticket and accepted the socket.
        ticket = cast(Ticket, self.ticket)
        match frame:
            case CustomerMessage(text=text):
                message = await database_sync_to_async(services.message_send_customer)(
                    ticket=ticket, text=text, client_ref=client_ref
                )
                return message_ack(message)
            case Rate(score=score, comment=comment):
                await database_sync_to_async(services.ticket_rate)(ticket=ticket, score=score, comment=comment)
            case Reopen():
                await database_sync_to_async(services.ticket_reopen)(ticket=ticket)
            case Confirm():
                await database_sync_to_async(services.ticket_confirm)(ticket=ticket)
            case NotifyMe(email=email):
                await database_sync_to_async(services.ticket_notify_email_set)(ticket=ticket, email=email)
            case History(ticket_id=ticket_id, before=before, limit=limit):
                # ticket_id is optional here: this socket belongs to one ticket.
                if ticket_id is not None and ticket_id != ticket.pk:
                    raise NotFound("ticket_not_found", "This chat has no such ticket.")
                page = await database_sync_to_async(snapshots.customer_history)(
                    ticket=ticket, before=before, limit=limit
                )
                await self.send_frame(page)
            case Typing():
                # Who works the chat changes over its life: one indexed read, no write.
                agent_id = await database_sync_to_async(selectors.ticket_working_agent_id)(ticket.pk)
                await notify_typing(ticket_id=ticket.pk, sender=Message.Sender.CUSTOMER, agent_id=agent_id)
            case Read(up_to=up_to):
                await database_sync_to_async(services.ticket_read_customer)(ticket=ticket, up_to=up_to)
            case Ping():
                pass
        return None
