"""What the phases of one run share: spec, ports, plan, ledger, settle book, counters."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.content import ContentContext
from engine.fieldapply import PlanFieldRules
from engine.itembook import ItemBook
from engine.mapping import WorkflowGraph, map_state
from engine.model import Status, WorkItem
from engine.pipeline.cadence import StopState
from engine.pipeline.checkpoint import Checkpointer
from engine.pipeline.feed import CreateFeed
from engine.pipeline.limits import ADO_BATCH, WRITE_PHASES
from engine.pipeline.markers import ExactlyOnce
from engine.pipeline.payloads import IssuePayloads
from engine.pipeline.pool import WorkerPool
from engine.pipeline.runplan import RunPlan
from engine.pipeline.stops import StopRun
from engine.pipeline.workflows import WorkflowKnowledge
from engine.planning import PlannedItem, chunks
from engine.ports import (
    AdoSource,
    CheckpointStore,
    ControlSignal,
    EventSink,
    ItemRecord,
    JiraTarget,
    LedgerEntry,
    RunSpec,
    SliceBoard,
)
from engine.settle import SettleBook
from engine.testcase_content import F_STEPS, SharedSteps
from engine.users import UserDirectory


@dataclass
class Ports:
    """The five ports a run talks through."""

    source: AdoSource
    target: JiraTarget
    store: CheckpointStore
    events: EventSink
    control: ControlSignal
    # Phases 3 to 5 shared by the workers in slices (``slices``); None: all here.
    board: SliceBoard | None = None


class RunContext:
    """One execution of ``run_migration`` (a resumed run is a new context).

    Holds the state every phase reads and writes (plan, items, records, ledger,
    settle book, counters) and the shared services: :attr:`checkpointer`,
    :attr:`pool`, :attr:`markers`, :attr:`payloads`. Everything the worker
    threads change is changed under :attr:`lock`.
    """

    def __init__(self, spec: RunSpec, ports: Ports) -> None:
        self.spec = spec
        self.ports = ports
        self.source, self.target, self.store = ports.source, ports.target, ports.store
        self.token = uuid.uuid4().hex  # marks intents saved by this process
        self.lock = threading.RLock()
        self.stops = StopState()
        self.plan = RunPlan()
        self.planned = False  # a plan was made or loaded (a failed preflight has none)
        self.plan_rows_saved = False  # the plan's item rows are in the store
        # what earlier processes of this run counted, from the saved plan
        self.exactly_once_base: dict[str, dict[str, int]] = {}
        self.repairs_base: list[dict[str, Any]] = []
        self.items: dict[int, PlannedItem] = {}
        self.order: list[int] = []
        self.records: dict[int, ItemRecord] = {}
        self.ledger: dict[int, LedgerEntry] = {}
        self.books: dict[int, ItemBook] = {}  # ado id → bookkeeping of its ledger entry
        self.crosswalk: dict[int, str] = {}
        self.creates = CreateFeed()  # phase 2's progress, for the phases running beside it
        self.dirty_records: set[int] = set()
        self.dirty_ledger: set[int] = set()
        self.logs: list[str] = []
        self.graph = WorkflowGraph()
        self.workflows = WorkflowKnowledge(self)  # transitions per type and status
        self.bulk_transitions: bool | None = None  # Bulk change held (None: not asked yet)
        self.users = UserDirectory(self.target)
        self.initial_status: dict[str, str] = {}
        self.resumed = False
        # A slice context (``slices``) works these items only, writes no plan and no
        # report, and leaves the ledger entries of other items to their own slice's
        # worker: what it would have written to one (a link's provenance on its other
        # end) is kept in ``touched_elsewhere`` for the coordinator.
        self.slice: frozenset[int] | None = None
        self.touched_elsewhere: set[int] = set()
        self._phase = 0
        self._thread_phase = threading.local()  # a phase running beside others
        self.units = 0
        self.wi_cache: dict[int, WorkItem] = {}
        self.phase_caches: dict[int, dict[int, WorkItem]] = {}  # phases running at once
        self.reconcile: set[int] = set()
        self.statuses_cache: dict[tuple[str, str], Status | None] = {}
        self.verification: dict[str, Any] | None = None
        self.settle = SettleBook(spec.settle_seconds)
        self.rounds: dict[str, int] = {}  # settle rounds per key, this process
        self.repairs: list[dict[str, Any]] = []
        self.suspects_pending: set[int] = set()  # suspects without a ledger entry yet
        self.ado_web = spec.ado_web_url or str(getattr(self.source, "project_url", ""))
        # Credentials go to this origin only; content URLs elsewhere are never fetched.
        self.ado_origin = str(getattr(self.source, "base_url", "") or self.ado_web)
        self.checkpointer = Checkpointer(self)
        self.pool = WorkerPool(self)
        self.markers = ExactlyOnce(self)
        self.payloads = IssuePayloads(self)
        self.shared_steps = SharedSteps(self._steps_of)  # expands test cases' shared steps

    def _steps_of(self, ids: Sequence[int]) -> dict[int, str]:
        """Steps XML of work items read from ADO (Shared Steps outside the run)."""
        found = self.source.get_work_items(list(ids))
        return {wi.id: str(wi.fields.get(F_STEPS) or "") for wi in found}

    def save_plan(self) -> None:
        """The plan's item rows once (the items do not change after phase 1), then the
        rest: the rest names how many rows there are, so rows come first. A slice
        context saves none: the plan is the coordinator's."""
        if self.slice is not None:
            return
        if not self.plan_rows_saved:
            self.store.save_plan_items(self.plan.item_rows())
            self.plan_rows_saved = True
        self.plan.workflows = self.graph.snapshot()
        with self.lock:
            self.plan.initial_status = dict(self.initial_status)
        self.store.save_plan(self.plan.to_dict())

    @property
    def phase(self) -> int:
        """The phase of the calling thread: its own when phases run at once, else the run's."""
        own: int | None = getattr(self._thread_phase, "number", None)
        return own if own is not None else self._phase

    def own_phase(self, number: int) -> None:
        """The calling thread works for phase ``number`` (beside other phases)."""
        self._thread_phase.number = number

    def enter_phase(self, number: int) -> None:
        self._phase = number
        if self.slice is None:
            self.store.set_phase(number)

    def raise_if_stopped(self) -> None:
        self.stops.raise_if_stopped()

    def request_stop(self, stop: StopRun) -> None:
        self.stops.request(stop)

    def check_stop(self) -> None:
        """Called by workers before every write."""
        self.stops.check()

    def log(self, message: str) -> None:
        with self.lock:
            self.logs.append(message)

    def label(self, ado_id: int) -> str:
        item = self.items[ado_id]
        return f"ADO #{ado_id} [{item.ado_type}]"

    def fail_item(self, ado_id: int, reason: str) -> None:
        with self.lock:
            record = self.records[ado_id]
            if record.status == "FAILED":
                return
            record.status, record.error = "FAILED", reason[:2000]
            self.dirty_records.add(ado_id)
            self.units += len(WRITE_PHASES) - self.steps_done(ado_id)
            self.checkpointer.cadence.count()
        self.log(f"✗ {self.label(ado_id)}: {reason}")

    def book(self, entry: LedgerEntry) -> ItemBook:
        """The item's bookkeeping (the typed form of ``entry.extra``)."""
        with self.lock:
            book = self.books.get(entry.ado_id)
            if book is None:
                book = self.books[entry.ado_id] = ItemBook.from_dict(entry.extra)
            return book

    def steps(self, ado_id: int) -> dict[int, int]:
        entry = self.ledger.get(ado_id)
        return self.book(entry).steps if entry is not None else {}

    def steps_done(self, ado_id: int) -> int:
        rev = self.items[ado_id].rev
        steps = self.steps(ado_id)
        return sum(1 for p in WRITE_PHASES if steps.get(p) == rev)

    def step_done(self, ado_id: int, phase: int) -> bool:
        return self.steps(ado_id).get(phase) == self.items[ado_id].rev

    def mark_step(self, ado_id: int, phase: int) -> None:
        with self.lock:
            if self.step_done(ado_id, phase):
                return
            rev = self.items[ado_id].rev
            book = self.book(self.ledger[ado_id])
            book.steps[phase] = rev
            book.clear_intent(phase)
            if all(self.step_done(ado_id, p) for p in WRITE_PHASES):
                book.synced_rev = rev
                record = self.records[ado_id]
                resync, book.resync = book.resync, False
                if resync and record.status == "PENDING":
                    record.status = "UPDATED"  # an earlier run's issue, written again
                    self.dirty_records.add(ado_id)
            self.dirty_ledger.add(ado_id)
            self.units += 1
            self.checkpointer.cadence.count()
        if phase == 2:
            self.creates.made(ado_id)  # its issue exists: the phases beside 2 may take it

    def write_rule(self, entry: LedgerEntry, rule: str, note: str | None = None) -> None:
        """What a write phase carried (or could not) for the fidelity report."""
        with self.lock:
            book = self.book(entry)
            book.add_rules(rule)
            if note:
                book.add_write_note(note)
            self.dirty_ledger.add(entry.ado_id)

    def active(self, ado_id: int) -> bool:
        """Still to be worked on in this run (not skipped, not failed)."""
        return self.items[ado_id].action != "skip" and self.records[ado_id].status != "FAILED"

    def count_units(self) -> None:
        units = 0
        for ado_id in self.items:
            units += self.steps_done(ado_id) if self.active(ado_id) else len(WRITE_PHASES)
        self.units = self.checkpointer.units_at_start = units

    def fail_all(self, ids: Sequence[int], reason: str) -> None:
        for ado_id in ids:
            with self.lock:
                record = self.records[ado_id]
                record.attempts = max(record.attempts, 1)
            self.fail_item(ado_id, reason)

    def jira_statuses(self, type_id: str) -> list[Status]:
        return list(self.plan.statuses.get(type_id, []))

    def target_status(self, item: PlannedItem, type_id: str) -> Status | None:
        cache_key = (type_id, f"{item.ado_type}\x00{item.state}")
        if cache_key in self.statuses_cache:
            return self.statuses_cache[cache_key]
        mapping, _ = map_state(
            item.ado_type,
            item.state,
            item.state_category,
            self.plan.type_name(type_id),
            self.jira_statuses(type_id),
            self.spec.state_overrides,
        )
        status = next(
            (s for s in self.jira_statuses(type_id) if mapping and s.id == mapping.jira_status_id),
            None,
        )
        self.statuses_cache[cache_key] = status
        return status

    def type_level(self, type_id: str) -> int:
        return self.plan.type_level(type_id)

    def entry_context(self, entry: LedgerEntry) -> ContentContext:
        """The content context of an issue already in Jira (its type as created)."""
        return self.content_context(str(self.book(entry).jira_type_id), entry.ado_id)

    def content_context(self, type_id: str, ado_id: int | None = None) -> ContentContext:
        entry = self.ledger.get(ado_id) if ado_id is not None else None
        book = self.book(entry) if entry is not None else ItemBook()
        plan = self.plan
        attachments = self.spec.migrate_attachments
        users = {**self.users.accounts(), **plan.fields.mapped_users}  # the user map wins
        return ContentContext(
            components=dict(plan.components.by_path),
            area_as="component" if plan.components.mode == "component" else "label",
            sprints={
                p: e.id
                for p, e in plan.sprints.by_path.items()
                if e.state != "closed" or book.sprint == e.id
            },
            iteration_as="sprint" if plan.sprints.mode == "sprint" else "label",
            upload_limit=self.plan.upload_limit if attachments else None,
            skipped_files=[f.to_dict() for f in book.skipped_attachments] if attachments else [],
            ado_web_url=self.ado_web,
            ado_origin=self.ado_origin,
            jira_base_url=str(getattr(self.target, "base_url", "")),
            story_points_field=plan.story_points_field,
            priorities=list(plan.priorities) or ["Highest", "High", "Medium", "Low", "Lowest"],
            screen_fields=set(plan.screens.get(type_id, [])),
            users=users,
            crosswalk=self.crosswalk,
            attachment_urls=dict(book.attachment_urls),
            identity_emails=plan.identity_emails,
            shared_steps=self.shared_steps,
            field_rules=PlanFieldRules(plan.fields, type_id, users),
            awaited=self.awaited,
        )

    def awaited(self, ado_id: int) -> bool:
        """``ado_id`` will have a Jira issue later in this run (phase 2 is still making
        issues beside the content phase), but has none yet."""
        return self.creates.running and ado_id not in self.crosswalk and self.in_run(ado_id)

    def fetch(self, ids: Sequence[int]) -> dict[int, WorkItem]:
        out: dict[int, WorkItem] = {}
        for part in chunks(list(ids), ADO_BATCH):
            for wi in self.source.get_work_items(part):
                out[wi.id] = wi
                self.shared_steps.remember(wi)
        return out

    def _cache(self) -> dict[int, WorkItem]:
        """The work items read ahead for the calling thread's phase (the caller locks):
        phases running at once each read and take their own."""
        own: int | None = getattr(self._thread_phase, "number", None)
        if own is None:
            return self.wi_cache
        return self.phase_caches.setdefault(own, {})

    def prefetch(self, ids: list[int]) -> None:
        with self.lock:
            cache = self._cache()
            need = [i for i in ids if i not in cache]
        fetched = self.fetch(need) if need else {}
        with self.lock:
            cache.update(fetched)

    def keep(self, wi: WorkItem) -> None:
        """Keep a work item taken for later work of the caller's phase (a deferred item)."""
        with self.lock:
            self._cache()[wi.id] = wi

    def take(self, ado_id: int) -> WorkItem | None:
        with self.lock:
            wi = self._cache().pop(ado_id, None)
        if wi is None:
            got = self.source.get_work_items([ado_id])
            wi = got[0] if got else None
        return wi

    def in_run(self, ado_id: int) -> bool:
        return ado_id in self.items and self.active(ado_id)
