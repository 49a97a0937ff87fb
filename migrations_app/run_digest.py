"""The digest of a run's report: what the dashboard pages show of it, bounded in size.

Computed when the engine saves a report (and once for older runs by a data
migration), so that pages never read the report itself: the type and state
mappings (one row per ADO type or state) and, for a rollback, the counts per
kind with the first rows of what was left, failed or not reverted.
"""

from __future__ import annotations

from typing import Any

# Rows kept of each of a rollback's lists; the report page and the API have them all.
LIST_ROWS = 20
ROLLBACK_KINDS = (
    ("issues", "Issues"),
    ("comments", "Comments"),
    ("attachments", "Attachments"),
    ("links", "Issue links"),
    ("remoteLinks", "Remote links"),
)
COUNT_STATES = ("planned", "removed", "left", "alreadyGone", "failed")


def _rows(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def rollback_summary(report: Any) -> dict[str, Any] | None:
    """A rollback report's counts per kind and the first rows of its lists (None
    while it has no counts)."""
    if not isinstance(report, dict) or not isinstance(report.get("counts"), dict):
        return None
    counts = report["counts"]
    rows = [
        {
            "label": label,
            **{state: (counts.get(state) or {}).get(kind, 0) for state in COUNT_STATES},
        }
        for kind, label in ROLLBACK_KINDS
    ]
    removal = report.get("issueRemoval") or {}
    summary: dict[str, Any] = {
        "rows": rows,
        "method": removal.get("method", ""),
        "methodReason": removal.get("reason", ""),
        "planned": sum(r["planned"] for r in rows),
    }
    for name in ("left", "failed", "notReverted"):
        listed = _rows(report.get(name))
        summary[name] = listed[:LIST_ROWS]
        summary[f"{name}More"] = max(0, len(listed) - LIST_ROWS)
    return summary


def digest_of(report: Any, *, rollback: bool) -> dict[str, Any]:
    """What the pages show of ``report`` (an empty dict for no report)."""
    if not isinstance(report, dict):
        return {}
    digest: dict[str, Any] = {
        "typeMappings": _rows(report.get("typeMappings")),
        "stateMappings": _rows(report.get("stateMappings")),
    }
    summary = rollback_summary(report) if rollback else None
    if summary is not None:
        digest["rollback"] = summary
    return digest
