"""A deterministic, lazily rendered Azure DevOps Boards project (Agile process).

``generate(items, seed)`` plans the whole project at once into compact arrays
(type, parent, area, iteration, state, dates): about a second and a few MB at
100,000 items. Everything bulky (fields, HTML, comments, attachment bytes) is
rendered on demand from a per-item random generator, so the same seed always
gives the same data and nothing large sits in memory.

Attachment and inline-image GUIDs encode their owner (item id, index) so that
``attachment(guid)`` needs no lookup table, and attachment bytes are produced
chunk by chunk (the oversized file is never held in memory).
"""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from sandbox.people import Person

CHUNK = 64 * 1024
BIG_FILE_SIZE = 11 * 1024 * 1024  # above Jira's default 10 MiB upload limit
EPOCH = datetime(2023, 1, 2, 9, 0, tzinfo=UTC)
DATASET_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # generated dates stay before this


# --------------------------------------------------------------------------- process
@dataclass(frozen=True)
class StateDef:
    name: str
    category: str  # Proposed | InProgress | Resolved | Completed | Removed
    color: str


@dataclass(frozen=True)
class TypeDef:
    name: str
    reference_name: str
    color: str
    icon: str
    states: tuple[StateDef, ...]
    description: str = ""


_NEW = StateDef("New", "Proposed", "b2b2b2")
_ACTIVE = StateDef("Active", "InProgress", "007acc")
_RESOLVED = StateDef("Resolved", "Resolved", "ff9d00")
_CLOSED = StateDef("Closed", "Completed", "339933")
_REMOVED = StateDef("Removed", "Removed", "ffffff")
_BACKLOG_STATES = (_NEW, _ACTIVE, _RESOLVED, _CLOSED, _REMOVED)

TYPES: tuple[TypeDef, ...] = (
    TypeDef(
        "Epic",
        "Microsoft.VSTS.WorkItemTypes.Epic",
        "FF7B00",
        "icon_crown",
        _BACKLOG_STATES,
        "Epics help teams effectively manage and groom their product backlog",
    ),
    TypeDef(
        "Feature",
        "Microsoft.VSTS.WorkItemTypes.Feature",
        "773B93",
        "icon_trophy",
        _BACKLOG_STATES,
        "Tracks a feature that will be released with the product",
    ),
    TypeDef(
        "User Story",
        "Microsoft.VSTS.WorkItemTypes.UserStory",
        "009CCC",
        "icon_book",
        _BACKLOG_STATES,
        "Tracks an activity the user will be able to perform with the product",
    ),
    TypeDef(
        "Task",
        "Microsoft.VSTS.WorkItemTypes.Task",
        "F2CB1D",
        "icon_clipboard",
        (_NEW, _ACTIVE, _CLOSED, _REMOVED),
        "Tracks work that needs to be done.",
    ),
    # Agile bugs have no Removed state: a real quirk a state mapping must cope with.
    TypeDef(
        "Bug",
        "Microsoft.VSTS.WorkItemTypes.Bug",
        "CC293D",
        "icon_insect",
        (_NEW, _ACTIVE, _RESOLVED, _CLOSED),
        "Describes a divergence between required and actual behavior",
    ),
    TypeDef(
        "Issue",
        "Microsoft.VSTS.WorkItemTypes.Issue",
        "B4009E",
        "icon_traffic_cone",
        (_ACTIVE, _CLOSED),
        "Tracks an obstacle to progress.",
    ),
    # A custom type with a custom state, as inherited processes allow.
    TypeDef(
        "Risk",
        "Custom.Risk",
        "E60017",
        "icon_asterisk",
        (_NEW, _ACTIVE, StateDef("Mitigated", "Resolved", "5688E0"), _CLOSED, _REMOVED),
        "A project risk (custom type of the inherited process)",
    ),
)
TYPE_INDEX = {t.name: i for i, t in enumerate(TYPES)}
EPIC, FEATURE, STORY, TASK, BUG, ISSUE, RISK = range(7)

REASONS = {
    "New": "New",
    "Active": "Implementation started",
    "Resolved": "Code complete and unit tests pass",
    "Closed": "Acceptance tests pass",
    "Removed": "Removed from the backlog",
    "Mitigated": "Mitigated",
}

# (rel forward, rel reverse); Related is its own reverse.
LINK_TYPES: tuple[tuple[str, str], ...] = (
    ("System.LinkTypes.Related", "System.LinkTypes.Related"),
    ("System.LinkTypes.Dependency-Forward", "System.LinkTypes.Dependency-Reverse"),
    ("System.LinkTypes.Duplicate-Forward", "System.LinkTypes.Duplicate-Reverse"),
    ("Microsoft.VSTS.Common.TestedBy-Forward", "Microsoft.VSTS.Common.TestedBy-Reverse"),
)
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"


