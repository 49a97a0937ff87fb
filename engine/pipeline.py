"""The phased migration pipeline: ``run_migration``.

Phases (``store.set_phase``; the report names them, see :data:`engine.report.PHASES`):

1. discover and plan: preflight (ADO access, Jira user, project, issue types,
   create screens, statuses), filters, SAMPLE selection, INCREMENTAL changed-since,
   type/state mappings, users, per-item decisions, components and sprints (see
   below); ``save_plan``. A dry run stops here with a report holding the exact
   payloads for a sample of items.
2. create issues, parents first (Epic level, then standard, then sub-tasks), in
   bulk requests of 50 with several in flight; edit changed issues in place; then
   move the issues into their sprints (50 a request) and complete past sprints.
3. reach target states by walking the workflow's transitions.
4. attachments (inline images included, then the description is edited to show
   them from Jira), then comments in order.
5. links (after both ends exist); out-of-scope ends become remote links to ADO;
   every issue gets a remote link back to its ADO work item.
6. verify: count what Jira holds (search on the ``ado-*`` labels) against the plan.

Exactly once
    Every write is recorded in the project's ledger (``LedgerEntry``) as soon as
    it succeeds and is never repeated once recorded. Where an outcome can be
    unknown, nothing is sent again before Jira can have shown whether it landed:

    - Issues carry the label ``ado-{id}`` and the issue property ``ado.migration``
      (``{"adoId", "rev"}``), both set atomically in the create body. The intent
      to create is saved (``ItemRecord.attempts`` incremented) before a bulk
      request is sent. Before creating anything, phase 2 searches Jira for the
      labels of every item it is about to create that the ledger does not know
      (``project = KEY AND labels in (...)``, 100 labels a query) and adopts what
      it finds.
    - Comments carry a marker in their visible header ("· ADO comment {id}"): the
      body comes back with every comment, as the specification documents, so a
      comment is recognised without undocumented expansions. Older comments are
      recognised by their ``ado.comment`` property, read through the documented
      ``GET /comment/{id}/properties/{key}``. Attachments are recognised by file
      name and size. Transitions move to a named status: the status is read again
      before any other step. Issue links and remote links are documented not to
      double when sent again (a duplicate link "is created" without a second one;
      remote links upsert by ``globalId``).
    - A write whose answer was lost (a timeout, a dropped connection, a
      500/502/504: ``OutcomeUnknown``) may still be running in Jira, so a look
      right after it proves nothing. Its item is *settling* (``engine.settle``):
      the mark is saved in the project's store with a deadline ``settle_seconds``
      ahead (at least the client's timeout plus a margin; ``RunSpec``), the item's
      work goes back into the phase's queue for that deadline while other items
      go on, and only then does the work look in Jira (labels, comment markers,
      files, status), adopt what landed and send what is still missing. The marks
      are project-wide: a paused, cancelled, taken-over or next run honours them.
    - Before each group of phase 3 and 4 work, ``extra["pending"]`` is saved with
      a token of this process; the plan names the process that may have writes in
      flight (``plan["live"]``). A process that takes over from one that died
      holds every write the dead one may have had open (its create intents and
      pending groups) for ``settle_seconds`` from the take-over, then looks.
    - Should a copy land anyway (Jira later than any settle time), verify (phase
      6) finds it (several issues with one label; on the items an ambiguous write
      touched, comments with one marker, the same file twice, the same link
      twice), keeps what the ledger knows and removes the others when the
      migration account made them and nobody changed them since
      (``engine.repair``); every repair, or reason to leave one, is in the report.
    - Per item and phase, ``extra["steps"][phase] = rev`` marks completion, set
      only after all of the item's writes in that phase succeeded;
      ``extra["synced_rev"]`` marks an item whose every phase is done.
    - ``report["exactlyOnce"]`` counts, by kind of write, what was ambiguous,
      deferred, adopted, sent again and repaired.

Provenance
    Every write is also recorded under the run's id (``RunSpec.run_id``) in the
    entry's ``extra["runs"]`` (``engine.provenance``): created, comments,
    attachments, links added, fields edited, status moved, and the issue's
    ``updated`` as verify sees it after the last write. A rollback of the run
    (``engine.rollback``) removes exactly that share.

Stops
    Pause and cancel set a flag that the HTTP clients read before every attempt
    and while waiting out a backoff or a ``Retry-After`` (``StopRequested``): a
    request not yet sent is never sent after a stop; one already sent still
    reports its outcome, so nothing is left unrecorded.

Resume
    A resumed, taken-over or redelivered run finds its plan (``load_plan``) and
    skips phase 1; phases already finished are skipped (``plan["phases_done"]``)
    and, within a phase, items whose step is recorded. Checkpoints run at least
    every second and every 50 items: ``heartbeat`` (False: another worker owns the
    run, stop at once and touch nothing more), ``save_items``/``save_ledger``,
    progress and log events, then ``control.poll`` (pause/cancel). Workers check
    a stop flag before every write, so a pause returns within about a second with
    no item half-written.

Components (area paths)
    Only when "components" is on a create screen the run uses. Each area path of
    a planned item below the project root becomes the component named after that
    path below the root, "/"-joined (``Web/Checkout``; not the leaf alone, which two
    teams may share). Existing components are matched by name (case-insensitive)
    before anything is created, so a resumed or repeated run creates none twice;
    the ones created are recorded in the plan. A 403 on create (the user is not a
    project admin) stops creating: the remaining areas become ``area-…`` labels and
    the report says so. A dry run creates nothing and reports what it would create.

Sprints (iteration paths)
    Only when the project has a scrum board. Each iteration path of a planned item
    below the root maps to the board's sprint of the same name (the iteration's
    leaf name; the path below the root when two used iterations share a leaf), or
    a new one created with the iteration's start and finish dates. Jira creates
    sprints *future* and only moves issues into future or active sprints, so the
    order is: create (phase 1) → create the issues (phase 2) → move them, 50 per
    ``POST /sprint/{id}/issue`` (recorded per item in ``extra["sprint"]``, and a
    move is harmless to repeat) → complete the sprints this migration created whose
    finish date is past (future → active → closed, one at a time, oldest first, as
    a board without parallel sprints requires; recorded in the plan). The Sprint
    field is not set at create time: it is not on every create screen, and a past
    sprint must stay open until its issues are in. Iterations whose sprint is
    already closed (a later incremental run), or all of them without a board,
    become ``iteration-…`` labels.

Reruns
    A FULL rerun skips items already fully migrated at the same ADO ``rev`` and
    UPDATES changed ones in place (fields edited, new comments and attachments
    appended, state re-reached); it never creates a second issue. INCREMENTAL
    does the same for the items created or changed since ``changed_since``.
    Edited or deleted ADO comments are not re-synced (only new ones are added).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import mimetypes
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, Any, TypeVar, cast

from engine import provenance
from engine.adf import image_sources
from engine.content import (
    ContentContext,
    IssueContent,
    below_root,
    comment_content,
    comment_is_migratable,
    comment_marker_of,
    component_name,
    issue_content,
    overflow_file_name,
    user_emails,
)
from engine.errors import (
    AuthError,
    BlockedAddress,
    EngineError,
    ForeignOrigin,
    PermanentError,
    RunAborted,
    StopRequested,
    TransientError,
)
from engine.http import OutcomeUnknown
from engine.mapping import (
    TypeMapping,
    WorkflowGraph,
    check_state_overrides,
    map_state,
    nearest_status,
    state_category,
    suggest_state_mappings,
    suggest_type_mappings,
)
from engine.model import (
    AttachmentRef,
    ClassificationNode,
    Comment,
    CreatedIssue,
    FieldMeta,
    IssueType,
    Relation,
    Status,
    WorkItem,
    WorkItemType,
)
from engine.planning import (
    PlannedItem,
    assign_parents,
    chunks,
    creation_order,
    decide_action,
    hierarchy_pairs,
    matches_filters,
    normalize_type_filter,
    select_sample,
    waves,
)
from engine.ports import (
    AdoSource,
    CheckpointStore,
    ControlSignal,
    EventSink,
    FinalStatus,
    ItemRecord,
    JiraTarget,
    LedgerEntry,
    RunOutcome,
    RunSpec,
)
from engine.refs import attachment_file_name, attachment_guid
from engine.repair import (
    Copy,
    attachment_copies,
    comment_copies,
    issue_copies,
    link_copies,
)
from engine.report import build_report
from engine.settle import Deferred, SettleBook, create_key, phase_key
from engine.users import UserDirectory

PLAN_VERSION = 1
PROPERTY_KEY = "ado.migration"
COMMENT_PROPERTY = "ado.comment"
BULK_SIZE = 50
SEARCH_CHUNK = 100
ADO_BATCH = 200
CREATE_WINDOW = 4  # bulk requests in flight within a hierarchy level
ITEM_WORKERS = 12  # per-item writers in phases 2 (edits) to 5; the Jira limiter bounds the rate
CHECKPOINT_ITEMS = 50
CHECKPOINT_SECONDS = 1.0
POLL_SECONDS = 0.25
WRITE_TRIES = 3
# A write whose outcome stays unknown this many settle rounds fails its item: a Jira
# that answers a request with a gateway error every time is not settling.
AMBIGUOUS_ROUNDS = 6
DRY_RUN_SAMPLES = 5
OVERFLOW_KEY = "overflow:description"
WRITE_PHASES = (2, 3, 4, 5)
ESSENTIAL_FIELDS = {"summary", "project", "issuetype", "labels", "parent"}
# Required create-screen fields the content rules or the pipeline can fill.
FILLABLE = {
    "summary",
    "issuetype",
    "project",
    "description",
    "labels",
    "priority",
    "reporter",
    "assignee",
    "parent",
    "components",
    "environment",
}
HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
# ADO relation -> (Jira link type, this item is the outward side, symmetric)
LINK_RULES: dict[str, tuple[str, bool, bool]] = {
    "System.LinkTypes.Related": ("Relates", True, True),
    "System.LinkTypes.Dependency-Forward": ("Blocks", True, False),
    "System.LinkTypes.Dependency-Reverse": ("Blocks", False, False),
    "System.LinkTypes.Duplicate-Forward": ("Duplicate", False, False),
    "System.LinkTypes.Duplicate-Reverse": ("Duplicate", True, False),
    "Microsoft.VSTS.Common.TestedBy-Forward": ("Tests", False, False),
    "Microsoft.VSTS.Common.TestedBy-Reverse": ("Tests", True, False),
}
FORWARD_RELS = {r for r in LINK_RULES if r.endswith("-Forward")}
SPRINT_MOVE = 50  # issues per POST /sprint/{id}/issue
BACKLINK = "remote:ado-backlink"
VERIFY_FIELDS = ("labels", "created", "updated", "creator")

T = TypeVar("T")


class StopRun(Exception):
    """Leave the phases now: paused, cancelled, lease lost or failed."""

    def __init__(self, status: FinalStatus, reason: str = "", *, lease_lost: bool = False) -> None:
        super().__init__(reason or status)
        self.status: FinalStatus = status
        self.reason = reason
        self.lease_lost = lease_lost


class Interrupted(Exception):
    """Raised inside a worker before a write once the run is stopping."""


class _Later:
    """Collects the :class:`Deferred` of several writes into one deferral of their ids."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.until = 0.0

    def add(self, ids: Sequence[int], until: float) -> None:
        self.ids.extend(ids)
        self.until = max(self.until, until)

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except Deferred as deferred:
            self.add(list(deferred.task or []), deferred.until)

    def raise_if_any(self, why: str) -> None:
        if self.ids:
            raise Deferred(self.until, why, task=list(dict.fromkeys(self.ids)))


@dataclass
class Ports:
    source: AdoSource
    target: JiraTarget
    store: CheckpointStore
    events: EventSink
    control: ControlSignal


def run_migration(
    spec: RunSpec,
    *,
    source: AdoSource,
    target: JiraTarget,
    store: CheckpointStore,
    events: EventSink,
    control: ControlSignal,
) -> RunOutcome:
    """Run (or resume) one migration run; see the module docstring."""
    return Pipeline(spec, Ports(source, target, store, events, control)).execute()


def _web_url(base: str, ado_id: int) -> str:
    return f"{base.rstrip('/')}/_workitems/edit/{ado_id}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _label_jql(project_key: str, ids: Iterable[int]) -> str:
    labels = ", ".join(f'"ado-{i}"' for i in ids)
    return f'project = "{project_key}" AND labels in ({labels}) ORDER BY key ASC'


def _properties_of(raw: Any) -> dict[str, Any]:
    """Issue/comment properties as a dict, whether Jira sent a dict or a key/value list."""
    if isinstance(raw, dict):
        return dict(raw)
    if isinstance(raw, list):
        return {str(p.get("key")): p.get("value") for p in raw if isinstance(p, dict)}
    return {}


def _node_paths(root: ClassificationNode) -> dict[str, ClassificationNode]:
    """Classification nodes by the path work items use: the API writes
    ``\\Project\\Iteration\\Release 1``, ``System.IterationPath`` ``Project\\Release 1``."""
    out: dict[str, ClassificationNode] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        parts = [p for p in node.path.strip("\\").split("\\") if p]
        if len(parts) >= 2:
            parts.pop(1)  # the structure segment (Iteration / Area)
        if parts:
            out["\\".join(parts).lower()] = node
        stack.extend(node.children)
    return out


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _jira_date(value: str | None) -> str | None:
    """An ADO timestamp in the form the agile API documents (``2015-04-20T01:22:00.000Z``)."""
    moment = _when(value)
    if moment is None:
        return None
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _link_rule(link_key: str) -> str:
    """The fidelity rule a written link counts under."""
    if link_key == BACKLINK:
        return "ado-backlink"
    if link_key.startswith("remote:hyperlink:"):
        return "hyperlink-remote-link"
    if link_key.startswith("remote:"):
        return "out-of-scope-remote-link"
    if link_key.startswith("parent:"):
        return "parent-as-link"
    return "link-" + link_key.split(":", 1)[0]


