"""Studies belong to their owner's site (existing ones: the owner's, i.e. the default site);
predictions keep the gate's distance to the training films for the drift watch."""

import django.db.models.deletion
from django.db import migrations, models


def studies_site_fill(apps, schema_editor):
    study_model = apps.get_model("screening", "Study")
    user_model = apps.get_model("accounts", "User")
    owners_site = user_model.objects.filter(pk=models.OuterRef("owner_id")).values("site_id")[:1]
    study_model.objects.filter(site__isnull=True).update(site_id=models.Subquery(owners_site))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_site"),
        ("screening", "0006_prediction_decision_operating_point"),
    ]
    operations = [
        migrations.AddField(
            model_name="study",
            name="site",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="studies",
                to="accounts.site",
            ),
        ),
        migrations.RunPython(studies_site_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="study",
            name="site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="studies",
                to="accounts.site",
            ),
        ),
        migrations.AddIndex(
            model_name="study",
            index=models.Index(fields=["site", "-created"], name="study_site_created"),
        ),
        migrations.AddField(
            model_name="prediction",
            name="gate_distance",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