# --------------------------------------------------------------------------- people
_FIRST = [
    "Jamal",
    "Johnnie",
    "Christie",
    "Helena",
    "Raisa",
    "Chuck",
    "Mateo",
    "Ingrid",
    "Priya",
    "Zoë",
    "Tomás",
    "Aiko",
]
_LAST = [
    "Hartnett",
    "McLeod",
    "Church",
    "Petersen",
    "Pokrovskaya",
    "Reed",
    "García",
    "Nyström",
    "Raman",
    "Lefèvre",
    "Ó Briain",
    "Tanaka",
]


def make_people(seed: int) -> tuple[Person, ...]:
    """Twelve people; two have no Jira account and two hide their e-mail in Jira."""
    out = []
    for i, (first, last) in enumerate(zip(_FIRST, _LAST, strict=True)):
        slug = f"{first}.{last}".lower().replace(" ", "").replace("ë", "e").replace("á", "a")
        slug = slug.replace("è", "e").replace("ö", "o").replace("ó", "o")
        out.append(
            Person(
                f"{first} {last}",
                f"{slug}@fabrikam.example",
                in_jira=i not in (9, 10),
                email_hidden=i in (3, 7),
            )
        )
    random.Random(seed).shuffle(out)
    return tuple(out)


def identity_ref(person: Person, base_url: str, org: str) -> dict[str, Any]:
    """An IdentityRef as ADO renders it inside fields and comments."""
    pid = person.ado_id
    descriptor = "aad." + hashlib.sha256(pid.encode()).hexdigest()[:40]
    return {
        "displayName": person.display_name,
        "url": f"{base_url}/{org}/_apis/Identities/{pid}",
        "_links": {
            "avatar": {"href": f"{base_url}/{org}/_apis/GraphProfile/MemberAvatars/{descriptor}"}
        },
        "id": pid,
        "uniqueName": person.email,
        "imageUrl": f"{base_url}/{org}/_api/_common/identityImage?id={pid}",
        "descriptor": descriptor,
    }


def mention_html(person: Person) -> str:
    """An @mention exactly as the ADO rich-text editor stores it."""
    return (
        f'<a href="#" data-vss-mention="version:2.0,{person.ado_id}">'
        f"@{escape(person.display_name)}</a>"
    )


# --------------------------------------------------------------------------- classification
@dataclass(frozen=True)
class Node:
    id: int
    identifier: str
    name: str
    path: str  # "Project\\Web\\Checkout" (no structure segment), as in System.AreaPath
    structure: str  # area | iteration
    parent: int | None
    start: str | None = None
    finish: str | None = None


def _areas(project: str) -> list[tuple[str, int | None]]:
    return [
        (project, None),
        ("Web", 0),
        ("Checkout", 1),
        ("Search", 1),
        ("Mobile", 0),
        ("iOS", 4),
        ("Android", 4),
        ("Platform", 0),
        ("Data & Analytics", 7),
    ]


def _build_nodes(
    project: str,
    structure: str,
    spec: list[tuple[str, int | None]],
    first_id: int,
    dates: dict[int, tuple[str, str]],
) -> list[Node]:
    nodes: list[Node] = []
    for i, (name, parent) in enumerate(spec):
        path = name if parent is None else nodes[parent].path + "\\" + name
        start, finish = dates.get(i, (None, None))
        ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project}/{structure}/{path}"))
        nodes.append(
            Node(
                first_id + i,
                ident,
                name,
                path,
                structure,
                None if parent is None else first_id + parent,
                start,
                finish,
            )
        )
    return nodes


def _iterations(project: str) -> tuple[list[tuple[str, int | None]], dict[int, tuple[str, str]]]:
    spec: list[tuple[str, int | None]] = [(project, None)]
    dates: dict[int, tuple[str, str]] = {}
    sprint = 0
    for release in range(1, 4):
        spec.append((f"Release {release}", 0))
        rel_idx = len(spec) - 1
        rel_start = EPOCH + timedelta(weeks=40 * (release - 1))
        dates[rel_idx] = (_iso(rel_start), _iso(rel_start + timedelta(weeks=40, days=-3)))
        for _ in range(4):
            sprint += 1
            spec.append((f"Sprint {sprint}", rel_idx))
            start = EPOCH + timedelta(weeks=10 * (sprint - 1))
            dates[len(spec) - 1] = (_iso(start), _iso(start + timedelta(weeks=10, days=-3)))
    return spec, dates


