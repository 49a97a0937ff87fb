"""The report of a rollback run: what it removes (or, for a dry run, would remove),
what it leaves and why, what it does not revert. A pure function of the plan, so a
resumed or taken-over rollback rebuilds the same report. Keys are camelCase.

``counts`` has, per state, a count per kind (``issues``, ``comments``,
``attachments``, ``links``, ``remoteLinks``): ``planned`` (what the rollback removes:
for a dry run, what it would remove), ``removed`` (done so far), ``left``,
``alreadyGone``, ``failed``. The comments, attachments and links of an issue the
run created count with that issue (they go with it, or stay with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.ports import RollbackSpec
from engine.rollback_plan import RollbackPlan, Target

KIND_NAMES = {
    "issue": "issues",
    "comment": "comments",
    "attachment": "attachments",
    "link": "links",
    "remote_link": "remoteLinks",
}
LISTED_ROWS = 500


def _named(counts: Mapping[str, int]) -> dict[str, int]:
    return {KIND_NAMES[k]: int(n) for k, n in counts.items()}


def _row(t: Target) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": KIND_NAMES[t.kind],
        "adoId": t.ado_id,
        "issue": t.issue_key,
        "id": t.jira_id,
        "state": t.state,
    }
    if t.reason:
        row["reason"] = t.reason
    return row


def build_rollback_report(
    plan: RollbackPlan,
    spec: RollbackSpec,
    *,
    status: str,
    phase: int,
    phases: Mapping[int, str],
    verification: Mapping[str, Any] | None = None,
    exactly_once: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    counts = plan.counts()
    report: dict[str, Any] = {
        "runType": "ROLLBACK",
        "rollbackOf": spec.of_run,
        "dryRun": spec.dry_run,
        "status": status,
        "currentPhase": phase,
        "phases": [{"number": n, "name": name} for n, name in phases.items()],
        "totalItems": len(plan.items),
        "counts": {
            "planned": _named(counts["remove"]),
            "removed": _named(counts["removed"]),
            "left": _named(counts["left"]),
            "alreadyGone": _named(counts["gone"]),
            "failed": _named(counts["failed"]),
        },
        "issueRemoval": {
            "method": "bulk delete" if plan.bulk else "one by one",
            "reason": plan.bulk_reason,
        },
        "left": [_row(t) for t in plan.targets if t.state == "left"][:LISTED_ROWS],
        "failed": [_row(t) for t in plan.targets if t.state == "failed"][:LISTED_ROWS],
        "notReverted": [
            {"adoId": x.ado_id, "issue": x.issue_key, "what": x.what} for x in plan.listed
        ][:LISTED_ROWS],
        "notRemoved": [
            "components and sprints the run created",
            "issue properties and labels of issues that stay",
        ],
        "problems": {"validation": list(dict.fromkeys(plan.problems))},
    }
    if spec.dry_run:
        report["wouldRemove"] = report["counts"]["planned"]
    if verification is not None:
        report["verification"] = dict(verification)
    if exactly_once is not None:
        report["exactlyOnce"] = {what: dict(kinds) for what, kinds in exactly_once.items()}
    return report
