"""Simulated Azure DevOps Services, Work Item Tracking REST 7.1 (read side).

Serves a :class:`~sandbox.dataset.Dataset` at ``{base}/{org}/{project}/_apis/...``
with the quirks a migrator must survive: ids-only WIQL with the 20,000-result cap,
200-id batches, ``fields`` and ``$expand`` that cannot be combined, paged
comments, streamed attachments, PAT auth, ``api-version`` checks, throttling with
TF400733, and error bodies in the service's own shape.

Choices where the real service is undocumented are listed in ``DESIGN_NOTES``.
Mutations for tests and the demo live under ``/_sandbox/...`` (exempt from
faults and auth) and as methods on :class:`AdoApp`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sandbox.dataset import (
    HIERARCHY_FORWARD,
    HIERARCHY_REVERSE,
    REASONS,
    TYPE_INDEX,
    TYPES,
    AttachmentInfo,
    CommentRecord,
    Dataset,
    ItemRecord,
    Node,
    identity_ref,
    iso,
)
from sandbox.httpbase import Handler, Knobs, Request, Response, SandboxApp, json_response
from sandbox.people import Person

DEFAULT_PAT = "sandbox-ado-pat-0123456789abcdefghijklmnopqrstuv"
BATCH_LIMIT = 200
LATEST_API_VERSION = (7, 2)

DESIGN_NOTES = """
- Missing credentials: 203 with an HTML sign-in page (what the service does for a
  browser-like call) unless the caller sends ``X-TFS-FedAuthRedirect: Suppress``,
  then 401. Wrong credentials: always 401 with a TF400813 JSON body.
- Bearer tokens: accepted when equal to ``bearer_token`` (default: the PAT).
- Error ``typeKey``/``typeName`` values are modelled on the service; the messages
  (VS402337, VS403474, TF401232, TF200016, TF400733, TF51005, TF51535, ...) are the
  documented ones.
- WIQL: ``$top`` truncates without error; with no ``$top`` (or ``$top`` above the
  cap) more matches than the cap answer 400 VS402337. Without ``timePrecision=true``
  date comparisons are made on the date only, as the service does.
- Comments default to ``order=desc`` (newest first) and ``$top=200``; a deleted
  comment appears only with ``includeDeleted=true``.
- ``/{org}/_apis/...`` variants (no project) are served where the spec marks the
  project optional.
- Ambiguous-outcome faults (lost answers, late writes; see ``httpbase.Knobs``):
  this read side has no real writes, so the ``"writes"`` selector picks its only
  non-GET routes, the read-only POSTs ``wit/wiql`` and ``wit/workitemsbatch``.
  ``slow_bulk_ms_per_issue`` has no effect here (no bulk create).
"""


# --------------------------------------------------------------------------- errors
class AdoError(Exception):
    """An answer in the service's error shape, raised anywhere inside a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        type_key: str,
        namespace: str = "Microsoft.TeamFoundation.WorkItemTracking.Server",
        event_id: int = 3200,
        error_code: int = 0,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type_key = status, message, type_key
        self.namespace, self.event_id, self.error_code = namespace, event_id, error_code

    def response(self) -> Response:
        return error_response(
            self.status, self.message, self.type_key, self.namespace, self.event_id, self.error_code
        )


def error_response(
    status: int,
    message: str,
    type_key: str,
    namespace: str,
    event_id: int = 3000,
    error_code: int = 0,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": f"{namespace}.{type_key}, {namespace}",
        "typeKey": type_key,
        "errorCode": error_code,
        "eventId": event_id,
    }
    return json_response(status, body, headers)


_WEBAPI = "Microsoft.VisualStudio.Services.WebApi"
_FRAMEWORK = "Microsoft.TeamFoundation.Framework.Server"
_CORE = "Microsoft.TeamFoundation.Core.WebApi"


def _not_found_item(ident: int) -> AdoError:
    return AdoError(
        404,
        f"TF401232: Work item {ident} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
        error_code=600171,
    )


def _bad_request(
    message: str, type_key: str = "ArgumentException", namespace: str = "System"
) -> AdoError:
    return AdoError(400, message, type_key, namespace, event_id=0)


# --------------------------------------------------------------------------- fields
# (referenceName, name, type, readOnly, isIdentity, isPicklist)
_FIELD_SPECS: tuple[tuple[str, str, str, bool, bool, bool], ...] = (
    ("System.Id", "ID", "integer", True, False, False),
    ("System.Title", "Title", "string", False, False, False),
    ("System.WorkItemType", "Work Item Type", "string", True, False, False),
    ("System.State", "State", "string", False, False, False),
    ("System.Reason", "Reason", "string", False, False, False),
    ("System.AreaPath", "Area Path", "treePath", False, False, False),
    ("System.AreaId", "Area ID", "integer", False, False, False),
    ("System.IterationPath", "Iteration Path", "treePath", False, False, False),
    ("System.IterationId", "Iteration ID", "integer", False, False, False),
    ("System.TeamProject", "Team Project", "string", True, False, False),
    ("System.NodeName", "Node Name", "string", True, False, False),
    ("System.AreaLevel1", "Area Level 1", "string", True, False, False),
    ("System.AreaLevel2", "Area Level 2", "string", True, False, False),
    ("System.AreaLevel3", "Area Level 3", "string", True, False, False),
    ("System.IterationLevel1", "Iteration Level 1", "string", True, False, False),
    ("System.IterationLevel2", "Iteration Level 2", "string", True, False, False),
    ("System.IterationLevel3", "Iteration Level 3", "string", True, False, False),
    ("System.Rev", "Rev", "integer", True, False, False),
    ("System.AuthorizedDate", "Authorized Date", "dateTime", True, False, False),
    ("System.RevisedDate", "Revised Date", "dateTime", True, False, False),
    ("System.AssignedTo", "Assigned To", "identity", False, True, False),
    ("System.CreatedDate", "Created Date", "dateTime", True, False, False),
    ("System.CreatedBy", "Created By", "identity", True, True, False),
    ("System.ChangedDate", "Changed Date", "dateTime", True, False, False),
    ("System.ChangedBy", "Changed By", "identity", True, True, False),
    ("System.CommentCount", "Comment Count", "integer", True, False, False),
    ("System.Description", "Description", "html", False, False, False),
    ("System.History", "History", "history", False, False, False),
    ("System.Tags", "Tags", "plainText", False, False, False),
    ("System.Parent", "Parent", "integer", True, False, False),
    ("Microsoft.VSTS.Common.Priority", "Priority", "integer", False, False, True),
    ("Microsoft.VSTS.Common.Severity", "Severity", "string", False, False, True),
    ("Microsoft.VSTS.Common.ValueArea", "Value Area", "string", False, False, True),
    ("Microsoft.VSTS.Common.Activity", "Activity", "string", False, False, True),
    ("Microsoft.VSTS.Common.StateChangeDate", "State Change Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ResolvedDate", "Resolved Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ResolvedBy", "Resolved By", "identity", True, True, False),
    ("Microsoft.VSTS.Common.ClosedDate", "Closed Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ClosedBy", "Closed By", "identity", True, True, False),
    (
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Acceptance Criteria",
        "html",
        False,
        False,
        False,
    ),
    ("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.Effort", "Effort", "double", False, False, False),
    (
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "Original Estimate",
        "double",
        False,
        False,
        False,
    ),
    ("Microsoft.VSTS.Scheduling.RemainingWork", "Remaining Work", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.CompletedWork", "Completed Work", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.TargetDate", "Target Date", "dateTime", False, False, False),
    ("Microsoft.VSTS.Scheduling.DueDate", "Due Date", "dateTime", False, False, False),
    ("Microsoft.VSTS.TCM.ReproSteps", "Repro Steps", "html", False, False, False),
    ("Microsoft.VSTS.TCM.SystemInfo", "System Info", "html", False, False, False),
    ("Custom.Impact", "Impact", "string", False, False, True),
    ("Custom.MitigationPlan", "Mitigation Plan", "html", False, False, False),
)
FIELDS = {spec[0].lower(): spec for spec in _FIELD_SPECS}
FIELDS_BY_NAME = {spec[1].lower(): spec for spec in _FIELD_SPECS}
_COMMON_TYPE_FIELDS = [s[0] for s in _FIELD_SPECS[:31]]
_TYPE_FIELDS: dict[str, list[str]] = {
    "Epic": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.TargetDate",
    ],
    "Feature": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.TargetDate",
    ],
    "User Story": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.StoryPoints",
    ],
    "Task": [
        "Microsoft.VSTS.Common.Activity",
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "Microsoft.VSTS.Scheduling.RemainingWork",
        "Microsoft.VSTS.Scheduling.CompletedWork",
    ],
    "Bug": [
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.TCM.SystemInfo",
        "Microsoft.VSTS.Common.Severity",
        "Microsoft.VSTS.Scheduling.StoryPoints",
    ],
    "Issue": ["Microsoft.VSTS.Scheduling.DueDate"],
    "Risk": ["Custom.Impact", "Custom.MitigationPlan"],
}
_ALLOWED = {
    "Microsoft.VSTS.Common.Priority": ["1", "2", "3", "4"],
    "Microsoft.VSTS.Common.Severity": ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"],
    "Custom.Impact": ["High", "Medium", "Low"],
}