def _iso(moment: datetime) -> str:
    """ADO's timestamp form: UTC, milliseconds only when non-zero, trailing Z."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}".rstrip("0")
    return text + "Z"


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class AttachmentInfo:
    guid: str
    name: str
    size: int
    item_id: int
    created: str
    comment: str = ""
    inline: bool = False  # an image pasted into rich text, not in the attachments tab
    kind: int = 0
    index: int = 0


@dataclass(frozen=True)
class CommentRecord:
    id: int
    work_item_id: int
    text: str
    author: Person
    created: str
    modified: str
    version: int = 1
    is_deleted: bool = False
    format: str = "html"
    mentions: tuple[Person, ...] = ()


@dataclass
class ItemRecord:
    """One work item as the dataset defines it (the server adds rev history on top)."""

    id: int
    type: str
    fields: dict[str, Any]
    links: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # rel, target, attrs
    hyperlinks: list[tuple[str, str]] = field(default_factory=list)  # url, comment
    attachments: list[AttachmentInfo] = field(default_factory=list)


# Attachment kinds encoded in the GUID.
_KIND_FILE, _KIND_INLINE = 1, 2
_FILE_NAMES = [
    "spec.pdf",
    "screenshot.png",
    "server.log",
    "data.csv",
    "design.docx",
    "notes.txt",
    "trace.har",
    "mockup.fig",
    "Résumé des tests.xlsx",
]
_WORDS = [
    "checkout",
    "payment",
    "search",
    "login",
    "profile",
    "cart",
    "invoice",
    "export",
    "report",
    "sync",
    "offline",
    "cache",
    "token",
    "session",
    "catalog",
    "filter",
    "banner",
    "onboarding",
    "audit",
    "webhook",
    "retry",
    "quota",
    "billing",
    "dashboard",
    "latency",
    "index",
    "migration",
    "locale",
    "upload",
    "avatar",
    "receipt",
    "refund",
]
_VERBS = [
    "Add",
    "Fix",
    "Improve",
    "Support",
    "Refactor",
    "Investigate",
    "Remove",
    "Validate",
    "Document",
    "Speed up",
]
_TAGS = [
    "backend",
    "frontend",
    "ux",
    "tech debt",
    "security",
    "performance",
    "customer",
    "a11y",
    "release-blocker",
]


class Dataset:
    """A whole ADO project. Cheap arrays hold the plan; everything else renders lazily."""

    def __init__(
        self, items: int, seed: int, org: str = "fabrikam", project: str = "Fabrikam Fiber"
    ) -> None:
        if not 1 <= items <= 1_000_000:
            raise ValueError("items must be between 1 and 1,000,000")
        self.count, self.seed, self.org, self.project = items, seed, org, project
        self.project_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ado:{org}/{project}/{seed}"))
        self.people = make_people(seed)
        self.areas = _build_nodes(project, "area", _areas(project), 100, {})
        spec, dates = _iterations(project)
        self.iterations = _build_nodes(project, "iteration", spec, 200, dates)
        self._guid_prefix = int(hashlib.sha256(f"att:{seed}:{org}".encode()).hexdigest()[:12], 16)
        self._checksums: dict[str, str] = {}
        self._plan()
        self.roles = self._pick_roles()
        self._plan_links()

    # ------------------------------------------------------------------ planning
    def _plan(self) -> None:
        """Ids in creation order: each Epic, then its Features, Stories, Tasks and Bugs."""
        n, rng = self.count, random.Random(self.seed)
        self.type_of = bytearray(n + 1)
        self.parent_of = array("i", bytes(4 * (n + 1)))
        self.area_of = bytearray(n + 1)
        self.iteration_of = bytearray(n + 1)
        self.state_of = bytearray(n + 1)
        self.created_min = array("i", bytes(4 * (n + 1)))  # minutes after EPOCH
        self.changed_min = array("i", bytes(4 * (n + 1)))
        self._children: dict[int, list[int]] = {}
        span = int((DATASET_NOW - EPOCH).total_seconds() // 60) - 60 * 24 * 30
        state = {"next": 1}

        def emit(kind: int, parent: int, area: int) -> int:
            ident = state["next"]
            if ident > n:
                return 0
            state["next"] = ident + 1
            self.type_of[ident], self.parent_of[ident], self.area_of[ident] = kind, parent, area
            if parent:
                self._children.setdefault(parent, []).append(ident)
            created = span * (ident - 1) // max(n, 1) + rng.randrange(60)
            self.created_min[ident] = created
            # At least an hour between creation and last change leaves room for comments.
            self.changed_min[ident] = created + 60 + rng.randrange(60 * 24 * 20)
            sprint = min(12, 1 + created * 12 // span)
            backlog = rng.random() < 0.05  # some items never got scheduled
            self.iteration_of[ident] = 0 if backlog else sprint + (sprint - 1) // 4 + 1
            self.state_of[ident] = self._pick_state(kind, rng)
            return ident

        while state["next"] <= n:
            self._plan_epic(rng, emit)

    def _plan_epic(self, rng: random.Random, emit: Any) -> None:
        area = rng.choice((1, 2, 3, 4, 5, 6, 7, 8))
        epic = emit(EPIC, 0, area)
        for _ in range(rng.randint(2, 4)):
            # One child in ten lives in another area: an area filter cuts such links.
            f_area = area if rng.random() > 0.1 else rng.randrange(1, 9)
            feature = emit(FEATURE, epic, f_area)
            for _ in range(rng.randint(2, 5)):
                backlog_bug = rng.random() < 0.15  # a bug tracked at backlog level
                story = emit(BUG if backlog_bug else STORY, feature, f_area)
                for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                    bug = not backlog_bug and rng.random() < 0.2
                    emit(BUG if bug else TASK, story, f_area)
            if rng.random() < 0.3:
                emit(ISSUE, 0, f_area)
        if rng.random() < 0.5:
            emit(RISK, epic if rng.random() < 0.5 else 0, area)

    @staticmethod
    def _pick_state(kind: int, rng: random.Random) -> int:
        states = TYPES[kind].states
        weights = {
            "New": 30,
            "Active": 30,
            "Resolved": 12,
            "Mitigated": 12,
            "Closed": 24,
            "Removed": 4,
        }
        return rng.choices(range(len(states)), [weights[s.name] for s in states])[0]

    def _first_of(self, kind: int, after: int = 0) -> int:
        for ident in range(after + 1, self.count + 1):
            if self.type_of[ident] == kind:
                return ident
        return 0

    def _pick_roles(self) -> dict[str, int]:
        """Items that carry the edge cases every dataset must contain (ids are stable per seed)."""
        story = self._first_of(STORY)
        roles = {
            "epic": self._first_of(EPIC),
            "feature": self._first_of(FEATURE),
            "story": story,
            "task": self._first_of(TASK),
            "bug": self._first_of(BUG),
            "issue": self._first_of(ISSUE),
            "risk": self._first_of(RISK),
            "story2": self._first_of(STORY, story),
        }
        roles = {k: v for k, v in roles.items() if v}
        # Forced states so that small datasets still hold Removed and Resolved items.
        if "task" in roles:
            self.state_of[roles["task"]] = _index_of(TASK, "Removed")
        if "story2" in roles:
            self.state_of[roles["story2"]] = _index_of(STORY, "Resolved")
        if "bug" in roles:
            self.state_of[roles["bug"]] = _index_of(BUG, "Active")
        return roles

    def _plan_links(self) -> None:
        """Non-hierarchy work item links, stored on both ends."""
        rng = random.Random(self.seed + 7)
        self._links: dict[int, list[tuple[int, int]]] = {}  # id -> [(rel code, target)]
        for ident in range(2, self.count + 1):
            if rng.random() < 0.08:
                self._add_link(rng.randrange(len(LINK_TYPES)), ident, rng.randrange(1, ident))
        self._force_links()

    def _force_links(self) -> None:
        """One link of each kind among the role items, one of them across areas."""
        r = self.roles
        wanted = [
            (0, "story", "bug"),
            (1, "feature", "story2"),
            (2, "bug", "story"),
            (3, "story", "task"),
            (0, "epic", "issue"),
        ]
        for code, a, b in wanted:
            if a in r and b in r and (code, r[b]) not in self._links.get(r[a], []):
                self._add_link(code, r[a], r[b])
        far = self._item_in_other_top_area(r.get("story", 0))
        if far:
            self._add_link(0, r["story"], far)

    def _item_in_other_top_area(self, ident: int) -> int:
        if not ident:
            return 0
        top = self._top_area(self.area_of[ident])
        for other in range(self.count, 0, -1):
            if self._top_area(self.area_of[other]) != top and other != ident:
                return other
        return 0

    def _top_area(self, idx: int) -> int:
        node = self.areas[idx]
        while node.parent is not None and node.parent != self.areas[0].id:
            node = self.areas[node.parent - self.areas[0].id]
        return node.id

    def _add_link(self, code: int, source: int, target: int) -> None:
        if source == target:
            return
        self._links.setdefault(source, []).append((code * 2, target))
        self._links.setdefault(target, []).append((code * 2 + 1, source))

    # ------------------------------------------------------------------ cheap accessors
    def ids(self) -> range:
        return range(1, self.count + 1)

    def type_name(self, ident: int) -> str:
        return TYPES[self.type_of[ident]].name

    def state_name(self, ident: int) -> str:
        return TYPES[self.type_of[ident]].states[self.state_of[ident]].name

    def area_path(self, ident: int) -> str:
        return self.areas[self.area_of[ident]].path

    def iteration_path(self, ident: int) -> str:
        return self.iterations[self.iteration_of[ident]].path

    def created_date(self, ident: int) -> str:
        return _iso(EPOCH + timedelta(minutes=self.created_min[ident], milliseconds=ident % 997))

    def changed_date(self, ident: int) -> str:
        return _iso(EPOCH + timedelta(minutes=self.changed_min[ident], milliseconds=ident % 991))

    def parent(self, ident: int) -> int:
        return int(self.parent_of[ident])

    def children(self, ident: int) -> list[int]:
        return list(self._children.get(ident, ()))

    def links(self, ident: int) -> list[tuple[str, int]]:
        return [
            (LINK_TYPES[code // 2][code % 2], target) for code, target in self._links.get(ident, ())
        ]

    # ------------------------------------------------------------------ rendering
    def _rng(self, ident: int, salt: int = 0) -> random.Random:
        return random.Random(self.seed * 1_000_003 + ident * 31 + salt)

    def item(self, ident: int, base_url: str = "https://dev.azure.com") -> ItemRecord:
        """The full work item (fields, links, attachments); HTML URLs point at ``base_url``."""
        if not 1 <= ident <= self.count:
            raise KeyError(ident)
        rng = self._rng(ident)
        kind = self.type_of[ident]
        fields = self._system_fields(ident, rng, base_url)
        fields.update(self._type_fields(ident, kind, rng, base_url))
        rec = ItemRecord(
            ident, TYPES[kind].name, {k: v for k, v in fields.items() if v is not None}
        )
        parent = self.parent(ident)
        if parent:
            rec.links.append((HIERARCHY_REVERSE, parent, {"isLocked": False, "name": "Parent"}))
        for child in self.children(ident):
            rec.links.append((HIERARCHY_FORWARD, child, {"isLocked": False, "name": "Child"}))
        for rel, target in self.links(ident):
            rec.links.append((rel, target, {"isLocked": False, "name": _LINK_NAMES[rel]}))
        if rng.random() < 0.1 or ident == self.roles.get("story"):
            rec.hyperlinks.append((f"https://wiki.fabrikam.example/{_slug(rng)}", "Design notes"))
        rec.attachments = self.attachments_of(ident)
        return rec

    def _system_fields(self, ident: int, rng: random.Random, base_url: str) -> dict[str, Any]:
        author = rng.choice(self.people)
        changer = rng.choice(self.people)
        area, iteration = self.areas[self.area_of[ident]], self.iterations[self.iteration_of[ident]]
        state = self.state_name(ident)
        assigned = rng.choice(self.people) if rng.random() < 0.8 else None
        rev = (
            1
            + (self.changed_min[ident] - self.created_min[ident]) // (60 * 24 * 4)
            + (state != "New")
        )
        fields: dict[str, Any] = {
            "System.Id": ident,
            "System.AreaId": area.id,
            "System.AreaPath": area.path,
            "System.TeamProject": self.project,
            "System.NodeName": area.name,
            "System.Rev": rev,
            "System.AuthorizedDate": self.changed_date(ident),
            "System.RevisedDate": "9999-01-01T00:00:00Z",
            "System.IterationId": iteration.id,
            "System.IterationPath": iteration.path,
            "System.WorkItemType": self.type_name(ident),
            "System.State": state,
            "System.Reason": REASONS[state],
            "System.AssignedTo": identity_ref(assigned, base_url, self.org) if assigned else None,
            "System.CreatedDate": self.created_date(ident),
            "System.CreatedBy": identity_ref(author, base_url, self.org),
            "System.ChangedDate": self.changed_date(ident),
            "System.ChangedBy": identity_ref(changer, base_url, self.org),
            "System.CommentCount": sum(1 for c in self.comments_for(ident) if not c.is_deleted),
            "System.Title": self._title(ident, rng),
            "System.Tags": "; ".join(sorted(rng.sample(_TAGS, rng.randint(1, 3))))
            if rng.random() < 0.4
            else None,
            "System.Parent": self.parent(ident) or None,
            "Microsoft.VSTS.Common.StateChangeDate": self.changed_date(ident),
            "Microsoft.VSTS.Common.Priority": rng.randint(1, 4),
        }
        fields.update(_levels("System.AreaLevel", area.path))
        fields.update(_levels("System.IterationLevel", iteration.path))
        if state in ("Resolved", "Closed", "Mitigated"):
            fields["Microsoft.VSTS.Common.ResolvedDate"] = self.changed_date(ident)
            fields["Microsoft.VSTS.Common.ResolvedBy"] = identity_ref(changer, base_url, self.org)
        if state == "Closed":
            fields["Microsoft.VSTS.Common.ClosedDate"] = self.changed_date(ident)
            fields["Microsoft.VSTS.Common.ClosedBy"] = identity_ref(changer, base_url, self.org)
        return fields

    def _title(self, ident: int, rng: random.Random) -> str:
        words = rng.sample(_WORDS, 2)
        title = f"{rng.choice(_VERBS)} {words[0]} {words[1]}"
        if ident == self.roles.get("epic"):
            title += ' — Q3 <platform> & "sync" 🚀'  # characters a converter must keep
        return title

    def _type_fields(self, ident: int, kind: int, rng: random.Random, base: str) -> dict[str, Any]:
        desc = self.description_html(ident, base)
        if kind == BUG:
            return {
                "Microsoft.VSTS.TCM.ReproSteps": desc,
                "Microsoft.VSTS.TCM.SystemInfo": "<div>Browser: Edge 126<br>OS: Windows 11 "
                f"23H2<br>Build: <code>2025.5.{ident % 97}</code></div>",
                "Microsoft.VSTS.Common.Severity": rng.choice(
                    ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"]
                ),
                "Microsoft.VSTS.Scheduling.StoryPoints": rng.choice([1.0, 2.0, 3.0, None]),
            }
        out: dict[str, Any] = {"System.Description": desc}
        if kind in (EPIC, FEATURE, STORY):
            out["Microsoft.VSTS.Common.ValueArea"] = rng.choice(["Business", "Architectural"])
            out["Microsoft.VSTS.Common.AcceptanceCriteria"] = self._acceptance(ident, rng)
        if kind in (EPIC, FEATURE):
            out["Microsoft.VSTS.Scheduling.Effort"] = float(rng.choice([5, 8, 13, 20, 40]))
            out["Microsoft.VSTS.Scheduling.TargetDate"] = _iso(
                EPOCH + timedelta(days=120 + ident % 500)
            )
        elif kind == STORY:
            out["Microsoft.VSTS.Scheduling.StoryPoints"] = rng.choice(
                [1.0, 2.0, 3.0, 5.0, 8.0, 13.0]
            )
        elif kind == TASK:
            estimate = float(rng.randint(1, 16))
            out["Microsoft.VSTS.Scheduling.OriginalEstimate"] = estimate
            out["Microsoft.VSTS.Scheduling.RemainingWork"] = float(rng.randint(0, int(estimate)))
            out["Microsoft.VSTS.Scheduling.CompletedWork"] = float(rng.randint(0, 8))
            out["Microsoft.VSTS.Common.Activity"] = rng.choice(["Development", "Testing", "Design"])
        elif kind == ISSUE:
            out["Microsoft.VSTS.Scheduling.DueDate"] = _iso(
                EPOCH + timedelta(days=60 + ident % 700)
            )
        elif kind == RISK:
            out["Custom.Impact"] = rng.choice(["High", "Medium", "Low"])
            out["Custom.MitigationPlan"] = f"<div>Mitigation: <b>{rng.choice(_WORDS)}</b></div>"
        return out

    def _acceptance(self, ident: int, rng: random.Random) -> str:
        items = "".join(
            f"<li>Given {w}, when used, then it works</li>" for w in rng.sample(_WORDS, 3)
        )
        return f"<div><ul>{items}</ul></div>"

    def description_html(self, ident: int, base_url: str = "https://dev.azure.com") -> str:
        """Rich text as the ADO editor stores it; role items carry every construct at once."""
        rng = self._rng(ident, 1)
        showcase = ident in (self.roles.get("story"), self.roles.get("bug"), self.roles.get("epic"))
        parts = [
            f"<div>As a <b>customer</b> I want {escape(rng.choice(_WORDS))} &amp; "
            f"{escape(rng.choice(_WORDS))} so that <i>things</i> work.</div>"
        ]
        if showcase or rng.random() < 0.4:
            parts.append(
                "<ul><li>First point<ul><li>nested <i>detail</i></li><li>second "
                "nested</li></ul></li><li>Last point with <code>inline_code()</code></li></ul>"
            )
        if showcase or rng.random() < 0.15:
            parts.append(
                "<table><tbody><tr><td><b>Field</b></td><td><b>Value</b></td></tr>"
                "<tr><td>limit</td><td>200</td></tr><tr><td>ü &lt;ok&gt;</td><td>✓</td></tr>"
                "</tbody></table>"
            )
        if showcase or rng.random() < 0.15:
            parts.append(
                "<pre><code>def retry(n):\n    for i in range(n):\n        "
                "if call() &lt; 0: continue\n</code></pre>"
            )
        if showcase or rng.random() < 0.2:
            parts.append(
                f'<div>See <a href="https://docs.fabrikam.example/{_slug(rng)}">the docs</a>.</div>'
            )
        if showcase or rng.random() < 0.15:
            parts.append(f"<div>cc {mention_html(rng.choice(self.people))} please review</div>")
        if (showcase or rng.random() < 0.15) and ident > 1:
            parts.append(f"<div>Related to #{rng.randrange(1, ident)} (see also #{ident})</div>")
        for info in self.inline_images(ident):
            url = (
                f"{base_url}/{self.org}/{self.project_id}/_apis/wit/attachments/{info.guid}"
                f"?fileName={info.name}"
            )
            parts.append(f'<div><img src="{url}" alt="Image"><br></div>')
        return "".join(parts)

    # ------------------------------------------------------------------ comments
    def comments_for(self, ident: int) -> list[CommentRecord]:
        """Oldest first. Ids are ``item * 100 + n`` so they never collide across items."""
        rng = self._rng(ident, 2)
        r = self.roles
        roll = rng.random()
        count = (
            0 if roll < 0.55 else 1 + int((roll - 0.55) * 10) if roll < 0.95 else rng.randint(6, 12)
        )
        if ident == r.get("story"):
            count = 7
        elif ident == r.get("epic"):
            count = max(count, 2)  # holds the markdown comment
        # Comments fall between creation and the last change, as adding or editing a
        # comment is itself a change of the work item in ADO.
        start = EPOCH + timedelta(minutes=self.created_min[ident])
        window = (self.changed_min[ident] - self.created_min[ident]) * 60
        out = []
        for n in range(count):
            created = start + timedelta(seconds=window * (n + 1) // (count + 2))
            author = rng.choice(self.people)
            edited = rng.random() < 0.15 or (ident == r.get("story") and n == 1)
            modified = (
                created + timedelta(seconds=window // (count + 2) // 2) if edited else created
            )
            mentions: tuple[Person, ...] = ()
            text = f"<div>{escape(rng.choice(_VERBS))} the {escape(rng.choice(_WORDS))} part.</div>"
            if rng.random() < 0.2 or (ident == r.get("story") and n == 2):
                who = rng.choice(self.people)
                mentions = (who,)
                text = (
                    f"<div>{mention_html(who)} can you take a look at #{max(1, ident - 1)}?</div>"
                )
            fmt = "html"
            if ident == r.get("epic") and n == 0:
                fmt, text = (
                    "markdown",
                    "**Kick-off** done. See [plan](https://wiki.fabrikam.example)",
                )
            out.append(
                CommentRecord(
                    id=ident * 100 + n + 1,
                    work_item_id=ident,
                    text=text,
                    author=author,
                    created=_iso(created),
                    modified=_iso(modified),
                    version=2 if edited else 1,
                    is_deleted=ident == r.get("story") and n == 4,
                    format=fmt,
                    mentions=mentions,
                )
            )
        return out

    # ------------------------------------------------------------------ attachments
    def attachments_of(self, ident: int) -> list[AttachmentInfo]:
        rng = self._rng(ident, 3)
        r = self.roles
        specs: list[tuple[str, int]] = []
        if rng.random() < 0.2:
            for _ in range(rng.choice((1, 1, 2))):
                specs.append((rng.choice(_FILE_NAMES), rng.randint(100, 40_000)))
        if ident == r.get("task"):
            specs.append(("empty.txt", 0))
        if ident == r.get("story"):
            specs += [("screenshot.png", 2_345), ("screenshot.png", 5_432)]  # same name twice
        if ident == r.get("feature"):
            specs.append(("database-dump.bak", BIG_FILE_SIZE))
        created = self.created_date(ident)
        return [
            AttachmentInfo(
                self._guid(_KIND_FILE, ident, i),
                name,
                size,
                ident,
                created,
                "Attached by the reporter" if i == 0 else "",
                False,
                _KIND_FILE,
                i,
            )
            for i, (name, size) in enumerate(specs)
        ]

    def inline_images(self, ident: int) -> list[AttachmentInfo]:
        rng = self._rng(ident, 4)
        showcase = ident in (self.roles.get("story"), self.roles.get("bug"))
        if not (showcase or rng.random() < 0.25):
            return []
        name = "image.png" if rng.random() < 0.5 else f"pasted-{ident}.png"
        guid = self._guid(_KIND_INLINE, ident, 0)
        return [
            AttachmentInfo(
                guid,
                name,
                len(_png(guid)),
                ident,
                self.created_date(ident),
                inline=True,
                kind=_KIND_INLINE,
            )
        ]

    def _guid(self, kind: int, ident: int, index: int) -> str:
        """A version-4-looking UUID whose low bits say which item and slot it belongs to."""
        high = (self._guid_prefix << 16) | (0x4 << 12) | ((ident * 2654435761) & 0xFFF)
        low = (0b10 << 62) | (kind << 56) | (ident << 16) | index
        return str(uuid.UUID(int=(high << 64) | low))

    def attachment_info(self, guid: str) -> AttachmentInfo | None:
        try:
            value = uuid.UUID(guid).int
        except ValueError:
            return None
        high, low = value >> 64, value & ((1 << 64) - 1)
        kind, ident = (low >> 56) & 0x3F, (low >> 16) & 0xFFFFFFFF
        if high >> 16 != self._guid_prefix or not 1 <= ident <= self.count:
            return None
        pool = self.inline_images(ident) if kind == _KIND_INLINE else self.attachments_of(ident)
        return next((a for a in pool if a.guid == str(uuid.UUID(int=value))), None)

    def attachment(self, guid: str) -> tuple[str, int, Iterator[bytes]]:
        """``(name, size, chunks)``; the chunks are generated as they are read."""
        info = self.attachment_info(guid)
        if info is None:
            raise KeyError(guid)
        return info.name, info.size, self._chunks(info)

    def _chunks(self, info: AttachmentInfo) -> Iterator[bytes]:
        if info.kind == _KIND_INLINE:
            yield _png(info.guid)
            return
        for offset in range(0, info.size, CHUNK):
            size = min(CHUNK, info.size - offset)
            gen = random.Random(f"{info.guid}:{offset}")
            if info.name.endswith((".txt", ".log", ".csv")):
                line = f"{info.name} line {offset} {gen.choice(_WORDS)}\n".encode()
                yield (line * (size // len(line) + 1))[:size]
            else:
                yield gen.randbytes(size)

    def checksum(self, guid: str) -> str:
        """sha256 hex of an attachment's bytes (computed by streaming, then cached)."""
        if guid not in self._checksums:
            digest = hashlib.sha256()
            for chunk in self.attachment(guid)[2]:
                digest.update(chunk)
            self._checksums[guid] = digest.hexdigest()
        return self._checksums[guid]


