"""Reads over the ledger."""

from django.db.models import Sum

from .models import LedgerAccount, LedgerPosting


def balance(account: LedgerAccount) -> int:
    """The account's balance in minor units: the sum of its postings (positive: owed to the owner)."""
    total = LedgerPosting.objects.filter(account=account).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)
