"""Create the pacs role: a PACS's service account, which may only send studies (STOW-RS)."""

from django.db import migrations


def role_create(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="pacs")


def role_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="pacs").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles")]
    operations = [migrations.RunPython(role_create, role_delete)]
