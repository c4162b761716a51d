"""A cash-out's terms and checks: fee and minimum, the amount as sent, the currency, and
the quote the agent confirms (the same rules `payout_request` applies under its lock)."""

import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils.translation import gettext

from marketplace.errors import Conflict, DomainError, Forbidden
from marketplace.models import Brand

from ..ledger import Owner, Purpose
from ..models import (
    MINOR_UNIT_EXPONENT,
    LedgerAccount,
    Payout,
    PayoutMethod,
    decimal_to_minor,
)
from ..selectors import agent_balances

# Far above any real payout, far below what a 64-bit column of minor units holds.
MAX_AMOUNT = Decimal(10) ** 12


# --- Terms -------------------------------------------------------------------------------------


def cashout_terms(*, agent_id: int, currency: str) -> tuple[int, int]:
    """(fee, minimum) in minor units for an on-demand cash-out in `currency`.

    A brand may set its own terms; an agent certified for several brands paying in this
    currency gets the most favourable of them. Otherwise CASHOUT_FEE and CASHOUT_MINIMUM.
    """
    brands = list(
        Brand.objects.filter(certified_agents__pk=agent_id, currency=currency).values_list(
            "cashout_fee_minor", "cashout_minimum_minor"
        )
    )
    default_fee = decimal_to_minor(settings.CASHOUT_FEE, currency)
    default_minimum = decimal_to_minor(settings.CASHOUT_MINIMUM, currency)
    fees = [default_fee if fee is None else fee for fee, _ in brands] or [default_fee]
    minimums = [default_minimum if minimum is None else minimum for _, minimum in brands] or [default_minimum]
    return min(fees), min(minimums)


def agent_currencies(*, agent_id: int) -> list[str]:
    """The currencies the agent has money in, else those of their brands; most used first."""
    held = list(
        LedgerAccount.objects.filter(owner_kind=Owner.AGENT, owner_id=agent_id)
        .values_list("currency", flat=True)
        .distinct()
    )
    if held:
        return sorted(held)
    return sorted(set(Brand.objects.filter(certified_agents__pk=agent_id).values_list("currency", flat=True)))


def parse_amount(raw: object, currency: str) -> int:
    """An amount as the contract writes money ("150.00") in minor units, or a 422."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise DomainError(
            "invalid_amount", gettext('Send the amount as a decimal string, such as "150.00".'), status=422
        )
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise DomainError(
            "invalid_amount", gettext('Send the amount as a decimal string, such as "150.00".'), status=422
        ) from None
    if not value.is_finite() or value <= 0:
        raise DomainError("invalid_amount", gettext("The amount must be more than zero."), status=422)
    if value >= MAX_AMOUNT:
        raise DomainError("invalid_amount", gettext("That amount is far beyond any balance."), status=422)
    try:
        return decimal_to_minor(value, currency)
    except ValueError:
        raise DomainError(
            "invalid_amount",
            gettext("%(currency)s amounts have at most %(decimals)s decimals.")
            % {"currency": currency, "decimals": exponent},
            status=422,
        ) from None


def request_hash(*, amount_minor: int, currency: str) -> str:
    return hashlib.sha256(f"{amount_minor}:{currency}".encode()).hexdigest()


@dataclass(frozen=True)
class CashoutQuote:
    """What a cash-out of `amount_minor` would do, shown to the agent before they confirm."""

    currency: str
    amount_minor: int
    fee_minor: int
    method: PayoutMethod

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.fee_minor


def cashout_quote(*, agent_id: int, amount: object, currency: str, suspended: bool = False) -> CashoutQuote:
    """The fee and the net of a cash-out, with the refusals `payout_request` would give now
    (`currency_mismatch`, `invalid_amount`, `account_suspended`, `no_payout_method`,
    `below_minimum`, `payout_in_flight`, `insufficient_funds`), so the confirmation the agent
    sees is one that can go through. Writes and locks nothing: `payout_request` checks again
    under its lock, since the balance may change in between."""
    currencies = agent_currencies(agent_id=agent_id)
    if currency not in currencies:
        raise DomainError(
            "currency_mismatch",
            gettext("You have no earnings in %(currency)s; you are paid in %(currencies)s.")
            % {"currency": currency, "currencies": ", ".join(currencies) or "—"},
            status=422,
        )
    amount_minor = parse_amount(amount, currency)
    if suspended:
        raise Forbidden(
            "account_suspended", gettext("Your account is suspended, so cash-outs are on hold. See your account page.")
        )
    method = PayoutMethod.objects.filter(agent_id=agent_id, removed_at__isnull=True).first()
    if method is None:
        raise Conflict("no_payout_method", gettext("Add a bank account or Stripe account before cashing out."))
    fee, minimum = cashout_terms(agent_id=agent_id, currency=currency)
    if amount_minor < minimum or amount_minor <= fee:
        raise DomainError(
            "below_minimum",
            gettext("The smallest cash-out is %(amount)s.") % {"amount": money_text(max(minimum, fee + 1), currency)},
            status=422,
        )
    if Payout.objects.filter(agent_id=agent_id, currency=currency, status__in=Payout.IN_FLIGHT).exists():
        raise Conflict("payout_in_flight", gettext("A payout is already on its way; wait until it is paid or failed."))
    have = agent_balances(agent_id=agent_id).get(currency, {}).get(Purpose.AGENT_AVAILABLE, 0)
    if amount_minor > have:
        raise Conflict(
            "insufficient_funds",
            gettext("You can cash out at most %(amount)s now.") % {"amount": money_text(have, currency)},
        )
    return CashoutQuote(currency=currency, amount_minor=amount_minor, fee_minor=fee, method=method)


def money_text(amount_minor: int, currency: str) -> str:
    from ..models import minor_to_decimal

    return f"{minor_to_decimal(amount_minor, currency)} {currency}"
