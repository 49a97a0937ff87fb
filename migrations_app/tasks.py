"""Celery tasks: thin interfaces that take ids and call one function.

Each is idempotent: a duplicate or redelivered message finds the run claimed,
finished or gone (a delivery delivered, given up or in flight; a schedule's tick
already done) and does nothing. State lives in the database; results are ignored.
"""

from __future__ import annotations

import os

from celery import Task, shared_task

from migrations_app import dispatch, runner, schedules, services
from migrations_app.webhooks import services as webhook_services


@shared_task(
    bind=True,
    name=dispatch.RUN_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_migration(self: Task, run_id: str) -> str:
    owner = f"{self.request.hostname or 'worker'}:{os.getpid()}:{self.request.id}"
    return runner.execute_run(run_id, owner).value


@shared_task(name="migrations.sweep_stale_runs", ignore_result=True, acks_late=True)
def sweep_stale_runs() -> int:
    return len(services.sweep_stale_runs())


@shared_task(
    bind=True,
    name=dispatch.DELIVER_WEBHOOK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # The attempts are counted in the database (MIGRATOR_WEBHOOK_MAX_ATTEMPTS), not here.
    max_retries=None,
)
def deliver_webhook(self: Task, delivery_id: str) -> None:
    delay = webhook_services.delivery_attempt(delivery_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(name="migrations.sweep_webhook_deliveries", ignore_result=True, acks_late=True)
def sweep_webhook_deliveries() -> int:
    return len(webhook_services.sweep_deliveries())


@shared_task(name="migrations.schedule_tick", ignore_result=True, acks_late=True)
def schedule_tick(project_id: str) -> str:
    """Fired by celery beat for a project's schedule (see migrations_app.schedules)."""
    outcome = schedules.schedule_tick(project_id)
    return outcome.value if outcome else "nothing to do"
