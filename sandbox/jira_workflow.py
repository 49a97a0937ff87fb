"""The simulated Jira site's configuration: issue types, statuses, workflows,
priorities, link types and the fields on each issue type's create screen.

Modelled on a company-managed ("classic") Jira Software project with default
schemes. The workflows deliberately contain statuses that are reachable only
through others (Story "Done" only from "In Review"), so a migrator has to walk
transitions instead of jumping to the target status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.jira_custom import CUSTOM_FIELDS, SCREEN, STORY_ONLY

NEW, INDETERMINATE, DONE = "new", "indeterminate", "done"

# Jira's fixed status categories (ids and colours as Jira Cloud ships them).
STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    NEW: {"id": 2, "key": NEW, "colorName": "blue-gray", "name": "To Do"},
    INDETERMINATE: {"id": 4, "key": INDETERMINATE, "colorName": "yellow", "name": "In Progress"},
    DONE: {"id": 3, "key": DONE, "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str  # status id
    sources: tuple[str, ...]  # status ids the transition starts from


@dataclass(frozen=True)
class Workflow:
    name: str
    initial: str
    transitions: tuple[Transition, ...]

    def statuses(self) -> list[str]:
        seen = [self.initial]
        for t in self.transitions:
            for sid in (*t.sources, t.to):
                if sid not in seen:
                    seen.append(sid)
        return seen

    def available(self, status_id: str) -> list[Transition]:
        return [t for t in self.transitions if status_id in t.sources]


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    level: int  # hierarchy level: 1 epic, 0 standard, -1 sub-task
    description: str
    workflow: Workflow
    screen: tuple[str, ...]  # field ids on the create/edit screen

    @property
    def subtask(self) -> bool:
        return self.level < 0


STATUSES: dict[str, Status] = {
    s.id: s
    for s in (
        Status("10000", "To Do", NEW),
        Status("3", "In Progress", INDETERMINATE),
        Status("10001", "In Review", INDETERMINATE),
        Status("10002", "Done", DONE),
        Status("10003", "Won't Do", DONE),
        Status("1", "Open", NEW),
        Status("5", "Resolved", DONE),
        Status("6", "Closed", DONE),
    )
}

STORY_WORKFLOW = Workflow(
    "Story workflow",
    "10000",
    (
        Transition("21", "Start progress", "3", ("10000",)),
        Transition("51", "Won't do", "10003", ("10000",)),
        Transition("11", "Stop progress", "10000", ("3",)),
        Transition("31", "Submit for review", "10001", ("3",)),
        Transition("41", "Done", "10002", ("10001",)),
        Transition("61", "Back to progress", "3", ("10001",)),
        Transition("71", "Reopen", "10000", ("10002", "10003")),
    ),
)

SIMPLE_WORKFLOW = Workflow(
    "Simple workflow",
    "10000",
    (
        Transition("21", "Start progress", "3", ("10000",)),
        Transition("11", "Stop progress", "10000", ("3",)),
        Transition("31", "Done", "10002", ("3",)),
        Transition("41", "Reopen", "10000", ("10002",)),
    ),
)

BUG_WORKFLOW = Workflow(
    "Bug workflow",
    "1",
    (
        Transition("4", "Start progress", "3", ("1",)),
        Transition("301", "Stop progress", "1", ("3",)),
        Transition("5", "Resolve", "5", ("3",)),
        Transition("701", "Close", "6", ("5",)),
        Transition("3", "Reopen", "1", ("5", "6")),
    ),
)

_COMMON = (
    "summary",
    "issuetype",
    "project",
    "description",
    "priority",
    "labels",
    "components",
    "assignee",
    "reporter",
    *SCREEN,  # custom fields and due date (sandbox.jira_custom)
)

ISSUE_TYPES: dict[str, IssueType] = {
    t.id: t
    for t in (
        IssueType(
            "10000",
            "Epic",
            1,
            "A big user story that needs to be broken down.",
            SIMPLE_WORKFLOW,
            (*_COMMON, "fixVersions"),
        ),
        IssueType(
            "10001",
            "Story",
            0,
            "Functionality or a feature expressed as a user goal.",
            STORY_WORKFLOW,
            (
                *_COMMON,
                "parent",
                "fixVersions",
                "customfield_10016",
                "customfield_10020",
                *STORY_ONLY,
            ),
        ),
        IssueType(
            "10002",
            "Task",
            0,
            "A small, distinct piece of work.",
            SIMPLE_WORKFLOW,
            (*_COMMON, "parent", "fixVersions", "customfield_10020"),
        ),
        IssueType(
            "10003",
            "Bug",
            0,
            "A problem or error.",
            BUG_WORKFLOW,
            (*_COMMON, "parent", "environment", "fixVersions", "customfield_10020"),
        ),
        IssueType(
            "10004",
            "Sub-task",
            -1,
            "A small piece of work that's part of a larger task.",
            SIMPLE_WORKFLOW,
            (*_COMMON, "parent"),
        ),
    )
}

PRIORITIES: dict[str, dict[str, str]] = {
    pid: {"id": pid, "name": name, "statusColor": color, "description": f"{name} priority."}
    for pid, name, color in (
        ("1", "Highest", "#d04437"),
        ("2", "High", "#f15C75"),
        ("3", "Medium", "#f79232"),
        ("4", "Low", "#707070"),
        ("5", "Lowest", "#999999"),
    )
}
DEFAULT_PRIORITY = "3"

# Jira Cloud's default link types, plus "Tests" that many sites add.
LINK_TYPES: dict[str, dict[str, str]] = {
    lid: {"id": lid, "name": name, "inward": inward, "outward": outward}
    for lid, name, inward, outward in (
        ("10000", "Blocks", "is blocked by", "blocks"),
        ("10001", "Cloners", "is cloned by", "clones"),
        ("10002", "Duplicate", "is duplicated by", "duplicates"),
        ("10003", "Relates", "relates to", "relates to"),
        ("10004", "Tests", "is tested by", "tests"),
        ("10005", "Implements", "is implemented by", "implements"),
    )
}

VERSIONS: dict[str, dict[str, Any]] = {
    vid: {"id": vid, "name": name, "archived": False, "released": released}
    for vid, name, released in (("10000", "1.0", True), ("10001", "2.0", False))
}

STORY_POINTS = "customfield_10016"
SPRINT = "customfield_10020"


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema: dict[str, Any]
    operations: tuple[str, ...] = ("set",)
    custom: bool = False
    navigable: bool = True
    clause_names: tuple[str, ...] = field(default=())


def _sys(
    fid: str,
    name: str,
    type_: str,
    items: str | None = None,
    ops: tuple[str, ...] = ("set",),
    clauses: tuple[str, ...] = (),
) -> FieldDef:
    schema: dict[str, Any] = {"type": type_, "system": fid}
    if items:
        schema["items"] = items
    return FieldDef(fid, name, schema, ops, False, True, clauses or (fid,))


FIELDS: dict[str, FieldDef] = {
    f.id: f
    for f in (
        _sys("summary", "Summary", "string", clauses=("summary",)),
        _sys("issuetype", "Issue Type", "issuetype", clauses=("issuetype", "type")),
        _sys("project", "Project", "project"),
        _sys("description", "Description", "string"),
        _sys("environment", "Environment", "string"),
        _sys("priority", "Priority", "priority"),
        _sys("labels", "Labels", "array", "string", ("add", "set", "remove"), ("labels",)),
        _sys(
            "components",
            "Components",
            "array",
            "component",
            ("add", "set", "remove"),
            ("component",),
        ),
        _sys(
            "fixVersions",
            "Fix versions",
            "array",
            "version",
            ("set", "add", "remove"),
            ("fixVersion",),
        ),
        _sys("assignee", "Assignee", "user"),
        _sys("reporter", "Reporter", "user"),
        _sys("parent", "Parent", "issuelink"),
        _sys("status", "Status", "status"),
        _sys("created", "Created", "datetime"),
        _sys("updated", "Updated", "datetime"),
        _sys("creator", "Creator", "user"),
        _sys("resolution", "Resolution", "resolution"),
        _sys("resolutiondate", "Resolved", "datetime"),
        _sys("statuscategorychangedate", "Status Category Changed", "datetime"),
        _sys("issuelinks", "Linked Issues", "array", "issuelinks"),
        _sys("subtasks", "Sub-tasks", "array", "issuelinks"),
        _sys("attachment", "Attachment", "array", "attachment"),
        _sys("comment", "Comment", "comments-page"),
        FieldDef(
            STORY_POINTS,
            "Story Points",
            {
                "type": "number",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
                "customId": 10016,
            },
            ("set",),
            True,
            True,
            ("cf[10016]", "Story Points"),
        ),
        FieldDef(
            SPRINT,
            "Sprint",
            {
                "type": "array",
                "items": "json",
                "custom": "com.pyxis.greenhopper.jira:gh-sprint",
                "customId": 10020,
            },
            ("set",),
            True,
            True,
            ("cf[10020]", "Sprint"),
        ),
        *(
            FieldDef(fid, name, schema, ("set",), fid.startswith("customfield_"), True, clauses)
            for fid, name, schema, clauses in CUSTOM_FIELDS
        ),
    )
}

ALWAYS_REQUIRED = ("summary", "issuetype", "project")


def find_issue_type(ref: Any) -> IssueType | None:
    """Resolve ``{"id": ...}`` or ``{"name": ...}`` as Jira does (id wins)."""
    if not isinstance(ref, dict):
        return None
    if "id" in ref:
        return ISSUE_TYPES.get(str(ref["id"]))
    name = ref.get("name")
    return next((t for t in ISSUE_TYPES.values() if t.name == name), None)


def find_by_id_or_name(table: dict[str, dict[str, Any]], ref: Any) -> dict[str, Any] | None:
    if not isinstance(ref, dict):
        return None
    if "id" in ref:
        return table.get(str(ref["id"]))
    name = ref.get("name")
    return next((row for row in table.values() if row["name"] == name), None)


def status_by_name(name: str) -> list[Status]:
    lowered = name.lower()
    return [s for s in STATUSES.values() if s.name.lower() == lowered]


RESOLUTIONS: dict[str, dict[str, str]] = {
    rid: {"id": rid, "name": name, "description": desc}
    for rid, name, desc in (
        ("10000", "Done", "Work has been completed on this issue."),
        ("10001", "Won't Do", "This issue won't be actioned."),
        ("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
        ("10003", "Cannot Reproduce", "This issue couldn't be reproduced."),
    )
}
# The resolution Jira's post-functions set when a transition lands in a done status.
DEFAULT_RESOLUTION = {"10003": "10001"}  # Won't Do status -> Won't Do resolution; else Done


# ---------------------------------------------------------------------- team-managed
# The team-managed ("next-gen") project's own configuration (sandbox.jira_team serves
# it): statuses and issue types scoped to that project, one workflow whose
# transitions go from any status to any other (the team-managed default, each named
# after its target), "Story point estimate" instead of Story Points, ``parent`` on
# every level below the top, and no components or versions.
TEAM_POINTS = "customfield_10040"
TEAM_STATUSES: dict[str, Status] = {
    s.id: s
    for s in (
        Status("10010", "To Do", NEW),
        Status("10011", "In Progress", INDETERMINATE),
        Status("10012", "Done", DONE),
    )
}
STATUSES.update(TEAM_STATUSES)
_TEAM_ALL = tuple(TEAM_STATUSES)
TEAM_WORKFLOW = Workflow(
    "Team-managed workflow",
    "10010",
    tuple(
        Transition(tid, STATUSES[to].name, to, tuple(s for s in _TEAM_ALL if s != to))
        for tid, to in (("11", "10010"), ("21", "10011"), ("31", "10012"))
    ),
)
_TEAM_COMMON = (
    "summary",
    "issuetype",
    "project",
    "description",
    "priority",
    "labels",
    "assignee",
    "reporter",
)
_TEAM_WORK = (*_TEAM_COMMON, "parent", TEAM_POINTS, SPRINT)
TEAM_ISSUE_TYPES: dict[str, IssueType] = {
    t.id: t
    for t in (
        IssueType(
            "10010",
            "Epic",
            1,
            "Epics track collections of related work.",
            TEAM_WORKFLOW,
            _TEAM_COMMON,
        ),
        IssueType(
            "10011",
            "Story",
            0,
            "Stories track functionality or features.",
            TEAM_WORKFLOW,
            _TEAM_WORK,
        ),
        IssueType(
            "10012",
            "Task",
            0,
            "Tasks track small, distinct pieces of work.",
            TEAM_WORKFLOW,
            _TEAM_WORK,
        ),
        IssueType("10013", "Bug", 0, "Bugs track problems or errors.", TEAM_WORKFLOW, _TEAM_WORK),
        IssueType(
            "10014",
            "Subtask",
            -1,
            "Subtasks track small pieces of work that are part of a larger task.",
            TEAM_WORKFLOW,
            (*_TEAM_COMMON, "parent"),
        ),
    )
}
FIELDS[TEAM_POINTS] = FieldDef(
    TEAM_POINTS,
    "Story point estimate",
    {
        "type": "number",
        "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
        "customId": 10040,
    },
    ("set",),
    True,
    True,
    ("cf[10040]", "Story point estimate"),
)
