"""Cash-outs paid through Stripe Connect, against a local stand-in speaking Stripe's API:
paid once under the payout's own idempotency key however often it is sent, failed with the
money back when Stripe refuses, left for a retry when Stripe is down, and the fee kept."""

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from marketplace.errors import Conflict
from payouts import jobs
from payouts.ledger import payout_key
from payouts.models import LedgerTransaction, Payout, PayoutMethod
from payouts.providers import ProviderUnavailable, stripe_connect
from payouts.services import (
    payout_batch_approve,
    payout_batches_propose,
    payout_execute,
    payout_mark_failed,
    payout_method_set,
    payout_request,
    payouts_resend_stuck,
)
from tasks import services
from tasks.models import Offer

from .factories import AgentFactory
from .payouts_helpers import agent_with_money, assert_ledger_sound, balances, fees, stripe_account
from .stripe_stub import SECRET_KEY, StripeStub

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(settings):
    with StripeStub.running() as running:
        settings.STRIPE_API_BASE = running.base
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.CASHOUT_FEE = Decimal("0.00")
        settings.CASHOUT_MINIMUM = Decimal("100.00")
        yield running


def cash_out(agent, amount: str = "120.00", key: str = "cash-out-1") -> Payout:
    payout, created = payout_request(agent_id=agent.pk, amount=amount, currency="SEK", key=key)
    assert created
    return payout


def kinds(payout: Payout) -> list[str]:
    return list(LedgerTransaction.objects.filter(payout_id=payout.pk).order_by("pk").values_list("key", flat=True))


def test_a_cash_out_of_resolved_cases_is_sent_to_stripe_once_under_its_key_and_paid_in_the_ledger(
    brand, handover, settings, stub
):
    settings.REOPEN_WINDOW_HOURS = 0
    agent = AgentFactory(brands=[brand], available=True)
    for _ in range(3):  # 3 cases at the brand's 45.00 SEK
        ticket = handover()
        services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket, state=Offer.State.PENDING).pk)
        services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    payout_method_set(agent_id=agent.pk, kind="stripe", holder_name="Ada", stripe_account=stripe_account(agent.pk))
    assert balances(agent)["available"] == 13500

    payout = cash_out(agent, "120.00")
    assert payout.status == Payout.Status.CREATED
    assert balances(agent) == {"available": 1500, "in_payout": 12000, "paid_out": 0, "pending": 0}

    payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert payout.paid_at is not None
    [transfer] = stub.transfers
    assert payout.provider_reference == transfer["id"] and transfer["id"].startswith("tr_")
    [request] = stub.requests
    assert request.key == f"payout-{payout.pk}"
    assert request.params["amount"] == "12000"
    assert request.params["currency"] == "sek"
    assert request.params["destination"] == stripe_account(agent.pk)
    assert request.params["metadata"] == {"payout_id": str(payout.pk), "agent_id": str(agent.pk)}
    assert balances(agent) == {"available": 1500, "in_payout": 0, "paid_out": 12000, "pending": 0}
    assert kinds(payout) == [payout_key(payout.pk, "hold"), payout_key(payout.pk, "paid")]
    assert_ledger_sound()


def test_executing_a_paid_payout_again_sends_nothing(brand, stub):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    payout_execute(payout_id=payout.pk)

    assert payout_execute(payout_id=payout.pk) is None
    assert jobs.payout_execute.delay(payout.pk).get() == "nothing to do"

    assert len(stub.requests) == 1 and len(stub.transfers) == 1
    assert balances(agent)["paid_out"] == 12000
    assert_ledger_sound()


