from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from .models import ApiToken, AuditEvent, Brand, BrandApiKey, User


def admin_login(request, extra_context=None):
    """Django's admin login form checks the password only; allauth's also asks for the
    second factor and counts failed attempts. So the admin sends people there instead."""
    next_url = request.GET.get("next") or request.POST.get("next") or "/admin/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/admin/"
    if request.user.is_authenticated:
        if admin.site.has_permission(request):
            return redirect(next_url)
        # allauth would send a logged-in user straight back to `next`: a redirect loop.
        raise PermissionDenied("The admin is for platform staff.")
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': next_url})}")


def staff_only(request) -> bool:
    """Platform staff only. The admin lists every brand's tickets, agents and earnings, so a
    supervisor (who sees their own brands' applicants) has no place in it, even if someone
    ticks "staff status" on their account."""
    return request.user.is_authenticated and request.user.is_platform_staff


# Deliberately patched on the default site instance (every app registers there), which mypy
# flags for any assignment to a method.
admin.site.login = admin_login  # type: ignore[method-assign]
admin.site.has_permission = staff_only  # type: ignore[method-assign]


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
    """Only the prefix identifies a key here; the key itself was shown once at creation."""

    model = BrandApiKey
    fields = ["label", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        # A key made here would never be shown to anyone; `create_brand_api_key` prints it.
        return False


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "currency"]
    inlines = [BrandApiKeyInline]
    filter_horizontal = ["supervisors"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """People's API login tokens: who holds one and until when. Deleting one revokes it.
    The token is never shown (only its hash is stored; the hash is the row's key)."""

    list_display = ["user", "created", "expiry"]
    fields = readonly_fields = ("user", "created", "expiry")
    search_fields = ["user__email"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: rows are written by `marketplace.audit.audit_record` and the
    database refuses to change or delete them."""

    list_display = ["created_at", "action", "actor", "brand", "target_type", "target_id", "ip"]
    list_filter = ["action", "brand"]
    search_fields = ["action", "actor__email", "target_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "brand"]
    fields = ("created_at", "action", "actor", "brand", "target_type", "target_id", "detail", "ip")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
