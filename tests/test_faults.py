"""Faults on the real stack, started by the test: uvicorn processes, the sweeper process,
PostgreSQL and a Redis server of the test's own.

- A web process killed with -9 while agents chat: the agent who reconnects to another
  process carries on with the whole history; the chats of an agent who never comes back
  are re-queued after the grace period; nothing is lost or doubled.
- Redis stopped, then started again: requests answer a clear 503 while it is away, the
  server says so in its log at start, and everything works again once it is back,
  without a restart.

Each test writes its figures to test-output/reliability/ (docs/reliability.md).
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from django.conf import settings

from agents.models import AgentConnection, AgentProfile
from bench.stack import free_port, uvicorn_command
from marketplace.services import api_token_create
from tasks.models import Message, Offer, Ticket

from . import live
from .conftest import TICKET_BODY

pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = live.ROOT / "test-output" / "reliability"

# Short clocks so the test sees a dead socket, its TTL and the grace period within seconds.
FAST_CLOCKS = {
    "AGENT_HEARTBEAT_SECONDS": "0.5",
    "AGENT_CONNECTION_TTL_SECONDS": "2",
    "AGENT_GRACE_SECONDS": "3",
    "SWEEPER_INTERVAL_SECONDS": "0.2",
}


def _env(redis_url: str, **extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": live.test_database_url(),
        "REDIS_URL": redis_url,
        "CHANNEL_PREFIX": f"mkt-fault-{os.getpid()}",
        "ENVIRONMENT": "test",
        "SWEEPER_IN_PROCESS": "false",
        "PYTHONUNBUFFERED": "1",
        **FAST_CLOCKS,
        **extra,
    }


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (503 while something is down): that is all we wait for
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}; see {log}")


@contextmanager
def web_process(redis_url: str, name: str):
    """A uvicorn process; yields (base URL, Popen, log path). Killed, not asked, at the end."""
    port = free_port()
    log = FIGURES / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            uvicorn_command(port),
            cwd=live.ROOT,
            env=_env(redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}", proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@contextmanager
def sweeper_process(redis_url: str):
    log = FIGURES / "sweeper.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_sweeper"],
            cwd=live.ROOT,
            env=_env(redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail("redis-server is needed on PATH for the Redis outage test (Debian package redis-server)")
    return found


@contextmanager
def own_redis(port: int):
    """A Redis server of this test's own on `port`, so stopping it disturbs nobody else."""
    proc = subprocess.Popen(
        [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def _post(url: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers


async def _recv_until(ws, predicate, timeout: float = 10) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time())))
        if predicate(frame):
            return frame


async def _request(ws, frame: dict, ref: str) -> dict:
    await ws.send(json.dumps({**frame, "ref": ref}))
    return await _recv_until(ws, lambda f: f.get("ref") == ref and f["type"] in ("ack", "error"))


def _ws(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


def _write_figures(name: str, figures: dict) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True))


