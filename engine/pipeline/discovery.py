"""Phase 1's view of each work item: what planning reads of it, and no more.

Planning holds one view per item of the project until the plan is made, so a view
keeps only what the planners read:

- the parent (as a parent relation, from the item's relation or ``System.Parent``,
  which becomes ``True`` like the fields below), area and iteration paths;
- the people (``System.AssignedTo``, ``CreatedBy``, ``ChangedBy`` and every field
  the organisation defines as an identity) by display name, unique name and id;
- for every other field the organisation defines (``engine.fieldplan.field_uses``
  counts them): a picklist's value when it is text of at most 255 characters, else
  ``True`` ("has a value"); fields it does not define are dropped.

Repeated names and values are held once (interned), and one dict per person is shared
by the items that name them (nobody changes a view's people: they are shared).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Mapping
from typing import Any

from engine.fieldtypes import AdoField
from engine.model import Relation, WorkItem

PEOPLE = ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy")
WHOLE = frozenset({"System.AreaPath", "System.IterationPath"})
PARENT = "System.LinkTypes.Hierarchy-Reverse"
PICKLIST_TEXT = 255  # the longest picklist value planning looks at
_IDENTITY_KEYS = ("displayName", "uniqueName", "id")
_ITEMS = "/_apis/wit/workItems/"  # a parent relation's URL names the parent's id after it
_NONE: dict[str, Any] = {}  # the attributes of every view's parent relation (never changed)


class PlanningViews:
    """Makes the views of one planning (its memo of people and field sets)."""

    def __init__(self, ado_defs: Mapping[str, AdoField]) -> None:
        self.defs = ado_defs
        self.people = frozenset(PEOPLE) | {
            r for r, d in ado_defs.items() if d.value_type == "identity"
        }
        self._persons: dict[Hashable, dict[str, str]] = {}

    def view(self, wi: WorkItem) -> WorkItem:
        kept: dict[str, Any] = {}
        for ref, raw in wi.fields.items():
            value = self._value(ref, raw)
            if value is not None:
                kept[sys.intern(ref)] = value
        parent_id = wi.parent_id
        parent = [] if parent_id is None else [Relation(PARENT, f"{_ITEMS}{parent_id}", _NONE)]
        if parent_id is None:
            kept.pop("System.Parent", None)  # a parent of 0: none (True would read as 1)
        kind, state = sys.intern(wi.type), sys.intern(wi.state)
        return WorkItem(wi.id, wi.rev, kind, wi.title, state, wi.url, kept, parent)

    def _value(self, ref: str, raw: Any) -> Any:
        """What the view keeps of one field (None: nothing)."""
        if raw is None or raw == "":
            return None
        if ref == "System.Parent":  # the id is the view's parent relation's
            return True if ref in self.defs else None
        if ref in WHOLE:
            return sys.intern(raw) if isinstance(raw, str) else raw
        if ref in self.people:
            if isinstance(raw, dict):
                return self._person(raw)
            return sys.intern(raw) if isinstance(raw, str) else True
        field = self.defs.get(ref)
        if field is None:
            return None
        if field.is_picklist and isinstance(raw, str) and len(raw) <= PICKLIST_TEXT:
            return sys.intern(raw)
        return True

    def _person(self, raw: Mapping[str, Any]) -> dict[str, str] | bool:
        kept = {k: sys.intern(v) for k in _IDENTITY_KEYS if isinstance(v := raw.get(k), str)}
        if not kept:
            return True
        return self._persons.setdefault(tuple(kept.items()), kept)
