"""Checkpoints: heartbeat, flush of items, ledger and settle marks, progress and log
events, control polling, the report."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from engine.pipeline.cadence import Cadence
from engine.pipeline.limits import WRITE_PHASES
from engine.ports import ItemRecord, LedgerEntry
from engine.report import FactTally, build_report

if TYPE_CHECKING:
    from engine.pipeline.context import RunContext

T = TypeVar("T")


class Checkpointer:
    """Saves the run's progress and hears its control signal (see the package guide, Resume)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.started = time.monotonic()
        self.units_at_start = 0
        self.cadence = Cadence(ctx.store, ctx.ports.control, ctx.stops, self._save)
        self._flushing = threading.Lock()  # store writes one at a time, in order

    def stats(self) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
        for record in self.ctx.records.values():
            key = record.status.lower()
            if key in counts:
                counts[key] += 1
        if self.ctx.spec.run_type != "INCREMENTAL" and not counts["updated"]:
            counts.pop("updated")
        return counts

    def announce(self, status: str, stats: dict[str, int]) -> None:
        self.ctx.ports.events.status(status.lower())
        self.ctx.ports.events.done(stats)

    def poll(self, *, force: bool = False) -> None:
        self.cadence.poll(force=force)

    def checkpoint(self, *, force: bool = False) -> None:
        self.cadence.checkpoint(force=force)

    def keep_alive(self) -> None:
        self.cadence.keep_alive()

    def _save(self) -> None:
        self.flush_state()
        self.flush_logs()
        self.progress()

    def flush_state(self) -> None:
        with self._flushing:
            self._flush_state()

    def _flush_state(self) -> None:
        if self.ctx.stops.lease_lost:
            return
        with self.ctx.lock:
            record_ids, self.ctx.dirty_records = sorted(self.ctx.dirty_records), set()
            entry_ids, self.ctx.dirty_ledger = sorted(self.ctx.dirty_ledger), set()
            if self.ctx.slice is not None:  # another slice's entry is its worker's to save
                own = self.ctx.slice
                self.ctx.touched_elsewhere.update(i for i in entry_ids if i not in own)
                entry_ids = [i for i in entry_ids if i in own]
        # each copied as the store reads it (a first flush holds every item: no second
        # copy of them all); one changed meanwhile is saved as it is now, and again later
        if record_ids:
            self.ctx.store.save_items(self._copies(record_ids, self._copy_record))
        if entry_ids:
            self.ctx.store.save_ledger(self._copies(entry_ids, self._copy_ledger))
        marks, cleared = self.ctx.settle.flush()
        if marks or cleared:
            self.ctx.store.save_unsettled(marks, cleared)

    def _copies(self, ids: Sequence[int], copy: Callable[[int], T]) -> Iterator[T]:
        for ado_id in ids:
            with self.ctx.lock:
                copied = copy(ado_id)
            yield copied  # never with the lock held: the store writes between items

    def _copy_record(self, ado_id: int) -> ItemRecord:
        return replace(self.ctx.records[ado_id])

    def _copy_ledger(self, ado_id: int) -> LedgerEntry:
        return self.copy_entry(self.ctx.ledger[ado_id])

    def copy_entry(self, entry: LedgerEntry) -> LedgerEntry:
        """A copy to save, its ``extra`` written from the item's book (the caller locks)."""
        entry.extra = self.ctx.book(entry).to_dict()
        return entry.snapshot()

    def flush_logs(self) -> None:
        with self.ctx.lock:
            logs, self.ctx.logs = self.ctx.logs, []
        for message in logs:
            self.ctx.ports.events.log(message)

    def progress(self) -> None:
        total = len(self.ctx.items)
        with self.ctx.lock:
            current = min(total, self.ctx.units // len(WRITE_PHASES))
        elapsed = max(time.monotonic() - self.started, 1e-6)
        done_here = (self.ctx.units - self.units_at_start) / len(WRITE_PHASES)
        self.ctx.ports.events.progress(current, total, round(done_here / elapsed, 1))

    def save_report(
        self,
        status: str,
        *,
        reason: str = "",
        samples: Sequence[Mapping[str, Any]] = (),
        facts: FactTally | None = None,
    ) -> None:
        if facts is None:
            facts = FactTally()
            with self.ctx.lock:
                for i in self.ctx.items:
                    if i in self.ctx.ledger:
                        facts.add(i, self.ctx.book(self.ctx.ledger[i]))
        report = build_report(
            self.ctx.plan,
            self.ctx.records,
            facts,
            status=status,
            phase=self.ctx.phase,
            verification=self.ctx.verification,
            samples=samples,
        )
        if self.ctx.planned:
            report["exactlyOnce"] = self.exactly_once()
        if reason:
            report["reason"] = reason
        self.ctx.store.save_report(report)

    def exactly_once(self) -> dict[str, Any]:
        """What ambiguous outcomes cost this run so far (every process that worked on it)."""
        base = self.ctx.exactly_once_base
        counts: dict[str, dict[str, int]] = {}
        for what, mine in self.ctx.settle.snapshot().items():
            before = base.get(what)
            kinds = Counter(
                {str(k): int(n) for k, n in before.items()} if isinstance(before, dict) else {}
            )
            kinds.update(mine)
            counts[what] = dict(sorted(kinds.items()))
        self.ctx.plan.exactly_once = counts
        repairs = self.ctx.repairs_base + self.ctx.repairs
        return {
            **counts,
            "totals": {w: sum(k.values()) for w, k in counts.items()},
            "settleSeconds": self.ctx.spec.settle_seconds,
            "stillSettling": len(self.ctx.settle.keys()),
            "repairs": repairs,
        }