def test_killed_web_process_loses_nothing_and_releases_agents_who_never_return(brand, api_key, agent, agent2):
    AgentProfile.objects.filter(pk__in=[agent.pk, agent2.pk]).update(capacity=2)
    tokens = {a.pk: api_token_create(user=a.user)[0] for a in (agent, agent2)}
    auth = {"Authorization": f"Bearer {api_key}"}
    redis_url = settings.REDIS_URL
    sent: list[str] = []

    with sweeper_process(redis_url):
        # The process the agents come back to is up before the crash, so its start-up on a
        # busy machine does not eat into the grace the agent has to come back in.
        with web_process(redis_url, "web-second") as (second, _, _):
            with web_process(redis_url, "web-killed") as (first, first_proc, _):

                async def before_the_kill():
                    sockets = {}
                    for a in (agent, agent2):
                        ws = await websockets.connect(
                            _ws(first, "/ws/agent/"), additional_headers={"Authorization": f"Token {tokens[a.pk]}"}
                        )
                        await _recv_until(ws, lambda f: f["type"] == "presence")
                        assert (await _request(ws, {"type": "presence", "status": "available"}, "p"))["type"] == "ack"
                        sockets[a.pk] = ws
                    created = {}
                    for a in (agent, agent2):
                        # Only the agent in question is available while their ticket is handed over.
                        other = agent2 if a is agent else agent
                        await _request(sockets[other.pk], {"type": "presence", "status": "away"}, "away")
                        await _request(sockets[a.pk], {"type": "presence", "status": "available"}, "back")
                        body = {**TICKET_BODY, "customer": {**TICKET_BODY["customer"], "external_id": f"c-{a.pk}"}}
                        status, ticket, _ = await asyncio.to_thread(_post, f"{first}/api/v1/tickets/", body, auth)
                        assert status == 201, ticket
                        offer = await _recv_until(sockets[a.pk], lambda f: f["type"] == "offer")
                        answer = await _request(
                            sockets[a.pk], {"type": "offer.accept", "offer_id": offer["offer_id"]}, "a"
                        )
                        assert answer["type"] == "ack", answer
                        created[a.pk] = ticket
                    for a in (agent, agent2):
                        ticket = created[a.pk]
                        customer = await websockets.connect(_ws(first, f"/ws/customer/{ticket['customer_token']}/"))
                        for n in range(3):
                            text = f"customer {a.pk} line {n}"
                            assert (await _request(customer, {"type": "message", "text": text}, f"m{n}"))[
                                "type"
                            ] == "ack"
                            sent.append(text)
                        text = f"agent {a.pk} reply"
                        answer = await _request(
                            sockets[a.pk], {"type": "message", "ticket_id": ticket["id"], "text": text}, "r"
                        )
                        assert answer["type"] == "ack"
                        sent.append(text)
                    return created

                created = asyncio.run(before_the_kill())
                assert AgentConnection.objects.count() == 2
                first_proc.send_signal(signal.SIGKILL)  # no disconnect handler runs anywhere
                first_proc.wait(timeout=10)

            killed_at = time.monotonic()

            async def after_the_kill():
                # The first agent comes back on the other process and carries on.
                ws = await websockets.connect(
                    _ws(second, "/ws/agent/"), additional_headers={"Authorization": f"Token {tokens[agent.pk]}"}
                )
                assigned = await _recv_until(ws, lambda f: f["type"] == "ticket.assigned")
                assert assigned["ticket"]["id"] == created[agent.pk]["id"]
                history = [m["text"] for m in assigned["ticket"]["messages"]]
                customer = await websockets.connect(_ws(second, f"/ws/customer/{created[agent.pk]['customer_token']}/"))
                text = "agent after the crash"
                await _request(ws, {"type": "message", "ticket_id": created[agent.pk]["id"], "text": text}, "again")
                heard = await _recv_until(customer, lambda f: f["type"] == "message" and f["text"] == text)
                sent.append(text)
                # The second agent never returns: their chat goes back to the queue.
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    ticket = await asyncio.to_thread(Ticket.objects.get, pk=created[agent2.pk]["id"])
                    if ticket.queue_reason == "agent_disconnected":
                        break
                    await asyncio.sleep(0.2)
                released_after = time.monotonic() - killed_at
                await ws.close()
                await customer.close()
                return history, heard, released_after

            history, heard, released_after = asyncio.run(after_the_kill())

    assert [t for t in sent if t.startswith(f"customer {agent.pk}")] == [
        t for t in history if t.startswith(f"customer {agent.pk}")
    ]
    assert heard["ticket_id"] == created[agent.pk]["id"]
    kept = Ticket.objects.get(pk=created[agent.pk]["id"])
    released = Ticket.objects.get(pk=created[agent2.pk]["id"])
    assert kept.status == Ticket.Status.ASSIGNED and kept.agent_id == agent.pk
    assert released.queue_reason == "agent_disconnected" and released.previous_agent_id == agent2.pk
    assert released.status in (Ticket.Status.QUEUED, Ticket.Status.OFFERED, Ticket.Status.ASSIGNED)
    assert released.agent_id != agent2.pk
    stored = set(Message.objects.values_list("text", flat=True))
    lost = [t for t in sent if t not in stored]
    assert lost == []
    doubled = [t for t in (kept, released) if Offer.objects.filter(ticket=t, state=Offer.State.PENDING).count() > 1]
    assert doubled == []
    agent2.refresh_from_db()
    assert agent2.status == AgentProfile.Status.OFFLINE and agent2.connections == 0
    _write_figures(
        "kill9",
        {
            "web_processes_killed": 1,
            "agents_connected_at_kill": 2,
            "agents_reconnected": 1,
            "messages_sent": len(sent),
            "messages_lost": len(lost),
            "tickets_doubled": len(doubled),
            "tickets_released_after_grace": 1,
            "seconds_kill_to_release": round(released_after, 1),
            # The grace counts from the socket's last heartbeat, so the release comes about
            # max(TTL, grace) after the kill, not their sum.
            "grace_seconds_from_last_heartbeat": float(FAST_CLOCKS["AGENT_GRACE_SECONDS"]),
            "ttl_seconds": float(FAST_CLOCKS["AGENT_CONNECTION_TTL_SECONDS"]),
        },
    )


