"""The Django side of the engine's ports (:mod:`engine.ports`).

- :class:`DjangoCheckpointStore`: run row, per-run items and the project ledger.
- :class:`DjangoEventSink`: live events on ``run-{id}``, after commit, secrets scrubbed.
- :class:`DjangoControlSignal`: the run's control flag, read cheaply at each checkpoint.

Each instance serves one run held by one worker (``owner``); writes to the run row
are conditional on still holding the lease, so a worker that lost its lease (it
was frozen past expiry and another took over) changes nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from engine.ports import Command, ItemRecord, Unsettled
from engine.ports import LedgerEntry as LedgerRecord
from migrations_app import events
from migrations_app.models import (
    Control,
    ItemStatus,
    LedgerEntry,
    MigrationRun,
    PendingWrite,
    RunDocument,
    RunItem,
    RunPlanItem,
    RunStatus,
    RunType,
)
from migrations_app.run_digest import digest_of
from migrations_app.services import run_heartbeat

REDACTED = "[redacted]"
ITEM_BATCH = 500  # rows a statement when the run's items are saved
ITEM_FIELDS = (
    "ado_type",
    "ado_url",
    "jira_key",
    "jira_id",
    "jira_url",
    "status",
    "error",
    "attempts",
    "updated_at",
)


class Scrubber:
    """Removes the run's secrets from any text or JSON the engine hands back."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return value

    def json(self, value: Any) -> Any:
        if not self._secrets:
            return value
        dumped = json.dumps(value, default=str)
        scrubbed = self.text(dumped)
        return value if scrubbed == dumped else json.loads(scrubbed)


def jira_browse_url(target_base_url: str, key: str) -> str:
    return f"{target_base_url.rstrip('/')}/browse/{key}" if key else ""


