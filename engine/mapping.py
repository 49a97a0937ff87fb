"""Type and state mapping: ADO work item types and states to Jira issue types and statuses.

Both are *suggested* from the two sides' metadata, each suggestion with a reason
and a confidence in [0, 1]; the run's ``type_overrides`` / ``state_overrides``
win over any suggestion.

Types
    Each ADO type gets a backlog level, from its name when it is a known process
    type (Epic: portfolio top, Feature: portfolio, User Story / Product Backlog
    Item / Requirement / Bug / Issue: requirement, Task: task) and otherwise from
    the observed hierarchy (a custom type that parents requirements is a
    portfolio type; one whose parents are requirements is a task type; anything
    else is a requirement). The level picks the Jira hierarchy level, then name
    similarity (difflib, plus a short synonym list) picks the type within it:

    - requirement level -> Jira standard level (0);
    - task level -> the sub-task level (-1) when the project has one, else 0;
    - portfolio levels are matched bottom-up to the Jira levels above 0.
      **Feature rule:** Features are what requirements roll up to in ADO, and
      Epics are what stories roll up to in Jira, so Feature -> the lowest Jira
      level above standard (Epic). ADO Epic -> the next level up when the
      project has one (e.g. an "Initiative" in Jira Premium), otherwise also
      Epic; its Epic -> Feature parent relation then becomes an issue link
      (Jira cannot nest an Epic under an Epic). A project with no level above
      standard gets Feature (and Epic) as its best standard type, e.g. Story.

    An override naming a type the project lacks is a preflight error.

States
    ADO state category -> Jira status category (Proposed -> new, InProgress ->
    indeterminate, Resolved -> done (then indeterminate), Completed -> done,
    Removed -> done), then name similarity within the category, inside the
    workflow of the mapped Jira type. An override naming a status the project
    lacks is a preflight error; one naming a status that a particular type's
    workflow lacks falls back to the automatic choice and is reported.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from engine.model import IssueType, Status, Transition, WorkItemType

MappingSource = Literal["automatic", "override"]

PORTFOLIO_TOP, PORTFOLIO, REQUIREMENT, TASK = 2, 1, 0, -1
LEVEL_NAMES = {
    PORTFOLIO_TOP: "portfolio (top)",
    PORTFOLIO: "portfolio",
    REQUIREMENT: "requirement",
    TASK: "task",
}
_KNOWN_LEVELS = {
    "epic": PORTFOLIO_TOP,
    "feature": PORTFOLIO,
    "user story": REQUIREMENT,
    "product backlog item": REQUIREMENT,
    "requirement": REQUIREMENT,
    "bug": REQUIREMENT,
    "issue": REQUIREMENT,
    "impediment": REQUIREMENT,
    "task": TASK,
    # Test Plans types: outside the backlogs, each one standard Jira issue.
    "test case": REQUIREMENT,
    "shared steps": REQUIREMENT,
}
# ADO type name -> Jira type names that mean the same thing.
_TYPE_SYNONYMS = {
    "user story": ("story",),
    "product backlog item": ("story",),
    "requirement": ("story",),
    "issue": ("task",),
    "impediment": ("task",),
    "bug": ("bug", "defect"),
    "task": ("sub-task", "subtask", "task"),
    "feature": ("epic", "feature"),
    "epic": ("initiative", "epic"),
    "test case": ("task",),
    "shared steps": ("task",),
}
# When no name is similar, the type a Jira user would expect at that level.
_LEVEL_DEFAULTS = {1: ("epic",), 0: ("story", "task"), -1: ("sub-task", "subtask")}

STATUS_CATEGORIES = {
    "Proposed": ("new",),
    "InProgress": ("indeterminate",),
    "Resolved": ("done", "indeterminate"),
    "Completed": ("done",),
    "Removed": ("done",),
}
_STATE_SYNONYMS = {
    "new": ("to do", "open", "backlog", "new"),
    "proposed": ("to do", "open"),
    "approved": ("to do", "selected for development"),
    "active": ("in progress",),
    "committed": ("in progress",),
    "in progress": ("in progress",),
    "doing": ("in progress",),
    "resolved": ("resolved", "done", "in review"),
    "closed": ("closed", "done"),
    "done": ("done",),
    "removed": ("won't do", "cancelled", "rejected"),
}
_CATEGORY_NAMES = {
    "Proposed": ("to do", "open", "backlog"),
    "InProgress": ("in progress",),
    "Resolved": ("resolved", "done"),
    "Completed": ("done", "closed"),
    "Removed": ("won't do", "cancelled", "closed"),
}


@dataclass(frozen=True)
class TypeMapping:
    ado_type: str
    jira_type_id: str
    jira_type: str
    jira_level: int
    ado_level: int
    source: MappingSource
    reason: str
    confidence: float
    # For a sub-task mapping: the standard type used when an item has no
    # parent that can be its Jira parent (Jira refuses a parentless sub-task).
    standalone_type_id: str = ""
    standalone_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TypeMapping:
        return cls(**data)


@dataclass(frozen=True)
class StateMapping:
    ado_type: str
    ado_state: str
    ado_category: str
    jira_type: str
    jira_status: str
    jira_status_id: str
    source: MappingSource
    reason: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateMapping:
        return cls(**data)


# --------------------------------------------------------------------------- helpers
def similarity(a: str, b: str) -> float:
    """difflib ratio of two names, case and surrounding spaces ignored."""
    return difflib.SequenceMatcher(None, a.strip().lower(), b.strip().lower()).ratio()


def _name_score(ado_name: str, jira_name: str, synonyms: Mapping[str, Sequence[str]]) -> float:
    a, j = ado_name.strip().lower(), jira_name.strip().lower()
    if a == j:
        return 1.0
    if j in synonyms.get(a, ()):
        return 0.9
    return similarity(a, j)


def ado_backlog_level(type_name: str, hierarchy: Iterable[tuple[str, str]] = ()) -> tuple[int, str]:
    """The ADO backlog level of a type, with the reason it was chosen.

    ``hierarchy`` holds observed (child type, parent type) pairs, used for
    custom types whose name says nothing.
    """
    known = _KNOWN_LEVELS.get(type_name.strip().lower())
    if known is not None:
        return known, f"'{type_name}' is a {LEVEL_NAMES[known]}-level type"
    pairs = list(hierarchy)
    children = {c for c, p in pairs if p == type_name}
    parents = {p for c, p in pairs if c == type_name}
    child_levels = {_KNOWN_LEVELS.get(c.lower()) for c in children}
    parent_levels = {_KNOWN_LEVELS.get(p.lower()) for p in parents}
    if REQUIREMENT in child_levels:
        return PORTFOLIO, f"custom type '{type_name}' is the parent of requirement-level items"
    if REQUIREMENT in parent_levels:
        return TASK, f"custom type '{type_name}' is the child of requirement-level items"
    return REQUIREMENT, f"custom type '{type_name}' treated as a requirement-level type"


def _find_type(jira_types: Sequence[IssueType], name: str) -> IssueType | None:
    wanted = name.strip().lower()
    return next((t for t in jira_types if t.name.strip().lower() == wanted), None)


def _desired_jira_level(
    ado_level: int, jira_levels: Sequence[int], portfolio_used: Sequence[int]
) -> tuple[int, float]:
    """The Jira hierarchy level an ADO backlog level should land on, and how well it fits."""
    above = sorted(lv for lv in jira_levels if lv > 0)
    if ado_level == TASK:
        return (-1, 1.0) if -1 in jira_levels else (0, 0.7)
    if ado_level == REQUIREMENT:
        return 0, 1.0
    if not above:
        return 0, 0.6
    # Portfolio levels in use, bottom-up, onto the Jira levels above standard.
    used = sorted(set(portfolio_used) | {ado_level})
    rank = used.index(ado_level)
    if rank < len(above):
        return above[rank], 1.0
    return above[-1], 0.8  # shares the top Jira level with a lower ADO level


def _best_of_level(
    ado_type: str, candidates: Sequence[IssueType], level: int
) -> tuple[IssueType, float]:
    scored = []
    defaults = _LEVEL_DEFAULTS.get(level, ())
    for order, jt in enumerate(candidates):
        score = _name_score(ado_type, jt.name, _TYPE_SYNONYMS)
        if jt.name.lower() in defaults:
            score = max(score, 0.6 - 0.05 * defaults.index(jt.name.lower()))
        scored.append((score, -order, jt))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return scored[0][2], scored[0][0]


# --------------------------------------------------------------------------- types
def suggest_type(
    ado_type: str,
    jira_types: Sequence[IssueType],
    *,
    hierarchy: Iterable[tuple[str, str]] = (),
    portfolio_used: Sequence[int] = (PORTFOLIO_TOP, PORTFOLIO),
) -> TypeMapping:
    """The automatic suggestion for one ADO type (``jira_types`` must not be empty)."""
    ado_level, level_reason = ado_backlog_level(ado_type, hierarchy)
    levels = sorted({t.hierarchy_level for t in jira_types})
    desired, level_fit = _desired_jira_level(ado_level, levels, portfolio_used)
    candidates = [t for t in jira_types if t.hierarchy_level == desired]
    if not candidates:
        candidates = [t for t in jira_types if t.hierarchy_level == 0] or list(jira_types)
        level_fit = 0.5
    chosen, name_score = _best_of_level(ado_type, candidates, candidates[0].hierarchy_level)
    confidence = round(0.6 * level_fit + 0.4 * name_score, 2)
    reason = (
        f"{level_reason}; Jira level {chosen.hierarchy_level}; "
        f"name similarity '{ado_type}' ~ '{chosen.name}' {name_score:.2f}"
    )
    mapping = TypeMapping(
        ado_type,
        chosen.id,
        chosen.name,
        chosen.hierarchy_level,
        ado_level,
        "automatic",
        reason,
        confidence,
    )
    return _with_standalone(mapping, jira_types)


def _with_standalone(mapping: TypeMapping, jira_types: Sequence[IssueType]) -> TypeMapping:
    if mapping.jira_level >= 0:
        return mapping
    standard = [t for t in jira_types if t.hierarchy_level == 0]
    if not standard:
        return mapping
    best, _ = _best_of_level(mapping.ado_type, standard, 0)
    task = _find_type(standard, "Task") or best
    return TypeMapping(
        **{**mapping.to_dict(), "standalone_type_id": task.id, "standalone_type": task.name}
    )


def override_type(ado_type: str, jira_name: str, jira_types: Sequence[IssueType]) -> TypeMapping:
    """An override's mapping; raises ``KeyError`` when the project lacks the type."""
    chosen = _find_type(jira_types, jira_name)
    if chosen is None:
        raise KeyError(jira_name)
    ado_level, _ = ado_backlog_level(ado_type)
    mapping = TypeMapping(
        ado_type,
        chosen.id,
        chosen.name,
        chosen.hierarchy_level,
        ado_level,
        "override",
        f"type_overrides: '{ado_type}' -> '{chosen.name}'",
        1.0,
    )
    return _with_standalone(mapping, jira_types)


