from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from portal.accounts.models import User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "role_names", "last_login")
    list_filter = ("groups", "is_staff", "is_superuser", "is_active")
    readonly_fields = ("public_id", "last_login", "date_joined")

    @admin.display(description="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")
