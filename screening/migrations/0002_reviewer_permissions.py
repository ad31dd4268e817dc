"""Give the reviewer group its admin permissions: read studies, images, predictions and the
audit log; add, change and read reviews."""

from django.db import migrations

REVIEWER_PERMISSIONS = (
    "view_study",
    "view_image",
    "view_prediction",
    "view_auditevent",
    "add_review",
    "change_review",
    "view_review",
)


def permissions_grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate): create them now.
    app_config = apps.get_app_config("screening")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="reviewer")
    permissions = Permission.objects.filter(
        content_type__app_label="screening", codename__in=REVIEWER_PERMISSIONS
    )
    group.permissions.add(*permissions)


def permissions_revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="reviewer").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="screening", codename__in=REVIEWER_PERMISSIONS
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0001_initial"),
        ("accounts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(permissions_grant, permissions_revoke)]