def suggest_type_mappings(
    ado_types: Iterable[str],
    jira_types: Sequence[IssueType],
    overrides: Mapping[str, str] | None = None,
    hierarchy: Iterable[tuple[str, str]] = (),
) -> tuple[dict[str, TypeMapping], list[str]]:
    """Mappings for every ADO type, and the preflight errors (bad overrides)."""
    pairs = list(hierarchy)
    names = list(dict.fromkeys(ado_types))
    lowered = {k.strip().lower(): v for k, v in (overrides or {}).items()}
    portfolio_used = sorted({lv for n in names if (lv := ado_backlog_level(n, pairs)[0]) > 0})
    out: dict[str, TypeMapping] = {}
    errors: list[str] = []
    for name in names:
        wanted = lowered.get(name.strip().lower())
        if wanted is None:
            out[name] = suggest_type(
                name, jira_types, hierarchy=pairs, portfolio_used=portfolio_used or [PORTFOLIO]
            )
            continue
        try:
            out[name] = override_type(name, wanted, jira_types)
        except KeyError:
            have = ", ".join(sorted(t.name for t in jira_types))
            errors.append(
                f"type override '{name}' -> '{wanted}': the Jira project has no issue "
                f"type '{wanted}' (it has: {have})"
            )
    return out, errors


