"""Phase 6: verify what Jira holds against the plan; repair copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine import provenance
from engine.comments import comment_marker_of
from engine.errors import AuthError, EngineError
from engine.pipeline.limits import SEARCH_CHUNK, VERIFY_FIELDS
from engine.pipeline.phase import PhaseResult
from engine.pipeline.util import label_jql
from engine.planning import chunks
from engine.ports import LedgerEntry
from engine.repair import Copy, attachment_copies, comment_copies, issue_copies, link_copies

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class VerifyPhase:
    """Phase 6: count what Jira holds against the plan, repair copies."""

    number = 6
    name = "verify"
    chunk_size: int | None = None  # one verification over every item
    stream_batch: int | None = None

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        return [i for i in (ctx.order if among is None else among) if i in ctx.ledger]

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        Verifier(ctx).run(ids)
        return PhaseResult.of(ctx, self.number, ids)


class Verifier:
    """Searches Jira for every item, stamps provenance, removes copies."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, ids: Sequence[int]) -> None:
        expected = {i: self.ctx.ledger[i].jira_key for i in ids if i in self.ctx.ledger}
        found: dict[int, list[dict[str, Any]]] = {}
        for part in chunks(sorted(expected), SEARCH_CHUNK):
            for issue in self.ctx.target.search(
                label_jql(self.ctx.spec.project_key, part), fields=VERIFY_FIELDS
            ):
                for ado_id in self.ctx.markers.ado_ids_of(issue, set(part)):
                    found.setdefault(ado_id, []).append(issue)
            self.ctx.checkpointer.checkpoint()
            self.ctx.raise_if_stopped()
        me = self.ctx.plan.account_id
        copies: list[Copy] = []
        for ado_id, hits in found.items():
            self._stamp(ado_id, [h for h in hits if str(h.get("key")) == expected[ado_id]])
            if len(hits) > 1:
                copies += issue_copies(ado_id, expected[ado_id], hits, me)
        suspects = [i for i in expected if self.ctx.book(self.ctx.ledger[i]).suspect]
        for ado_id in suspects:
            copies += self._content_copies(self.ctx.ledger[ado_id], me)
            self.ctx.checkpointer.checkpoint()
            self.ctx.raise_if_stopped()
        self._repair(copies)
        self._restamp_repaired(copies)
        self.ctx.plan.repairs = self.ctx.repairs_base + self.ctx.repairs
        with self.ctx.lock:
            for ado_id in suspects:
                self.ctx.book(self.ctx.ledger[ado_id]).suspect = False
                self.ctx.dirty_ledger.add(ado_id)
        keys = {i: [str(h.get("key")) for h in hits] for i, hits in found.items()}
        removed = {
            r["duplicate"] for r in self.ctx.repairs if r["removed"] and r["kind"] == "issue"
        }
        left = {i: [k for k in ks if k not in removed] for i, ks in keys.items()}
        missing = sorted(i for i in expected if i not in found)
        duplicates = {str(i): ks for i, ks in left.items() if len(ks) > 1}
        moved = {
            str(i): {"ledger": expected[i], "jira": ks}
            for i, ks in left.items()
            if expected[i] not in ks
        }
        failed = [i for i in self.ctx.order if self.ctx.records[i].status == "FAILED"]
        self.ctx.verification = {
            "method": "search/jql on the ado-{id} labels; comments, files and links of the "
            "items an ambiguous write touched",
            "planned": len(self.ctx.items),
            "expectedInJira": len(expected),
            "foundInJira": len(found),
            "missing": missing,
            "duplicates": duplicates,
            "keyMismatches": moved,
            "failedItems": len(failed),
            "itemsChecked": len(suspects),
            "repaired": sum(1 for r in self.ctx.repairs if r["removed"]),
            "leftForReview": sum(1 for r in self.ctx.repairs if not r["removed"]),
            "ok": not missing and not duplicates and not moved,
        }
        for ado_id in missing:
            self.ctx.plan.problems.append(
                f"verify: ADO #{ado_id} ({expected[ado_id]}) not found in Jira"
            )
        for dup_id, dup_keys in duplicates.items():
            self.ctx.plan.problems.append(f"verify: ADO #{dup_id} has several issues: {dup_keys}")
        self.ctx.log(
            f"Verify: {len(found)} of {len(expected)} issues found in Jira"
            + (
                f"; {self.ctx.verification['repaired']} duplicate(s) removed"
                if self.ctx.verification["repaired"]
                else ""
            )
            + ("" if self.ctx.verification["ok"] else " (see the report)")
        )

    def _stamp(self, ado_id: int, hits: Sequence[Mapping[str, Any]]) -> None:
        """Jira's ``updated`` after the run's last write (engine.provenance)."""
        updated = str(((hits[0].get("fields") or {}) if hits else {}).get("updated") or "")
        with self.ctx.lock:
            entry = self.ctx.ledger[ado_id]
            book = self.ctx.book(entry)
            if updated and provenance.writes_of(book, self.ctx.spec.run_id) is not None:
                provenance.stamp(book, self.ctx.spec.run_id, updated)
                self.ctx.dirty_ledger.add(ado_id)

    def _restamp_repaired(self, copies: Sequence[Copy]) -> None:
        """A removed duplicate comment, file or link moved its issue's ``updated`` on."""
        removed = {r["issue"] for r in self.ctx.repairs if r["removed"] and r["kind"] != "issue"}
        for copy in copies:
            if copy.jira_key not in removed or copy.ado_id not in self.ctx.ledger:
                continue
            removed.discard(copy.jira_key)
            try:
                issue = self.ctx.target.get_issue(copy.jira_key, ("updated",))
            except EngineError:
                continue  # no stamp: a rollback falls back to the worker's clock
            self._stamp(copy.ado_id, [issue])

    def _content_copies(self, entry: LedgerEntry, me: str) -> list[Copy]:
        """Duplicate comments, files and links on one issue an ambiguous write touched."""
        by_marker: dict[str, list[dict[str, Any]]] = {}
        for c in self.ctx.target.comments(entry.jira_key):
            cid = comment_marker_of(c.get("body"))
            if cid is not None:
                by_marker.setdefault(cid, []).append(c)
        issue = self.ctx.target.get_issue(entry.jira_key, ("attachment", "issuelinks"))
        fields = issue.get("fields") or {}
        return [
            *comment_copies(entry.ado_id, entry.jira_key, by_marker, entry.comments, me),
            *attachment_copies(
                entry.ado_id, entry.jira_key, fields.get("attachment") or [], entry.attachments, me
            ),
            *link_copies(entry.ado_id, entry.jira_key, fields.get("issuelinks") or []),
        ]

    def _repair(self, copies: Sequence[Copy]) -> None:
        """Remove the copies that may go; list every one in the report."""
        removers: dict[str, Callable[[Copy], bool]] = {
            "issue": lambda c: self.ctx.target.delete_issue(c.copy_id),
            "comment": lambda c: self.ctx.target.delete_comment(c.jira_key, c.copy_id),
            "attachment": lambda c: self.ctx.target.delete_attachment(c.copy_id),
            "link": lambda c: self.ctx.target.delete_issue_link(c.copy_id),
        }
        for copy in copies:
            self.ctx.raise_if_stopped()
            if not copy.removable:
                self.ctx.repairs.append(copy.to_dict(removed=False))
                continue
            try:
                removers[copy.kind](copy)
            except AuthError as exc:
                self.ctx.repairs.append(copy.to_dict(removed=False, error=f"not allowed: {exc}"))
                continue
            except EngineError as exc:
                self.ctx.repairs.append(copy.to_dict(removed=False, error=str(exc)[:300]))
                continue
            self.ctx.repairs.append(copy.to_dict(removed=True))
            self.ctx.settle.count("repaired", copy.kind)
            self.ctx.log(
                f"✓ repaired: duplicate {copy.kind} {copy.copy_id} of ADO #{copy.ado_id} "
                f"removed (kept {copy.kept})"
            )
