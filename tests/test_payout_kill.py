"""A weekly batch paid by a real Celery worker that is killed (SIGKILL) in the middle, with a
Stripe transfer made but its answer not yet heard; a fresh worker reruns the batch. Every
agent is paid exactly once: one transfer per payout, the one in the air resent under its
own key and answered with the transfer Stripe had already made.

The worker runs against the test database and Redis database of the suite, on a queue of
its own (nothing else consumes it), with a non-eager configuration (ENVIRONMENT=development:
under ENVIRONMENT=test every job runs inline). Figures go to
test-output/reliability/payout_kill.json (docs/reliability.md).
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import transaction

from marketplace.celery import app as celery_app
from payouts import jobs
from payouts.models import Payout, PayoutBatch
from payouts.services import payout_batch_approve, payout_batches_propose

from . import live
from .payouts_helpers import agent_with_money, assert_ledger_sound, balances
from .stripe_stub import SECRET_KEY, StripeStub

pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = live.ROOT / "test-output" / "reliability"
AGENTS = 12
ANSWERED_BEFORE_THE_KILL = 3
# Generous bounds for a loaded machine; the test waits on what it watches, never on a clock.
TIMEOUT = 60


def wait_for(predicate: Callable[[], bool], what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out waiting until {what}\n{tail}")
        time.sleep(0.05)


@contextmanager
def worker(name: str, queue: str, stub: StripeStub) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A Celery worker process consuming only `queue`; stopped (warm) at the end if still alive."""
    log = FIGURES / f"payout-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": live.test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ENVIRONMENT": "development",
        "STRIPE_API_BASE": stub.base,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    celery = Path(sys.executable).parent / "celery"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(celery), "-A", "marketplace", "worker", "--pool=solo", "--concurrency=1", "-l", "info",
             "-Q", queue, "-n", f"{queue}-{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=live.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def forget_queue(queue: str) -> None:
    """Remove what the broker keeps for our queue, above all the killed worker's unacked
    message (it would come back after the visibility timeout, to a queue nobody reads)."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for tag, raw in broker.hgetall("unacked").items():
        if queue in json.loads(raw)[2]:
            broker.hdel("unacked", tag)
            broker.zrem("unacked_index", tag)
    for key in broker.scan_iter(match=f"*{queue}*"):
        broker.delete(key)
    for key in broker.scan_iter(match="_kombu.binding*"):
        if broker.type(key) == b"set":
            for member in broker.smembers(key):
                if queue.encode() in member:
                    broker.srem(key, member)


@contextmanager
def enqueued_for_a_worker(queue: str) -> Iterator[None]:
    """The batch job enqueued by this process goes to `queue` on the broker instead of
    running inline; afterwards the broker forgets the queue."""
    task = jobs.payout_batch_execute
    eager, routed = celery_app.conf.task_always_eager, getattr(task, "queue", None)
    celery_app.conf.task_always_eager = False
    task.queue = queue
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = eager
        task.queue = routed
        forget_queue(queue)


def unlocked(batch: PayoutBatch) -> bool:
    """No payout of the batch is still locked by the killed worker's transaction."""
    with transaction.atomic():
        waiting = Payout.objects.filter(batch=batch, status=Payout.Status.CREATED)
        return waiting.select_for_update(skip_locked=True).count() == waiting.count()


def test_a_worker_killed_mid_batch_leaves_every_agent_paid_exactly_once_after_the_rerun(brand, supervisor):
    agents = [agent_with_money(brand, 15000 + n) for n in range(AGENTS)]
    [batch] = payout_batches_propose()
    payouts = {p.pk: p for p in Payout.objects.filter(batch=batch)}
    assert len(payouts) == AGENTS
    queue = f"payouts-kill-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()

    with StripeStub.running() as stub, enqueued_for_a_worker(queue):
        stub.answer_after(0.3)
        stub.hold_after(ANSWERED_BEFORE_THE_KILL)
        payout_batch_approve(batch_id=batch.pk, user_id=supervisor.pk)
        with worker("worker-killed", queue, stub) as (first, log):
            wait_for(stub.held.is_set, "a transfer is made and its answer held", log)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        killed_after_transfers = stub.transfer_count()
        in_the_air = [r.key for r in stub.requests if r.status == 0]
        stub.release()
        wait_for(lambda: all(r.status for r in stub.requests), "the answer in the air has been given")
        wait_for(lambda: unlocked(batch), "the killed worker's transaction is rolled back")
        paid_at_the_kill = Payout.objects.filter(batch=batch, status=Payout.Status.PAID).count()

        with worker("worker-rerun", queue, stub) as (_, log):
            # The killed worker's message comes back only after the broker's visibility
            # timeout; the rerun is the same job enqueued again.
            jobs.payout_batch_execute.delay(batch.pk)
            wait_for(
                lambda: PayoutBatch.objects.get(pk=batch.pk).status == PayoutBatch.Status.DONE,
                "the rerun has finished the batch",
                log,
            )
    seconds = time.monotonic() - started

    # The kill: three payouts answered and committed, a fourth transfer made but unheard.
    assert killed_after_transfers == ANSWERED_BEFORE_THE_KILL + 1
    assert paid_at_the_kill == ANSWERED_BEFORE_THE_KILL
    assert len(in_the_air) == 1
    # The rerun: every payout paid, exactly one transfer each, the one in the air resent
    # under its own key and answered with the first transfer.
    after = {p.pk: p for p in Payout.objects.filter(batch=batch)}
    assert {p.status for p in after.values()} == {Payout.Status.PAID}
    transfers_by_payout = Counter(int(t["metadata"]["payout_id"]) for t in stub.transfers)
    assert transfers_by_payout == dict.fromkeys(payouts, 1)
    assert Counter(t["destination"] for t in stub.transfers).most_common(1)[0][1] == 1
    reference = {int(t["metadata"]["payout_id"]): t["id"] for t in stub.transfers}
    assert {pk: p.provider_reference for pk, p in after.items()} == reference
    for pk, p in after.items():
        assert p.net_minor == next(t["amount"] for t in stub.transfers if t["id"] == reference[pk])
    keys = Counter(stub.keys_sent())
    assert set(keys) == {f"payout-{pk}" for pk in payouts}
    assert [key for key, n in keys.items() if n > 1] == in_the_air
    assert [r.key for r in stub.requests if r.replayed] == in_the_air
    for n, agent in enumerate(agents):
        assert balances(agent) == {"available": 0, "in_payout": 0, "paid_out": 15000 + n, "pending": 0}
    assert_ledger_sound()

    figures = {
        "payouts": len(payouts),
        "killed_after_transfers": killed_after_transfers,
        "answered_before_the_kill": paid_at_the_kill,
        "in_the_air_at_the_kill": len(in_the_air),
        "requests_seen": len(stub.requests),
        "replayed_by_key": sum(r.replayed for r in stub.requests),
        "transfers_created": len(stub.transfers),
        "paid": sum(p.status == Payout.Status.PAID for p in after.values()),
        "doubled": sum(n - 1 for n in transfers_by_payout.values()),
        "skipped": sum(p.status != Payout.Status.PAID for p in after.values()),
        "seconds": round(seconds, 1),
    }
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / "payout_kill.json").write_text(json.dumps(figures, indent=2, sort_keys=True))