# --------------------------------------------------------------------------- states
def _status_score(ado_state: str, category: str, status: Status) -> tuple[float, str]:
    preferred = STATUS_CATEGORIES.get(category, ("indeterminate",))
    if status.category in preferred:
        cat_fit = 1.0 if status.category == preferred[0] else 0.6
    else:
        cat_fit = 0.0
    name = _name_score(ado_state, status.name, _STATE_SYNONYMS)
    if status.name.lower() in _CATEGORY_NAMES.get(category, ()):
        name = max(name, 0.8)
    return 0.6 * cat_fit + 0.4 * name, f"category {category} -> {status.category} ({cat_fit:.1f})"


def suggest_state(
    ado_type: str, ado_state: str, category: str, jira_type: str, statuses: Sequence[Status]
) -> StateMapping | None:
    """The automatic status for one ADO state inside one Jira workflow (None: no statuses)."""
    best: tuple[float, int, Status, str] | None = None
    for order, status in enumerate(statuses):
        score, why = _status_score(ado_state, category, status)
        if best is None or (score, -order) > (best[0], -best[1]):
            best = (score, order, status, why)
    if best is None:
        return None
    score, _, status, why = best
    reason = f"{why}; name similarity '{ado_state}' ~ '{status.name}'"
    return StateMapping(
        ado_type,
        ado_state,
        category,
        jira_type,
        status.name,
        status.id,
        "automatic",
        reason,
        round(min(1.0, score), 2),
    )


