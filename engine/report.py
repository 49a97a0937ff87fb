"""The run report: what was mapped, how, what went wrong and what could not be carried.

It is a pure function of what the run persisted: the plan (``RunPlan``: mappings, preflight
problems, the items in order), the per-run item rows and, per item, the facts
the pipeline keeps in the item's book (``engine.itembook``: content rules and notes,
unmapped users, oversized attachments, an unreachable status), folded one item at a
time into a :class:`FactTally`. So a resumed or taken-over run rebuilds the same
report, and the report is saved again at the end of each phase. Keys are camelCase,
like the rest of the API.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from engine.itembook import ItemBook
from engine.planning import PlannedItem
from engine.ports import ItemRecord

if TYPE_CHECKING:
    from engine.pipeline.runplan import RunPlan

PHASES: dict[int, str] = {
    1: "discover and plan",
    2: "create issues",
    3: "reach target states",
    4: "comments and attachments",
    5: "links",
    6: "verify",
}
NOTE_EXAMPLES = 5


def phase_list() -> list[dict[str, Any]]:
    return [{"number": n, "name": name} for n, name in PHASES.items()]


def _type_mappings(plan: RunPlan) -> list[dict[str, Any]]:
    return [
        {
            "adoType": m.ado_type,
            "jiraType": m.jira_type,
            "jiraTypeId": m.jira_type_id,
            "source": m.source,
            "reason": m.reason,
            "confidence": m.confidence,
            "standaloneType": m.standalone_type or None,
        }
        for m in plan.type_mappings.values()
    ]


def _state_mappings(plan: RunPlan) -> list[dict[str, Any]]:
    return [
        {
            "adoType": m.ado_type,
            "adoState": m.ado_state,
            "adoCategory": m.ado_category,
            "jiraType": m.jira_type,
            "jiraStatus": m.jira_status,
            "source": m.source,
            "reason": m.reason,
            "confidence": m.confidence,
        }
        for m in plan.state_mappings
    ]


def _counts(items: Sequence[PlannedItem], records: Mapping[int, ItemRecord]) -> dict[str, Any]:
    counts: dict[str, dict[str, Any]] = {}
    for item in items:
        row = counts.setdefault(item.ado_type, {"jiraType": item.jira_type, "total": 0})
        row["total"] += 1
        record = records.get(item.ado_id)
        status = (record.status if record else "PENDING").lower()
        row[status] = row.get(status, 0) + 1
    return counts


def note_rule(note: str) -> str:
    """A note's rule: the text before its colon ("field:Custom.Customer: …" keeps both parts)."""
    if note.startswith("field:"):
        parts = note.split(":", 2)
        return ":".join(parts[:2]) if len(parts) == 3 else "field"
    return note.split(":", 1)[0] if ":" in note[:40] else "other"


def _field_map(plan: RunPlan) -> dict[str, Any]:
    """The field map used, the suggestions (also as a ``field_map`` to send back), problems."""
    info = plan.fields
    return {
        "source": "override" if info.explicit else "suggestions only",
        "entries": [
            {
                "adoField": m.ado.reference_name,
                "adoName": m.ado.name,
                "adoType": m.ado.value_type,
                "jiraField": m.jira.id,
                "jiraName": m.jira.name,
                "jiraType": m.jira.kind,
                "values": dict(m.values),
                "source": m.source,
            }
            for m in info.mapped
        ],
        "suggestions": [
            {
                "adoField": s.suggestion.ado_field,
                "adoName": s.suggestion.ado_name,
                "jiraField": s.suggestion.jira_field_id,
                "jiraName": s.suggestion.jira_name,
                "reason": s.suggestion.reason,
                "confidence": s.suggestion.confidence,
                "values": dict(s.values),
                "unmatchedValues": list(s.unmatched_values),
            }
            for s in info.suggestions
        ],
        "suggestedFieldMap": info.suggested_field_map(),
        "unmatched": list(info.unmatched),
        "problems": [
            {"code": p.code, "adoField": p.ado_field, "message": p.message} for p in info.problems
        ],
        "usersMapped": len(info.mapped_users),
    }


