"""Queries compiled once per shape (marketplace/prepared.py): the same answers as the ORM
for every shape and value, no compilation after the first call, and a query whose SQL
depends on its values refused when it is prepared rather than answered wrongly."""

import random
from contextlib import nullcontext
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.db.models import Count, Max
from django.db.models import Value as V
from django.db.models.expressions import RawSQL
from django.db.models.functions import Upper
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.models import Brand
from marketplace.prepared import (
    PreparedInsert,
    PreparedQuery,
    PreparedQueryError,
    PreparedSave,
    PreparedUpdate,
    totals,
)
from payouts.models import Earning, LedgerPosting, RateCard, RateLine
from tasks import selectors, services
from tasks.models import Offer, Shift, ShiftBooking, Ticket

from .factories import AgentFactory, TicketFactory, UserFactory
from .test_query_counts import orm_compilations

pytestmark = pytest.mark.django_db


def by_the_rule(ticket: Ticket, now) -> tuple[AgentProfile | None, int | None]:
    """The agent and shift bonus that best_eligible_agent's stated ranking picks, sorted in
    Python over every agent who matches the ticket."""
    brand_id = ticket.brand_id
    misses = Offer.objects.filter(
        ticket=ticket, state__in=[Offer.State.EXPIRED, Offer.State.DECLINED], created_at__gte=ticket.queued_at
    )
    missed = set(misses.values_list("agent_id", flat=True))
    cooling = set(misses.filter(responded_at__gt=selectors.retry_cutoff()).values_list("agent_id", flat=True))
    bonus = dict(
        ShiftBooking.objects.filter(
            status=ShiftBooking.Status.BOOKED,
            checked_in_at__isnull=False,
            starts_at__lte=now,
            ends_at__gt=now,
            shift__brand_id=brand_id,
        ).values_list("agent_id", "shift__bonus_per_case_minor")
    )
    candidates = [
        a for a in selectors.matching_agents(ticket, AgentProfile.objects.can_take_work()) if a.pk not in cooling
    ]
    ranked = sorted(
        candidates,
        key=lambda a: (
            a.pk != ticket.previous_agent_id,
            a.pk in missed,
            a.pk not in bonus,
            -a.quality_score,
            a.last_assigned_at is not None,
            a.last_assigned_at or now,
            a.pk,
        ),
    )
    return (ranked[0], bonus.get(ranked[0].pk)) if ranked else (None, None)