def map_state(
    ado_type: str,
    ado_state: str,
    category: str,
    jira_type: str,
    statuses: Sequence[Status],
    overrides: Mapping[str, str] | None = None,
) -> tuple[StateMapping | None, str | None]:
    """The status for one ADO state, and a problem text when an override did not apply."""
    lowered = {k.strip().lower(): v for k, v in (overrides or {}).items()}
    wanted = lowered.get(ado_state.strip().lower())
    if wanted is not None:
        hit = next((s for s in statuses if s.name.lower() == wanted.strip().lower()), None)
        if hit is not None:
            return StateMapping(
                ado_type,
                ado_state,
                category,
                jira_type,
                hit.name,
                hit.id,
                "override",
                f"state_overrides: '{ado_state}' -> '{hit.name}'",
                1.0,
            ), None
        problem = (
            f"state override '{ado_state}' -> '{wanted}' is not in the workflow of Jira "
            f"type '{jira_type}'; the automatic mapping is used for it"
        )
        return suggest_state(ado_type, ado_state, category, jira_type, statuses), problem
    return suggest_state(ado_type, ado_state, category, jira_type, statuses), None


def check_state_overrides(
    overrides: Mapping[str, str], project_statuses: Mapping[str, Sequence[Status]]
) -> list[str]:
    """Preflight errors: overrides naming a status that no workflow of the project has."""
    known = {s.name.lower() for statuses in project_statuses.values() for s in statuses}
    return [
        f"state override '{ado}' -> '{jira}': the Jira project has no status '{jira}'"
        for ado, jira in overrides.items()
        if jira.strip().lower() not in known
    ]


def suggest_state_mappings(
    ado_types: Sequence[WorkItemType],
    type_map: Mapping[str, TypeMapping],
    project_statuses: Mapping[str, Sequence[Status]],
    overrides: Mapping[str, str] | None = None,
) -> tuple[list[StateMapping], list[str]]:
    """Every (ADO type, state) of the mapped types, and the override problems."""
    out: list[StateMapping] = []
    problems: list[str] = []
    for wit in ado_types:
        tm = type_map.get(wit.name)
        if tm is None:
            continue
        statuses = project_statuses.get(tm.jira_type_id, [])
        for st in wit.states:
            mapping, problem = map_state(
                wit.name, st.name, st.category, tm.jira_type, statuses, overrides
            )
            if mapping is not None:
                out.append(mapping)
            if problem:
                problems.append(problem)
    return out, problems


def state_category(wit: WorkItemType | None, state: str) -> str:
    """The category of ``state`` in ``wit``, guessed from the name when unknown."""
    if wit is not None:
        for st in wit.states:
            if st.name.lower() == state.lower():
                return st.category
    guesses = {
        "new": "Proposed",
        "active": "InProgress",
        "resolved": "Resolved",
        "closed": "Completed",
        "done": "Completed",
        "removed": "Removed",
    }
    return guesses.get(state.lower(), "InProgress")


# --------------------------------------------------------------------------- workflow walk
_CATEGORY_RANK = {"new": 0, "indeterminate": 1, "done": 2}