_RELATION_TYPES: tuple[tuple[str, str, str, str | None], ...] = (
    # referenceName, name, topology (or usage), opposite end
    ("System.LinkTypes.Hierarchy-Forward", "Child", "tree", "System.LinkTypes.Hierarchy-Reverse"),
    ("System.LinkTypes.Hierarchy-Reverse", "Parent", "tree", "System.LinkTypes.Hierarchy-Forward"),
    ("System.LinkTypes.Related", "Related", "network", None),
    (
        "System.LinkTypes.Dependency-Forward",
        "Successor",
        "dependency",
        "System.LinkTypes.Dependency-Reverse",
    ),
    (
        "System.LinkTypes.Dependency-Reverse",
        "Predecessor",
        "dependency",
        "System.LinkTypes.Dependency-Forward",
    ),
    (
        "System.LinkTypes.Duplicate-Forward",
        "Duplicate",
        "tree",
        "System.LinkTypes.Duplicate-Reverse",
    ),
    (
        "System.LinkTypes.Duplicate-Reverse",
        "Duplicate Of",
        "tree",
        "System.LinkTypes.Duplicate-Forward",
    ),
    (
        "Microsoft.VSTS.Common.TestedBy-Forward",
        "Tested By",
        "dependency",
        "Microsoft.VSTS.Common.TestedBy-Reverse",
    ),
    (
        "Microsoft.VSTS.Common.TestedBy-Reverse",
        "Tests",
        "dependency",
        "Microsoft.VSTS.Common.TestedBy-Forward",
    ),
    ("AttachedFile", "Attached File", "resourceLink", None),
    ("Hyperlink", "Hyperlink", "resourceLink", None),
    ("ArtifactLink", "Artifact Link", "resourceLink", None),
)


def lookup_field(name: str) -> tuple[str, str, str, bool, bool, bool] | None:
    """A field by reference name or display name, case-insensitively (as WIQL allows)."""
    key = name.strip().lower()
    return FIELDS.get(key) or FIELDS_BY_NAME.get(key)


# --------------------------------------------------------------------------- store
@dataclass
class _Revision:
    rev: int
    changed: str
    overrides: dict[str, Any]  # field -> value (None removes the field)


@dataclass
class _State:
    """Everything the tests changed on top of the generated dataset."""

    revisions: dict[int, list[_Revision]] = field(default_factory=dict)
    added: dict[int, ItemRecord] = field(default_factory=dict)
    extra_links: dict[int, list[tuple[str, int, dict[str, Any]]]] = field(default_factory=dict)
    comments: dict[int, list[CommentRecord]] = field(default_factory=dict)
    deleted_comments: set[int] = field(default_factory=set)
    attachments: dict[str, tuple[AttachmentInfo, bytes]] = field(default_factory=dict)
    item_attachments: dict[int, list[AttachmentInfo]] = field(default_factory=dict)
    recycled: set[int] = field(default_factory=set)
    next_comment_id: int = 900_000_000


