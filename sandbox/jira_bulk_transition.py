"""The simulated Jira's bulk transition: ``POST /rest/api/3/bulk/issues/transition``.

As the platform spec has it (``submitBulkTransition``):

- body ``IssueBulkTransitionPayload``: ``bulkTransitionInputs`` (required), a list of
  ``BulkTransitionSubmitInput`` (``selectedIssueIdsOrKeys`` and ``transitionId``, both
  required, nothing else), and ``sendBulkNotification`` (nullable boolean, default
  true); at most 1,000 issues in all ("You can transition up to 1,000 issues in a
  single operation");
- 201 ``SubmittedBulkOperation`` (``{"taskId"}``), followed with
  ``GET /rest/api/3/bulk/queue/{taskId}`` (served by :mod:`sandbox.jira_bulk`, the
  same queue as bulk delete);
- 400 for a bad body, or when an id or key names no issue (the spec's example: "Some
  of the issues in the issueIdsOrKeys are not valid"), 403 without the global *Bulk
  change* permission (the ``bulk_change_permission`` setting); both as
  ``BulkOperationErrorResponse`` (``{"errors": [{"message"}]}``).

The work is done by a background thread, ``bulk_transition_ms_per_issue`` (a
setting) per issue. Each issue's transition is validated as the single transition
endpoint validates it (available from the issue's status at that moment, by its
workflow); one that is not fails (``failedAccessibleIssues``, with the reason) and the
issue stays where it is. Each transition counts in the ``transitions`` write counter,
each task in ``bulk_transitions``, and each task that asked for notifications in
``bulk_notifications``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sandbox.httpbase import Request, Response
from sandbox.jira_bulk import BulkTask, bulk_error
from sandbox.jira_routes import API, JiraRoutes, ok
from sandbox.jira_state import JiraError, JiraState, now_ms

BULK_TRANSITION_LIMIT = 1000
ROUTE = API + "/bulk/issues/transition"
INPUT_KEYS = {"selectedIssueIdsOrKeys", "transitionId"}


def _inputs(body: Any) -> list[tuple[str, str]]:
    """(issue id or key, transition id) pairs of a valid payload, or a 400."""
    if not isinstance(body, dict):
        raise bulk_error(400, "The request body must be an IssueBulkTransitionPayload object.")
    unknown = sorted(set(body) - {"bulkTransitionInputs", "sendBulkNotification"})
    if unknown:
        raise bulk_error(400, f"Unrecognized field(s): {', '.join(unknown)}.")
    notify = body.get("sendBulkNotification")
    if notify is not None and not isinstance(notify, bool):
        raise bulk_error(400, "sendBulkNotification must be a boolean.")
    inputs = body.get("bulkTransitionInputs")
    if not isinstance(inputs, list) or not inputs:
        raise bulk_error(400, "bulkTransitionInputs must list the issues and their transition.")
    pairs: list[tuple[str, str]] = []
    for number, row in enumerate(inputs):
        pairs.extend(_input(number, row))
    if len(pairs) > BULK_TRANSITION_LIMIT:
        raise bulk_error(
            400, f"You can transition at most {BULK_TRANSITION_LIMIT} issues in one operation."
        )
    return pairs


def _input(number: int, row: Any) -> list[tuple[str, str]]:
    where = f"bulkTransitionInputs[{number}]"
    if not isinstance(row, dict):
        raise bulk_error(400, f"{where} must be a BulkTransitionSubmitInput object.")
    extra, missing = sorted(set(row) - INPUT_KEYS), sorted(INPUT_KEYS - set(row))
    if extra:
        raise bulk_error(400, f"{where}: unrecognized field(s): {', '.join(extra)}.")
    if missing:
        raise bulk_error(400, f"{where}: missing {', '.join(missing)}.")
    refs, tid = row["selectedIssueIdsOrKeys"], row["transitionId"]
    if not isinstance(tid, str) or not tid.strip():
        raise bulk_error(400, f"{where}.transitionId must be a transition id (a string).")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise bulk_error(400, f"{where}.selectedIssueIdsOrKeys must list issue ids or keys.")
    return [(ref, tid.strip()) for ref in refs]


def submit_bulk_transition(state: JiraState, body: Any) -> BulkTask:
    pairs = _inputs(body)
    if not state.settings.bulk_change_permission:
        raise bulk_error(403, "You don't have the global Bulk change permission.")
    with state.lock:
        if any(state.find_issue(ref) is None for ref, _ in pairs):
            raise bulk_error(400, "Some of the issues in the issueIdsOrKeys are not valid")
        now = now_ms()
        refs = [ref for ref, _ in pairs]
        task = BulkTask(
            str(state.next_id("task")), state.me.jira_account_id, refs, now, updated=now
        )
        state.bulk_tasks[task.id] = task
        state.writes["bulk_transitions"] += 1
        if body.get("sendBulkNotification", True) is not False:
            state.writes["bulk_notifications"] += 1
    threading.Thread(
        target=_work, args=(state, task, pairs), name=f"bulk-transition-{task.id}", daemon=True
    ).start()
    return task


def _work(state: JiraState, task: BulkTask, pairs: list[tuple[str, str]]) -> None:
    delay = max(0, state.settings.bulk_transition_ms_per_issue) / 1000
    with state.lock:
        task.status, task.started = "RUNNING", now_ms()
        task.updated = task.started
    seen: set[int] = set()
    for ref, tid in pairs:
        if delay:
            time.sleep(delay)
        with state.lock:
            issue = state.find_issue(ref)
            if issue is None:  # deleted since the request
                task.invalid += 1
            elif issue.id in seen:
                task.failed[str(issue.id)] = ["The issue is selected more than once."]
            else:
                seen.add(issue.id)
                try:
                    state.do_transition(str(issue.id), {"transition": {"id": tid}})
                    task.processed.append(issue.id)
                except JiraError as exc:
                    task.failed[str(issue.id)] = list(exc.messages) or ["Not transitioned."]
            task.updated = now_ms()
    with state.lock:
        task.status, task.updated = "COMPLETE", now_ms()


class BulkTransitionRoutes(JiraRoutes):
    """``POST /rest/api/3/bulk/issues/transition`` (the queue route is bulk delete's);
    registered by the app as :class:`sandbox.jira_limit_routes.LimitRoutes` is."""

    def submit(self, request: Request) -> Response:
        task = submit_bulk_transition(self.state, request.json())
        return ok({"taskId": task.id}, 201)
