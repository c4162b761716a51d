"""Money leaving for agents: on-demand cash-outs, the weekly batch, and their execution.

Ledger movements, each posted once under its own key (`payout:<id>:<step>`):
- hold (request): available -amount, in payout +net, platform fees +fee;
- paid:           in payout -net, paid out +net;
- failed:         in payout -net, platform fees -fee, available +amount (all of it back).

Lock order: the agent's available ledger account, then the payout row. A payout is sent to
its provider with its own idempotency key while its row is locked, so two workers never
send it at once, and a worker killed mid-call leaves it `created` for the rerun, which
sends the same key again.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from marketplace.errors import Conflict, DomainError, Forbidden, NotFound
from marketplace.models import Brand

from ..ledger import Owner, Purpose, accounts_for, ledger_post, payout_key
from ..models import (
    MINOR_UNIT_EXPONENT,
    BankFile,
    LedgerAccount,
    Payout,
    PayoutBatch,
    PayoutMethod,
    decimal_to_minor,
)
from ..providers import ProviderRefused, ProviderUnavailable, bank_file, stripe_connect
from ..selectors import agent_balances, agent_supervised_by, balance, balances_of

log = logging.getLogger(__name__)

Status = Payout.Status
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
            gettext("The smallest cash-out is %(amount)s.") % {"amount": _money(max(minimum, fee + 1), currency)},
            status=422,
        )
    if Payout.objects.filter(agent_id=agent_id, currency=currency, status__in=Payout.IN_FLIGHT).exists():
        raise Conflict("payout_in_flight", gettext("A payout is already on its way; wait until it is paid or failed."))
    have = agent_balances(agent_id=agent_id).get(currency, {}).get(Purpose.AGENT_AVAILABLE, 0)
    if amount_minor > have:
        raise Conflict(
            "insufficient_funds",
            gettext("You can cash out at most %(amount)s now.") % {"amount": _money(have, currency)},
        )
    return CashoutQuote(currency=currency, amount_minor=amount_minor, fee_minor=fee, method=method)


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
    currencies = agent_currencies(agent_id=agent_id)
    if currency:
        if currency not in currencies:
            raise DomainError(
                "currency_mismatch",
                gettext("You have no earnings in %(currency)s; you are paid in %(currencies)s.")
                % {"currency": currency, "currencies": ", ".join(currencies) or "—"},
                status=422,
            )
    elif len(currencies) > 1:
        raise DomainError(
            "currency_required",
            gettext("You are paid in %(currencies)s: say which.") % {"currencies": ", ".join(currencies)},
            status=422,
        )
    elif currencies:
        currency = currencies[0]
    else:
        raise Conflict("insufficient_funds", gettext("You have no available money yet."))
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
            gettext("You can cash out at most %(amount)s now.") % {"amount": _money(have, currency)},
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
    """Inside a transaction holding the payout row: it failed; every unit goes back to available."""
    payout.status = Status.FAILED
    payout.failed_at = timezone.now()
    payout.failure_reason = reason[:300]
    payout.save(update_fields=["status", "failed_at", "failure_reason"])
    available, in_payout, fees = accounts_for(
        idents=[
            (Owner.AGENT, payout.agent_id, Purpose.AGENT_AVAILABLE, payout.currency),
            (Owner.AGENT, payout.agent_id, Purpose.AGENT_IN_PAYOUT, payout.currency),
            (Owner.PLATFORM, 0, Purpose.PLATFORM_FEES, payout.currency),
        ]
    )
    postings = [(in_payout, -payout.net_minor), (available, payout.amount_minor)]
    if payout.fee_minor:
        postings.append((fees, -payout.fee_minor))
    ledger_post(
        key=payout_key(payout.pk, "failed"),
        kind="payout_failed",
        postings=postings,
        currency=payout.currency,
        memo=f"payout {payout.pk} failed: {reason[:150]}",
        payout_id=payout.pk,
    )


def payout_mark_failed(*, payout_id: int, reason: str) -> Payout:
    """A supervisor records that the bank returned a payout (or cancels a bank payout not yet
    in a file): the money goes back to the agent's available balance with the reason shown
    to them. A Stripe payout not yet paid is refused (`payout_sending`): a try whose answer
    was lost may have made the transfer, so only Stripe's answer to its key may end it."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", gettext("Say why the payout failed; the agent sees it."), status=422)
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None:
            raise NotFound("payout_not_found", gettext("There is no such payout."))
        if payout.status not in Payout.IN_FLIGHT:
            raise Conflict(
                "payout_not_in_flight",
                gettext("This payout is already %(status)s.") % {"status": payout.get_status_display().lower()},
            )
        if payout.provider == stripe_connect.NAME:
            raise Conflict(
                "payout_sending",
                gettext(
                    "This payout is being sent through Stripe; it ends paid, or failed with Stripe's reason, by itself."
                ),
            )
        _fail(payout, reason=reason)
    # The last payout of a batch may have been this one.
    _batches_finish()
    return payout


