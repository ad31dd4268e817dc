"""Models in force and candidates (history kept), and the candidates' shadow screens."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0007_study_site_gate_distance"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ModelDeployment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "in_force",
                    models.CharField(
                        help_text="The model new predictions are made with.", max_length=64
                    ),
                ),
                (
                    "candidate",
                    models.CharField(
                        blank=True,
                        help_text="Screened in shadow beside the model in force.",
                        max_length=64,
                    ),
                ),
                ("previous", models.CharField(blank=True, max_length=64)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("candidate_set", "Candidate registered"),
                            ("candidate_clear", "Candidate cleared"),
                            ("promote", "Candidate promoted"),
                            ("rollback", "Rolled back"),
                        ],
                        max_length=16,
                    ),
                ),
                ("note", models.TextField(blank=True)),
                ("changed", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "changed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "model deployment",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="ShadowPrediction",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("model_name", models.CharField(max_length=64)),
                ("model_version", models.CharField(blank=True, max_length=64)),
                ("accepted", models.BooleanField()),
                ("reason", models.TextField(blank=True)),
                ("label", models.CharField(blank=True, max_length=16)),
                ("decision", models.CharField(blank=True, max_length=16)),
                ("operating_point", models.CharField(blank=True, max_length=32)),
                ("thresholds", models.JSONField(blank=True, null=True)),
                ("probabilities", models.JSONField(blank=True, null=True)),
                ("timings_ms", models.JSONField(blank=True, default=dict)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="shadow_predictions",
                        to="screening.image",
                    ),
                ),
            ],
            options={
                "ordering": ["-created"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("image", "model_name"), name="one_shadow_per_model"
                    )
                ],
            },
        ),
    ]
