from decimal import Decimal

import pgtrigger
from django.db import models
from django.utils import timezone

# ISO 4217 minor-unit exponents for the currencies we pay in; the default is 2.
MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "ISK": 0}


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    return (Decimal(amount_minor) / (Decimal(10) ** exponent)).quantize(Decimal(1).scaleb(-exponent))


class RateCard(models.Model):
    """Pay per resolved case for a brand, by ticket category ('' is the default rate)."""

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="rates")
    category = models.CharField(max_length=60, blank=True)
    amount_minor = models.BigIntegerField(help_text="In the brand currency's minor unit (öre, cents)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "category"], name="rate_unique_brand_category")]

    def __str__(self) -> str:
        return f"{self.brand.slug}/{self.category or 'default'}: {self.amount_minor}"


class Earning(models.Model):
    """One credit (or its reversal) to an agent. Append-only.

    Rows are never edited or deleted; a reopened case gets a `reversal` row pointing at the
    credit it cancels. Each row maps one-to-one onto a future ledger transaction
    (agent payable vs. brand receivable), which is why amounts are signed integers in
    minor units with the currency beside them.
    """

    class Kind(models.TextChoices):
        CASE = "case", "Resolved case"
        REVERSAL = "reversal", "Reversal"

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="earnings")
    brand = models.ForeignKey("marketplace.Brand", on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey("tasks.Ticket", on_delete=models.PROTECT, related_name="earnings")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    round = models.PositiveSmallIntegerField(default=1, help_text="Which resolution of the ticket this is for")
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal")
    created_at = models.DateTimeField(auto_now_add=True)
    available_at = models.DateTimeField(help_text="End of the reopen window: pending until then")

    class Meta:
        constraints = [
            # One credit (and at most one reversal) per resolution of a ticket, whatever retries.
            models.UniqueConstraint(fields=["ticket", "round", "kind"], name="earning_once_per_round"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} for ticket {self.ticket_id}"

    @property
    def amount(self) -> Decimal:
        return minor_to_decimal(self.amount_minor, self.currency)


# --- Ledger ------------------------------------------------------------------------------------
# Double entry in integer minor units. Sign convention: a positive balance is what the platform
# owes the account's owner, a negative one what the owner owes the platform; so a brand's payable
# account goes negative by what the brand owes, and every transaction's postings sum to zero.

# Refuses a transaction whose postings do not sum to zero or mix currencies. Deferred to commit,
# because the postings of one transaction are inserted one statement after another.
_BALANCED_SQL = """
    IF (
        SELECT COALESCE(SUM(p.amount_minor), 0) <> 0 OR COUNT(DISTINCT p.currency) > 1
               OR bool_or(p.currency <> t.currency)
        FROM payouts_ledgerposting p JOIN payouts_ledgertransaction t ON t.id = p.transaction_id
        WHERE p.transaction_id = NEW.transaction_id
    ) THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in one currency', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
"""


def _append_only(name: str) -> "pgtrigger.Protect":
    return pgtrigger.Protect(name=name, operation=pgtrigger.Update | pgtrigger.Delete)


class LedgerAccount(models.Model):
    """One balance of one owner in one currency; its balance is the sum of its postings."""

    class OwnerKind(models.TextChoices):
        AGENT = "agent", "Agent"
        BRAND = "brand", "Brand"
        PLATFORM = "platform", "Platform"

    class Purpose(models.TextChoices):
        AGENT_PENDING = "agent_pending", "Agent: pending (reopen window open)"
        AGENT_AVAILABLE = "agent_available", "Agent: available"
        AGENT_IN_PAYOUT = "agent_in_payout", "Agent: in a payout"
        AGENT_PAID = "agent_paid", "Agent: paid out"
        BRAND_PAYABLE = "brand_payable", "Brand: payable"
        PLATFORM_FEES = "platform_fees", "Platform: fees"
        PLATFORM_CASH = "platform_cash", "Platform: cash"

    owner_kind = models.CharField(max_length=10, choices=OwnerKind.choices)
    # A plain id, not a foreign key: the ledger sits below the apps whose rows own accounts
    # (agents, brands), and an account must outlive any change there. 0 for the platform.
    owner_id = models.BigIntegerField()
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_kind", "owner_id", "purpose", "currency"], name="ledger_account_unique_owner_purpose"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_kind}:{self.owner_id} {self.purpose} {self.currency}"


class LedgerTransaction(models.Model):
    """A balanced set of postings in one currency, written once and never changed."""

    kind = models.CharField(max_length=30)
    memo = models.CharField(max_length=200, blank=True)
    # What makes a post safe to retry: the same key returns the transaction already written.
    key = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3)
    ticket_id = models.BigIntegerField(null=True, blank=True)
    earning_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        triggers = [_append_only("ledger_transaction_append_only")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class LedgerPosting(models.Model):
    """One leg of a transaction: a signed amount on one account."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        triggers = [
            _append_only("ledger_posting_append_only"),
            pgtrigger.Trigger(
                name="ledger_transaction_balanced",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                timing=pgtrigger.Deferred,
                func=_BALANCED_SQL,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} on {self.account_id}"
