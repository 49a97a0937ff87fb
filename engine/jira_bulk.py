"""Bulk transitions: many issues moved in one asynchronous Jira request.

Mixed into :class:`engine.jira.JiraClient` (which provides ``http`` and ``_url``).

``POST /rest/api/3/bulk/issues/transition`` (``submitBulkTransition``) takes
``bulkTransitionInputs`` (each: the ids or keys of issues that share a workflow, and
the id of the transition to take) for up to 1,000 issues in all, and
``sendBulkNotification`` (sent as false: a migration notifies nobody). It answers
201 with a ``taskId``; the work is done asynchronously and followed with
``GET /rest/api/3/bulk/queue/{taskId}`` (``getBulkOperationProgress``, see
:meth:`engine.jira_removals.JiraRemovals.bulk_progress`), whose
``processedAccessibleIssues`` and ``failedAccessibleIssues`` say, per issue id, what
was done. It needs the global *Bulk change* permission (``BULK_CHANGE``, asked with
``GET /mypermissions``); without it the answer is 403, raised as ``AuthError``.

:meth:`JiraBulk.statuses` reads the status of up to 100 issues a request with
``POST /rest/api/3/issue/bulkfetch`` (``getIssues``), which reads the issues
themselves, not the search index (which may lag behind a transition).

The submit is not idempotent: a lost answer raises
:class:`engine.http.OutcomeUnknown` and nothing is sent again; the caller reads the
issues' statuses once the task can no longer be running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.errors import PermanentError
from engine.http import Transport
from engine.model import BulkTransitionInput

BULK_TRANSITION_MAX = 1000
BULK_FETCH_MAX = 100


class JiraBulk:
    """``submitBulkTransition`` (see the module docstring)."""

    http: Transport
    _url: Callable[[str], str]

    def bulk_transition(self, inputs: Sequence[BulkTransitionInput]) -> str:
        """Submit a bulk transition (≤ 1,000 issues in all) without notifications; the
        task id."""
        total = sum(len(i.issues) for i in inputs)
        if not inputs or any(not i.issues for i in inputs) or total > BULK_TRANSITION_MAX:
            raise ValueError(f"bulk transition takes 1 to {BULK_TRANSITION_MAX} issues")
        body = self.http.json(
            "POST",
            self._url("/bulk/issues/transition"),
            json_body={
                "bulkTransitionInputs": [
                    {
                        "selectedIssueIdsOrKeys": [str(k) for k in i.issues],
                        "transitionId": str(i.transition_id),
                    }
                    for i in inputs
                ],
                "sendBulkNotification": False,
            },
            ok=(200, 201),
            what=f"bulk transition {total} issues",
        )
        task_id = str(body.get("taskId") or "") if isinstance(body, dict) else ""
        if not task_id:
            raise PermanentError("bulk transition answered without a taskId", body=body)
        return task_id

    def statuses(self, keys: Sequence[str]) -> dict[str, str]:
        """Issue key -> status name, read with bulk fetch (≤ 100 keys a request); an
        issue Jira did not return is left out."""
        out: dict[str, str] = {}
        for start in range(0, len(keys), BULK_FETCH_MAX):
            part = [str(k) for k in keys[start : start + BULK_FETCH_MAX]]
            body = self.http.json(
                "POST",
                self._url("/issue/bulkfetch"),
                json_body={"issueIdsOrKeys": part, "fields": ["status"]},
                idempotent=True,
                what=f"statuses of {len(part)} issues",
            )
            issues: list[Any] = body.get("issues") or [] if isinstance(body, dict) else []
            for issue in issues:
                status = ((issue.get("fields") or {}).get("status") or {}).get("name")
                if issue.get("key") and status:
                    out[str(issue["key"])] = str(status)
        return out
