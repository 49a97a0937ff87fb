"""The engine's three ports, implemented by the Django side (or by fakes in unit tests).

- :class:`CheckpointStore`: what is done, what was created, the lease.
- :class:`EventSink`: progress, log, status, done.
- :class:`ControlSignal`: pause or cancel requested?

Also the two client protocols the pipeline relies on; ``engine.ado`` and
``engine.jira`` implement them over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol

from engine.fieldtypes import AdoField
from engine.model import (
    BulkCreateResult,
    BulkProgress,
    BulkTransitionInput,
    ClassificationNode,
    Comment,
    CreatedIssue,
    FieldMeta,
    IssueType,
    JiraProject,
    Status,
    Transition,
    WorkItem,
    WorkItemType,
)
from engine.multipart import FilePart

# REMOVED: rollback runs only (what the rolled-back run wrote for the item was removed).
ItemStatus = Literal["PENDING", "CREATED", "UPDATED", "SKIPPED", "FAILED", "REMOVED"]
Command = Literal["run", "pause", "cancel"]


@dataclass(slots=True)
class ItemRecord:
    """The per-run result row of one ADO work item (the items endpoint)."""

    ado_id: int
    ado_type: str
    ado_url: str
    status: ItemStatus = "PENDING"
    jira_key: str | None = None
    jira_id: str | None = None
    error: str = ""
    attempts: int = 0


@dataclass
class LedgerEntry:
    """What the project has written to Jira for one ADO item, across all runs.

    This is the exactly-once ledger: a step is written here in the same breath
    as it is done in Jira, and never done again once recorded.
    """

    ado_id: int
    jira_key: str
    jira_id: str
    ado_rev: int = 0
    comments: dict[str, str] = field(default_factory=dict)  # ado comment id -> jira comment id
    attachments: dict[str, str] = field(default_factory=dict)  # ado attachment id -> jira id
    links: list[str] = field(default_factory=list)  # stable keys of links created
    state: str = ""  # the Jira status name last reached
    # Free-form bookkeeping the engine persists with the entry (write intents, remote
    # links, overflow files...). The store saves and loads it verbatim as JSON.
    extra: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> LedgerEntry:
        """A deep copy to hand to the store while workers go on changing this one."""
        return LedgerEntry(
            self.ado_id,
            self.jira_key,
            self.jira_id,
            self.ado_rev,
            dict(self.comments),
            dict(self.attachments),
            list(self.links),
            self.state,
            json.loads(json.dumps(self.extra)),
        )


@dataclass(frozen=True)
class Unsettled:
    """A write whose outcome is unknown, held until ``deadline`` (see engine.settle)."""

    key: str  # what was written: "create:{adoId}", "p4:{adoId}", "component:{name}"...
    ado_id: int | None
    since: float  # epoch seconds: when the outcome became unknown
    deadline: float  # epoch seconds: not re-sent before Jira can have shown it


class CheckpointStore(Protocol):
    """Durable state of one run and of its project's ledger."""

    def heartbeat(self) -> bool:
        """Renew the run's lease. False when another worker has taken it over."""

    def set_phase(self, phase: int) -> None: ...

    def set_total(self, total: int) -> None: ...

    def save_plan(self, plan: dict[str, Any]) -> None:
        """Store the plan (ids in order, mappings) so a resumed run need not redo discovery."""

    def load_plan(self) -> dict[str, Any] | None: ...

    def save_plan_items(self, rows: Iterable[dict[str, Any]]) -> None:
        """Replace the plan's per-item rows with ``rows`` (in creation order); read as
        they are written, so a caller may pass a generator."""

    def load_plan_items(self) -> Iterator[dict[str, Any]]:
        """The plan's per-item rows in the order they were saved."""

    def load_items(self) -> dict[int, ItemRecord]: ...

    def save_items(self, records: Iterable[ItemRecord]) -> None:
        """Upsert per-run item rows and update the run's counters, in one transaction."""

    def load_ledger(self) -> dict[int, LedgerEntry]:
        """Everything the project has already written to Jira, keyed by ADO id."""

    def save_ledger(self, entries: Iterable[LedgerEntry]) -> None: ...

    def forget_ledger(self, ado_ids: Iterable[int]) -> None:
        """Drop these items from the project's ledger (their issues were removed)."""

    def save_report(self, report: dict[str, Any]) -> None: ...

    def load_unsettled(self) -> list[Unsettled]:
        """The project's writes whose outcome is still unknown (any run of it)."""

    def save_unsettled(self, marks: Iterable[Unsettled], cleared: Iterable[str]) -> None:
        """Upsert ``marks`` and drop the keys in ``cleared``."""

    def release(self) -> None:
        """The calling thread is done with the store (a phase thread that ends): give
        back what it holds for that thread, such as a pooled database connection."""


