"""Where an agent's money goes: a bank account (IBAN) or a Stripe connected account."""

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from text_unidecode import unidecode

from marketplace.errors import DomainError

from ..models import PayoutMethod

STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{6,58}$")


def payout_method_set(
    *, agent_id: int, kind: str, holder_name: str, iban: str = "", bic: str = "", stripe_account: str = ""
) -> PayoutMethod:
    """Replace the agent's payout method. The IBAN (and BIC, if given) are checked with
    schwifty: country format, length and check digits. The previous method is kept, marked
    removed, since earlier payouts point at it. Locks the agent's active method row."""
    holder_name = (holder_name or "").strip()
    errors: dict[str, list[str]] = {}
    if not holder_name:
        errors["holder_name"] = [gettext("Enter the account holder's name.")]
    elif len(holder_name) > 70:
        errors["holder_name"] = [gettext("At most 70 characters (what banks carry).")]
    elif not any(ch.isalnum() for ch in unidecode(holder_name)):
        # Bank files carry Latin letters only; a name with none would be refused by the bank.
        errors["holder_name"] = [gettext("Write the name in letters, as your bank shows it.")]
    if kind == PayoutMethod.Kind.IBAN:
        try:
            iban = IBAN(iban or "").compact
        except SchwiftyException:
            errors["iban"] = [gettext("This is not a valid IBAN: check the country code, length and check digits.")]
        if bic:
            try:
                bic = str(BIC(bic))
            except SchwiftyException:
                errors["bic"] = [gettext("This is not a valid BIC (8 or 11 characters).")]
        stripe_account = ""
    elif kind == PayoutMethod.Kind.STRIPE:
        stripe_account = (stripe_account or "").strip()
        if not STRIPE_ACCOUNT.match(stripe_account):
            errors["stripe_account"] = [gettext("A Stripe connected account id looks like acct_1A2b3C4d5E6f7G8h.")]
        iban = bic = ""
    else:
        errors["kind"] = [gettext("Choose a bank account or a Stripe account.")]
    if "iban" in errors:
        raise DomainError("invalid_iban", gettext("The IBAN is not valid."), status=422, fields=errors)
    if errors:
        raise DomainError(
            "invalid_payout_method", gettext("The payout method is not valid."), status=422, fields=errors
        )
    with transaction.atomic():
        PayoutMethod.objects.select_for_update().filter(agent_id=agent_id, removed_at__isnull=True).update(
            removed_at=timezone.now()
        )
        return PayoutMethod.objects.create(
            agent_id=agent_id,
            kind=kind,
            holder_name=holder_name,
            iban=iban,
            bic=bic,
            stripe_account=stripe_account,
        )


def payout_method_active(*, agent_id: int) -> PayoutMethod | None:
    return PayoutMethod.objects.filter(agent_id=agent_id, removed_at__isnull=True).first()
