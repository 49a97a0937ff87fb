"""The simulated Jira's bulk issue delete, its task queue, and "my permissions".

As the platform spec has them:

- ``POST /rest/api/3/bulk/issues/delete`` (``submitBulkDelete``): body
  ``IssueBulkDeletePayload`` (``selectedIssueIdsOrKeys``: 1 to 1,000 ids or keys,
  ``sendBulkNotification``; nothing else). 201 ``{"taskId"}``; 400 for a bad body,
  403 without the global *Bulk change* permission (the ``bulk_change_permission``
  setting) or the *Delete issues* one (``delete_permission``), both as
  ``BulkOperationErrorResponse`` (``{"errors": [{"message"}]}``).
- ``GET /rest/api/3/bulk/queue/{taskId}`` (``getBulkOperationProgress``):
  ``BulkOperationProgress``; 400 for an id that is no bulk task (the spec's
  wording, in its declared ``BulkOperationErrorResponse`` schema).
- ``GET /rest/api/3/mypermissions`` (``getMyPermissions``): ``Permissions`` for the
  keys in ``permissions`` (required; an unknown key is 400), in the context of
  ``projectKey``/``projectId`` (unknown: 404).

The work is done by a background thread, ``bulk_delete_ms_per_issue`` (a setting)
per issue, children before parents: an issue with sub-tasks that are not selected
fails (``failedAccessibleIssues``) and stays; ids or keys of no issue are counted in
``invalidOrInaccessibleIssueCount``. Each deleted issue counts in the
``issues_deleted`` write counter, each task in ``bulk_deletes``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.jira_render import Renderer, jira_time
from sandbox.jira_state import Issue, JiraError, JiraState, Settings, now_ms

BULK_DELETE_LIMIT = 1000
TERMINAL = ("COMPLETE", "FAILED", "CANCELLED", "DEAD")
# key -> (id, name, type, description)
PERMISSIONS: dict[str, tuple[str, str, str, str]] = {
    "BULK_CHANGE": (
        "33",
        "Bulk Change",
        "GLOBAL",
        "Ability to modify a collection of issues at once.",
    ),
    "BROWSE_PROJECTS": ("10", "Browse Projects", "PROJECT", "Ability to browse projects."),
    "CREATE_ISSUES": ("11", "Create Issues", "PROJECT", "Ability to create issues."),
    "EDIT_ISSUES": ("12", "Edit Issues", "PROJECT", "Ability to edit issues."),
    "DELETE_ISSUES": ("16", "Delete Issues", "PROJECT", "Ability to delete issues."),
    "DELETE_ALL_COMMENTS": (
        "36",
        "Delete All Comments",
        "PROJECT",
        "Ability to delete all comments made on issues.",
    ),
    "DELETE_ALL_ATTACHMENTS": (
        "38",
        "Delete All Attachments",
        "PROJECT",
        "Users with this permission may delete all attachments.",
    ),
    "LINK_ISSUES": ("21", "Link Issues", "PROJECT", "Ability to link issues."),
    "ADMINISTER_PROJECTS": (
        "23",
        "Administer Projects",
        "PROJECT",
        "Ability to administer a project in Jira.",
    ),
}


def _held(key: str, settings: Settings) -> bool:
    if key == "BULK_CHANGE":
        return settings.bulk_change_permission
    if key.startswith("DELETE_"):
        return settings.delete_permission
    if key == "ADMINISTER_PROJECTS":
        return settings.manage_components
    return True


def bulk_error(status: int, message: str) -> JiraError:
    error = JiraError(status, [message])
    error.bulk = True  # type: ignore[attr-defined]  # rendered as BulkOperationErrorResponse
    return error


def bulk_error_body(exc: JiraError) -> dict[str, Any] | None:
    """``BulkOperationErrorResponse`` for the errors this module raises, else None."""
    if not getattr(exc, "bulk", False):
        return None
    return {"errors": [{"message": m} for m in exc.messages]}


@dataclass
class BulkTask:
    id: str
    submitted_by: str
    selected: list[str]
    created: float
    status: str = "ENQUEUED"
    started: float | None = None
    updated: float = 0.0
    processed: list[int] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)
    invalid: int = 0


def submit_bulk_delete(state: JiraState, body: Any) -> BulkTask:
    refs = _selected(body)
    settings = state.settings
    if not settings.bulk_change_permission:
        raise bulk_error(403, "You don't have the global Bulk change permission.")
    if not settings.delete_permission:
        raise bulk_error(403, "You don't have the Delete issues permission in this project.")
    with state.lock:
        now = now_ms()
        task = BulkTask(
            str(state.next_id("task")), state.me.jira_account_id, refs, now, updated=now
        )
        state.bulk_tasks[task.id] = task
        state.writes["bulk_deletes"] += 1
    threading.Thread(
        target=_work, args=(state, task), name=f"bulk-delete-{task.id}", daemon=True
    ).start()
    return task


def _selected(body: Any) -> list[str]:
    if not isinstance(body, dict):
        raise bulk_error(400, "The request body must be an IssueBulkDeletePayload object.")
    unknown = sorted(set(body) - {"selectedIssueIdsOrKeys", "sendBulkNotification"})
    if unknown:
        raise bulk_error(400, f"Unrecognized field(s): {', '.join(unknown)}.")
    notify = body.get("sendBulkNotification")
    if notify is not None and not isinstance(notify, bool):
        raise bulk_error(400, "sendBulkNotification must be a boolean.")
    refs = body.get("selectedIssueIdsOrKeys")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise bulk_error(
            400, "selectedIssueIdsOrKeys must list the ids or keys of the issues to delete."
        )
    if len(refs) > BULK_DELETE_LIMIT:
        raise bulk_error(
            400, f"You can delete at most {BULK_DELETE_LIMIT} issues in one operation."
        )
    return list(dict.fromkeys(refs))


def _work(state: JiraState, task: BulkTask) -> None:
    delay = max(0, state.settings.bulk_delete_ms_per_issue) / 1000
    with state.lock:
        task.status, task.started = "RUNNING", now_ms()
        task.updated = task.started
        found: list[Issue] = []
        for ref in task.selected:
            issue = state.find_issue(ref)
            if issue is None or issue in found:
                task.invalid += issue is None
                continue
            found.append(issue)
    chosen = {i.id for i in found}
    found.sort(key=lambda i: i.type.level)  # children first: sub-tasks, stories, epics
    for issue in found:
        if delay:
            time.sleep(delay)
        with state.lock:
            if issue.id not in state.issues:
                task.invalid += 1
            elif any(
                i.type.subtask and i.fields.get("parent") == issue.id and i.id not in chosen
                for i in state.issues.values()
            ):
                task.failed[str(issue.id)] = [
                    "The issue has sub-tasks that are not selected for deletion."
                ]
            else:
                try:
                    state.delete_issue(str(issue.id), False)
                    task.processed.append(issue.id)
                except JiraError as exc:
                    task.failed[str(issue.id)] = list(exc.messages) or ["Not deleted."]
            task.updated = now_ms()
    with state.lock:
        task.status, task.updated = "COMPLETE", now_ms()


def bulk_task(state: JiraState, task_id: str) -> BulkTask:
    with state.lock:
        task = state.bulk_tasks.get(task_id)
    if task is None:
        raise bulk_error(400, "The task associated with this taskId is not a bulk operation task")
    return task


def render_task(task: BulkTask, r: Renderer) -> dict[str, Any]:
    """``BulkOperationProgress``."""
    with r.state.lock:
        total = len(task.selected)
        done = len(task.processed) + len(task.failed) + task.invalid
        out: dict[str, Any] = {
            "taskId": task.id,
            "status": task.status,
            "progressPercent": 100 if task.status in TERMINAL else int(done * 100 / total),
            "submittedBy": {"accountId": task.submitted_by},
            "created": jira_time(task.created),
            "updated": jira_time(task.updated),
            "totalIssueCount": total,
        }
        if task.started is not None:
            out["started"] = jira_time(task.started)
        if task.status in TERMINAL:
            out["processedAccessibleIssues"] = list(task.processed)
            out["failedAccessibleIssues"] = {k: list(v) for k, v in task.failed.items()}
            out["invalidOrInaccessibleIssueCount"] = task.invalid
        return out


def my_permissions(state: JiraState, keys: list[str], project: str | None) -> dict[str, Any]:
    """``Permissions`` of the API user for ``keys``."""
    if not keys:
        raise JiraError(400, ["The permissions parameter is required."])
    unknown = [k for k in keys if k not in PERMISSIONS]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    if project is not None and not state.project_matches(project):
        raise JiraError(404, [f"No project could be found with key or id '{project}'."])
    out = {}
    for key in keys:
        pid, name, kind, description = PERMISSIONS[key]
        out[key] = {
            "id": pid,
            "key": key,
            "name": name,
            "type": kind,
            "description": description,
            "havePermission": _held(key, state.settings),
        }
    return {"permissions": out}
