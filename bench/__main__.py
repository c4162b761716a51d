"""Dispatch benchmark on the real stack.

    python -m bench --agents 500 --rate 50 --seconds 60

Starts two uvicorn processes and the sweeper on a fresh PostgreSQL database and Redis,
connects simulated agents (real websocket clients, spread over the processes) and
simulated customers (REST + their own sockets, on the other process), and measures
dispatch latency, memory per idle agent, throughput and CPU per ticket. With --scale-out,
the steady phase runs again on a fresh stack per number of web processes. Writes a JSON
file and appends a table to docs/benchmarks.md. Exits non-zero when an integrity check fails.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import cpu
from .clients import Agent, Run, brand_api_client, customer
from .report import markdown, summary, versions
from .setup import analyze, django_setup, integrity, measure_floor, seed
from .stack import ROOT, Stack, keep_migrated, recreate_database

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/marketplace_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Long enough to finish a healthy run's last cases (handle time is at most 3 s); an
# overloaded run reports what is still unfinished instead of waiting it out, so the
# default run stays under 3 minutes.
DRAIN_SECONDS = 45
# CPU and completion are measured over the steady phase after its first seconds: until a
# ticket's whole life (accept after at most 0.15 s, resolve at most 3 s later) has passed
# once, the phase holds intakes without the resolves and ratings that follow them.
WARMUP_SECONDS = 4.0
# Kept up: tickets created (answered 201) and tickets resolved per second in the measured
# window each at least this share of the offered rate (arrivals are evenly spaced, handle
# times random).
KEPT_UP_SHARE = 0.9
FAILING = ("tickets_missing_from_db", "double_assignments", "tickets_lost", "messages_lost", "ratings_lost")


def web_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma list of web process counts, such as 1,2,4") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("a comma list of web process counts, each at least 1")
    return counts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=500, help="agents on the main brand (default 500)")
    parser.add_argument("--rate", type=float, default=50, help="tickets per second in the steady phase (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the steady phase (default 60)")
    parser.add_argument("--overload-agents", type=int, default=20, help="agents on the overload brand (default 20)")
    parser.add_argument("--overload-rate", type=float, default=20, help="tickets/s in the overload phase (default 20)")
    parser.add_argument("--overload-seconds", type=float, default=10, help="length of the overload phase (default 10)")
    parser.add_argument("--web", type=int, default=2, help="uvicorn processes (default 2)")
    parser.add_argument(
        "--scale-out",
        type=web_counts,
        default=None,
        metavar="1,2,4",
        help="after the run, the steady phase (--agents, --rate, --seconds) again on a fresh stack and database "
        "for each of these numbers of web processes; pick a rate above saturation to see what each count reaches",
    )
    parser.add_argument("--port", type=int, default=8400, help="first web port (default 8400; 0 = any free ports)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--no-docs", action="store_true", help="do not append to docs/benchmarks.md")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def database_name(database_url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(database_url).path.lstrip("/")


# --- Phases -----------------------------------------------------------------------------


class Driver:
    """The clients of one stack: its agents, the customers arriving, and the measurements of
    the steady phase."""

    def __init__(self, args, stack: Stack, run: Run, http, agents: list[Agent]):
        self.args, self.stack, self.run, self.http = args, stack, run, http
        self.bases = [base for base, _ in stack.web]
        self.ws_bases = [base.replace("http://", "ws://") for base in self.bases]
        self.agents = agents
        self.stop = asyncio.Event()
        self.customers: set = set()

    def progress(self, phase: str, started: float) -> None:
        run = self.run
        print(
            f"  [{phase} {time.perf_counter() - started:5.1f}s] created {len(run.created)}, "
            f"offers {run.offers_received}, assigned {len(run.agent_assigned)}, resolved {len(run.resolved)}, "
            f"rated {len(run.rated)}, errors {sum(run.errors.values())}",
            flush=True,
        )

    async def arrivals(self, rate: float, seconds: float, key: str, phase: str, offset: int) -> tuple[int, float]:
        started = time.perf_counter()
        n = 0
        next_progress = started + 5
        bases, ws_bases = self.bases, self.ws_bases
        while (now := time.perf_counter()) - started < seconds:
            due = int((now - started) * rate)
            while n < due:
                i = offset + n
                base, ws_base = bases[i % len(bases)], ws_bases[(i + 1) % len(bases)]
                task = asyncio.create_task(customer(self.run, self.http, base, ws_base, key, i, self.stop))
                self.customers.add(task)
                task.add_done_callback(self.customers.discard)
                n += 1
            if now >= next_progress:
                self.progress(phase, started)
                next_progress += 5
            await asyncio.sleep(0.002)
        return n, time.perf_counter() - started

    async def steady(self, key: str) -> dict:
        """The steady phase, with CPU read from /proc at the start of its measured window and
        at its end."""
        args, run = self.args, self.run
        warmup = min(WARMUP_SECONDS, args.seconds / 2)
        app = self.stack.pids()
        database = database_name(args.database_url)

        async def window_start():
            await asyncio.sleep(warmup)
            return time.perf_counter(), cpu.snapshot(app, database)

        mark = asyncio.create_task(window_start())
        resolved_before = len(run.resolved)
        steady_n, steady_s = await self.arrivals(args.rate, args.seconds, key, "steady", 0)
        end, after = time.perf_counter(), cpu.snapshot(app, database)
        start, before = await mark
        steady_resolved = len(run.resolved) - resolved_before
        window = end - start

        def within(times: dict) -> int:
            return sum(1 for t in times.values() if start <= t <= end)

        created, offered, resolved = within(run.created), within(run.offer_at), within(run.resolved)
        spent = cpu.per_ticket(before, after, created)
        completion = {
            "window_after_seconds": round(warmup, 2),
            "window_seconds": round(window, 2),
            "offered_rate": args.rate,
            "created_per_s": round(created / window, 2),
            "first_offers_per_s": round(offered / window, 2),
            "resolved_per_s": round(resolved / window, 2),
            "kept_up": min(created, resolved) / window >= KEPT_UP_SHARE * args.rate,
        }
        throughput = {
            "steady_tickets_created": steady_n,
            "steady_seconds": round(steady_s, 2),
            "created_per_s": round(steady_n / steady_s, 2),
            "resolved_per_s_during_steady": round(steady_resolved / steady_s, 2),
        }
        return {"throughput": throughput, "completion": completion, "cpu": spent, "ids": set(run.created)}

    async def drain(self) -> None:
        print("drain: waiting for every ticket to be resolved and rated", flush=True)
        run = self.run
        started = time.perf_counter()
        while time.perf_counter() - started < DRAIN_SECONDS:
            if self.customers == set() and len(run.resolved) >= len(run.created):
                break
            await asyncio.sleep(0.5)
            if int(time.perf_counter() - started) % 5 == 0:
                self.progress("drain", started)
                await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # last resolves land in the database
        run.stopped_at = time.perf_counter()
        self.stop.set()
        await asyncio.gather(*self.customers, return_exceptions=True)
        for agent in self.agents:
            await agent.ws.close()


def make_agents(
    run: Run, ws_bases: list[str], tokens: list[str], prefix: str, handle: tuple, think: tuple, freed: bool
):
    return [
        Agent(run, f"{ws_bases[i % len(ws_bases)]}/ws/agent/", token, f"{prefix}{i}", handle, think, freed)
        for i, token in enumerate(tokens)
    ]


async def connect_all(agents: list[Agent]) -> None:
    gate = asyncio.Semaphore(50)

    async def connect(agent):
        async with gate:
            await agent.connect()

    await asyncio.gather(*(connect(a) for a in agents))


async def go_available(agents: list[Agent]) -> None:
    for agent in agents:
        await agent.send({"type": "presence", "status": "available"})
    await asyncio.sleep(1)


def diffs(start: dict, end: dict, ids=None) -> list[float]:
    keys = (ids if ids is not None else start.keys()) & start.keys() & end.keys()
    return [end[k] - start[k] for k in keys if end[k] >= start[k]]


def client_figures(run: Run) -> dict:
    return {
        "errors": dict(run.errors),
        "error_count": sum(run.errors.values()),
        "rest_errors": sum(n for kind, n in run.errors.items() if kind.startswith("http:")),
        # An accept that reached the server after the offer's countdown: under load the
        # offer came late, or the accept waited in the server's queues.
        "offers_expired_by_server_delay": run.errors.get("agent:offer_expired", 0),
        "intake": {
            "answers_429": run.intake_429s,
            "retries": run.intake_retries,
            "transport_retries": run.intake_transport_retries,
        },
    }


def saturation(cpu_figures: dict) -> dict:
    per = cpu_figures["per_ticket_ms"]
    cores = os.cpu_count() or 1

    def rate(ms: float | None) -> float | None:
        return round(cores * 1000 / ms, 1) if ms else None

    server, clients = per["server"], per["clients"]
    return {
        "cores": cores,
        "estimated_per_s_with_clients": rate(server + clients if server is not None and clients is not None else None),
        "estimated_per_s_servers_only": rate(server),
    }


async def drive(args, stack: Stack, seeded: dict) -> dict:
    random.seed(args.seed)
    run = Run()
    bases = [base for base, _ in stack.web]
    ws_bases = [base.replace("http://", "ws://") for base in bases]

    print(f"floor: {args.web} web processes up; measuring PostgreSQL lock + Redis round trip", flush=True)
    floor = await measure_floor(args.database_url, args.redis_url)

    # Idle sockets: memory per connected agent before anyone works.
    rss_before = stack.web_rss_kb()
    main_agents = make_agents(run, ws_bases, seeded["main_tokens"], "agent", (1.0, 3.0), (0.05, 0.15), False)
    over_agents = make_agents(run, ws_bases, seeded["over_tokens"], "over", (1.0, 2.0), (0.02, 0.05), True)
    everyone = main_agents + over_agents
    print(f"connecting {len(everyone)} agents over {len(bases)} processes", flush=True)
    await connect_all(everyone)
    await asyncio.sleep(3)
    rss_after = stack.web_rss_kb()
    memory = {
        "idle_agents": len(everyone),
        "web_rss_before_kb": rss_before,
        "web_rss_after_kb": rss_after,
        "per_idle_agent_kb": round((rss_after - rss_before) / max(1, len(everyone)), 1),
    }
    print(f"memory: {memory['per_idle_agent_kb']} KB per idle connected agent", flush=True)
    await go_available(everyone)
    await analyze(args.database_url)

    async with brand_api_client() as http:
        driver = Driver(args, stack, run, http, everyone)
        print(f"steady: {args.rate} tickets/s for {args.seconds}s to {len(main_agents)} agents", flush=True)
        steady = await driver.steady(seeded["main_key"])
        print(
            f"overload: {args.overload_rate} tickets/s for {args.overload_seconds}s to {len(over_agents)} agents "
            "(capacity 1 each)",
            flush=True,
        )
        await driver.arrivals(args.overload_rate, args.overload_seconds, seeded["over_key"], "overload", 10**6)
        await driver.drain()

    # Customer-side accept samples only where the customer was listening before the accept.
    cust_ids = {t for t in run.accept_sent if run.customer_connected.get(t, float("inf")) < run.accept_sent[t]}
    msg_ids = {t for t in run.msg_sent if run.customer_connected.get(t, float("inf")) < run.msg_sent[t]}
    latency = {
        "created_to_offer": summary(diffs(run.sent_at, run.offer_at, steady["ids"])),
        "accept_to_assigned_agent": summary(diffs(run.accept_sent, run.agent_assigned)),
        "accept_to_assigned_customer": summary(diffs(run.accept_sent, run.customer_assigned, cust_ids)),
        "message_agent_to_customer": summary(diffs(run.msg_sent, run.customer_msg, msg_ids)),
        "freed_to_next_offer": summary(run.freed_to_offer),
    }
    return {
        "floor": floor,
        "memory": memory,
        "latency": latency,
        "throughput": steady["throughput"],
        "completion": steady["completion"],
        "cpu": steady["cpu"],
        "saturation": saturation(steady["cpu"]),
        **client_figures(run),
        "customers": {
            "started": run.customers_started,
            "sockets_connected": len(run.customer_connected),
            "frames_received": run.customer_frames,
            "agent_messages_received": len(run.customer_msg),
            "replies_acked": len(run.customer_reply_acked),
            "replies_waited_out_by_agents": run.answers_waited_out,
            "ratings_acked": len(run.rated),
        },
        "_run": run,
    }


async def drive_steady_only(args, stack: Stack, seeded: dict) -> dict:
    """One step of --scale-out: the main brand's agents, the steady phase, the drain."""
    random.seed(args.seed)
    run = Run()
    ws_bases = [base.replace("http://", "ws://") for base, _ in stack.web]
    agents = make_agents(run, ws_bases, seeded["main_tokens"], "agent", (1.0, 3.0), (0.05, 0.15), False)
    print(f"connecting {len(agents)} agents over {len(ws_bases)} processes", flush=True)
    await connect_all(agents)
    await go_available(agents)
    await analyze(args.database_url)
    async with brand_api_client() as http:
        driver = Driver(args, stack, run, http, agents)
        print(f"steady: {args.rate} tickets/s for {args.seconds}s", flush=True)
        steady = await driver.steady(seeded["main_key"])
        await driver.drain()
    return {
        "web_processes": len(ws_bases),
        "offered_rate": args.rate,
        "completion": steady["completion"],
        "throughput": steady["throughput"],
        "created_to_offer": summary(diffs(run.sent_at, run.offer_at, steady["ids"])),
        "cpu": steady["cpu"],
        "saturation": saturation(steady["cpu"]),
        **client_figures(run),
        "_run": run,
    }