class FactTally:
    """The report's per-item facts folded one item at a time (:meth:`add`), so a report
    of a large run never needs every item's book at once.

    Fidelity, per rule: how many items it touched, and what could not be carried.
    Content rules come from the create payload (``rules``/``notes``); what the write
    phases did (attachments, comments, sprint moves, links, remote links) from
    ``write_rules``/``write_notes``. A note's rule is the text before its colon.
    Problems: unmapped users, oversized attachments, images not fetched and
    unreachable statuses, with the items they concern.
    """

    def __init__(self) -> None:
        self.touched: Counter[str] = Counter()
        self.notes: dict[str, Counter[str]] = defaultdict(Counter)
        self.users: Counter[str] = Counter()
        self.oversized: list[dict[str, Any]] = []
        self.not_fetched: list[dict[str, Any]] = []
        self.unreachable: dict[tuple[str, str], dict[str, Any]] = {}

    @classmethod
    def of(cls, facts: Mapping[int, ItemBook]) -> FactTally:
        tally = cls()
        for ado_id, fact in facts.items():
            tally.add(ado_id, fact)
        return tally

    def add(self, ado_id: int, fact: ItemBook) -> None:
        for rule in set(fact.rules) | set(fact.write_rules):
            self.touched[rule] += 1
        for note in [*fact.notes, *fact.write_notes]:
            self.notes[note_rule(note)][note] += 1
        self.users.update(set(fact.unmapped_users))
        for att in fact.skipped_attachments:
            self.oversized.append({"adoId": ado_id, **att.to_dict()})
        for image in fact.images_not_fetched:
            self.not_fetched.append({"adoId": ado_id, "url": image.url, "reason": image.reason})
        stuck = fact.unreachable
        if stuck is not None:
            key = (stuck.jira_type, stuck.status)
            row = self.unreachable.setdefault(key, {**stuck.to_dict(), "items": 0, "adoIds": []})
            row["items"] += 1
            if len(row["adoIds"]) < 20:
                row["adoIds"].append(ado_id)

    def fidelity(self) -> dict[str, Any]:
        rules = sorted(set(self.touched) | set(self.notes))
        return {
            rule: {
                "items": self.touched.get(rule, 0),
                "notCarried": sum(self.notes[rule].values()),
                "examples": [n for n, _ in self.notes[rule].most_common(NOTE_EXAMPLES)],
            }
            for rule in rules
        }


def _problems(
    plan: RunPlan,
    records: Mapping[int, ItemRecord],
    facts: FactTally,
) -> dict[str, Any]:
    planned = {i.ado_id for i in plan.items}
    failed = [
        {"adoId": r.ado_id, "adoType": r.ado_type, "error": r.error, "attempts": r.attempts}
        for r in records.values()
        if r.status == "FAILED" and r.ado_id in planned
    ]
    return {
        "validation": list(dict.fromkeys(plan.problems)),
        "unmappedUsers": [{"email": e, "items": n} for e, n in sorted(facts.users.items())],
        "oversizedAttachments": facts.oversized,
        # content URLs on another origin than Azure DevOps: never fetched, kept as links
        "imagesNotFetched": facts.not_fetched,
        "unreachableStatuses": list(facts.unreachable.values()),
        "failedItems": failed,
    }


def _components(plan: RunPlan) -> dict[str, Any]:
    info = plan.components
    return {
        "mode": info.mode,
        "reason": info.reason,
        "created": list(info.created),
        "existing": list(info.existing),
        "wouldCreate": list(info.would_create),
        "notCreated": list(info.not_created),
        "areas": dict(info.by_path),
    }


def _sprints(plan: RunPlan) -> dict[str, Any]:
    info = plan.sprints
    rows = [
        {
            "iterationPath": path,
            "sprint": e.name,
            "sprintId": e.id,
            "state": e.state,
            "created": e.created,
            "start": e.start,
            "finish": e.finish,
        }
        for path, e in sorted(info.by_path.items())
    ]
    return {
        "mode": info.mode,
        "reason": info.reason,
        "boardId": info.board_id,
        "sprints": rows,
        "wouldCreate": list(info.would_create),
        "itemsToMove": len(plan.sprint_of),
    }


def build_report(
    plan: RunPlan,
    records: Mapping[int, ItemRecord],
    facts: Mapping[int, ItemBook] | FactTally,
    *,
    status: str,
    phase: int,
    verification: Mapping[str, Any] | None = None,
    samples: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report saved with ``store.save_report`` (see the module docstring)."""
    items = plan.items
    tally = facts if isinstance(facts, FactTally) else FactTally.of(facts)
    removed = [i.ado_id for i in items if i.state_category == "Removed"]
    report: dict[str, Any] = {
        "runType": plan.run_type,
        "dryRun": plan.dry_run,
        "status": status,
        "currentPhase": phase,
        "phases": phase_list(),
        "project": asdict(plan.project),
        "totalItems": len(items),
        "typeMappings": _type_mappings(plan),
        "stateMappings": _state_mappings(plan),
        "countsPerType": _counts(items, records),
        "problems": _problems(plan, records, tally),
        "removedItems": {
            "policy": "skipped",
            "reason": "removed in Azure DevOps",
            "adoIds": removed,
        },
        "fidelity": tally.fidelity(),
        "components": _components(plan),
        "sprints": _sprints(plan),
        "fieldMap": _field_map(plan),
    }
    if verification is not None:
        report["verification"] = dict(verification)
    if samples:
        report["samplePayloads"] = list(samples)
    return report
