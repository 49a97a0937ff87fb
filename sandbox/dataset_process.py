"""The Agile process the generated project follows: work item types and their
states, state reasons, and the non-hierarchy link types with their names."""

from __future__ import annotations

from dataclasses import dataclass


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
    # The test types: not on a backlog, linked to what they test ("Tested By").
    TypeDef(
        "Test Case",
        "Microsoft.VSTS.WorkItemTypes.TestCase",
        "004B50",
        "icon_test_case",
        (
            StateDef("Design", "Proposed", "b2b2b2"),
            StateDef("Ready", "InProgress", "007acc"),
            _CLOSED,
        ),
        "Server-side data for a set of steps to be tested.",
    ),
    TypeDef(
        "Shared Steps",
        "Microsoft.VSTS.WorkItemTypes.SharedStep",
        "004B50",
        "icon_test_step",
        (_ACTIVE, _CLOSED),
        "Server-side data for reusable set of test steps.",
    ),
)
TYPE_INDEX = {t.name: i for i, t in enumerate(TYPES)}
EPIC, FEATURE, STORY, TASK, BUG, ISSUE, RISK = range(7)
TEST_CASE, SHARED_STEPS = 7, 8

REASONS = {
    "New": "New",
    "Active": "Implementation started",
    "Resolved": "Code complete and unit tests pass",
    "Closed": "Acceptance tests pass",
    "Removed": "Removed from the backlog",
    "Mitigated": "Mitigated",
    "Design": "New test case",
    "Ready": "Completed design",
}

# (rel forward, rel reverse); Related is its own reverse.
LINK_TYPES: tuple[tuple[str, str], ...] = (
    ("System.LinkTypes.Related", "System.LinkTypes.Related"),
    ("System.LinkTypes.Dependency-Forward", "System.LinkTypes.Dependency-Reverse"),
    ("System.LinkTypes.Duplicate-Forward", "System.LinkTypes.Duplicate-Reverse"),
    ("Microsoft.VSTS.Common.TestedBy-Forward", "Microsoft.VSTS.Common.TestedBy-Reverse"),
    ("Microsoft.VSTS.Common.Affects-Forward", "Microsoft.VSTS.Common.Affects-Reverse"),
    ("Custom.LinkTypes.Implements-Forward", "Custom.LinkTypes.Implements-Reverse"),
)
# The random links draw from the first kinds only (the plan of a seed stays as it was);
# Affects and Implements are planned on their own (ProjectPlan._plan_new_kinds).
RANDOM_LINK_KINDS = 4
AFFECTS, IMPLEMENTS = 4, 5
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"

# The names ADO gives each end of the link types above.
LINK_NAMES = {
    "System.LinkTypes.Related": "Related",
    "System.LinkTypes.Dependency-Forward": "Successor",
    "System.LinkTypes.Dependency-Reverse": "Predecessor",
    "System.LinkTypes.Duplicate-Forward": "Duplicate",
    "System.LinkTypes.Duplicate-Reverse": "Duplicate Of",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Tested By",
    "Microsoft.VSTS.Common.TestedBy-Reverse": "Tests",
    "Microsoft.VSTS.Common.Affects-Forward": "Affects",
    "Microsoft.VSTS.Common.Affects-Reverse": "Affected By",
    "Custom.LinkTypes.Implements-Forward": "Implements",
    "Custom.LinkTypes.Implements-Reverse": "Implemented By",
}


def index_of(kind: int, state: str) -> int:
    """The position of ``state`` among the states of type number ``kind``."""
    return [s.name for s in TYPES[kind].states].index(state)