def test_the_eligible_query_picks_what_the_stated_ranking_picks_for_every_shape(brand, other_brand, settings):
    settings.OFFER_RETRY_COOLDOWN_SECONDS = 600
    rng = random.Random(7)
    brands = [brand, other_brand]
    now = timezone.now()
    agents = []
    for n in range(24):
        agents.append(
            AgentFactory(
                brands=rng.sample(brands, rng.randint(1, 2)),
                languages=rng.sample(["en", "sv", "de"], rng.randint(1, 2)),
                skills=rng.sample(["billing", "cards", "refunds"], rng.randint(0, 3)),
                tier=rng.choice(["probation", "standard", "expert"]),
                # Few distinct scores, so that ties go on to the idle time and the id.
                quality_score=Decimal(rng.choice([3500, 4000, 4500, 4800])) / 1000,
                available=True,
                capacity=2,
                last_assigned_at=now - timedelta(minutes=rng.randint(0, 90)) if n % 3 else None,
                user__password=None,
            )
        )
    # Some agents checked in on a running shift of a brand, one with a per-case bonus.
    for n, agent in enumerate(rng.sample(agents, 8)):
        shift = Shift.objects.create(
            brand=rng.choice(brands),
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1),
            languages=["en"],
            slots=5,
            bonus_per_case_minor=150 if n % 2 else None,
        )
        ShiftBooking.objects.create(
            shift=shift,
            agent=agent,
            starts_at=shift.starts_at,
            ends_at=shift.ends_at,
            checked_in_at=None if n == 7 else now - timedelta(minutes=50),
        )
    checked = set()
    for n in range(60):
        picked_brand = rng.choice(brands)
        Brand.objects.filter(pk=picked_brand.pk).update(dispatch_min_tier=rng.choice(["", "standard", "expert"]))
        picked_brand.refresh_from_db()
        ticket = TicketFactory(
            brand=picked_brand,
            language=rng.choice(["en", "sv", "de"]),
            tags=rng.sample(["billing", "cards", "refunds"], rng.randint(0, 2)),
            widen_level=rng.choice([0, 0, 1, 2]),
        )
        Ticket.objects.filter(pk=ticket.pk).update(queued_at=now - timedelta(hours=1))
        on_brand = list(AgentProfile.objects.filter(brands=picked_brand).order_by("pk"))
        if n % 3 == 0:
            # A reopened ticket's previous agent.
            Ticket.objects.filter(pk=ticket.pk).update(previous_agent=rng.choice(on_brand))
        for _ in range(rng.choice([0, 1, 3, 8])):
            # Misses: one just now (cooling down, skipped), the others long enough ago to
            # be offered again, behind everyone who has not missed the ticket.
            recent = rng.random() < 0.3
            Offer.objects.create(
                ticket=ticket,
                agent=rng.choice(on_brand),
                state=rng.choice([Offer.State.DECLINED, Offer.State.EXPIRED]),
                pay_amount_minor=0,
                responded_at=now if recent else now - timedelta(minutes=30),
                expires_at=now,
            )
        ticket = Ticket.objects.select_related("brand").get(pk=ticket.pk)
        with transaction.atomic():
            picked = selectors.best_eligible_agent(ticket)
            expected, bonus = by_the_rule(ticket, timezone.now())
        assert picked == expected, (n, selectors.matching_key(ticket))
        if expected is not None:
            assert picked.shift_bonus_minor == bonus
            assert picked.quality_score == expected.quality_score and picked.tier == expected.tier
            missed = Offer.objects.filter(ticket=ticket, agent=expected).exists()
            checked.add("previous" if expected.pk == ticket.previous_agent_id else "missed" if missed else "other")
            checked.add("bonus" if bonus else "no bonus")
    # The scenes really offered previous agents, agents who missed it, others, with a shift
    # bonus and without, so the equality above compares agents, not Nones.
    assert checked == {"previous", "missed", "other", "bonus", "no bonus"}


def test_a_shift_ranks_first_among_those_who_missed_the_ticket_as_among_those_who_did_not(brand, settings):
    settings.OFFER_RETRY_COOLDOWN_SECONDS = 60
    now = timezone.now()
    best, on_shift = (
        AgentFactory(brands=[brand], languages=["en"], quality_score=Decimal(score), available=True)
        for score in ("4.9", "3.1")
    )
    shift = Shift.objects.create(
        brand=brand, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1), languages=["en"], slots=1
    )
    ShiftBooking.objects.create(
        shift=shift, agent=on_shift, starts_at=shift.starts_at, ends_at=shift.ends_at, checked_in_at=now
    )
    ticket = TicketFactory(brand=brand, language="en")
    Ticket.objects.filter(pk=ticket.pk).update(queued_at=now - timedelta(hours=1))
    ticket = Ticket.objects.select_related("brand").get(pk=ticket.pk)
    with transaction.atomic():
        assert selectors.best_eligible_agent(ticket) == on_shift
    for agent in (best, on_shift):
        Offer.objects.create(
            ticket=ticket,
            agent=agent,
            state=Offer.State.EXPIRED,
            pay_amount_minor=0,
            responded_at=now - timedelta(minutes=5),
            expires_at=now - timedelta(minutes=5),
        )
    with transaction.atomic():
        assert selectors.best_eligible_agent(ticket) == on_shift


