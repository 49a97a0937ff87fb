"""Arrangement helper: give a run a report as the engine bridge stores one."""

from __future__ import annotations

from typing import Any


def with_report(run: Any, report: dict[str, Any] | None) -> Any:
    """Store ``report`` in the run's document and its digest on the run; the run, reloaded."""
    from migrations_app.models import MigrationRun, RunDocument, RunType
    from migrations_app.run_digest import digest_of

    RunDocument.objects.update_or_create(run_id=run.pk, defaults={"report": report})
    digest = digest_of(report, rollback=run.type == RunType.ROLLBACK).to_json()
    MigrationRun.objects.filter(pk=run.pk).update(report_digest=digest)
    run.refresh_from_db()
    return run
