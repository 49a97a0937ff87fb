"""Typed shapes of what the engine reads from Azure DevOps and Jira Cloud."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


# --------------------------------------------------------------------------- Azure DevOps
@dataclass(frozen=True)
class Identity:
    """An ADO IdentityRef (System.AssignedTo, System.CreatedBy, comment authors)."""

    display_name: str
    unique_name: str | None = None  # usually the e-mail address
    id: str | None = None


@dataclass(frozen=True)
class Relation:
    """One entry of a work item's ``relations[]``."""

    rel: str  # e.g. System.LinkTypes.Hierarchy-Reverse, AttachedFile, Hyperlink
    url: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def target_id(self) -> int | None:
        """The work item id the relation points at, for work item links."""
        if "/_apis/wit/workItems/" in self.url or "/_apis/wit/workitems/" in self.url:
            tail = self.url.rstrip("/").rsplit("/", 1)[-1]
            return int(tail) if tail.isdigit() else None
        return None


@dataclass(frozen=True)
class AttachmentRef:
    id: str  # the attachment GUID
    name: str
    url: str
    size: int | None = None
    comment: str | None = None


class PlanningItem(Protocol):
    """What phase 1's planners read of a work item: a :class:`WorkItem`, or the
    compact view phase 1 holds of each one (``engine.pipeline.discovery.PlanView``)."""

    @property
    def id(self) -> int: ...
    @property
    def rev(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def area_path(self) -> str: ...
    @property
    def iteration_path(self) -> str: ...


class ClassifiedByPaths:
    """The area and iteration paths of anything whose ``fields`` name them."""

    __slots__ = ()
    fields: Mapping[str, Any]

    @property
    def area_path(self) -> str:
        return str(self.fields.get("System.AreaPath", ""))

    @property
    def iteration_path(self) -> str:
        return str(self.fields.get("System.IterationPath", ""))


@dataclass(slots=True)
class WorkItem(ClassifiedByPaths):
    id: int
    rev: int
    type: str
    title: str
    state: str
    url: str
    fields: dict[str, Any]
    relations: list[Relation] = field(default_factory=list)

    @property
    def changed_date(self) -> str:
        return str(self.fields.get("System.ChangedDate", ""))

    @property
    def parent_id(self) -> int | None:
        for rel in self.relations:
            if rel.rel == "System.LinkTypes.Hierarchy-Reverse":
                return rel.target_id
        parent = self.fields.get("System.Parent")
        return int(parent) if parent else None

    @property
    def attachments(self) -> list[AttachmentRef]:
        out = []
        for rel in self.relations:
            if rel.rel == "AttachedFile":
                attrs = rel.attributes
                out.append(
                    AttachmentRef(
                        id=rel.url.rstrip("/").rsplit("/", 1)[-1],
                        name=str(attrs.get("name", "attachment")),
                        url=rel.url,
                        size=attrs.get("resourceSize"),
                        comment=attrs.get("comment"),
                    )
                )
        return out


@dataclass(frozen=True)
class Comment:
    id: int
    work_item_id: int
    text: str  # HTML unless format == "markdown"
    created_by: Identity
    created_date: str
    modified_date: str | None = None
    is_deleted: bool = False
    version: int = 1
    format: str = "html"


@dataclass(frozen=True)
class StateInfo:
    name: str
    category: str  # Proposed | InProgress | Resolved | Completed | Removed
    color: str = ""


@dataclass
class WorkItemType:
    name: str
    reference_name: str
    states: list[StateInfo] = field(default_factory=list)
    is_disabled: bool = False
    field_refs: list[str] = field(default_factory=list)


@dataclass
class ClassificationNode:
    id: int
    name: str
    path: str
    structure_type: str  # area | iteration
    start_date: str | None = None
    finish_date: str | None = None
    children: list[ClassificationNode] = field(default_factory=list)


# --------------------------------------------------------------------------- Jira Cloud
@dataclass(frozen=True)
class JiraProject:
    id: str
    key: str
    name: str
    style: str = "classic"  # classic | next-gen


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    hierarchy_level: int  # 1 epic, 0 standard, -1 subtask


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # statusCategory.key: new | indeterminate | done


@dataclass(frozen=True)
class FieldMeta:
    field_id: str
    name: str
    required: bool
    schema: dict[str, Any]
    has_default: bool = False
    allowed_values: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: Status


@dataclass(frozen=True)
class CreatedIssue:
    id: str
    key: str
    self_url: str = ""
    # the HTTP status of a transition asked for in the create body (``CreatedIssue.
    # transition.status``); None when none was asked for or the answer does not say
    transition_status: int | None = None

    @property
    def transitioned(self) -> bool:
        return self.transition_status is not None and 200 <= self.transition_status < 300


@dataclass
class BulkCreateResult:
    """Outcome of one bulk create: index in the request -> issue or error."""

    created: dict[int, CreatedIssue] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # index -> readable reason


@dataclass(frozen=True)
class BulkTransitionInput:
    """One ``BulkTransitionSubmitInput``: issues of one workflow, the transition to take."""

    transition_id: str
    issues: tuple[str, ...]  # ids or keys


@dataclass(frozen=True)
class BulkProgress:
    """``BulkOperationProgress`` of a bulk issue operation (``GET /bulk/queue/{taskId}``)."""

    task_id: str
    status: str  # ENQUEUED | RUNNING | COMPLETE | FAILED | CANCEL_REQUESTED | CANCELLED | DEAD
    percent: int = 0
    processed: tuple[str, ...] = ()  # issue ids the operation was done on
    failed: dict[str, list[str]] = field(default_factory=dict)  # issue id -> reasons
    invalid_count: int = 0  # invalid issues, or issues the user may not see

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETE", "FAILED", "CANCELLED", "DEAD")
