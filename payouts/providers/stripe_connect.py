"""Stripe Connect transfers: platform balance -> the agent's connected account.

Each payout is sent with `Idempotency-Key: payout-<id>`: Stripe answers a repeated request
with the first response, so a worker killed after Stripe made the transfer but before our
commit sends the same key again on the rerun and gets the same transfer back.
"""

from datetime import timedelta

import stripe
from django.conf import settings
from django.utils import timezone

from ..models import Payout
from .base import ProviderRefused, ProviderUnavailable, TransferResult

NAME = "stripe"
# Stripe keeps an idempotency key for 24 hours. A payout older than this is first looked up
# by its transfer group, so a transfer made by a try whose answer was lost is found even
# after its key has expired.
LOOK_UP_AFTER = timedelta(hours=20)


def client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ProviderUnavailable("STRIPE_SECRET_KEY is not set; Stripe payouts cannot be sent.")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        # Our own retries (the job's) resend the same key; the library's would too, but a
        # job retry also survives a restart.
        max_network_retries=0,
    )


def transfer(payout: Payout) -> TransferResult:
    """Send the payout's net amount to its connected account. Stripe transfers between
    balances complete at once, so a created transfer means paid."""
    group = payout.provider_key
    try:
        if payout.created_at <= timezone.now() - LOOK_UP_AFTER:
            found = client().v1.transfers.list(params={"transfer_group": group, "limit": 1})
            if found.data:
                return TransferResult(reference=found.data[0].id, paid=True)
        result = client().v1.transfers.create(
            params={
                "amount": payout.net_minor,
                "currency": payout.currency.lower(),
                "destination": payout.method.stripe_account,
                "description": f"Payout {payout.pk}",
                "transfer_group": group,
                "metadata": {"payout_id": str(payout.pk), "agent_id": str(payout.agent_id)},
            },
            options={"idempotency_key": payout.provider_key},
        )
    except (stripe.InvalidRequestError, stripe.PermissionError, stripe.CardError) as exc:
        raise ProviderRefused(exc.user_message or str(exc)) from exc
    except stripe.StripeError as exc:
        # Connection errors, rate limits, 5xx, authentication: try again with the same key.
        raise ProviderUnavailable(str(exc)) from exc
    return TransferResult(reference=result.id, paid=True)
