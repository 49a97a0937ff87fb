"""In-memory ports: a checkpoint store, an event sink, a control signal and a slice
board (one run's slices shared by several in-process workers).

Used by the engine's own tests and by a CLI dry run. The store deep-copies what
it is given, as a database would, so a test that reruns ``run_migration`` on the
same store sees exactly what was persisted (and nothing the engine kept in its
own objects). One :class:`MemoryStore` holds one run's state plus its project's
ledger; :meth:`MemoryStore.new_run` starts another run of the same project.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.ports import (
    Command,
    ItemRecord,
    LedgerEntry,
    SliceClaim,
    SliceProgress,
    SliceResult,
    Unsettled,
)


@dataclass
class MemoryStore:
    """A ``CheckpointStore`` in a few dicts; thread-safe."""

    lease_ok: bool = True
    phase: int = 0
    total: int = 0
    plan: dict[str, Any] | None = None
    plan_items: list[dict[str, Any]] = field(default_factory=list)  # the plan's item rows
    items: dict[int, ItemRecord] = field(default_factory=dict)
    ledger: dict[int, LedgerEntry] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    unsettled: dict[str, Unsettled] = field(default_factory=dict)  # project-wide, like the ledger
    phases_seen: list[int] = field(default_factory=list)
    heartbeats: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def heartbeat(self) -> bool:
        with self._lock:
            self.heartbeats += 1
            return self.lease_ok

    def set_phase(self, phase: int) -> None:
        with self._lock:
            self.phase = phase
            self.phases_seen.append(phase)

    def set_total(self, total: int) -> None:
        with self._lock:
            self.total = total

    def save_plan(self, plan: dict[str, Any]) -> None:
        with self._lock:
            self.plan = copy.deepcopy(plan)

    def load_plan(self) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self.plan)

    def save_plan_items(self, rows: Iterable[dict[str, Any]]) -> None:
        copied = [copy.deepcopy(r) for r in rows]
        with self._lock:
            self.plan_items = copied

    def load_plan_items(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = copy.deepcopy(self.plan_items)
        return iter(rows)

    def load_items(self) -> dict[int, ItemRecord]:
        with self._lock:
            return copy.deepcopy(self.items)

    def save_items(self, records: Iterable[ItemRecord]) -> None:
        with self._lock:
            for record in records:
                self.items[record.ado_id] = copy.deepcopy(record)

    def load_ledger(self) -> dict[int, LedgerEntry]:
        with self._lock:
            return copy.deepcopy(self.ledger)

    def save_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        with self._lock:
            for entry in entries:
                self.ledger[entry.ado_id] = copy.deepcopy(entry)

    def forget_ledger(self, ado_ids: Iterable[int]) -> None:
        with self._lock:
            for ado_id in ado_ids:
                self.ledger.pop(ado_id, None)

    def save_report(self, report: dict[str, Any]) -> None:
        with self._lock:
            self.report = copy.deepcopy(report)

    def load_unsettled(self) -> list[Unsettled]:
        with self._lock:
            return list(self.unsettled.values())

    def save_unsettled(self, marks: Iterable[Unsettled], cleared: Iterable[str]) -> None:
        with self._lock:
            for key in cleared:
                self.unsettled.pop(key, None)
            for mark in marks:
                self.unsettled[mark.key] = mark

    # ------------------------------------------------------------------ helpers
    def counts(self) -> dict[str, int]:
        """Item rows per status, like the run's counters."""
        with self._lock:
            out: dict[str, int] = {}
            for record in self.items.values():
                out[record.status] = out.get(record.status, 0) + 1
            return out

    def release(self) -> None:
        """Nothing is held per thread."""

    def new_run(self) -> MemoryStore:
        """A fresh run of the same project: same ledger, nothing else."""
        with self._lock:
            return MemoryStore(ledger=copy.deepcopy(self.ledger), unsettled=dict(self.unsettled))


@dataclass
class MemoryEvents:
    """An ``EventSink`` that keeps everything; ``on_event`` lets tests inject faults."""

    events: list[dict[str, Any]] = field(default_factory=list)
    on_event: Callable[[dict[str, Any]], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def progress(self, current: int, total: int, speed: float) -> None:
        percent = int(current * 100 / total) if total else 0
        self._add(
            {
                "type": "progress",
                "current": current,
                "total": total,
                "percent": percent,
                "speed": round(speed, 1),
            }
        )

    def log(self, message: str) -> None:
        self._add({"type": "log", "message": message})

    def status(self, status: str) -> None:
        self._add({"type": "status", "status": status})

    def done(self, stats: dict[str, int]) -> None:
        self._add({"type": "done", "stats": dict(stats)})

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["type"] == kind]

    def logs(self) -> list[str]:
        return [str(e["message"]) for e in self.of_type("log")]


