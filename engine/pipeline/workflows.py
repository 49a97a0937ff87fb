"""What the run knows of each Jira workflow, so transitions are not looked up per issue.

Jira lists only the transitions available from an issue's current status
(``GET /issue/{key}/transitions``), and a transition id belongs to a workflow, so
what an issue of one type in one status may take is what every issue of that type in
that status may take. :class:`WorkflowKnowledge` asks once per (issue type, status),
with the first issue found there, and records the answer in the run's
:class:`engine.mapping.WorkflowGraph`; later issues reuse it. A transition that Jira
refuses (400: the issue is not where the run thinks, or the workflow changed) makes
the caller read the issue's status and, when the status was right, learn that
status's transitions again (:meth:`WorkflowKnowledge.relearn`). Each save of the plan
records what the run has learned (``RunPlan.workflows`` and ``initial_status``), and a
resumed run starts from it, so it asks only about what it has not seen.

The first step of an item's path can ride in its create request
(``IssueUpdateDetails.transition``): :meth:`WorkflowKnowledge.create_step` gives it
once the initial status of the type is known (read from the first issue created,
which phase 2 sends ahead of the others of its type) and the graph holds a path
from there to the target, or only one transition leads out of the initial status.
Any other exploring step might lead away from the target, so it does not ride.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from engine.model import Status, Transition

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


class WorkflowKnowledge:
    """Transitions per (issue type, status), learned once; the create-time first step."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._learning: dict[tuple[str, str], threading.Lock] = {}
        self._no_ride: set[str] = set()  # types whose create-time transition was refused
        self.lookups = 0  # GET .../transitions sent by this process

    def _key_lock(self, type_id: str, status: str) -> threading.Lock:
        with self._lock:
            return self._learning.setdefault((type_id, status.lower()), threading.Lock())

    def edges(self, type_id: str, status: str, key: str) -> list[Transition]:
        """The transitions from ``status`` for issues of ``type_id``; asked of issue
        ``key`` (which is in ``status``) only when the run does not know them yet."""
        known = self.ctx.graph.edges(type_id, status)
        if known is not None:
            return known
        with self._key_lock(type_id, status):  # one look-up, however many workers ask
            known = self.ctx.graph.edges(type_id, status)
            if known is None:
                known = self._look(type_id, status, key)
        return known

    def relearn(self, type_id: str, status: str, key: str) -> list[Transition]:
        """Jira refused a known transition from ``status``, where ``key`` really is."""
        with self._key_lock(type_id, status):
            return self._look(type_id, status, key)

    def _look(self, type_id: str, status: str, key: str) -> list[Transition]:
        available = self.ctx.target.transitions(key)
        with self._lock:
            self.lookups += 1
        self.ctx.graph.learn(type_id, status, available)
        return available

    # ------------------------------------------------------------------ create time
    def learn_initial(self, type_id: str, status: str, key: str) -> None:
        """The first issue of a type, just created (no transition), is in ``status``."""
        if status and self.ctx.graph.edges(type_id, status) is None:
            self.edges(type_id, status, key)

    def create_step(self, type_id: str, goal: Status | None) -> Transition | None:
        """The transition to send in the create body of an issue of ``type_id`` that is
        to reach ``goal``, or None (not known yet, or nothing to do)."""
        with self.ctx.lock:
            initial = self.ctx.initial_status.get(type_id)
        with self._lock:
            refused = type_id in self._no_ride
        if goal is None or not initial or refused:
            return None
        step, why = self.ctx.graph.next_step(type_id, initial, goal)
        if why == "path" or (why == "explore" and self._forced(type_id, initial)):
            return step
        return None

    def _forced(self, type_id: str, status: str) -> bool:
        """Only one transition leads out of ``status``: every path starts with it."""
        edges = self.ctx.graph.edges(type_id, status) or []
        return len({t.to.name.lower() for t in edges if t.to.name.lower() != status.lower()}) == 1

    def initial_known(self, type_id: str) -> bool:
        """The initial status of the type and its transitions are known."""
        with self.ctx.lock:
            initial = self.ctx.initial_status.get(type_id)
        return bool(initial) and self.ctx.graph.edges(type_id, str(initial)) is not None

    def refuse_ride(self, type_id: str) -> None:
        """Jira refused a create-time transition for this type: create without one."""
        with self._lock:
            self._no_ride.add(type_id)
