from django.contrib import admin

from .models import AgentLanguage, AgentProfile, AgentSkill, Appeal, PushSubscription, QualityFlag, Review, Sanction
from .services import push_subscription_record


class LanguageInline(admin.TabularInline):
    model = AgentLanguage
    extra = 0


class SkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 0


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "tier", "status", "load", "capacity", "connections", "suspended"]
    list_filter = ["status", "tier", "suspended", "brands"]
    search_fields = ["display_name", "user__email"]
    # The score is computed (agents.quality) and a suspension needs a reason and evidence the
    # agent can see, so both change only through the quality pages.
    readonly_fields = [
        "quality_score",
        "suspended",
        "status",
        "load",
        "connections",
        "disconnected_at",
        "last_assigned_at",
        "consecutive_timeouts",
        "has_push",
    ]
    inlines = [LanguageInline, SkillInline]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """Read and delete only: rows come from browsers. Deleting goes through the service, so
    the agent's `has_push` follows."""

    list_display = ["agent", "user_agent", "created_at", "last_success_at", "failure_count"]
    search_fields = ["agent__display_name", "agent__user__email"]
    readonly_fields = [
        "agent",
        "endpoint",
        "p256dh",
        "auth",
        "user_agent",
        "created_at",
        "last_success_at",
        "failure_count",
    ]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        push_subscription_record(subscription_id=obj.pk, ok=False, gone=True)

    def delete_queryset(self, request, queryset):
        for subscription_id in queryset.values_list("pk", flat=True):
            push_subscription_record(subscription_id=subscription_id, ok=False, gone=True)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Quality records are written by their services (audit-logged, with their rules); the
    admin only lists them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "agent", "brand", "reason", "state", "percent", "agent_response", "created_at"]
    list_filter = ["state", "reason", "agent_response", "brand"]
    search_fields = ["agent__display_name", "ticket__subject"]


@admin.register(QualityFlag)
class QualityFlagAdmin(ReadOnlyAdmin):
    list_display = ["agent", "kind", "state", "created_at", "closed_at"]
    list_filter = ["state", "kind"]


@admin.register(Sanction)
class SanctionAdmin(ReadOnlyAdmin):
    list_display = ["agent", "brand", "kind", "reason", "state", "issued_by", "created_at"]
    list_filter = ["kind", "reason", "state", "brand"]
    search_fields = ["agent__display_name"]


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ["sanction", "state", "decided_by", "created_at", "decided_at"]
    list_filter = ["state"]