def test_after_the_first_ticket_dispatch_compiles_neither_the_eligible_agents_nor_the_pay(brand, monkeypatch):
    for _ in range(3):
        AgentFactory(brands=[brand], available=True, capacity=3, user__password=None)
    first, second = TicketFactory(brand=brand), TicketFactory(brand=brand)
    assert services.ticket_dispatch(ticket_id=first.pk) is not None
    with orm_compilations(monkeypatch) as compiled:
        offer = services.ticket_dispatch(ticket_id=second.pk)
    assert offer is not None and offer.pay_amount_minor > 0
    assert AgentProfile not in compiled and Offer not in compiled
    assert RateLine not in compiled and RateCard not in compiled


def test_after_the_first_ticket_its_rows_are_written_without_compiling(brand, monkeypatch):
    from .conftest import TICKET_BODY

    AgentFactory(brands=[brand], available=True, capacity=3, user__password=None)

    def life(compiled=None):
        # Only the services run inside the guard; the test's own reads are outside it.
        with orm_compilations(monkeypatch) if compiled is not None else nullcontext([]) as seen:
            ticket = services.ticket_create(brand=brand, data={**TICKET_BODY, "priority": 1})
        offer = Offer.objects.select_related("agent").get(ticket=ticket)
        with orm_compilations(monkeypatch) if compiled is not None else nullcontext([]) as also:
            services.offer_accept(agent=offer.agent, offer_id=offer.pk)
            services.ticket_resolve(agent=offer.agent, ticket_id=ticket.pk)
        if compiled is not None:
            compiled.extend(seen + also)

    life()
    compiled: list = []
    life(compiled)
    # The customer's upsert, the ticket, its offer, resolution, earning and ledger postings.
    assert compiled == []
    assert Earning.objects.filter(kind=Earning.Kind.CASE).count() == 2
    assert LedgerPosting.objects.count() == 4


def _names(_shape, *, name):
    return Brand.objects.filter(name__icontains=name)


def _ignores(_shape, *, name):
    return Brand.objects.all()


def _inlines(_shape, *, pk):
    # A value written into the SQL text: exactly what preparing must refuse.
    return Brand.objects.annotate(mine=RawSQL(f"id = {pk}", ())).filter(pk=pk)  # noqa: S611


def _depends(_shape, *, pk):
    # The SQL text itself changes with the value: a second compilation tells.
    return Brand.objects.filter(pk=pk) if pk % 2 else Brand.objects.filter(pk=pk, slug="x")


def _makes_its_own_time(_shape, *, slug):
    # The time is made inside build: prepared, it would stay the first call's for good.
    return Brand.objects.filter(slug=slug, supervisors__date_joined__lte=timezone.now())


@pytest.mark.parametrize(
    ("build", "values", "says"),
    [
        (_makes_its_own_time, {"slug": "acme"}, "differ between two compilations"),
        (_names, {"name": "acme"}, "changed on its way"),
        (_ignores, {"name": "acme"}, "not sent as parameters"),
        (_inlines, {"pk": 1}, "depends on the values"),
        (_depends, {"pk": 1}, "depends on the values"),
    ],
)
def test_a_query_whose_sql_depends_on_its_values_is_refused_when_prepared(brand, build, values, says):
    with pytest.raises(PreparedQueryError, match=says):
        PreparedQuery(build)((), **values)


def test_none_and_bool_belong_in_the_shape(brand):
    query = PreparedQuery(lambda _shape, *, flag: Brand.objects.filter(slug="x" if flag else "y"))
    with pytest.raises(PreparedQueryError, match="shape"):
        query((), flag=True)


def test_values_change_between_calls_and_results_follow(brand, other_brand):
    query = PreparedQuery(lambda _shape, *, slugs: Brand.objects.filter(slug__in=slugs).order_by("slug"))
    assert query((1,), slugs=[brand.slug]) == [brand]
    assert query((1,), slugs=[other_brand.slug]) == [other_brand]
    assert query((2,), slugs=[brand.slug, other_brand.slug]) == sorted([brand, other_brand], key=lambda b: b.slug)
    assert query((1,), slugs=["nobody"]) == []


