from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# ISO 4217 minor-unit exponents for the currencies we pay in; the default is 2.
MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "ISK": 0}


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    return (Decimal(amount_minor) / (Decimal(10) ** exponent)).quantize(Decimal(1).scaleb(-exponent))


def decimal_to_minor(amount: Decimal, currency: str) -> int:
    """Whole minor units of `amount`; ValueError when it has more decimals than the currency."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} amounts have at most {exponent} decimals")
    return int(scaled)


class RateCard(models.Model):
    """One version of a brand's pay terms, in force from `effective_from` until the next one.

    A case is paid by the card in force when its offer was made (the offer carries the whole
    calculation), so a card that is in force is never edited: a change is a new version.
    """

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="rate_cards")
    effective_from = models.DateTimeField(default=timezone.now)
    # Pay per case is the category's base rate times the agent's tier multiplier.
    multiplier_probation = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    multiplier_standard = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    multiplier_expert = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    note = models.CharField(max_length=200, blank=True, help_text="Why this version exists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "effective_from"], name="rate_card_one_per_instant"),
            models.CheckConstraint(
                condition=models.Q(multiplier_probation__gt=0, multiplier_standard__gt=0, multiplier_expert__gt=0),
                name="rate_card_multipliers_positive",
            ),
        ]
        indexes = [models.Index(fields=["brand", "-effective_from"], name="rate_card_in_force_idx")]

    def __str__(self) -> str:
        return f"{self.brand_id} card from {self.effective_from:%Y-%m-%d %H:%M}"

    def multiplier(self, tier: str) -> Decimal:
        return {
            "probation": self.multiplier_probation,
            "standard": self.multiplier_standard,
            "expert": self.multiplier_expert,
        }.get(tier, Decimal("1.00"))

    @property
    def is_in_force_or_past(self) -> bool:
        return self.effective_from <= timezone.now()


class RateLine(models.Model):
    """Base pay per resolved case on one rate card, by ticket category ('' is the default)."""

    card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="lines")
    category = models.CharField(max_length=60, blank=True)
    amount_minor = models.BigIntegerField(help_text="In the brand currency's minor unit (öre, cents)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["card", "category"], name="rate_line_unique_category"),
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="rate_line_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.category or 'default'}: {self.amount_minor}"


class Earning(models.Model):
    """One credit (or its reversal) to an agent. Append-only.

    Rows are never edited or deleted; a reopened case gets a `reversal` row pointing at the
    credit it cancels. Each row maps one-to-one onto a future ledger transaction
    (agent payable vs. brand receivable), which is why amounts are signed integers in
    minor units with the currency beside them.

    A case and its reversal name their ticket; a shift's floor top-up and a compensation for
    a shift cancelled late name their shift and booking instead (plain ids: this app does not
    import the shift models), once per booking and kind.
    """

    class Kind(models.TextChoices):
        CASE = "case", "Resolved case"
        REVERSAL = "reversal", "Reversal"
        FLOOR_TOPUP = "floor_topup", "Shift floor top-up"
        COMPENSATION = "compensation", "Shift cancellation compensation"

    TICKET_KINDS = (Kind.CASE, Kind.REVERSAL)
    SHIFT_KINDS = (Kind.FLOOR_TOPUP, Kind.COMPENSATION)

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="earnings")
    brand = models.ForeignKey("marketplace.Brand", on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey("tasks.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="earnings")
    shift_id = models.BigIntegerField(null=True, blank=True, help_text="tasks.Shift, for a shift's earnings")
    booking_id = models.BigIntegerField(null=True, blank=True, help_text="tasks.ShiftBooking, for a shift's earnings")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    round = models.PositiveSmallIntegerField(default=1, help_text="Which resolution of the ticket this is for")
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal")
    created_at = models.DateTimeField(auto_now_add=True)
    available_at = models.DateTimeField(help_text="End of the reopen window: pending until then")
    # How the amount was reached (rate card, base rate, tier multiplier, bonuses), copied from
    # the accepted offer, so the agent sees the calculation behind every figure.
    calculation = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # One credit (and at most one reversal) per resolution of a ticket, whatever retries.
            models.UniqueConstraint(fields=["ticket", "round", "kind"], name="earning_once_per_round"),
            # One top-up and one compensation per booking, however often the sweep runs.
            models.UniqueConstraint(
                fields=["booking_id", "kind"],
                condition=models.Q(booking_id__isnull=False),
                name="earning_once_per_booking",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["case", "reversal"], ticket__isnull=False)
                    | models.Q(
                        kind__in=["floor_topup", "compensation"], shift_id__isnull=False, booking_id__isnull=False
                    )
                ),
                name="earning_names_its_ticket_or_booking",
            ),
        ]
        # Analytics (tasks.analytics_rollups): pay by the hour it was earned.
        indexes = [models.Index(fields=["created_at"], name="earning_created_idx")]

    def __str__(self) -> str:
        what = f"ticket {self.ticket_id}" if self.ticket_id else f"booking {self.booking_id}"
        return f"{self.get_kind_display()} {self.amount} {self.currency} for {what}"

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
    payout_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        triggers = [_append_only("ledger_transaction_append_only")]
        indexes = [
            # "Has this earning been released?" and "what did this payout post?"
            models.Index(fields=["earning_id", "kind"], name="ledger_txn_earning_idx"),
            models.Index(fields=["payout_id"], name="ledger_txn_payout_idx"),
        ]

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


# --- Payouts ------------------------------------------------------------------------------


class PayoutMethod(models.Model):
    """Where an agent's money goes: a bank account (IBAN, paid by a bank file) or a Stripe
    connected account (paid by a transfer). One active method per agent; replacing it keeps
    the old row, since payouts already made point at it."""

    class Kind(models.TextChoices):
        IBAN = "iban", _("Bank account (IBAN)")
        STRIPE = "stripe", _("Stripe account")

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="payout_methods")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    holder_name = models.CharField(max_length=70, help_text="Account holder, as the bank knows them")
    iban = models.CharField(max_length=34, blank=True, help_text="Compact form, checked with schwifty")
    bic = models.CharField(max_length=11, blank=True)
    stripe_account = models.CharField(max_length=64, blank=True, help_text="Connected account id, acct_…")
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=models.Q(removed_at__isnull=True), name="payout_method_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.masked} of agent {self.agent_id}"

    @property
    def masked(self) -> str:
        """What pages show: the last four characters only."""
        ident = self.iban if self.kind == self.Kind.IBAN else self.stripe_account
        return f"•••• {ident[-4:]}" if ident else ""


class PayoutBatch(models.Model):
    """The weekly payout run of one currency: proposed by beat, approved by a supervisor,
    then executed. Each agent's payout in it is a Payout row holding its money."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Waiting for approval")
        APPROVED = "approved", _("Approved, paying")
        DONE = "done", _("Done")
        REJECTED = "rejected", _("Rejected")

    currency = models.CharField(max_length=3)
    period_start = models.DateField(help_text="Monday of the week whose available money it pays")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            # A doubled beat run finds the week's batch already there.
            models.UniqueConstraint(fields=["currency", "period_start"], name="payout_batch_one_per_week"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} payouts for the week of {self.period_start}"