def scale_out_step(args, web: int, migrated: str) -> dict:
    from django.db import connections

    print(f"\nscale-out: {web} web process(es), fresh database", flush=True)
    connections.close_all()  # the database is dropped under this process's connection
    recreate_database(args.database_url, template=migrated)
    prefix = f"bench{os.getpid()}w{web}"
    stack = Stack(args.database_url, args.redis_url, web_processes=web, base_port=args.port, channel_prefix=prefix)
    seeded = seed(args.agents, 0)
    try:
        stack.start()
        import uvloop

        step = uvloop.run(drive_steady_only(args, stack, seeded))
    finally:
        stack.stop()
    step["integrity"] = integrity(step.pop("_run"))
    return step


# --- Output -----------------------------------------------------------------------------


def print_cpu(result: dict, indent: str = "  ") -> None:
    c, per = result["cpu"], result["cpu"]["per_ticket_ms"]
    s = result["saturation"]
    print(
        f"{indent}CPU per ticket (ms, {c['tickets']} tickets in {result['completion']['window_seconds']} s): "
        f"app {per['app']}, data {per['data']}, server {per['server']}, clients {per['clients']}"
    )
    print(
        f"{indent}estimated saturation ({s['cores']} cores): {s['estimated_per_s_with_clients']} tickets/s with the "
        f"clients on board, {s['estimated_per_s_servers_only']} servers only"
    )