def test_a_crash_after_stripe_made_the_transfer_resends_the_same_key_and_pays_once(brand, stub, monkeypatch):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    send = stripe_connect.transfer

    def sent_then_crashed(p):
        send(p)
        raise RuntimeError("the worker died before its commit")

    # Stripe made the transfer, but our transaction never committed.
    monkeypatch.setattr(stripe_connect, "transfer", sent_then_crashed)
    with pytest.raises(RuntimeError):
        payout_execute(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.CREATED and payout.provider_reference == ""
    assert balances(agent)["in_payout"] == 12000
    assert len(stub.transfers) == 1

    monkeypatch.setattr(stripe_connect, "transfer", send)
    payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert len(stub.transfers) == 1
    assert payout.provider_reference == stub.transfers[0]["id"]
    assert stub.keys_sent() == [f"payout-{payout.pk}"] * 2
    assert stub.requests[1].replayed
    assert balances(agent) == {"available": 3000, "in_payout": 0, "paid_out": 12000, "pending": 0}
    assert_ledger_sound()


def test_a_stripe_payout_whose_answer_was_lost_cannot_be_failed_by_hand(brand, stub, monkeypatch):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    send = stripe_connect.transfer

    def sent_then_crashed(p):
        send(p)
        raise RuntimeError("the worker died before its commit")

    monkeypatch.setattr(stripe_connect, "transfer", sent_then_crashed)
    with pytest.raises(RuntimeError):
        payout_execute(payout_id=payout.pk)
    monkeypatch.setattr(stripe_connect, "transfer", send)

    # Failing it would give back money Stripe has already sent: the agent could cash it out again.
    with pytest.raises(Conflict) as refused:
        payout_mark_failed(payout_id=payout.pk, reason="Stuck, cancelled")
    assert refused.value.code == "payout_sending"
    assert balances(agent) == {"available": 3000, "in_payout": 12000, "paid_out": 0, "pending": 0}

    payout_execute(payout_id=payout.pk)
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.PAID
    assert len(stub.transfers) == 1
    assert_ledger_sound()


def test_sending_the_same_payout_twice_to_stripe_makes_one_transfer(brand, stub):
    agent = agent_with_money(brand, 15000)
    payout = Payout.objects.select_related("method").get(pk=cash_out(agent).pk)

    first = stripe_connect.transfer(payout)
    again = stripe_connect.transfer(payout)

    assert first.reference == again.reference
    assert len(stub.transfers) == 1 and len(stub.requests) == 2


def test_a_stripe_outage_leaves_the_payout_requested_with_its_money_in_payout(brand, stub):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    stub.answer_500(times=None)

    with pytest.raises(ProviderUnavailable):
        payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.CREATED
    assert payout.failure_reason == "" and payout.provider_reference == ""
    assert balances(agent) == {"available": 3000, "in_payout": 12000, "paid_out": 0, "pending": 0}
    assert kinds(payout) == [payout_key(payout.pk, "hold")]
    assert stub.transfers == []
    assert_ledger_sound()


def test_the_job_retries_an_outage_later_under_the_same_key_and_pays_once(brand, stub):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    stub.answer_500(times=1)

    with pytest.raises(Retry) as retry:
        jobs.payout_execute.delay(payout.pk)
    assert isinstance(retry.value.exc, ProviderUnavailable)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.CREATED

    # The broker runs it again after the countdown; here, at once.
    assert jobs.payout_execute.delay(payout.pk).get() == Payout.Status.PAID

    assert stub.keys_sent() == [f"payout-{payout.pk}"] * 2
    assert [r.status for r in stub.requests] == [500, 200]
    assert len(stub.transfers) == 1
    assert balances(agent)["paid_out"] == 12000
    assert_ledger_sound()


def test_a_refused_destination_fails_the_payout_with_stripes_reason_and_returns_all_the_money(brand, stub, settings):
    settings.CASHOUT_FEE = Decimal("5.00")
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    assert balances(agent)["available"] == 3000 and fees() == 500
    stub.refuse_destination()

    payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert payout.failure_reason == f"No such destination: '{stripe_account(agent.pk)}'"
    assert payout.failed_at is not None and payout.provider_reference == ""
    assert balances(agent) == {"available": 15000, "in_payout": 0, "paid_out": 0, "pending": 0}
    assert fees() == 0
    assert kinds(payout) == [payout_key(payout.pk, "hold"), payout_key(payout.pk, "failed")]
    assert stub.transfers == []
    assert_ledger_sound()
    # A later run leaves a failed payout alone.
    assert payout_execute(payout_id=payout.pk) is None


def test_the_cash_out_fee_is_kept_and_only_the_net_amount_is_sent(brand, stub, settings):
    settings.CASHOUT_FEE = Decimal("5.00")
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent, "120.00")
    assert (payout.amount_minor, payout.fee_minor, payout.net_minor) == (12000, 500, 11500)

    payout_execute(payout_id=payout.pk)

    assert stub.requests[0].params["amount"] == "11500"
    assert stub.transfers[0]["amount"] == 11500
    assert balances(agent) == {"available": 3000, "in_payout": 0, "paid_out": 11500, "pending": 0}
    assert fees() == 500
    assert_ledger_sound()


def test_a_stripe_cash_out_is_sent_by_the_job_once_its_request_commits(brand, stub, django_capture_on_commit_callbacks):
    agent = agent_with_money(brand, 15000)

    with django_capture_on_commit_callbacks(execute=True):
        payout = cash_out(agent)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert stub.keys_sent() == [f"payout-{payout.pk}"]


def test_a_weekly_payout_is_not_sent_before_its_batch_is_approved(brand, stub, supervisor):
    agent = agent_with_money(brand, 15000)
    [batch] = payout_batches_propose()
    payout = Payout.objects.get(batch=batch, agent=agent)
    assert payout.method.kind == PayoutMethod.Kind.STRIPE

    assert payout_execute(payout_id=payout.pk) is None
    assert stub.requests == []

    payout_batch_approve(batch_id=batch.pk, user_id=supervisor.pk)
    payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert (payout.amount_minor, payout.fee_minor) == (15000, 0)
    assert stub.requests[0].params["amount"] == "15000"
    assert_ledger_sound()


def test_without_a_stripe_key_nothing_is_sent_and_the_payout_waits(brand, stub, settings):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(ProviderUnavailable):
        payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.CREATED
    assert stub.requests == []


def test_a_payout_older_than_its_idempotency_key_is_looked_up_before_it_is_sent_again(brand, stub):
    agent = agent_with_money(brand, 15000)
    payout = cash_out(agent)
    # A first try made the transfer, but its answer was lost; a day later the key has expired.
    stripe_connect.transfer(payout)
    Payout.objects.filter(pk=payout.pk).update(created_at=payout.created_at - timedelta(hours=25))

    payout_execute(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert stub.transfer_count() == 1
    assert stub.lookups == [f"payout-{payout.pk}"]
    assert payout.provider_reference == stub.transfers[0]["id"]
    assert_ledger_sound()


def test_the_resend_sweep_sends_stripe_payouts_left_created_and_nothing_else(brand, stub):
    stuck = cash_out(agent_with_money(brand, 15000, n=1), key="stuck")
    fresh = cash_out(agent_with_money(brand, 15000, n=2), key="fresh")
    bank = agent_with_money(brand, 15000, method=PayoutMethod.Kind.IBAN, n=3)
    by_bank, _ = payout_request(agent_id=bank.pk, amount="120.00", currency="SEK", key="bank")
    Payout.objects.filter(pk__in=[stuck.pk, by_bank.pk]).update(created_at=timezone.now() - timedelta(hours=1))

    assert payouts_resend_stuck() == 1
    assert payouts_resend_stuck() == 0

    statuses = dict(Payout.objects.values_list("pk", "status"))
    assert statuses == {stuck.pk: "paid", fresh.pk: "created", by_bank.pk: "created"}
    assert stub.transfer_count() == 1
