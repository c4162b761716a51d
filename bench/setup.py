"""The benchmark database seen from this process: seeding it, checking integrity after the
run, and the floor (one row-lock transaction plus one Redis round trip)."""

import os
import sys
import time
from typing import Any

from .report import summary
from .stack import ROOT, SECRET_KEY

# --- Setup in this process (Django ORM against the bench database) -------------------------


def django_setup(database_url: str, redis_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="marketplace.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ENVIRONMENT="test",
        SECRET_KEY=SECRET_KEY,  # the agents' API tokens must be valid on the servers
    )
    sys.path.insert(0, str(ROOT))
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


def seed(agents: int, overload_agents: int) -> dict:
    from django.contrib.auth.hashers import make_password

    from agents.models import AgentLanguage, AgentProfile
    from marketplace.models import Brand, User
    from marketplace.services import api_tokens_create, brand_api_key_create
    from payouts.services.rates import rate_card_create

    main = Brand.objects.create(slug="bench", name="Bench", currency="SEK")
    over = Brand.objects.create(slug="overload", name="Overload", currency="SEK")
    for brand in (main, over):
        rate_card_create(brand_id=brand.pk, lines={"": 4500})
    unusable = make_password(None)

    def make(count: int, brand, prefix: str, capacity: int) -> list[str]:
        users = User.objects.bulk_create(
            [User(email=f"{prefix}{i}@bench.test", role=User.Role.AGENT, password=unusable) for i in range(count)]
        )
        profiles = AgentProfile.objects.bulk_create(
            [
                AgentProfile(user=u, display_name=f"{prefix}{i}", tier=AgentProfile.Tier.STANDARD, capacity=capacity)
                for i, u in enumerate(users)
            ]
        )
        AgentLanguage.objects.bulk_create([AgentLanguage(agent=p, code="en") for p in profiles])
        AgentProfile.brands.through.objects.bulk_create(
            [AgentProfile.brands.through(agentprofile_id=p.pk, brand_id=brand.pk) for p in profiles]
        )
        return [raw for raw, _ in api_tokens_create(users=users)]

    return {
        "main_key": brand_api_key_create(brand=main),
        "over_key": brand_api_key_create(brand=over),
        "main_tokens": make(agents, main, "agent", 2),
        # Capacity 1 so that every offer after a resolve is the one the freed slot caused.
        "over_tokens": make(overload_agents, over, "over", 1),
    }


BENCH_BRANDS = ("bench", "overload")  # the brands seed() creates


# An agent's message sent this close to the clients' stop is not counted lost when it did not
# arrive in time.
IN_FLIGHT_SECONDS = 5.0


