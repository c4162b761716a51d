from django.contrib import admin

from .models import Message, Offer, SupervisorAlert, Ticket, TicketEvent


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    readonly_fields = ["sender", "text", "sent_at"]
    can_delete = False


class OfferInline(admin.TabularInline):
    model = Offer
    extra = 0
    readonly_fields = ["agent", "state", "pay_amount_minor", "created_at", "expires_at", "responded_at"]
    can_delete = False


class TicketEventInline(admin.TabularInline):
    """What the platform did to find the ticket an agent; appended only, so read only."""

    model = TicketEvent
    extra = 0
    fields = readonly_fields = ("created_at", "kind", "detail")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SupervisorAlert)
class SupervisorAlertAdmin(admin.ModelAdmin):
    list_display = ["id", "brand", "created_at", "ticket_ids"]
    list_filter = ["brand"]
    fields = readonly_fields = ("brand", "created_at", "ticket_ids")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "brand", "subject", "language", "priority", "status", "agent", "created_at"]
    list_filter = ["status", "brand", "language", "priority"]
    search_fields = ["subject", "customer__name", "customer__external_id"]
    # The customer token is the only key to a customer's chat: whoever reads it can write as
    # the customer, so the admin never shows it (nor lets anyone search by it).
    exclude = ["customer_token"]
    readonly_fields = [
        "status",
        "agent",
        "previous_agent",
        "assigned_at",
        "resolved_at",
        "closed_at",
        "widen_level",
        "widened_at",
        "widen_alert_pending",
        "surge_bonus_minor",
        "notify_email_sent_at",
    ]
    inlines = [TicketEventInline, OfferInline, MessageInline]
