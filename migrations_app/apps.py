from django.apps import AppConfig


class MigrationsAppConfig(AppConfig):
    name = "migrations_app"
    verbose_name = "Migrations"
    default_auto_field = "django.db.models.BigAutoField"
