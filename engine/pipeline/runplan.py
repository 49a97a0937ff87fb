"""The run's plan as typed, versioned state: :class:`RunPlan` and its parts.

Made once in phase 1 and saved in two parts: the per-item decisions as rows
(``store.save_plan_items(plan.item_rows())``, once, in creation order) and the rest
(``store.save_plan(plan.to_dict())``, again at each phase's end, so its size does not
grow with the project). A resumed run reads both back with :meth:`RunPlan.from_dict`.
The stored form carries ``version`` (:data:`SCHEMA_VERSION`, 3). Version 2 held the
items inside the plan (``items``); version 1 is the plain dict of the engine before
the typed plan (camelCase keys inside ``components`` and ``sprints``, bookkeeping
bases mixed in): :meth:`RunPlan.from_dict` reads both, and the run's next save writes
version 3 and the rows. A plan of any other version is refused with
:class:`PlanVersionError` (a resume never guesses at a format it does not know).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.errors import RunAborted
from engine.fieldplan import FieldPlan
from engine.mapping import StateMapping, TypeMapping
from engine.model import IssueType, Status, Transition
from engine.planning import PlannedItem

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
ITEMS_INLINE = (1, 2)  # versions that hold the items inside the plan


class PlanVersionError(RunAborted):
    """The saved plan is of a version this engine cannot read."""


def _pick(raw: Mapping[str, Any], new: str, old: str, default: Any) -> Any:
    """A v2 key, else its v1 spelling, else ``default``."""
    if new in raw:
        return raw[new]
    return raw.get(old, default)


@dataclass
class ProjectInfo:
    """The Jira project the run writes to."""

    id: str = ""
    key: str = ""
    name: str = ""
    style: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ProjectInfo:
        return cls(**{k: str(raw.get(k) or "") for k in ("id", "key", "name", "style")})


@dataclass
class ComponentPlan:
    """Area paths → components (see the package guide, Components)."""

    mode: str = "label"  # "component" or "label"
    by_path: dict[str, str] = field(default_factory=dict)  # area path → component id
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    would_create: list[str] = field(default_factory=list)
    not_created: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ComponentPlan:
        raw = raw or {}
        return cls(
            mode=str(raw.get("mode") or "label"),
            by_path={str(k): str(v) for k, v in _pick(raw, "by_path", "byPath", {}).items()},
            created=list(raw.get("created") or []),
            existing=list(raw.get("existing") or []),
            would_create=list(_pick(raw, "would_create", "wouldCreate", [])),
            not_created=list(_pick(raw, "not_created", "notCreated", [])),
            reason=str(raw.get("reason") or ""),
        )

    def note(self, bucket: list[str], name: str) -> None:
        if name not in bucket:
            bucket.append(name)


@dataclass
class SprintEntry:
    """One iteration's sprint on the board."""

    name: str
    start: str | None
    finish: str | None
    id: int = 0
    state: str = "future"  # future | active | closed
    created: bool = False  # by this migration

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SprintEntry:
        return cls(
            name=str(raw.get("name") or ""),
            start=raw.get("start"),
            finish=raw.get("finish"),
            id=int(raw.get("id") or 0),
            state=str(raw.get("state") or "future"),
            created=bool(raw.get("created")),
        )


@dataclass
class SprintPlan:
    """Iteration paths → sprints (see the package guide, Sprints)."""

    mode: str = "label"  # "sprint" or "label"
    board_id: int | None = None
    by_path: dict[str, SprintEntry] = field(default_factory=dict)
    would_create: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SprintPlan:
        raw = raw or {}
        board = _pick(raw, "board_id", "boardId", None)
        return cls(
            mode=str(raw.get("mode") or "label"),
            board_id=int(board) if board is not None else None,
            by_path={
                str(p): SprintEntry.from_dict(e)
                for p, e in _pick(raw, "by_path", "byPath", {}).items()
            },
            would_create=list(_pick(raw, "would_create", "wouldCreate", [])),
            reason=str(raw.get("reason") or ""),
        )

    def usable(self) -> dict[str, int]:
        """Iteration path → sprint id, for the sprints issues may still move into."""
        return {p: e.id for p, e in self.by_path.items() if e.state != "closed"}


