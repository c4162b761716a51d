from decimal import Decimal

from django.db import models

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
