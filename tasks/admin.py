from django.contrib import admin

from .models import Message, Offer, Ticket


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


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "brand", "subject", "language", "priority", "status", "agent", "created_at"]
    list_filter = ["status", "brand", "language", "priority"]
    search_fields = ["subject", "customer__name", "customer__external_id"]
    # The customer token is the only key to a customer's chat: whoever reads it can write as
    # the customer, so the admin never shows it (nor lets anyone search by it).
    exclude = ["customer_token"]
    readonly_fields = ["status", "agent", "previous_agent", "assigned_at", "resolved_at", "closed_at"]
    inlines = [OfferInline, MessageInline]
