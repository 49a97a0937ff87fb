from django.apps import AppConfig
from django.db.models.signals import post_delete


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "Migrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from migrations_app import schedules
        from migrations_app.models import SyncSchedule

        post_delete.connect(
            schedules.drop_periodic_task, sender=SyncSchedule, dispatch_uid="schedule-beat-entry"
        )