def print_results(result: dict) -> None:
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
    print(f"  completion: {result['completion']}")
    print_cpu(result)
    print(f"  memory: {result['memory']['per_idle_agent_kb']} KB per idle agent")
    print(f"  errors: {result['error_count']} (REST {result['rest_errors']}) {result['errors']}")
    print(
        f"  intake 429s: {result['intake']['answers_429']} (retries {result['intake']['retries']}); "
        f"sent again after a failed connection: {result['intake']['transport_retries']}; "
        f"offers expired by server delay: {result['offers_expired_by_server_delay']}"
    )
    print(f"  customers: {result['customers']}")
    print(f"  integrity: {result['integrity']}")
    for step in result.get("scale_out", []):
        c, lat = step["completion"], step["created_to_offer"]
        print(
            f"  scale-out {step['web_processes']} web: offered {step['offered_rate']}/s, created {c['created_per_s']}/s, "
            f"first offers {c['first_offers_per_s']}/s, resolved {c['resolved_per_s']}/s; created->offer "
            f"p50 {lat.get('p50_ms')} p99 {lat.get('p99_ms')} ms; server CPU/ticket "
            f"{step['cpu']['per_ticket_ms']['server']} ms; errors {step['error_count']} {step['errors']}"
        )
    print(f"  wall time: {result['wall_seconds']} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    given = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python -m bench {given}".rstrip()
    effective = (
        f"agents {args.agents}, rate {args.rate}/s, {args.seconds} s; overload {args.overload_agents} agents at "
        f"{args.overload_rate}/s for {args.overload_seconds} s; {args.web} web processes"
    )
    if args.scale_out:
        effective += f"; scale-out over {', '.join(map(str, args.scale_out))} web processes"
    t0 = time.perf_counter()
    print(f"database {args.database_url} (recreated), redis {args.redis_url}", flush=True)
    recreate_database(args.database_url)
    stack = Stack(args.database_url, args.redis_url, web_processes=args.web, base_port=args.port)
    stack.migrate()
    migrated = keep_migrated(args.database_url) if args.scale_out else ""
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
    )
    if args.scale_out:
        result["scale_out"] = [scale_out_step(args, web, migrated) for web in args.scale_out]
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print_results(result)

    out = args.json or ROOT / "test-output" / "bench" / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"JSON: {out}")
    if not args.no_docs:
        docs = ROOT / "docs" / "benchmarks.md"
        if not docs.exists():
            docs.write_text('# Benchmark runs\n\nAppended by `make bench` (see README, "Benchmark").\n\n')
        with docs.open("a") as handle:
            handle.write(markdown(result) + "\n")
        print(f"appended to {docs}")
    # Unfinished tickets after the drain are a symptom of overload, reported but not a
    # failure; anything doubled or lost is.
    bad = {k: result["integrity"][k] for k in FAILING if result["integrity"][k]}
    for step in result.get("scale_out", []):
        bad |= {f"{k} ({step['web_processes']} web)": step["integrity"][k] for k in FAILING if step["integrity"][k]}
    if bad:
        print(f"INTEGRITY FAILED: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