class BankFile(models.Model):
    """A SEPA credit transfer file (pain.001) for a manual bank run. Written once; the
    payouts in it are `submitted` until the bank run is confirmed paid or failed."""

    message_id = models.CharField(max_length=35, unique=True)
    currency = models.CharField(max_length=3)
    content = models.TextField()
    payment_count = models.PositiveIntegerField()
    total_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return self.message_id


class Payout(models.Model):
    """Money leaving for an agent: `created -> submitted -> paid | failed`.

    Creating one moves its amount from the agent's available balance into `in payout` (and
    its fee to the platform) in the same transaction; paid moves it to `paid out`, failed
    gives it all back. The provider is called with `provider_key`, so a retried call after
    a crash finds the first transfer instead of making a second.
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Requested")
        SUBMITTED = "submitted", _("Sent to the bank")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Failed")

    IN_FLIGHT = (Status.CREATED, Status.SUBMITTED)

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="payouts")
    method = models.ForeignKey(PayoutMethod, on_delete=models.PROTECT, related_name="payouts")
    batch = models.ForeignKey(PayoutBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts")
    bank_file = models.ForeignKey(BankFile, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField(help_text="Taken from the available balance")
    fee_minor = models.BigIntegerField(default=0, help_text="Kept by the platform; the agent receives amount - fee")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    # The agent's Idempotency-Key for a cash-out, or batch:<id> for a weekly payout.
    request_key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64, blank=True)
    provider = models.CharField(max_length=20, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "request_key"], name="payout_once_per_request"),
            # At most one payout in flight per agent and currency, whatever the races: the
            # second request is refused with payout_in_flight.
            models.UniqueConstraint(
                fields=["agent", "currency"],
                condition=models.Q(status__in=["created", "submitted"]),
                name="payout_one_in_flight",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0, fee_minor__gte=0, fee_minor__lt=models.F("amount_minor")),
                name="payout_amounts_sane",
            ),
        ]
        indexes = [models.Index(fields=["agent", "-created_at"], name="payout_agent_idx")]

    def __str__(self) -> str:
        return f"payout {self.pk} of {self.amount_minor} {self.currency} to agent {self.agent_id} ({self.status})"

    @property
    def provider_key(self) -> str:
        """The idempotency key sent to the provider for this payout, the same on every try."""
        return f"payout-{self.pk}"

    @property
    def can_fail_by_hand(self) -> bool:
        """A bank payout not yet paid may be cancelled or marked returned; a Stripe payout
        ends only by Stripe's answer to its idempotency key."""
        return self.provider == "bank_file" and self.status in self.IN_FLIGHT

    @property
    def can_be_returned(self) -> bool:
        """A bank payout confirmed paid may still come back from the bank."""
        return self.provider == "bank_file" and self.status == self.Status.PAID

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.fee_minor

    @property
    def amount(self) -> Decimal:
        return minor_to_decimal(self.amount_minor, self.currency)

    @property
    def fee(self) -> Decimal:
        return minor_to_decimal(self.fee_minor, self.currency)

    @property
    def net(self) -> Decimal:
        return minor_to_decimal(self.net_minor, self.currency)
