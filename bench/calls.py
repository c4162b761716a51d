"""CPU per call of a ticket's life, in one process.

    python -m bench.calls --lives 300

The live benchmark measures the whole system, and its runs drift with the machine by more
than the few per cent one change to the server code is usually worth. This times the calls
themselves with `time.process_time`: the handover through the API's middleware and view
(Django's test client, with an Idempotency-Key), then the accept, the agent's message, the
customer's answer, resolve and rating as the socket consumers call the services. It runs
with the servers' settings (bench/stack.py: production, the pool, prepared statements, the
Redis channel layer, Celery's in-memory broker) against a freshly migrated benchmark
database with `--agents` agents online. The first fifth of the lives warm the process up and
are left out; medians and means of the rest are printed, and the sum of the means, the CPU
of one life's calls in this process (not the sockets, the HTTP server or PostgreSQL).
Compare two versions of the code by running each a few times, alternated.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from .stack import ROOT, Stack, recreate_database

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/marketplace_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
PHASES = ("handover", "accept", "agent_message", "customer_message", "resolve", "rate")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.calls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lives", type=int, default=300, help="tickets taken through their life (default 300)")
    parser.add_argument("--agents", type=int, default=200, help="agents online (default 200)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args(argv)
    if args.lives < 5 or args.agents < 1:
        parser.error("--lives must be at least 5 and --agents at least 1")
    return args


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """A migrated database with the benchmark's brands and agents, the agents online, and
    Django set up as the servers run it."""
    recreate_database(args.database_url)
    stack = Stack(args.database_url, args.redis_url)
    stack.migrate()
    os.environ.update(stack.env(), DJANGO_SETTINGS_MODULE="marketplace.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from agents.models import AgentProfile
    from tasks import services

    from .setup import seed

    seeded = seed(args.agents, 0)
    for agent in AgentProfile.objects.filter(brands__slug="bench"):
        services.agent_connected(agent_id=agent.pk, channel_name=f"calls.{agent.pk}", server="calls")
        services.presence_set(agent=agent, status=AgentProfile.Status.AVAILABLE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return seeded


def lives(count: int, brand_key: str) -> dict[str, list[float]]:
    from rest_framework.test import APIClient

    from tasks import services
    from tasks.models import Offer

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {brand_key}")
    spent: dict[str, list[float]] = {phase: [] for phase in PHASES}

    def timed(phase: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        result = call(*args, **kwargs)
        spent[phase].append((time.process_time() - started) * 1000)
        return result

    for n in range(count):
        body = {
            "customer": {"external_id": f"customer-{n % 50}", "name": "Maja", "email": "maja@example.test"},
            "language": "en",
            "subject": "My card was declined",
            "category": "cards",
            "priority": "normal",
            "transcript": [{"role": "customer", "text": "My card does not work"}],
            "summary": "Card declined; wants a human.",
        }
        key = str(uuid.uuid4())
        response = timed("handover", client.post, "/api/v1/tickets/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        if response.status_code != 201:
            raise SystemExit(f"handover answered {response.status_code}: {response.content[:300]!r}")
        ticket_id = response.json()["id"]
        offer = Offer.objects.select_related("agent").filter(ticket_id=ticket_id, state=Offer.State.PENDING).first()
        if offer is None:
            raise SystemExit("a handover was not offered: are there enough agents online (--agents)?")
        agent = offer.agent
        ticket = timed("accept", services.offer_accept, agent=agent, offer_id=offer.pk)
        timed(
            "agent_message",
            services.message_send_agent,
            agent=agent,
            ticket_id=ticket_id,
            text="Hello!",
            client_ref=f"a{n}",
        )
        timed("customer_message", services.message_send_customer, ticket=ticket, text="Thanks!", client_ref=f"c{n}")
        timed("resolve", services.ticket_resolve, agent=agent, ticket_id=ticket_id)
        timed("rate", services.ticket_rate, ticket=ticket, score=5)
    return spent


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"database {args.database_url} (recreated), redis {args.redis_url}", flush=True)
    seeded = setup(args)
    spent = lives(args.lives, seeded["main_key"])
    warm = args.lives // 5
    total = 0.0
    print(f"CPU per call in this process, ms (lives {warm + 1}-{args.lives} of {args.lives}):")
    for phase in PHASES:
        kept = spent[phase][warm:]
        total += statistics.mean(kept)
        print(f"  {phase:17s} median {statistics.median(kept):6.3f}  mean {statistics.mean(kept):6.3f}")
    print(f"  {'a life, the means':17s} {total:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