def test_totals_answer_what_aggregate_answers_with_rows_and_without(brand, other_brand):
    def counted(_shape, *, slug):
        return totals(Brand.objects.filter(slug__gte=slug), n=Count("pk"), longest=Max("name"))

    query = PreparedQuery(counted)
    for slug in ["", brand.slug, other_brand.slug, "zzzz"]:
        expected = Brand.objects.filter(slug__gte=slug).aggregate(n=Count("pk"), longest=Max("name"))
        assert query((), slug=slug) == [(expected["n"], expected["longest"])]


def test_a_values_list_gives_its_columns_in_the_order_named(brand):
    query = PreparedQuery(
        lambda _shape, *, pk: Brand.objects.filter(pk=pk).annotate(n=Count("pk")).values_list("n", "slug", "id")
    )
    assert query((), pk=brand.pk) == [(1, brand.slug, brand.pk)]


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_as_the_orm_refuses_it(brand):
    query = PreparedQuery(lambda _shape, *, pk: Brand.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert query((), pk=brand.pk) == [brand]
    with pytest.raises(TransactionManagementError):
        query((), pk=brand.pk)


def test_a_freed_agent_is_offered_the_first_queued_ticket_it_may_take_and_no_other(brand, other_brand, monkeypatch):
    agent = AgentFactory(
        brands=[brand], languages=["en", "sv"], skills=["billing"], tier="standard", capacity=1, available=True
    )
    AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AWAY)
    Brand.objects.filter(pk=other_brand.pk).update(dispatch_min_tier="expert")
    # In queue order (priority, then age), each but the last is one this agent may not take.
    for ticket in [
        TicketFactory(brand=other_brand, language="en", priority=3),  # not certified for the brand
        TicketFactory(brand=brand, language="de", priority=3),  # a language not spoken
        TicketFactory(brand=brand, language="en", tags=["refunds"], priority=2),  # a skill missing
    ]:
        assert services.ticket_dispatch(ticket_id=ticket.pk) is None
    takeable = TicketFactory(brand=brand, language="sv", tags=["billing"], priority=1)
    assert services.ticket_dispatch(ticket_id=takeable.pk) is None
    AgentProfile.objects.filter(pk=agent.pk).update(status=AgentProfile.Status.AVAILABLE)
    assert services.agent_dispatch(agent_id=agent.pk) == 1
    assert Offer.objects.get(agent=agent, state=Offer.State.PENDING).ticket_id == takeable.pk
    # Its slot is full now; once free again, nothing else waiting is for this agent, and
    # the walk through the queue compiles no query.
    Offer.objects.filter(agent=agent).update(state=Offer.State.RESCINDED)
    AgentProfile.objects.filter(pk=agent.pk).update(load=0)
    with orm_compilations(monkeypatch) as compiled:
        assert services.agent_dispatch(agent_id=agent.pk) == 0
    assert compiled == []


def test_a_prepared_update_changes_what_queryset_update_changes(brand, other_brand, monkeypatch):
    rename = PreparedUpdate(lambda _shape, *, slug, name: (Brand.objects.filter(slug=slug), {"name": name}))
    assert rename((), slug=brand.slug, name="Acme One") == 1
    with orm_compilations(monkeypatch) as compiled:
        assert rename((), slug=other_brand.slug, name="Other One") == 1
        assert rename((), slug="nobody", name="Nobody") == 0
    assert compiled == []
    assert sorted(Brand.objects.values_list("name", flat=True)) == ["Acme One", "Other One"]
    # The guard sees the ORM's own updates, so the empty list above means something.
    with orm_compilations(monkeypatch) as compiled:
        Brand.objects.filter(slug="nobody").update(name="Nobody")
    assert compiled == [Brand]


