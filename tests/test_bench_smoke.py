"""A few seconds of the benchmark, so it keeps working. Timings on a shared CI machine
mean nothing, so only integrity is asserted, and that the simulated clients really did
their part: a run whose handovers failed or whose customers never connected would show
no double assignment and no lost message without proving anything."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(suffix: str) -> str:
    """A database of this test worker's own for the benchmark to recreate."""
    db = settings.DATABASES["default"]
    base = f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return urlunsplit(urlsplit(base)._replace(path=f"/{db['NAME']}_{suffix}"))


def run_bench(module: str, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` as `make bench` runs it, not as this test process is set up."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_calls_benchmark_takes_tickets_through_their_life_and_reports_each_call():
    database_url = bench_database_url("calls")
    result = run_bench(
        "bench.calls",
        "--lives",
        "5",
        "--agents",
        "3",
        "--database-url",
        database_url,
        "--redis-url",
        settings.REDIS_URL,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for phase in ("handover", "accept", "agent_message", "customer_message", "resolve", "rate"):
        assert f"  {phase} " in result.stdout
    assert "a life, the means" in result.stdout


def test_benchmark_smoke_run_keeps_integrity(tmp_path):
    database_url = bench_database_url("bench")
    out = tmp_path / "result.json"
    result = run_bench(
        "bench",
        "--agents",
        "8",
        "--rate",
        "4",
        "--seconds",
        "3",
        "--overload-agents",
        "2",
        "--overload-rate",
        "4",
        "--overload-seconds",
        "2",
        "--port",
        "0",
        "--database-url",
        database_url,
        "--redis-url",
        settings.REDIS_URL,
        "--scale-out",
        "2",
        "--json",
        str(out),
        "--no-docs",
        timeout=420,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    integrity, customers = report["integrity"], report["customers"]

    # 4/s for 3 s and 4/s for 2 s: 18 to 20 handovers, each answered 201 and every socket
    # opened. At this rate nothing is allowed to fail, so any error is a bug.
    assert report["error_count"] == 0 and report["rest_errors"] == 0, report["errors"]
    assert customers["started"] >= 15
    assert integrity["tickets_created"] == integrity["tickets_answered"] == customers["started"]
    assert integrity["tickets_created_unanswered"] == 0
    assert integrity["tickets_resolved"] == integrity["tickets_created"]
    assert integrity["tickets_unfinished_after_drain"] == 0
    # The customers listened: their sockets opened and heard the agents' messages, so
    # "no message lost" below is a measurement, not an empty set.
    assert customers["sockets_connected"] == customers["started"]
    assert customers["frames_received"] > 0 and customers["agent_messages_received"] > 0
    # Every ticket lived its whole life: the customer answered the agent and rated the case.
    assert customers["replies_acked"] == customers["ratings_acked"] == customers["started"]
    assert customers["replies_waited_out_by_agents"] == 0
    assert integrity["tickets_rated"] == integrity["tickets_created"]
    assert integrity["ratings_lost"] == 0

    assert integrity["double_assignments"] == 0
    assert integrity["tickets_lost"] == 0
    assert integrity["messages_lost"] == integrity["messages_in_flight_at_stop"] == 0
    assert report["latency"]["created_to_offer"]["n"] > 0
    assert report["latency"]["freed_to_next_offer"]["n"] > 0

    # CPU per ticket and the saturation estimate, from /proc: every group did some work.
    cpu = report["cpu"]
    assert cpu["tickets"] > 0
    assert all(cpu["ms"][group] >= 0 for group in ("web", "sweeper", "postgres", "redis-server", "clients"))
    per = cpu["per_ticket_ms"]
    assert per["app"] > 0 and per["data"] > 0 and per["clients"] > 0
    assert per["server"] == pytest.approx(per["app"] + per["data"], abs=0.02)
    saturation = report["saturation"]
    assert saturation["cores"] == os.cpu_count()
    assert 0 < saturation["estimated_per_s_with_clients"] <= saturation["estimated_per_s_servers_only"]
    completion = report["completion"]
    assert completion["offered_rate"] == 4 and completion["window_seconds"] > 0
    assert completion["created_per_s"] > 0 and isinstance(completion["kept_up"], bool)
    assert report["intake"]["answers_429"] == report["intake"]["retries"] == 0
    assert report["intake"]["transport_retries"] >= 0
    assert report["offers_expired_by_server_delay"] == 0

    # One scale-out step on its own fresh database. Two web processes is the case that
    # tests something the main run does not (processes sharing the work); a one-process
    # step would run the same code as the main run again.
    steps = report["scale_out"]
    assert [step["web_processes"] for step in steps] == [2]
    for step in steps:
        assert step["error_count"] == 0, step["errors"]
        assert step["offered_rate"] == 4
        assert step["created_to_offer"]["n"] > 0
        assert step["completion"]["created_per_s"] > 0
        assert step["cpu"]["per_ticket_ms"]["server"] > 0
        assert step["integrity"]["tickets_created"] == step["integrity"]["tickets_rated"] >= 10
        assert step["integrity"]["double_assignments"] == step["integrity"]["tickets_lost"] == 0
    markdown = report_markdown(report)
    assert "| web processes | offered rate | throughput reached |" in markdown
    assert "server CPU ms per ticket, all processes" in markdown


def report_markdown(report: dict) -> str:
    from bench.report import markdown

    return markdown(report)


class FakeResponse:
    def __init__(self, status_code: int, headers: dict):
        self.status_code, self.headers = status_code, headers


class FakeBrandApi:
    """Answers 429 (Retry-After: 0) to the first two handovers, then 201."""

    def __init__(self):
        self.keys: list[str] = []

    async def post(self, url, json, headers):
        self.keys.append(headers["Idempotency-Key"])
        if len(self.keys) <= 2:
            return FakeResponse(429, {"Retry-After": "0"})
        return FakeResponse(201, {})


def test_handover_retries_a_429_with_the_same_idempotency_key():
    from bench.clients import Run, hand_over, retry_delay

    run, api = Run(), FakeBrandApi()
    response, sent = asyncio.run(hand_over(run, api, "http://x", "key", {}, asyncio.Event()))
    assert response.status_code == 201
    assert len(api.keys) == 3 and len(set(api.keys)) == 1
    assert run.intake_429s == 2 and run.intake_retries == 2
    # Retry-After is obeyed, capped, and never undercut by the jitter.
    assert 2 <= retry_delay("2") <= 2.5
    assert 5 <= retry_delay("3600") <= 5.6
    assert 1 <= retry_delay(None) <= 1.2 and 1 <= retry_delay("Wed, 21 Oct 2026 07:28:00 GMT") <= 1.2


class FlakyConnectionBrandApi:
    """The first handover's connection fails under it after the server got it; the retry is
    answered 201 (from the Idempotency-Key, on the real server)."""

    def __init__(self):
        self.keys: list[str] = []

    async def post(self, url, json, headers):
        import httpx

        self.keys.append(headers["Idempotency-Key"])
        if len(self.keys) == 1:
            await asyncio.sleep(0.05)
            raise httpx.ReadError("connection closed")
        return FakeResponse(201, {})


def test_handover_whose_connection_failed_is_sent_again_with_the_same_key_and_timed_from_the_first():
    from bench.clients import Run, hand_over

    run, api = Run(), FlakyConnectionBrandApi()
    before = time.perf_counter()
    response, sent = asyncio.run(hand_over(run, api, "http://x", "key", {}, asyncio.Event()))
    assert response.status_code == 201
    assert len(api.keys) == 2 and len(set(api.keys)) == 1
    assert run.intake_transport_retries == 1 and run.intake_429s == run.intake_retries == 0
    assert not run.errors
    # The first request may have created the ticket: the clock runs from it.
    assert before <= sent < before + 0.04


def test_cpu_per_ticket_sums_the_groups():
    from bench.cpu import per_ticket, snapshot

    now = snapshot({"web": [os.getpid()]})
    assert now["web"] >= 0 and now["clients"] > 0
    before = {"web": 100.0, "sweeper": 10.0, "postgres": 50.0, "redis-server": 5.0, "clients": 20.0}
    after = {"web": 300.0, "sweeper": 30.0, "postgres": 130.0, "redis-server": 25.0, "clients": 60.0}
    figures = per_ticket(before, after, 10)
    assert figures["per_ticket_ms"] == {"app": 22.0, "data": 10.0, "server": 32.0, "clients": 4.0}
    assert per_ticket(before, after, 0)["per_ticket_ms"]["server"] is None
