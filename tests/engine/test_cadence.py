"""The run's cadence in a long step with nothing to save (phase 1 reading a large
project): the lease is renewed when a checkpoint would be due, and a lost lease stops
the run at once."""

from __future__ import annotations

from engine.memory import MemoryControl, MemoryStore
from engine.pipeline.cadence import Cadence, StopState
from engine.pipeline.limits import CHECKPOINT_SECONDS


def cadence(store: MemoryStore, control: MemoryControl) -> tuple[Cadence, list[int]]:
    saved: list[int] = []
    return Cadence(store, control, StopState(), lambda: saved.append(1)), saved


def test_keep_alive_renews_the_lease_only_when_a_checkpoint_is_due_and_saves_nothing() -> None:
    store, control = MemoryStore(), MemoryControl()
    beat, saved = cadence(store, control)
    beat.keep_alive()
    assert store.heartbeats == 0 and control.polls == 1  # just started: not due
    beat.last_checkpoint -= CHECKPOINT_SECONDS  # as long ago as a checkpoint's period
    beat.last_poll -= CHECKPOINT_SECONDS
    beat.keep_alive()
    assert store.heartbeats == 1 and control.polls == 2
    beat.keep_alive()
    assert store.heartbeats == 1  # renewed just now
    assert not saved and not beat.stops.is_set()


def test_keep_alive_with_the_lease_taken_stops_the_run_as_a_lost_lease() -> None:
    store, control = MemoryStore(lease_ok=False), MemoryControl()
    beat, saved = cadence(store, control)
    beat.last_checkpoint -= CHECKPOINT_SECONDS
    beat.keep_alive()
    assert beat.stops.is_set() and beat.stops.lease_lost
    beat.last_checkpoint -= CHECKPOINT_SECONDS
    beat.keep_alive()
    assert store.heartbeats == 1 and not saved  # a lost lease is never asked again


def test_keep_alive_hears_a_pause() -> None:
    store, control = MemoryStore(), MemoryControl()
    beat, _ = cadence(store, control)
    control.request("pause")
    beat.keep_alive()
    assert beat.stops.is_set() and not beat.stops.lease_lost
    assert beat.stops.reason is not None and beat.stops.reason.status == "PAUSED"
