"""The double-entry ledger under the earnings: balanced, append-only, idempotent, and every
credit and reversal of a case mirrored in it."""

import importlib

import pytest
from django.apps import apps
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.errors import DomainError
from payouts.ledger import Owner, Purpose, account_for, earning_key, ledger_post
from payouts.models import Earning, LedgerAccount, LedgerPosting, LedgerTransaction
from payouts.selectors import balance
from payouts.services import earning_credit, earning_reverse
from tasks import services
from tasks.models import Offer

from .factories import AgentFactory, TicketFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("payouts.migrations.0003_ledger_from_earnings")


def accounts(currency: str = "SEK") -> tuple[LedgerAccount, LedgerAccount]:
    payable = account_for(owner_kind=Owner.BRAND, owner_id=1, purpose=Purpose.BRAND_PAYABLE, currency=currency)
    pending = account_for(owner_kind=Owner.AGENT, owner_id=1, purpose=Purpose.AGENT_PENDING, currency=currency)
    return payable, pending


def check_deferred_rules() -> None:
    """Run the commit-time checks now, as a commit would (tests roll back instead)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def pending_of(agent) -> LedgerAccount:
    return account_for(owner_kind=Owner.AGENT, owner_id=agent.pk, purpose=Purpose.AGENT_PENDING, currency="SEK")


# --- Refusals ----------------------------------------------------------------------------------


def test_postings_that_do_not_sum_to_zero_are_refused_and_nothing_is_written():
    payable, pending = accounts()
    with pytest.raises(DomainError) as refused:
        ledger_post(key="t:1", kind="test", postings=[(payable, -100), (pending, 99)], currency="SEK")
    assert refused.value.code == "ledger_unbalanced"
    assert not LedgerTransaction.objects.exists()
    assert not LedgerPosting.objects.exists()


def test_a_transaction_mixing_currencies_is_refused_and_nothing_is_written():
    payable, _ = accounts("SEK")
    _, pending_eur = accounts("EUR")
    with pytest.raises(DomainError) as refused:
        ledger_post(key="t:1", kind="test", postings=[(payable, -100), (pending_eur, 100)], currency="SEK")
    assert refused.value.code == "ledger_invalid"
    assert not LedgerTransaction.objects.exists()
    assert not LedgerPosting.objects.exists()


def test_an_empty_transaction_is_refused():
    with pytest.raises(DomainError):
        ledger_post(key="t:1", kind="test", postings=[], currency="SEK")
    assert not LedgerTransaction.objects.exists()


def test_the_database_refuses_an_unbalanced_transaction_written_around_the_service():
    payable, pending = accounts()
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="test", key="raw:1", currency="SEK")
        LedgerPosting.objects.create(transaction=txn, account=payable, amount_minor=-100, currency="SEK")
        LedgerPosting.objects.create(transaction=txn, account=pending, amount_minor=90, currency="SEK")
        check_deferred_rules()


def test_the_database_accepts_a_balanced_transaction_written_in_several_statements():
    payable, pending = accounts()
    txn = LedgerTransaction.objects.create(kind="test", key="raw:1", currency="SEK")
    LedgerPosting.objects.create(transaction=txn, account=payable, amount_minor=-100, currency="SEK")
    LedgerPosting.objects.create(transaction=txn, account=pending, amount_minor=100, currency="SEK")
    check_deferred_rules()
    assert balance(pending) == 100


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE payouts_ledgerposting SET amount_minor = amount_minor + 1",
        "DELETE FROM payouts_ledgerposting",
        "UPDATE payouts_ledgertransaction SET memo = 'edited'",
        "DELETE FROM payouts_ledgertransaction",
    ],
)
def test_the_database_refuses_to_change_or_delete_what_the_ledger_wrote(sql):
    payable, pending = accounts()
    ledger_post(key="t:1", kind="test", postings=[(payable, -100), (pending, 100)], currency="SEK")
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    assert balance(pending) == 100
    assert LedgerTransaction.objects.get().memo == ""


# --- Idempotency -------------------------------------------------------------------------------


def test_a_retried_post_with_the_same_key_makes_one_transaction():
    payable, pending = accounts()
    first = ledger_post(key="t:1", kind="test", postings=[(payable, -100), (pending, 100)], currency="SEK")
    with transaction.atomic():
        again = ledger_post(key="t:1", kind="test", postings=[(payable, -100), (pending, 100)], currency="SEK")
        # The retry leaves the caller's transaction usable.
        assert LedgerAccount.objects.count() == 2
    assert again.pk == first.pk
    assert LedgerTransaction.objects.count() == 1
    assert LedgerPosting.objects.count() == 2
    assert balance(pending) == 100


def test_an_account_is_opened_once_per_owner_purpose_and_currency():
    assert accounts() == accounts()
    assert accounts("EUR")[0] != accounts("SEK")[0]
    assert LedgerAccount.objects.count() == 4


# --- Earnings mirrored -------------------------------------------------------------------------


def resolved_case(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover()
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, state=Offer.State.PENDING).pk)
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    return agent, ticket


def test_resolving_posts_the_rate_from_the_brand_to_the_agents_pending_account(brand, handover):
    agent, ticket = resolved_case(brand, handover)
    earning = Earning.objects.get(ticket=ticket)

    txn = LedgerTransaction.objects.get(key=earning_key(earning.pk))
    assert (txn.ticket_id, txn.earning_id, txn.currency) == (ticket.pk, earning.pk, "SEK")
    assert balance(pending_of(agent)) == 4500
    payable = account_for(owner_kind=Owner.BRAND, owner_id=brand.pk, purpose=Purpose.BRAND_PAYABLE, currency="SEK")
    assert balance(payable) == -4500
    check_deferred_rules()


def test_reopening_posts_the_reversal_and_the_pending_balance_returns_to_zero(brand, handover):
    agent, ticket = resolved_case(brand, handover)

    services.ticket_reopen(ticket=ticket)

    reversal = Earning.objects.get(ticket=ticket, kind=Earning.Kind.REVERSAL)
    assert LedgerTransaction.objects.filter(key=earning_key(reversal.pk), earning_id=reversal.pk).exists()
    assert balance(pending_of(agent)) == 0
    assert LedgerTransaction.objects.count() == 2
    check_deferred_rules()


def test_a_retried_credit_posts_nothing_more(brand, handover):
    agent, ticket = resolved_case(brand, handover)
    with transaction.atomic():
        earning_credit(ticket=ticket, agent=agent, amount_minor=9999)
    assert LedgerTransaction.objects.count() == 1
    assert balance(pending_of(agent)) == 4500


# --- The data migration ------------------------------------------------------------------------


def earnings_before_the_ledger(brand, handover) -> list[Earning]:
    """Earnings as written before the ledger: the rows, without their transactions."""
    resolved_case(brand, handover)
    agent, ticket = resolved_case(brand, handover)
    services.ticket_reopen(ticket=ticket)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE payouts_ledgerposting DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE payouts_ledgertransaction DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM payouts_ledgerposting")
        cursor.execute("DELETE FROM payouts_ledgertransaction")
        cursor.execute("DELETE FROM payouts_ledgeraccount")
        cursor.execute("ALTER TABLE payouts_ledgerposting ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE payouts_ledgertransaction ENABLE TRIGGER USER")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return list(Earning.objects.order_by("pk"))


def test_the_data_migration_turns_every_earning_into_its_transaction(brand, handover):
    earnings = earnings_before_the_ledger(brand, handover)
    assert len(earnings) == 3 and not LedgerTransaction.objects.exists()

    migration.carry_earnings(apps, None)
    check_deferred_rules()

    carried = {t.key: t for t in LedgerTransaction.objects.all()}
    assert set(carried) == {earning_key(e.pk) for e in earnings}
    for earning in earnings:
        legs = dict(
            LedgerPosting.objects.filter(transaction=carried[earning_key(earning.pk)]).values_list(
                "account__purpose", "amount_minor"
            )
        )
        assert legs == {Purpose.BRAND_PAYABLE: -earning.amount_minor, Purpose.AGENT_PENDING: earning.amount_minor}
    # Two credits, one reversed: one case's pay is pending, across both agents.
    assert (
        LedgerPosting.objects.filter(account__purpose=Purpose.AGENT_PENDING).aggregate(s=Sum("amount_minor"))["s"]
        == 4500
    )


def test_the_data_migration_run_twice_carries_each_earning_once(brand, handover):
    earnings_before_the_ledger(brand, handover)
    migration.carry_earnings(apps, None)
    migration.carry_earnings(apps, None)
    assert LedgerTransaction.objects.count() == 3


def test_the_data_migration_runs_backwards_leaving_the_earnings(brand, handover):
    earnings = earnings_before_the_ledger(brand, handover)
    migration.carry_earnings(apps, None)
    check_deferred_rules()

    with connection.schema_editor(atomic=False) as editor:
        migration.drop_carried(apps, editor)

    assert not LedgerTransaction.objects.exists() and not LedgerAccount.objects.exists()
    assert list(Earning.objects.order_by("pk")) == earnings
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        # The append-only rule is back on afterwards.
        ledger_post(key="t:1", kind="test", postings=[(a, 0) for a in accounts()], currency="SEK")
        cursor.execute("DELETE FROM payouts_ledgerposting")


# --- Property: any sequence of credits and reversals ----------------------------------------------

steps = st.lists(
    st.tuples(st.sampled_from(["credit", "reverse"]), st.integers(0, 2), st.integers(0, 1), st.integers(0, 10**9)),
    max_size=12,
)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(steps=steps)
def test_any_credits_and_reversals_balance_every_transaction_and_account(brand, steps):
    with transaction.atomic():
        agents = [AgentFactory(brands=[brand]) for _ in range(2)]
        tickets = [TicketFactory(brand=brand) for _ in range(3)]
        owed = {agent.pk: 0 for agent in agents}
        open_credit: dict[int, tuple[int, int]] = {}
        for action, which, who, amount in steps:
            ticket = tickets[which]
            if action == "credit" and which not in open_credit:
                ticket.resolution_count += 1
                ticket.resolved_at = timezone.now()
                earning_credit(ticket=ticket, agent=agents[who], amount_minor=amount)
                open_credit[which] = (agents[who].pk, amount)
                owed[agents[who].pk] += amount
            elif action == "reverse":
                reversed_ = earning_reverse(ticket=ticket)
                assert (reversed_ is None) == (which not in open_credit)
                if reversed_ is not None:
                    agent_id, credited = open_credit.pop(which)
                    owed[agent_id] -= credited

        check_deferred_rules()
        sums = LedgerTransaction.objects.annotate(total=Sum("postings__amount_minor"), legs=Count("postings"))
        assert all(t.total == 0 and t.legs == 2 for t in sums)
        assert sums.count() == Earning.objects.count()
        for account in LedgerAccount.objects.all():
            assert balance(account) == sum(account.postings.values_list("amount_minor", flat=True))
        for agent in agents:
            assert balance(pending_of(agent)) == owed[agent.pk]
        payable = account_for(owner_kind=Owner.BRAND, owner_id=brand.pk, purpose=Purpose.BRAND_PAYABLE, currency="SEK")
        assert balance(payable) == -sum(owed.values())
        transaction.set_rollback(True)
