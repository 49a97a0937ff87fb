"""The digest of a run's report: what the dashboard pages show of it, bounded in size.

Computed when the engine saves a report (and once for older runs by a data
migration) and stored on the run as versioned JSON, so that pages never read
the report itself: the type and state mappings (one row per ADO type or state),
the field-map suggestions (one row per custom field the run's items use, and the
map that takes them as they come) and, for a rollback, the counts per kind with
the first rows of what was left, failed or not reverted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VERSION = 1
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


@dataclass(frozen=True)
class KindCounts:
    """One row of a rollback's counts: a kind of thing and how many of it went where."""

    label: str
    planned: int = 0
    removed: int = 0
    left: int = 0
    alreadyGone: int = 0  # the report's own name
    failed: int = 0


@dataclass(frozen=True)
class RollbackSummary:
    """A rollback report's counts per kind, how issues were removed, and the first
    ``LIST_ROWS`` rows of each list with how many more the report holds."""

    rows: list[KindCounts]
    method: str = ""
    method_reason: str = ""
    left: list[dict[str, Any]] = field(default_factory=list)
    left_more: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    failed_more: int = 0
    not_reverted: list[dict[str, Any]] = field(default_factory=list)
    not_reverted_more: int = 0

    @property
    def planned(self) -> int:
        return sum(row.planned for row in self.rows)


@dataclass(frozen=True)
class ReportDigest:
    type_mappings: list[dict[str, Any]] = field(default_factory=list)
    state_mappings: list[dict[str, Any]] = field(default_factory=list)
    rollback: RollbackSummary | None = None
    # Digests saved before these were kept read them as empty (same version).
    field_suggestions: list[dict[str, Any]] = field(default_factory=list)
    suggested_field_map: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> ReportDigest:
        """The stored digest; an empty one for no report or another version."""
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return cls()
        rollback = data.get("rollback")
        return cls(
            type_mappings=list(data.get("type_mappings") or []),
            state_mappings=list(data.get("state_mappings") or []),
            rollback=_summary_from_json(rollback) if isinstance(rollback, dict) else None,
            field_suggestions=_rows(data.get("field_suggestions")),
            suggested_field_map=_mapping(data.get("suggested_field_map")),
        )


def _summary_from_json(data: dict[str, Any]) -> RollbackSummary:
    rows = [KindCounts(**row) for row in data.get("rows") or []]
    return RollbackSummary(**{**data, "rows": rows})


def _rows(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _first(report: dict[str, Any], name: str) -> tuple[list[Any], int]:
    listed = _rows(report.get(name))
    return listed[:LIST_ROWS], max(0, len(listed) - LIST_ROWS)


def rollback_summary(report: Any) -> RollbackSummary | None:
    """A rollback report's summary (None while the report has no counts)."""
    if not isinstance(report, dict) or not isinstance(report.get("counts"), dict):
        return None
    counts = report["counts"]
    rows = [
        KindCounts(
            label, **{state: (counts.get(state) or {}).get(kind, 0) for state in COUNT_STATES}
        )
        for kind, label in ROLLBACK_KINDS
    ]
    removal = report.get("issueRemoval") or {}
    left, left_more = _first(report, "left")
    failed, failed_more = _first(report, "failed")
    not_reverted, not_reverted_more = _first(report, "notReverted")
    return RollbackSummary(
        rows=rows,
        method=str(removal.get("method", "")),
        method_reason=str(removal.get("reason", "")),
        left=left,
        left_more=left_more,
        failed=failed,
        failed_more=failed_more,
        not_reverted=not_reverted,
        not_reverted_more=not_reverted_more,
    )


def digest_of(report: Any, *, rollback: bool) -> ReportDigest:
    """What the pages show of ``report`` (an empty digest for no report)."""
    if not isinstance(report, dict):
        return ReportDigest()
    fields = _mapping(report.get("fieldMap"))
    return ReportDigest(
        type_mappings=_rows(report.get("typeMappings")),
        state_mappings=_rows(report.get("stateMappings")),
        rollback=rollback_summary(report) if rollback else None,
        field_suggestions=_rows(fields.get("suggestions")),
        suggested_field_map=_mapping(fields.get("suggestedFieldMap")),
    )
