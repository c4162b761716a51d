"""Bank file export: one ISO 20022 credit transfer file (pain.001.001.03, the SEPA format
banks import) for a manual bank run, built with `sepaxml` and validated against the
schema it ships before it is stored."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from sepaxml import SepaTransfer

from ..models import MINOR_UNIT_EXPONENT, Payout

NAME = "bank_file"
SCHEMA = "pain.001.001.03"


class BankFileRefused(Exception):
    """The file cannot be made (the platform's own account is not configured, or the currency
    has no two-decimal amounts); nothing is stored."""


@dataclass(frozen=True)
class BuiltFile:
    message_id: str
    content: str


def end_to_end_id(payout: Payout) -> str:
    """The id the bank carries to the agent's statement and back in its reports."""
    return f"PAYOUT-{payout.pk}"


def build(payouts: list[Payout], *, currency: str, execution_date: date) -> BuiltFile:
    """One credit transfer per payout, from the platform's account (SEPA_DEBTOR_*), each for
    the payout's net amount to the IBAN of its method. Raises BankFileRefused."""
    if MINOR_UNIT_EXPONENT.get(currency, 2) != 2:
        raise BankFileRefused(f"A bank file carries amounts with two decimals; {currency} has none.")
    if not settings.SEPA_DEBTOR_IBAN or not settings.SEPA_DEBTOR_NAME:
        raise BankFileRefused("Set SEPA_DEBTOR_NAME and SEPA_DEBTOR_IBAN (the account payouts are paid from).")
    config = {
        "name": settings.SEPA_DEBTOR_NAME,
        "IBAN": settings.SEPA_DEBTOR_IBAN,
        "currency": currency,
        "batch": True,
    }
    if settings.SEPA_DEBTOR_BIC:
        config["BIC"] = settings.SEPA_DEBTOR_BIC
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    for payout in payouts:
        payment = {
            "name": payout.method.holder_name,
            "IBAN": payout.method.iban,
            "amount": payout.net_minor,
            "execution_date": execution_date,
            "description": f"{settings.SITE_NAME} payout {payout.pk}",
            "endtoend_id": end_to_end_id(payout),
        }
        if payout.method.bic:
            payment["BIC"] = payout.method.bic
        transfer.add_payment(payment)
    # export(validate=True) checks the document against the pain.001.001.03 schema.
    content = transfer.export(validate=True).decode()
    return BuiltFile(message_id=transfer.msg_id, content=content)
