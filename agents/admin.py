from django.contrib import admin

from .models import AgentLanguage, AgentProfile, AgentSkill


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
    readonly_fields = ["status", "load", "connections", "disconnected_at", "last_assigned_at", "consecutive_timeouts"]
    inlines = [LanguageInline, SkillInline]
