"""When a run saves and listens: the checkpoint cadence and the stop state.

Shared by the migration pipeline and the rollback (``engine.rollback``): a run
checkpoints at least every :data:`CHECKPOINT_SECONDS` and every
:data:`CHECKPOINT_ITEMS` units of work (heartbeat first: a lost lease stops the run
at once and nothing more is saved; then the run's own ``save``), and polls the
control signal every :data:`POLL_SECONDS` in between. Pause and cancel become a
:class:`StopRun` in :class:`StopState`, which every worker checks before a write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.pipeline.limits import CHECKPOINT_ITEMS, CHECKPOINT_SECONDS, POLL_SECONDS
from engine.pipeline.stops import Interrupted, StopRun
from engine.ports import CheckpointStore, ControlSignal

LEASE_LOST = "lease lost: another worker took the run over"


class StopState:
    """Whether the run is stopping, and why (the first reason wins, but a lost lease
    or a failure overrides a pause or a cancel)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: StopRun | None = None
        self._lock = threading.Lock()

    def request(self, stop: StopRun) -> None:
        with self._lock:
            if self.reason is None or stop.lease_lost or stop.status == "FAILED":
                self.reason = stop
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    @property
    def lease_lost(self) -> bool:
        return self.reason is not None and self.reason.lease_lost

    def raise_if_stopped(self) -> None:
        if self.reason is not None:
            raise self.reason

    def check(self) -> None:
        """Called by workers before every write."""
        if self.event.is_set():
            raise Interrupted()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once on a stop."""
        self.event.wait(seconds)


class Cadence:
    """Decides when to checkpoint and to poll; the run says how to save."""

    def __init__(
        self,
        store: CheckpointStore,
        control: ControlSignal,
        stops: StopState,
        save: Callable[[], None],
    ) -> None:
        self.store, self.control, self.stops, self.save = store, control, stops, save
        self.last_poll = 0.0
        self.last_checkpoint = time.monotonic()
        self.since = 0  # units of work since the last checkpoint (callers hold their lock)
        # one checkpoint at a time when several phases run at once; a due checkpoint
        # that finds another under way leaves the saving to it
        self._saving = threading.Lock()

    def count(self, units: int = 1) -> None:
        self.since += units

    def poll(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_poll < POLL_SECONDS:
            return
        self.last_poll = now
        command = self.control.poll()
        if command == "pause":
            self.stops.request(StopRun("PAUSED", "paused by request"))
        elif command == "cancel":
            self.stops.request(StopRun("CANCELLED", "cancelled by request"))

    def keep_alive(self) -> None:
        """In a long step with nothing to save yet (phase 1 reading the project, a dry
        run reading it again): renew the lease when a checkpoint would be due, and
        poll. Without it a large project's reading outlasts the lease and another
        worker takes the run over."""
        now = time.monotonic()
        if now - self.last_checkpoint >= CHECKPOINT_SECONDS and not self.stops.lease_lost:
            self.last_checkpoint = now
            if not self.store.heartbeat():
                self.stops.request(StopRun("PAUSED", LEASE_LOST, lease_lost=True))
                return
        self.poll()

    def checkpoint(self, *, force: bool = False) -> None:
        if not self._saving.acquire(blocking=force):
            return
        try:
            self._checkpoint(force=force)
        finally:
            self._saving.release()

    def _checkpoint(self, *, force: bool) -> None:
        now = time.monotonic()
        due = self.since >= CHECKPOINT_ITEMS or now - self.last_checkpoint >= CHECKPOINT_SECONDS
        if not (force or due):
            self.poll()
            return
        self.last_checkpoint, self.since = now, 0
        if self.stops.lease_lost:
            return
        if not self.store.heartbeat():
            self.stops.request(StopRun("PAUSED", LEASE_LOST, lease_lost=True))
            return
        self.save()
        self.poll(force=True)