class EventSink(Protocol):
    """Live events, with the seed's payloads (see CONTRACT section 5)."""

    def progress(self, current: int, total: int, speed: float) -> None: ...

    def log(self, message: str) -> None: ...

    def status(self, status: str) -> None:
        """``status`` is the run status in lower case, e.g. ``completed``."""

    def done(self, stats: dict[str, int]) -> None: ...


class ControlSignal(Protocol):
    def poll(self) -> Command:
        """Read at every checkpoint: run on, pause, or cancel."""


class AdoSource(Protocol):
    """Read side: Azure DevOps Services or Server (REST 7.1)."""

    def check_access(self) -> None:
        """Raise ``engine.errors.PermanentError`` on bad credentials or a missing project."""

    def query_ids(
        self,
        *,
        area_path: str | None = None,
        types: Sequence[str] | None = None,
        changed_since: str | None = None,
    ) -> list[int]:
        """Ids matching the filters, in ascending order, paged by id past the WIQL cap."""

    def get_work_items(self, ids: Sequence[int]) -> list[WorkItem]:
        """Full items with relations, in batches of 200; missing ids are omitted."""

    def iter_comments(self, work_item_id: int) -> Iterator[Comment]: ...

    def open_attachment(self, url: str) -> IO[bytes]:
        """A streamed download; the caller closes it.

        ``engine.errors.ForeignOrigin`` (nothing sent) when ``url`` is not on the
        source's origin: check with ``is_own_origin`` first to avoid it.
        """

    def is_own_origin(self, url: str) -> bool:
        """True when ``url`` is on the source's origin (the PAT would be sent with it)."""

    def set_stop_check(self, check: Callable[[], bool] | None) -> None:
        """Once ``check()`` is true, waits and unsent requests raise ``StopRequested``."""

    def work_item_types(self) -> list[WorkItemType]: ...

    def classification_nodes(self, group: Literal["areas", "iterations"]) -> ClassificationNode: ...

    def field_definitions(self) -> list[AdoField]:
        """The process's field definitions (``GET _apis/wit/fields``), for the field map."""

    def repository_names(self) -> dict[str, str]:
        """Git repository id (lower case) → name, for artifact link titles."""

    def relation_type_names(self) -> dict[str, str]:
        """Link type reference name → the organisation's display name."""

    def work_item_updates(self, work_item_id: int) -> list[dict[str, Any]]:
        """Every revision of an item (``Updates_List``), oldest first, all pages."""


