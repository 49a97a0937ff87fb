"""The simulated Jira site's records (issues, comments, attachments, links, sprints,
settings), the error every rule raises, and the millisecond clock ``updated`` runs on."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.jira_workflow import IssueType

PROPERTY_LIMIT = 32768
SUMMARY_LIMIT = 255
NOT_ON_SCREEN = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
NO_COMMENT = "Can not find a comment for the id: {0}."
ADF_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


class JiraError(Exception):
    """A refusal in Jira's shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self, status: int, messages: Sequence[str] = (), errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass
class Comment:
    id: int
    body: Any
    author: str
    created: float
    updated: float
    properties: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, Any] | None = None


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    mime_type: str
    data: bytes
    sha256: str
    author: str
    created: float

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    body: dict[str, Any]


@dataclass
class Link:
    id: int
    type_id: str
    inward_id: int  # the request's inwardIssue
    outward_id: int  # the request's outwardIssue


@dataclass
class Sprint:
    id: int
    name: str
    board_id: int
    state: str = "future"
    goal: str = ""
    start_date: str | None = None
    end_date: str | None = None


@dataclass
class Issue:
    id: int
    key: str
    number: int
    type: IssueType
    status_id: str
    fields: dict[str, Any]  # normalised values: ids for references, ADF as sent
    creator: str
    created: float
    updated: float
    status_changed: float
    resolution_id: str | None = None
    resolved: float | None = None
    comments: list[Comment] = field(default_factory=list)
    attachment_ids: list[int] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    remote_links: list[RemoteLink] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


INT_SETTINGS = (
    "upload_limit",
    "max_files_per_upload",
    "bulk_delete_ms_per_issue",
    "bulk_transition_ms_per_issue",
)


@dataclass
class Settings:
    """Jira-specific knobs; change them while running (``PATCH /_sandbox/jira/settings``)."""

    upload_limit: int = 10 * 1024 * 1024
    attachments_enabled: bool = True
    require_story_points: bool = False  # makes Story Points required on Story only
    max_files_per_upload: int = 60
    manage_components: bool = True  # False: the API user lacks project admin (403 on create)
    scrum_board: bool = True  # False: the project has no board (a team-managed list, say)
    # False: the API user lacks the Delete issues, Delete all comments and Delete all
    # attachments permissions (DELETE answers 403, or 400 for a comment, as the spec says).
    delete_permission: bool = True
    # False: the API user lacks the global Bulk change permission (bulk delete answers 403).
    bulk_change_permission: bool = True
    bulk_delete_ms_per_issue: int = 5  # how long the bulk-delete task takes per issue
    bulk_transition_ms_per_issue: int = 2  # how long the bulk-transition task takes per issue
    # The spec documents only ``renderedBody`` for ``expand`` on the comment GETs, so
    # ``expand=properties`` is ignored there; True honours it (the sandbox's old behaviour).
    comment_properties_in_list: bool = False

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply known keys (all checked first: a refused change changes nothing)."""
        unknown = [k for k in changes if not hasattr(self, k)]
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key in INT_SETTINGS:
                checked[key] = int(value)
            elif key in unknown:
                continue
            elif not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
            else:
                checked[key] = value
        for key, value in checked.items():
            setattr(self, key, value)
        return unknown


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def now_ms() -> float:
    """The current time, whole milliseconds (the precision of Jira's timestamps)."""
    return int(time.time() * 1000) / 1000


def later(previous: float, now: float) -> float:
    """``now``, or one millisecond after ``previous`` when ``now`` would not show a change."""
    return max(now, (round(previous * 1000) + 1) / 1000)


def touch(issue: Issue, now: float | None = None) -> float:
    """Mark ``issue`` changed: ``updated`` moves on, even within one millisecond."""
    issue.updated = later(issue.updated, now_ms() if now is None else now)
    return issue.updated
