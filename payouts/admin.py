from django.contrib import admin

from .models import BankFile, Earning, Payout, PayoutBatch, PayoutMethod, RateCard, RateLine


class RateLineInline(admin.TabularInline):
    model = RateLine
    extra = 1

    # A card in force has paid cases: its lines stay as they were (a change is a new card).
    def has_change_permission(self, request, obj=None):
        return obj is None or not obj.is_in_force_or_past

    def has_add_permission(self, request, obj=None):
        return obj is None or not obj.is_in_force_or_past

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_in_force_or_past


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    """Versions of a brand's pay terms. One that is in force (or was) is read-only; add a new
    card with a later `effective_from` to change pay."""

    list_display = ["brand", "effective_from", "multiplier_probation", "multiplier_standard", "multiplier_expert"]
    list_filter = ["brand"]
    inlines = [RateLineInline]

    def has_change_permission(self, request, obj=None):
        return obj is None or not obj.is_in_force_or_past

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_in_force_or_past


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records change only through the payout services (which post to the ledger)."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Earning)
class EarningAdmin(ReadOnlyAdmin):
    """Read-only: earnings are append-only; corrections are reversals."""

    list_display = ["id", "agent", "ticket", "shift_id", "kind", "amount_minor", "currency", "available_at"]
    list_filter = ["kind", "brand"]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "amount_minor", "fee_minor", "currency", "status", "provider", "created_at"]
    list_filter = ["status", "provider", "currency"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "currency", "period_start", "status", "decided_by", "decided_at"]


@admin.register(PayoutMethod)
class PayoutMethodAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "kind", "masked", "created_at", "removed_at"]
    exclude = ["iban", "stripe_account"]


@admin.register(BankFile)
class BankFileAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "currency", "payment_count", "total_minor", "created_at"]
    exclude = ["content"]
