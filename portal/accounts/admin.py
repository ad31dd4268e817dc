from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.accounts.models import Site, User


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = (
        "username",
        "email",
        "site",
        "is_staff",
        "is_active",
        "role_names",
        "last_login",
    )
    list_filter = ("site", "groups", "is_staff", "is_superuser", "is_active")
    list_select_related = ("site",)
    readonly_fields = ("public_id", "last_login", "date_joined")
    fieldsets = (*UserAdmin.fieldsets, ("Site", {"fields": ("site",)}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Site", {"fields": ("site",)}))

    @admin.display(description="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")
