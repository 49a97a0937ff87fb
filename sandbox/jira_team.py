"""The site's projects: the company-managed target and a team-managed ("next-gen") one.

The site serves both at once, as a real Jira site does. Each :class:`ProjectDef`
names its issue types; an issue belongs to the project of its type (the types of a
team-managed project are scoped to it: ``scope: {type: PROJECT, project: {id}}``
on every issue type and status it owns). The team-managed project (key ``TEAM`` by
default, id 10001) reports ``style: "next-gen"`` and ``simplified: true``, has its
own statuses (To Do, In Progress, Done), "Story point estimate"
(``customfield_10040``), ``parent`` on every level below Epic, no components and no
versions, and a board of its own (id 2) when the company-managed project has one.
Its configuration lives in :mod:`sandbox.jira_workflow` (``TEAM_*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.jira_workflow import ISSUE_TYPES, TEAM_ISSUE_TYPES, TEAM_STATUSES, IssueType

if TYPE_CHECKING:
    from sandbox.jira_state import JiraState

TEAM_KEY = "TEAM"
TEAM_ID = "10001"
TEAM_BOARD = 2


@dataclass(frozen=True)
class ProjectDef:
    id: str
    key: str
    name: str
    types: dict[str, IssueType]
    board_id: int
    team_managed: bool = False

    @property
    def style(self) -> str:
        return "next-gen" if self.team_managed else "classic"

    def find_type(self, ref: Any) -> IssueType | None:
        """``{"id": ...}`` or ``{"name": ...}`` among this project's types (id wins)."""
        if not isinstance(ref, dict):
            return None
        if "id" in ref:
            return self.types.get(str(ref["id"]))
        return next((t for t in self.types.values() if t.name == ref.get("name")), None)


def site_projects(state: JiraState, team_key: str = TEAM_KEY) -> list[ProjectDef]:
    """The company-managed project the state was made for, then the team-managed one."""
    company = ProjectDef(
        state.project_id, state.project_key, state.project_name, ISSUE_TYPES, state.board_id
    )
    key = team_key.upper()
    if key == company.key:  # the two keys must differ; the team project steps aside
        key = f"{key}2"
    team = ProjectDef(TEAM_ID, key, f"{key} team-managed", TEAM_ISSUE_TYPES, TEAM_BOARD, True)
    return [company, team]


def find_project(projects: list[ProjectDef], ref: Any) -> ProjectDef | None:
    """A project by ``{"id"}``/``{"key"}`` (as in fields.project) or by id or key text."""
    if isinstance(ref, dict):
        pid, key = str(ref.get("id", "")), str(ref.get("key", "")).upper()
        return next((p for p in projects if p.id == pid or p.key == key), None)
    text = str(ref).strip().upper()
    return next((p for p in projects if text in (p.key, p.id)), None)


def project_of_type(projects: list[ProjectDef], itype: IssueType) -> ProjectDef:
    return next((p for p in projects if p.types.get(itype.id) is itype), projects[0])


def type_scope(itype: IssueType) -> dict[str, Any]:
    """The ``scope`` of a team-managed project's issue type (nothing for shared ones)."""
    if TEAM_ISSUE_TYPES.get(itype.id) is not itype:
        return {}
    return {"scope": {"type": "PROJECT", "project": {"id": TEAM_ID}}}


def status_scope(status_id: str) -> dict[str, Any]:
    if status_id not in TEAM_STATUSES:
        return {}
    return {"scope": {"type": "PROJECT", "project": {"id": TEAM_ID}}}
