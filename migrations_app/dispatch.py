"""Enqueueing: the one place that puts a task on the broker.

Tasks are sent by their registered names (declared in :mod:`migrations_app.tasks`),
so the services that enqueue work never import the tasks, which import the
runner, which imports the services. This module holds no logic and lets a
broker error through to its caller, who decides what a refused task means.
"""

from __future__ import annotations

import uuid
from typing import Any

from migrator_site.celery import app

RUN_TASK = "migrations.run"
DELIVER_WEBHOOK_TASK = "migrations.deliver_webhook"


def _send(name: str, object_id: uuid.UUID | str, countdown: float | None) -> None:
    options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
    app.send_task(name, args=(str(object_id),), **options)


def send_run(run_id: uuid.UUID | str, countdown: float | None = None) -> None:
    """Enqueue the run's task (raises when the broker cannot take it)."""
    _send(RUN_TASK, run_id, countdown)


def send_webhook_delivery(delivery_id: uuid.UUID | str, countdown: float | None = None) -> None:
    """Enqueue one attempt of a webhook delivery (raises when the broker cannot take it)."""
    _send(DELIVER_WEBHOOK_TASK, delivery_id, countdown)
