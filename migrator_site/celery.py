"""The Celery application of the service (``celery -A migrator_site worker``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "migrator_site.settings")

app = Celery("migrator_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
