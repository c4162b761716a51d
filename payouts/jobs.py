"""Celery jobs of the pay app. Periodic ones (beat) are idempotent sweeps; the others take
ids, are enqueued from `transaction.on_commit` and own their retries."""

from celery import shared_task

from . import services
from .providers import ProviderUnavailable


@shared_task
def earnings_release_due() -> int:
    """Move earnings whose reopen window has closed from pending to available."""
    return services.earnings_release_due()


@shared_task
def payout_batches_propose() -> int:
    """Monday's proposal of each currency's payout batch; returns how many batches are open."""
    return len(services.payout_batches_propose())


@shared_task(bind=True, max_retries=8)
def payout_execute(self, payout_id: int) -> str:
    """Send one cash-out. A provider outage retries with backoff (30 s, 1 min, 2 min, …) under
    the same idempotency key, so the payout is made once however often this runs."""
    try:
        payout = services.payout_execute(payout_id=payout_id)
    except ProviderUnavailable as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    return payout.status if payout else "nothing to do"


@shared_task(bind=True, max_retries=8)
def payout_batch_execute(self, batch_id: int) -> dict[str, int]:
    """Send an approved weekly batch; reruns (after a crash or an outage) finish it."""
    result = services.payout_batch_execute(batch_id=batch_id)
    if result["retry"]:
        raise self.retry(countdown=30 * 2**self.request.retries)
    return result


@shared_task
def payouts_resend_stuck() -> int:
    """Send again the Stripe payouts whose job gave up or whose worker died."""
    return services.payouts_resend_stuck()
