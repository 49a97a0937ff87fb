"""In-memory ports: a checkpoint store, an event sink and a control signal.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.ports import Command, ItemRecord, LedgerEntry, Unsettled


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