def integrity(run: Any) -> dict:
    """`run` is the finished `Run` of bench/__main__.py (what the clients saw)."""
    from django.db.models import Count, Q

    from tasks.models import Message, Offer, Ticket

    answered = set(run.created)
    # Every ticket of the bench brands is checked, not only those whose 201 the client saw:
    # a handover whose answer was lost (timeout, dropped connection after the commit) is
    # exactly the one a client-side list would miss.
    created = set(Ticket.objects.filter(brand__slug__in=BENCH_BRANDS).values_list("pk", flat=True))
    # A ticket may rightly be accepted again after it went back to the queue (its agent's
    # connection was gone past the grace period, or the customer reopened it); each such
    # return leaves a system message. More accepts than returns + 1 is a double assignment.
    accepted = dict(
        Offer.objects.filter(state=Offer.State.ACCEPTED, ticket_id__in=created)
        .values_list("ticket")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    returns = dict(
        Message.objects.filter(ticket_id__in=accepted, sender="system").values_list("ticket").annotate(n=Count("pk"))
    )
    double_db = sum(1 for t, n in accepted.items() if n - 1 > returns.get(t, 0))
    double_clients = run.overlapping_assignments
    # Lost: neither with an agent / done, nor waiting in the queue with a reason.
    lost = Ticket.objects.filter(pk__in=created).exclude(
        Q(status__in=["assigned", "resolved", "closed"]) | (Q(status__in=["queued", "offered"]) & ~Q(queue_reason=""))
    )
    stored = set(Message.objects.filter(ticket_id__in=created, sender="agent").values_list("ticket_id", flat=True))
    acked = set(run.msg_acked)
    missing_in_db = acked - stored
    # Acked agent messages the customer's socket (connected before the send) never got.
    # (A customer socket that the client saw fail is the client's loss, not the server's.)
    undelivered = {
        t
        for t in acked
        if t in run.customer_connected and run.customer_connected[t] < run.msg_sent[t] and t not in run.customer_failed
    } - set(run.customer_msg)
    # Sent in the last moments before the clients stopped listening: the push may still have
    # been on its way (its p99 is seconds past saturation). Counted, not failed.
    in_flight = {t for t in undelivered if run.stopped_at - run.msg_sent[t] < IN_FLIGHT_SECONDS}
    # The customers' answers and ratings, acked on their sockets, must be stored too.
    replies = set(
        Message.objects.filter(ticket_id__in=created, sender="customer", client_ref__startswith="message:").values_list(
            "ticket_id", flat=True
        )
    )
    replies_missing = set(run.customer_reply_acked) - replies
    rated = set(Ticket.objects.filter(pk__in=created, rating__isnull=False).values_list("pk", flat=True))
    unfinished = Ticket.objects.filter(pk__in=created).exclude(status__in=["resolved", "closed"]).count()
    return {
        "tickets_created": len(created),
        "tickets_answered": len(answered),
        "tickets_created_unanswered": len(created - answered),
        "tickets_missing_from_db": len(answered - created),
        "double_assignments": double_db + double_clients,
        "tickets_lost": lost.count() + len(answered - created),
        "messages_lost": len(missing_in_db) + len(undelivered - in_flight) + len(replies_missing),
        "messages_in_flight_at_stop": len(in_flight),
        "ratings_lost": len(set(run.rated) - rated),
        "tickets_resolved": len(created) - unfinished,
        "tickets_rated": len(rated),
        "tickets_unfinished_after_drain": unfinished,
    }


# --- Floor ---------------------------------------------------------------------------------


async def analyze(database_url: str) -> None:
    """Statistics as a database that has run a while has them: with the agents online and
    available. The freshly made database was last analysed with everyone offline, so the
    planner took the available agents to be a handful (autovacuum would analyse again only
    after its first minute)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("ANALYZE")


async def measure_floor(database_url: str, redis_url: str, rounds: int = 300) -> dict:
    """One PostgreSQL row-lock transaction plus one Redis publish -> receive."""
    import psycopg
    import redis.asyncio as aioredis

    samples, pg_only, redis_only = [], [], []
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
        await conn.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT DO NOTHING")
        await conn.commit()
        publisher = aioredis.Redis.from_url(redis_url)
        subscriber = aioredis.Redis.from_url(redis_url)
        pubsub = subscriber.pubsub()
        channel = f"bench-floor-{os.getpid()}"
        await pubsub.subscribe(channel)
        await pubsub.get_message(timeout=1)  # subscribe confirmation
        for i in range(rounds):
            t0 = time.perf_counter()
            async with conn.transaction():
                cur = await conn.execute("SELECT id FROM bench_floor WHERE id = 1 FOR UPDATE SKIP LOCKED")
                await cur.fetchone()
                await conn.execute("UPDATE bench_floor SET n = n + 1 WHERE id = 1")
            t1 = time.perf_counter()
            await publisher.publish(channel, str(i))
            while True:
                message = await pubsub.get_message(timeout=1)
                if message and message["type"] == "message":
                    break
            t2 = time.perf_counter()
            if i >= 20:  # warm-up rounds are not counted
                samples.append(t2 - t0)
                pg_only.append(t1 - t0)
                redis_only.append(t2 - t1)
        await pubsub.aclose()
        await publisher.aclose()
        await subscriber.aclose()
    return {"total": summary(samples), "postgres": summary(pg_only), "redis": summary(redis_only)}
