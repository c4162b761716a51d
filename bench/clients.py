"""The simulated agents and customers, and what they observe.

A ticket's whole life as the clients play it: the brand's handover (`POST /api/v1/tickets/`),
the offer on an agent's socket, the agent's accept, the agent's message and the customer's
answer, the agent's resolve, and the customer's rating on their own socket."""

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from typing import Any

# Intake under overload answers 429 with Retry-After; the brand waits that long (never
# more than this, so a run cannot stall on one answer) and sends the same request again.
RETRY_AFTER_CAP_SECONDS = 5.0
INTAKE_MAX_ATTEMPTS = 10
# The customer's answer to the agent's message. The agent resolves only once it has arrived
# (or after this long, should the customer's socket have failed): resolving first would
# refuse a late answer and leave the ticket's life a step short.
CUSTOMER_ANSWER = "Thanks!"
ANSWER_WAIT_SECONDS = 15.0


# The brand's connections to the API. Handovers beyond them wait on a semaphore, not in
# httpx's pool: httpcore matches every queued request against every connection whenever
# one frees, so with thousands queued (50/s against a saturated server) the load generator
# spent its whole core there and stopped sending anything, which looked like a server stall.
HTTP_CONNECTIONS = 100
# An idle connection is dropped before uvicorn's keep-alive timeout (5 s) closes it: with
# both at 5 s, a request sent as the server closes its connection fails with ReadError.
KEEPALIVE_SECONDS = 2.0


