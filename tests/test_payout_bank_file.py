"""Bank payouts leave in a SEPA credit transfer file (pain.001.001.03): the file is valid
against the schema, carries each payout's IBAN, name, net amount and end-to-end id, and
every payout is in exactly one file; the confirmed bank run pays them, a returned payout
gives the money back, and a file that cannot be made changes nothing."""

import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema

from marketplace.errors import DomainError
from payouts.ledger import payout_key
from payouts.models import BankFile, LedgerTransaction, Payout, PayoutBatch
from payouts.services import (
    bank_file_confirm_paid,
    bank_file_create,
    payout_batch_approve,
    payout_batches_propose,
    payout_mark_failed,
    payout_request,
)

from .factories import BrandFactory
from .payouts_helpers import IBANS, agent_with_money, assert_ledger_sound, balances, fees

pytestmark = pytest.mark.django_db

SCHEMA = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


@pytest.fixture(autouse=True)
def _terms(settings):
    settings.CASHOUT_FEE = Decimal("5.00")
    settings.CASHOUT_MINIMUM = Decimal("100.00")
    settings.SEPA_DEBTOR_NAME = "Marketplace AB"
    settings.SEPA_DEBTOR_IBAN = "SE4550000000058398257466"


def iban_agent(brand, n: int, amount_minor: int = 30000):
    return agent_with_money(brand, amount_minor, method="iban", n=n)


def cash_out(agent, amount: str, currency: str = "SEK") -> Payout:
    payout, created = payout_request(agent_id=agent.pk, amount=amount, currency=currency, key=f"k-{agent.pk}")
    assert created
    return payout


def parsed(file: BankFile) -> ET.Element:
    """The file, checked against the schema sepaxml ships (not only by sepaxml's export)."""
    document = xmlschema.XMLResource(file.content)
    xmlschema.XMLSchema(str(SCHEMA)).validate(document)
    return document.root


def transactions(root: ET.Element) -> dict[str, dict[str, str]]:
    """{end-to-end id: what the bank is told to pay} for every credit transfer in the file."""
    out = {}
    for tx in root.iterfind(".//p:CdtTrfTxInf", NS):
        amount = tx.find("p:Amt/p:InstdAmt", NS)
        out[tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS)] = {
            "amount": amount.text,
            "currency": amount.get("Ccy"),
            "name": tx.findtext("p:Cdtr/p:Nm", namespaces=NS),
            "iban": tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
        }
    return out


def test_on_demand_bank_cash_outs_go_into_one_valid_pain001_file_and_are_submitted(brand, supervisor):
    first, second = iban_agent(brand, 0), iban_agent(brand, 1)
    payouts = [cash_out(first, "120.00"), cash_out(second, "250.50")]

    file = bank_file_create(currency="SEK", user_id=supervisor.pk)

    assert file is not None
    root = parsed(file)
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS) == file.message_id
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    # Net amounts: each cash-out less its 5.00 fee.
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "360.50"
    assert root.findtext(".//p:PmtInf/p:NbOfTxs", namespaces=NS) == "2"
    assert root.findtext(".//p:PmtInf/p:CtrlSum", namespaces=NS) == "360.50"
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "SE4550000000058398257466"
    assert transactions(root) == {
        f"PAYOUT-{payouts[0].pk}": {"amount": "115.00", "currency": "SEK", "name": "Asa Oberg 0", "iban": IBANS[0]},
        f"PAYOUT-{payouts[1].pk}": {"amount": "245.50", "currency": "SEK", "name": "Asa Oberg 1", "iban": IBANS[1]},
    }
    assert (file.payment_count, file.total_minor, file.currency, file.created_by_id) == (2, 36050, "SEK", supervisor.pk)
    for payout in payouts:
        payout.refresh_from_db()
        assert payout.status == Payout.Status.SUBMITTED
        assert payout.bank_file_id == file.pk and payout.submitted_at is not None
        assert payout.provider_reference == f"{file.message_id}/PAYOUT-{payout.pk}"
    # Submitted is not paid: the money stays in payout until the bank run is confirmed.
    assert balances(first) == {"available": 18000, "in_payout": 11500, "paid_out": 0, "pending": 0}
    assert_ledger_sound()


def test_a_second_run_puts_no_payout_in_a_second_file(brand):
    first = iban_agent(brand, 0)
    earlier = cash_out(first, "120.00")
    file = bank_file_create(currency="SEK")

    assert bank_file_create(currency="SEK") is None
    later = cash_out(iban_agent(brand, 1), "150.00")
    next_file = bank_file_create(currency="SEK")

    assert BankFile.objects.count() == 2
    assert set(transactions(parsed(next_file))) == {f"PAYOUT-{later.pk}"}
    assert Payout.objects.get(pk=earlier.pk).bank_file_id == file.pk
    assert Payout.objects.get(pk=later.pk).bank_file_id == next_file.pk


def test_an_approved_weekly_batch_goes_into_one_file_with_each_whole_balance(brand, supervisor):
    agents = [iban_agent(brand, n, amount_minor=20000 + n) for n in range(3)]
    [batch] = payout_batches_propose()

    assert bank_file_create(currency="SEK", batch_id=batch.pk) is None  # not approved yet
    payout_batch_approve(batch_id=batch.pk, user_id=supervisor.pk)
    file = bank_file_create(currency="SEK", batch_id=batch.pk)

    root = parsed(file)
    payouts = {p.agent_id: p for p in Payout.objects.filter(batch=batch)}
    assert transactions(root) == {
        f"PAYOUT-{payouts[a.pk].pk}": {
            "amount": f"{200 + n / 100:.2f}",
            "currency": "SEK",
            "name": f"Asa Oberg {n}",
            "iban": IBANS[n],
        }
        for n, a in enumerate(agents)
    }
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "3"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "600.03"
    assert all(p.status == Payout.Status.SUBMITTED and p.fee_minor == 0 for p in payouts.values())

    assert bank_file_confirm_paid(bank_file_id=file.pk) == 3

    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DONE
    assert [balances(a)["paid_out"] for a in agents] == [20000, 20001, 20002]
    assert_ledger_sound()


