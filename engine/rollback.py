"""A rollback run: ``run_rollback`` removes from Jira what one migration run wrote.

Phases (``store.set_phase``; :data:`PHASES` names them in the report):

1. plan the rollback (``engine.rollback_plan``): read the run's share of the
   ledger (``engine.provenance``) and Jira once, decide what is removed and what is
   left (with the reason); check whether the account may bulk delete
   (``GET /mypermissions``: ``BULK_CHANGE`` and ``DELETE_ISSUES``). Writes of
   earlier runs whose outcome is still unknown are waited out first (a create that
   lands after the plan would be left behind). A dry run stops here: its report
   holds what would be removed, with counts per kind.
2. remove what the run added to issues it did not create: comments, attachments,
   issue links, remote links, one by one (Jira has no bulk endpoint for them).
3. remove the issues the run created, sub-tasks first, then standard issues,
   then epics: by bulk delete when permitted, else one by one
   (``engine.rollback_remove``).
4. verify: the removed issues are not found in Jira any more.

Exactly once (``engine.rollback_remove`` has the details): each removal is
recorded as it succeeds, in the plan (the target's state) and in the ledger,
which forgets what was removed (the entry of a removed issue, the comment, file
or link of a kept one, and the per-phase steps that said they were written), so
a later FULL run creates it again cleanly. The intent is saved before a group of
removals leaves; a removal whose answer was lost, or that a dead worker may have
had in flight, settles (``engine.settle``), then is looked up (404 = done) before
anything is sent again. Checkpoints (heartbeat, saves, progress, pause/cancel)
come at least every second, as in the pipeline; a lost lease stops the run at once.

Items: one row per ADO work item the run wrote to: REMOVED (what the run wrote
was removed), SKIPPED (nothing removable: left, with the reason, or already gone),
FAILED (Jira refused a removal), PENDING. ``done.stats`` holds ``removed`` besides
``created`` (always 0), ``skipped`` and ``failed``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine import provenance
from engine.errors import AuthError, BlockedAddress, EngineError, PermanentError
from engine.itembook import ItemBook
from engine.pipeline.cadence import Cadence, StopState
from engine.pipeline.limits import POLL_SECONDS
from engine.pipeline.stops import StopRun, run_guarded
from engine.ports import (
    CheckpointStore,
    ControlSignal,
    EventSink,
    FinalStatus,
    ItemRecord,
    JiraTarget,
    LedgerEntry,
    RollbackSpec,
    RunOutcome,
)
from engine.rollback_plan import (
    PLAN_VERSION,
    BulkIntent,
    Planner,
    RollbackPlan,
    Target,
    TargetState,
    link_ends,
)
from engine.rollback_remove import Remover
from engine.rollback_report import build_rollback_report
from engine.settle import SettleBook

PHASES: dict[int, str] = {
    1: "plan the rollback",
    2: "remove added content",
    3: "remove issues",
    4: "verify removal",
}
BULK_PERMISSIONS = ("BULK_CHANGE", "DELETE_ISSUES")


@dataclass
class RollbackPorts:
    target: JiraTarget
    store: CheckpointStore
    events: EventSink
    control: ControlSignal


def run_rollback(
    spec: RollbackSpec,
    *,
    target: JiraTarget,
    store: CheckpointStore,
    events: EventSink,
    control: ControlSignal,
) -> RunOutcome:
    """Run (or resume) one rollback run; see the module docstring."""
    return Rollback(spec, RollbackPorts(target, store, events, control)).execute()


class Rollback:
    """One execution of ``run_rollback`` (a resumed rollback is a new one)."""

    def __init__(self, spec: RollbackSpec, ports: RollbackPorts) -> None:
        self.spec, self.ports = spec, ports
        self.target, self.store = ports.target, ports.store
        self.project_key = spec.project_key
        self.token = uuid.uuid4().hex
        self.lock = threading.RLock()
        self.stop = StopState()
        self.plan = RollbackPlan(of_run=spec.of_run, account_id="")
        self.ledger: dict[int, LedgerEntry] = {}
        self.dirty: set[int] = set()
        self.forgotten: set[int] = set()
        self.records: dict[int, ItemRecord] = {}
        self.saved: dict[int, tuple[str, str, str | None]] = {}  # what the store has per item
        self.settle = SettleBook(spec.settle_seconds)
        self.remover = Remover(self, set())
        self.phase = 0
        self.logs: list[str] = []
        self.verification: dict[str, Any] | None = None
        self.started = time.monotonic()
        self.cadence = Cadence(ports.store, ports.control, self.stop, self._save_progress)
        self.cadence.last_checkpoint = 0.0  # the first checkpoint is due at once
        self.items = {i.ado_id: i for i in spec.items}
        self.planned = False  # the plan is saved only once it is whole
        self.tally_base: dict[str, dict[str, int]] = {}  # tallies of earlier processes
        self.plan_dirty = False
        self.link_refs: dict[int, set[int]] = {}  # ADO id -> entries with a link to it
        self.by_ado: dict[int, list[Target]] = {}
        self.listed_by_ado: dict[int, list[str]] = {}

    # ------------------------------------------------------------------ entry
    def execute(self) -> RunOutcome:
        self.target.set_stop_check(self.stop.is_set)
        return run_guarded(
            self._run,
            reason_of=lambda: self.stop.reason,
            stopped=self._stopped,
            fail=self._fail,
            # EngineError: Jira could not be read, the rollback cannot go on
            fatal=(AuthError, BlockedAddress, EngineError),
            describe=_failure,
        )

    def _run(self) -> RunOutcome:
        self._load_or_plan()
        if self.spec.dry_run:
            return self._finish(dry=True)
        for number, phase in (
            (2, self._remove_content),
            (3, self._remove_issues),
            (4, self._verify),
        ):
            if number in self.plan.phases_done:
                continue
            self._enter(number)
            phase()
            self.checkpoint(force=True)
            self.raise_if_stopped()
            self.plan.phases_done.append(number)
            self._save_report("RUNNING")
            self.save_now()
        return self._finish()

    def _enter(self, number: int) -> None:
        self.phase = number
        self.store.set_phase(number)

    # ------------------------------------------------------------------ phase 1
    def _load_or_plan(self) -> None:
        self.ledger = self.store.load_ledger()
        self.settle = SettleBook(self.spec.settle_seconds, self.store.load_unsettled())
        raw = self.store.load_plan()
        if raw and raw.get("rollback") and raw.get("version") == PLAN_VERSION:
            self.plan = RollbackPlan.from_dict(raw)
            self.planned = True
            self.tally_base = {w: dict(k) for w, k in self.plan.tallies.items()}
            self.records = self.store.load_items()
            self.saved = {i: (r.status, r.error, r.jira_key) for i, r in self.records.items()}
            self._index()
            for ado_id in self.plan.items:
                self.records.setdefault(ado_id, self._record(ado_id))
            if self.plan.live and self.plan.live != self.token:
                self._mark_open_intents()
            self._go_live()
            return
        self._enter(1)
        me = str(self.target.myself().get("accountId") or "")
        try:
            self.target.get_project(self.project_key)
        except PermanentError as exc:
            if isinstance(exc, AuthError):
                raise
            raise StopRun("FAILED", f"target project {self.project_key}: {exc}") from exc
        self._wait_for_earlier_writes()
        self.plan = Planner(self.spec, self.target, self.ledger, me, self.checkpoint).build()
        self.planned = True
        self._bulk_permission()
        self._index()
        self.store.set_total(len(self.plan.items))
        self.records = {i: self._record(i) for i in self.plan.items}
        if not self.spec.dry_run:
            self._go_live()
        else:
            self.save_now()
        counts = self.plan.counts()["remove"]
        self.log(
            f"Plan: {counts['issue']} issues, {counts['comment']} comments, "
            f"{counts['attachment']} attachments, {counts['link']} links, "
            f"{counts['remote_link']} remote links "
            + ("would be removed" if self.spec.dry_run else "to remove")
            + f"; {sum(1 for t in self.plan.targets if t.state == 'left')} left"
        )
        self._save_report("RUNNING")

    def _wait_for_earlier_writes(self) -> None:
        """A write of an earlier run whose outcome is unknown may still land: wait it out."""
        marks = [m for k in self.settle.keys(prefix="") if (m := self.settle.get(k)) is not None]
        until = max((m.deadline for m in marks), default=0.0)
        if until > self.settle.clock():
            self.log(
                f"Waiting {until - self.settle.clock():.0f} s for earlier writes whose "
                "outcome is unknown to settle"
            )
        while until > self.settle.clock():
            self.stop.wait(min(POLL_SECONDS, until - self.settle.clock()))
            self.checkpoint()
            self.raise_if_stopped()

    def _bulk_permission(self) -> None:
        try:
            held = self.target.my_permissions(self.project_key, BULK_PERMISSIONS)
        except EngineError as exc:
            self.plan.bulk, self.plan.bulk_reason = False, f"permissions unknown: {exc}"[:300]
            return
        missing = [k for k in BULK_PERMISSIONS if not held.get(k)]
        self.plan.bulk = not missing
        self.plan.bulk_reason = (
            f"the account lacks {', '.join(missing)}"
            if missing
            else "the account holds BULK_CHANGE and DELETE_ISSUES"
        )

    def _go_live(self) -> None:
        self.plan.live = self.token
        self.save_now()

    def _mark_open_intents(self) -> None:
        """The process before us died: a removal it had open may still land."""
        marked = 0
        for t in self.plan.targets:
            if t.state == "sending":
                self.settle.mark(t.settle_key, t.ado_id)
                marked += 1
        if marked:
            self.log(
                f"Taking over: {marked} removal(s) of the previous worker may still be in "
                f"flight; held for {self.spec.settle_seconds:g} s, then looked up"
            )

    # ------------------------------------------------------------------ phases 2 to 4
    def _remove_content(self) -> None:
        self.remover.one_by_one([t for t in self.plan.targets if t.kind != "issue" and t.open])

    def _remove_issues(self) -> None:
        issues = [t for t in self.plan.targets if t.kind == "issue" and t.open]
        for level in sorted({t.level for t in issues}):
            batch = [t for t in issues if t.level == level and t.open]
            rest = self.remover.bulk(batch) if self.plan.bulk or self.plan.bulk_task else batch
            self.remover.one_by_one(rest)

    def _verify(self) -> None:
        removed = [t for t in self.plan.targets if t.kind == "issue" and t.state == "done"]
        still = sorted(self.remover.present(removed, confirm=False)) if removed else []
        counts = self.plan.counts()
        self.verification = {
            "method": "search/jql on the ado-{id} labels of the removed issues",
            "issuesRemoved": len(removed),
            "stillInJira": still,
            "failed": sum(counts["failed"].values()),
            "ok": not still,
        }
        for key in still:
            self.plan.problems.append(f"verify: {key} was removed but is still in Jira")
        self.log(
            f"Verify: {len(removed) - len(still)} of {len(removed)} removed issues are "
            "gone from Jira" + ("" if not still else f"; still there: {', '.join(still)}")
        )

    # ------------------------------------------------------------------ host for the remover
    def raise_if_stopped(self) -> None:
        self.stop.raise_if_stopped()

    def save_intents(self, targets: Sequence[Target], bulk: BulkIntent | None = None) -> None:
        with self.lock:
            for t in targets:
                if t.state == "todo":
                    t.state = "sending"
                    self.remover.fresh.add(t.settle_key)
            if bulk is not None:
                self.plan.bulk_task = bulk
        self.save_now()

    def save_now(self) -> None:
        self._flush(plan=True)

    def finish(self, target: Target, state: TargetState, reason: str = "") -> None:
        with self.lock:
            target.state = state
            target.reason = reason or (target.reason if state in ("left", "failed") else "")
            if state in ("done", "gone"):
                self._forget(target)
            self.cadence.count()
            self.plan_dirty = True
        what = f"{target.kind} {target.jira_id or target.ledger_key}"
        if target.kind == "issue":
            what = f"issue {target.issue_key}"
        if state == "done":
            self.log(f"✓ ADO #{target.ado_id}: {what} removed")
        elif state == "failed":
            self.log(f"✗ ADO #{target.ado_id}: {what} not removed: {target.reason}")
        elif state == "left":
            self.log(f"ADO #{target.ado_id}: {what} left: {target.reason}")

    def log(self, message: str) -> None:
        with self.lock:
            self.logs.append(message)

    # ------------------------------------------------------------------ the ledger forgets
    def _forget(self, t: Target) -> None:
        """What was removed (or is gone) leaves the ledger; the lock is held."""
        entry = self.ledger.get(t.ado_id)
        if entry is None or entry.jira_key != t.issue_key:
            return  # an issue no ledger knew (an orphan), or the entry went already
        if t.kind == "issue":
            self.ledger.pop(t.ado_id)
            self.forgotten.add(t.ado_id)
            self.dirty.discard(t.ado_id)
            self._unlink(t.ado_id)
            for key in self.settle.keys(prefix=""):
                mark = self.settle.get(key)
                if mark is not None and mark.ado_id == t.ado_id and not key.startswith("rm-"):
                    self.settle.settle(key)  # writes of the removed issue: nothing to wait for
            return
        if t.kind == "comment":
            entry.comments.pop(t.ledger_key, None)
        elif t.kind == "attachment":
            entry.attachments.pop(t.ledger_key, None)
            book = ItemBook.from_dict(entry.extra)
            book.attachment_urls.pop(t.ledger_key, None)
            entry.extra = book.to_dict()
        elif t.ledger_key in entry.links:
            entry.links.remove(t.ledger_key)
        self._reopen(entry, 5 if t.kind in ("link", "remote_link") else 4, t.ledger_key)

    def _unlink(self, ado_id: int) -> None:
        """Links to a removed issue went with it: the other ends' entries forget them."""
        for other in sorted(self.link_refs.get(ado_id, ())):
            entry = self.ledger.get(other)
            if entry is None:
                continue
            gone = [
                k for k in entry.links if (ends := link_ends(k)) is not None and ado_id in ends[1:]
            ]
            for key in gone:
                entry.links.remove(key)
                self._reopen(entry, 5, key)

    def _reopen(self, entry: LedgerEntry, phase: int, ledger_key: str) -> None:
        """The item is no longer fully written: the next run redoes ``phase`` for it."""
        book = ItemBook.from_dict(entry.extra)
        book.steps.pop(phase, None)
        if book.synced_rev is not None:
            book.synced_rev, book.resync = None, True
        writes = provenance.writes_of(book, self.spec.of_run)
        if writes is not None:
            for bucket in (writes.comments, writes.attachments, writes.links):
                if ledger_key in bucket:
                    bucket.remove(ledger_key)
        entry.extra = book.to_dict()
        self.dirty.add(entry.ado_id)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, *, force: bool = False) -> None:
        """Heartbeat, saves, progress and pause/cancel, on the pipeline's cadence."""
        self.cadence.checkpoint(force=force)

    def _save_progress(self) -> None:
        self._flush()
        self._flush_logs()
        self._progress()

    def _flush(self, *, plan: bool = False) -> None:
        """Ledger first, then the plan: a target the plan still shows open is looked up.

        The plan is saved when it changed (``plan``: in any case), and never before it is
        whole: a process taking over from a planning one plans again."""
        if self.stop.lease_lost:
            return
        with self.lock:
            entries = [self.ledger[i].snapshot() for i in sorted(self.dirty) if i in self.ledger]
            forgotten, self.forgotten = sorted(self.forgotten), set()
            self.dirty.clear()
            saved_plan = self.plan.to_dict() if self.planned and (plan or self.plan_dirty) else None
            self.plan_dirty = False
            records = self._changed_records() if self.planned else []
        if entries:
            self.store.save_ledger(entries)
        if forgotten:
            self.store.forget_ledger(forgotten)
        marks, cleared = self.settle.flush()
        if marks or cleared:
            self.store.save_unsettled(marks, cleared)
        if saved_plan is not None:
            self.store.save_plan(saved_plan)
        if records:
            self.store.save_items(records)

    def _flush_logs(self) -> None:
        with self.lock:
            logs, self.logs = self.logs, []
        for message in logs:
            self.ports.events.log(message)

    def _progress(self) -> None:
        with self.lock:
            total = len(self.records)
            current = sum(1 for r in self.records.values() if r.status != "PENDING")
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.ports.events.progress(current, total, round(current / elapsed, 1))

    # ------------------------------------------------------------------ items
    def _record(self, ado_id: int) -> ItemRecord:
        source = self.items.get(ado_id)
        record = ItemRecord(
            ado_id, source.ado_type if source else "", source.ado_url if source else ""
        )
        return self._update(record)

    def _index(self) -> None:
        self.link_refs = {}
        for entry in self.ledger.values():
            for key in entry.links:
                ends = link_ends(key)
                for end in ends[1:] if ends else ():
                    if end != entry.ado_id:
                        self.link_refs.setdefault(end, set()).add(entry.ado_id)
        self.by_ado, self.listed_by_ado = {}, {}
        for t in self.plan.targets:
            self.by_ado.setdefault(t.ado_id, []).append(t)
        for x in self.plan.listed:
            self.listed_by_ado.setdefault(x.ado_id, []).append(f"{x.issue_key}: {x.what}")

    def _update(self, record: ItemRecord) -> ItemRecord:
        mine = self.by_ado.get(record.ado_id, [])
        issue = next((t for t in mine if t.kind == "issue"), None)
        entry = self.ledger.get(record.ado_id)
        record.jira_key = (
            issue.issue_key if issue else (entry.jira_key if entry else record.jira_key)
        )
        reasons = [
            f"{t.kind} {t.jira_id or t.issue_key}: {t.reason}"
            for t in mine
            if t.state in ("left", "failed") and t.reason
        ]
        reasons += self.listed_by_ado.get(record.ado_id, [])
        if any(t.open for t in mine):
            record.status = "PENDING"
        elif any(t.state == "failed" for t in mine):
            record.status = "FAILED"
        elif any(t.state == "done" for t in mine):
            record.status = "REMOVED"
        else:
            record.status = "SKIPPED"
            if not reasons:
                reasons = [
                    "already gone from Jira" if mine else "nothing this run added can be removed"
                ]
        if self.spec.dry_run and record.status == "PENDING":
            record.status = "SKIPPED"
            reasons.insert(0, "dry run: nothing removed")
        record.error = "; ".join(reasons)[:2000]
        return record

    def _changed_records(self) -> list[ItemRecord]:
        out = []
        for ado_id, record in self.records.items():
            self._update(record)
            now = (record.status, record.error, record.jira_key)
            if self.saved.get(ado_id) != now:
                self.saved[ado_id] = now
                out.append(replace(record))
        return out

    def _stats(self) -> dict[str, int]:
        statuses = [r.status for r in self.records.values()]
        return {
            "created": 0,
            "removed": statuses.count("REMOVED"),
            "skipped": statuses.count("SKIPPED"),
            "failed": statuses.count("FAILED"),
        }

    # ------------------------------------------------------------------ outcomes
    def _tallies(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for what, mine in self.settle.snapshot().items():
            kinds = Counter(self.tally_base.get(what, {}))
            kinds.update(mine)
            out[what] = dict(sorted(kinds.items()))
        return out

    def _save_report(self, status: str, reason: str = "") -> None:
        with self.lock:
            self.plan.tallies = self._tallies()
            self.plan_dirty = True
        report = build_rollback_report(
            self.plan,
            self.spec,
            status=status,
            phase=self.phase,
            phases=PHASES,
            verification=self.verification,
            exactly_once=self.plan.tallies,
        )
        if reason:
            report["reason"] = reason
        self.store.save_report(report)

    def _finish(self, *, dry: bool = False) -> RunOutcome:
        if not dry:
            self.plan.live = ""
        self._flush(plan=True)
        stats = self._stats()
        status: FinalStatus = "PARTIAL" if stats["failed"] else "COMPLETED"
        self._save_report(status)
        self._flush(plan=True)  # with the final tallies
        self._flush_logs()
        self.ports.events.status(status.lower())
        self.ports.events.done(stats)
        return RunOutcome(status, stats)

    def _stopped(self, stop: StopRun) -> RunOutcome:
        if stop.lease_lost:
            return RunOutcome("PAUSED", self._stats(), stop.reason)
        if stop.status == "FAILED":
            return self._fail(stop.reason)
        self.plan.live = ""
        self._save_report(stop.status)
        self._flush(plan=True)
        self._flush_logs()
        stats = self._stats()
        if stop.status == "CANCELLED":
            self.ports.events.status("cancelled")
            self.ports.events.done(stats)
        else:
            self.ports.events.log(f"⏸ paused in phase {self.phase}; resume continues from here")
            self.ports.events.status("paused")
        return RunOutcome(stop.status, stats, stop.reason)

    def _fail(self, reason: str) -> RunOutcome:
        self.plan.live = ""
        self._save_report("FAILED", reason)
        self._flush(plan=True)
        self._flush_logs()
        stats = self._stats()
        self.ports.events.log(f"✗ rollback failed: {reason}")
        self.ports.events.status("failed")
        self.ports.events.done(stats)
        return RunOutcome("FAILED", stats, reason)


def _failure(exc: Exception) -> str:
    if isinstance(exc, AuthError | BlockedAddress):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
