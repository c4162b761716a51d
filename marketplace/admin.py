from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Brand, BrandApiKey, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "role", "is_staff", "is_active"]
    list_filter = ["role", "is_staff", "is_active"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password", "role")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),)


class BrandApiKeyInline(admin.TabularInline):
    model = BrandApiKey
    fields = ["label", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]
    extra = 0
    can_delete = False


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "currency"]
    inlines = [BrandApiKeyInline]
    filter_horizontal = ["supervisors"]
