"""Phase 1's view of each work item: what planning reads of it, and no more.

Planning holds one view per item of the project until the plan is made, so a view
keeps only what the planners read:

- the parent's id (from the item's parent relation or ``System.Parent``, which
  becomes ``True`` like the fields below), area and iteration paths;
- the people (``System.AssignedTo``, ``CreatedBy``, ``ChangedBy`` and every field
  the organisation defines as an identity) by display name, unique name and id;
- for every other field the organisation defines (``engine.fieldplan.field_uses``
  counts them): a picklist's value when it is text of at most 255 characters, else
  ``True`` ("has a value"); fields it does not define are dropped.

A view is a :class:`PlanView` (an :class:`engine.model.PlanningItem`, as the planners
read it), not a :class:`WorkItem`: its fields are a tuple of values over a key index
shared by every view with the same field names (:class:`FieldValues`), and its parent
is an id, so a view costs a few hundred bytes where a dict per item cost about a
kilobyte. Repeated names and values are held once (interned), and one dict per person
is shared by the items that name them (nobody changes a view's people: they are shared).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.fieldtypes import AdoField
from engine.model import ClassifiedByPaths, WorkItem

PEOPLE = ("System.AssignedTo", "System.CreatedBy", "System.ChangedBy")
WHOLE = frozenset({"System.AreaPath", "System.IterationPath"})
PICKLIST_TEXT = 255  # the longest picklist value planning looks at
_IDENTITY_KEYS = ("displayName", "uniqueName", "id")


class FieldValues(Mapping[str, Any]):
    """A read-only mapping of field names to values: the values are this view's own,
    the name → position index is shared by every view with the same names."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple[Any, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"FieldValues({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class PlanView(ClassifiedByPaths):
    """What planning reads of one work item (see the module docstring)."""

    id: int
    rev: int
    type: str
    title: str
    state: str
    url: str
    fields: FieldValues
    parent_id: int | None


class PlanningViews:
    """Makes the views of one planning (its memo of people and field sets)."""

    def __init__(self, ado_defs: Mapping[str, AdoField]) -> None:
        self.defs = ado_defs
        self.people = frozenset(PEOPLE) | {
            r for r, d in ado_defs.items() if d.value_type == "identity"
        }
        self._persons: dict[Hashable, dict[str, str]] = {}
        self._indexes: dict[tuple[str, ...], dict[str, int]] = {}

    def view(self, wi: WorkItem) -> PlanView:
        parent_id = wi.parent_id
        names: list[str] = []
        values: list[Any] = []
        for ref, raw in wi.fields.items():
            value = self._value(ref, raw)
            if value is None or (parent_id is None and ref == "System.Parent"):
                continue  # a parent of 0 is none (True would read as 1)
            names.append(ref)
            values.append(value)
        kind, state = sys.intern(wi.type), sys.intern(wi.state)
        fields = FieldValues(self._index(tuple(names)), tuple(values))
        return PlanView(wi.id, wi.rev, kind, wi.title, state, wi.url, fields, parent_id)

    def _index(self, names: tuple[str, ...]) -> dict[str, int]:
        """The name → position index of these names, one per set of names."""
        index = self._indexes.get(names)
        if index is None:
            index = {sys.intern(n): i for i, n in enumerate(names)}
            self._indexes[tuple(index)] = index
        return index

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
