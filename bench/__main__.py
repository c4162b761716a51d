"""Dispatch benchmark on the real stack.

    python -m bench --agents 500 --rate 50 --seconds 60

Starts two uvicorn processes and the sweeper on a fresh PostgreSQL database and Redis,
connects simulated agents (real websocket clients, spread over the processes) and
simulated customers (REST + their own sockets, on the other process), and measures
dispatch latency, memory per idle agent and throughput. Writes a JSON file and appends a table to
docs/benchmarks.md. Exits non-zero when an integrity check fails.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .report import markdown, summary, versions
from .setup import django_setup, integrity, measure_floor, seed
from .stack import ROOT, Stack, recreate_database

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/marketplace_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Long enough to finish a healthy run's last cases (handle time is at most 3 s); an
# overloaded run reports what is still unfinished instead of waiting it out, so the
# default run stays under 3 minutes.
DRAIN_SECONDS = 45


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=500, help="agents on the main brand (default 500)")
    parser.add_argument("--rate", type=float, default=50, help="tickets per second in the steady phase (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the steady phase (default 60)")
    parser.add_argument("--overload-agents", type=int, default=20, help="agents on the overload brand (default 20)")
    parser.add_argument("--overload-rate", type=float, default=20, help="tickets/s in the overload phase (default 20)")
    parser.add_argument("--overload-seconds", type=float, default=10, help="length of the overload phase (default 10)")
    parser.add_argument("--web", type=int, default=2, help="uvicorn processes (default 2)")
    parser.add_argument("--port", type=int, default=8400, help="first web port (default 8400; 0 = any free ports)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--no-docs", action="store_true", help="do not append to docs/benchmarks.md")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


# --- Simulated agents and customers -------------------------------------------------------


class Run:
    """Everything the clients observe, keyed by ticket id; times from time.perf_counter()."""

    def __init__(self):
        self.sent_at: dict[int, float] = {}  # POST sent
        self.created: dict[int, float] = {}  # POST answered
        self.offer_at: dict[int, float] = {}  # first offer for the ticket received
        self.accept_sent: dict[int, float] = {}
        self.agent_assigned: dict[int, float] = {}
        self.customer_assigned: dict[int, float] = {}
        self.customer_connected: dict[int, float] = {}
        self.msg_sent: dict[int, float] = {}
        self.msg_acked: set[int] = set()
        self.customer_msg: dict[int, float] = {}
        self.resolved: set[int] = set()
        self.holder: dict[int, "Agent"] = {}  # who is working the ticket now
        self.overlapping_assignments = 0
        self.customer_failed: set[int] = set()
        self.freed_to_offer: list[float] = []
        self.errors: Counter = Counter()
        self.customers_started = 0  # handovers attempted
        self.customer_frames = 0  # frames received on customer sockets
        self.offers_received = 0
        self.pending_offers: dict[int, float] = {}  # offer received before the POST answer

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
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
        self.run.msg_sent[ticket_id] = time.perf_counter()
        await self.send({"type": "message", "ticket_id": ticket_id, "text": f"Hello, this is {self.name}."})
        await asyncio.sleep(random.uniform(*self.handle))
        if self.track_freed:
            self.freed_at = time.perf_counter()
        await self.send({"type": "ticket.resolve", "ticket_id": ticket_id})
        self.run.resolved.add(ticket_id)
        if self.run.holder.get(ticket_id) is self:
            del self.run.holder[ticket_id]


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
    sent = time.perf_counter()
    try:
        response = await http.post(f"{base}/api/v1/tickets/", json=body, headers={"Authorization": f"Bearer {key}"})
    except Exception as exc:
        run.errors[f"http:{exc.__class__.__name__}"] += 1
        return
    if response.status_code != 201:
        run.errors[f"http:{response.status_code}"] += 1
        return
    created = response.json()
    ticket_id = created["id"]
    run.sent_at[ticket_id] = sent
    run.created[ticket_id] = time.perf_counter()
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
                if frame["type"] == "ticket.updated":
                    if frame["status"] == "assigned":
                        run.customer_assigned.setdefault(ticket_id, now)
                    elif frame["status"] in ("resolved", "closed", "cancelled"):
                        return
                elif frame["type"] == "message" and frame["sender"] == "agent":
                    run.customer_msg.setdefault(ticket_id, now)
    except Exception as exc:
        run.customer_failed.add(ticket_id)
        run.errors[f"customer_ws:{exc.__class__.__name__}"] += 1


async def drive(args, stack: Stack, seeded: dict) -> dict:
    import httpx

    random.seed(args.seed)
    run = Run()
    bases = [base for base, _ in stack.web]
    ws_bases = [base.replace("http://", "ws://") for base in bases]

    def progress(phase: str, started: float):
        print(
            f"  [{phase} {time.perf_counter() - started:5.1f}s] created {len(run.created)}, "
            f"offers {run.offers_received}, assigned {len(run.agent_assigned)}, resolved {len(run.resolved)}, "
            f"errors {sum(run.errors.values())}",
            flush=True,
        )

    print(f"floor: {args.web} web processes up; measuring PostgreSQL lock + Redis round trip", flush=True)
    floor = await measure_floor(args.database_url, args.redis_url)

    # Idle sockets: memory per connected agent before anyone works.
    rss_before = stack.web_rss_kb()
    main_agents = [
        Agent(run, f"{ws_bases[i % len(ws_bases)]}/ws/agent/", token, f"agent{i}", (1.0, 3.0), (0.05, 0.15), False)
        for i, token in enumerate(seeded["main_tokens"])
    ]
    over_agents = [
        Agent(run, f"{ws_bases[i % len(ws_bases)]}/ws/agent/", token, f"over{i}", (1.0, 2.0), (0.02, 0.05), True)
        for i, token in enumerate(seeded["over_tokens"])
    ]
    everyone = main_agents + over_agents
    print(f"connecting {len(everyone)} agents over {len(bases)} processes", flush=True)
    gate = asyncio.Semaphore(50)

    async def connect(agent):
        async with gate:
            await agent.connect()

    await asyncio.gather(*(connect(a) for a in everyone))
    await asyncio.sleep(3)
    rss_after = stack.web_rss_kb()
    memory = {
        "idle_agents": len(everyone),
        "web_rss_before_kb": rss_before,
        "web_rss_after_kb": rss_after,
        "per_idle_agent_kb": round((rss_after - rss_before) / max(1, len(everyone)), 1),
    }
    print(f"memory: {memory['per_idle_agent_kb']} KB per idle connected agent", flush=True)

    for agent in everyone:
        await agent.send({"type": "presence", "status": "available"})
    await asyncio.sleep(1)

    stop = asyncio.Event()
    customers: set = set()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def arrivals(rate: float, seconds: float, key: str, phase: str, offset: int) -> tuple[int, float]:
            started = time.perf_counter()
            n = 0
            next_progress = started + 5
            while (now := time.perf_counter()) - started < seconds:
                due = int((now - started) * rate)
                while n < due:
                    i = offset + n
                    task = asyncio.create_task(
                        customer(run, http, bases[i % len(bases)], ws_bases[(i + 1) % len(bases)], key, i, stop)
                    )
                    customers.add(task)
                    task.add_done_callback(customers.discard)
                    n += 1
                if now >= next_progress:
                    progress(phase, started)
                    next_progress += 5
                await asyncio.sleep(0.002)
            return n, time.perf_counter() - started

        print(f"steady: {args.rate} tickets/s for {args.seconds}s to {len(main_agents)} agents", flush=True)
        resolved_before = len(run.resolved)
        steady_n, steady_s = await arrivals(args.rate, args.seconds, seeded["main_key"], "steady", 0)
        steady_resolved = len(run.resolved) - resolved_before
        steady_ids = set(run.created)
        print(
            f"overload: {args.overload_rate} tickets/s for {args.overload_seconds}s to {len(over_agents)} agents "
            "(capacity 1 each)",
            flush=True,
        )
        await arrivals(args.overload_rate, args.overload_seconds, seeded["over_key"], "overload", 10**6)

        print("drain: waiting for every ticket to be resolved", flush=True)
        started = time.perf_counter()
        while time.perf_counter() - started < DRAIN_SECONDS:
            if customers == set() and len(run.resolved) >= len(run.created):
                break
            await asyncio.sleep(0.5)
            if int(time.perf_counter() - started) % 5 == 0:
                progress("drain", started)
                await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # last resolves land in the database
        stop.set()
        await asyncio.gather(*customers, return_exceptions=True)

    for agent in everyone:
        await agent.ws.close()

    def diffs(start: dict, end: dict, ids=None) -> list[float]:
        keys = (ids if ids is not None else start.keys()) & start.keys() & end.keys()
        return [end[k] - start[k] for k in keys if end[k] >= start[k]]

    # Customer-side accept samples only where the customer was listening before the accept.
    cust_ids = {t for t in run.accept_sent if run.customer_connected.get(t, float("inf")) < run.accept_sent[t]}
    msg_ids = {t for t in run.msg_sent if run.customer_connected.get(t, float("inf")) < run.msg_sent[t]}
    latency = {
        "created_to_offer": summary(diffs(run.sent_at, run.offer_at, steady_ids)),
        "accept_to_assigned_agent": summary(diffs(run.accept_sent, run.agent_assigned)),
        "accept_to_assigned_customer": summary(diffs(run.accept_sent, run.customer_assigned, cust_ids)),
        "message_agent_to_customer": summary(diffs(run.msg_sent, run.customer_msg, msg_ids)),
        "freed_to_next_offer": summary(run.freed_to_offer),
    }
    return {
        "floor": floor,
        "memory": memory,
        "latency": latency,
        "throughput": {
            "steady_tickets_created": steady_n,
            "steady_seconds": round(steady_s, 2),
            "created_per_s": round(steady_n / steady_s, 2),
            "resolved_per_s_during_steady": round(steady_resolved / steady_s, 2),
        },
        "errors": dict(run.errors),
        "error_count": sum(run.errors.values()),
        "rest_errors": sum(n for kind, n in run.errors.items() if kind.startswith("http:")),
        "customers": {
            "started": run.customers_started,
            "sockets_connected": len(run.customer_connected),
            "frames_received": run.customer_frames,
            "agent_messages_received": len(run.customer_msg),
        },
        "_run": run,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    given = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python -m bench {given}".rstrip()
    effective = (
        f"agents {args.agents}, rate {args.rate}/s, {args.seconds} s; overload {args.overload_agents} agents at "
        f"{args.overload_rate}/s for {args.overload_seconds} s; {args.web} web processes"
    )
    t0 = time.perf_counter()
    print(f"database {args.database_url} (recreated), redis {args.redis_url}", flush=True)
    recreate_database(args.database_url)
    stack = Stack(args.database_url, args.redis_url, web_processes=args.web, base_port=args.port)
    stack.migrate()
    django_setup(args.database_url, args.redis_url)
    seeded = seed(args.agents, args.overload_agents)
    try:
        stack.start()
        import uvloop  # the clients share the 2 cores with the servers: spend less on them

        result = uvloop.run(drive(args, stack, seeded))
    finally:
        stack.stop()
    run = result.pop("_run")
    result["integrity"] = integrity(run)
    result.update(
        started_at=started_at,
        command=command,
        effective=effective,
        args=vars(args) | {"json": str(args.json) if args.json else None},
        machine={"cpus": os.cpu_count(), "platform": platform.platform()},
        versions=versions(),
        wall_seconds=round(time.perf_counter() - t0, 1),
    )
    floor = result["floor"]["total"]["p50_ms"]
    print("\nresults (ms; ratio to the floor's p50 of %.2f ms):" % floor)
    for name, s in result["latency"].items():
        if s.get("n"):
            print(
                f"  {name:30s} n={s['n']:6d} p50={s['p50_ms']:8.2f} ({s['p50_ms'] / floor:5.1f}x) "
                f"p95={s['p95_ms']:8.2f} p99={s['p99_ms']:8.2f} ({s['p99_ms'] / floor:5.1f}x) max={s['max_ms']:8.2f}"
            )
        else:
            print(f"  {name:30s} no samples")
    print(f"  throughput: {result['throughput']}")
    print(f"  memory: {result['memory']['per_idle_agent_kb']} KB per idle agent")
    print(f"  errors: {result['error_count']} (REST {result['rest_errors']}) {result['errors']}")
    print(f"  customers: {result['customers']}")
    print(f"  integrity: {result['integrity']}")
    print(f"  wall time: {result['wall_seconds']} s")

    out = args.json or ROOT / "test-output" / "bench" / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"JSON: {out}")
    if not args.no_docs:
        docs = ROOT / "docs" / "benchmarks.md"
        if not docs.exists():
            docs.write_text("# Benchmark runs\n\nAppended by `make bench` (see README, \"Benchmark\").\n\n")
        with docs.open("a") as handle:
            handle.write(markdown(result) + "\n")
        print(f"appended to {docs}")
    # Unfinished tickets after the drain are a symptom of overload, reported but not a
    # failure; anything doubled or lost is.
    failing = ("tickets_missing_from_db", "double_assignments", "tickets_lost", "messages_lost")
    bad = {k: result["integrity"][k] for k in failing if result["integrity"][k]}
    if bad:
        print(f"INTEGRITY FAILED: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