@dataclass
class RunPlan:
    """Everything phase 1 decided, and the little the later phases record in it."""

    run_type: str = "FULL"
    dry_run: bool = False
    project: ProjectInfo = field(default_factory=ProjectInfo)
    jira_types: list[IssueType] = field(default_factory=list)
    statuses: dict[str, list[Status]] = field(default_factory=dict)  # type id → statuses
    screens: dict[str, list[str]] = field(default_factory=dict)  # type id → create fields
    story_points_field: str | None = None
    priorities: list[str] = field(default_factory=list)
    link_types: list[str] = field(default_factory=list)
    upload_limit: int | None = None
    account_id: str = ""
    type_mappings: dict[str, TypeMapping] = field(default_factory=dict)
    state_mappings: list[StateMapping] = field(default_factory=list)
    items: list[PlannedItem] = field(default_factory=list)  # in creation order
    identity_emails: dict[str, str] = field(default_factory=dict)  # ADO identity → email
    users: dict[str, str | None] = field(default_factory=dict)  # email → Jira account
    components: ComponentPlan = field(default_factory=ComponentPlan)
    sprints: SprintPlan = field(default_factory=SprintPlan)
    sprint_of: dict[int, int] = field(default_factory=dict)  # ADO id → sprint id
    problems: list[str] = field(default_factory=list)
    phases_done: list[int] = field(default_factory=list)
    live: str | None = None  # token of the process that may have writes in flight
    exactly_once: dict[str, dict[str, int]] = field(default_factory=dict)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    # The field map, its suggestions and the user map's accounts (absent before issue 12).
    fields: FieldPlan = field(default_factory=FieldPlan)
    # What the run learned of Jira's workflows (type id → status → transitions) and each
    # type's initial status, so a resumed run does not ask again (absent before: empty).
    workflows: dict[str, dict[str, list[Transition]]] = field(default_factory=dict)
    initial_status: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups
    def type_name(self, type_id: str) -> str:
        return next((t.name for t in self.jira_types if t.id == type_id), type_id)

    def type_level(self, type_id: str) -> int:
        return next((t.hierarchy_level for t in self.jira_types if t.id == type_id), 0)

    def on_screen(self, type_id: str, field_id: str) -> bool:
        return field_id in self.screens.get(type_id, [])

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "run_type": self.run_type,
            "dry_run": self.dry_run,
            "project": asdict(self.project),
            "jira_types": [asdict(t) for t in self.jira_types],
            "statuses": {k: [asdict(s) for s in v] for k, v in self.statuses.items()},
            "screens": {k: sorted(v) for k, v in self.screens.items()},
            "story_points_field": self.story_points_field,
            "priorities": list(self.priorities),
            "link_types": list(self.link_types),
            "upload_limit": self.upload_limit,
            "account_id": self.account_id,
            "type_mappings": {k: v.to_dict() for k, v in self.type_mappings.items()},
            "state_mappings": [m.to_dict() for m in self.state_mappings],
            "item_count": len(self.items),  # the items are rows: ``item_rows``
            "identity_emails": dict(self.identity_emails),
            "users": dict(self.users),
            "components": self.components.to_dict(),
            "sprints": self.sprints.to_dict(),
            # JSON object keys are strings: the ADO ids are written as such
            "sprint_of": {str(k): v for k, v in self.sprint_of.items()},
            "problems": list(self.problems),
            "phases_done": list(self.phases_done),
            "live": self.live,
            "exactly_once": {k: dict(v) for k, v in self.exactly_once.items()},
            "repairs": [dict(r) for r in self.repairs],
            "fields": self.fields.to_dict(),
            "workflows": {
                t: {s: [asdict(x) for x in xs] for s, xs in by.items()}
                for t, by in self.workflows.items()
            },
            "initial_status": dict(self.initial_status),
        }

    def item_rows(self) -> Iterable[dict[str, Any]]:
        """The per-item decisions as saved (``store.save_plan_items``), in creation order."""
        return (i.to_dict() for i in self.items)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], rows: Iterable[Mapping[str, Any]] = ()) -> RunPlan:
        """A saved plan of version 1, 2 or 3 (its items are ``rows``, as
        ``store.load_plan_items`` gives them); :class:`PlanVersionError` for any other,
        and for a version 3 plan whose rows are not all there."""
        version = raw.get("version")
        if version not in READABLE_VERSIONS:
            raise PlanVersionError(
                f"the saved plan has schema version {version!r}; this engine reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}: start a new run instead of resuming"
            )
        return cls(
            run_type=str(raw.get("run_type") or "FULL"),
            dry_run=bool(raw.get("dry_run")),
            project=ProjectInfo.from_dict(raw.get("project") or {}),
            jira_types=[IssueType(**t) for t in raw.get("jira_types") or []],
            statuses={
                str(k): [Status(**s) for s in v] for k, v in (raw.get("statuses") or {}).items()
            },
            screens={str(k): sorted(v) for k, v in (raw.get("screens") or {}).items()},
            story_points_field=raw.get("story_points_field"),
            priorities=[str(p) for p in raw.get("priorities") or []],
            link_types=[str(t) for t in raw.get("link_types") or []],
            upload_limit=raw.get("upload_limit"),
            account_id=str(raw.get("account_id") or ""),
            type_mappings={
                str(k): TypeMapping.from_dict(v)
                for k, v in (raw.get("type_mappings") or {}).items()
            },
            state_mappings=[StateMapping.from_dict(m) for m in raw.get("state_mappings") or []],
            items=_items(raw, version, rows),
            identity_emails=dict(raw.get("identity_emails") or {}),
            users=dict(raw.get("users") or {}),
            components=ComponentPlan.from_dict(raw.get("components")),
            sprints=SprintPlan.from_dict(raw.get("sprints")),
            sprint_of={int(k): int(v) for k, v in (raw.get("sprint_of") or {}).items()},
            problems=[str(p) for p in raw.get("problems") or []],
            phases_done=[int(n) for n in raw.get("phases_done") or []],
            live=raw.get("live") or None,
            exactly_once=_counts(raw.get("exactly_once")),
            repairs=[dict(r) for r in raw.get("repairs") or []],
            fields=FieldPlan.from_dict(raw.get("fields")),
            workflows=_workflows(raw.get("workflows")),
            initial_status={str(k): str(v) for k, v in (raw.get("initial_status") or {}).items()},
        )


def _items(
    raw: Mapping[str, Any], version: Any, rows: Iterable[Mapping[str, Any]]
) -> list[PlannedItem]:
    source = (raw.get("items") or []) if version in ITEMS_INLINE else rows
    items = [PlannedItem.from_dict(d) for d in source]
    expected = raw.get("item_count")
    if version not in ITEMS_INLINE and expected != len(items):
        raise PlanVersionError(
            f"the saved plan names {expected} items but {len(items)} item rows were found: "
            "start a new run instead of resuming"
        )
    return items


def _workflows(raw: Any) -> dict[str, dict[str, list[Transition]]]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(type_id): {
            str(status): [
                Transition(str(t["id"]), str(t["name"]), Status(**t["to"])) for t in edges
            ]
            for status, edges in by_status.items()
        }
        for type_id, by_status in raw.items()
        if isinstance(by_status, dict)
    }


def _counts(raw: Any) -> dict[str, dict[str, int]]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(what): {str(k): int(n) for k, n in kinds.items()}
        for what, kinds in raw.items()
        if isinstance(kinds, dict)
    }