class JiraTarget(Protocol):
    """Write side: Jira Cloud platform REST API v3."""

    def set_stop_check(self, check: Callable[[], bool] | None) -> None:
        """Once ``check()`` is true, waits and unsent requests raise ``StopRequested``."""

    def myself(self) -> dict[str, Any]: ...

    def get_project(self, key: str) -> JiraProject: ...

    def issue_types(self, project_key: str) -> list[IssueType]:
        """From the paged create-metadata endpoint (what may be created)."""

    def create_fields(self, project_key: str, issue_type_id: str) -> list[FieldMeta]: ...

    def project_statuses(self, project_key: str) -> dict[str, list[Status]]:
        """Issue type id -> statuses of its workflow."""

    def fields(self) -> list[dict[str, Any]]: ...

    def priorities(self) -> list[dict[str, Any]]: ...

    def link_types(self) -> list[dict[str, Any]]: ...

    def attachment_upload_limit(self) -> int | None:
        """Bytes per file, or None when attachments are disabled."""

    def create_issues(self, payloads: Sequence[dict[str, Any]]) -> BulkCreateResult:
        """Bulk create, at most 50 payloads."""

    def create_issue(self, payload: dict[str, Any]) -> CreatedIssue: ...

    def edit_issue(self, key: str, fields: dict[str, Any]) -> None: ...

    def get_issue(self, key: str, fields: Sequence[str] = ()) -> dict[str, Any]: ...

    def transitions(self, key: str) -> list[Transition]: ...

    def transition(self, key: str, transition_id: str) -> None: ...

    def add_comment(
        self, key: str, body: dict[str, Any], properties: Sequence[dict[str, Any]] = ()
    ) -> str:
        """Returns the new comment's id."""

    def comments(self, key: str) -> list[dict[str, Any]]:
        """All comments of an issue (oldest first); properties only where Jira adds them."""

    def add_attachment(
        self, key: str, filename: str, stream: IO[bytes], content_type: str
    ) -> list[dict[str, Any]]: ...

    def add_attachments(self, key: str, files: Sequence[FilePart]) -> list[dict[str, Any]]:
        """Several files in one request; the answer lists the attachments Jira made."""
        ...

    def attachments(self, key: str) -> list[dict[str, Any]]: ...

    def link_issues(self, link_type: str, inward_key: str, outward_key: str) -> None: ...

    def remote_link(self, key: str, url: str, title: str, global_id: str) -> None: ...

    def set_property(self, key: str, prop: str, value: Any) -> None: ...

    def comment_property(self, comment_id: str, prop: str) -> Any | None:
        """A comment property's value by the documented route; None when not set."""

    # ------------------------------------------------------------ removals (engine.jira_removals)
    # ``once``: a lost answer raises OutcomeUnknown instead of a re-send. True = this
    # request removed it; False = it was already gone (404).
    def delete_issue(self, key: str, *, once: bool = False) -> bool: ...

    def delete_comment(self, key: str, comment_id: str, *, once: bool = False) -> bool: ...

    def delete_attachment(self, attachment_id: str, *, once: bool = False) -> bool: ...

    def delete_issue_link(self, link_id: str, *, once: bool = False) -> bool: ...

    def delete_remote_link(self, key: str, link_id: str, *, once: bool = False) -> bool: ...

    def issue_exists(self, key: str) -> bool: ...

    def comment_exists(self, key: str, comment_id: str) -> bool: ...

    def attachment_exists(self, attachment_id: str) -> bool: ...

    def issue_link_exists(self, link_id: str) -> bool: ...

    def remote_link_by_global_id(self, key: str, global_id: str) -> dict[str, Any] | None: ...

    def my_permissions(self, project_key: str, keys: Sequence[str]) -> dict[str, bool]:
        """Permission key -> held (``GET /mypermissions`` in the project's context)."""

    def bulk_delete(self, ids_or_keys: Sequence[str]) -> str:
        """Submit an asynchronous bulk delete (at most 1,000 issues); the task id."""

    def bulk_progress(self, task_id: str) -> BulkProgress: ...

    def bulk_transition(self, inputs: Sequence[BulkTransitionInput]) -> str:
        """Submit an asynchronous bulk transition (at most 1,000 issues); the task id."""

    def statuses(self, keys: Sequence[str]) -> dict[str, str]:
        """Issue key -> status name, read from the issues (not the search index)."""

    def search(
        self, jql: str, fields: Sequence[str] = ("key",), properties: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        """``POST /rest/api/3/search/jql``, following ``nextPageToken``."""

    def find_users(self, query: str) -> list[dict[str, Any]]: ...

    # ------------------------------------------------------------ components (B.11)
    def components(self, project_key: str) -> list[dict[str, Any]]:
        """The project's components (``ProjectComponent``: ``id``, ``name``...)."""

    def create_component(self, project_key: str, name: str) -> dict[str, Any]:
        """Needs the project-admin permission: 403 (``AuthError``) without it."""

    # ------------------------------------------------------------ agile (C)
    def boards(self, project_key: str) -> list[dict[str, Any]]:
        """The boards of the project (``id``, ``name``, ``type`` scrum|kanban)."""

    def sprints(self, board_id: int) -> list[dict[str, Any]]:
        """Every sprint of the board (``id``, ``name``, ``state``, dates)."""

    def create_sprint(
        self, board_id: int, name: str, start: str | None, end: str | None
    ) -> dict[str, Any]:
        """A new *future* sprint."""

    def update_sprint(self, sprint_id: int, *, state: str) -> dict[str, Any]:
        """Start (future -> active) or complete (active -> closed) a sprint."""

    def move_to_sprint(self, sprint_id: int, keys: Sequence[str]) -> None:
        """At most 50 issues; only into a future or active sprint."""


RunType = Literal["FULL", "SAMPLE", "INCREMENTAL"]
FinalStatus = Literal["COMPLETED", "PARTIAL", "FAILED", "PAUSED", "CANCELLED"]


@dataclass
class RunSpec:
    """Everything the engine needs to know about one run, secrets excluded."""

    run_type: RunType
    project_key: str
    dry_run: bool = False
    area_filter: str | None = None
    type_filter: list[str] = field(default_factory=list)
    type_overrides: dict[str, str] = field(default_factory=dict)
    state_overrides: dict[str, str] = field(default_factory=dict)
    migrate_comments: bool = True
    migrate_attachments: bool = True
    migrate_links: bool = True
    sample_size: int = 10
    changed_since: str | None = None  # INCREMENTAL: ISO timestamp, None = behave as FULL
    ado_web_url: str = ""  # e.g. https://dev.azure.com/org/project, for links back
    # How long a write whose outcome is unknown may still land in Jira: at least the
    # client's timeout plus a margin (engine.settle explains why).
    settle_seconds: float = 90.0
    # The run's id: the ledger records which run wrote what under it (engine.provenance),
    # so that a rollback removes exactly that run's writes. Empty: nothing recorded.
    run_id: str = ""
    # The user's maps, as sent (validated in shape by the API; the rule modules parse
    # them again and resolve them against both sites when the run plans):
    # engine.fieldmap, engine.usermap, engine.relations.
    field_map: dict[str, Any] = field(default_factory=dict)
    user_map: dict[str, Any] = field(default_factory=dict)
    link_type_map: dict[str, str] = field(default_factory=dict)
    migrate_history: bool = True
    # Items per slice when phases 3 to 5 are shared by several workers (a
    # :class:`SliceBoard` is given); 0: the run's own worker does every phase.
    slice_items: int = 0


@dataclass(frozen=True)
class SourceItem:
    """A work item of the run being rolled back: its row in that run's items."""

    ado_id: int
    ado_type: str = ""
    ado_url: str = ""


@dataclass
class RollbackSpec:
    """A rollback run (``engine.rollback``): remove what run ``of_run`` wrote to Jira."""

    of_run: str  # the id of the run rolled back (its writes are recorded under it)
    project_key: str
    dry_run: bool = False
    items: list[SourceItem] = field(default_factory=list)  # the rolled-back run's items
    settle_seconds: float = 90.0  # as RunSpec.settle_seconds, for deletes whose answer was lost


@dataclass(frozen=True)
class SliceClaim:
    """A slice of a run's items claimed by this process (its lease is held), with a
    store whose writes are its own: heartbeat renews the slice's lease, and the run's
    plan and report are not written through it."""

    seq: int
    ids: tuple[int, ...]
    store: CheckpointStore
    # Claimed before by a process that did not finish it: what that one had open may
    # still land (its intents are held for the settle time before any look).
    taken_over: bool = False


SliceStatus = Literal["DONE", "FAILED", "PAUSED", "CANCELLED", "LOST"]


@dataclass
class SliceResult:
    """What became of one slice: how it ended, the ledger entries of items outside it
    that its links touched (their provenance is the coordinator's to record), and what
    its ambiguous writes cost (by what and kind of write, for the report)."""

    status: SliceStatus
    reason: str = ""
    touched: list[int] = field(default_factory=list)
    tally: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "touched": list(self.touched),
            "tally": {w: dict(k) for w, k in self.tally.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SliceResult:
        tally = raw.get("tally") or {}
        return cls(
            status=raw.get("status", "DONE"),
            reason=str(raw.get("reason") or ""),
            touched=[int(i) for i in raw.get("touched") or []],
            tally={str(w): {str(k): int(n) for k, n in v.items()} for w, v in tally.items()},
        )


@dataclass(frozen=True)
class SliceProgress:
    """The slices of a run: how many, how many done, items done, the first failure."""

    total: int
    done: int
    items_done: int
    failure: str = ""


class SliceBoard(Protocol):
    """The slices of one run that any worker may claim (phases 3 to 5, see
    ``engine.pipeline.slices``). The coordinator opens them; every worker, the
    coordinator included, claims one at a time under a lease."""

    def open(self, slices: Sequence[Sequence[int]]) -> int:
        """Record the slices once (a resumed run keeps those it recorded, done or not)
        and ask the workers to take them; returns how many are still to do."""
        ...

    def claim(self) -> SliceClaim | None:
        """The next slice not done whose lease is free or expired, or None."""
        ...

    def finish(self, claim: SliceClaim, result: SliceResult) -> None:
        """Record how the slice ended (DONE or FAILED) and drop its lease; a stop
        (PAUSED, CANCELLED) leaves it to do, with its lease dropped."""
        ...

    def progress(self) -> SliceProgress: ...

    def results(self) -> list[SliceResult]:
        """The results of the slices done."""
        ...

    def close(self) -> None:
        """Every slice is done and merged: forget them."""
        ...


@dataclass
class RunOutcome:
    status: FinalStatus
    stats: dict[str, int] = field(default_factory=dict)  # created, updated, skipped, failed
    reason: str = ""