_LINK_NAMES = {
    "System.LinkTypes.Related": "Related",
    "System.LinkTypes.Dependency-Forward": "Successor",
    "System.LinkTypes.Dependency-Reverse": "Predecessor",
    "System.LinkTypes.Duplicate-Forward": "Duplicate",
    "System.LinkTypes.Duplicate-Reverse": "Duplicate Of",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Tested By",
    "Microsoft.VSTS.Common.TestedBy-Reverse": "Tests",
}


def _index_of(kind: int, state: str) -> int:
    return [s.name for s in TYPES[kind].states].index(state)


def _levels(prefix: str, path: str) -> dict[str, str]:
    return {f"{prefix}{i}": part for i, part in enumerate(path.split("\\"), start=1)}


def _slug(rng: random.Random) -> str:
    return "-".join(rng.sample(_WORDS, 2))


def _png(guid: str) -> bytes:
    """A real 8x8 single-colour PNG, its colour taken from the GUID."""
    r, g, b = bytes.fromhex(guid.replace("-", "")[-6:])
    raw = b"".join(b"\x00" + bytes((r, g, b)) * 8 for _ in range(8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def generate(
    items: int = 60, seed: int = 1, org: str = "fabrikam", project: str = "Fabrikam Fiber"
) -> Dataset:
    """A project of ``items`` work items (20 or more holds every edge case)."""
    return Dataset(items, seed, org, project)


def iso(moment: datetime) -> str:
    """Public form of the ADO timestamp formatter (the server stamps edits with it)."""
    return _iso(moment)
