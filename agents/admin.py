from django.contrib import admin

from .models import AgentLanguage, AgentProfile, AgentSkill, PushSubscription
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
    readonly_fields = [
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
