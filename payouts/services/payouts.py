"""Money leaving for agents: cash-outs requested, sent, paid and failed. (The weekly batch
is in `batches`, bank files in `bank_files`, a cash-out's terms in `terms`.)

Ledger movements, each posted once under its own key (`payout:<id>:<step>`):
- hold (request): available -amount, in payout +net, platform fees +fee;
- paid:           in payout -net, paid out +net;
- failed:         in payout -net, platform fees -fee, available +amount (all of it back).

Lock order: the agent's available ledger account, then the payout row. A payout is sent to
its provider with its own idempotency key while its row is locked, so two workers never
send it at once, and a worker killed mid-call leaves it `created` for the rerun, which
sends the same key again.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.errors import Conflict, DomainError, NotFound

from ..ledger import Owner, Purpose, accounts_for, ledger_post, payout_key
from ..models import (
    LedgerAccount,
    Payout,
    PayoutBatch,
    PayoutMethod,
)
from ..providers import ProviderRefused, ProviderUnavailable, bank_file, stripe_connect
from ..selectors import balance
from .terms import agent_currencies, cashout_quote, money_text, parse_amount, request_hash

log = logging.getLogger(__name__)

Status = Payout.Status


# --- Requesting ----------------------------------------------------------------------------------


def payout_request(
    *,
    agent_id: int,
    amount: object,
    currency: str | None,
    key: str,
    suspended: bool = False,
) -> tuple[Payout, bool]:
    """An agent's on-demand cash-out of `amount` from their available balance.

    Returns (payout, created): a retry with the same Idempotency-Key and body gets the first
    payout back (created False), with another body `422 idempotency_key_reused`. Refusals,
    none of which posts anything: `invalid_amount`, `currency_required`, `currency_mismatch`,
    `account_suspended`, `no_payout_method`, `below_minimum`, `payout_in_flight`,
    `insufficient_funds`. Locks the agent's available account, so two requests at once are
    checked one after the other; the one-in-flight constraint holds even without it.
    """
    key = (key or "").strip()
    if not key:
        raise DomainError(
            "idempotency_key_required", gettext("Send an Idempotency-Key header with a cash-out."), status=400
        )
    if len(key) > 100:
        raise DomainError(
            "idempotency_key_invalid", gettext("The Idempotency-Key is at most 100 characters."), status=400
        )
    if not currency:
        # Named currencies are checked with the other rules by cashout_quote below.
        currencies = agent_currencies(agent_id=agent_id)
        if len(currencies) > 1:
            raise DomainError(
                "currency_required",
                gettext("You are paid in %(currencies)s: say which.") % {"currencies": ", ".join(currencies)},
                status=422,
            )
        if not currencies:
            raise Conflict("insufficient_funds", gettext("You have no available money yet."))
        currency = currencies[0]
    amount_minor = parse_amount(amount, currency)
    fingerprint = request_hash(amount_minor=amount_minor, currency=currency)
    previous = Payout.objects.filter(agent_id=agent_id, request_key=key).first()
    if previous is not None:
        if previous.request_hash != fingerprint:
            raise DomainError(
                "idempotency_key_reused",
                gettext("This Idempotency-Key was used with a different request body."),
                status=422,
            )
        return previous, False
    # The same rules the confirmation page showed; balance and in-flight are checked again
    # under the account lock in _hold.
    quote = cashout_quote(agent_id=agent_id, amount=amount, currency=currency, suspended=suspended)
    method = quote.method
    try:
        with transaction.atomic():
            payout = _hold(
                agent_id=agent_id,
                method=method,
                currency=currency,
                amount_minor=amount_minor,
                fee_minor=quote.fee_minor,
                request_key=key,
                request_hash=fingerprint,
            )
    except IntegrityError:
        # A concurrent request with the same key won the unique (agent, request_key) race.
        previous = Payout.objects.filter(agent_id=agent_id, request_key=key).first()
        if previous is None:
            raise
        if previous.request_hash != fingerprint:
            raise DomainError(
                "idempotency_key_reused",
                gettext("This Idempotency-Key was used with a different request body."),
                status=422,
            ) from None
        return previous, False
    if method.kind == PayoutMethod.Kind.STRIPE:
        # Robust: with jobs run inline (embedded mode) a Stripe outage must not turn the
        # agent's answer into an error; the payout stays `created` and the resend sweep and
        # the job's retries send it.
        transaction.on_commit(lambda: _enqueue_execute(payout.pk), robust=True)
    return payout, True


def _hold(
    *,
    agent_id: int,
    method: PayoutMethod,
    currency: str,
    amount_minor: int,
    fee_minor: int,
    request_key: str,
    request_hash: str,
    batch: PayoutBatch | None = None,
) -> Payout:
    """Inside a transaction: create the payout and move its money out of available."""
    available, in_payout, fees = accounts_for(
        idents=[
            (Owner.AGENT, agent_id, Purpose.AGENT_AVAILABLE, currency),
            (Owner.AGENT, agent_id, Purpose.AGENT_IN_PAYOUT, currency),
            (Owner.PLATFORM, 0, Purpose.PLATFORM_FEES, currency),
        ]
    )
    # Serializes the balance check with every other payout of this agent and currency.
    LedgerAccount.objects.select_for_update().filter(pk=available.pk).get()
    if Payout.objects.filter(agent_id=agent_id, currency=currency, status__in=Payout.IN_FLIGHT).exists():
        raise Conflict("payout_in_flight", gettext("A payout is already on its way; wait until it is paid or failed."))
    have = balance(available)
    if amount_minor > have:
        raise Conflict(
            "insufficient_funds",
            gettext("You can cash out at most %(amount)s now.") % {"amount": money_text(have, currency)},
        )
    try:
        with transaction.atomic():
            payout = Payout.objects.create(
                agent_id=agent_id,
                method=method,
                batch=batch,
                currency=currency,
                amount_minor=amount_minor,
                fee_minor=fee_minor,
                request_key=request_key,
                request_hash=request_hash,
                provider=stripe_connect.NAME if method.kind == PayoutMethod.Kind.STRIPE else bank_file.NAME,
            )
    except IntegrityError as exc:
        if "payout_one_in_flight" in str(exc):
            raise Conflict(
                "payout_in_flight", gettext("A payout is already on its way; wait until it is paid or failed.")
            ) from None
        raise
    postings = [(available, -amount_minor), (in_payout, amount_minor - fee_minor)]
    if fee_minor:
        postings.append((fees, fee_minor))
    ledger_post(
        key=payout_key(payout.pk, "hold"),
        kind="payout_hold",
        postings=postings,
        currency=currency,
        memo=f"payout {payout.pk} requested",
        payout_id=payout.pk,
    )
    return payout


def _enqueue_execute(payout_id: int) -> None:
    from ..jobs import payout_execute as job

    job.delay(payout_id)


# --- Executing ----------------------------------------------------------------------------------


def payout_execute(*, payout_id: int) -> Payout | None:
    """Send one `created` Stripe payout. Paid on success; failed (money back) on a refusal;
    on an outage ProviderUnavailable propagates and nothing changes, for a retry.

    Locks the payout row (skip locked: another worker is sending it) for the whole call.
    Returns the payout, or None when there was nothing to do.
    """
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("method")
            .filter(pk=payout_id, status=Status.CREATED, method__kind=PayoutMethod.Kind.STRIPE)
            .filter(Q(batch__isnull=True) | Q(batch__status=PayoutBatch.Status.APPROVED))
            .first()
        )
        if payout is None:
            return None
        try:
            result = stripe_connect.transfer(payout)
        except ProviderRefused as exc:
            _fail(payout, reason=exc.reason)
            return payout
        now = timezone.now()
        payout.provider_reference = result.reference
        payout.submitted_at = now
        payout.save(update_fields=["provider_reference", "submitted_at"])
        _paid(payout)
    return payout


def _paid(payout: Payout) -> None:
    """Inside a transaction holding the payout row: it is paid."""
    payout.status = Status.PAID
    payout.paid_at = timezone.now()
    payout.save(update_fields=["status", "paid_at"])
    in_payout, paid = accounts_for(
        idents=[
            (Owner.AGENT, payout.agent_id, Purpose.AGENT_IN_PAYOUT, payout.currency),
            (Owner.AGENT, payout.agent_id, Purpose.AGENT_PAID, payout.currency),
        ]
    )
    ledger_post(
        key=payout_key(payout.pk, "paid"),
        kind="payout_paid",
        postings=[(in_payout, -payout.net_minor), (paid, payout.net_minor)],
        currency=payout.currency,
        memo=f"payout {payout.pk} paid ({payout.provider_reference})",
        payout_id=payout.pk,
    )


def _fail(payout: Payout, *, reason: str) -> None:
    """Inside a transaction holding the payout row: it failed on its way; every unit goes
    back to available."""
    _give_back(payout, reason=reason, source=Purpose.AGENT_IN_PAYOUT, step="failed")


def _return(payout: Payout, *, reason: str) -> None:
    """Inside a transaction holding the paid payout row: the bank sent it back after the run
    was confirmed. Paid out goes down and the whole amount, fee included, is available again."""
    _give_back(payout, reason=reason, source=Purpose.AGENT_PAID, step="returned")


def _give_back(payout: Payout, *, reason: str, source: str, step: str) -> None:
    """The payout is failed: its net leaves `source` (in payout, or paid out for a late
    return), the fee leaves the platform, and the whole amount is available again."""
    payout.status = Status.FAILED
    payout.failed_at = timezone.now()
    payout.failure_reason = reason[:300]
    payout.save(update_fields=["status", "failed_at", "failure_reason"])
    available, held, fees = accounts_for(
        idents=[
            (Owner.AGENT, payout.agent_id, Purpose.AGENT_AVAILABLE, payout.currency),
            (Owner.AGENT, payout.agent_id, source, payout.currency),
            (Owner.PLATFORM, 0, Purpose.PLATFORM_FEES, payout.currency),
        ]
    )
    postings = [(held, -payout.net_minor), (available, payout.amount_minor)]
    if payout.fee_minor:
        postings.append((fees, -payout.fee_minor))
    ledger_post(
        key=payout_key(payout.pk, step),
        kind=f"payout_{step}",
        postings=postings,
        currency=payout.currency,
        memo=f"payout {payout.pk} {step}: {reason[:150]}",
        payout_id=payout.pk,
    )


def payout_mark_failed(*, payout_id: int, reason: str) -> Payout:
    """A supervisor records that the bank returned a payout (or cancels a bank payout not yet
    in a file): the money goes back to the agent's available balance with the reason shown
    to them. A bank payout already confirmed paid can still come back (banks return
    payments days later): it is reversed from paid out. A Stripe payout not yet paid is
    refused (`payout_sending`): a try whose answer was lost may have made the transfer, so
    only Stripe's answer to its key may end it; a paid Stripe transfer is not undone here."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", gettext("Say why the payout failed; the agent sees it."), status=422)
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None:
            raise NotFound("payout_not_found", gettext("There is no such payout."))
        returned = payout.status == Status.PAID and payout.provider == bank_file.NAME
        if payout.status not in Payout.IN_FLIGHT and not returned:
            raise Conflict(
                "payout_not_in_flight",
                gettext("This payout is already %(status)s.") % {"status": payout.get_status_display().lower()},
            )
        if returned:
            _return(payout, reason=reason)
        elif payout.provider == stripe_connect.NAME:
            raise Conflict(
                "payout_sending",
                gettext(
                    "This payout is being sent through Stripe; it ends paid, or failed with Stripe's reason, by itself."
                ),
            )
        else:
            _fail(payout, reason=reason)
    # The last payout of a batch may have been this one.
    _batches_finish()
    return payout


def payouts_resend_stuck(*, older_than: timedelta = timedelta(minutes=10), limit: int = 100) -> int:
    """Beat's safety net for Stripe payouts still `created` after their job gave up or its
    worker died: send each again under its own key (or find its transfer, see
    stripe_connect.LOOK_UP_AFTER). Idempotent; returns how many ended paid or failed."""
    cutoff = timezone.now() - older_than
    stuck = (
        Payout.objects.filter(status=Status.CREATED, method__kind=PayoutMethod.Kind.STRIPE, created_at__lte=cutoff)
        .filter(Q(batch__isnull=True) | Q(batch__status=PayoutBatch.Status.APPROVED))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for payout_id in list(stuck):
        try:
            if payout_execute(payout_id=payout_id) is not None:
                done += 1
        except ProviderUnavailable as exc:
            log.warning("payout %s still not sent: %s", payout_id, exc)
            break  # Stripe is away; the next run tries again
    _batches_finish()
    return done


def _batches_finish() -> None:
    """An approved batch with nothing left in flight is done."""
    PayoutBatch.objects.filter(status=PayoutBatch.Status.APPROVED).exclude(payouts__status__in=Payout.IN_FLIGHT).update(
        status=PayoutBatch.Status.DONE
    )
