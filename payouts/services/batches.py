"""The weekly payout: proposed by beat each Monday for every currency, approved or rejected
by a supervisor, then sent (Stripe payouts one by one, bank payouts in one file)."""

import logging
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.errors import Conflict, DomainError, NotFound

from ..ledger import Owner, Purpose
from ..models import (
    LedgerAccount,
    Payout,
    PayoutBatch,
    PayoutMethod,
)
from ..providers import ProviderUnavailable
from ..selectors import balances_of
from .bank_files import bank_file_create
from .payouts import Status, _batches_finish, _fail, _hold, payout_execute
from .terms import cashout_terms, request_hash

log = logging.getLogger(__name__)

# --- Weekly batch ---------------------------------------------------------------------------------


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def payout_batches_propose(*, now: datetime | None = None) -> list[PayoutBatch]:
    """Monday's job: for each currency, a batch paying every agent's whole available
    balance (no fee) who has a payout method, no payout in flight, is not suspended and has
    at least the cash-out minimum. The money is held at once, so the agent sees it as "in
    payout, waiting for approval".

    Idempotent: the batch is unique per currency and week, and each agent's payout in it is
    unique per (agent, batch:<id>), so a doubled or crashed run adds only what is missing.
    """
    now = now or timezone.now()
    period = week_start(timezone.localdate(now))
    currencies = (
        LedgerAccount.objects.filter(owner_kind=Owner.AGENT, purpose=Purpose.AGENT_AVAILABLE)
        .values_list("currency", flat=True)
        .distinct()
    )
    batches = []
    for currency in sorted(currencies):
        batch, _ = PayoutBatch.objects.get_or_create(currency=currency, period_start=period)
        if batch.status != PayoutBatch.Status.PROPOSED:
            continue
        batches.append(batch)
        for agent_id, amount in balances_of(purpose=Purpose.AGENT_AVAILABLE, currency=currency).items():
            _propose_one(batch=batch, agent_id=agent_id, amount_minor=amount)
    return batches


def _propose_one(*, batch: PayoutBatch, agent_id: int, amount_minor: int) -> Payout | None:
    if amount_minor <= 0:
        return None
    method = PayoutMethod.objects.filter(agent_id=agent_id, removed_at__isnull=True, agent__suspended=False).first()
    if method is None:
        return None
    _, minimum = cashout_terms(agent_id=agent_id, currency=batch.currency)
    if amount_minor < minimum:
        return None
    key = f"batch:{batch.pk}"
    try:
        with transaction.atomic():
            return _hold(
                agent_id=agent_id,
                method=method,
                currency=batch.currency,
                amount_minor=amount_minor,
                fee_minor=0,
                request_key=key,
                request_hash=request_hash(amount_minor=amount_minor, currency=batch.currency),
                batch=batch,
            )
    except (Conflict, IntegrityError):
        # Already in this batch (a rerun), a payout in flight, or money moved meanwhile.
        return None


def payout_batch_approve(*, batch_id: int, user_id: int) -> PayoutBatch:
    """A supervisor approves a proposed batch: its payouts are sent (Stripe transfers by the
    worker, bank payouts into one file). Locks the batch row."""
    with transaction.atomic():
        batch = _locked_batch(batch_id)
        if batch.status != PayoutBatch.Status.PROPOSED:
            raise Conflict(
                "batch_not_proposed",
                gettext("This batch is already %(status)s.") % {"status": batch.get_status_display().lower()},
            )
        batch.status = PayoutBatch.Status.APPROVED
        batch.decided_by_id = user_id
        batch.decided_at = timezone.now()
        batch.save(update_fields=["status", "decided_by", "decided_at"])
        transaction.on_commit(lambda: _enqueue_batch(batch.pk), robust=True)
    return batch


def payout_batch_reject(*, batch_id: int, user_id: int, note: str) -> PayoutBatch:
    """A supervisor rejects a proposed batch: each payout in it fails with the note as its
    reason, and the money is available again (the agent may cash out on demand)."""
    note = (note or "").strip()
    if not note:
        raise DomainError("reason_required", gettext("Say why the batch is rejected; agents see it."), status=422)
    with transaction.atomic():
        batch = _locked_batch(batch_id)
        if batch.status != PayoutBatch.Status.PROPOSED:
            raise Conflict(
                "batch_not_proposed",
                gettext("This batch is already %(status)s.") % {"status": batch.get_status_display().lower()},
            )
        for payout in Payout.objects.select_for_update().filter(batch=batch, status=Status.CREATED):
            _fail(payout, reason=f"The weekly payout was not approved: {note}")
        batch.status = PayoutBatch.Status.REJECTED
        batch.decided_by_id = user_id
        batch.decided_at = timezone.now()
        batch.decision_note = note[:300]
        batch.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return batch


def payout_batch_execute(*, batch_id: int) -> dict[str, int]:
    """Send an approved batch: each Stripe payout in its own transaction (a crash loses at
    most the one in the air, which the rerun resends under the same key), then the bank
    payouts in one file. Safe to run again at any point; returns what it did."""
    batch = PayoutBatch.objects.filter(pk=batch_id, status=PayoutBatch.Status.APPROVED).first()
    if batch is None:
        return {"sent": 0, "failed": 0, "in_file": 0, "retry": 0}
    sent = failed = retry = 0
    stripe_ids = Payout.objects.filter(
        batch=batch, status=Status.CREATED, method__kind=PayoutMethod.Kind.STRIPE
    ).values_list("pk", flat=True)
    for payout_id in list(stripe_ids):
        try:
            payout = payout_execute(payout_id=payout_id)
        except ProviderUnavailable as exc:
            log.warning("payout %s not sent, will retry: %s", payout_id, exc)
            retry += 1
            continue
        if payout is not None:
            if payout.status == Status.PAID:
                sent += 1
            else:
                failed += 1
    try:
        file = bank_file_create(currency=batch.currency, batch_id=batch.pk)
    except DomainError as exc:
        # The bank payouts stay `created` and visible on the batch page, where a supervisor
        # can fail them with this reason; the Stripe ones above are not held back by them.
        log.error("payout batch %s: no bank file: %s", batch.pk, exc.message)
        file = None
    _batches_finish()
    return {"sent": sent, "failed": failed, "in_file": file.payment_count if file else 0, "retry": retry}


def _enqueue_batch(batch_id: int) -> None:
    from ..jobs import payout_batch_execute as job

    job.delay(batch_id)


def _locked_batch(batch_id: int) -> PayoutBatch:
    batch = PayoutBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("batch_not_found", gettext("There is no such payout batch."))
    return batch
