from django.contrib import admin

from .models import Earning, RateCard


@admin.register(RateCard)
class RateCardAdmin(admin.ModelAdmin):
    list_display = ["brand", "category", "amount_minor"]


@admin.register(Earning)
class EarningAdmin(admin.ModelAdmin):
    """Read-only: earnings are append-only; corrections are reversals."""

    list_display = ["id", "agent", "ticket", "kind", "amount_minor", "currency", "available_at"]
    list_filter = ["kind", "brand"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
