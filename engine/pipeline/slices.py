"""One run, several workers: phases 3 to 5 in slices that any worker may claim.

With a :class:`~engine.ports.SliceBoard` and ``RunSpec.slice_items`` above 0, the run's
own worker (the coordinator) plans and runs phase 2 as usual; it then cuts the items
still to do in phases 3 to 5 into slices of ``slice_items`` (in creation order) and
opens them on the board, which asks the other workers to take them. Every worker, the
coordinator included, claims one slice at a time under a lease and does phases 3, 4
and 5 for its items at once (one thread each, as without slices) in a context of its
own (:func:`engine.pipeline.loop.run_slice`). When every slice is done, the
coordinator reads back what the slices wrote, records phases 3 to 5 done and runs
phase 6.

Why these phases: once every issue exists (phase 2), an item's states, content and
links need nothing from another item's work, so slices of items are independent. Phase
2 creates parents before children in bulk requests by hierarchy level and moves issues
into sprints 50 at a time; phase 6 is one search over the whole project: both stay with
the coordinator.

Exactly once across workers: a slice's items are written by its claimer only, and a
slice context saves the ledger entries of its own items only (an issue link's
provenance on its other end is handed to the coordinator, ``SliceResult.touched``), so
no worker overwrites another's entry. A slice whose lease expired (its worker died) is
claimed again as *taken over*: the intents its last claimer had open on its items are
held for the settle time, then looked up, as a run taken over is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine import provenance
from engine.itembook import ItemBook
from engine.pipeline.limits import POLL_SECONDS, WRITE_PHASES
from engine.pipeline.stops import StopRun
from engine.planning import chunks
from engine.ports import EventSink, SliceBoard, SliceClaim, SliceResult
from engine.settle import SettleBook

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext
    from engine.pipeline.phase import Phase

SHARED = frozenset({3, 4, 5})


class SliceEvents:
    """A slice's events: its logs go out, its progress does not (the coordinator tells
    the run's progress from the board; a slice sees only its own share)."""

    def __init__(self, events: EventSink) -> None:
        self._events = events

    def progress(self, current: int, total: int, speed: float) -> None:
        return None

    def log(self, message: str) -> None:
        self._events.log(message)

    def status(self, status: str) -> None:
        return None  # the run's status is the coordinator's to tell

    def done(self, stats: dict[str, int]) -> None:
        return None


class SharedPhases:
    """The coordinator's side: open the slices, work them with the others, merge."""

    def __init__(
        self,
        ctx: RunContext,
        phases: list[Phase],
        work: Callable[[SliceClaim], SliceResult],
    ) -> None:
        if ctx.ports.board is None:
            raise ValueError("shared phases need a slice board")
        self.ctx = ctx
        self.board: SliceBoard = ctx.ports.board
        self.numbers = sorted(p.number for p in phases)
        self.work = work

    def run(self) -> None:
        ctx = self.ctx
        ctx.enter_phase(self.numbers[0])
        pending = [
            i
            for i in ctx.order
            if ctx.active(i)
            and i in ctx.ledger
            and any(not ctx.step_done(i, n) for n in self.numbers)
        ]
        parts = chunks(pending, ctx.spec.slice_items) if pending else []
        ctx.checkpointer.checkpoint(force=True)  # the store holds all phase 2 wrote
        ctx.raise_if_stopped()
        left = self.board.open(parts)
        ctx.log(
            f"Phases {self.numbers[0]} to {self.numbers[-1]}: {left} slice(s) of up to "
            f"{ctx.spec.slice_items} items, shared by the workers"
        )
        ctx.checkpointer.flush_logs()
        units_at_open, started = ctx.units, time.monotonic()
        try:
            self._work_until_done(units_at_open, started)
        finally:
            if not ctx.stops.lease_lost:
                self._read_back()
        self._merge_tallies()
        ctx.plan.phases_done.extend(n for n in self.numbers if n not in ctx.plan.phases_done)
        ctx.checkpointer.checkpoint(force=True)
        ctx.save_plan()
        ctx.checkpointer.save_report("RUNNING")
        self.board.close()

    def _work_until_done(self, units_at_open: int, started: float) -> None:
        ctx = self.ctx
        while True:
            ctx.checkpointer.checkpoint()  # the run's lease and its control signal
            ctx.raise_if_stopped()
            claim = self.board.claim()
            if claim is not None:
                self._work_one(claim)
                continue
            state = self.board.progress()
            if state.failure:
                raise StopRun("FAILED", state.failure)
            self._progress(units_at_open, state.items_done, started)
            if state.done >= state.total:
                return
            ctx.stops.wait(POLL_SECONDS)  # others hold the slices left: look again soon

    def _work_one(self, claim: SliceClaim) -> None:
        ctx = self.ctx
        try:
            result = self.work(claim)
        finally:
            for client in (ctx.source, ctx.target):  # the slice had them stop on its stop
                client.set_stop_check(ctx.stops.is_set)
        self.board.finish(claim, result)
        if result.status == "PAUSED":
            raise StopRun("PAUSED", result.reason)
        if result.status == "CANCELLED":
            raise StopRun("CANCELLED", result.reason)
        if result.status == "FAILED":
            raise StopRun("FAILED", f"slice {claim.seq}: {result.reason}")

    def _progress(self, units_at_open: int, items_done: int, started: float) -> None:
        total = len(self.ctx.items)
        units = units_at_open + items_done * len(self.numbers)
        speed = items_done / max(time.monotonic() - started, 1e-6)
        self.ctx.ports.events.progress(
            min(total, units // len(WRITE_PHASES)), total, round(speed, 1)
        )

    def _read_back(self) -> None:
        """What the slices wrote, read from the store (this context's copies are from
        before), and the provenance their links left on items of other slices."""
        ctx, store = self.ctx, self.ctx.store
        with ctx.lock:
            ctx.ledger = store.load_ledger()
            ctx.books = {i: ItemBook.from_dict(e.extra) for i, e in ctx.ledger.items()}
            ctx.crosswalk = {i: e.jira_key for i, e in ctx.ledger.items() if e.jira_key}
            ctx.records = store.load_items()
            tally = ctx.settle.tally
            ctx.settle = SettleBook(ctx.spec.settle_seconds, store.load_unsettled())
            ctx.settle.tally = tally
            ctx.dirty_ledger.clear()
            ctx.dirty_records.clear()
            for result in self.board.results():
                for ado_id in result.touched:
                    entry = ctx.ledger.get(ado_id)
                    if entry is not None:
                        provenance.touch(ctx.book(entry), ctx.spec.run_id)
                        ctx.dirty_ledger.add(ado_id)
        ctx.count_units()
        ctx.checkpointer.flush_state()

    def _merge_tallies(self) -> None:
        """What the slices' ambiguous writes cost, into this run's counts (once: the
        slices are forgotten right after)."""
        for result in self.board.results():
            for what, kinds in result.tally.items():
                for kind, n in kinds.items():
                    if n:
                        self.ctx.settle.count(what, kind, n)
