"""The ADO sandbox's in-memory state: the generated dataset plus every edit made since.

:class:`AdoStore` answers "what does work item N look like (as of T)" by
replaying the revisions that tests and the demo made on top of the dataset,
and holds added items, comments, attachments and the recycle bin. It knows
nothing of HTTP.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.ado_fields import parse_dt
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
from sandbox.people import Person


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
        if as_of is not None and parse_dt(rec.fields["System.CreatedDate"]) > as_of:
            return None
        for revision in revs:
            if as_of is not None and parse_dt(revision.changed) > as_of:
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

    def history_parts(
        self, ident: int, base_url: str
    ) -> tuple[ItemRecord, bool, list[tuple[int, str, dict[str, Any]]], list[tuple[str, str]]]:
        """For the updates route: the item before any sandbox edit, whether it was added
        through the sandbox, the edits (rev, moment, cumulative overrides) and the
        comments added since (moment, text)."""
        with self._lock:
            added = self._state.added.get(ident)
            revisions = self._state.revisions.get(ident, ())
            edits = [(r.rev, r.changed, dict(r.overrides)) for r in revisions]
            comments = [(c.created, c.text) for c in self._state.comments.get(ident, ())]
        base = added if added is not None else self.dataset.item(ident, base_url)
        return base, added is not None, edits, comments

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
