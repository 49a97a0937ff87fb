"""Phase 3 in bulk: a chunk's items moved a step at a time, up to 1,000 a request.

Used when the account holds the global *Bulk change* permission (asked once per run
with ``GET /mypermissions``); without it every item walks on its own
(:class:`engine.pipeline.states.StateWalker`). Each round groups the items still
short of their target by (issue type, current status, next transition) into
``bulkTransitionInputs`` (one input per group, at most 1,000 issues a request,
``sendBulkNotification: false``), submits them and polls the task
(``GET /bulk/queue/{taskId}``). Issues the task moved take the next step in the next
round; issues it failed, and whatever the round could not plan, fall back to the
per-issue walker.

Exactly once: the intents are saved before a request leaves. A request whose answer
was lost (``OutcomeUnknown``), a task that could not be followed to its end, or a
stop while it runs leaves its items *settling* (``engine.settle``, one mark per
item, of kind "transition"): the per-issue walker holds them until the deadline,
then reads their statuses and goes on from there; nothing that may have landed is
sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import AuthError, PermanentError, StopRequested, TransientError
from engine.http import OutcomeUnknown
from engine.model import BulkProgress, BulkTransitionInput, Status, Transition
from engine.pipeline.phase import pending_items
from engine.pipeline.stops import Interrupted
from engine.settle import phase_key

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext
    from engine.pipeline.states import StateWalker

BULK_TRANSITION_MAX = 1000
TASK_WAIT_SECONDS = 600.0  # a task not done by then is treated as an unknown outcome
FIRST_POLL, MAX_POLL = 0.05, 1.0


@dataclass
class BulkRequest:
    """One ``submitBulkTransition``: per transition id its items, and each item's step."""

    groups: list[tuple[str, list[int]]] = field(default_factory=list)  # (transition, ids)
    steps: dict[int, Transition] = field(default_factory=dict)  # ado id -> step

    @property
    def size(self) -> int:
        return len(self.steps)


def bulk_permitted(ctx: RunContext) -> bool:
    """Whether the account may bulk transition (asked once per run)."""
    if ctx.bulk_transitions is None:
        try:
            held = ctx.target.my_permissions(ctx.spec.project_key, ["BULK_CHANGE"])
            ctx.bulk_transitions = bool(held.get("BULK_CHANGE"))
        except (PermanentError, TransientError) as exc:
            ctx.log(f"Bulk change permission unknown ({str(exc)[:120]}): one issue at a time")
            ctx.bulk_transitions = False
        if not ctx.bulk_transitions:
            ctx.log("No global Bulk change permission: statuses are reached one issue at a time")
    return ctx.bulk_transitions