class DjangoCheckpointStore:
    def __init__(
        self,
        run: MigrationRun,
        owner: str,
        scrubber: Scrubber,
        *,
        lease_seconds: float | None = None,
    ) -> None:
        self.run_id: uuid.UUID = run.pk
        self.project_id: uuid.UUID = run.project_id
        self.owner = owner
        self.scrub = scrubber
        self._jira_base = str(run.target.get("base_url", ""))
        self._rollback = run.type == RunType.ROLLBACK
        lease = lease_seconds if lease_seconds is not None else settings.MIGRATOR_LEASE_SECONDS
        # Renewing at most every quarter lease keeps checkpoints cheap; a lease renewed
        # that recently cannot have expired, so nobody can have taken it over.
        self._renew_every = lease / 4
        self._renewed_at = time.monotonic()
        self._lost = False

    def _mine(self) -> Any:
        return MigrationRun.objects.filter(pk=self.run_id, lease_owner=self.owner)

    def heartbeat(self) -> bool:
        if self._lost:
            return False
        now = time.monotonic()
        if now - self._renewed_at < self._renew_every:
            return True
        if not run_heartbeat(self.run_id, self.owner):
            self._lost = True
            return False
        self._renewed_at = now
        return True

    def set_phase(self, phase: int) -> None:
        self._mine().update(current_phase=phase, updated_at=timezone.now())

    def set_total(self, total: int) -> None:
        self._mine().update(total_count=total, updated_at=timezone.now())

    def _save_document(self, document: dict[str, Any], **run_fields: Any) -> bool:
        """Write the plan or report (and ``run_fields`` on the run row) while the lease is
        held; a worker that lost its lease writes nothing."""
        with transaction.atomic():
            if not self._mine().update(updated_at=timezone.now(), **run_fields):
                return False
            RunDocument.objects.update_or_create(run_id=self.run_id, defaults=document)
        return True

    def save_plan(self, plan: dict[str, Any]) -> None:
        self._save_document({"plan": self.scrub.json(plan)})

    def load_plan(self) -> dict[str, Any] | None:
        rows = RunDocument.objects.filter(run_id=self.run_id).values_list("plan", flat=True)
        plan = rows.first()
        return plan if isinstance(plan, dict) else None

    def save_plan_items(self, rows: Iterable[dict[str, Any]]) -> None:
        with transaction.atomic():
            if not self._mine().update(updated_at=timezone.now()):
                return  # the lease is lost: a worker that lost it writes nothing
            RunPlanItem.objects.filter(run_id=self.run_id).delete()
            numbered = enumerate(rows)
            while batch := list(islice(numbered, ITEM_BATCH)):
                RunPlanItem.objects.bulk_create(
                    RunPlanItem(run_id=self.run_id, seq=n, data=self.scrub.json(row))
                    for n, row in batch
                )

    def load_plan_items(self) -> Iterator[dict[str, Any]]:
        rows = RunPlanItem.objects.filter(run_id=self.run_id).order_by("seq")
        yield from rows.values_list("data", flat=True).iterator(chunk_size=2000)

    def load_items(self) -> dict[int, ItemRecord]:
        return {
            row.ado_id: ItemRecord(
                ado_id=row.ado_id,
                ado_type=row.ado_type,
                ado_url=row.ado_url,
                status=row.status,  # type: ignore[arg-type]
                jira_key=row.jira_key or None,
                jira_id=row.jira_id or None,
                error=row.error,
                attempts=row.attempts,
            )
            for row in RunItem.objects.filter(run_id=self.run_id).iterator(chunk_size=2000)
        }

    def save_items(self, records: Iterable[ItemRecord]) -> None:
        """Upsert the records, ``ITEM_BATCH`` rows a statement, in one transaction: the
        rows of a large run are never all built at once."""
        now = timezone.now()
        batches = iter(records)
        wrote = False
        with transaction.atomic():
            while batch := list(islice(batches, ITEM_BATCH)):
                # one statement may not touch a row twice (PostgreSQL): the last wins
                rows = {r.ado_id: self._item_row(r, now) for r in batch}
                RunItem.objects.bulk_create(
                    rows.values(),
                    update_conflicts=True,
                    unique_fields=["run", "ado_id"],
                    update_fields=list(ITEM_FIELDS),
                )
                wrote = True
            if wrote:
                self._update_counters()

    def _item_row(self, r: ItemRecord, now: datetime) -> RunItem:
        return RunItem(
            run_id=self.run_id,
            ado_id=r.ado_id,
            ado_type=r.ado_type[:128],
            ado_url=r.ado_url[:1000],
            jira_key=r.jira_key or "",
            jira_id=r.jira_id or "",
            jira_url=jira_browse_url(self._jira_base, r.jira_key or ""),
            status=r.status,
            error=self.scrub.text(r.error or ""),
            attempts=r.attempts,
            updated_at=now,
        )

    def _update_counters(self) -> None:
        counts = RunItem.objects.filter(run_id=self.run_id).aggregate(
            created=Count("pk", filter=Q(status=ItemStatus.CREATED)),
            updated=Count("pk", filter=Q(status=ItemStatus.UPDATED)),
            removed=Count("pk", filter=Q(status=ItemStatus.REMOVED)),
            skipped=Count("pk", filter=Q(status=ItemStatus.SKIPPED)),
            failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
        )
        done = sum(counts.values())
        total = MigrationRun.objects.values_list("total_count", flat=True).get(pk=self.run_id)
        percent = min(100, done * 100 // total) if total else 0
        self._mine().update(
            # a rollback's successes are its removals
            success_count=counts["created"] + counts["updated"] + counts["removed"],
            updated_count=counts["updated"],
            skipped_count=counts["skipped"],
            failure_count=counts["failed"],
            progress_percent=percent,
            updated_at=timezone.now(),
        )

    def load_ledger(self) -> dict[int, LedgerRecord]:
        return {
            row.ado_id: LedgerRecord(
                ado_id=row.ado_id,
                jira_key=row.jira_key,
                jira_id=row.jira_id,
                ado_rev=row.ado_rev,
                comments=dict(row.comments or {}),
                attachments=dict(row.attachments or {}),
                links=list(row.links or []),
                state=row.state,
                extra=dict(row.extra or {}),
            )
            for row in LedgerEntry.objects.filter(project_id=self.project_id).iterator(
                chunk_size=2000
            )
        }

    def save_ledger(self, entries: Iterable[LedgerRecord]) -> None:
        now = timezone.now()
        rows = {
            e.ado_id: LedgerEntry(
                project_id=self.project_id,
                ado_id=e.ado_id,
                jira_key=e.jira_key,
                jira_id=e.jira_id,
                ado_rev=e.ado_rev,
                comments=dict(e.comments),
                attachments=dict(e.attachments),
                links=list(e.links),
                state=e.state,
                extra=dict(e.extra),
                updated_at=now,
            )
            for e in entries
        }
        if not rows:
            return
        LedgerEntry.objects.bulk_create(
            rows.values(),
            batch_size=500,
            update_conflicts=True,
            unique_fields=["project", "ado_id"],
            update_fields=[
                "jira_key",
                "jira_id",
                "ado_rev",
                "comments",
                "attachments",
                "links",
                "state",
                "extra",
                "updated_at",
            ],
        )

    def forget_ledger(self, ado_ids: Iterable[int]) -> None:
        ids = list(ado_ids)
        if ids:
            LedgerEntry.objects.filter(project_id=self.project_id, ado_id__in=ids).delete()

    def save_report(self, report: dict[str, Any]) -> None:
        scrubbed = self.scrub.json(report)
        digest = digest_of(scrubbed, rollback=self._rollback).to_json()
        self._save_document({"report": scrubbed}, report_digest=digest)

    def load_unsettled(self) -> list[Unsettled]:
        rows = PendingWrite.objects.filter(project_id=self.project_id)
        return [Unsettled(r.key, r.ado_id, r.since, r.deadline) for r in rows]

    def save_unsettled(self, marks: Iterable[Unsettled], cleared: Iterable[str]) -> None:
        gone = list(cleared)
        rows = [
            PendingWrite(
                project_id=self.project_id,
                key=m.key,
                ado_id=m.ado_id,
                since=m.since,
                deadline=m.deadline,
            )
            for m in marks
        ]
        with transaction.atomic():
            if gone:
                PendingWrite.objects.filter(project_id=self.project_id, key__in=gone).delete()
            if rows:
                PendingWrite.objects.bulk_create(
                    rows,
                    update_conflicts=True,
                    unique_fields=["project", "key"],
                    update_fields=["ado_id", "since", "deadline", "updated_at"],
                )

    def release(self) -> None:
        """Give this thread's database connections back (to the pool, with PostgreSQL):
        a phase thread that ends must not keep one the pool counts as taken."""
        connections.close_all()


class DjangoEventSink:
    """Seed payloads on ``run-{id}``; progress throttled, and persisted as the run's speed."""

    def __init__(self, run_id: uuid.UUID, scrubber: Scrubber, *, min_interval: float | None = None):
        self.run_id = run_id
        self.scrub = scrubber
        self._min_interval = (
            min_interval if min_interval is not None else settings.MIGRATOR_PROGRESS_EVENT_INTERVAL
        )
        self._last_progress = float("-inf")

    def progress(self, current: int, total: int, speed: float) -> None:
        now = time.monotonic()
        if now - self._last_progress < self._min_interval and current < total:
            return
        self._last_progress = now
        MigrationRun.objects.filter(pk=self.run_id).update(speed=round(float(speed), 2))
        events.publish_progress(self.run_id, current, total, speed)

    def log(self, message: str) -> None:
        events.publish_log(self.run_id, self.scrub.text(str(message)))

    def status(self, status: str) -> None:
        events.publish_status(self.run_id, str(status))

    def done(self, stats: dict[str, int]) -> None:
        events.publish_done(self.run_id, stats)


class DjangoControlSignal:
    """Pause or cancel requested? One indexed single-row read, at most every ``min_interval``."""

    def __init__(self, run_id: uuid.UUID, *, min_interval: float = 0.2) -> None:
        self.run_id = run_id
        self._min_interval = min_interval
        self._read_at = float("-inf")
        self._last: Command = "run"

    def poll(self) -> Command:
        now = time.monotonic()
        if now - self._read_at < self._min_interval:
            return self._last
        self._read_at = now
        row = MigrationRun.objects.filter(pk=self.run_id).values_list("control", "status").first()
        if row is None:
            self._last = "cancel"  # the run (or its project) was deleted
        else:
            control, status = row
            if control == Control.CANCEL or status in (RunStatus.CANCELLED, RunStatus.FAILED):
                self._last = "cancel"
            elif control == Control.PAUSE or status == RunStatus.PAUSED:
                self._last = "pause"
            else:
                self._last = "run"
        return self._last
