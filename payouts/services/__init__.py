"""Every write of the pay app, one module per verb group:

- `rates`: what a case pays (versioned rate cards, tier multiplier, surge);
- `earnings`: credit on resolution, release when the reopen window closes, reversal on reopen;
  a shift's floor top-up and a late cancellation's compensation;
- `methods`: the agent's payout method (IBAN or Stripe account);
- `terms`: a cash-out's fee, minimum, amount and currency checks, and the quote shown first;
- `payouts`: cash-outs requested, sent (Stripe), paid and failed;
- `bank_files`: bank payouts in one pain.001 file, paid when the bank run is confirmed;
- `batches`: the weekly payout, proposed, approved or rejected, and sent.
"""

from .bank_files import bank_file_confirm_paid, bank_file_create
from .batches import payout_batch_approve, payout_batch_execute, payout_batch_reject, payout_batches_propose
from .earnings import (
    earning_compensation,
    earning_credit,
    earning_floor_topup,
    earning_reverse,
    earnings_release_due,
)
from .methods import payout_method_active, payout_method_set
from .payouts import payout_execute, payout_mark_failed, payout_request, payouts_resend_stuck
from .rates import CasePay, case_pay
from .terms import CashoutQuote, agent_currencies, cashout_quote, cashout_terms

__all__ = [
    "CasePay",
    "CashoutQuote",
    "agent_currencies",
    "bank_file_confirm_paid",
    "bank_file_create",
    "case_pay",
    "cashout_quote",
    "cashout_terms",
    "earning_compensation",
    "earning_credit",
    "earning_floor_topup",
    "earning_reverse",
    "earnings_release_due",
    "payout_batch_approve",
    "payout_batch_execute",
    "payout_batch_reject",
    "payout_batches_propose",
    "payout_execute",
    "payout_mark_failed",
    "payout_method_active",
    "payout_method_set",
    "payout_request",
    "payouts_resend_stuck",
]