# --- Bank files -------------------------------------------------------------------------------


def bank_file_create(
    *, currency: str, user_id: int | None = None, batch_id: int | None = None, supervisor_id: int | None = None
) -> BankFile | None:
    """Put every `created` bank payout of `currency` (on-demand ones, and those of approved
    batches; only `batch_id`'s when given; only those of agents certified for a brand that
    `supervisor_id` supervises when given) into one pain.001 file, and mark them submitted.

    One transaction: the file and the payouts' new state commit together, so a crash leaves
    either both or neither, and no payout is ever in two files. Rows are claimed with SKIP
    LOCKED. Returns None when there is nothing to pay.
    """
    with transaction.atomic():
        payouts = (
            Payout.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("method")
            .filter(status=Status.CREATED, currency=currency, method__kind=PayoutMethod.Kind.IBAN)
            .filter(Q(batch__isnull=True) | Q(batch__status=PayoutBatch.Status.APPROVED))
            .order_by("pk")
        )
        if batch_id is not None:
            payouts = payouts.filter(batch_id=batch_id)
        if supervisor_id is not None:
            # In the claiming query itself, so a cash-out of another brand's agent made
            # meanwhile can never end up in a file a supervisor downloads.
            payouts = payouts.filter(agent_supervised_by(supervisor_id))
        rows = list(payouts)
        if not rows:
            return None
        try:
            built = bank_file.build(rows, currency=currency, execution_date=timezone.localdate())
        except bank_file.BankFileRefused as exc:
            raise DomainError("bank_file_refused", str(exc), status=422) from None
        file = BankFile.objects.create(
            message_id=built.message_id,
            currency=currency,
            content=built.content,
            payment_count=len(rows),
            total_minor=sum(p.net_minor for p in rows),
            created_by_id=user_id,
        )
        now = timezone.now()
        for payout in rows:
            payout.status = Status.SUBMITTED
            payout.bank_file = file
            payout.submitted_at = now
            payout.provider_reference = f"{file.message_id}/{bank_file.end_to_end_id(payout)}"
            payout.save(update_fields=["status", "bank_file", "submitted_at", "provider_reference"])
    return file


def bank_file_confirm_paid(*, bank_file_id: int) -> int:
    """The bank run of this file went through: its submitted payouts are paid. Idempotent
    (paid or failed ones are left alone). Returns how many became paid."""
    done = 0
    with transaction.atomic():
        for payout in Payout.objects.select_for_update().filter(bank_file_id=bank_file_id, status=Status.SUBMITTED):
            _paid(payout)
            done += 1
    _batches_finish()
    return done


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


def _enqueue_batch(batch_id: int) -> None:
    from ..jobs import payout_batch_execute as job

    job.delay(batch_id)


def _locked_batch(batch_id: int) -> PayoutBatch:
    batch = PayoutBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("batch_not_found", gettext("There is no such payout batch."))
    return batch


def _money(amount_minor: int, currency: str) -> str:
    from ..models import minor_to_decimal

    return f"{minor_to_decimal(amount_minor, currency)} {currency}"