class AdoStore:
    """The dataset plus the edits made through the sandbox API (thread-safe)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._lock = threading.RLock()
        self._state = _State()
        self._last_stamp = datetime.now(UTC)

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    # ------------------------------------------------------------------ reads
    @property
    def max_id(self) -> int:
        with self._lock:
            return max([self.dataset.count, *self._state.added])

    def exists(self, ident: int) -> bool:
        with self._lock:
            known = 1 <= ident <= self.dataset.count or ident in self._state.added
            return known and ident not in self._state.recycled

    def live_ids(self) -> Iterator[int]:
        """Every id the queries can see, ascending."""
        with self._lock:
            recycled, added = set(self._state.recycled), sorted(self._state.added)
        for ident in range(1, self.dataset.count + 1):
            if ident not in recycled:
                yield ident
        yield from (i for i in added if i not in recycled)

    def value(self, ident: int, ref: str) -> Any:
        """One field's current value, cheaply for the fields WIQL filters on most."""
        with self._lock:
            revs = self._state.revisions.get(ident)
            if revs and ref in revs[-1].overrides:
                return revs[-1].overrides[ref]
            added = self._state.added.get(ident)
        if added is not None:
            return added.fields.get(ref)
        cheap = _CHEAP.get(ref)
        if cheap is not None:
            return cheap(self.dataset, ident)
        return self.dataset.item(ident).fields.get(ref)

    def record(self, ident: int, base_url: str, as_of: datetime | None = None) -> ItemRecord | None:
        """The item as of ``as_of`` (latest when None); None when it did not exist then."""
        if not self.exists(ident):
            return None
        with self._lock:
            added = self._state.added.get(ident)
            revs = list(self._state.revisions.get(ident, ()))
            extra = list(self._state.extra_links.get(ident, ()))
            files = list(self._state.item_attachments.get(ident, ()))
            recycled = set(self._state.recycled)
        rec = added if added is not None else self.dataset.item(ident, base_url)
        rec = replace(
            rec, fields=dict(rec.fields), links=list(rec.links), attachments=list(rec.attachments)
        )
        if as_of is not None and _parse_dt(rec.fields["System.CreatedDate"]) > as_of:
            return None
        for revision in revs:
            if as_of is not None and _parse_dt(revision.changed) > as_of:
                break
            for key, value in revision.overrides.items():
                if value is None:
                    rec.fields.pop(key, None)
                else:
                    rec.fields[key] = value
        rec.links += extra
        rec.links = [link for link in rec.links if link[1] not in recycled]
        rec.attachments += files
        rec.fields["System.CommentCount"] = len(self.comments(ident, include_deleted=False))
        return rec

    def comments(self, ident: int, include_deleted: bool) -> list[CommentRecord]:
        """Oldest first."""
        with self._lock:
            added = list(self._state.comments.get(ident, ()))
            deleted = set(self._state.deleted_comments)
            is_new = ident in self._state.added
        base = [] if is_new else self.dataset.comments_for(ident)
        out = [replace(c, is_deleted=True) if c.id in deleted else c for c in base + added]
        return out if include_deleted else [c for c in out if not c.is_deleted]

    def attachment(self, guid: str) -> tuple[AttachmentInfo, Iterator[bytes]] | None:
        with self._lock:
            extra = self._state.attachments.get(guid.lower())
        if extra is not None:
            return extra[0], iter([extra[1]])
        info = self.dataset.attachment_info(guid)
        if info is None or not self.exists(info.item_id):
            return None
        return info, self.dataset.attachment(guid)[2]

    # ------------------------------------------------------------------ writes
    def _stamp(self) -> str:
        """Now, strictly later than any earlier stamp (so ChangedDate always moves on)."""
        now = datetime.now(UTC).replace(microsecond=(datetime.now(UTC).microsecond // 1000) * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return iso(now)

    def edit(self, ident: int, changes: dict[str, Any], by: Person | None = None) -> int:
        """Apply field changes as one new revision; returns the new rev."""
        with self._lock:
            current = self.record(ident, "")
            if current is None:
                raise KeyError(ident)
            overrides = (
                dict(self._state.revisions[ident][-1].overrides)
                if ident in self._state.revisions
                else {}
            )
            stamp = self._stamp()
            rev = int(current.fields.get("System.Rev", 1)) + 1
            changes = dict(changes)
            state = changes.get("System.State")
            if state is not None and state != current.fields.get("System.State"):
                self._check_state(current.type, str(state))
                changes.setdefault("System.Reason", REASONS.get(str(state), str(state)))
                changes["Microsoft.VSTS.Common.StateChangeDate"] = stamp
            who = by or self.dataset.people[0]
            overrides.update(changes)
            overrides.update(
                {
                    "System.Rev": rev,
                    "System.ChangedDate": stamp,
                    "System.AuthorizedDate": stamp,
                    "System.ChangedBy": identity_ref(who, "", self.dataset.org),
                }
            )
            self._state.revisions.setdefault(ident, []).append(_Revision(rev, stamp, overrides))
            return rev

    @staticmethod
    def _check_state(type_name: str, state: str) -> None:
        names = [s.name for s in TYPES[TYPE_INDEX[type_name]].states]
        if state not in names:
            raise ValueError(f"state {state!r} is not a state of {type_name} ({', '.join(names)})")

    def add_item(
        self,
        type_name: str,
        title: str,
        parent: int | None = None,
        area_path: str | None = None,
        fields: dict[str, Any] | None = None,
        by: Person | None = None,
    ) -> int:
        if type_name not in TYPE_INDEX:
            raise ValueError(f"unknown work item type {type_name!r}")
        with self._lock:
            if parent is not None and not self.exists(parent):
                raise KeyError(parent)
            ident = self.max_id + 1
            stamp = self._stamp()
            who = identity_ref(by or self.dataset.people[0], "", self.dataset.org)
            area = self._area(
                area_path
                or (self.value(parent, "System.AreaPath") if parent else self.dataset.project)
            )
            first_state = TYPES[TYPE_INDEX[type_name]].states[0].name
            values: dict[str, Any] = {
                "System.Id": ident,
                "System.AreaId": area.id,
                "System.AreaPath": area.path,
                "System.TeamProject": self.dataset.project,
                "System.NodeName": area.name,
                "System.Rev": 1,
                "System.AuthorizedDate": stamp,
                "System.RevisedDate": "9999-01-01T00:00:00Z",
                "System.IterationId": self.dataset.iterations[0].id,
                "System.IterationPath": self.dataset.iterations[0].path,
                "System.WorkItemType": type_name,
                "System.State": first_state,
                "System.Reason": REASONS.get(first_state, first_state),
                "System.CreatedDate": stamp,
                "System.CreatedBy": who,
                "System.ChangedDate": stamp,
                "System.ChangedBy": who,
                "System.Title": title,
                "Microsoft.VSTS.Common.Priority": 2,
            }
            if parent:
                values["System.Parent"] = parent
            values.update(fields or {})
            rec = ItemRecord(ident, type_name, values)
            if parent:
                rec.links.append((HIERARCHY_REVERSE, parent, {"isLocked": False, "name": "Parent"}))
                self._state.extra_links.setdefault(parent, []).append(
                    (HIERARCHY_FORWARD, ident, {"isLocked": False, "name": "Child"})
                )
            self._state.added[ident] = rec
            return ident

    def _area(self, path: str) -> Node:
        for node in self.dataset.areas:
            if node.path.lower() == path.lower():
                return node
        raise ValueError(f"unknown area path {path!r}")

    def add_comment(self, ident: int, text: str, author: Person | None = None) -> int:
        with self._lock:
            if not self.exists(ident):
                raise KeyError(ident)
            self._state.next_comment_id += 1
            cid = self._state.next_comment_id
            stamp = self._stamp()
            who = author or self.dataset.people[0]
            self._state.comments.setdefault(ident, []).append(
                CommentRecord(cid, ident, text, who, stamp, stamp)
            )
            self._touch(ident, who)  # a new comment is a new revision of the item in ADO
            return cid

    def delete_comment(self, ident: int, comment_id: int) -> None:
        with self._lock:
            if comment_id not in {c.id for c in self.comments(ident, include_deleted=True)}:
                raise KeyError(comment_id)
            self._state.deleted_comments.add(comment_id)
            self._touch(ident, None)

    def add_attachment(self, ident: int, name: str, data: bytes, comment: str = "") -> str:
        with self._lock:
            if not self.exists(ident):
                raise KeyError(ident)
            guid = str(uuid.uuid4())
            info = AttachmentInfo(
                guid,
                name,
                len(data),
                ident,
                self._stamp(),
                comment,
                index=1000 + len(self._state.attachments),
            )
            self._state.attachments[guid] = (info, data)
            self._state.item_attachments.setdefault(ident, []).append(info)
            self._touch(ident, None)
            return guid

    def _touch(self, ident: int, by: Person | None) -> None:
        self.edit(ident, {}, by)

    def remove(self, ident: int) -> int:
        """State Removed (Closed for the types that have no Removed state)."""
        type_name = str(self.value(ident, "System.WorkItemType"))
        states = [s.name for s in TYPES[TYPE_INDEX[type_name]].states]
        return self.edit(ident, {"System.State": "Removed" if "Removed" in states else "Closed"})

    def recycle(self, ident: int) -> None:
        """Delete to the recycle bin: gone from queries and reads."""
        with self._lock:
            if not self.exists(ident):
                raise KeyError(ident)
            self._state.recycled.add(ident)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "items": self.dataset.count + len(self._state.added) - len(self._state.recycled),
                "maxId": self.max_id,
                "edited": sorted(self._state.revisions),
                "added": sorted(self._state.added),
                "recycled": sorted(self._state.recycled),
                "addedComments": sum(len(v) for v in self._state.comments.values()),
                "addedAttachments": len(self._state.attachments),
            }


_CHEAP: dict[str, Callable[[Dataset, int], Any]] = {
    "System.Id": lambda d, i: i,
    "System.WorkItemType": Dataset.type_name,
    "System.State": Dataset.state_name,
    "System.AreaPath": Dataset.area_path,
    "System.IterationPath": Dataset.iteration_path,
    "System.CreatedDate": Dataset.created_date,
    "System.ChangedDate": Dataset.changed_date,
    "System.TeamProject": lambda d, i: d.project,
    "System.Parent": lambda d, i: d.parent(i) or None,
}


def _parse_dt(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- WIQL
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<field>\[[^\]]+\])
  | (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<macro>@\w+)
  | (?P<op><>|>=|<=|=|<|>|\(|\)|,|-|\+)
  | (?P<word>[A-Za-z_][\w.]*)
)""",
    re.VERBOSE,
)

Predicate = Callable[[int], bool]


def _wiql_error(message: str) -> AdoError:
    return AdoError(400, message, "WorkItemTrackingQueryInvalidSyntaxException")


@dataclass
class WiqlQuery:
    columns: list[str]
    predicate: Predicate
    order: list[tuple[str, bool]]  # (field, descending)


class WiqlParser:
    """The flat-query subset of WIQL a migrator sends (SELECT ... WHERE ... ORDER BY)."""

    def __init__(
        self, text: str, store: AdoStore, project: str | None, time_precision: bool
    ) -> None:
        self.tokens = self._tokenize(text)
        self.pos, self.store, self.project, self.time_precision = 0, store, project, time_precision

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _wiql_error(
                    f"TF51006: The query statement is not valid. The error is "
                    f"caused by «{text[pos : pos + 20].strip()}»."
                )
            kind = m.lastgroup or ""
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        return tokens

    # ------------------------------------------------------------------ token helpers
    def _peek(self, offset: int = 0) -> tuple[str, str]:
        idx = self.pos + offset
        return self.tokens[idx] if idx < len(self.tokens) else ("eof", "")

    def _keyword(self, *words: str) -> bool:
        kind, value = self._peek()
        if kind == "word" and value.upper() in words:
            self.pos += 1
            return True
        return False

    def _expect_keyword(self, word: str) -> None:
        if not self._keyword(word):
            raise _wiql_error(
                f"TF51006: Expecting {word}. The error is caused by "
                f"«{self._peek()[1] or 'end of query'}»."
            )

    def _expect_op(self, op: str) -> None:
        if self._peek() != ("op", op):
            raise _wiql_error(
                f"TF51006: Expecting '{op}'. The error is caused by "
                f"«{self._peek()[1] or 'end of query'}»."
            )
        self.pos += 1

    def _field(self) -> tuple[str, str, str, bool, bool, bool]:
        kind, value = self._peek()
        if kind not in ("field", "word"):
            raise _wiql_error(f"TF51006: Expecting field name. The error is caused by «{value}».")
        self.pos += 1
        spec = lookup_field(value.strip("[]"))
        if spec is None:
            raise _wiql_error(
                f"TF51005: The query references a field that does not exist. "
                f"The error is caused by «{value}»."
            )
        return spec

    # ------------------------------------------------------------------ grammar
    def parse(self) -> WiqlQuery:
        self._expect_keyword("SELECT")
        columns = [self._field()[0]]
        while self._peek() == ("op", ","):
            self.pos += 1
            columns.append(self._field()[0])
        self._expect_keyword("FROM")
        if not self._keyword("WORKITEMS"):
            raise _wiql_error(
                "TF51006: Only FROM WorkItems is supported by this server "
                "(link queries are not). The error is caused by "
                f"«{self._peek()[1]}»."
            )
        predicate: Predicate = lambda _i: True  # noqa: E731 - trivial default
        if self._keyword("WHERE"):
            predicate = self._or()
        order: list[tuple[str, bool]] = []
        if self._keyword("ORDER"):
            self._expect_keyword("BY")
            order.append(self._order_item())
            while self._peek() == ("op", ","):
                self.pos += 1
                order.append(self._order_item())
        if self._peek()[0] != "eof":
            raise _wiql_error(
                f"TF51006: The query statement is not valid. The error is caused "
                f"by «{self._peek()[1]}»."
            )
        return WiqlQuery(columns, predicate, order)

    def _order_item(self) -> tuple[str, bool]:
        ref = self._field()[0]
        descending = self._keyword("DESC")
        if not descending:
            self._keyword("ASC")
        return ref, descending

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._keyword("OR"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._factor()]
        while self._keyword("AND"):
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def _factor(self) -> Predicate:
        if self._keyword("NOT"):
            inner = self._factor()
            return lambda i: not inner(i)
        if self._peek() == ("op", "("):
            self.pos += 1
            inner = self._or()
            self._expect_op(")")
            return inner
        return self._condition()

    def _condition(self) -> Predicate:
        spec = self._field()
        ref, ftype = spec[0], spec[2]
        negate = self._keyword("NOT")
        if self._keyword("IN"):
            values = self._value_list(ftype)
            return self._wrap(negate, ref, lambda v: any(_equal(v, x) for x in values))
        if self._keyword("UNDER"):
            path = str(self._value(ftype)).lower()
            return self._wrap(
                negate,
                ref,
                lambda v: v is not None
                and (str(v).lower() == path or str(v).lower().startswith(path + "\\")),
            )
        if self._keyword("CONTAINS"):
            needle = str(self._value(ftype)).lower()
            return self._wrap(negate, ref, lambda v: v is not None and needle in str(v).lower())
        if negate:
            raise _wiql_error("TF51006: Expecting IN, UNDER or CONTAINS after NOT.")
        kind, op = self._peek()
        if kind != "op" or op not in ("=", "<>", "<", ">", "<=", ">="):
            raise _wiql_error(
                f"TF51006: Expecting comparison operator. The error is caused by "
                f"«{op or 'end of query'}»."
            )
        self.pos += 1
        operand = self._value(ftype)
        compare = _COMPARE[op]
        if ftype == "dateTime":
            return self._date_condition(ref, compare, operand)
        return lambda i: compare(_norm(self.store.value(i, ref)), _norm(operand))

    def _date_condition(
        self, ref: str, compare: Callable[[Any, Any], bool], operand: Any
    ) -> Predicate:
        if not isinstance(operand, datetime):
            raise _wiql_error(f"TF51006: The value «{operand}» is not a valid date.")
        if self.time_precision:
            return lambda i: _has(self.store.value(i, ref)) and compare(
                _parse_dt(self.store.value(i, ref)), operand
            )
        day = operand.date()
        return lambda i: _has(self.store.value(i, ref)) and compare(
            _parse_dt(self.store.value(i, ref)).date(), day
        )

    def _wrap(self, negate: bool, ref: str, test: Callable[[Any], bool]) -> Predicate:
        if negate:
            return lambda i: not test(_norm(self.store.value(i, ref)))
        return lambda i: test(_norm(self.store.value(i, ref)))

    def _value_list(self, ftype: str) -> list[Any]:
        self._expect_op("(")
        values = [_norm(self._value(ftype))]
        while self._peek() == ("op", ","):
            self.pos += 1
            values.append(_norm(self._value(ftype)))
        self._expect_op(")")
        return values

    def _value(self, ftype: str) -> Any:
        kind, raw = self._peek()
        self.pos += 1
        if kind == "str":
            text = raw[1:-1].replace(raw[0] * 2, raw[0])
            return self._date(text) if ftype == "dateTime" else text
        if kind == "num":
            return float(raw) if "." in raw else int(raw)
        if kind == "macro":
            return self._macro(raw.lower())
        raise _wiql_error(f"TF51006: Expecting a value. The error is caused by «{raw or 'end'}».")

    def _date(self, text: str) -> datetime:
        try:
            return _parse_dt(text) if "T" in text or ":" in text else _parse_dt(text + "T00:00:00Z")
        except ValueError as exc:
            raise _wiql_error(f"TF51006: The value «{text}» is not a valid date.") from exc

    def _macro(self, name: str) -> Any:
        if name == "@project":
            if self.project is None:
                raise _wiql_error(
                    "TF51011: The specified macro «@project» is not valid in a "
                    "query sent without a project."
                )
            return self.project
        if name == "@today":
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            if self._peek() in (("op", "-"), ("op", "+")):
                sign = -1 if self._peek()[1] == "-" else 1
                self.pos += 1
                kind, raw = self._peek()
                if kind != "num":
                    raise _wiql_error("TF51006: Expecting a number after @today.")
                self.pos += 1
                today += timedelta(days=sign * int(raw))
            return today
        raise _wiql_error(f"TF51011: The specified macro «{name}» is not supported by this server.")


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: _equal(a, b),
    "<>": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _has(a) and a < b,
    ">": lambda a, b: _has(a) and a > b,
    "<=": lambda a, b: _has(a) and a <= b,
    ">=": lambda a, b: _has(a) and a >= b,
}


def _has(value: Any) -> bool:
    return value is not None


def _norm(value: Any) -> Any:
    """WIQL string comparisons ignore case; identities compare by display name or e-mail."""
    if isinstance(value, dict):
        return str(value.get("uniqueName") or value.get("displayName") or "").lower()
    if isinstance(value, str):
        return value.lower()
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and "<" in b:
        return a == b or b.endswith("<" + a + ">")  # "Name <email>" identity form
    return bool(a == b)


# --------------------------------------------------------------------------- the app
@dataclass(frozen=True)
class RouteSpec:
    """One served route and the spec operation it implements (checked by the tests)."""

    method: str
    pattern: str
    operation_id: str
    spec: str  # "wit" or "core"


class AdoApp(SandboxApp):
    """The simulated service. ``AdoApp(dataset=generate(60, 1))``."""

    name = "ado"
    case_insensitive_paths = True

    def __init__(
        self,
        *,
        dataset: Dataset,
        pat: str = DEFAULT_PAT,
        bearer_token: str | None = None,
        wiql_cap: int = 20_000,
        knobs: Knobs | None = None,
    ) -> None:
        super().__init__(knobs)
        self.dataset, self.store = dataset, AdoStore(dataset)
        self.org, self.project, self.project_id = dataset.org, dataset.project, dataset.project_id
        self.pat, self.bearer_token, self.wiql_cap = pat, bearer_token or pat, wiql_cap
        self.route_specs: list[RouteSpec] = []
        self._register_api()
        self._register_control()

    # ------------------------------------------------------------------ registration
    def _api(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        operation_id: str,
        preview: bool = False,
        spec: str = "wit",
    ) -> None:
        self.route_specs.append(RouteSpec(method, pattern, operation_id, spec))
        self.add_route(method, pattern, self._guarded(handler, preview))

    def _register_api(self) -> None:
        p, o = "/{org}/{project}/_apis", "/{org}/_apis"
        wi = "Work Items_"
        for prefix in ("/{org}/{project}/{team}/_apis", p, o):
            self._api("POST", prefix + "/wit/wiql", self._wiql, "Wiql_Query By Wiql")
        for prefix in (p, o):
            self._api(
                "POST", prefix + "/wit/workitemsbatch", self._batch, wi + "Get Work Items Batch"
            )
            self._api("GET", prefix + "/wit/workitems", self._list, wi + "List")
            self._api("GET", prefix + "/wit/workitems/{id}", self._get_one, wi + "Get Work Item")
            self._api("GET", prefix + "/wit/attachments/{id}", self._attachment, "Attachments_Get")
            self._api("GET", prefix + "/wit/fields", self._fields, "Fields_List")
            self._api("GET", prefix + "/wit/fields/{field}", self._field_one, "Fields_Get")
        self._api(
            "GET",
            p + "/wit/workItems/{workItemId}/comments",
            self._comments,
            "Comments_Get Comments",
            preview=True,
        )
        self._api(
            "GET",
            p + "/wit/workItems/{workItemId}/comments/{commentId}",
            self._comment,
            "Comments_Get Comment",
            preview=True,
        )
        self._api("GET", p + "/wit/workitemtypes", self._types, "Work Item Types_List")
        self._api("GET", p + "/wit/workitemtypes/{type}", self._type_one, "Work Item Types_Get")
        self._api(
            "GET",
            p + "/wit/workitemtypes/{type}/states",
            self._states,
            "Work Item Type States_List",
        )
        self._api(
            "GET",
            p + "/wit/workitemtypes/{type}/fields",
            self._type_fields,
            "Work Item Types Field_List",
        )
        self._api(
            "GET",
            p + "/wit/classificationnodes",
            self._root_nodes,
            "Classification Nodes_Get Root Nodes",
        )
        self._api(
            "GET",
            p + "/wit/classificationnodes/{structureGroup}",
            self._node,
            "Classification Nodes_Get",
        )
        self._api(
            "GET",
            p + "/wit/classificationnodes/{structureGroup}/{path:path}",
            self._node,
            "Classification Nodes_Get",
        )
        self._api(
            "GET",
            o + "/wit/workitemrelationtypes",
            self._relation_types,
            "Work Item Relation Types_List",
        )
        self._api(
            "GET",
            o + "/wit/workitemrelationtypes/{relation}",
            self._relation_type,
            "Work Item Relation Types_Get",
        )
        self._api("GET", o + "/projects", self._projects, "Projects_List", spec="core")
        self._api("GET", o + "/projects/{projectId}", self._project, "Projects_Get", spec="core")

    def _guarded(self, handler: Handler, preview: bool) -> Handler:
        """Checks every API call shares: api-version, organization, project; error shape."""

        def run(request: Request) -> Response:
            try:
                self._check_version(request, preview)
                self._check_scope(request)
                return handler(request)
            except AdoError as exc:
                return exc.response()

        return run

    # ------------------------------------------------------------------ hooks
    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization") or ""
        if not header:
            if (request.headers.get("X-TFS-FedAuthRedirect") or "").lower() == "suppress":
                return self._unauthorized()
            return Response(
                203,
                _SIGN_IN_PAGE.encode(),
                {"Content-Type": "text/html; charset=utf-8", "X-TFS-FedAuthRedirect": "/_signin"},
            )
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and self._basic_ok(value.strip()):
            return None
        if scheme.lower() == "bearer" and value.strip() == self.bearer_token:
            return None
        return self._unauthorized()

    def _basic_ok(self, value: str) -> bool:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, sep, secret = decoded.partition(":")
        return bool(sep) and secret == self.pat

    def _unauthorized(self) -> Response:
        message = "TF400813: The user '' is not authorized to access this resource."
        return error_response(
            401,
            message,
            "UnauthorizedRequestException",
            _FRAMEWORK,
            headers={
                "WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/"
                'common, Basic realm="https://dev.azure.com/", TFS-Federated',
                "X-TFS-ServiceError": quote(message),
            },
        )

    def throttled(self, request: Request, reason: str) -> Response:
        retry = max(1, math.ceil(self.knobs.retry_after_sec))
        message = (
            "TF400733: The request has been canceled: Request was blocked due to "
            "exceeding usage of resource 'ATCPU' in namespace 'User'."
        )
        return error_response(
            429,
            message,
            "RequestBlockedException",
            _FRAMEWORK,
            headers={
                "Retry-After": str(retry),
                "X-RateLimit-Resource": "ATCPU",
                "X-RateLimit-Delay": f"{float(retry):.3f}",
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + retry),
            },
        )

    def server_error(self, request: Request, status: int) -> Response:
        activity = uuid.uuid4()
        if status == 503:
            return error_response(
                503,
                f"TF400898: The service is temporarily unavailable. ActivityId: {activity}.",
                "ServiceUnavailableException",
                _FRAMEWORK,
                headers={"Retry-After": "1"},
            )
        return error_response(
            500,
            f"TF400898: An Internal Error Occurred. Activity Id: {activity}.",
            "InternalServerErrorException",
            _FRAMEWORK,
        )

    def not_found(self, request: Request) -> Response:
        return error_response(
            404,
            f"The controller for path '{request.path}' was not found or "
            "does not implement IController.",
            "HttpException",
            "System.Web",
        )

    def method_not_allowed(self, request: Request) -> Response:
        return error_response(
            405,
            f"The requested resource does not support http method '{request.method}'.",
            "HttpException",
            "System.Web",
        )

    def bad_body(self, request: Request, exc: Exception) -> Response:
        return error_response(
            400,
            "VS402366: The request body is missing or not valid JSON.",
            "VssPropertyValidationException",
            _WEBAPI,
        )

    def decorate(self, request: Request, response: Response) -> Response:
        response.headers.setdefault("ActivityId", str(uuid.uuid4()))
        response.headers.setdefault("X-TFS-ProcessId", "d6d0d8f6-0d0c-4d44-9f06-7e4b3f3a2a10")
        return response

    # ------------------------------------------------------------------ common checks
    def _check_version(self, request: Request, preview: bool) -> None:
        version = request.arg("api-version")
        if version is None:
            m = re.search(r"api-version=([\w.\-]+)", request.headers.get("Accept") or "")
            version = m.group(1) if m else None
        if not version:
            raise AdoError(
                400,
                f'No api-version was supplied for the "{request.method}" request. '
                "The version must be supplied either as part of the Accept header "
                '(e.g. "application/json; api-version=1.0") or as a query parameter '
                '(e.g. "?api-version=1.0").',
                "VssVersionNotSpecifiedException",
                _WEBAPI,
                event_id=3000,
            )
        m = re.fullmatch(r"(\d+)\.(\d+)(-preview(\.\d+)?)?", version)
        if m is None:
            raise AdoError(
                400,
                f'The following api-version parameter value could not be parsed: "{version}".',
                "VssInvalidApiVersionException",
                _WEBAPI,
                event_id=3000,
            )
        number = (int(m.group(1)), int(m.group(2)))
        if number > LATEST_API_VERSION:
            raise AdoError(
                400,
                f"The requested REST API version of {version} is out of range for "
                f"this server. The latest REST API version this server supports is "
                f"{LATEST_API_VERSION[0]}.{LATEST_API_VERSION[1]}.",
                "VssVersionOutOfRangeException",
                _WEBAPI,
                event_id=3000,
            )
        if preview and not m.group(3):
            raise AdoError(
                400,
                f'The requested version "{version}" of the resource is under '
                "preview. The -preview flag must be supplied in the api-version for "
                f'such requests. For example: "{version}-preview"',
                "VssInvalidPreviewVersionException",
                _WEBAPI,
                event_id=3000,
            )

    def _check_scope(self, request: Request) -> None:
        org = request.params.get("org", "")
        if org.lower() != self.org.lower():
            raise AdoError(
                404,
                f"VS800075: The organization '{org}' does not exist or you do not "
                "have permission to access it.",
                "OrganizationNotFoundException",
                _FRAMEWORK,
                event_id=3000,
            )
        project = request.params.get("project")
        if project is not None and project.lower() not in (self.project.lower(), self.project_id):
            raise _project_not_found(project)

    def _base(self, request: Request) -> str:
        return "http://" + (request.headers.get("Host") or "127.0.0.1")

    def _project_url(self, request: Request) -> str:
        return f"{self._base(request)}/{self.org}/{self.project_id}/_apis"

    # ------------------------------------------------------------------ WIQL
    def _wiql(self, request: Request) -> Response:
        body = request.json()
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise _bad_request(
                "VS402362: The query text (Wiql.Query) must be provided.",
                "VssPropertyValidationException",
                _WEBAPI,
            )
        top = _int_arg(request, "$top")
        precision = (request.arg("timePrecision") or "").lower() == "true"
        parsed = WiqlParser(
            query, self.store, self.project if "project" in request.params else None, precision
        ).parse()
        ids = self._run_wiql(parsed, top)
        return json_response(200, self._wiql_result(request, parsed, ids))

    def _run_wiql(self, parsed: WiqlQuery, top: int | None) -> list[int]:
        matched = [i for i in self.store.live_ids() if parsed.predicate(i)]
        if len(matched) > self.wiql_cap and (top is None or top > self.wiql_cap):
            raise AdoError(
                400,
                f"VS402337: The number of work items returned exceeds the size "
                f"limit of {self.wiql_cap}. Change the query to return fewer items.",
                "WorkItemTrackingQueryResultSizeLimitExceededException",
                error_code=600171,
            )
        for ref, descending in reversed(parsed.order):
            if ref == "System.Id":
                matched.sort(reverse=descending)
            else:
                matched.sort(key=self._sort_by(ref), reverse=descending)
        return matched[:top] if top is not None else matched

    def _sort_by(self, ref: str) -> Callable[[int], tuple[int, Any]]:
        return lambda ident: _sort_key(self.store.value(ident, ref))

    def _wiql_result(self, request: Request, parsed: WiqlQuery, ids: list[int]) -> dict[str, Any]:
        base, api = self._base(request), self._project_url(request)

        def ref(name: str) -> dict[str, str]:
            spec = FIELDS[name.lower()]
            return {
                "referenceName": spec[0],
                "name": spec[1],
                "url": f"{base}/{self.org}/_apis/wit/fields/{spec[0]}",
            }

        return {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": iso(datetime.now(UTC)),
            "columns": [ref(c) for c in parsed.columns],
            "sortColumns": [{"field": ref(f), "descending": d} for f, d in parsed.order],
            "workItems": [{"id": i, "url": f"{api}/wit/workItems/{i}"} for i in ids],
        }

    # ------------------------------------------------------------------ work items
    def _batch(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list) or not body["ids"]:
            raise _bad_request(
                "VS403470: The ids parameter (WorkItemBatchGetRequest.Ids) must be provided.",
                "VssPropertyValidationException",
                _WEBAPI,
            )
        ids = [_as_int(x) for x in body["ids"]]
        fields = body.get("fields")
        expand = body.get("$expand") or body.get("expand")
        return self._many(request, ids, fields, expand, body.get("asOf"), body.get("errorPolicy"))

    def _list(self, request: Request) -> Response:
        raw = request.arg("ids")
        if not raw:
            raise _bad_request(
                "VS403470: The ids parameter must be provided.",
                "VssPropertyValidationException",
                _WEBAPI,
            )
        ids = [_as_int(x) for x in raw.split(",") if x.strip()]
        fields = request.arg("fields")
        return self._many(
            request,
            ids,
            fields.split(",") if fields else None,
            request.arg("$expand"),
            request.arg("asOf"),
            request.arg("errorPolicy"),
        )

    def _many(
        self, request: Request, ids: list[int], fields: Any, expand: Any, as_of: Any, policy: Any
    ) -> Response:
        if len(ids) > BATCH_LIMIT:
            raise _bad_request(
                f"VS403474: You requested {len(ids)} work items which exceeds the "
                f"limit of {BATCH_LIMIT}",
                "VssPropertyValidationException",
                _WEBAPI,
            )
        wanted = self._check_fields_expand(fields, expand)
        moment = _as_of(as_of)
        omit = str(policy or "fail").lower() == "omit"
        values: list[dict[str, Any] | None] = []
        for ident in ids:
            item = self._render(request, ident, wanted, str(expand or "none"), moment, False)
            if item is None and not omit:
                raise _not_found_item(ident)
            values.append(item)
        return json_response(200, {"count": len(values), "value": values})

    def _get_one(self, request: Request) -> Response:
        ident = _as_int(request.params["id"])
        fields = request.arg("fields")
        expand = request.arg("$expand")
        wanted = self._check_fields_expand(fields.split(",") if fields else None, expand)
        item = self._render(
            request, ident, wanted, str(expand or "none"), _as_of(request.arg("asOf")), True
        )
        if item is None:
            raise _not_found_item(ident)
        return json_response(200, item)

    @staticmethod
    def _check_fields_expand(fields: Any, expand: Any) -> list[str] | None:
        if fields and expand and str(expand).lower() != "none":
            raise _bad_request(
                "The expand parameter can not be used with the fields parameter.",
                "ConflictingParametersException",
                "Microsoft.TeamFoundation.WorkItemTracking.Server",
            )
        if expand and str(expand).lower() not in ("none", "relations", "fields", "links", "all"):
            raise _bad_request(f"The value '{expand}' is not valid for $expand.")
        if not fields:
            return None
        if not isinstance(fields, list):
            raise _bad_request("VS403471: fields must be a list of field reference names.")
        out = []
        for name in fields:
            spec = lookup_field(str(name))
            if spec is None:
                raise _bad_request(
                    f"TF51535: Cannot find field {name}.",
                    "WorkItemTrackingFieldDefinitionNotFoundException",
                    "Microsoft.TeamFoundation.WorkItemTracking.Server",
                )
            out.append(spec[0])
        return out

    def _render(
        self,
        request: Request,
        ident: int,
        wanted: list[str] | None,
        expand: str,
        as_of: datetime | None,
        single: bool,
    ) -> dict[str, Any] | None:
        base = self._base(request)
        rec = self.store.record(ident, base, as_of)
        if rec is None:
            return None
        api = self._project_url(request)
        url = f"{api}/wit/workItems/{ident}"
        fields = (
            rec.fields if wanted is None else {k: rec.fields[k] for k in wanted if k in rec.fields}
        )
        out: dict[str, Any] = {
            "id": ident,
            "rev": rec.fields.get("System.Rev", 1),
            "fields": _rebase(fields, base),
        }
        expand = expand.lower()
        if expand in ("relations", "all"):
            out["relations"] = self._relations(rec, api)
        comments = self.store.comments(ident, include_deleted=False)
        if comments and wanted is None:
            last = comments[-1]
            out["commentVersionRef"] = {
                "commentId": last.id,
                "version": last.version,
                "url": f"{url}/comments/{last.id}/versions/{last.version}",
            }
        if single or expand in ("links", "all"):
            out["_links"] = self._item_links(request, rec, url)
        out["url"] = url
        return out

    def _relations(self, rec: ItemRecord, api: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rel, target, link_attrs in rec.links:
            out.append(
                {"rel": rel, "url": f"{api}/wit/workItems/{target}", "attributes": link_attrs}
            )
        for link_url, comment in rec.hyperlinks:
            out.append(
                {
                    "rel": "Hyperlink",
                    "url": link_url,
                    "attributes": {
                        "authorizedDate": rec.fields["System.CreatedDate"],
                        "id": rec.id * 1000,
                        "resourceCreatedDate": rec.fields["System.CreatedDate"],
                        "revisedDate": "9999-01-01T00:00:00Z",
                        "comment": comment,
                        "name": "Hyperlink",
                    },
                }
            )
        for att in rec.attachments:
            attrs: dict[str, Any] = {
                "authorizedDate": att.created,
                "id": rec.id * 1000 + 1 + att.index,
                "resourceCreatedDate": att.created,
                "resourceModifiedDate": att.created,
                "revisedDate": "9999-01-01T00:00:00Z",
                "resourceSize": att.size,
                "name": att.name,
            }
            if att.comment:
                attrs["comment"] = att.comment
            out.append(
                {
                    "rel": "AttachedFile",
                    "url": f"{api}/wit/attachments/{att.guid}",
                    "attributes": attrs,
                }
            )
        return out

    def _item_links(self, request: Request, rec: ItemRecord, url: str) -> dict[str, Any]:
        base = self._base(request)
        return {
            "self": {"href": url},
            "workItemUpdates": {"href": url + "/updates"},
            "workItemRevisions": {"href": url + "/revisions"},
            "workItemComments": {"href": url + "/comments"},
            "workItemHistory": {"href": url + "/history"},
            "html": {"href": f"{base}/{self.org}/{quote(self.project)}/_workitems/edit/{rec.id}"},
            "workItemType": {
                "href": f"{self._project_url(request)}/wit/workItemTypes/{quote(rec.type)}"
            },
            "fields": {"href": f"{self._project_url(request)}/wit/fields"},
        }

    # ------------------------------------------------------------------ comments
    def _comments(self, request: Request) -> Response:
        ident = _as_int(request.params["workItemId"])
        if not self.store.exists(ident):
            raise _not_found_item(ident)
        include_deleted = (request.arg("includeDeleted") or "").lower() == "true"
        all_comments = self.store.comments(ident, include_deleted)
        if request.arg("ids"):
            wanted = {_as_int(x) for x in (request.arg("ids") or "").split(",")}
            chosen = [c for c in all_comments if c.id in wanted]
            return json_response(200, self._comment_page(request, chosen, len(chosen), None))
        if (request.arg("order") or "desc").lower() != "asc":
            all_comments.reverse()
        top = _int_arg(request, "$top") or 200
        offset = _decode_token(request.arg("continuationToken"))
        page = all_comments[offset : offset + top]
        token = _encode_token(offset + top) if offset + top < len(all_comments) else None
        return json_response(200, self._comment_page(request, page, len(all_comments), token))

    def _comment_page(
        self, request: Request, page: list[CommentRecord], total: int, token: str | None
    ) -> dict[str, Any]:
        expand = (request.arg("$expand") or "none").lower()
        next_page = None
        if token:
            ident = request.params["workItemId"]
            next_page = (
                f"{self._project_url(request)}/wit/workItems/{ident}/comments?"
                f"continuationToken={token}&api-version={request.arg('api-version')}"
            )
        return {
            "totalCount": total,
            "count": len(page),
            "comments": [self._comment_json(request, c, expand) for c in page],
            "nextPage": next_page,
            "continuationToken": token,
        }

    def _comment(self, request: Request) -> Response:
        ident, cid = _as_int(request.params["workItemId"]), _as_int(request.params["commentId"])
        if not self.store.exists(ident):
            raise _not_found_item(ident)
        include_deleted = (request.arg("includeDeleted") or "").lower() == "true"
        for comment in self.store.comments(ident, include_deleted):
            if comment.id == cid:
                expand = (request.arg("$expand") or "none").lower()
                return json_response(200, self._comment_json(request, comment, expand))
        raise AdoError(
            404,
            f"VS402624: Comment {cid} of work item {ident} does not exist, or it has been deleted.",
            "WorkItemCommentNotFoundException",
        )

    def _comment_json(self, request: Request, c: CommentRecord, expand: str) -> dict[str, Any]:
        base = self._base(request)
        who = identity_ref(c.author, base, self.org)
        out: dict[str, Any] = {
            "workItemId": c.work_item_id,
            "id": c.id,
            "version": c.version,
            "text": c.text,
            "createdBy": who,
            "createdDate": c.created,
            "modifiedBy": who,
            "modifiedDate": c.modified,
            "isDeleted": c.is_deleted,
            "format": c.format,
            "mentions": [
                {
                    "artifactId": str(c.work_item_id),
                    "artifactType": "Person",
                    "commentId": c.id,
                    "targetId": p.ado_id,
                }
                for p in c.mentions
            ],
            "url": f"{self._project_url(request)}/wit/workItems/{c.work_item_id}/comments/{c.id}",
        }
        if expand in ("renderedtext", "all", "renderedtextonly"):
            out["renderedText"] = c.text if c.format == "html" else f"<p>{c.text}</p>"
        return out

    # ------------------------------------------------------------------ attachments
    def _attachment(self, request: Request) -> Response:
        found = self.store.attachment(request.params["id"])
        if found is None:
            raise AdoError(
                404,
                f"VS402175: The attachment {request.params['id']} was not found.",
                "AttachmentNotFoundException",
            )
        info, chunks = found
        name = request.arg("fileName") or info.name
        disposition = (
            "attachment" if (request.arg("download") or "").lower() == "true" else "inline"
        )
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'{disposition}; filename="{_ascii(name)}"; '
            f"filename*=utf-8''{quote(name)}",
        }
        return Response(200, chunks, headers, content_length=info.size)

    # ------------------------------------------------------------------ metadata
    def _types(self, request: Request) -> Response:
        values = [self._type_json(request, t.name) for t in TYPES]
        return json_response(200, {"count": len(values), "value": values})

    def _type_one(self, request: Request) -> Response:
        return json_response(200, self._type_json(request, self._type_name(request)))

    def _type_name(self, request: Request) -> str:
        wanted = request.params["type"].lower()
        for t in TYPES:
            if wanted in (t.name.lower(), t.reference_name.lower()):
                return t.name
        raise AdoError(
            404,
            f"VS402323: Work item type {request.params['type']} does not exist.",
            "WorkItemTypeNotFoundException",
        )

    def _type_json(self, request: Request, name: str) -> dict[str, Any]:
        t = TYPES[TYPE_INDEX[name]]
        base, api = self._base(request), self._project_url(request)
        state_names = [s.name for s in t.states]
        return {
            "name": t.name,
            "referenceName": t.reference_name,
            "description": t.description,
            "color": t.color,
            "isDisabled": False,
            "icon": {
                "id": t.icon,
                "url": f"{base}/{self.org}/_apis/wit/workItemIcons/{t.icon}?color={t.color}&v=2",
            },
            "fieldInstances": self._field_instances(request, name),
            "fields": self._field_instances(request, name),
            "transitions": {
                "": [{"to": state_names[0]}],
                **{s: [{"to": o} for o in state_names if o != s] for s in state_names},
            },
            "states": [
                {"name": s.name, "color": s.color, "category": s.category} for s in t.states
            ],
            "url": f"{api}/wit/workItemTypes/{quote(t.name)}",
        }

    def _field_instances(self, request: Request, name: str) -> list[dict[str, Any]]:
        base = self._base(request)
        out = []
        for ref in _COMMON_TYPE_FIELDS + _TYPE_FIELDS[name]:
            spec = FIELDS[ref.lower()]
            instance: dict[str, Any] = {
                "alwaysRequired": ref in ("System.Title", "System.State"),
                "referenceName": ref,
                "name": spec[1],
                "url": f"{base}/{self.org}/_apis/wit/fields/{ref}",
            }
            if ref in _ALLOWED:
                instance["allowedValues"] = _ALLOWED[ref]
            out.append(instance)
        return out

    def _states(self, request: Request) -> Response:
        t = TYPES[TYPE_INDEX[self._type_name(request)]]
        values = [{"name": s.name, "color": s.color, "category": s.category} for s in t.states]
        return json_response(200, {"count": len(values), "value": values})

    def _type_fields(self, request: Request) -> Response:
        values = self._field_instances(request, self._type_name(request))
        return json_response(200, {"count": len(values), "value": values})

    def _fields(self, request: Request) -> Response:
        values = [self._field_json(request, spec) for spec in _FIELD_SPECS]
        return json_response(200, {"count": len(values), "value": values})

    def _field_one(self, request: Request) -> Response:
        spec = lookup_field(request.params["field"])
        if spec is None:
            raise AdoError(
                404,
                f"TF51535: Cannot find field {request.params['field']}.",
                "WorkItemTrackingFieldDefinitionNotFoundException",
            )
        return json_response(200, self._field_json(request, spec))

    def _field_json(
        self, request: Request, spec: tuple[str, str, str, bool, bool, bool]
    ) -> dict[str, Any]:
        ref, name, ftype, read_only, is_identity, is_picklist = spec
        return {
            "name": name,
            "referenceName": ref,
            "description": "",
            "type": ftype,
            "usage": "workItem",
            "readOnly": read_only,
            "canSortBy": ftype != "html",
            "isQueryable": True,
            "supportedOperations": [],
            "isIdentity": is_identity,
            "isPicklist": is_picklist,
            "isPicklistSuggested": False,
            "isLocked": False,
            "url": f"{self._base(request)}/{self.org}/_apis/wit/fields/{ref}",
        }

    def _relation_types(self, request: Request) -> Response:
        values = [self._relation_json(request, spec) for spec in _RELATION_TYPES]
        return json_response(200, {"count": len(values), "value": values})

    def _relation_type(self, request: Request) -> Response:
        for spec in _RELATION_TYPES:
            if spec[0].lower() == request.params["relation"].lower():
                return json_response(200, self._relation_json(request, spec))
        raise AdoError(
            404,
            f"VS402310: The link type {request.params['relation']} does not exist.",
            "WorkItemLinkTypeNotFoundException",
        )

    def _relation_json(
        self, request: Request, spec: tuple[str, str, str, str | None]
    ) -> dict[str, Any]:
        ref, name, topology, opposite = spec
        if topology == "resourceLink":
            attrs: dict[str, Any] = {"usage": "resourceLink", "editable": False, "enabled": True}
        else:
            attrs = {
                "usage": "workItemLink",
                "editable": False,
                "enabled": True,
                "acyclic": topology != "network",
                "directional": opposite is not None,
                "singleTarget": ref.endswith("Hierarchy-Reverse"),
                "topology": topology,
            }
            if opposite:
                attrs["isForward"] = ref.endswith("Forward")
                attrs["oppositeEndReferenceName"] = opposite
        return {
            "attributes": attrs,
            "referenceName": ref,
            "name": name,
            "url": f"{self._base(request)}/{self.org}/_apis/wit/workItemRelationTypes/{ref}",
        }

    # ------------------------------------------------------------------ classification nodes
    def _root_nodes(self, request: Request) -> Response:
        depth = _int_arg(request, "$depth") or 0
        values = [
            self._node_json(request, nodes, nodes[0], depth)
            for nodes in (self.dataset.areas, self.dataset.iterations)
        ]
        return json_response(200, {"count": len(values), "value": values})

    def _node(self, request: Request) -> Response:
        group = request.params["structureGroup"].lower()
        if group not in ("areas", "iterations"):
            raise _bad_request(
                f"VS402485: The structure group {group} is not valid; use areas or iterations."
            )
        nodes = self.dataset.areas if group == "areas" else self.dataset.iterations
        path = request.params.get("path", "").strip("/").replace("/", "\\")
        wanted = nodes[0].path + ("\\" + path if path else "")
        node = next((n for n in nodes if n.path.lower() == wanted.lower()), None)
        if node is None:
            raise AdoError(
                404,
                f"VS402485: The node {path} does not exist under {group}.",
                "ClassificationNodeDoesNotExistException",
            )
        depth = _int_arg(request, "$depth") or 0
        return json_response(200, self._node_json(request, nodes, node, depth))

    def _node_json(
        self, request: Request, nodes: list[Node], node: Node, depth: int
    ) -> dict[str, Any]:
        kind = "Areas" if node.structure == "area" else "Iterations"
        rel = node.path.split("\\", 1)[1] if "\\" in node.path else ""
        url = f"{self._project_url(request)}/wit/classificationNodes/{kind}" + (
            "/" + quote(rel.replace("\\", "/")) if rel else ""
        )
        children = [n for n in nodes if n.parent == node.id]
        out: dict[str, Any] = {
            "id": node.id,
            "identifier": node.identifier,
            "name": node.name,
            "structureType": node.structure,
            "hasChildren": bool(children),
            "path": f"\\{nodes[0].name}\\{kind[:-1]}" + ("\\" + rel if rel else ""),
        }
        if node.start:
            out["attributes"] = {"startDate": node.start, "finishDate": node.finish}
        if depth > 0 and children:
            out["children"] = [self._node_json(request, nodes, c, depth - 1) for c in children]
        out["url"] = url
        return out

    # ------------------------------------------------------------------ core: projects
    def _projects(self, request: Request) -> Response:
        values = [self._project_ref(request)]
        return json_response(200, {"count": len(values), "value": values})

    def _project(self, request: Request) -> Response:
        wanted = request.params["projectId"]
        if wanted.lower() not in (self.project.lower(), self.project_id):
            raise _project_not_found(wanted)
        base = self._base(request)
        out = self._project_ref(request)
        out["_links"] = {
            "self": {"href": out["url"]},
            "collection": {
                "href": f"{base}/{self.org}/_apis/projectCollections/{self.project_id[::-1]}"
            },
            "web": {"href": f"{base}/{self.org}/{quote(self.project)}"},
        }
        out["capabilities"] = {
            "processTemplate": {"templateName": "Agile", "templateTypeId": _AGILE_PROCESS_ID},
            "versioncontrol": {"sourceControlType": "Git"},
        }
        out["defaultTeam"] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.project_id + "/team")),
            "name": f"{self.project} Team",
            "url": f"{base}/{self.org}/_apis/projects/{self.project_id}/teams",
        }
        return json_response(200, out)

    def _project_ref(self, request: Request) -> dict[str, Any]:
        return {
            "id": self.project_id,
            "name": self.project,
            "description": "Simulated project for the ADO to Jira migrator",
            "url": f"{self._base(request)}/{self.org}/_apis/projects/{self.project_id}",
            "state": "wellFormed",
            "revision": 411,
            "visibility": "private",
            "lastUpdateTime": "2025-05-30T08:00:00.000Z",
        }

    # ------------------------------------------------------------------ Python API for tests
    def reset(self) -> None:
        """Forget every edit, knob change and counter: the pristine dataset again."""
        self.store.reset()
        self.knobs.update(asdict(Knobs()))
        with self._counter_lock:
            self.counters.clear()

    def edit_item(
        self,
        ident: int,
        fields: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        state: str | None = None,
    ) -> int:
        changes = dict(fields or {})
        if title is not None:
            changes["System.Title"] = title
        if state is not None:
            changes["System.State"] = state
        return self.store.edit(ident, changes)

    def add_item(
        self,
        type_name: str,
        title: str,
        *,
        parent: int | None = None,
        area_path: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> int:
        return self.store.add_item(type_name, title, parent, area_path, fields)

    def add_comment(self, ident: int, text: str, author_email: str | None = None) -> int:
        return self.store.add_comment(ident, text, self._person(author_email))

    def add_attachment(self, ident: int, name: str, data: bytes) -> str:
        return self.store.add_attachment(ident, name, data)

    def remove_item(self, ident: int) -> int:
        return self.store.remove(ident)

    def delete_item(self, ident: int) -> None:
        self.store.recycle(ident)

    def _recycle(self, ident: int) -> dict[str, Any]:
        self.delete_item(ident)
        return {"id": ident, "recycled": True}

    def item_fields(self, ident: int) -> dict[str, Any]:
        rec = self.store.record(ident, "")
        if rec is None:
            raise KeyError(ident)
        return rec.fields

    def _person(self, email: str | None) -> Person | None:
        if email is None:
            return None
        for person in self.dataset.people:
            if person.email.lower() == email.lower():
                return person
        raise ValueError(f"unknown person {email!r}")

    # ------------------------------------------------------------------ control routes
    def _register_control(self) -> None:
        c = "/_sandbox"
        self.add_route("GET", c + "/state", self._ctl_state, faults=False)
        self.add_route("POST", c + "/reset", self._ctl_reset, faults=False)
        self.add_route("GET", c + "/items/{id}", self._ctl_item, faults=False)
        self.add_route("PATCH", c + "/items/{id}", self._ctl_edit, faults=False)
        self.add_route("DELETE", c + "/items/{id}", self._ctl_remove, faults=False)
        self.add_route("POST", c + "/items", self._ctl_add, faults=False)
        self.add_route("POST", c + "/items/{id}/comments", self._ctl_comment, faults=False)

    def _control(self, action: Callable[[], Any], status: int = 200) -> Response:
        try:
            return json_response(status, action())
        except KeyError as exc:
            return json_response(404, {"message": f"no such work item or comment: {exc}"})
        except (ValueError, TypeError) as exc:
            return json_response(400, {"message": str(exc)})

    def _ctl_state(self, request: Request) -> Response:
        with self._counter_lock:
            counters = dict(self.counters)
        return json_response(
            200,
            {
                "org": self.org,
                "project": self.project,
                "projectId": self.project_id,
                "seed": self.dataset.seed,
                "generatedItems": self.dataset.count,
                "roles": self.dataset.roles,
                **self.store.summary(),
                "counters": counters,
            },
        )

    def _ctl_reset(self, request: Request) -> Response:
        self.reset()
        return Response(204)

    def _ctl_item(self, request: Request) -> Response:
        return self._control(lambda: self.item_fields(_plain_int(request.params["id"])))

    def _ctl_edit(self, request: Request) -> Response:
        def edit() -> dict[str, Any]:
            body, ident = _object(request), _plain_int(request.params["id"])
            rev = self.edit_item(
                ident, body.get("fields"), title=body.get("title"), state=body.get("state")
            )
            return {"id": ident, "rev": rev}

        return self._control(edit)

    def _ctl_remove(self, request: Request) -> Response:
        ident = _plain_int(request.params["id"])
        if (request.arg("destroy") or "").lower() == "true":
            return self._control(lambda: self._recycle(ident))
        return self._control(lambda: {"id": ident, "rev": self.remove_item(ident)})

    def _ctl_add(self, request: Request) -> Response:
        def add() -> dict[str, Any]:
            body = _object(request)
            return {
                "id": self.add_item(
                    str(body.get("type", "")),
                    str(body.get("title", "")),
                    parent=body.get("parent"),
                    area_path=body.get("areaPath"),
                    fields=body.get("fields"),
                )
            }

        return self._control(add, 201)

    def _ctl_comment(self, request: Request) -> Response:
        def comment() -> dict[str, Any]:
            body, ident = _object(request), _plain_int(request.params["id"])
            return {"id": self.add_comment(ident, str(body.get("text", "")), body.get("author"))}

        return self._control(comment, 201)


_AGILE_PROCESS_ID = "adcc42ab-9882-485e-a3ed-7678f01f66bc"  # the well-known Agile template id
_SIGN_IN_PAGE = """<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>
<body><p>Sign in to continue to Azure DevOps.</p></body></html>"""


# --------------------------------------------------------------------------- small helpers
def _project_not_found(project: str) -> AdoError:
    return AdoError(
        404,
        f"TF200016: The following project does not exist: {project}. Verify that "
        "the name of the project is correct and that the project exists on the "
        "specified Azure DevOps Server.",
        "ProjectDoesNotExistWithNameException",
        _CORE,
        event_id=3000,
    )


def _as_int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise _bad_request(f"VS403472: The value '{value}' is not a valid work item id.") from exc


def _plain_int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"not an id: {value}") from exc


def _int_arg(request: Request, name: str) -> int | None:
    raw = request.arg(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise _bad_request(f"The value '{raw}' is not valid for {name}.") from exc
    if value < 0:
        raise _bad_request(f"The value '{raw}' is not valid for {name}.")
    return value


def _as_of(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _parse_dt(str(value))
    except ValueError as exc:
        raise _bad_request(f"The value '{value}' is not valid for asOf.") from exc


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad_request(f"The continuation token '{token}' is not valid.") from exc


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, dict):
        return (1, str(value.get("displayName", "")).lower())
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def _rebase(fields: dict[str, Any], base: str) -> dict[str, Any]:
    """Identity refs stored without a host (edits made offline) get this request's host."""
    out = {}
    for key, value in fields.items():
        if isinstance(value, dict) and str(value.get("url", "")).startswith("/"):
            value = {
                k: (base + v if isinstance(v, str) and v.startswith("/") else v)
                for k, v in value.items()
            }
        out[key] = value
    return out


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace('"', "'")


def _object(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def day_of(value: str) -> date:
    """The calendar day of an ADO timestamp (used by tests of day-precision WIQL)."""
    return _parse_dt(value).date()
