"""Property: after any sequence of resolutions, reopens, window closings, cash-outs, retries,
bank runs, failures and weekly batches, every ledger transaction sums to zero, no agent
balance goes negative, and no earning is paid twice (what left the available balance never
exceeds what was released to it)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from marketplace.errors import DomainError
from payouts.ledger import Owner, Purpose
from payouts.models import Earning, LedgerTransaction, Payout
from payouts.selectors import agent_balances
from payouts.services import (
    bank_file_confirm_paid,
    bank_file_create,
    earning_credit,
    earning_reverse,
    earnings_release_due,
    payout_batch_approve,
    payout_batch_execute,
    payout_batch_reject,
    payout_batches_propose,
    payout_mark_failed,
    payout_method_set,
    payout_request,
)

from .factories import AgentFactory, BrandFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

IBANS = ["SE4050000000054910000010", "SE6150000000054910000020"]

step = st.one_of(
    st.tuples(st.just("resolve"), st.integers(0, 3), st.integers(0, 1), st.integers(1, 20_000)),
    st.tuples(st.just("reopen"), st.integers(0, 3)),
    st.tuples(st.just("window_closes")),
    st.tuples(st.just("cash_out"), st.integers(0, 1), st.integers(1, 40_000), st.integers(0, 3)),
    # Amounts that usually fit the balance, so payouts are made and moved on often.
    st.tuples(st.just("cash_out"), st.integers(0, 1), st.integers(1_000, 9_000), st.integers(0, 3)),
    st.tuples(st.just("bank_run"), st.booleans()),
    st.tuples(st.just("bank_run"), st.just(True)),
    st.tuples(st.just("fail_one"), st.integers(0, 5)),
    st.tuples(st.just("bank_returns_one"), st.integers(0, 5)),
    st.tuples(st.just("weekly"), st.sampled_from(["approve", "reject", "leave"])),
)


def check_deferred_rules() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=3, max_size=12))
def test_any_sequence_keeps_the_ledger_balanced_and_pays_no_earning_twice(steps, django_settings):
    django_settings.CASHOUT_FEE = Decimal("3.00")
    django_settings.CASHOUT_MINIMUM = Decimal("10.00")
    with transaction.atomic():
        brand = BrandFactory()
        supervisor = UserFactory()
        agents = [AgentFactory(brands=[brand]) for _ in range(2)]
        for agent, iban in zip(agents, IBANS, strict=True):
            payout_method_set(agent_id=agent.pk, kind="iban", holder_name="Agent", iban=iban)
        tickets = [TicketFactory(brand=brand) for _ in range(4)]
        clock = timezone.now()
        keys: list[str] = []
        # Start from money to move: a case each, released.
        prelude = [("resolve", 0, 0, 15_000), ("resolve", 1, 1, 9_000), ("window_closes",)]
        # ...and end by moving some of it both ways (paid, and returned by the bank), whatever
        # state the random steps left behind.
        epilogue = [("cash_out", 0, 3_000, 1), ("bank_run", True), ("cash_out", 1, 2_000, 1), ("fail_one", 0)]
        for n, action in enumerate(prelude + steps + epilogue):
            kind = action[0]
            if kind == "resolve":
                _, which, who, amount = action
                ticket = tickets[which]
                open_credit = Earning.objects.filter(ticket=ticket, kind="case", reversal__isnull=True).exists()
                if not open_credit:
                    ticket.resolution_count += 1
                    ticket.resolved_at = clock
                    earning_credit(ticket=ticket, agent=agents[who], amount_minor=amount)
            elif kind == "reopen":
                # The product allows a reopen only inside the window, i.e. before the release.
                credit = Earning.objects.filter(ticket=tickets[action[1]], kind="case", reversal__isnull=True).last()
                if credit is not None and credit.available_at > clock:
                    earning_reverse(ticket=tickets[action[1]])
            elif kind == "window_closes":
                clock += timedelta(hours=73)
                earnings_release_due(now=clock)
                earnings_release_due(now=clock)  # a doubled beat run
            elif kind == "cash_out":
                _, who, amount, key_choice = action
                # Reuse an earlier key now and then: a retry must not pay again.
                key = keys[key_choice % len(keys)] if keys and key_choice == 0 else f"k{n}"
                keys.append(key)
                try:
                    payout_request(agent_id=agents[who].pk, amount=Decimal(amount) / 100, currency="SEK", key=key)
                except DomainError:
                    pass
            elif kind == "bank_run":
                file = bank_file_create(currency="SEK")
                if file is not None and action[1]:
                    bank_file_confirm_paid(bank_file_id=file.pk)
                    bank_file_confirm_paid(bank_file_id=file.pk)  # confirmed twice
            elif kind == "fail_one":
                in_flight = list(Payout.objects.filter(agent__in=agents, status__in=Payout.IN_FLIGHT).order_by("pk"))
                if in_flight:
                    payout_mark_failed(payout_id=in_flight[action[1] % len(in_flight)].pk, reason="returned by bank")
            elif kind == "bank_returns_one":
                paid = list(Payout.objects.filter(agent__in=agents, status="paid").order_by("pk"))
                if paid:
                    payout_mark_failed(payout_id=paid[action[1] % len(paid)].pk, reason="account closed")
            elif kind == "weekly":
                for batch in payout_batches_propose(now=clock):
                    if action[1] == "approve":
                        payout_batch_approve(batch_id=batch.pk, user_id=supervisor.pk)
                        payout_batch_execute(batch_id=batch.pk)
                    elif action[1] == "reject":
                        payout_batch_reject(batch_id=batch.pk, user_id=supervisor.pk, note="check amounts")

        check_deferred_rules()
        mine = LedgerTransaction.objects.filter(
            postings__account__owner_kind=Owner.AGENT, postings__account__owner_id__in=[a.pk for a in agents]
        ).distinct()
        for txn in LedgerTransaction.objects.filter(pk__in=mine).annotate(
            total=Sum("postings__amount_minor"), legs=Count("postings")
        ):
            assert txn.total == 0, txn.key
            assert txn.legs >= 2, txn.key
        for agent in agents:
            b = agent_balances(agent_id=agent.pk).get("SEK", {})
            pending, available = b.get(Purpose.AGENT_PENDING, 0), b.get(Purpose.AGENT_AVAILABLE, 0)
            in_payout, paid = b.get(Purpose.AGENT_IN_PAYOUT, 0), b.get(Purpose.AGENT_PAID, 0)
            assert min(pending, available, in_payout, paid) >= 0, b
            payouts = Payout.objects.filter(agent=agent)
            fees = sum(p.fee_minor for p in payouts if p.status != Payout.Status.FAILED)
            earned = sum(Earning.objects.filter(agent=agent).values_list("amount_minor", flat=True))
            # Nothing created or lost: every unit earned is pending, available, on its way,
            # paid, or a fee.
            assert pending + available + in_payout + paid + fees == earned
            released = sum(
                e.amount_minor
                for e in Earning.objects.filter(agent=agent, kind="case", reversal__isnull=True)
                if LedgerTransaction.objects.filter(key=f"release:{e.pk}").exists()
            )
            # No earning paid twice: what left the available balance never exceeds what
            # was released into it.
            gone = sum(p.amount_minor for p in payouts if p.status != Payout.Status.FAILED)
            assert gone <= released
            assert available == released - gone
            for payout in payouts:
                steps_posted = set(LedgerTransaction.objects.filter(payout_id=payout.pk).values_list("kind", flat=True))
                if payout.status == "paid":
                    expected = {"payout_hold", "payout_paid"}
                elif payout.status == "failed":
                    # Failed on its way, or returned by the bank after it was paid.
                    expected = {"payout_hold", "payout_failed"}
                    if "payout_returned" in steps_posted:
                        expected = {"payout_hold", "payout_paid", "payout_returned"}
                else:
                    expected = {"payout_hold"}
                assert steps_posted == expected, (payout, steps_posted)
        for status in Payout.objects.filter(agent__in=agents).values_list("status", flat=True).distinct():
            event(f"a payout ended {status}")
        transaction.set_rollback(True)


@pytest.fixture
def django_settings(settings):
    return settings