def test_a_prepared_insert_stores_what_create_stores(brand):
    """Defaults, auto_now_add, JSON fields and foreign keys, the primary key set on the
    instance: the row is the one Model.objects.create writes."""
    insert = PreparedInsert(Ticket)
    customer = TicketFactory(brand=brand).customer
    values = {
        "brand": brand,
        "customer": customer,
        "language": "sv",
        "subject": "Card blocked",
        "tags": ["cards"],
        "transcript": [{"role": "customer", "text": "hi", "at": None}],
        "queue_reason": "new",
    }
    for _ in range(2):  # the first call prepares, the second runs what was prepared
        mine = insert(Ticket(**values))
        theirs = Ticket.objects.create(**values)
        assert mine.pk is not None and not mine._state.adding and mine._state.db == "default"
        stored, expected = Ticket.objects.get(pk=mine.pk), Ticket.objects.get(pk=theirs.pk)
        skip = {"id", "customer_token", "created_at", "queued_at"}
        fields = [f.attname for f in Ticket._meta.concrete_fields if f.attname not in skip]
        assert {f: getattr(stored, f) for f in fields} == {f: getattr(expected, f) for f in fields}
        assert stored.customer_token and stored.customer_token != expected.customer_token
        assert abs(stored.created_at - expected.created_at) < timedelta(seconds=5)
        assert mine.created_at == stored.created_at and mine.customer_token == stored.customer_token


def test_a_prepared_insert_compiles_only_once(brand, monkeypatch):
    from django.db.models.sql.compiler import SQLInsertCompiler

    insert = PreparedInsert(Brand)
    insert(Brand(name="First", slug="first"))
    compiled = []
    as_sql = SQLInsertCompiler.as_sql
    monkeypatch.setattr(SQLInsertCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or as_sql(self, *a, **k))
    second = insert(Brand(name="Second", slug="second"))
    assert compiled == []
    assert Brand.objects.get(pk=second.pk).slug == "second"


def test_a_prepared_insert_refuses_a_saved_instance_and_an_expression(brand):
    insert = PreparedInsert(Brand)
    with pytest.raises(PreparedQueryError, match="new instance"):
        insert(brand)
    with pytest.raises(PreparedQueryError, match="expression"):
        insert(Brand(name=Upper(V("x")), slug="upper"))
    assert not Brand.objects.filter(slug="upper").exists()


def test_a_prepared_save_writes_what_save_with_update_fields_writes(brand, agent):
    """JSON, a foreign key set and cleared, a NULL, auto_now: the row is the one
    save(update_fields=...) writes, and the fields not named are left alone."""
    from agents.models import Application

    save = PreparedSave(Ticket)
    mine, theirs = TicketFactory(brand=brand), TicketFactory(brand=brand)
    names = ["transcript", "agent", "rating", "queue_reason"]
    for agent_then, rating in ((agent, 4), (None, None)):  # the second call runs what the first prepared
        for ticket in (mine, theirs):
            ticket.transcript = [{"role": "bot", "text": "Ünïcode ✓", "at": None}, {"nested": {"n": 1}}]
            ticket.agent, ticket.rating, ticket.queue_reason = agent_then, rating, "reopened"
            ticket.subject = "not saved"
        save(mine, names)
        theirs.save(update_fields=names)
        stored, expected = Ticket.objects.get(pk=mine.pk), Ticket.objects.get(pk=theirs.pk)
        assert {n: getattr(stored, n) for n in names} == {n: getattr(expected, n) for n in names}
        assert stored.subject != "not saved" and stored.agent_id == (agent_then and agent_then.pk)

    application = Application.objects.create(user=UserFactory())
    before = application.updated_at
    application.language = "sv"
    PreparedSave(Application)(application, ["language", "updated_at"])
    stored = Application.objects.get(pk=application.pk)
    assert stored.language == "sv" and stored.updated_at > before and stored.updated_at == application.updated_at


