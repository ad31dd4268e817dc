"""Sites: every account belongs to one; existing accounts join the default site."""

import django.db.models.deletion
from django.db import migrations, models

DEFAULT_SITE = {"slug": "default", "name": "Default site"}


def users_site_fill(apps, schema_editor):
    site_model = apps.get_model("accounts", "Site")
    site, _ = site_model.objects.get_or_create(
        slug=DEFAULT_SITE["slug"], defaults={"name": DEFAULT_SITE["name"]}
    )
    apps.get_model("accounts", "User").objects.filter(site__isnull=True).update(site=site)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_pacs_role")]
    operations = [
        migrations.CreateModel(
            name="Site",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slug", models.SlugField(max_length=48, unique=True)),
                ("name", models.CharField(max_length=120)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.AddField(
            model_name="user",
            name="site",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="users",
                to="accounts.site",
            ),
        ),
        migrations.RunPython(users_site_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="users",
                to="accounts.site",
            ),
        ),
    ]