def brand_api_client():
    import httpx

    limits = httpx.Limits(
        max_connections=HTTP_CONNECTIONS,
        max_keepalive_connections=HTTP_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    return httpx.AsyncClient(limits=limits, timeout=30)


class Run:
    """Everything the clients observe, keyed by ticket id; times from time.perf_counter()."""

    def __init__(self):
        self.http_slots = asyncio.Semaphore(HTTP_CONNECTIONS)
        self.sent_at: dict[int, float] = {}  # the POST that was answered 201 sent
        self.created: dict[int, float] = {}  # ... and answered
        self.offer_at: dict[int, float] = {}  # first offer for the ticket received
        self.accept_sent: dict[int, float] = {}
        self.agent_assigned: dict[int, float] = {}
        self.customer_assigned: dict[int, float] = {}
        self.customer_connected: dict[int, float] = {}
        self.msg_sent: dict[int, float] = {}
        self.stopped_at = float("inf")  # when the clients stopped listening (end of the drain)
        self.msg_acked: set[int] = set()
        self.customer_msg: dict[int, float] = {}
        self.customer_reply_acked: set[int] = set()
        self.resolved: dict[int, float] = {}  # resolve sent
        self.rated: set[int] = set()  # rating acked
        self.holder: dict[int, "Agent"] = {}  # who is working the ticket now
        self.overlapping_assignments = 0
        self.customer_failed: set[int] = set()
        self.freed_to_offer: list[float] = []
        self.errors: Counter = Counter()
        self.customers_started = 0  # handovers attempted
        self.customer_frames = 0  # frames received on customer sockets
        self.offers_received = 0
        self.intake_429s = 0  # 429 answers to handovers
        self.intake_retries = 0  # handovers sent again after a 429
        self.intake_transport_retries = 0  # ... or after the connection failed under them
        self.answers_waited_out = 0  # resolved without the customer's answer having arrived

    def note_offer(self, ticket_id: int, at: float) -> None:
        self.offers_received += 1
        self.offer_at.setdefault(ticket_id, at)


class Agent:
    def __init__(self, run: Run, url: str, token: str, name: str, handle: tuple, think: tuple, track_freed: bool):
        self.run, self.url, self.token, self.name = run, url, token, name
        self.handle, self.think, self.track_freed = handle, think, track_freed
        self.ws: Any = None  # the websockets client connection, once connected
        self.alive = True
        self.freed_at: float | None = None
        self.ref = 0
        self.active = 0
        self.tasks: set = set()
        self.answered: dict[int, asyncio.Event] = {}  # the customer's answer, per ticket worked

    async def connect(self):
        import websockets

        self.ws = await websockets.connect(
            self.url, additional_headers={"Authorization": f"Token {self.token}"}, open_timeout=60, max_queue=None
        )
        self.reader = asyncio.create_task(self.read())

    async def send(self, frame: dict) -> None:
        self.ref += 1
        frame["ref"] = f"{frame['type']}:{frame.get('ticket_id', frame.get('offer_id', ''))}:{self.ref}"
        await self.ws.send(json.dumps(frame))

    def spawn(self, coro) -> None:
        task = asyncio.create_task(self._until_closed(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _until_closed(coro) -> None:
        """Run an accept or a case; one cut short because the socket closed (the clients
        close theirs when the run ends) just stops. A socket lost mid-run shows anyway, as
        tickets unfinished after the drain."""
        import websockets

        try:
            await coro
        except websockets.ConnectionClosed:
            pass

    async def read(self):
        import websockets

        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame["type"]
                if kind == "offer":
                    ticket_id = frame["ticket"]["id"]
                    self.run.note_offer(ticket_id, now)
                    if self.freed_at is not None:
                        self.run.freed_to_offer.append(now - self.freed_at)
                        self.freed_at = None
                    self.spawn(self.accept(frame["offer_id"], ticket_id))
                elif kind == "ticket.assigned":
                    ticket_id = frame["ticket"]["id"]
                    self.run.agent_assigned.setdefault(ticket_id, now)
                    holder = self.run.holder.get(ticket_id)
                    if holder is not None and holder is not self and holder.alive:
                        self.run.overlapping_assignments += 1
                    self.run.holder[ticket_id] = self
                    self.spawn(self.work(ticket_id))
                elif kind == "message" and frame["sender"] == "customer" and frame["text"] == CUSTOMER_ANSWER:
                    self.answered.setdefault(frame["ticket_id"], asyncio.Event()).set()
                elif kind == "ack" and frame["ref"].startswith("message:"):
                    self.run.msg_acked.add(int(frame["ref"].split(":")[1]))
                elif kind == "error":
                    self.run.errors[f"agent:{frame['code']}"] += 1
        except websockets.ConnectionClosed:
            pass
        finally:
            self.alive = False

    async def accept(self, offer_id: int, ticket_id: int):
        await asyncio.sleep(random.uniform(*self.think))
        self.run.accept_sent.setdefault(ticket_id, time.perf_counter())
        await self.send({"type": "offer.accept", "offer_id": offer_id})

    async def work(self, ticket_id: int):
        answered = self.answered.setdefault(ticket_id, asyncio.Event())
        self.run.msg_sent[ticket_id] = time.perf_counter()
        await self.send({"type": "message", "ticket_id": ticket_id, "text": f"Hello, this is {self.name}."})
        await asyncio.sleep(random.uniform(*self.handle))
        try:
            await asyncio.wait_for(answered.wait(), timeout=ANSWER_WAIT_SECONDS)
        except asyncio.TimeoutError:
            self.run.answers_waited_out += 1
        del self.answered[ticket_id]
        if self.track_freed:
            self.freed_at = time.perf_counter()
        await self.send({"type": "ticket.resolve", "ticket_id": ticket_id})
        self.run.resolved[ticket_id] = time.perf_counter()
        if self.run.holder.get(ticket_id) is self:
            del self.run.holder[ticket_id]


def retry_delay(retry_after: str | None) -> float:
    """Seconds to wait before sending a refused handover again: what the server asked
    (Retry-After in seconds; 1 when it is missing or a date), at most the cap, plus a little
    jitter so that the clients refused together do not all come back at the same instant."""
    try:
        seconds = float(retry_after) if retry_after is not None else 1.0
    except ValueError:
        seconds = 1.0
    seconds = min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)
    return seconds + random.uniform(0, 0.1 * seconds + 0.05)


async def hand_over(run: Run, http, base: str, key: str, body: dict, stop: asyncio.Event):
    """The brand's handover, sent again with the same Idempotency-Key after each 429 (nothing
    was created, so the retry cannot double the ticket) and after a failed connection (the
    key answers a retry of a handover that was created with the first answer). Returns
    (response or None, the time the answered request was sent)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
    response = None
    # A request whose connection failed may have created the ticket: its retry is answered
    # from the key, so the clock runs from the failed one.
    failed_sent: float | None = None
    for attempt in range(INTAKE_MAX_ATTEMPTS):
        # One of the client's connections first, in order of arrival: see HTTP_CONNECTIONS.
        # The clock starts when the request leaves, not while it waits for a connection.
        async with run.http_slots:
            sent = time.perf_counter()
            try:
                response = await http.post(f"{base}/api/v1/tickets/", json=body, headers=headers)
            except httpx.TransportError as exc:
                if stop.is_set() or attempt == INTAKE_MAX_ATTEMPTS - 1:
                    run.errors[f"http:{exc.__class__.__name__}"] += 1
                    return None, sent
                run.intake_transport_retries += 1
                failed_sent = failed_sent or sent
                continue
            except Exception as exc:
                run.errors[f"http:{exc.__class__.__name__}"] += 1
                return None, sent
        if response.status_code != 429:
            return response, failed_sent or sent
        run.intake_429s += 1
        failed_sent = None  # refused at the door: nothing was created
        if stop.is_set() or attempt == INTAKE_MAX_ATTEMPTS - 1:
            break
        await asyncio.sleep(retry_delay(response.headers.get("Retry-After")))
        run.intake_retries += 1
    return response, sent


async def customer(run: Run, http, base: str, ws_base: str, key: str, n: int, stop: asyncio.Event):
    import websockets

    body = {
        "customer": {"external_id": f"bench-{n}", "name": f"Customer {n}"},
        "language": "en",
        "subject": f"Benchmark case {n}",
        "summary": "Simulated handover",
        "transcript": [{"role": "customer", "text": "I want a human"}],
    }
    run.customers_started += 1
    response, sent = await hand_over(run, http, base, key, body, stop)
    if response is None:
        return
    if response.status_code != 201:
        run.errors[f"http:{response.status_code}"] += 1
        return
    created = response.json()
    ticket_id = created["id"]
    run.sent_at[ticket_id] = sent
    run.created[ticket_id] = time.perf_counter()
    replied = rating_sent = False
    try:
        async with websockets.connect(f"{ws_base}/ws/customer/{created['customer_token']}/", open_timeout=30) as ws:
            run.customer_connected[ticket_id] = time.perf_counter()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=1)
                except asyncio.TimeoutError:
                    continue
                now = time.perf_counter()
                run.customer_frames += 1
                frame = json.loads(raw)
                kind = frame["type"]
                if kind == "ticket.updated":
                    status = frame["status"]
                    if status == "assigned":
                        run.customer_assigned.setdefault(ticket_id, now)
                    elif status == "resolved" and not rating_sent:
                        rating_sent = True
                        await ws.send(json.dumps({"type": "rate", "score": 5, "ref": f"rate:{ticket_id}"}))
                    elif status == "cancelled" or (status == "closed" and not rating_sent):
                        return
                elif kind == "message" and frame["sender"] == "agent":
                    run.customer_msg.setdefault(ticket_id, now)
                    if not replied:
                        replied = True
                        answer = {"type": "message", "text": CUSTOMER_ANSWER, "ref": f"message:{ticket_id}"}
                        await ws.send(json.dumps(answer))
                elif kind == "ack":
                    if frame["ref"].startswith("message:"):
                        run.customer_reply_acked.add(ticket_id)
                    elif frame["ref"].startswith("rate:"):
                        run.rated.add(ticket_id)
                        return  # the last step of the ticket's life
                elif kind == "error":
                    run.errors[f"customer:{frame['code']}"] += 1
                    if str(frame.get("ref", "")).startswith("rate:"):
                        return
    except Exception as exc:
        run.customer_failed.add(ticket_id)
        run.errors[f"customer_ws:{exc.__class__.__name__}"] += 1
