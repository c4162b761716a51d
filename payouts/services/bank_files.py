"""Bank files: payouts to bank accounts leave in one ISO 20022 credit transfer file (pain.001)
for a manual bank run, and are paid once the run is confirmed."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.errors import DomainError

from ..models import (
    BankFile,
    Payout,
    PayoutBatch,
    PayoutMethod,
)
from ..providers import bank_file
from ..selectors import agent_supervised_by
from .payouts import Status, _batches_finish, _paid

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
