"""Phase 3: reach the target status by walking the workflow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine import provenance
from engine.errors import (
    PermanentError,
)
from engine.http import OutcomeUnknown
from engine.itembook import Unreachable
from engine.mapping import (
    nearest_status,
)
from engine.model import (
    Status,
)
from engine.pipeline.limits import PHASE_CHUNK
from engine.pipeline.phase import PhaseResult, pending_items
from engine.ports import (
    LedgerEntry,
)

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class StatesPhase:
    """Phase 3: every item to its mapped status."""

    number = 3
    name = "states"
    chunk_size: int | None = PHASE_CHUNK

    def items(self, ctx: RunContext) -> list[int]:
        return pending_items(ctx, 3)

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        StateWalker(ctx).run(ids)
        return PhaseResult.of(ctx, self.number, ids)


class StateWalker:
    """Walks each item to its target status, one transition at a time."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, ids: Sequence[int]) -> None:
        self.ctx.pool.run_pool(
            pending_items(self.ctx, 3, ids),
            self._reach_state,
            ids_of=lambda i: [i],
            prepare=lambda ids: self.ctx.markers.save_intents(ids, 3),
        )

    def _current_status(self, key: str) -> str:
        issue = self.ctx.target.get_issue(key, ("status",))
        return str(((issue.get("fields") or {}).get("status") or {}).get("name") or "")

    def _reach_state(self, ado_id: int) -> None:
        item, entry = self.ctx.items[ado_id], self.ctx.ledger[ado_id]
        type_id = str(self.ctx.book(entry).jira_type_id or item.jira_type_id)
        goal = self.ctx.target_status(item, type_id)
        looked = self.ctx.markers.settled_before(3, ado_id)
        if goal is not None:
            current = entry.state
            if not current or self.ctx.resumed or looked:
                current = self._current_status(entry.jira_key)
                self._set_state(entry, current)
            if looked:
                now_at = current.lower()
                self.ctx.markers.resolve_ambiguous(
                    entry, lambda row: row.id.lower() == now_at, frozenset({"transition"})
                )
            self._walk(entry, type_id, current, goal)
        self.ctx.mark_step(ado_id, 3)

    def _set_state(self, entry: LedgerEntry, status: str) -> None:
        with self.ctx.lock:
            entry.state = status
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _walk(self, entry: LedgerEntry, type_id: str, current: str, goal: Status) -> None:
        """BFS over the learned workflow, one transition per step, re-reading each time."""
        limit = 3 * max(len(self.ctx.jira_statuses(type_id)), 3) + 5
        checked = False
        for _ in range(limit):
            if current.lower() == goal.name.lower():
                return
            self.ctx.check_stop()
            available = self.ctx.target.transitions(entry.jira_key)
            known = self.ctx.graph.edges(type_id, current)
            if (
                not checked
                and known is not None
                and {t.id for t in known} != {t.id for t in available}
            ):
                # maybe not where the ledger says (moved by hand, a step lost): look once
                checked, actual = True, self._current_status(entry.jira_key)
                if actual.lower() != current.lower():
                    current = actual
                    self._set_state(entry, current)
                    continue
            self.ctx.graph.learn(type_id, current, available)
            step, why = self.ctx.graph.next_step(type_id, current, goal)
            if why == "unreachable":
                fallback = self._fallback(entry, type_id, current, goal)
                if fallback is None or fallback.name.lower() == current.lower():
                    return
                goal = fallback
                continue
            if step is None or step.id not in {t.id for t in available}:
                current = self._current_status(entry.jira_key)
                continue
            self.ctx.check_stop()
            # an OutcomeUnknown goes up: the item waits until the transition has settled,
            # then reads its status again (a late transition must not be sent twice)
            try:
                self.ctx.target.transition(entry.jira_key, step.id)
            except OutcomeUnknown as exc:
                self.ctx.markers.note_ambiguous(entry, exc, "transition", step.to.name)
                raise
            current, checked = step.to.name, False
            with self.ctx.lock:
                provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, transitioned=True)
            self._set_state(entry, current)
        raise PermanentError(
            f"could not reach status '{goal.name}' in {limit} steps (stuck at '{current}')"
        )

    def _fallback(
        self, entry: LedgerEntry, type_id: str, current: str, goal: Status
    ) -> Status | None:
        reachable = {s.lower() for s in self.ctx.graph.reachable(type_id, current)}
        candidates = [s for s in self.ctx.jira_statuses(type_id) if s.name.lower() in reachable]
        nearest = nearest_status(candidates, goal)
        left_at = nearest.name if nearest else current
        with self.ctx.lock:
            book = self.ctx.book(entry)
            book.unreachable = Unreachable(self.ctx.plan.type_name(type_id), goal.name, left_at)
            book.notes.append(
                f"unreachable status: '{goal.name}' cannot be reached from "
                f"'{current}'; left at '{left_at}'"
            )
            self.ctx.dirty_ledger.add(entry.ado_id)
        return nearest