@dataclass
class MemoryControl:
    """A ``ControlSignal`` another thread (or a test) can flip."""

    command: Command = "run"
    polls: int = 0
    requested_at: float | None = None
    on_poll: Callable[[int], Command | None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def request(self, command: Command) -> None:
        with self._lock:
            self.command = command
            self.requested_at = time.monotonic()

    def poll(self) -> Command:
        with self._lock:
            self.polls += 1
            polls = self.polls
        if self.on_poll is not None:
            changed = self.on_poll(polls)
            if changed is not None:
                self.request(changed)
        with self._lock:
            return self.command


@dataclass
class MemorySlice:
    seq: int
    ids: tuple[int, ...]
    state: str = "OPEN"  # OPEN, DONE, FAILED
    owner: str = ""
    expires: float = 0.0
    claims: int = 0
    result: SliceResult | None = None


@dataclass
class SliceTable:
    """The slices of one run, shared by the boards of every worker (the database's
    role); ``opened`` counts the times the workers were asked to take slices."""

    slices: list[MemorySlice] = field(default_factory=list)
    opened: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class MemorySliceStore:
    """A worker's store for one claimed slice: the project's store, whose heartbeat
    renews the slice's lease instead of the run's."""

    def __init__(self, store: MemoryStore, board: MemorySliceBoard, seq: int) -> None:
        self.store, self.board, self.seq = store, board, seq

    def heartbeat(self) -> bool:
        return self.board.renew(self.seq)

    def set_phase(self, phase: int) -> None:
        return None

    def set_total(self, total: int) -> None:
        return None

    def save_plan(self, plan: dict[str, Any]) -> None:
        return None  # the plan is the coordinator's

    def load_plan(self) -> dict[str, Any] | None:
        return self.store.load_plan()

    def save_plan_items(self, rows: Iterable[dict[str, Any]]) -> None:
        return None

    def load_plan_items(self) -> Iterator[dict[str, Any]]:
        return self.store.load_plan_items()

    def load_items(self) -> dict[int, ItemRecord]:
        return self.store.load_items()

    def save_items(self, records: Iterable[ItemRecord]) -> None:
        self.store.save_items(records)

    def load_ledger(self) -> dict[int, LedgerEntry]:
        return self.store.load_ledger()

    def save_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        self.store.save_ledger(entries)

    def forget_ledger(self, ado_ids: Iterable[int]) -> None:
        self.store.forget_ledger(ado_ids)

    def save_report(self, report: dict[str, Any]) -> None:
        return None  # the report is the coordinator's

    def load_unsettled(self) -> list[Unsettled]:
        return self.store.load_unsettled()

    def save_unsettled(self, marks: Iterable[Unsettled], cleared: Iterable[str]) -> None:
        self.store.save_unsettled(marks, cleared)

    def release(self) -> None:
        return None


class MemorySliceBoard:
    """One worker's view of a run's slices (a ``SliceBoard``); leases by ``clock``."""

    def __init__(
        self,
        store: MemoryStore,
        table: SliceTable,
        owner: str,
        *,
        lease_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.table, self.owner = store, table, owner
        self.lease_seconds, self.clock = lease_seconds, clock
        self.worked: list[int] = []  # the slices this worker claimed, in order

    def open(self, slices: Sequence[Sequence[int]]) -> int:
        with self.table.lock:
            if not self.table.slices:
                self.table.slices = [MemorySlice(n, tuple(ids)) for n, ids in enumerate(slices)]
            self.table.opened += 1
            return sum(1 for s in self.table.slices if s.state == "OPEN")

    def claim(self) -> SliceClaim | None:
        now = self.clock()
        with self.table.lock:
            for s in self.table.slices:
                if s.state == "OPEN" and (not s.owner or s.expires < now):
                    taken_over = bool(s.owner)
                    s.owner, s.expires, s.claims = (
                        self.owner,
                        now + self.lease_seconds,
                        s.claims + 1,
                    )
                    self.worked.append(s.seq)
                    store = MemorySliceStore(self.store, self, s.seq)
                    return SliceClaim(s.seq, s.ids, store, taken_over)
        return None

    def renew(self, seq: int) -> bool:
        with self.table.lock:
            s = self.table.slices[seq]
            if s.owner != self.owner or s.state != "OPEN":
                return False
            s.expires = self.clock() + self.lease_seconds
            return True

    def finish(self, claim: SliceClaim, result: SliceResult) -> None:
        with self.table.lock:
            s = self.table.slices[claim.seq]
            if s.owner != self.owner or s.state != "OPEN":
                return
            s.owner, s.expires = "", 0.0
            if result.status in ("DONE", "FAILED"):
                s.state, s.result = result.status, result

    def progress(self) -> SliceProgress:
        with self.table.lock:
            done = [s for s in self.table.slices if s.state == "DONE"]
            failed = next((s for s in self.table.slices if s.state == "FAILED"), None)
            return SliceProgress(
                total=len(self.table.slices),
                done=len(done),
                items_done=sum(len(s.ids) for s in done),
                failure=(
                    f"slice {failed.seq}: {failed.result.reason}"
                    if failed is not None and failed.result is not None
                    else ""
                ),
            )

    def results(self) -> list[SliceResult]:
        with self.table.lock:
            return [s.result for s in self.table.slices if s.state == "DONE" and s.result]

    def close(self) -> None:
        with self.table.lock:
            self.table.slices = []