def _key_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# =========================================================================== pipeline
class Pipeline:
    """One execution of ``run_migration`` (a resumed run is a new Pipeline)."""

    def __init__(self, spec: RunSpec, ports: Ports) -> None:
        self.spec = spec
        self.ports = ports
        self.source, self.target, self.store = ports.source, ports.target, ports.store
        self.token = uuid.uuid4().hex  # marks intents saved by this process
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.stop_reason: StopRun | None = None
        self.plan: dict[str, Any] = {}
        self.items: dict[int, PlannedItem] = {}
        self.order: list[int] = []
        self.records: dict[int, ItemRecord] = {}
        self.ledger: dict[int, LedgerEntry] = {}
        self.crosswalk: dict[int, str] = {}
        self.dirty_records: set[int] = set()
        self.dirty_ledger: set[int] = set()
        self.logs: list[str] = []
        self.graph = WorkflowGraph()
        self.users = UserDirectory(self.target)
        self.initial_status: dict[str, str] = {}
        self.resumed = False
        self.phase = 0
        self.units = 0
        self.started = time.monotonic()
        self.units_at_start = 0
        self.last_poll = 0.0
        self.last_checkpoint = time.monotonic()
        self.since_checkpoint = 0
        self.wi_cache: dict[int, WorkItem] = {}
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

    # ------------------------------------------------------------------ entry
    def execute(self) -> RunOutcome:
        # Requests waiting to be sent or retried give up as soon as the run stops.
        for client in (self.source, self.target):
            client.set_stop_check(self.stop.is_set)
        try:
            self._load_or_plan()
            if self.spec.dry_run:
                return self._finish_dry_run()
            self._run_phases()
            return self._finish()
        except StopRun as stop:
            return self._stopped(stop)
        except StopRequested:
            if self.stop_reason is None:
                raise
            return self._stopped(self.stop_reason)
        except (AuthError, BlockedAddress, RunAborted) as exc:
            return self._fail(str(exc))

    def _run_phases(self) -> None:
        steps: list[tuple[int, Callable[[], None]]] = [
            (2, self._phase_create),
            (3, self._phase_states),
            (4, self._phase_content),
            (5, self._phase_links),
            (6, self._phase_verify),
        ]
        done = set(self.plan.get("phases_done", []))
        for number, phase in steps:
            if number in done:
                continue
            self._enter_phase(number)
            phase()
            self._checkpoint(force=True)
            self._raise_if_stopped()
            self.plan.setdefault("phases_done", []).append(number)
            self.store.save_plan(self.plan)
            self._save_report("RUNNING")

    def _enter_phase(self, number: int) -> None:
        self.phase = number
        self.store.set_phase(number)

    # ------------------------------------------------------------------ outcomes
    def _stats(self) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
        for record in self.records.values():
            key = record.status.lower()
            if key in counts:
                counts[key] += 1
        if self.spec.run_type != "INCREMENTAL" and not counts["updated"]:
            counts.pop("updated")
        return counts

    def _announce(self, status: str, stats: dict[str, int]) -> None:
        self.ports.events.status(status.lower())
        self.ports.events.done(stats)

    def _finish(self) -> RunOutcome:
        self._settle_bookkeeping()
        self._end_live()
        stats = self._stats()
        status: FinalStatus = "PARTIAL" if stats.get("failed") else "COMPLETED"
        self._save_report(status)
        self._flush_logs()
        self._announce(status, stats)
        return RunOutcome(status, stats)

    def _stopped(self, stop: StopRun) -> RunOutcome:
        if stop.lease_lost:
            return RunOutcome("PAUSED", self._stats(), stop.reason)
        if stop.status == "FAILED":
            return self._fail(stop.reason)
        self._flush_state()
        self._end_live()
        self._save_report(stop.status)
        self._flush_logs()
        stats = self._stats()
        if stop.status == "CANCELLED":
            self._announce("cancelled", stats)
        else:
            self.ports.events.log(f"⏸ paused in phase {self.phase}; resume continues from here")
            self.ports.events.status("paused")
        return RunOutcome(stop.status, stats, stop.reason)

    def _fail(self, reason: str) -> RunOutcome:
        self._flush_state()
        if self.plan:
            self._end_live()
        stats = self._stats()
        if self.plan:
            self._save_report("FAILED", reason=reason)
        else:
            self.store.save_report(
                {"status": "FAILED", "reason": reason, "problems": {"validation": [reason]}}
            )
        self._flush_logs()
        self.ports.events.log(f"✗ run failed: {reason}")
        self._announce("failed", stats)
        return RunOutcome("FAILED", stats, reason)

    # ------------------------------------------------------------------ checkpoints
    def _raise_if_stopped(self) -> None:
        if self.stop_reason is not None:
            raise self.stop_reason

    def _request_stop(self, stop: StopRun) -> None:
        with self.lock:
            if self.stop_reason is None or stop.lease_lost or stop.status == "FAILED":
                self.stop_reason = stop
        self.stop.set()

    def _check_stop(self) -> None:
        """Called by workers before every write."""
        if self.stop.is_set():
            raise Interrupted()

    def _poll(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_poll < POLL_SECONDS:
            return
        self.last_poll = now
        command = self.ports.control.poll()
        if command == "pause":
            self._request_stop(StopRun("PAUSED", "paused by request"))
        elif command == "cancel":
            self._request_stop(StopRun("CANCELLED", "cancelled by request"))

    def _checkpoint(self, *, force: bool = False) -> None:
        now = time.monotonic()
        due = (
            self.since_checkpoint >= CHECKPOINT_ITEMS
            or now - self.last_checkpoint >= CHECKPOINT_SECONDS
        )
        if not (force or due):
            self._poll()
            return
        self.last_checkpoint, self.since_checkpoint = now, 0
        if self.stop_reason is not None and self.stop_reason.lease_lost:
            return
        if not self.store.heartbeat():
            self._request_stop(
                StopRun("PAUSED", "lease lost: another worker took the run over", lease_lost=True)
            )
            return
        self._flush_state()
        self._flush_logs()
        self._progress()
        self._poll(force=True)

    def _flush_state(self) -> None:
        if self.stop_reason is not None and self.stop_reason.lease_lost:
            return
        with self.lock:
            records = [replace(self.records[i]) for i in sorted(self.dirty_records)]
            entries = [self._copy_entry(self.ledger[i]) for i in sorted(self.dirty_ledger)]
            self.dirty_records.clear()
            self.dirty_ledger.clear()
        if records:
            self.store.save_items(records)
        if entries:
            self.store.save_ledger(entries)
        marks, cleared = self.settle.flush()
        if marks or cleared:
            self.store.save_unsettled(marks, cleared)

    @staticmethod
    def _copy_entry(entry: LedgerEntry) -> LedgerEntry:
        return LedgerEntry(
            entry.ado_id,
            entry.jira_key,
            entry.jira_id,
            entry.ado_rev,
            dict(entry.comments),
            dict(entry.attachments),
            list(entry.links),
            entry.state,
            json.loads(json.dumps(entry.extra)),
        )

    def _flush_logs(self) -> None:
        with self.lock:
            logs, self.logs = self.logs, []
        for message in logs:
            self.ports.events.log(message)

    def _progress(self) -> None:
        total = len(self.items)
        with self.lock:
            current = min(total, self.units // len(WRITE_PHASES))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        done_here = (self.units - self.units_at_start) / len(WRITE_PHASES)
        self.ports.events.progress(current, total, round(done_here / elapsed, 1))

    def _save_report(
        self,
        status: str,
        *,
        reason: str = "",
        samples: Sequence[Mapping[str, Any]] = (),
        facts: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        if facts is None:
            with self.lock:
                facts = {i: dict(self.ledger[i].extra) for i in self.items if i in self.ledger}
        report = build_report(
            self.plan,
            self.records,
            facts,
            status=status,
            phase=self.phase,
            verification=self.verification,
            samples=samples,
        )
        if self.plan:
            report["exactlyOnce"] = self._exactly_once()
        if reason:
            report["reason"] = reason
        self.store.save_report(report)

    def _exactly_once(self) -> dict[str, Any]:
        """What ambiguous outcomes cost this run so far (every process that worked on it)."""
        base = self.plan.get("exactly_once_base") or {}
        counts: dict[str, dict[str, int]] = {}
        for what, mine in self.settle.snapshot().items():
            before = base.get(what)
            kinds = Counter(
                {str(k): int(n) for k, n in before.items()} if isinstance(before, dict) else {}
            )
            kinds.update(mine)
            counts[what] = dict(sorted(kinds.items()))
        self.plan["exactly_once"] = counts
        repairs = list(self.plan.get("repairs_base") or []) + self.repairs
        return {
            **counts,
            "totals": {w: sum(k.values()) for w, k in counts.items()},
            "settleSeconds": self.spec.settle_seconds,
            "stillSettling": len(self.settle.keys()),
            "repairs": repairs,
        }

    def _settle_bookkeeping(self) -> None:
        """Every item of a finished run ends with a final status, whoever did its work."""
        with self.lock:
            for ado_id, record in self.records.items():
                if record.status != "PENDING":
                    continue
                entry = self.ledger.get(ado_id)
                item = self.items.get(ado_id)
                if item is not None and item.action == "skip":
                    record.status = "SKIPPED"
                elif entry is not None and entry.jira_key:
                    record.jira_key, record.jira_id = entry.jira_key, entry.jira_id
                    record.status = (
                        "UPDATED"
                        if item is not None and item.action in ("update", "refresh")
                        else "CREATED"
                    )
                else:
                    record.status = "FAILED"
                    record.error = record.error or "no Jira issue after every phase"
                self.dirty_records.add(ado_id)
        self._flush_state()

    # ------------------------------------------------------------------ bookkeeping
    def _log(self, message: str) -> None:
        with self.lock:
            self.logs.append(message)

    def _label(self, ado_id: int) -> str:
        item = self.items[ado_id]
        return f"ADO #{ado_id} [{item.ado_type}]"

    def _fail_item(self, ado_id: int, reason: str) -> None:
        with self.lock:
            record = self.records[ado_id]
            if record.status == "FAILED":
                return
            record.status, record.error = "FAILED", reason[:2000]
            self.dirty_records.add(ado_id)
            self.units += len(WRITE_PHASES) - self._steps_done(ado_id)
            self.since_checkpoint += 1
        self._log(f"✗ {self._label(ado_id)}: {reason}")

    def _steps(self, ado_id: int) -> dict[str, int]:
        entry = self.ledger.get(ado_id)
        if entry is None:
            return {}
        steps = entry.extra.setdefault("steps", {})
        return steps if isinstance(steps, dict) else {}

    def _steps_done(self, ado_id: int) -> int:
        rev = self.items[ado_id].rev
        return sum(1 for p in WRITE_PHASES if self._steps(ado_id).get(str(p)) == rev)

    def _step_done(self, ado_id: int, phase: int) -> bool:
        return self._steps(ado_id).get(str(phase)) == self.items[ado_id].rev

    def _mark_step(self, ado_id: int, phase: int) -> None:
        with self.lock:
            if self._step_done(ado_id, phase):
                return
            rev = self.items[ado_id].rev
            self._steps(ado_id)[str(phase)] = rev
            pending = self.ledger[ado_id].extra.get("pending")
            if isinstance(pending, dict) and pending.get("phase") == phase:
                self.ledger[ado_id].extra.pop("pending", None)
            if all(self._step_done(ado_id, p) for p in WRITE_PHASES):
                self.ledger[ado_id].extra["synced_rev"] = rev
                record = self.records[ado_id]
                if self.ledger[ado_id].extra.pop("resync", None) and record.status == "PENDING":
                    record.status = "UPDATED"  # an earlier run's issue, written again
                    self.dirty_records.add(ado_id)
            self.dirty_ledger.add(ado_id)
            self.units += 1
            self.since_checkpoint += 1

    def _write_rule(self, entry: LedgerEntry, rule: str, note: str | None = None) -> None:
        """What a write phase carried (or could not) for the fidelity report."""
        with self.lock:
            rules = set(entry.extra.get("write_rules", [])) | {rule}
            entry.extra["write_rules"] = sorted(rules)
            if note:
                notes = entry.extra.setdefault("write_notes", [])
                if note not in notes and len(notes) < 20:
                    notes.append(note)
            self.dirty_ledger.add(entry.ado_id)

    def _active(self, ado_id: int) -> bool:
        """Still to be worked on in this run (not skipped, not failed)."""
        return self.items[ado_id].action != "skip" and self.records[ado_id].status != "FAILED"

    def _count_units(self) -> None:
        units = 0
        for ado_id in self.items:
            units += self._steps_done(ado_id) if self._active(ado_id) else len(WRITE_PHASES)
        self.units = self.units_at_start = units

    # ------------------------------------------------------------------ worker pool
    def _run_pool(
        self,
        tasks: Sequence[T],
        work: Callable[[T], None],
        *,
        ids_of: Callable[[T], Sequence[int]],
        workers: int = ITEM_WORKERS,
        prepare: Callable[[list[T]], None] | None = None,
        group: int = CHECKPOINT_ITEMS,
    ) -> None:
        """Run ``work`` over ``tasks`` with ``workers`` threads, checkpointing as it goes.

        ``prepare`` sees each group of tasks before any of them starts (to read
        ADO in bulk and to save write intents). A task that raises
        :class:`~engine.settle.Deferred` (a write of it is settling) goes back in
        the queue for its deadline while the other tasks go on; the pool ends when
        every task, deferred ones included, is done, or when the run stops.
        """
        pos, ready = 0, deque[T]()
        later: list[tuple[float, int, T]] = []  # (deadline, order, task): deferred work
        seq = 0
        running: dict[Future[Deferred | None], T] = {}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate") as pool:
            while True:
                stopping = self.stop.is_set()
                if not stopping:
                    now = self.settle.clock()
                    while later and later[0][0] <= now:
                        ready.appendleft(heapq.heappop(later)[2])
                    if not ready and pos < len(tasks):
                        batch = list(tasks[pos : pos + group])
                        pos += group
                        if prepare is not None:
                            prepare(batch)
                        ready.extend(batch)
                    while ready and len(running) < workers and not self.stop.is_set():
                        task = ready.popleft()
                        running[pool.submit(self._guard, work, task, ids_of)] = task
                idle = not running and not ready and pos >= len(tasks)
                if not running and (stopping or (idle and not later)):
                    break
                if running:
                    done, _ = wait(list(running), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        deferred = future.result()  # _guard lets through only crashes
                        if deferred is not None:
                            self.settle.count("deferred", "work")
                            seq += 1
                            again = cast(T, deferred.task) if deferred.task is not None else task
                            heapq.heappush(later, (deferred.until, seq, again))
                elif idle and later:
                    # only settling work is left: wait for the first deadline, stop-aware
                    self.stop.wait(max(0.0, min(POLL_SECONDS, later[0][0] - self.settle.clock())))
                self._checkpoint()
        self._checkpoint(force=True)
        self._raise_if_stopped()

    def _guard(
        self, work: Callable[[T], None], task: T, ids_of: Callable[[T], Sequence[int]]
    ) -> Deferred | None:
        try:
            work(task)
        except Interrupted:
            return None
        except Deferred as deferred:
            return deferred
        except StopRequested:
            return None  # the transport saw the stop before sending
        except (AuthError, BlockedAddress) as exc:
            # every later call would be refused the same way: the run cannot go on
            self._request_stop(StopRun("FAILED", str(exc)))
        except OutcomeUnknown as exc:
            return self._ambiguous(
                [phase_key(self.phase, i) for i in ids_of(task)],
                ids_of(task),
                exc,
                kind=getattr(exc, "write_kind", None),
            )
        except TransientError as exc:
            self._fail_all(ids_of(task), f"transient errors exhausted: {exc}")
        except EngineError as exc:
            self._fail_all(ids_of(task), str(exc))
        except Exception as exc:  # a bug on one item must not end the run
            self._fail_all(ids_of(task), f"internal error: {exc!r}")
        return None

    def _ambiguous(
        self,
        keys: Sequence[str],
        ids: Sequence[int],
        exc: Exception,
        task: Any = None,
        kind: str | None = None,
    ) -> Deferred | None:
        """A write of ``keys`` may still land: hold them, defer the work (or give up)."""
        until = 0.0
        for key, ado_id in zip(keys, ids, strict=True):
            self.rounds[key] = self.rounds.get(key, 0) + 1
            if self.rounds[key] > AMBIGUOUS_ROUNDS:
                self._fail_item(
                    ado_id, f"outcome still unknown after {AMBIGUOUS_ROUNDS} settle rounds: {exc}"
                )
                continue
            until = max(until, self.settle.mark(key, ado_id, kind=kind))
            self._suspect(ado_id)
        if not until:
            return None
        self._log(
            f"… {len(ids)} item(s) settling until Jira shows whether a write landed "
            f"({str(exc)[:120]})"
        )
        return Deferred(until, str(exc), task=task)

    def _note_ambiguous(
        self, entry: LedgerEntry, exc: OutcomeUnknown, kind: str, ident: str, **what: Any
    ) -> None:
        """Remember which write was ambiguous, to tell after the settle whether it landed."""
        exc.write_kind = kind  # type: ignore[attr-defined]
        with self.lock:
            entry.extra.setdefault("ambiguous", []).append({"kind": kind, "id": ident, **what})
            self.dirty_ledger.add(entry.ado_id)

    def _resolve_ambiguous(
        self, entry: LedgerEntry, landed: Callable[[Mapping[str, Any]], bool]
    ) -> None:
        """After the look-up: each ambiguous write was adopted, or is to be sent again."""
        with self.lock:
            noted = entry.extra.pop("ambiguous", None) or []
            self.dirty_ledger.add(entry.ado_id)
        for row in noted:
            self.settle.count("adopted" if landed(row) else "resent", str(row.get("kind")))

    def _suspect(self, ado_id: int) -> None:
        """An ambiguous write touched this item: verify looks for duplicates on it."""
        with self.lock:
            entry = self.ledger.get(ado_id)
            if entry is not None and not entry.extra.get("suspect"):
                entry.extra["suspect"] = True
                self.dirty_ledger.add(ado_id)
            elif entry is None:
                self.suspects_pending.add(ado_id)

    def _fail_all(self, ids: Sequence[int], reason: str) -> None:
        for ado_id in ids:
            with self.lock:
                record = self.records[ado_id]
                record.attempts = max(record.attempts, 1)
            self._fail_item(ado_id, reason)

    # ================================================================== phase 1
    def _load_or_plan(self) -> None:
        plan = self.store.load_plan()
        self.ledger = self.store.load_ledger()
        self.settle = SettleBook(self.spec.settle_seconds, self.store.load_unsettled())
        self.crosswalk = {i: e.jira_key for i, e in self.ledger.items() if e.jira_key}
        if plan and plan.get("version") == PLAN_VERSION:
            self.resumed = True
            self._adopt_plan(plan)
            self.records = self.store.load_items()
            self._ensure_records()
            self._count_units()
            if plan.get("live") and plan.get("live") != self.token:
                self._mark_open_intents()
            self._go_live()
            return
        self._enter_phase(1)
        self._preflight_and_plan()
        if not self.spec.dry_run:
            self._go_live()

    def _go_live(self) -> None:
        """Say in the plan that this process may have writes in flight until it stops."""
        self.plan["live"] = self.token
        self.store.save_plan(self.plan)

    def _end_live(self) -> None:
        """A clean stop: nothing of this process is in flight any more."""
        if self.plan.get("live") == self.token:
            self.plan.pop("live", None)
            self.store.save_plan(self.plan)

    def _mark_open_intents(self) -> None:
        """The process before us died: any write it had open may still land.

        Its requests were sent before now, and none can land later than
        ``settle_seconds`` after it was sent, so holding every write it may have had
        open (create intents, the per-phase intents saved before each group) until
        ``now + settle_seconds`` is safe.
        """
        marked = 0
        for ado_id, record in self.records.items():
            if ado_id not in self.ledger and record.attempts > 0 and self._active(ado_id):
                self.settle.mark(create_key(ado_id), ado_id)
                self.suspects_pending.add(ado_id)
                marked += 1
        for ado_id, entry in self.ledger.items():
            pending = entry.extra.get("pending")
            if (
                isinstance(pending, dict)
                and pending.get("token") != self.token
                and ado_id in self.items
            ):
                self.settle.mark(phase_key(int(pending.get("phase", 0)), ado_id), ado_id)
                entry.extra["suspect"] = True
                self.dirty_ledger.add(ado_id)
                marked += 1
        if marked:
            self._log(
                f"Taking over: {marked} write(s) of the previous worker may still be "
                f"in flight; held for {self.spec.settle_seconds:g} s before any re-send"
            )

    def _adopt_plan(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        plan["exactly_once_base"] = dict(plan.get("exactly_once") or {})
        plan["repairs_base"] = list(plan.get("repairs") or [])
        self.items = {d["ado_id"]: PlannedItem.from_dict(d) for d in plan["items"]}
        self.order = [d["ado_id"] for d in plan["items"]]
        self.users = UserDirectory(self.target, plan.get("users", {}))

    def _ensure_records(self) -> None:
        for ado_id, item in self.items.items():
            if ado_id not in self.records:
                self.records[ado_id] = self._new_record(item)
                self.dirty_records.add(ado_id)

    def _new_record(self, item: PlannedItem) -> ItemRecord:
        entry = self.ledger.get(item.ado_id)
        record = ItemRecord(item.ado_id, item.ado_type, _web_url(self.ado_web, item.ado_id))
        if entry is not None:
            record.jira_key, record.jira_id = entry.jira_key, entry.jira_id
        if item.action == "skip":
            record.status, record.error = "SKIPPED", item.reason
        return record

    def _preflight_and_plan(self) -> None:
        spec = self.spec
        meta = self._preflight()
        work_items = self._discover()
        self._poll(force=True)
        self._raise_if_stopped()
        ado_types = {t.name: t for t in meta["ado_types"]}
        type_map = self._type_mappings(work_items, meta["jira_types"], meta["statuses"])
        screens = self._screens(type_map, meta["jira_types"])
        self.plan = {
            "version": PLAN_VERSION,
            "run_type": spec.run_type,
            "dry_run": spec.dry_run,
            "project": meta["project"],
            "jira_types": [vars(t) for t in meta["jira_types"]],
            "statuses": {k: [vars(s) for s in v] for k, v in meta["statuses"].items()},
            "screens": {k: sorted(v) for k, v in screens.items()},
            "story_points_field": meta["story_points_field"],
            "priorities": meta["priorities"],
            "link_types": meta["link_types"],
            "upload_limit": meta["upload_limit"],
            "type_mappings": {k: v.to_dict() for k, v in type_map.items()},
            "problems": list(meta["problems"]),
            "phases_done": [],
            "account_id": meta["account_id"],
        }
        self._plan_items(work_items, ado_types, type_map, meta["jira_types"])
        self._state_mappings(ado_types, type_map, meta["statuses"])
        self._resolve_users(work_items)
        planned = [
            wi for wi in work_items if wi.id in self.items and self.items[wi.id].action != "skip"
        ]
        self._plan_components(planned)
        self._plan_sprints(planned)
        self.store.save_plan(self.plan)
        self.store.set_total(len(self.items))
        self.records = {i: self._new_record(p) for i, p in self.items.items()}
        self.dirty_records = set(self.records)
        self._count_units()
        self._checkpoint(force=True)
        self._raise_if_stopped()
        self._save_report("RUNNING")
        self._log(
            f"Plan: {len(self.items)} work items "
            f"({sum(1 for p in self.items.values() if p.action != 'skip')} to write)"
        )

    # ------------------------------------------------------------------ preflight
    def _preflight(self) -> dict[str, Any]:
        key = self.spec.project_key
        self._guarded_preflight(self.source.check_access, "Azure DevOps")
        me = self._guarded_preflight(self.target.myself, "Jira")
        project = self._guarded_preflight(lambda: self.target.get_project(key), "Jira project")
        jira_types = self.target.issue_types(key)
        if not jira_types:
            raise RunAborted(
                f"the Jira user may not create issues in project {key} "
                "(no issue types on its create screens)"
            )
        fields = self.target.fields()
        return {
            "project": {
                "id": project.id,
                "key": project.key,
                "name": project.name,
                "style": project.style,
            },
            "jira_types": jira_types,
            "statuses": self.target.project_statuses(key),
            "story_points_field": self._story_points_field(fields),
            "priorities": [str(p.get("name")) for p in self.target.priorities()],
            "link_types": [str(t.get("name")) for t in self.target.link_types()],
            "upload_limit": self.target.attachment_upload_limit(),
            "ado_types": self.source.work_item_types(),
            "problems": [],
            "account_id": str(me.get("accountId") or ""),
        }

    @staticmethod
    def _guarded_preflight(call: Callable[[], T], what: str) -> T:
        try:
            return call()
        except AuthError as exc:
            raise RunAborted(f"{what}: credentials refused: {exc}") from exc
        except PermanentError as exc:
            if exc.status == 404 or "not found" in str(exc).lower():
                raise RunAborted(f"{what} not found: {exc}") from exc
            raise RunAborted(f"{what}: {exc}") from exc

    @staticmethod
    def _story_points_field(fields: Sequence[Mapping[str, Any]]) -> str | None:
        names = ("story points", "story point estimate")
        for wanted in names:
            for f in fields:
                if str(f.get("name", "")).lower() == wanted:
                    return str(f.get("id"))
        return None

    def _discover(self) -> list[WorkItem]:
        spec = self.spec
        types = normalize_type_filter(spec.type_filter)
        since = spec.changed_since if spec.run_type == "INCREMENTAL" else None
        ids = self.source.query_ids(
            area_path=spec.area_filter or None, types=types or None, changed_since=since
        )
        items = [
            wi
            for wi in self.source.get_work_items(ids)
            if matches_filters(wi, spec.area_filter, types)
        ]
        return sorted(items, key=lambda wi: wi.id)

    def _type_mappings(
        self,
        items: Sequence[WorkItem],
        jira_types: Sequence[IssueType],
        statuses: Mapping[str, Sequence[Status]],
    ) -> dict[str, TypeMapping]:
        names = sorted({wi.type for wi in items})
        type_map, errors = suggest_type_mappings(
            names, jira_types, self.spec.type_overrides, hierarchy_pairs(items)
        )
        errors += check_state_overrides(self.spec.state_overrides, statuses)
        if errors:
            raise RunAborted("preflight: " + "; ".join(errors))
        return type_map

    def _screens(
        self, type_map: Mapping[str, TypeMapping], jira_types: Sequence[IssueType]
    ) -> dict[str, set[str]]:
        wanted = {m.jira_type_id for m in type_map.values()}
        wanted |= {m.standalone_type_id for m in type_map.values() if m.standalone_type_id}
        names = {t.id: t.name for t in jira_types}
        screens: dict[str, set[str]] = {}
        errors: list[str] = []
        for type_id in sorted(wanted):
            metas = self.target.create_fields(self.spec.project_key, type_id)
            screens[type_id] = {m.field_id for m in metas}
            errors += self._unfillable(metas, names.get(type_id, type_id))
        if errors:
            raise RunAborted("preflight: " + "; ".join(errors))
        return screens

    def _unfillable(self, metas: Sequence[FieldMeta], type_name: str) -> list[str]:
        fillable = set(FILLABLE)
        return [
            f"Jira type '{type_name}' requires field '{m.name}' ({m.field_id}) on its create "
            "screen with no default value, and nothing in Azure DevOps fills it: make it "
            "optional or give it a default"
            for m in metas
            if m.required
            and not m.has_default
            and m.field_id not in fillable
            and not m.field_id.startswith("customfield_10016")
        ]

    # ------------------------------------------------------------------ planning
    def _plan_items(
        self,
        items: list[WorkItem],
        ado_types: Mapping[str, WorkItemType],
        type_map: Mapping[str, TypeMapping],
        jira_types: Sequence[IssueType],
    ) -> None:
        removed = {
            wi.id for wi in items if state_category(ado_types.get(wi.type), wi.state) == "Removed"
        }
        if self.spec.run_type == "SAMPLE":
            level = {n: m.ado_level for n, m in type_map.items()}
            keep = set(
                select_sample(
                    items,
                    self.spec.sample_size,
                    lambda t: level.get(t, 0),
                    lambda wi: wi.id in removed,
                )
            )
            items = [wi for wi in items if wi.id in keep]
        planned: dict[int, PlannedItem] = {}
        for wi in items:
            tm = type_map[wi.type]
            action, reason = decide_action(
                wi.rev, wi.id in removed, self.ledger.get(wi.id), self.spec.run_type
            )
            planned[wi.id] = PlannedItem(
                wi.id,
                wi.type,
                wi.rev,
                wi.title,
                wi.state,
                state_category(ado_types.get(wi.type), wi.state),
                wi.url,
                wi.parent_id,
                tm.jira_type_id,
                tm.jira_type,
                tm.jira_level,
                action,
                reason,
            )
        self._assign_parents(planned, type_map, jira_types)
        self.order = creation_order(planned)
        self.items = {i: planned[i] for i in self.order}
        self.plan["items"] = [self.items[i].to_dict() for i in self.order]
        self.plan["identity_emails"] = self._identity_emails(items)
        if self.spec.dry_run:
            self.wi_cache = {wi.id: wi for wi in items}

    def _assign_parents(
        self,
        planned: dict[int, PlannedItem],
        type_map: Mapping[str, TypeMapping],
        jira_types: Sequence[IssueType],
    ) -> None:
        levels = {t.id: t.hierarchy_level for t in jira_types}
        ledger_levels: dict[int, int | None] = {
            i: e.extra.get("level", levels.get(str(e.extra.get("type")), None))
            for i, e in self.ledger.items()
        }
        screens = self.plan["screens"]

        def standalone(item: PlannedItem) -> tuple[str, str] | None:
            tm = type_map.get(item.ado_type)
            if tm is None or not tm.standalone_type_id:
                return None
            return tm.standalone_type_id, tm.standalone_type

        assign_parents(
            planned,
            ledger_levels=ledger_levels,
            parent_on_screen=lambda tid: "parent" in screens.get(tid, []),
            standalone=standalone,
        )

    @staticmethod
    def _identity_emails(items: Sequence[WorkItem]) -> dict[str, str]:
        out: dict[str, str] = {}
        for wi in items:
            for name in ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy"):
                ref = wi.fields.get(name)
                if isinstance(ref, dict) and ref.get("id") and "@" in str(ref.get("uniqueName")):
                    out[str(ref["id"]).lower()] = str(ref["uniqueName"]).lower()
        return out

    @staticmethod
    def _display_names(items: Sequence[WorkItem]) -> dict[str, str]:
        out: dict[str, str] = {}
        for wi in items:
            for name in ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy"):
                ref = wi.fields.get(name)
                if isinstance(ref, dict) and "@" in str(ref.get("uniqueName")):
                    out[str(ref["uniqueName"]).lower()] = str(ref.get("displayName") or "")
        return out

    def _state_mappings(
        self,
        ado_types: Mapping[str, WorkItemType],
        type_map: Mapping[str, TypeMapping],
        statuses: Mapping[str, Sequence[Status]],
    ) -> None:
        used = [
            ado_types[n]
            for n in sorted({p.ado_type for p in self.items.values()})
            if n in ado_types
        ]
        mappings, problems = suggest_state_mappings(
            used, type_map, statuses, self.spec.state_overrides
        )
        self.plan["state_mappings"] = [m.to_dict() for m in mappings]
        self.plan["problems"].extend(problems)
        for item in self.items.values():
            status = self._target_status(item, item.jira_type_id)
            item.target_status = status.name if status else ""
        self.plan["items"] = [self.items[i].to_dict() for i in self.order]

    def _resolve_users(self, items: Sequence[WorkItem]) -> None:
        emails: set[str] = set()
        for wi in items:
            if wi.id in self.items and self.items[wi.id].action != "skip":
                emails |= user_emails(wi)
        emails |= set(self.plan.get("identity_emails", {}).values())
        self.users.resolve(emails, self._display_names(items))
        self.plan["users"] = self.users.snapshot()

    # ------------------------------------------------------------------ components
    def _plan_components(self, items: Sequence[WorkItem]) -> None:
        """Area paths → components (see the module docstring)."""
        info: dict[str, Any] = {
            "mode": "label",
            "byPath": {},
            "created": [],
            "existing": [],
            "wouldCreate": [],
            "notCreated": [],
            "reason": "",
        }
        self.plan["components"] = info
        types = {self.items[wi.id].jira_type_id for wi in items}
        screens = self.plan.get("screens", {})
        if not any("components" in screens.get(t, []) for t in types):
            info["reason"] = "'components' is not on the create screens used: areas are labels"
            return
        names: dict[str, str] = {}
        for wi in items:
            name = component_name(wi.area_path)
            if name:
                names[wi.area_path] = name
        if not names:
            info["mode"], info["reason"] = "component", "no item below the project root area"
            return
        key = self.spec.project_key
        known = {
            str(c.get("name", "")).lower(): str(c.get("id")) for c in self.target.components(key)
        }
        info["mode"] = "component"
        refused = ""
        for path, name in sorted(names.items()):
            cid = known.get(name.lower())
            if cid is not None:
                if name not in info["existing"] and name not in info["created"]:
                    info["existing"].append(name)
            elif self.spec.dry_run:
                if name not in info["wouldCreate"]:
                    info["wouldCreate"].append(name)
            elif refused:
                if name not in info["notCreated"]:
                    info["notCreated"].append(name)
            else:
                cid, refused = self._create_component(key, name, known)
                if cid is not None:
                    info["created"].append(name)
                elif name not in info["notCreated"]:
                    info["notCreated"].append(name)
            if cid is not None:
                info["byPath"][path] = cid
        if refused:
            info["reason"] = refused
            self.plan["problems"].append(
                f"components: {refused}; {len(info['notCreated'])} area(s) carried as labels"
            )
        if info["wouldCreate"]:
            info["reason"] = "dry run: nothing created"

    def _create_component(
        self, key: str, name: str, known: dict[str, str]
    ) -> tuple[str | None, str]:
        """(component id, refusal reason): looks again by name after an unclear answer."""
        mark = f"component:{name.lower()}"
        if self.settle.get(mark) is not None:
            self._wait_settled(mark)
            known.update(
                {
                    str(c.get("name", "")).lower(): str(c.get("id"))
                    for c in self.target.components(key)
                }
            )
            if name.lower() in known:
                self.settle.count("adopted", "component")
                return known[name.lower()], ""
        try:
            row = self.target.create_component(key, name)
        except AuthError as exc:
            if exc.status == 403:
                return None, f"the Jira user may not create components (403: {exc})"
            raise
        except OutcomeUnknown as exc:
            self.settle.mark(mark, None)
            return (
                self._create_component(key, name, known)
                if self._rounds_left(mark, exc)
                else (None, "")
            )
        except (PermanentError, TransientError) as exc:
            # "already exists" (a race, an earlier attempt) or no answer: read the list
            known.update(
                {
                    str(c.get("name", "")).lower(): str(c.get("id"))
                    for c in self.target.components(key)
                }
            )
            if name.lower() in known:
                return known[name.lower()], ""
            with self.lock:
                self.plan["problems"].append(f"components: '{name}' not created: {exc}")
            return None, ""
        known[name.lower()] = str(row.get("id"))
        self._log(f"✓ component '{name}' created")
        return str(row.get("id")), ""

    def _rounds_left(self, key: str, exc: Exception) -> bool:
        """Count one settle round of ``key``; False (and a problem) past the limit."""
        self.rounds[key] = self.rounds.get(key, 0) + 1
        if self.rounds[key] <= AMBIGUOUS_ROUNDS:
            return True
        with self.lock:
            self.plan["problems"].append(
                f"{key}: outcome still unknown after {AMBIGUOUS_ROUNDS} settle rounds: {exc}"
            )
        self.settle.settle(key)
        return False

    def _wait_settled(self, key: str) -> None:
        """Wait (stop-aware, renewing the lease) until ``key``'s deadline, then release it."""
        while True:
            remaining = self._deadline(key) - self.settle.clock()
            if remaining <= 0:
                break
            self.stop.wait(min(POLL_SECONDS, remaining))
            self._checkpoint()
            self._raise_if_stopped()
        self.settle.settle(key)

    # ------------------------------------------------------------------ sprints
    def _plan_sprints(self, items: Sequence[WorkItem]) -> None:
        """Iteration paths → sprints of the project's scrum board (module docstring)."""
        info: dict[str, Any] = {
            "mode": "label",
            "boardId": None,
            "byPath": {},
            "wouldCreate": [],
            "reason": "",
        }
        self.plan["sprints"], self.plan["sprint_of"] = info, {}
        paths = sorted({wi.iteration_path for wi in items if below_root(wi.iteration_path)})
        if not paths:
            info["reason"] = "no item is scheduled in an iteration"
            return
        boards = [
            b
            for b in self.target.boards(self.spec.project_key)
            if str(b.get("type", "")).lower() == "scrum"
        ]
        if not boards:
            info["reason"] = "the project has no scrum board: iterations are labels"
            return
        board = int(boards[0]["id"])
        info.update(mode="sprint", boardId=board)
        nodes = _node_paths(self.source.classification_nodes("iterations"))
        existing = {str(s.get("name", "")).lower(): s for s in self.target.sprints(board)}
        leaves: dict[str, int] = {}
        for path in paths:
            leaf = path.rsplit("\\", 1)[-1].strip()
            leaves[leaf.lower()] = leaves.get(leaf.lower(), 0) + 1
        refused = ""
        for path in paths:
            leaf = path.rsplit("\\", 1)[-1].strip()
            name = (
                leaf
                if leaves[leaf.lower()] == 1
                else " / ".join(p.strip() for p in below_root(path).split("\\"))
            )[:255]
            node = nodes.get(path.lower())
            start = node.start_date if node else None
            finish = node.finish_date if node else None
            row = existing.get(name.lower())
            entry: dict[str, Any] = {"name": name, "start": start, "finish": finish}
            if row is not None:
                entry.update(
                    id=int(row["id"]), state=str(row.get("state") or "future"), created=False
                )
            elif self.spec.dry_run:
                info["wouldCreate"].append(name)
                continue
            elif refused:
                continue
            else:
                sprint, refused = self._create_sprint(board, name, start, finish, existing)
                if sprint is None:
                    continue
                entry.update(
                    id=int(sprint["id"]), state=str(sprint.get("state") or "future"), created=True
                )
            info["byPath"][path] = entry
        if refused:
            info["reason"] = refused
            self.plan["problems"].append(f"sprints: {refused}; iterations carried as labels")
        usable = {p: e["id"] for p, e in info["byPath"].items() if e["state"] != "closed"}
        for wi in items:
            if wi.iteration_path in usable:
                self.plan["sprint_of"][str(wi.id)] = usable[wi.iteration_path]

    def _create_sprint(
        self, board: int, name: str, start: str | None, finish: str | None, existing: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str]:
        mark = f"sprint:{board}:{name.lower()}"
        if self.settle.get(mark) is not None:
            self._wait_settled(mark)
            existing.update({str(s.get("name", "")).lower(): s for s in self.target.sprints(board)})
            if name.lower() in existing:
                self.settle.count("adopted", "sprint")
                return existing[name.lower()], ""
        try:
            sprint = self.target.create_sprint(board, name, _jira_date(start), _jira_date(finish))
        except AuthError as exc:
            if exc.status == 403:
                return None, f"the Jira user may not create sprints (403: {exc})"
            raise
        except OutcomeUnknown as exc:
            self.settle.mark(mark, None)
            if self._rounds_left(mark, exc):
                return self._create_sprint(board, name, start, finish, existing)
            return None, ""
        except (PermanentError, TransientError) as exc:
            existing.update({str(s.get("name", "")).lower(): s for s in self.target.sprints(board)})
            if name.lower() in existing:
                return existing[name.lower()], ""
            with self.lock:
                self.plan["problems"].append(f"sprints: '{name}' not created: {exc}")
            return None, ""
        existing[name.lower()] = sprint
        self._log(f"✓ sprint '{name}' created")
        return sprint, ""

    # ------------------------------------------------------------------ lookups
    def _jira_statuses(self, type_id: str) -> list[Status]:
        return [Status(**s) for s in self.plan.get("statuses", {}).get(type_id, [])]

    def _target_status(self, item: PlannedItem, type_id: str) -> Status | None:
        cache_key = (type_id, f"{item.ado_type}\x00{item.state}")
        if cache_key in self.statuses_cache:
            return self.statuses_cache[cache_key]
        names = {t["id"]: t["name"] for t in self.plan.get("jira_types", [])}
        mapping, _ = map_state(
            item.ado_type,
            item.state,
            item.state_category,
            names.get(type_id, type_id),
            self._jira_statuses(type_id),
            self.spec.state_overrides,
        )
        status = next(
            (s for s in self._jira_statuses(type_id) if mapping and s.id == mapping.jira_status_id),
            None,
        )
        self.statuses_cache[cache_key] = status
        return status

    def _type_level(self, type_id: str) -> int:
        for t in self.plan.get("jira_types", []):
            if t["id"] == type_id:
                return int(t["hierarchy_level"])
        return 0

    def _context(self, type_id: str, ado_id: int | None = None) -> ContentContext:
        entry = self.ledger.get(ado_id) if ado_id is not None else None
        urls = dict(entry.extra.get("attachment_urls", {})) if entry else {}
        components = self.plan.get("components") or {}
        sprints = self.plan.get("sprints") or {}
        attachments = self.spec.migrate_attachments
        return ContentContext(
            components=dict(components.get("byPath") or {}),
            area_as="component" if components.get("mode") == "component" else "label",
            sprints={
                p: int(e["id"])
                for p, e in (sprints.get("byPath") or {}).items()
                if e.get("state") != "closed"
                or (entry is not None and entry.extra.get("sprint") == e.get("id"))
            },
            iteration_as="sprint" if sprints.get("mode") == "sprint" else "label",
            upload_limit=self.plan.get("upload_limit") if attachments else None,
            skipped_files=list(entry.extra.get("skipped_attachments", []))
            if entry and attachments
            else [],
            ado_web_url=self.ado_web,
            ado_origin=self.ado_origin,
            jira_base_url=str(getattr(self.target, "base_url", "")),
            story_points_field=self.plan.get("story_points_field"),
            priorities=list(self.plan.get("priorities") or [])
            or ["Highest", "High", "Medium", "Low", "Lowest"],
            screen_fields=set(self.plan.get("screens", {}).get(type_id, [])),
            users=self.users.accounts(),
            crosswalk=self.crosswalk,
            attachment_urls=urls,
            identity_emails=self.plan.get("identity_emails", {}),
        )

    def _fetch(self, ids: Sequence[int]) -> dict[int, WorkItem]:
        out: dict[int, WorkItem] = {}
        for part in chunks(list(ids), ADO_BATCH):
            for wi in self.source.get_work_items(part):
                out[wi.id] = wi
        return out

    # ================================================================== dry run
    def _finish_dry_run(self) -> RunOutcome:
        facts: dict[int, dict[str, Any]] = {}
        limit = self.plan.get("upload_limit")
        if not self.wi_cache:  # a resumed dry run: read the items again
            self.wi_cache = self._fetch([i for i in self.order if self._active(i)])
        for ado_id, item in self.items.items():
            wi = self.wi_cache.get(ado_id)
            if wi is None or item.action == "skip":
                continue
            content = issue_content(wi, self._context(item.jira_type_id, ado_id))
            facts[ado_id] = self._facts(wi, content)
            facts[ado_id]["skipped_attachments"] = self._oversized(wi, limit)
        samples = [self._sample_payload(i) for i in self._sample_ids()]
        with self.lock:
            for record in self.records.values():
                if record.status == "PENDING":
                    record.status, record.error = "SKIPPED", "dry run: nothing written to Jira"
                    self.dirty_records.add(record.ado_id)
        self._flush_state()
        self._save_report("COMPLETED", samples=samples, facts=facts)
        self._flush_logs()
        stats = self._stats()
        self._announce("completed", stats)
        return RunOutcome("COMPLETED", stats)

    def _sample_ids(self) -> list[int]:
        by_type: dict[str, list[int]] = {}
        for ado_id in self.order:
            if self.items[ado_id].action != "skip":
                by_type.setdefault(self.items[ado_id].ado_type, []).append(ado_id)
        picked: list[int] = []
        while len(picked) < DRY_RUN_SAMPLES and any(by_type.values()):
            for ids in by_type.values():
                if ids and len(picked) < DRY_RUN_SAMPLES:
                    picked.append(ids.pop(0))
        return picked

    def _sample_payload(self, ado_id: int) -> dict[str, Any]:
        item, wi = self.items[ado_id], self.wi_cache[ado_id]
        payload, _ = self._create_payload(wi, item, placeholder_parents=True)
        comments = []
        if self.spec.migrate_comments:
            ctx = self._context(item.jira_type_id, ado_id)
            for c in list(self.source.iter_comments(ado_id))[:3]:
                if comment_is_migratable(c):
                    comments.append(
                        {
                            "body": comment_content(c, ctx).body,
                            "properties": [self._comment_property(ado_id, c)],
                        }
                    )
        return {
            "adoId": ado_id,
            "adoType": item.ado_type,
            "action": item.action,
            "create": payload,
            "comments": comments,
            "targetStatus": item.target_status,
            "attachments": [{"name": a.name, "size": a.size} for a in wi.attachments],
        }

    # ================================================================== phase 2
    def _phase_create(self) -> None:
        to_create = [
            i
            for i in self.order
            if self._active(i) and self.items[i].action == "create" and i not in self.ledger
        ]
        self._adopt_existing(to_create)
        for wave in waves(self.items, [i for i in to_create if i not in self.ledger]):
            groups = chunks(wave, BULK_SIZE)
            self._run_pool(
                groups,
                self._create_chunk,
                ids_of=lambda g: g,
                workers=CREATE_WINDOW,
                prepare=self._mark_create_intent,
                group=CREATE_WINDOW,
            )
        updates = [i for i in self.order if self._active(i) and not self._step_done(i, 2)]
        self._run_pool(updates, self._write_existing, ids_of=lambda i: [i], prepare=self._prefetch)
        self._sprint_moves()
        self._complete_past_sprints()

    # ------------------------------------------------------------------ sprint membership
    def _sprint_moves(self) -> None:
        """Issues into their sprints, 50 a request; ``extra["sprint"]`` records each."""
        targets = self.plan.get("sprint_of") or {}
        if not targets:
            return
        groups: dict[int, list[int]] = {}
        for ado_id in self.order:
            sprint = targets.get(str(ado_id))
            if sprint is None or not self._active(ado_id) or ado_id not in self.ledger:
                continue
            if self.ledger[ado_id].extra.get("sprint") != sprint:
                groups.setdefault(int(sprint), []).append(ado_id)
        batches = [
            (sprint, part) for sprint, ids in groups.items() for part in chunks(ids, SPRINT_MOVE)
        ]
        self._run_pool(
            batches,
            self._move_batch,
            ids_of=lambda b: b[1],
            workers=CREATE_WINDOW,
            group=CREATE_WINDOW,
        )

    def _move_batch(self, batch: tuple[int, list[int]]) -> None:
        sprint, ids = batch
        mark = f"sprint-move:{sprint}:{ids[0]}"
        if self.settle.get(mark) is not None:
            self.settle.hold(mark)  # a move is harmless to repeat once the first has settled
            self.settle.settle(mark, adopted=False)
        self._check_stop()
        try:
            self.target.move_to_sprint(sprint, [self.ledger[i].jira_key for i in ids])
        except AuthError:
            raise
        except OutcomeUnknown as exc:
            if self._rounds_left(mark, exc):
                raise Deferred(self.settle.mark(mark, ids[0]), str(exc)) from exc
            return
        except (PermanentError, TransientError) as exc:
            # the item is in Jira all the same: say what is missing, do not fail it
            for ado_id in ids:
                self._write_rule(
                    self.ledger[ado_id],
                    "sprint-membership",
                    f"sprint-membership: not moved into sprint {sprint}: {str(exc)[:200]}",
                )
            return
        with self.lock:
            for ado_id in ids:
                entry = self.ledger[ado_id]
                entry.extra["sprint"] = sprint
                provenance.note(entry, self.spec.run_id, sprint=True)
                rules = set(entry.extra.get("write_rules", [])) | {"sprint-membership"}
                entry.extra["write_rules"] = sorted(rules)
                self.dirty_ledger.add(ado_id)
            self.since_checkpoint += len(ids)

    def _complete_past_sprints(self) -> None:
        """Close the sprints this migration created whose iteration is over (oldest first):
        future → active → closed, one at a time. Recorded in the plan."""
        info = self.plan.get("sprints") or {}
        now = datetime.now(UTC)
        due = [
            e
            for e in (info.get("byPath") or {}).values()
            if e.get("created")
            and e.get("state") != "closed"
            and (_when(e.get("finish")) or now) < now
            and _when(e.get("start"))
        ]
        due.sort(key=lambda e: str(e.get("finish")))
        for entry in due:
            self._raise_if_stopped()
            for state in ("active", "closed"):
                if entry["state"] == state or (state == "active" and entry["state"] == "closed"):
                    continue
                try:
                    self.target.update_sprint(int(entry["id"]), state=state)
                    entry["state"] = state
                except AuthError as exc:
                    if exc.status != 403:
                        raise
                    self._sprint_problem(entry, state, exc)
                    break
                except (PermanentError, TransientError, OutcomeUnknown) as exc:
                    actual = self._sprint_state(info, int(entry["id"]))
                    if actual in (state, "closed"):
                        entry["state"] = actual
                        continue
                    self._sprint_problem(entry, state, exc)
                    break
            self.store.save_plan(self.plan)

    def _sprint_state(self, info: Mapping[str, Any], sprint_id: int) -> str:
        try:
            rows = self.target.sprints(int(info["boardId"]))
        except EngineError:
            return ""
        return next((str(r.get("state")) for r in rows if int(r.get("id", -1)) == sprint_id), "")

    def _sprint_problem(self, entry: dict[str, Any], state: str, exc: Exception) -> None:
        with self.lock:
            self.plan["problems"].append(
                f"sprints: '{entry['name']}' left {entry['state']} "
                f"(could not make it {state}: {str(exc)[:200]})"
            )

    def _mark_create_intent(self, groups: list[list[int]]) -> None:
        """Saved before the bulk requests leave: a restart knows they may be in Jira."""
        with self.lock:
            for group in groups:
                for ado_id in group:
                    self.records[ado_id].attempts += 1
                    self.dirty_records.add(ado_id)
        self._flush_state()

    def _adopt_existing(self, ids: Sequence[int]) -> None:
        """Find issues already in Jira for items the ledger does not know, and adopt them."""
        for part in chunks(list(ids), SEARCH_CHUNK):
            self._adopt_by_label(part)
        self._checkpoint(force=True)
        self._raise_if_stopped()

    def _adopt_by_label(self, ids: Sequence[int]) -> set[int]:
        wanted = set(ids)
        found: dict[int, list[dict[str, Any]]] = {}
        issues = self.target.search(
            _label_jql(self.spec.project_key, sorted(wanted)),
            fields=("labels", "issuetype", "status"),
            properties=(PROPERTY_KEY,),
        )
        for issue in issues:
            for ado_id in self._ado_ids_of(issue, wanted):
                found.setdefault(ado_id, []).append(issue)
        for ado_id, hits in found.items():
            hits.sort(key=lambda h: _key_number(str(h.get("key"))))
            self._adopt(ado_id, hits[0])
            if len(hits) > 1:
                keys = ", ".join(str(h.get("key")) for h in hits)
                with self.lock:
                    self.plan["problems"].append(f"duplicate issues for ADO #{ado_id}: {keys}")
        return set(found)

    @staticmethod
    def _ado_ids_of(issue: Mapping[str, Any], wanted: set[int]) -> list[int]:
        prop = _properties_of(issue.get("properties")).get(PROPERTY_KEY)
        if isinstance(prop, dict) and isinstance(prop.get("adoId"), int):
            return [prop["adoId"]] if prop["adoId"] in wanted else []
        labels = (issue.get("fields") or {}).get("labels") or []
        out = []
        for label in labels:
            tail = str(label).removeprefix("ado-")
            if str(label).startswith("ado-") and tail.isdigit() and int(tail) in wanted:
                out.append(int(tail))
        return out

    def _adopt(self, ado_id: int, issue: Mapping[str, Any]) -> None:
        fields = issue.get("fields") or {}
        type_id = str((fields.get("issuetype") or {}).get("id") or self.items[ado_id].jira_type_id)
        status = str((fields.get("status") or {}).get("name") or "")
        created = CreatedIssue(str(issue.get("id", "")), str(issue.get("key", "")))
        self._record_created(ado_id, created, type_id, status=status, facts={"adopted": True})
        self.settle.settle(create_key(ado_id), adopted=True)

    def _record_created(
        self,
        ado_id: int,
        created: CreatedIssue,
        type_id: str,
        *,
        status: str,
        facts: dict[str, Any],
    ) -> None:
        item = self.items[ado_id]
        extra = {"level": self._type_level(type_id), "type": type_id, **facts}
        with self.lock:
            if ado_id in self.suspects_pending:
                self.suspects_pending.discard(ado_id)
                extra["suspect"] = True
        entry = LedgerEntry(ado_id, created.key, created.id, item.rev, state=status, extra=extra)
        provenance.note(entry, self.spec.run_id, created=True)
        with self.lock:
            self.ledger[ado_id] = entry
            self.crosswalk[ado_id] = created.key
            record = self.records[ado_id]
            record.jira_key, record.jira_id, record.status = created.key, created.id, "CREATED"
            self.dirty_records.add(ado_id)
            self.dirty_ledger.add(ado_id)
        self._mark_step(ado_id, 2)
        self._log(f"✓ {self._label(ado_id)} → {created.key}")

    # ------------------------------------------------------------------ create payloads
    def _create_payload(
        self, wi: WorkItem, item: PlannedItem, *, placeholder_parents: bool = False
    ) -> tuple[dict[str, Any], IssueContent]:
        type_id, parent_key = item.jira_type_id, None
        if item.jira_parent is not None:
            parent_key = self.crosswalk.get(item.jira_parent)
            if parent_key is None and placeholder_parents:
                parent_key = f"<key of ADO #{item.jira_parent}>"
        if parent_key is None and self._type_level(type_id) < 0:
            type_id = self._standalone_type(item) or type_id
        content = issue_content(wi, self._context(type_id, wi.id))
        fields = dict(content.fields)
        label = f"ado-{wi.id}"
        fields["labels"] = list(dict.fromkeys([*fields.get("labels", []), label]))
        fields["project"] = {"key": self.spec.project_key}
        fields["issuetype"] = {"id": type_id}
        if parent_key is not None:
            fields["parent"] = {"key": parent_key}
        props = [{"key": PROPERTY_KEY, "value": {"adoId": wi.id, "rev": wi.rev}}]
        return {"fields": fields, "properties": props}, content

    def _standalone_type(self, item: PlannedItem) -> str | None:
        tm = self.plan.get("type_mappings", {}).get(item.ado_type, {})
        return str(tm.get("standalone_type_id") or "") or None

    def _facts(self, wi: WorkItem, content: IssueContent) -> dict[str, Any]:
        emails = user_emails(wi)
        return {
            "rules": sorted(content.rules),
            "notes": list(content.notes)[:20],
            "unmapped_users": self.users.unmapped(emails),
            "desc_hash": _digest(content.fields.get("description")),
        }

    # ------------------------------------------------------------------ bulk create
    def _create_chunk(self, ids: list[int]) -> None:
        """One bulk create; members whose earlier create may still land wait for it."""
        ids = [i for i in ids if i not in self.ledger and self.records[i].status != "FAILED"]
        held, due = self._settling(ids, create_key)
        if due:
            for ado_id in self._adopt_by_label(due):
                self.settle.settle(create_key(ado_id), adopted=True)
            for ado_id in due:
                if ado_id not in self.ledger:
                    self.settle.settle(create_key(ado_id), adopted=False)
        todo = [i for i in ids if i not in self.ledger and i not in held]
        later = _Later()
        if todo:
            with later.collect():
                self._send_bulk(todo)
        for ado_id in held:
            later.add([ado_id], self._deadline(create_key(ado_id)))
        later.raise_if_any("create settling")

    def _deadline(self, key: str) -> float:
        mark = self.settle.get(key)
        return mark.deadline if mark is not None else self.settle.clock()

    def _settling(
        self, ids: Sequence[int], key_of: Callable[[int], str]
    ) -> tuple[list[int], list[int]]:
        """(ids whose write is still settling, ids whose settle deadline has passed)."""
        now = self.settle.clock()
        held: list[int] = []
        due: list[int] = []
        for ado_id in ids:
            mark = self.settle.get(key_of(ado_id))
            if mark is None:
                continue
            (held if mark.deadline > now else due).append(ado_id)
        return held, due

    def _send_bulk(self, ids: list[int]) -> None:
        work_items = self._fetch(ids)
        payloads: dict[int, tuple[dict[str, Any], IssueContent]] = {}
        for ado_id in ids:
            wi = work_items.get(ado_id)
            if wi is None:
                self._fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
                continue
            payloads[ado_id] = self._create_payload(wi, self.items[ado_id])
        pending = list(payloads)
        last_error: Exception | None = None
        for _ in range(WRITE_TRIES):
            if not pending:
                return
            self._check_stop()
            try:
                result = self.target.create_issues([payloads[i][0] for i in pending])
            except OutcomeUnknown as exc:
                # Never re-sent now: the request may still be running in Jira.
                deferred = self._ambiguous(
                    [create_key(i) for i in pending], pending, exc, task=pending
                )
                if deferred is not None:
                    raise deferred from exc
                return
            except AuthError:
                raise
            except TransientError as exc:  # refused before it was applied (429/503)
                last_error = exc
                continue
            except PermanentError as exc:
                later = _Later()
                for ado_id in pending:
                    with later.collect():
                        self._create_one(ado_id, payloads[ado_id], str(exc), work_items[ado_id])
                later.raise_if_any("create settling")
                return
            for index, created in result.created.items():
                self._created_from(
                    pending[index], created, payloads[pending[index]], work_items[pending[index]]
                )
            later = _Later()
            for index, error in result.errors.items():
                ado_id = pending[index]
                with later.collect():
                    self._create_one(ado_id, payloads[ado_id], error, work_items[ado_id])
            later.raise_if_any("create settling")
            return
        self._fail_all(pending, f"create failed after {WRITE_TRIES} tries: {last_error}")

    def _created_from(
        self,
        ado_id: int,
        created: CreatedIssue,
        payload: tuple[dict[str, Any], IssueContent],
        wi: WorkItem,
    ) -> None:
        body, content = payload
        type_id = str(body["fields"]["issuetype"]["id"])
        status = self._initial_status(type_id, created.key)
        facts = self._facts(wi, content)
        if "parent" in body["fields"]:
            facts["parent_set"] = self.items[ado_id].jira_parent
            facts["write_rules"] = ["jira-parent"]
        self._record_created(ado_id, created, type_id, status=status, facts=facts)

    def _initial_status(self, type_id: str, key: str) -> str:
        with self.lock:
            known = self.initial_status.get(type_id)
        if known is not None:
            return known
        try:
            issue = self.target.get_issue(key, ("status",))
        except (StopRequested, TransientError):
            # the issue exists whatever happens here: record it now, and let phase 3
            # read its status (an empty state) rather than lose the record
            return ""
        name = str(((issue.get("fields") or {}).get("status") or {}).get("name") or "")
        with self.lock:
            self.initial_status[type_id] = name
        return name

    def _create_one(
        self,
        ado_id: int,
        payload: tuple[dict[str, Any], IssueContent],
        bulk_error: str,
        wi: WorkItem,
    ) -> None:
        """One element of a bulk failed: retry alone without the optional fields it names."""
        body, content = payload
        body = {**body, "fields": dict(body["fields"])}
        dropped = [f for f in list(body["fields"]) if f not in ESSENTIAL_FIELDS and f in bulk_error]
        for name in dropped:
            body["fields"].pop(name)
            content.notes.append(
                f"create: field '{name}' refused by Jira and left unset ({bulk_error[:200]})"
            )
        if not dropped and "parent" not in bulk_error:
            self._fail_item(ado_id, f"create refused: {bulk_error}")
            return
        if "parent" in bulk_error and "parent" in body["fields"]:
            body["fields"].pop("parent")
        for _ in range(WRITE_TRIES):
            self._check_stop()
            try:
                created = self.target.create_issue(body)
            except OutcomeUnknown as exc:
                deferred = self._ambiguous([create_key(ado_id)], [ado_id], exc, task=[ado_id])
                if deferred is not None:
                    raise deferred from exc
                return
            except PermanentError as exc:
                if isinstance(exc, AuthError):
                    raise
                self._fail_item(ado_id, f"create refused: {bulk_error}; alone: {exc}")
                return
            self._created_from(ado_id, created, (body, content), wi)
            return
        self._fail_item(ado_id, f"create outcome unknown after {WRITE_TRIES} tries")

    # ------------------------------------------------------------------ existing issues
    def _prefetch(self, ids: list[int]) -> None:
        need = [i for i in ids if i not in self.wi_cache]
        fetched = self._fetch(need) if need else {}
        with self.lock:
            self.wi_cache.update(fetched)

    def _take(self, ado_id: int) -> WorkItem | None:
        with self.lock:
            wi = self.wi_cache.pop(ado_id, None)
        if wi is None:
            got = self.source.get_work_items([ado_id])
            wi = got[0] if got else None
        return wi

    def _write_existing(self, ado_id: int) -> None:
        """Phase 2 for items already in Jira: edit changed ones in place."""
        self._settled_before(2, ado_id)  # an edit is a PUT of the same fields: re-sendable
        item = self.items[ado_id]
        entry = self.ledger.get(ado_id)
        if entry is None:
            self._take(ado_id)
            self._fail_item(ado_id, "no Jira issue to work on")
            return
        wi = self._take(ado_id)
        if wi is None:
            self._fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        if item.action == "update" and entry.ado_rev < item.rev:
            self._edit_fields(wi, entry)
            with self.lock:
                self.records[ado_id].status = "UPDATED"
                self.dirty_records.add(ado_id)
            self._log(f"✓ {self._label(ado_id)} → {entry.jira_key} (updated)")
        elif item.action != "create":
            with self.lock:
                # an earlier run finished it: new content only; else it finishes a create
                # (a rollback of a later run took content off it: "resync")
                finished_before = (
                    item.action == "refresh"
                    or bool(entry.extra.get("resync"))
                    or (item.action == "update" and "synced_rev" in entry.extra)
                )
                self.records[ado_id].status = "UPDATED" if finished_before else "CREATED"
                self.dirty_records.add(ado_id)
        self._mark_step(ado_id, 2)

    def _edit_fields(self, wi: WorkItem, entry: LedgerEntry) -> None:
        type_id = str(entry.extra.get("type") or self.items[wi.id].jira_type_id)
        content = issue_content(wi, self._context(type_id, wi.id))
        fields = {k: v for k, v in content.fields.items() if k != "reporter"}
        fields["labels"] = list(dict.fromkeys([*fields.get("labels", []), f"ado-{wi.id}"]))
        self._check_stop()
        try:
            self.target.edit_issue(entry.jira_key, fields)
        except OutcomeUnknown as exc:
            exc.write_kind = "edit"  # type: ignore[attr-defined]
            raise
        with self.lock:
            entry.ado_rev = wi.rev
            entry.extra.update(self._facts(wi, content))
            provenance.note(entry, self.spec.run_id, edited=True)
            self.dirty_ledger.add(wi.id)

    # ================================================================== phase 3
    def _phase_states(self) -> None:
        todo = [
            i
            for i in self.order
            if self._active(i) and i in self.ledger and not self._step_done(i, 3)
        ]
        self._run_pool(
            todo,
            self._reach_state,
            ids_of=lambda i: [i],
            prepare=lambda ids: self._save_intents(ids, 3),
        )

    def _save_intents(self, ids: Sequence[int], phase: int) -> None:
        """Saved before a group's writes leave: a process taking over after a crash
        knows which items may have writes of this phase still in flight."""
        with self.lock:
            for ado_id in ids:
                entry = self.ledger.get(ado_id)
                if entry is not None:
                    entry.extra["pending"] = {"token": self.token, "phase": phase}
                    self.dirty_ledger.add(ado_id)
        self._flush_state()

    def _settled_before(self, phase: int, ado_id: int) -> bool:
        """Before writing ``phase`` for an item: wait out an unknown outcome (Deferred).

        True when a mark had expired: the caller must look in Jira before writing.
        """
        key = phase_key(phase, ado_id)
        mark = self.settle.get(key)
        if mark is None:
            return False
        self.settle.hold(key)
        self.settle.settle(key)  # the caller's look-up counts what it finds
        return True

    def _current_status(self, key: str) -> str:
        issue = self.target.get_issue(key, ("status",))
        return str(((issue.get("fields") or {}).get("status") or {}).get("name") or "")

    def _reach_state(self, ado_id: int) -> None:
        item, entry = self.items[ado_id], self.ledger[ado_id]
        type_id = str(entry.extra.get("type") or item.jira_type_id)
        goal = self._target_status(item, type_id)
        looked = self._settled_before(3, ado_id)
        if goal is not None:
            current = entry.state
            if not current or self.resumed or looked:
                current = self._current_status(entry.jira_key)
                self._set_state(entry, current)
            if looked:
                now_at = current.lower()
                self._resolve_ambiguous(entry, lambda row: str(row.get("id")).lower() == now_at)
            self._walk(entry, type_id, current, goal)
        self._mark_step(ado_id, 3)

    def _set_state(self, entry: LedgerEntry, status: str) -> None:
        with self.lock:
            entry.state = status
            self.dirty_ledger.add(entry.ado_id)

    def _walk(self, entry: LedgerEntry, type_id: str, current: str, goal: Status) -> None:
        """BFS over the learned workflow, one transition per step, re-reading each time."""
        limit = 3 * max(len(self._jira_statuses(type_id)), 3) + 5
        checked = False
        for _ in range(limit):
            if current.lower() == goal.name.lower():
                return
            self._check_stop()
            available = self.target.transitions(entry.jira_key)
            known = self.graph.edges(type_id, current)
            if (
                not checked
                and known is not None
                and {t.id for t in known} != {t.id for t in available}
            ):
                # maybe not where the ledger says (moved by hand, a step lost): look once
                checked, actual = True, self._current_status(entry.jira_key)
                if actual.lower() != current.lower():
                    current = actual
                    self._set_state(entry, current)
                    continue
            self.graph.learn(type_id, current, available)
            step, why = self.graph.next_step(type_id, current, goal)
            if why == "unreachable":
                fallback = self._fallback(entry, type_id, current, goal)
                if fallback is None or fallback.name.lower() == current.lower():
                    return
                goal = fallback
                continue
            if step is None or step.id not in {t.id for t in available}:
                current = self._current_status(entry.jira_key)
                continue
            self._check_stop()
            # an OutcomeUnknown goes up: the item waits until the transition has settled,
            # then reads its status again (a late transition must not be sent twice)
            try:
                self.target.transition(entry.jira_key, step.id)
            except OutcomeUnknown as exc:
                self._note_ambiguous(entry, exc, "transition", step.to.name)
                raise
            current, checked = step.to.name, False
            with self.lock:
                provenance.note(entry, self.spec.run_id, transitioned=True)
            self._set_state(entry, current)
        raise PermanentError(
            f"could not reach status '{goal.name}' in {limit} steps (stuck at '{current}')"
        )

    def _fallback(
        self, entry: LedgerEntry, type_id: str, current: str, goal: Status
    ) -> Status | None:
        reachable = {s.lower() for s in self.graph.reachable(type_id, current)}
        candidates = [s for s in self._jira_statuses(type_id) if s.name.lower() in reachable]
        nearest = nearest_status(candidates, goal)
        left_at = nearest.name if nearest else current
        names = {t["id"]: t["name"] for t in self.plan.get("jira_types", [])}
        with self.lock:
            entry.extra["unreachable"] = {
                "jiraType": names.get(type_id, type_id),
                "status": goal.name,
                "leftAt": left_at,
            }
            notes = entry.extra.setdefault("notes", [])
            notes.append(
                f"unreachable status: '{goal.name}' cannot be reached from "
                f"'{current}'; left at '{left_at}'"
            )
            self.dirty_ledger.add(entry.ado_id)
        return nearest

    # ================================================================== phase 4
    def _phase_content(self) -> None:
        todo = [
            i
            for i in self.order
            if self._active(i) and i in self.ledger and not self._step_done(i, 4)
        ]
        self._run_pool(
            todo, self._content_item, ids_of=lambda i: [i], prepare=self._prepare_content
        )

    def _prepare_content(self, ids: list[int]) -> None:
        """Read the work items, and save the intent to write before any write leaves."""
        self._prefetch(ids)
        with self.lock:
            for ado_id in ids:
                extra = self.ledger[ado_id].extra
                pending = extra.get("pending")
                legacy = extra.pop("pending4", None)  # intents saved by an older engine
                foreign = isinstance(pending, dict) and pending.get("token") != self.token
                if foreign or legacy or extra.pop("adopted", False):
                    self.reconcile.add(ado_id)
        self._save_intents(ids, 4)

    def _content_item(self, ado_id: int) -> None:
        wi = self._take(ado_id)
        if wi is None:
            self._fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        entry = self.ledger[ado_id]
        try:
            looked = self._settled_before(4, ado_id)
        except Deferred:
            with self.lock:
                self.wi_cache[ado_id] = wi  # read again after the deadline from here
            raise
        comments = self._ado_comments(ado_id)
        existing = self._existing_in_jira(entry, looked or ado_id in self.reconcile)
        self.reconcile.discard(ado_id)
        if looked:
            files = {
                (str(a.get("filename")), int(a.get("size") or -1))
                for a in (existing or {}).get("attachments", [])
            }
            self._resolve_ambiguous(
                entry,
                lambda row: (
                    str(row.get("id")) in entry.comments
                    if row.get("kind") == "comment"
                    else (str(row.get("name")), int(row.get("size") or -2)) in files
                ),
            )
        if self.spec.migrate_attachments:
            self._upload_all(wi, entry, comments, existing)
        self._refresh_description(wi, entry)
        for comment in comments:
            self._post_comment(entry, comment)
        self._mark_step(ado_id, 4)

    def _ado_comments(self, ado_id: int) -> list[Comment]:
        if not self.spec.migrate_comments:
            return []
        every = list(self.source.iter_comments(ado_id))
        deleted = [c for c in every if not comment_is_migratable(c)]
        entry = self.ledger.get(ado_id)
        if deleted and entry is not None:
            self._write_rule(
                entry,
                "comment-deleted-skipped",
                f"comment-deleted-skipped: {len(deleted)} comment(s) deleted in "
                "Azure DevOps not carried",
            )
        return [c for c in every if comment_is_migratable(c)]

    def _existing_in_jira(self, entry: LedgerEntry, reconcile: bool) -> dict[str, Any] | None:
        """What an earlier, interrupted attempt may have written: read it back and adopt."""
        if not reconcile:
            return None
        found = self._comments_by_ado_id(entry)
        adopted = 0
        with self.lock:
            known = set(entry.comments.values())
            for cid, jira_ids in found.items():
                if cid not in entry.comments:
                    mine = next((j for j in jira_ids if j not in known), jira_ids[0])
                    entry.comments[cid] = mine
                    provenance.note(entry, self.spec.run_id, comment=cid)
                    adopted += 1
            self.dirty_ledger.add(entry.ado_id)
        return {"attachments": self.target.attachments(entry.jira_key)}

    def _comments_by_ado_id(self, entry: LedgerEntry) -> dict[str, list[str]]:
        """ADO comment id → the Jira comments that carry it, oldest first.

        By the marker in the visible header (the body is documented to come back);
        for a comment without one (written by an older engine), by its ``ado.comment``
        property through the documented property route, asked only for comments
        the migration account wrote.
        """
        out: dict[str, list[str]] = {}
        me = str(self.plan.get("account_id") or "")
        for c in self.target.comments(entry.jira_key):
            jira_id = str(c.get("id"))
            cid = comment_marker_of(c.get("body"))
            if cid is None:
                prop = _properties_of(c.get("properties")).get(COMMENT_PROPERTY)
                if prop is None and me and (c.get("author") or {}).get("accountId") == me:
                    prop = self.target.comment_property(jira_id, COMMENT_PROPERTY)
                if isinstance(prop, dict) and prop.get("commentId") is not None:
                    cid = str(prop["commentId"])
            if cid is not None:
                out.setdefault(cid, []).append(jira_id)
        return out

    # ------------------------------------------------------------------ attachments
    def _wanted_files(self, wi: WorkItem, comments: Sequence[Comment]) -> list[AttachmentRef]:
        files = {a.id.lower(): a for a in wi.attachments}
        html = [v for v in wi.fields.values() if isinstance(v, str) and "<img" in v]
        html += [c.text for c in comments if "<img" in (c.text or "")]
        for fragment in html:
            for src in image_sources(fragment):
                guid = attachment_guid(src)
                if guid and guid not in files and self._own_origin(src):
                    name = attachment_file_name(src) or f"image-{guid[:8]}.png"
                    files[guid] = AttachmentRef(guid, name, src)
        return list(files.values())

    def _own_origin(self, url: str) -> bool:
        """The ADO client decides: its credential goes to its own origin only."""
        return self.source.is_own_origin(url)

    def _note_foreign_images(
        self, wi: WorkItem, entry: LedgerEntry, comments: Sequence[Comment]
    ) -> None:
        """Images on another origin are never fetched (no credential, no request from
        the worker): they stay links to where they are, and the report lists them."""
        html = [v for v in wi.fields.values() if isinstance(v, str) and "<img" in v]
        html += [c.text for c in comments if "<img" in (c.text or "")]
        foreign = [
            src
            for fragment in html
            for src in image_sources(fragment)
            if src.lower().startswith(("http://", "https://")) and not self._own_origin(src)
        ]
        for src in dict.fromkeys(foreign):
            self._not_fetched(
                entry, src, "on another origin than Azure DevOps: not fetched, kept as a link"
            )

    def _not_fetched(self, entry: LedgerEntry, url: str, reason: str) -> None:
        with self.lock:
            rows = entry.extra.setdefault("images_not_fetched", [])
            if len(rows) < 50 and all(r.get("url") != url[:500] for r in rows):
                rows.append({"url": url[:500], "reason": reason})
            self.dirty_ledger.add(entry.ado_id)
        self._write_rule(
            entry, "inline-image-not-fetched", f"inline-image-not-fetched: {url[:120]} ({reason})"
        )

    def _oversized(self, wi: WorkItem, limit: int | None) -> list[dict[str, Any]]:
        if limit is None:
            return []
        return [
            {
                "name": a.name,
                "size": a.size,
                "limit": limit,
                "adoUrl": a.url,
                "itemUrl": _web_url(self.ado_web, wi.id),
            }
            for a in wi.attachments
            if a.size is not None and a.size > limit
        ]

    def _upload_all(
        self,
        wi: WorkItem,
        entry: LedgerEntry,
        comments: Sequence[Comment],
        existing: dict[str, Any] | None,
    ) -> None:
        limit = self.plan.get("upload_limit")
        self._note_foreign_images(wi, entry, comments)
        for ref in self._wanted_files(wi, comments):
            key = ref.id.lower()
            if key in entry.attachments or key in self._skipped_ids(entry):
                continue
            if limit is None:
                self._skip_file(entry, wi, ref, None, "attachments are disabled in Jira")
                continue
            if ref.size is not None and ref.size > limit:
                self._skip_file(entry, wi, ref, limit, "larger than Jira's upload limit")
                continue
            if not self._own_origin(ref.url):
                self._not_fetched(
                    entry,
                    ref.url,
                    f"attachment {ref.name!r} on another origin than Azure DevOps: not fetched",
                )
                continue
            try:
                spooled = self._download(ref)
            except ForeignOrigin as exc:  # the client's own reading of the URL disagreed
                self._not_fetched(entry, ref.url, f"not fetched: {exc.reason}")
                continue
            with spooled:
                size = spooled.seek(0, 2)
                spooled.seek(0)
                if size > limit:
                    self._skip_file(entry, wi, ref, limit, "larger than Jira's upload limit")
                    continue
                self._upload(entry, key, ref.name, size, spooled, existing)
            inline = key not in {a.id.lower() for a in wi.attachments}
            self._write_rule(entry, "inline-image-upload" if inline else "attachment")
        overflow = issue_content(wi, self._context(str(entry.extra.get("type")), wi.id))
        if overflow.overflow_text and OVERFLOW_KEY not in entry.attachments:
            data = overflow.overflow_text.encode()
            with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spooled:
                spooled.write(data)
                spooled.seek(0)
                self._upload(
                    entry, OVERFLOW_KEY, overflow_file_name(wi.id), len(data), spooled, existing
                )

    @staticmethod
    def _skipped_ids(entry: LedgerEntry) -> set[str]:
        return {str(s.get("id")) for s in entry.extra.get("skipped_attachments", [])}

    def _skip_file(
        self, entry: LedgerEntry, wi: WorkItem, ref: AttachmentRef, limit: int | None, why: str
    ) -> None:
        size = f"{ref.size} bytes" if ref.size is not None else "size unknown"
        self._write_rule(
            entry,
            "attachment-not-uploaded",
            f"attachment-not-uploaded: {ref.name} ({size}) {why}; listed on the "
            "issue with its Azure DevOps link",
        )
        with self.lock:
            entry.extra.setdefault("skipped_attachments", []).append(
                {
                    "id": ref.id.lower(),
                    "name": ref.name,
                    "size": ref.size,
                    "limit": limit,
                    "reason": why,
                    "adoUrl": ref.url,
                    "itemUrl": _web_url(self.ado_web, wi.id),
                }
            )
            self.dirty_ledger.add(entry.ado_id)

    def _download(self, ref: AttachmentRef) -> IO[bytes]:
        """The file spooled locally (memory, then disk): seekable for retries, size known.

        The caller closes it."""
        stream = self.source.open_attachment(ref.url)
        spooled = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - returned
        try:
            while chunk := stream.read(1 << 16):
                spooled.write(chunk)
        except BaseException:
            spooled.close()
            raise
        finally:
            stream.close()
        spooled.seek(0)
        return cast(IO[bytes], spooled)

    def _upload(
        self,
        entry: LedgerEntry,
        key: str,
        name: str,
        size: int,
        data: IO[bytes],
        existing: dict[str, Any] | None,
    ) -> None:
        if existing is not None and self._adopt_file(entry, key, name, size, existing):
            return
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._check_stop()
        data.seek(0)
        # An OutcomeUnknown goes up: the item waits out the upload, then looks (by
        # name and size) before anything is sent again.
        try:
            answer = self.target.add_attachment(entry.jira_key, name, data, content_type)
        except OutcomeUnknown as exc:
            self._note_ambiguous(entry, exc, "attachment", key, name=name, size=size)
            raise
        self._record_file(entry, key, answer[0] if answer else {})

    def _adopt_file(
        self, entry: LedgerEntry, key: str, name: str, size: int, existing: dict[str, Any]
    ) -> bool:
        with self.lock:
            used = set(entry.attachments.values())
            for att in existing.get("attachments", []):
                att_id = str(att.get("id"))
                if (
                    att.get("filename") == name
                    and int(att.get("size") or -1) == size
                    and att_id not in used
                ):
                    self._record_file(entry, key, att)
                    return True
        return False

    def _record_file(self, entry: LedgerEntry, key: str, att: Mapping[str, Any]) -> None:
        with self.lock:
            entry.attachments[key] = str(att.get("id", ""))
            provenance.note(entry, self.spec.run_id, attachment=key)
            if att.get("content"):
                entry.extra.setdefault("attachment_urls", {})[key] = str(att["content"])
            self.dirty_ledger.add(entry.ado_id)

    # ------------------------------------------------------------------ description, comments
    def _refresh_description(self, wi: WorkItem, entry: LedgerEntry) -> None:
        """Edit the description when it now renders differently (inline images now served
        by Jira, references to issues created after this one)."""
        content = issue_content(wi, self._context(str(entry.extra.get("type")), wi.id))
        description = content.fields.get("description")
        digest = _digest(description)
        if description is None or digest == entry.extra.get("desc_hash"):
            return
        self._check_stop()
        try:
            self.target.edit_issue(entry.jira_key, {"description": description})
        except OutcomeUnknown as exc:
            exc.write_kind = "edit"  # type: ignore[attr-defined]
            raise
        with self.lock:
            entry.extra.update(self._facts(wi, content))
            provenance.note(entry, self.spec.run_id, edited=True)
            self.dirty_ledger.add(entry.ado_id)

    @staticmethod
    def _comment_property(ado_id: int, comment: Comment) -> dict[str, Any]:
        return {"key": COMMENT_PROPERTY, "value": {"adoId": ado_id, "commentId": comment.id}}

    def _post_comment(self, entry: LedgerEntry, comment: Comment) -> None:
        cid = str(comment.id)
        if cid in entry.comments:
            return
        ctx = self._context(str(entry.extra.get("type")), entry.ado_id)
        content = comment_content(comment, ctx)
        props = [self._comment_property(entry.ado_id, comment)]
        self._check_stop()
        # An OutcomeUnknown goes up: the item waits out the comment, then finds it by
        # its marker before anything is sent again.
        try:
            jira_id = self.target.add_comment(entry.jira_key, content.body, props)
        except OutcomeUnknown as exc:
            self._note_ambiguous(entry, exc, "comment", cid)
            raise
        edited = comment.version > 1 or bool(
            comment.modified_date and comment.modified_date != comment.created_date
        )
        with self.lock:
            entry.comments[cid] = jira_id
            provenance.note(entry, self.spec.run_id, comment=cid)
            rules = set(entry.extra.get("write_rules", [])) | {"comment"}
            rules |= {f"comment:{r}" for r in content.rules}
            rules |= {"comment-edited-header"} if edited else set()
            entry.extra["write_rules"] = sorted(rules)
            self.dirty_ledger.add(entry.ado_id)

    # ================================================================== phase 5
    def _phase_links(self) -> None:
        todo = [
            i
            for i in self.order
            if self._active(i) and i in self.ledger and not self._step_done(i, 5)
        ]
        # the remote link back to ADO is a field rule: written with or without links
        self._run_pool(todo, self._link_item, ids_of=lambda i: [i], prepare=self._prefetch)

    def _link_item(self, ado_id: int) -> None:
        # Issue links and remote links are documented not to double when sent again
        # (a duplicate link "is created" without a second one; remote links upsert by
        # globalId), so after a settle deadline they are simply sent again.
        self._settled_before(5, ado_id)
        wi = self._take(ado_id)
        if wi is None:
            self._fail_item(ado_id, "no longer readable in Azure DevOps (deleted?)")
            return
        entry = self.ledger[ado_id]
        links = [self._backlink(wi, entry)]
        if self.spec.migrate_links:
            links += self._links_of(wi, entry)
        for link_key, write in links:
            if link_key in entry.links:
                continue
            self._check_stop()
            write()
            with self.lock:
                entry.links.append(link_key)
                provenance.note(entry, self.spec.run_id, link=link_key)
                self._touch_other_end(link_key, ado_id)
                self.dirty_ledger.add(ado_id)
            self._write_rule(entry, _link_rule(link_key))
        self._mark_step(ado_id, 5)

    def _touch_other_end(self, link_key: str, ado_id: int) -> None:
        """An issue link changes both issues: the other end was written to by this run too."""
        parts = link_key.split(":")
        if len(parts) != 3 or link_key.startswith("remote:"):
            return
        for end in parts[1:]:
            if end.isdigit() and int(end) != ado_id and int(end) in self.ledger:
                provenance.touch(self.ledger[int(end)], self.spec.run_id)
                self.dirty_ledger.add(int(end))

    def _backlink(self, wi: WorkItem, entry: LedgerEntry) -> tuple[str, Callable[[], None]]:
        """The issue's remote link to its own ADO work item (globalId ado-item-{id})."""
        url = _web_url(self.ado_web, wi.id)
        title = f"Azure DevOps {wi.type} {wi.id}: {' '.join(wi.title.split())}"
        _, write = self._remote(entry, url, title, f"ado-item-{wi.id}")
        return BACKLINK, write

    def _in_run(self, ado_id: int) -> bool:
        return ado_id in self.items and self._active(ado_id)

    def _links_of(self, wi: WorkItem, entry: LedgerEntry) -> list[tuple[str, Callable[[], None]]]:
        out: list[tuple[str, Callable[[], None]]] = []
        for rel in wi.relations:
            other = rel.target_id
            if rel.rel == "Hyperlink":
                out.append(
                    self._remote(
                        entry,
                        rel.url,
                        rel.attributes.get("comment") or rel.url,
                        f"hyperlink:{_digest(rel.url)}",
                    )
                )
            elif other is None:
                continue
            elif rel.rel == HIERARCHY_REVERSE:
                out += self._parent_link(wi, entry, other)
            elif rel.rel == HIERARCHY_FORWARD:
                if other not in self.crosswalk and not self._in_run(other):
                    out.append(self._remote_item(entry, other, "child"))
            elif rel.rel in LINK_RULES:
                out += self._work_item_link(wi, entry, rel, other)
        return out

    def _parent_link(
        self, wi: WorkItem, entry: LedgerEntry, parent: int
    ) -> list[tuple[str, Callable[[], None]]]:
        if entry.extra.get("parent_set") == parent:
            return []
        parent_key = self.crosswalk.get(parent)
        if parent_key is None:
            if self._in_run(parent) or parent in self.items:
                return []  # its creation failed or it was skipped; nothing to point at
            return [self._remote_item(entry, parent, "parent")]
        link_type = self._link_type("Relates")
        return [
            (
                f"parent:{parent}:{wi.id}",
                lambda: self.target.link_issues(link_type, entry.jira_key, parent_key),
            )
        ]

    def _work_item_link(
        self, wi: WorkItem, entry: LedgerEntry, rel: Relation, other: int
    ) -> list[tuple[str, Callable[[], None]]]:
        name, outward, symmetric = LINK_RULES[rel.rel]
        other_key = self.crosswalk.get(other)
        if other_key is None:
            if other in self.items:
                return []  # in scope but not in Jira (failed or skipped)
            return [self._remote_item(entry, other, rel.attributes.get("name") or name)]
        both_here = self._in_run(other)
        if both_here and (wi.id > other if symmetric else rel.rel not in FORWARD_RELS):
            return []  # the other end writes it
        link_type = self._link_type(name)
        out_id, in_id = (wi.id, other) if outward else (other, wi.id)
        if symmetric:
            out_id, in_id = min(wi.id, other), max(wi.id, other)
        out_key, in_key = self.crosswalk[out_id], self.crosswalk[in_id]
        return [
            (
                f"{name}:{out_id}:{in_id}",
                lambda: self.target.link_issues(link_type, in_key, out_key),
            )
        ]

    def _link_type(self, wanted: str) -> str:
        names = self.plan.get("link_types") or []
        if wanted in names or not names:
            return wanted
        return "Relates" if "Relates" in names else str(names[0])

    def _remote_item(
        self, entry: LedgerEntry, other: int, relation: str
    ) -> tuple[str, Callable[[], None]]:
        url = _web_url(self.ado_web, other)
        return self._remote(entry, url, f"ADO #{other} ({relation})", f"ado-workitem-{other}")

    def _remote(
        self, entry: LedgerEntry, url: str, title: str, global_id: str
    ) -> tuple[str, Callable[[], None]]:
        return (
            f"remote:{global_id}",
            lambda: self.target.remote_link(entry.jira_key, url, str(title)[:255], global_id),
        )

    # ================================================================== phase 6
    def _phase_verify(self) -> None:
        expected = {i: self.ledger[i].jira_key for i in self.order if i in self.ledger}
        found: dict[int, list[dict[str, Any]]] = {}
        for part in chunks(sorted(expected), SEARCH_CHUNK):
            for issue in self.target.search(
                _label_jql(self.spec.project_key, part), fields=VERIFY_FIELDS
            ):
                for ado_id in self._ado_ids_of(issue, set(part)):
                    found.setdefault(ado_id, []).append(issue)
            self._checkpoint()
            self._raise_if_stopped()
        me = str(self.plan.get("account_id") or "")
        copies: list[Copy] = []
        for ado_id, hits in found.items():
            self._stamp(ado_id, [h for h in hits if str(h.get("key")) == expected[ado_id]])
            if len(hits) > 1:
                copies += issue_copies(ado_id, expected[ado_id], hits, me)
        suspects = [i for i in expected if self.ledger[i].extra.get("suspect")]
        for ado_id in suspects:
            copies += self._content_copies(self.ledger[ado_id], me)
            self._checkpoint()
            self._raise_if_stopped()
        self._repair(copies)
        self._restamp_repaired(copies)
        self.plan["repairs"] = list(self.plan.get("repairs_base") or []) + self.repairs
        with self.lock:
            for ado_id in suspects:
                self.ledger[ado_id].extra.pop("suspect", None)
                self.dirty_ledger.add(ado_id)
        keys = {i: [str(h.get("key")) for h in hits] for i, hits in found.items()}
        removed = {r["duplicate"] for r in self.repairs if r["removed"] and r["kind"] == "issue"}
        left = {i: [k for k in ks if k not in removed] for i, ks in keys.items()}
        missing = sorted(i for i in expected if i not in found)
        duplicates = {str(i): ks for i, ks in left.items() if len(ks) > 1}
        moved = {
            str(i): {"ledger": expected[i], "jira": ks}
            for i, ks in left.items()
            if expected[i] not in ks
        }
        failed = [i for i in self.order if self.records[i].status == "FAILED"]
        self.verification = {
            "method": "search/jql on the ado-{id} labels; comments, files and links of the "
            "items an ambiguous write touched",
            "planned": len(self.items),
            "expectedInJira": len(expected),
            "foundInJira": len(found),
            "missing": missing,
            "duplicates": duplicates,
            "keyMismatches": moved,
            "failedItems": len(failed),
            "itemsChecked": len(suspects),
            "repaired": sum(1 for r in self.repairs if r["removed"]),
            "leftForReview": sum(1 for r in self.repairs if not r["removed"]),
            "ok": not missing and not duplicates and not moved,
        }
        for ado_id in missing:
            self.plan["problems"].append(
                f"verify: ADO #{ado_id} ({expected[ado_id]}) not found in Jira"
            )
        for dup_id, dup_keys in duplicates.items():
            self.plan["problems"].append(f"verify: ADO #{dup_id} has several issues: {dup_keys}")
        self._log(
            f"Verify: {len(found)} of {len(expected)} issues found in Jira"
            + (
                f"; {self.verification['repaired']} duplicate(s) removed"
                if self.verification["repaired"]
                else ""
            )
            + ("" if self.verification["ok"] else " (see the report)")
        )

    def _stamp(self, ado_id: int, hits: Sequence[Mapping[str, Any]]) -> None:
        """Jira's ``updated`` after the run's last write (engine.provenance)."""
        updated = str(((hits[0].get("fields") or {}) if hits else {}).get("updated") or "")
        with self.lock:
            entry = self.ledger[ado_id]
            if updated and provenance.writes_of(entry, self.spec.run_id) is not None:
                provenance.stamp(entry, self.spec.run_id, updated)
                self.dirty_ledger.add(ado_id)

    def _restamp_repaired(self, copies: Sequence[Copy]) -> None:
        """A removed duplicate comment, file or link moved its issue's ``updated`` on."""
        removed = {r["issue"] for r in self.repairs if r["removed"] and r["kind"] != "issue"}
        for copy in copies:
            if copy.jira_key not in removed or copy.ado_id not in self.ledger:
                continue
            removed.discard(copy.jira_key)
            try:
                issue = self.target.get_issue(copy.jira_key, ("updated",))
            except EngineError:
                continue  # no stamp: a rollback falls back to the worker's clock
            self._stamp(copy.ado_id, [issue])

    def _content_copies(self, entry: LedgerEntry, me: str) -> list[Copy]:
        """Duplicate comments, files and links on one issue an ambiguous write touched."""
        by_marker: dict[str, list[dict[str, Any]]] = {}
        for c in self.target.comments(entry.jira_key):
            cid = comment_marker_of(c.get("body"))
            if cid is not None:
                by_marker.setdefault(cid, []).append(c)
        issue = self.target.get_issue(entry.jira_key, ("attachment", "issuelinks"))
        fields = issue.get("fields") or {}
        return [
            *comment_copies(entry.ado_id, entry.jira_key, by_marker, entry.comments, me),
            *attachment_copies(
                entry.ado_id, entry.jira_key, fields.get("attachment") or [], entry.attachments, me
            ),
            *link_copies(entry.ado_id, entry.jira_key, fields.get("issuelinks") or []),
        ]

    def _repair(self, copies: Sequence[Copy]) -> None:
        """Remove the copies that may go; list every one in the report."""
        removers: dict[str, Callable[[Copy], bool]] = {
            "issue": lambda c: self.target.delete_issue(c.copy_id),
            "comment": lambda c: self.target.delete_comment(c.jira_key, c.copy_id),
            "attachment": lambda c: self.target.delete_attachment(c.copy_id),
            "link": lambda c: self.target.delete_issue_link(c.copy_id),
        }
        for copy in copies:
            self._raise_if_stopped()
            if not copy.removable:
                self.repairs.append(copy.to_dict(removed=False))
                continue
            try:
                removers[copy.kind](copy)
            except AuthError as exc:
                self.repairs.append(copy.to_dict(removed=False, error=f"not allowed: {exc}"))
                continue
            except EngineError as exc:
                self.repairs.append(copy.to_dict(removed=False, error=str(exc)[:300]))
                continue
            self.repairs.append(copy.to_dict(removed=True))
            self.settle.count("repaired", copy.kind)
            self._log(
                f"✓ repaired: duplicate {copy.kind} {copy.copy_id} of ADO #{copy.ado_id} "
                f"removed (kept {copy.kept})"
            )
