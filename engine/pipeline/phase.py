"""The interface of a write phase: which items it works on, and one chunk of work.

A phase is stateless: what it needs lives in the :class:`RunContext`, so each
chunk could be handed to its own task. ``run_chunk`` returns what became of the
chunk's items as a :class:`PhaseResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext


@dataclass
class PhaseResult:
    """What one chunk of a phase did: items done, still deferred (settling), failed."""

    phase: int
    done: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, ctx: RunContext, phase: int, ids: Sequence[int]) -> PhaseResult:
        """Read the outcome of ``ids`` from the records and the ledger's steps."""
        result = cls(phase)
        for ado_id in ids:
            if ctx.records[ado_id].status == "FAILED":
                result.failed.append(ado_id)
            elif phase not in (2, 3, 4, 5) or ctx.step_done(ado_id, phase):
                result.done.append(ado_id)
            else:
                result.deferred.append(ado_id)
        return result


class Phase(Protocol):
    """One write phase (2 to 6) of the pipeline."""

    number: int
    name: str
    # Items per chunk, or None when the phase must see all its items at once
    # (bulk creates by hierarchy level and sprint moves; verify's search).
    chunk_size: int | None
    # Beside phase 2 (see ``loop``): the least number of newly made issues worth a
    # chunk, or None when the phase waits for phase 2 to end.
    stream_batch: int | None

    def items(self, ctx: RunContext, among: Sequence[int] | None = None) -> list[int]:
        """The items (of ``among``, default all) this phase still has to work on, in
        creation order."""
        ...

    def run_chunk(self, ctx: RunContext, ids: Sequence[int]) -> PhaseResult:
        """Do the phase's work for ``ids``; checkpoints and stops as it goes."""
        ...


def pending_items(ctx: RunContext, phase: int, ids: Sequence[int] | None = None) -> list[int]:
    """Items (of ``ids``, default all in order) in Jira, still active, ``phase`` not done."""
    return [
        i
        for i in (ctx.order if ids is None else ids)
        if ctx.active(i) and i in ctx.ledger and not ctx.step_done(i, phase)
    ]