class BulkStates:
    """Rounds of bulk transitions over one chunk; the rest goes to the walker."""

    def __init__(self, ctx: RunContext, walker: StateWalker) -> None:
        self.ctx = ctx
        self.walker = walker
        self.goals: dict[int, Status] = {}

    def run(self, ids: Sequence[int]) -> None:
        todo = pending_items(self.ctx, 3, ids)
        settling = {i for i in todo if self.ctx.settle.get(phase_key(3, i)) is not None}
        bulk = [i for i in todo if i not in settling]
        left = set(self._rounds(bulk)) if bulk else set()
        self.walker.run([i for i in todo if i in settling or i in left])

    # ------------------------------------------------------------------ rounds
    def _rounds(self, ids: list[int]) -> list[int]:
        """Bulk rounds until every item arrived; the ids left to the per-issue walker."""
        self.ctx.markers.save_intents(ids, 3)
        self._read_statuses([i for i in ids if self.ctx.resumed or not self.ctx.ledger[i].state])
        left = [i for i in ids if not self.ctx.ledger[i].state]  # not read: the walker reads
        active = [i for i in ids if i not in left and self._goal(i)]
        limit = 3 * max((len(self.ctx.jira_statuses(self._type(i))) for i in ids), default=3) + 5
        for _ in range(limit):
            active = [i for i in active if not self._arrived(i)]
            if not active or self.ctx.stops.is_set():
                break
            requests, unplanned, waiting = self._plan(active)
            left.extend(unplanned)
            active = waiting
            for request in requests:
                if self.ctx.stops.is_set():
                    left.extend(request.steps)
                    continue
                moved, failed = self._submit(request)
                active.extend(moved)
                left.extend(failed)
        return left + [i for i in active if not self._arrived(i)]

    def _type(self, ado_id: int) -> str:
        entry = self.ctx.ledger[ado_id]
        return str(self.ctx.book(entry).jira_type_id or self.ctx.items[ado_id].jira_type_id)

    def _goal(self, ado_id: int) -> bool:
        goal = self.ctx.target_status(self.ctx.items[ado_id], self._type(ado_id))
        if goal is None:
            self.ctx.mark_step(ado_id, 3)
            return False
        self.goals[ado_id] = goal
        return True

    def _arrived(self, ado_id: int) -> bool:
        if self.ctx.ledger[ado_id].state.lower() == self.goals[ado_id].name.lower():
            self.ctx.mark_step(ado_id, 3)
            return True
        return False

    def _read_statuses(self, ids: list[int]) -> None:
        """Statuses from the issues themselves (bulk fetch, 100 a request)."""
        if not ids:
            return
        keys = {self.ctx.ledger[i].jira_key: i for i in ids}
        try:
            found = self.ctx.target.statuses(list(keys))
        except (PermanentError, TransientError, StopRequested) as exc:
            self.ctx.log(f"Statuses not read in bulk ({str(exc)[:120]}): read one at a time")
            for ado_id in ids:
                self.walker.set_state(self.ctx.ledger[ado_id], "")
            return
        for key, ado_id in keys.items():
            if key in found:
                self.walker.set_state(self.ctx.ledger[ado_id], found[key])

    # ------------------------------------------------------------------ planning
    def _plan(self, active: list[int]) -> tuple[list[BulkRequest], list[int], list[int]]:
        """This round's requests, the items for the walker, and the items that wait.

        A step on a known path is taken by every item it serves. A step that only
        explores (the path to the target is not known yet) is taken by one item of
        each (type, status, target): the others wait a round for what it finds, so a
        wrong guess costs one issue a detour, not all of them.
        """
        groups: dict[tuple[str, str, str], list[tuple[int, Transition]]] = {}
        unplanned: list[int] = []
        waiting: list[int] = []
        explorers: set[tuple[str, str, str]] = set()
        for ado_id in active:
            try:
                step, why = self._next_step(ado_id)
            except (PermanentError, TransientError, StopRequested):
                unplanned.append(ado_id)  # the walker tries again and says what went wrong
                continue
            if step is None:
                if not self.ctx.step_done(ado_id, 3):
                    unplanned.append(ado_id)
                continue
            type_id, current = self._type(ado_id), self.ctx.ledger[ado_id].state.lower()
            if why == "explore":
                scout = (type_id, current, self.goals[ado_id].name.lower())
                if scout in explorers:
                    waiting.append(ado_id)
                    continue
                explorers.add(scout)
            groups.setdefault((type_id, current, step.id), []).append((ado_id, step))
        return self._pack(groups), unplanned, waiting

    def _next_step(self, ado_id: int) -> tuple[Transition | None, str]:
        """The item's next step and why (path or explore); no step when it is done here
        (left where it is) or the per-issue walker must take over."""
        entry, type_id = self.ctx.ledger[ado_id], self._type(ado_id)
        for _ in range(3):  # a fallback goal replaces an unreachable one at most once or twice
            current, goal = entry.state, self.goals[ado_id]
            if current.lower() == goal.name.lower():
                self.ctx.mark_step(ado_id, 3)
                return None, "arrived"
            self.ctx.workflows.edges(type_id, current, entry.jira_key)
            step, why = self.ctx.graph.next_step(type_id, current, goal)
            if why != "unreachable":
                return step, why
            fallback = self.walker.fallback(entry, type_id, current, goal)
            if fallback is None or fallback.name.lower() == current.lower():
                self.ctx.mark_step(ado_id, 3)
                return None, "unreachable"
            self.goals[ado_id] = fallback
        return None, "unreachable"

    @staticmethod
    def _pack(
        groups: dict[tuple[str, str, str], list[tuple[int, Transition]]],
    ) -> list[BulkRequest]:
        """Groups into requests of at most 1,000 issues (a group may span two)."""
        requests = [BulkRequest()]
        for (_, _, tid), members in groups.items():
            while members:
                room = BULK_TRANSITION_MAX - requests[-1].size
                if room == 0:
                    requests.append(BulkRequest())
                    continue
                part, members = members[:room], members[room:]
                requests[-1].groups.append((tid, [i for i, _ in part]))
                requests[-1].steps.update(part)
        return [r for r in requests if r.size]

    # ------------------------------------------------------------------ one request
    def _submit(self, request: BulkRequest) -> tuple[list[int], list[int]]:
        """Send one bulk transition and follow it: (ids moved, ids for the walker)."""
        ids = list(request.steps)
        inputs = [
            BulkTransitionInput(tid, tuple(self.ctx.ledger[i].jira_key for i in members))
            for tid, members in request.groups
        ]
        try:
            self.ctx.check_stop()
            task = self.ctx.target.bulk_transition(inputs)
        except OutcomeUnknown as exc:
            self._unknown(request, exc)
            return [], ids
        except AuthError as exc:  # the permission went away: one issue at a time from now
            self.ctx.bulk_transitions = False
            self.ctx.log(f"Bulk transition refused ({str(exc)[:120]}): one issue at a time")
            return [], ids
        except (PermanentError, TransientError) as exc:  # refused before it was applied
            self.ctx.log(f"Bulk transition of {len(ids)} issue(s) not done: {str(exc)[:160]}")
            return [], ids
        except (StopRequested, Interrupted):  # not sent
            return [], ids
        progress = self._follow(task)
        if progress is None:
            why = f"bulk transition task {task} not followed to its end"
            self._unknown(request, OutcomeUnknown(why, method="GET", url=f"bulk/queue/{task}"))
            return [], ids
        return self._outcome(request, progress)

    def _follow(self, task: str) -> BulkProgress | None:
        """Poll the task until it is finished; None when stopped or it takes too long."""
        deadline = self.ctx.settle.clock() + TASK_WAIT_SECONDS
        wait = FIRST_POLL
        while self.ctx.settle.clock() < deadline:
            try:
                progress = self.ctx.target.bulk_progress(task)
            except (PermanentError, TransientError, StopRequested):
                return None
            if progress.finished:
                return progress
            self.ctx.stops.wait(wait)
            self.ctx.checkpointer.checkpoint()
            if self.ctx.stops.is_set():
                return None
            wait = min(MAX_POLL, wait * 2)
        return None

    def _outcome(self, request: BulkRequest, progress: BulkProgress) -> tuple[list[int], list[int]]:
        done = set(progress.processed)
        moved, left = [], []
        for ado_id, step in request.steps.items():
            entry = self.ctx.ledger[ado_id]
            if entry.jira_id and entry.jira_id in done:
                self.walker.moved(entry, step.to.name)
                moved.append(ado_id)
                continue
            if not (entry.jira_id and entry.jira_id in progress.failed):
                self.walker.set_state(entry, "")  # neither done nor failed: read it first
            left.append(ado_id)
        if len(left):
            self.ctx.log(f"Bulk transition: {len(left)} issue(s) go on one at a time")
        return moved, left

    def _unknown(self, request: BulkRequest, exc: OutcomeUnknown) -> None:
        """The task may be moving these issues: each settles before anything else."""
        ids = list(request.steps)
        for ado_id, step in request.steps.items():
            self.ctx.markers.note_ambiguous(
                self.ctx.ledger[ado_id], exc, "transition", step.to.name
            )
        self.ctx.markers.ambiguous([phase_key(3, i) for i in ids], ids, exc, kind="transition")
