"""Removing things from Jira, and asking whether they are still there.

Mixed into :class:`engine.jira.JiraClient` (which provides ``http`` and ``_url``).
Used by the verify phase's repairs and by rollbacks (``engine.rollback``).

DELETE is idempotent for Jira's state, but a DELETE re-sent after a lost answer is
a second request for one removal. So every delete takes ``once``: with it, a lost
answer (a timeout after sending, a dropped connection, a 500/502/504) raises
:class:`engine.http.OutcomeUnknown` instead of a blind re-send, and the caller
re-checks with a GET (404 = done) once the first request can no longer land.
Without it (repairs), the transport retries as for any idempotent method. A 404
answer means "already gone": the delete methods return False then, True when
this request removed it.

Bulk delete (``POST /rest/api/3/bulk/issues/delete``, ``submitBulkDelete``) takes
up to 1,000 issues and answers 201 with a ``taskId``; the work is done
asynchronously and followed with ``GET /rest/api/3/bulk/queue/{taskId}``
(``getBulkOperationProgress``). It needs the global *Bulk change* permission
(``BULK_CHANGE``) besides *Delete issues* and *Browse projects*:
:meth:`JiraRemovals.my_permissions` (``GET /rest/api/3/mypermissions``) tells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from engine.errors import AuthError, PermanentError
from engine.http import Transport
from engine.model import BulkProgress

BULK_DELETE_MAX = 1000


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def parse_progress(raw: Any, task_id: str) -> BulkProgress:
    """A ``BulkOperationProgress`` body (ids as numbers or strings)."""
    body = raw if isinstance(raw, dict) else {}
    failed_raw = body.get("failedAccessibleIssues") or {}
    failed = {
        str(k): [str(r) for r in (v if isinstance(v, list) else [v])]
        for k, v in (failed_raw.items() if isinstance(failed_raw, dict) else [])
    }
    return BulkProgress(
        task_id=str(body.get("taskId") or task_id),
        status=str(body.get("status") or "ENQUEUED"),
        percent=int(body.get("progressPercent") or 0),
        processed=tuple(str(i) for i in body.get("processedAccessibleIssues") or []),
        failed=failed,
        invalid_count=int(body.get("invalidOrInaccessibleIssueCount") or 0),
    )


class JiraRemovals:
    """Deletes, existence checks, bulk delete and permissions (see the module docstring)."""

    http: Transport
    _url: Callable[[str], str]

    # ------------------------------------------------------------------ deletes
    def _delete(
        self, path: str, *, what: str, params: Mapping[str, Any] | None = None, once: bool = False
    ) -> bool:
        try:
            self.http.request(
                "DELETE", self._url(path), params=params, what=what, idempotent=not once
            ).close()
        except PermanentError as exc:
            if exc.status != 404 or isinstance(exc, AuthError):
                raise
            return False
        return True

    def delete_issue(self, key: str, *, once: bool = False) -> bool:
        """Sub-tasks are not deleted with it: an issue with sub-tasks answers 400."""
        return self._delete(
            f"/issue/{_seg(key)}",
            params={"deleteSubtasks": "false"},
            what=f"delete {key}",
            once=once,
        )

    def delete_comment(self, key: str, comment_id: str, *, once: bool = False) -> bool:
        return self._delete(
            f"/issue/{_seg(key)}/comment/{_seg(comment_id)}",
            what=f"delete comment {comment_id} of {key}",
            once=once,
        )

    def delete_attachment(self, attachment_id: str, *, once: bool = False) -> bool:
        return self._delete(
            f"/attachment/{_seg(attachment_id)}",
            what=f"delete attachment {attachment_id}",
            once=once,
        )

    def delete_issue_link(self, link_id: str, *, once: bool = False) -> bool:
        return self._delete(
            f"/issueLink/{_seg(link_id)}", what=f"delete issue link {link_id}", once=once
        )

    def delete_remote_link(self, key: str, link_id: str, *, once: bool = False) -> bool:
        return self._delete(
            f"/issue/{_seg(key)}/remotelink/{_seg(link_id)}",
            what=f"delete remote link {link_id} of {key}",
            once=once,
        )

    # ------------------------------------------------------------------ still there?
    def _exists(self, path: str, *, what: str, params: Mapping[str, Any] | None = None) -> bool:
        try:
            self.http.request("GET", self._url(path), params=params, what=what).close()
        except PermanentError as exc:
            if exc.status != 404 or isinstance(exc, AuthError):
                raise
            return False
        return True

    def issue_exists(self, key: str) -> bool:
        return self._exists(f"/issue/{_seg(key)}", params={"fields": "id"}, what=f"issue {key}")

    def comment_exists(self, key: str, comment_id: str) -> bool:
        return self._exists(
            f"/issue/{_seg(key)}/comment/{_seg(comment_id)}", what=f"comment {comment_id} of {key}"
        )

    def attachment_exists(self, attachment_id: str) -> bool:
        return self._exists(
            f"/attachment/{_seg(attachment_id)}", what=f"attachment {attachment_id}"
        )

    def issue_link_exists(self, link_id: str) -> bool:
        return self._exists(f"/issueLink/{_seg(link_id)}", what=f"issue link {link_id}")

    def remote_link_by_global_id(self, key: str, global_id: str) -> dict[str, Any] | None:
        """``GET /issue/{key}/remotelink?globalId=``: the link, or None (404)."""
        try:
            body = self.http.json(
                "GET",
                self._url(f"/issue/{_seg(key)}/remotelink"),
                params={"globalId": global_id},
                what=f"remote link {global_id} of {key}",
            )
        except PermanentError as exc:
            if exc.status != 404 or isinstance(exc, AuthError):
                raise
            return None
        return dict(body) if isinstance(body, dict) else None

    # ------------------------------------------------------------------ permissions, bulk
    def my_permissions(self, project_key: str, keys: Sequence[str]) -> dict[str, bool]:
        """``GET /mypermissions``: permission key -> held, in the project's context."""
        body = (
            self.http.json(
                "GET",
                self._url("/mypermissions"),
                params={"projectKey": project_key, "permissions": ",".join(keys)},
                what="my permissions",
            )
            or {}
        )
        held = body.get("permissions") if isinstance(body, dict) else None
        held = held if isinstance(held, dict) else {}
        return {k: bool((held.get(k) or {}).get("havePermission")) for k in keys}

    def bulk_delete(self, ids_or_keys: Sequence[str]) -> str:
        """Submit a bulk delete (≤ 1,000 issues) without notifications; the task id.

        Not re-sent after a lost answer (``OutcomeUnknown``); 403 (no *Bulk change*
        permission) raises ``AuthError``."""
        if not ids_or_keys or len(ids_or_keys) > BULK_DELETE_MAX:
            raise ValueError(f"bulk delete takes 1 to {BULK_DELETE_MAX} issues")
        body = self.http.json(
            "POST",
            self._url("/bulk/issues/delete"),
            json_body={
                "selectedIssueIdsOrKeys": [str(i) for i in ids_or_keys],
                "sendBulkNotification": False,
            },
            ok=(200, 201),
            what=f"bulk delete {len(ids_or_keys)} issues",
        )
        task_id = str((body or {}).get("taskId") or "") if isinstance(body, dict) else ""
        if not task_id:
            raise PermanentError("bulk delete answered without a taskId", body=body)
        return task_id

    def bulk_progress(self, task_id: str) -> BulkProgress:
        body = self.http.json(
            "GET", self._url(f"/bulk/queue/{_seg(task_id)}"), what=f"bulk task {task_id}"
        )
        return parse_progress(body, task_id)