def test_a_prepared_save_compiles_only_once(brand, monkeypatch):
    save = PreparedSave(Brand)
    brand.name = "First"
    save(brand, ["name"])
    brand.name = "Second"
    with orm_compilations(monkeypatch) as compiled:
        save(brand, ["name"])
    assert compiled == []
    assert Brand.objects.get(pk=brand.pk).name == "Second"


def test_a_prepared_save_refuses_what_save_would_not_do(brand):
    save = PreparedSave(Brand)
    with pytest.raises(PreparedQueryError, match="stored instance"):
        save(Brand(name="New", slug="new"), ["name"])
    with pytest.raises(PreparedQueryError, match="primary key"):
        save(brand, ["id"])
    with pytest.raises(PreparedQueryError, match="own table"):
        save(brand, ["supervisors"])
    with pytest.raises(PreparedQueryError, match="once"):
        save(brand, ["name", "name"])
    brand.name = Upper(V("x"))
    with pytest.raises(PreparedQueryError, match="expression"):
        save(brand, ["name"])
    gone = Brand.objects.get(pk=brand.pk)
    gone.pk = 10**9
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        save(gone, ["slug"])


def test_a_prepared_upsert_updates_the_row_it_clashes_with_and_returns_it(brand):
    from tasks.models import Customer

    upsert = PreparedInsert(Customer, unique_fields=["brand", "external_id"], update_fields=["name", "email"])
    first = upsert(Customer(brand=brand, external_id="c-1", name="Maja", email="maja@example.test"))
    again = upsert(Customer(brand=brand, external_id="c-1", name="Maja S", email=""))
    other = upsert(Customer(brand=brand, external_id="c-2", name="Ola", email=""))
    assert again.pk == first.pk != other.pk
    stored = Customer.objects.get(pk=first.pk)
    assert (stored.name, stored.email) == ("Maja S", "")
    assert Customer.objects.filter(brand=brand, external_id__in=["c-1", "c-2"]).count() == 2
    with pytest.raises(PreparedQueryError, match="updates the row"):
        upsert.if_new(Customer(brand=brand, external_id="c-3", name="X"))
    with pytest.raises(PreparedQueryError, match="names the fields"):
        PreparedInsert(Customer, update_fields=["name"])


def test_an_insert_if_new_writes_nothing_on_a_clash_and_says_so(brand):
    insert = PreparedInsert(Brand)
    made = insert.if_new(Brand(name="Fresh", slug="fresh"))
    assert made is not None and Brand.objects.get(pk=made.pk).name == "Fresh"
    with transaction.atomic():  # the clash does not break the transaction it happens in
        assert insert.if_new(Brand(name="Clash", slug="fresh")) is None
        assert Brand.objects.filter(slug="fresh").get().name == "Fresh"


def test_several_rows_in_one_insert_are_what_bulk_create_stores(brand, monkeypatch):
    """JSON and foreign keys, one row or several (PostgreSQL takes those as an array per
    column), each instance given its own primary key, in order; compiled once per count."""
    insert = PreparedInsert(Ticket)
    customer = TicketFactory(brand=brand).customer

    def tickets(n):
        return [
            Ticket(
                brand=brand, customer=customer, language="en", subject=f"s{i}", tags=[f"t{i}"], transcript=[{"n": i}]
            )
            for i in range(n)
        ]

    for n, compiles in ((3, True), (3, False), (1, True), (1, False)):
        with orm_compilations(monkeypatch) as compiled:
            mine = insert.many(tickets(n))
        assert bool(compiled) == compiles
        theirs = Ticket.objects.bulk_create(tickets(n))
        stored = list(Ticket.objects.filter(pk__in=[t.pk for t in mine]).order_by("pk"))
        assert [t.subject for t in stored] == [t.subject for t in theirs] == [t.subject for t in mine]
        for ours, row in zip(mine, stored, strict=True):
            assert (ours.pk, ours.tags, ours.transcript) == (row.pk, row.tags, row.transcript)
            assert ours.created_at == row.created_at and not ours._state.adding
    assert insert.many([]) == []
