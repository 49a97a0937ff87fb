"""Move each run's plan and report to RunDocument and keep a bounded digest on the run."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q

from migrations_app.run_digest import digest_of


def move_documents(apps: Any, schema_editor: Any) -> None:
    run_model = apps.get_model("migrations_app", "MigrationRun")
    document_model = apps.get_model("migrations_app", "RunDocument")
    runs = run_model.objects.filter(Q(plan__isnull=False) | Q(report__isnull=False))
    for run in runs.only("pk", "type", "plan", "report").iterator(chunk_size=50):
        document_model.objects.update_or_create(
            run_id=run.pk, defaults={"plan": run.plan, "report": run.report}
        )
        digest = digest_of(run.report, rollback=run.type == "ROLLBACK").to_json()
        run_model.objects.filter(pk=run.pk).update(report_digest=digest)


def restore_documents(apps: Any, schema_editor: Any) -> None:
    run_model = apps.get_model("migrations_app", "MigrationRun")
    document_model = apps.get_model("migrations_app", "RunDocument")
    for document in document_model.objects.iterator(chunk_size=50):
        run_model.objects.filter(pk=document.run_id).update(
            plan=document.plan, report=document.report
        )


class Migration(migrations.Migration):
    dependencies = [
        ("migrations_app", "0005_merge_rollback"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunDocument",
            fields=[
                (
                    "run",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="document",
                        serialize=False,
                        to="migrations_app.migrationrun",
                    ),
                ),
                ("plan", models.JSONField(blank=True, null=True)),
                ("report", models.JSONField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name="migrationrun",
            name="report_digest",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(move_documents, restore_documents),
        migrations.RemoveField(model_name="migrationrun", name="plan"),
        migrations.RemoveField(model_name="migrationrun", name="report"),
    ]
