"""Phase 3: reach the target status by walking the workflow.

With the global Bulk change permission the items of a chunk move together, a step
a round (:mod:`engine.pipeline.states_bulk`); otherwise, and for what the bulk rounds
leave (items settling, issues a bulk task failed), each item walks on its own here.
Transition ids come from what the run learned of each workflow
(:mod:`engine.pipeline.workflows`), not from a look-up per issue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine import provenance
from engine.errors import AuthError, PermanentError
from engine.http import OutcomeUnknown
from engine.itembook import Unreachable
from engine.mapping import (
    nearest_status,
)
from engine.model import Status, Transition
from engine.pipeline.limits import PHASE_CHUNK
from engine.pipeline.phase import PhaseResult, pending_items
from engine.pipeline.states_bulk import BulkStates, bulk_permitted
from engine.ports import (
    LedgerEntry,
)

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class TransitionRefused(Exception):
    """Jira refused a transition (400): it is not available from the issue's status."""


class StatesPhase:
    """Phase 3: every item to its mapped status."""

    number = 3
    name = "states"
    chunk_size: int | None = PHASE_CHUNK
    stream_batch: int | None = PHASE_CHUNK  # full chunks: bulk transitions group by the thousand

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        return pending_items(ctx, 3, among)

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        walker = StateWalker(ctx)
        if bulk_permitted(ctx):
            BulkStates(ctx, walker).run(ids)
        else:
            walker.run(ids)
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
                self.set_state(entry, current)
            if looked:
                now_at = current.lower()
                self.ctx.markers.resolve_ambiguous(
                    entry, lambda row: row.id.lower() == now_at, frozenset({"transition"})
                )
            self._walk(entry, type_id, current, goal)
        self.ctx.mark_step(ado_id, 3)

    def set_state(self, entry: LedgerEntry, status: str) -> None:
        with self.ctx.lock:
            entry.state = status
            self.ctx.dirty_ledger.add(entry.ado_id)

    def _walk(self, entry: LedgerEntry, type_id: str, current: str, goal: Status) -> None:
        """BFS over the learned workflow, one transition per step.

        The transitions of a (type, status) come from what the run learned
        (:class:`~engine.pipeline.workflows.WorkflowKnowledge`), asked of Jira only the
        first time; a transition Jira refuses (400) makes it read the issue's status,
        and learn that status's transitions again when the status was right.
        """
        limit = 3 * max(len(self.ctx.jira_statuses(type_id)), 3) + 5
        refused_at: str | None = None
        for _ in range(limit):
            if current.lower() == goal.name.lower():
                return
            self.ctx.check_stop()
            self.ctx.workflows.edges(type_id, current, entry.jira_key)
            step, why = self.ctx.graph.next_step(type_id, current, goal)
            if why == "unreachable":
                fallback = self.fallback(entry, type_id, current, goal)
                if fallback is None or fallback.name.lower() == current.lower():
                    return
                goal = fallback
                continue
            if step is None:  # "arrived" by another spelling: read what Jira says
                current = self._current_status(entry.jira_key)
                continue
            self.ctx.check_stop()
            try:
                self._send(entry, step)
            except TransitionRefused as exc:
                actual = self._current_status(entry.jira_key)
                if actual.lower() != current.lower():  # not where the ledger said
                    current = actual
                    self.set_state(entry, current)
                    continue
                if refused_at == current.lower():
                    raise PermanentError(f"transition refused at '{current}': {exc}") from exc
                refused_at = current.lower()
                self.ctx.workflows.relearn(type_id, current, entry.jira_key)
                continue
            current, refused_at = step.to.name, None
            self.moved(entry, current)
        raise PermanentError(
            f"could not reach status '{goal.name}' in {limit} steps (stuck at '{current}')"
        )

    def _send(self, entry: LedgerEntry, step: Transition) -> None:
        # an OutcomeUnknown goes up: the item waits until the transition has settled,
        # then reads its status again (a late transition must not be sent twice)
        try:
            self.ctx.target.transition(entry.jira_key, step.id)
        except OutcomeUnknown as exc:
            self.ctx.markers.note_ambiguous(entry, exc, "transition", step.to.name)
            raise
        except PermanentError as exc:
            if exc.status == 400 and not isinstance(exc, AuthError):
                raise TransitionRefused(str(exc)) from exc
            raise

    def moved(self, entry: LedgerEntry, status: str) -> None:
        """A transition of ``entry`` landed in ``status``."""
        with self.ctx.lock:
            provenance.note(self.ctx.book(entry), self.ctx.spec.run_id, transitioned=True)
        self.set_state(entry, status)

    def fallback(
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
