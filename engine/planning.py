"""Discovery helpers: filters, SAMPLE selection, per-item decisions and creation order.

Everything here is pure (no I/O) so the rules can be unit-tested on their own;
:mod:`engine.pipeline` feeds it what it read from ADO, Jira and the ledger.

Decisions, per work item, made once in phase 1 and saved with the plan (a
resumed run never re-decides):

- ``create``   not in the ledger: create the issue (CREATED).
- ``complete`` in the ledger but never finished (an earlier run stopped after
  creating it): finish states, comments, attachments and links (CREATED).
- ``update``   in the ledger and changed in ADO since it was written (a higher
  ``rev``): edit the fields in place, append new comments and attachments,
  re-reach the state, add new links (UPDATED).
- ``refresh``  INCREMENTAL only: returned by the changed-since query with the
  same ``rev``: append what is new without editing fields (UPDATED).
- ``skip``     in the ledger, fully written at this ``rev`` (SKIPPED: "already
  migrated as KEY"), or removed in ADO.

**Removed work items are skipped by default** with the reason "removed in Azure
DevOps": they are counted in the total and listed in the items, but nothing is
written for them (an issue migrated before its removal is left unchanged).

SAMPLE: round-robin over the types present (top of the hierarchy first, the
lowest ids first within a type, removed items last) until ``sample_size`` items
are chosen, so each type is represented when the size allows; then the
in-scope ancestors of every chosen item are added so the hierarchy survives.
Those parents may push the count over ``sample_size``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from engine.model import PlanningItem
from engine.ports import LedgerEntry, RunType

Action = Literal["create", "complete", "update", "refresh", "skip"]
REMOVED_REASON = "removed in Azure DevOps"


@dataclass(slots=True)
class PlannedItem:
    """One work item's place in the plan (JSON-safe through ``to_dict``)."""

    ado_id: int
    ado_type: str
    rev: int
    title: str
    state: str
    state_category: str
    url: str
    parent_id: int | None
    jira_type_id: str
    jira_type: str
    level: int
    action: Action = "create"
    reason: str = ""
    target_status: str = ""
    jira_parent: int | None = None  # ADO id whose issue becomes fields.parent
    parent_link: int | None = None  # ADO parent that becomes a link instead

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar: a flat copy is ``asdict`` without its recursion
        # (the plan is saved at every phase's end, each time with every item).
        return {name: getattr(self, name) for name in _PLANNED_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedItem:
        return cls(**data)


_PLANNED_FIELDS = tuple(f.name for f in fields(PlannedItem))


# --------------------------------------------------------------------------- filters
def normalize_type_filter(type_filter: Iterable[str] | str | None) -> list[str]:
    """Names from a list or a comma-separated string; spaces around names ignored."""
    if not type_filter:
        return []
    raw = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    names = [part.strip() for entry in raw for part in str(entry).split(",")]
    return list(dict.fromkeys(n for n in names if n))


def under_area(path: str, area: str | None) -> bool:
    """WIQL ``UNDER``: the area itself or anything below it (case-insensitive)."""
    if not area:
        return True
    p, a = path.strip().lower(), area.strip().rstrip("\\").lower()
    return p == a or p.startswith(a + "\\")


def matches_filters(item: PlanningItem, area: str | None, types: Sequence[str]) -> bool:
    wanted = {t.lower() for t in types}
    return under_area(item.area_path, area) and (not wanted or item.type.lower() in wanted)


def hierarchy_pairs(items: Iterable[PlanningItem]) -> list[tuple[str, str]]:
    """Observed (child type, parent type) pairs among ``items``."""
    by_id = {i.id: i for i in items}
    pairs = set()
    for item in by_id.values():
        parent = by_id.get(item.parent_id) if item.parent_id else None
        if parent is not None:
            pairs.add((item.type, parent.type))
    return sorted(pairs)


# --------------------------------------------------------------------------- SAMPLE
def ancestors(item_id: int, parent_of: Mapping[int, int | None]) -> list[int]:
    """In-scope ancestors of an item, nearest first (cycles tolerated)."""
    out: list[int] = []
    cur = parent_of.get(item_id)
    while cur is not None and cur in parent_of and cur not in out and cur != item_id:
        out.append(cur)
        cur = parent_of.get(cur)
    return out


def select_sample(
    items: Sequence[PlanningItem],
    size: int,
    level_of: Callable[[str], int],
    is_removed: Callable[[PlanningItem], bool] = lambda _i: False,
) -> list[int]:
    """Ids of a representative sample (see the module docstring), ascending."""
    queues: dict[str, list[PlanningItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: (is_removed(i), i.id)):
        queues[item.type].append(item)
    order = sorted(queues, key=lambda t: (-level_of(t), t))
    chosen: list[int] = []
    while len(chosen) < max(size, 0) and any(queues.values()):
        for type_name in order:
            if queues[type_name] and len(chosen) < size:
                chosen.append(queues[type_name].pop(0).id)
    parent_of = {i.id: i.parent_id for i in items}
    with_parents = set(chosen)
    for item_id in chosen:
        with_parents.update(ancestors(item_id, parent_of))
    return sorted(with_parents)


# --------------------------------------------------------------------------- decisions
def is_synced(entry: LedgerEntry, rev: int) -> bool:
    """True when every phase was completed for this ``rev`` in some run."""
    synced = entry.extra.get("synced_rev")
    return isinstance(synced, int) and synced >= rev and entry.ado_rev >= rev


def decide_action(
    rev: int, removed: bool, entry: LedgerEntry | None, run_type: RunType
) -> tuple[Action, str]:
    """What this run does with one item, and the reason shown for a skip."""
    if removed:
        suffix = f" (existing {entry.jira_key} left unchanged)" if entry else ""
        return "skip", REMOVED_REASON + suffix
    if entry is None:
        return "create", ""
    if "synced_rev" not in entry.extra:
        return "complete", ""
    if rev > entry.ado_rev:
        return "update", ""
    if is_synced(entry, rev) and run_type != "INCREMENTAL":
        return "skip", f"already migrated as {entry.jira_key}"
    if is_synced(entry, rev):
        return "refresh", ""
    return "complete", ""


# --------------------------------------------------------------------------- hierarchy
def assign_parents(
    planned: Mapping[int, PlannedItem],
    *,
    ledger_levels: Mapping[int, int | None],
    parent_on_screen: Callable[[str], bool],
    standalone: Callable[[PlannedItem], tuple[str, str] | None],
) -> None:
    """Decide, per item, whether its ADO parent becomes ``fields.parent`` or a link.

    Jira accepts a parent one hierarchy level up (Epic > standard > sub-task) when
    ``parent`` is on the child's create screen. A sub-task-type item that cannot
    get a parent is switched to its standalone (standard) type, since Jira refuses
    a parentless sub-task; it may then sit under an Epic.
    """
    for item in planned.values():
        item.jira_parent, item.parent_link = None, None
        parent_level = _parent_level(item, planned, ledger_levels)
        if item.level < 0 and parent_level != 0:
            fallback = standalone(item)
            if fallback is not None:
                item.jira_type_id, item.jira_type = fallback
                item.level = 0
        if item.parent_id is None:
            continue
        fits = parent_level == item.level + 1 and parent_on_screen(item.jira_type_id)
        if fits:
            item.jira_parent = item.parent_id
        else:
            item.parent_link = item.parent_id


def _parent_level(
    item: PlannedItem,
    planned: Mapping[int, PlannedItem],
    ledger_levels: Mapping[int, int | None],
) -> int | None:
    """The Jira level of the item's parent issue, None when it has (or gets) none."""
    if item.parent_id is None:
        return None
    parent = planned.get(item.parent_id)
    if parent is None:
        return ledger_levels.get(item.parent_id)
    if parent.action == "skip" and item.parent_id not in ledger_levels:
        return None  # removed in ADO and never written: no issue to point at
    return parent.level


def creation_order(planned: Mapping[int, PlannedItem]) -> list[int]:
    """Parents first: Jira hierarchy level descending, then depth, then id."""
    parent_of = {i: p.parent_id for i, p in planned.items()}
    return sorted(
        planned,
        key=lambda i: (-planned[i].level, len(ancestors(i, parent_of)), i),
    )


def waves(planned: Mapping[int, PlannedItem], order: Sequence[int]) -> list[list[int]]:
    """``order`` cut where the hierarchy level changes: a wave's parents are all earlier."""
    out: list[list[int]] = []
    last: int | None = None
    for ado_id in order:
        level = planned[ado_id].level
        if last is None or level != last:
            out.append([])
            last = level
        out[-1].append(ado_id)
    return out


def chunks(seq: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(seq[i : i + size]) for i in range(0, len(seq), size)]
