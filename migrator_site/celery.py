"""The Celery application of the service (``celery -A migrator_site worker``).

Without REDIS_URL (embedded mode) the broker is kombu's ``filesystem://`` under
``var/queue`` and the worker must run with ``--pool=solo``. Every worker sweeps
stale runs at start-up and every ``MIGRATOR_SWEEP_SECONDS`` (see
migrations_app.worker). ``celery -A migrator_site beat`` (one per installation)
fires the projects' scheduled delta syncs from the database (django-celery-beat's
DatabaseScheduler, see migrations_app.schedules) and the sweep as well.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "migrator_site.settings")

app = Celery("migrator_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    from migrations_app.worker import start_sweeper

    start_sweeper()


@worker_shutting_down.connect
def _stop_sweeper(**_: Any) -> None:
    from migrations_app.worker import stop_sweeper

    stop_sweeper()
