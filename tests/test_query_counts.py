"""Guards on the number of queries of the hot dispatch path (no timing asserted here)."""

from contextlib import contextmanager

import pytest
from django.db.models.sql.compiler import SQLCompiler, SQLInsertCompiler, SQLUpdateCompiler

from payouts.ledger import Owner, Purpose, account_for
from tasks import services
from tasks.models import Message, Offer

from .conftest import TICKET_BODY
from .factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_brand(brand):
    """Enough agents that a query per agent would show."""
    for _ in range(10):
        AgentFactory(brands=[brand], available=True, skills=["cards"])
    return brand


# A handover's statements when an agent is free; tests/test_web_push.py holds it to the same.
INTAKE_STATEMENTS = 11


def test_ticket_create_and_dispatch_query_count(busy_brand, django_assert_max_num_queries):
    data = {**TICKET_BODY, "priority": 1}
    # The read of the brand's open intake pauses (the partial unique index on open pauses
    # serves it); the customer's upsert and the ticket; a savepoint around the dispatch (a
    # failed one leaves the ticket queued), picking the agent in two parts (those on shift,
    # then everyone else in the ranking's index order), the rate card, the offer, the ticket
    # and the agent's load, and its release. No savepoint of its own: inside the API's
    # transaction a failure fails that anyway.
    with django_assert_max_num_queries(INTAKE_STATEMENTS):
        services.ticket_create(brand=busy_brand, data=data)


def test_ticket_dispatch_query_count(busy_brand, handover, django_assert_max_num_queries):
    from tasks.models import Ticket

    ticket = Ticket.objects.create(brand=busy_brand, customer=handover().customer, language="en", subject="x")
    # Picking the agent takes two reads (on shift, then everyone else), as above.
    with django_assert_max_num_queries(9):
        assert services.ticket_dispatch(ticket_id=ticket.pk) is not None


def test_accept_message_resolve_query_counts(busy_brand, handover, django_assert_max_num_queries):
    ticket = handover()
    offer = Offer.objects.select_related("agent").get(ticket=ticket, state="pending")
    agent = offer.agent
    # Savepoint, claim the offer, assign the ticket, update the agent, load the ticket with
    # its customer and brand, load its newest messages, release.
    with django_assert_max_num_queries(7):
        services.offer_accept(agent=agent, offer_id=offer.pk)
    # Savepoint, lock the ticket, store the message, release.
    with django_assert_max_num_queries(4):
        services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Hello")
    # A ref (kept so a resend is recognised) costs one indexed lookup more, no more.
    with django_assert_max_num_queries(5):
        services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Hello again", client_ref="r-2")
    # The ledger posts the case's pay in three statements: find both accounts, write the
    # transaction, write its postings. Opening the accounts (two more) happens once per agent
    # and brand, so the guard measures an agent who has been paid before.
    for kind, owner, purpose in [
        (Owner.AGENT, agent.pk, Purpose.AGENT_PENDING),
        (Owner.BRAND, ticket.brand_id, Purpose.BRAND_PAYABLE),
    ]:
        account_for(owner_kind=kind, owner_id=owner, purpose=purpose, currency=busy_brand.currency)
    # Recording the resolution (whose confirmation, rating and QA review follow it) is one
    # INSERT more.
    with django_assert_max_num_queries(13):
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)


def counted(as_sql, compiled: list):
    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    return counting


@contextmanager
def orm_compilations(monkeypatch):
    """The models of every query the ORM compiles inside the block."""
    compiled: list = []
    # An UPDATE's and an INSERT's compilers have their own as_sql.
    for compiler in (SQLCompiler, SQLUpdateCompiler, SQLInsertCompiler):
        monkeypatch.setattr(compiler, "as_sql", counted(compiler.as_sql, compiled))
    try:
        yield compiled
    finally:
        monkeypatch.undo()


def test_accept_and_chat_messages_compile_no_orm_query(busy_brand, handover, monkeypatch):
    """These run fixed SQL (tasks/rows.py): the ORM's compiler, which cost most of their CPU,
    is not used at all, from the first statement to the frames pushed."""
    ticket = handover()
    offer = Offer.objects.select_related("agent").get(ticket=ticket, state="pending")
    agent = offer.agent
    services.message_send_customer(ticket=ticket, text="Are you there?")
    with orm_compilations(monkeypatch) as compiled:
        accepted = services.offer_accept(agent=agent, offer_id=offer.pk)
        mine = services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Hello", client_ref="a-1")
        again = services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Hello", client_ref="a-1")
        theirs = services.message_send_customer(ticket=ticket, text="Hi!", client_ref="c-1")
        theirs_again = services.message_send_customer(ticket=ticket, text="Hi!", client_ref="c-1")
    assert compiled == []
    assert accepted.status == "assigned" and accepted.agent_id == agent.pk
    assert accepted.customer == ticket.customer and accepted.brand == busy_brand
    assert accepted.pay_calculation == offer.pay_calculation and accepted.tags == ticket.tags
    assert again.pk == mine.pk and theirs_again.pk == theirs.pk
    stored = Message.objects.get(pk=mine.pk)
    assert (stored.sender, stored.author_id, stored.text, stored.sent_at) == (
        "agent",
        agent.user_id,
        "Hello",
        mine.sent_at,
    )
    assert Message.objects.get(pk=theirs.pk).author_id is None


def test_a_handover_with_a_key_stores_its_record_and_response_without_compiling(
    brand_client, monkeypatch, django_assert_max_num_queries
):
    """The record is read, inserted and given its response by statements made once
    (marketplace/prepared.py), with no savepoint of their own; a retry answers from the
    stored response."""
    from marketplace.models import IdempotencyRecord

    first = brand_client.post("/api/v1/tickets/", TICKET_BODY, format="json", HTTP_IDEMPOTENCY_KEY="warm-1")
    # The brand key; the request's transaction (a savepoint here, inside the test's); the
    # record read, inserted and given its response; and the intake with nobody online to
    # offer it to (the pause read, the customer, the ticket, the dispatch's savepoint around
    # the ranking's three reads).
    with orm_compilations(monkeypatch) as compiled, django_assert_max_num_queries(1 + 2 + 3 + 8):
        second = brand_client.post(
            "/api/v1/tickets/", {**TICKET_BODY, "subject": "Second"}, format="json", HTTP_IDEMPOTENCY_KEY="key-2"
        )
    assert first.status_code == second.status_code == 201
    assert IdempotencyRecord not in compiled
    record = IdempotencyRecord.objects.get(key="key-2")
    assert record.response_status == 201 and record.response_body == second.json()
    retry = brand_client.post(
        "/api/v1/tickets/", {**TICKET_BODY, "subject": "Second"}, format="json", HTTP_IDEMPOTENCY_KEY="key-2"
    )
    assert retry.status_code == 201 and retry.json() == second.json()
