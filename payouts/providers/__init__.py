"""Where payouts leave the platform. Two real backends behind one small interface:

- `stripe_connect`: a Stripe Connect transfer to the agent's connected account, sent with
  the payout's idempotency key, so a retry after a crash finds the first transfer;
- `bank_file`: a SEPA credit transfer file (ISO 20022 pain.001) for a manual bank run;
  the payouts in it are submitted until the run is confirmed.
"""

from .base import ProviderRefused, ProviderUnavailable, TransferResult

__all__ = ["ProviderRefused", "ProviderUnavailable", "TransferResult"]