class WorkflowGraph:
    """What the run has learned of each Jira workflow: status -> transitions available.

    Jira shows only the transitions available from an issue's current status, so
    the graph is learned while walking (shared by every issue of a type, thread-safe)
    and searched breadth-first. A status whose transitions are still unknown is a
    frontier: when the target is not reachable through known edges, the walk
    explores towards the nearest frontier (the one closest in category to the
    target first); once nothing is left to explore, the target is unreachable.
    """

    def __init__(self) -> None:
        self._edges: dict[tuple[str, str], list[Transition]] = {}
        self._lock = threading.Lock()

    def learn(self, type_id: str, status: str, transitions: Sequence[Transition]) -> None:
        with self._lock:
            self._edges[(type_id, status.lower())] = list(transitions)

    def edges(self, type_id: str, status: str) -> list[Transition] | None:
        with self._lock:
            found = self._edges.get((type_id, status.lower()))
            return list(found) if found is not None else None

    def known(self, type_id: str, status: str) -> bool:
        with self._lock:
            return (type_id, status.lower()) in self._edges

    def snapshot(self) -> dict[str, dict[str, list[Transition]]]:
        """type id → status (lower case) → its transitions, as the plan saves them."""
        out: dict[str, dict[str, list[Transition]]] = {}
        with self._lock:
            for (type_id, status), transitions in sorted(self._edges.items()):
                out.setdefault(type_id, {})[status] = list(transitions)
        return out

    def restore(self, known: Mapping[str, Mapping[str, Sequence[Transition]]]) -> None:
        """What a saved plan knew (:meth:`snapshot`); what this run learned stays."""
        with self._lock:
            for type_id, by_status in known.items():
                for status, transitions in by_status.items():
                    self._edges.setdefault((type_id, status.lower()), list(transitions))

    def _bfs(self, type_id: str, start: str) -> dict[str, tuple[str, Transition | None]]:
        """status -> (previous status, transition taken) for everything reachable."""
        seen: dict[str, tuple[str, Transition | None]] = {start.lower(): ("", None)}
        queue = [start.lower()]
        with self._lock:
            while queue:
                cur = queue.pop(0)
                for t in self._edges.get((type_id, cur), []):
                    nxt = t.to.name.lower()
                    if nxt not in seen:
                        seen[nxt] = (cur, t)
                        queue.append(nxt)
        return seen

    @staticmethod
    def _first_step(
        seen: Mapping[str, tuple[str, Transition | None]], goal: str
    ) -> Transition | None:
        step: Transition | None = None
        cur = goal.lower()
        while True:
            prev, t = seen[cur]
            if t is None:
                return step
            step, cur = t, prev

    def reachable(self, type_id: str, start: str) -> list[str]:
        return list(self._bfs(type_id, start))

    def next_step(
        self, type_id: str, current: str, target: Status
    ) -> tuple[Transition | None, str]:
        """The transition to take now and why: path, explore, arrived or unreachable."""
        if current.lower() == target.name.lower():
            return None, "arrived"
        seen = self._bfs(type_id, current)
        if target.name.lower() in seen:
            return self._first_step(seen, target.name), "path"
        frontier = [s for s in seen if not self.known(type_id, s)]
        if not frontier:
            return None, "unreachable"
        goal = min(frontier, key=lambda s: (self._category_gap(type_id, s, target), s))
        return self._first_step(seen, goal), "explore"

    def _category_gap(self, type_id: str, status: str, target: Status) -> int:
        with self._lock:
            cats = {
                t.to.name.lower(): t.to.category
                for (tid, _), ts in self._edges.items()
                if tid == type_id
                for t in ts
            }
        rank = _CATEGORY_RANK.get(cats.get(status, ""), 1)
        return abs(rank - _CATEGORY_RANK.get(target.category, 1))


def nearest_status(candidates: Sequence[Status], target: Status) -> Status | None:
    """Where to leave an issue whose target status is unreachable: same category first,
    then the most similar name."""
    if not candidates:
        return None
    goal = _CATEGORY_RANK.get(target.category, 1)
    return max(
        candidates,
        key=lambda s: (
            -abs(_CATEGORY_RANK.get(s.category, 1) - goal),
            similarity(s.name, target.name),
        ),
    )
