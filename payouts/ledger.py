"""The double-entry ledger: balanced, append-only transactions in integer minor units.

Writes go through `ledger_post`; balances are read with `payouts.selectors.balance`. The
database holds the same rules the service checks (see the triggers on the models), so a
write that goes around this module is refused too.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from marketplace.errors import DomainError
from marketplace.prepared import PreparedInsert, PreparedQuery

from .models import LedgerAccount, LedgerPosting, LedgerTransaction

Owner = LedgerAccount.OwnerKind
Purpose = LedgerAccount.Purpose
PLATFORM_OWNER_ID = 0


def earning_key(earning_id: int) -> str:
    """The idempotency key of the transaction that mirrors one Earning row."""
    return f"earning:{earning_id}"


def release_key(earning_id: int) -> str:
    """The key of the transaction that moves one credit from pending to available."""
    return f"release:{earning_id}"


def payout_key(payout_id: int, step: str) -> str:
    """The key of a payout's transaction for `step` (hold, paid, failed): each happens once."""
    return f"payout:{payout_id}:{step}"


def account_for(*, owner_kind: str, owner_id: int, purpose: str, currency: str) -> LedgerAccount:
    """The owner's account for `purpose` in `currency`, opened on first use."""
    return accounts_for(idents=[(owner_kind, owner_id, purpose, currency)])[0]


def _accounts(_shape: tuple[int, int], *, owners: list[int], currencies: list[str]) -> QuerySet[LedgerAccount]:
    return LedgerAccount.objects.filter(owner_id__in=owners, currency__in=currencies)


# Every resolution posts to two accounts: compiled once (marketplace/prepared.py).
_accounts_of = PreparedQuery(_accounts)
_insert_postings = PreparedInsert(LedgerPosting)


def accounts_for(*, idents: Sequence[tuple[str, int, str, str]]) -> list[LedgerAccount]:
    """Several accounts at once, in the order asked, opening the missing ones.

    One query when they all exist (the usual case); opening races are harmless because the
    insert skips rows another transaction has just opened.
    """
    wanted = list(dict.fromkeys(idents))

    owners, currencies = sorted({i[1] for i in wanted}), sorted({i[3] for i in wanted})

    def existing() -> dict[tuple[str, int, str, str], LedgerAccount]:
        rows = _accounts_of((len(owners), len(currencies)), owners=owners, currencies=currencies)
        return {(a.owner_kind, a.owner_id, a.purpose, a.currency): a for a in rows}

    found = existing()
    missing = [i for i in wanted if i not in found]
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(owner_kind=k, owner_id=o, purpose=p, currency=c) for k, o, p, c in missing],
            ignore_conflicts=True,
        )
        found = existing()
    return [found[i] for i in idents]


def ledger_post(
    *,
    key: str,
    kind: str,
    postings: Sequence[tuple[LedgerAccount, int]],
    currency: str,
    memo: str = "",
    ticket_id: int | None = None,
    earning_id: int | None = None,
    payout_id: int | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction, or return the one already written under `key`.

    Refuses (DomainError, nothing written) an empty transaction, one whose amounts do not sum
    to zero, and one touching an account or naming a currency other than `currency`. Takes
    no lock: the unique key settles a race between two posts of the same transaction.
    """
    if not key:
        raise DomainError("ledger_invalid", "A ledger transaction needs an idempotency key.")
    if not postings:
        raise DomainError("ledger_invalid", "A ledger transaction needs at least one posting.")
    if any(account.currency != currency for account, _ in postings):
        raise DomainError("ledger_invalid", "A ledger transaction moves one currency only.")
    if any(isinstance(amount, bool) or not isinstance(amount, int) for _, amount in postings):
        raise DomainError("ledger_invalid", "Ledger amounts are whole numbers of minor units.")
    if sum(amount for _, amount in postings) != 0:
        raise DomainError("ledger_unbalanced", "A ledger transaction's postings must sum to zero.")
    # No savepoint: a failure here fails the caller's transaction anyway, and the hot path
    # (resolve) should not pay two extra statements for one.
    with transaction.atomic(savepoint=False):
        created_at = timezone.now()
        txn_id = _insert_once(
            key=key,
            kind=kind,
            memo=memo,
            currency=currency,
            ticket_id=ticket_id,
            earning_id=earning_id,
            payout_id=payout_id,
            created_at=created_at,
        )
        if txn_id is None:
            return LedgerTransaction.objects.get(key=key)
        _insert_postings.many(
            [
                LedgerPosting(transaction_id=txn_id, account=account, amount_minor=amount, currency=currency)
                for account, amount in postings
            ]
        )
    txn = LedgerTransaction(
        id=txn_id,
        kind=kind,
        memo=memo,
        key=key,
        currency=currency,
        ticket_id=ticket_id,
        earning_id=earning_id,
        payout_id=payout_id,
        created_at=created_at,
    )
    txn._state.adding = False
    return txn


def _insert_once(
    *,
    key: str,
    kind: str,
    memo: str,
    currency: str,
    ticket_id: int | None,
    earning_id: int | None,
    payout_id: int | None,
    created_at: datetime,
) -> int | None:
    """Insert the transaction row unless its key exists: its id, or None for a retry.

    ON CONFLICT DO NOTHING instead of catching IntegrityError, so a retry inside a caller's
    transaction costs one statement and no savepoint (PostgreSQL and SQLite both speak it).
    """
    table = connection.ops.quote_name(LedgerTransaction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, memo, key, currency, ticket_id, earning_id, payout_id, created_at)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING id",
            [
                kind,
                memo,
                key,
                currency,
                ticket_id,
                earning_id,
                payout_id,
                connection.ops.adapt_datetimefield_value(created_at),
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None