def test_redis_outage_answers_503_says_so_at_start_and_recovers_by_itself(brand, api_key, agent):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    auth = {"Authorization": f"Bearer {api_key}"}
    token = api_token_create(user=agent.user)[0]
    figures = {"requests_during_outage": 0, "answered_503": 0, "answered_5xx_other": 0}

    with web_process(redis_url, "web-redis-down") as (base, _, log):
        # Started while Redis is down: the log says so.
        assert "is not reachable" in log.read_text()

        def during_outage(method_url, body=None, headers=None):
            figures["requests_during_outage"] += 1
            if body is None:
                try:
                    with urllib.request.urlopen(method_url, timeout=10) as response:
                        return response.status, response.read(), response.headers
                except urllib.error.HTTPError as exc:
                    return exc.code, exc.read(), exc.headers
            status, payload, response_headers = _post(method_url, body, headers or {})
            return status, json.dumps(payload).encode(), response_headers

        status, payload, headers = during_outage(f"{base}/api/v1/tickets/", TICKET_BODY, auth)
        assert status == 503, payload
        assert json.loads(payload)["error"]["code"] == "service_unavailable"
        assert headers.get("Retry-After") == "5"
        assert Ticket.objects.count() == 0  # nothing half-done
        status, payload, _ = during_outage(
            f"{base}/api/v1/auth/token/", {"email": agent.user.email, "password": "wrong"}, {}
        )
        assert status == 503 and json.loads(payload)["error"]["code"] == "service_unavailable"
        status, payload, _ = during_outage(f"{base}/healthz")
        assert status == 503 and json.loads(payload)["channel_layer"].startswith("error")
        figures["answered_503"] = 3

        async def socket_during_outage():
            async with websockets.connect(
                _ws(base, "/ws/agent/"), additional_headers={"Authorization": f"Token {token}"}
            ) as ws:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                await asyncio.wait_for(ws.wait_closed(), 10)
                return frame, ws.close_code

        frame, close_code = asyncio.run(socket_during_outage())
        assert frame["type"] == "error" and frame["code"] == "service_unavailable"
        assert close_code == 1013

        with own_redis(port):
            deadline = time.monotonic() + 15
            while True:
                status, body, _ = _post(f"{base}/api/v1/tickets/", TICKET_BODY, auth)
                if status == 201 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status == 201, body

            async def socket_after():
                async with websockets.connect(
                    _ws(base, "/ws/agent/"), additional_headers={"Authorization": f"Token {token}"}
                ) as ws:
                    await _recv_until(ws, lambda f: f["type"] == "presence")
                    assert (await _request(ws, {"type": "presence", "status": "available"}, "p"))["type"] == "ack"
                    return await _recv_until(ws, lambda f: f["type"] == "offer")

            offer = asyncio.run(socket_after())
            assert offer["ticket"]["id"] == body["id"]
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
                assert response.status == 200

    _write_figures("redis_outage", {**figures, "recovered_without_restart": True})
