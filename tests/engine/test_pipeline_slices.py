"""One run, two workers: phases 3 to 5 in slices claimed under a lease.

The coordinator runs the run; a second worker (a thread with its own clients and its
own board on the same slice table, as a second process would have on the database)
claims slices as they open. Both take slices, each slice is claimed once, and Jira
holds every item exactly once with all its comments and its target status.
"""

from __future__ import annotations

import threading
from typing import Any

from engine.memory import MemorySliceBoard, SliceTable
from engine.pipeline import run_migration, run_slice
from tests.engine.test_pipeline_support import (
    Harness,
    assert_complete,
    clients,
    make_spec,
)


def test_two_workers_share_one_run_and_nothing_is_written_twice(sandboxes: Any) -> None:
    harness = Harness(sandboxes)
    table = SliceTable()
    coordinator = MemorySliceBoard(harness.store, table, "coordinator")
    other = MemorySliceBoard(harness.store, table, "other")
    spec = make_spec(sandboxes, slice_items=3)
    finished = threading.Event()

    def second_worker() -> None:
        ado, jira = clients(sandboxes)
        while not finished.is_set():
            claim = other.claim()
            if claim is None:
                finished.wait(0.01)
                continue
            result = run_slice(
                spec,
                source=ado,
                target=jira,
                events=harness.events,
                control=harness.control,
                claim=claim,
            )
            other.finish(claim, result)

    worker = threading.Thread(target=second_worker, daemon=True)
    worker.start()
    ado, jira = clients(sandboxes)
    try:
        outcome = run_migration(
            spec,
            source=ado,
            target=jira,
            store=harness.store,
            events=harness.events,
            control=harness.control,
            board=coordinator,
        )
    finally:
        finished.set()
        worker.join(30)

    assert outcome.status == "COMPLETED", outcome
    assert coordinator.worked and other.worked, (coordinator.worked, other.worked)
    assert not set(coordinator.worked) & set(other.worked)  # each slice claimed once
    assert harness.store.plan is not None
    assert {3, 4, 5} <= set(harness.store.plan["phases_done"])
    assert table.slices == []  # merged and forgotten
    assert_complete(sandboxes, harness.store)