def test_confirming_the_bank_run_pays_every_payout_in_the_file_and_twice_is_harmless(brand):
    agents = [iban_agent(brand, n) for n in range(2)]
    payouts = [cash_out(a, "120.00") for a in agents]
    file = bank_file_create(currency="SEK")

    assert bank_file_confirm_paid(bank_file_id=file.pk) == 2
    assert bank_file_confirm_paid(bank_file_id=file.pk) == 0

    for payout, agent in zip(payouts, agents, strict=True):
        payout.refresh_from_db()
        assert payout.status == Payout.Status.PAID and payout.paid_at is not None
        assert balances(agent) == {"available": 18000, "in_payout": 0, "paid_out": 11500, "pending": 0}
        assert LedgerTransaction.objects.filter(key=payout_key(payout.pk, "paid")).count() == 1
    assert fees() == 1000
    assert_ledger_sound()


def test_a_payout_the_bank_returned_fails_with_the_reason_and_gives_all_the_money_back(brand):
    returned_to, paid_to = iban_agent(brand, 0), iban_agent(brand, 1)
    returned, paid = cash_out(returned_to, "120.00"), cash_out(paid_to, "120.00")
    file = bank_file_create(currency="SEK")

    with pytest.raises(DomainError) as refused:
        payout_mark_failed(payout_id=returned.pk, reason="  ")
    assert refused.value.code == "reason_required"
    payout_mark_failed(payout_id=returned.pk, reason="The account is closed")

    returned.refresh_from_db()
    assert returned.status == Payout.Status.FAILED
    assert returned.failure_reason == "The account is closed" and returned.failed_at is not None
    assert balances(returned_to) == {"available": 30000, "in_payout": 0, "paid_out": 0, "pending": 0}
    assert fees() == 500  # only the paid one's fee is kept
    with pytest.raises(DomainError) as again:
        payout_mark_failed(payout_id=returned.pk, reason="The account is closed")
    assert again.value.code == "payout_not_in_flight"

    assert bank_file_confirm_paid(bank_file_id=file.pk) == 1
    assert Payout.objects.get(pk=returned.pk).status == Payout.Status.FAILED
    assert Payout.objects.get(pk=paid.pk).status == Payout.Status.PAID
    assert_ledger_sound()


def test_a_batch_is_done_once_the_bank_returned_its_last_payout(brand, supervisor):
    agent = iban_agent(brand, 0)
    [batch] = payout_batches_propose()
    payout_batch_approve(batch_id=batch.pk, user_id=supervisor.pk)
    bank_file_create(currency="SEK", batch_id=batch.pk)

    payout_mark_failed(payout_id=Payout.objects.get(batch=batch).pk, reason="The account is closed")

    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DONE
    assert balances(agent)["available"] == 30000


def unchanged(payout: Payout) -> bool:
    fresh = Payout.objects.get(pk=payout.pk)
    return fresh.status == Payout.Status.CREATED and fresh.bank_file_id is None and fresh.provider_reference == ""


def test_a_currency_without_two_decimals_is_refused_clearly_and_nothing_changes(settings):
    settings.CASHOUT_FEE = Decimal("0")
    yen = BrandFactory(slug="yen", currency="JPY")
    agent = iban_agent(yen, 0, amount_minor=30000)
    payout = cash_out(agent, "12000", currency="JPY")

    with pytest.raises(DomainError) as refused:
        bank_file_create(currency="JPY")

    assert refused.value.code == "bank_file_refused"
    assert "JPY" in refused.value.message and "two decimals" in refused.value.message
    assert not BankFile.objects.exists()
    assert unchanged(payout)
    assert balances(agent, "JPY") == {"available": 18000, "in_payout": 12000, "paid_out": 0, "pending": 0}


def test_without_the_platforms_iban_no_file_is_made_and_nothing_changes(brand, settings):
    settings.SEPA_DEBTOR_IBAN = ""
    payout = cash_out(iban_agent(brand, 0), "120.00")

    with pytest.raises(DomainError) as refused:
        bank_file_create(currency="SEK")

    assert refused.value.code == "bank_file_refused"
    assert "SEPA_DEBTOR_IBAN" in refused.value.message
    assert not BankFile.objects.exists()
    assert unchanged(payout)


def test_a_payment_the_bank_returns_after_the_run_was_confirmed_is_reversed_from_paid_out(brand):
    agent = iban_agent(brand, 0)
    payout = cash_out(agent, "120.00")
    file = bank_file_create(currency="SEK")
    bank_file_confirm_paid(bank_file_id=file.pk)
    assert balances(agent) == {"available": 18000, "in_payout": 0, "paid_out": 11500, "pending": 0}

    payout_mark_failed(payout_id=payout.pk, reason="Returned by the bank: account closed")

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert payout.failure_reason == "Returned by the bank: account closed"
    assert balances(agent) == {"available": 30000, "in_payout": 0, "paid_out": 0, "pending": 0}
    assert fees() == 0
    assert LedgerTransaction.objects.filter(key=payout_key(payout.pk, "returned")).count() == 1
    with pytest.raises(DomainError) as again:
        payout_mark_failed(payout_id=payout.pk, reason="twice")
    assert again.value.code == "payout_not_in_flight"
    assert_ledger_sound()
