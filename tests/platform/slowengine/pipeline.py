from __future__ import annotations

import os
import time
from typing import Any

from engine.ports import ItemRecord, LedgerEntry, RunOutcome, RunSpec


def run_migration(
    spec: RunSpec, *, source: Any, target: Any, store: Any, events: Any, control: Any
) -> RunOutcome:
    count = int(os.environ.get("SLOWENGINE_ITEMS", "20"))
    delay = float(os.environ.get("SLOWENGINE_DELAY", "0.2"))
    plan = store.load_plan()
    if plan is None:
        plan = {"ids": list(range(1, count + 1))}
        store.save_plan(plan)
    ids = plan["ids"]
    store.set_phase(2)
    store.set_total(len(ids))
    events.status("running")
    ledger = store.load_ledger()
    started = time.monotonic()
    for done, ado_id in enumerate(ids, start=1):
        if not store.heartbeat():
            return RunOutcome("FAILED", reason="lease lost")
        command = control.poll()
        if command == "pause":
            events.status("paused")
            return RunOutcome("PAUSED")
        if command == "cancel":
            events.status("cancelled")
            return RunOutcome("CANCELLED")
        if ado_id not in ledger:
            time.sleep(delay)
            key = f"{spec.project_key}-{ado_id}"
            store.save_ledger(
                [LedgerEntry(ado_id=ado_id, jira_key=key, jira_id=str(10000 + ado_id))]
            )
            ledger[ado_id] = LedgerEntry(ado_id=ado_id, jira_key=key, jira_id=str(10000 + ado_id))
            store.save_items(
                [
                    ItemRecord(
                        ado_id,
                        "Task",
                        f"{spec.ado_web_url}/_workitems/edit/{ado_id}",
                        status="CREATED",
                        jira_key=key,
                        jira_id=str(10000 + ado_id),
                        attempts=1,
                    )
                ]
            )
            events.log(f"✓ ADO #{ado_id} [Task] → {key}")
        elapsed = max(time.monotonic() - started, 1e-6)
        events.progress(done, len(ids), done / elapsed)
    store.set_phase(6)
    stats = {"created": len(ids), "skipped": 0, "failed": 0}
    store.save_report({"counts": {"Task": len(ids)}, "problems": []})
    events.status("completed")
    events.done(stats)
    return RunOutcome("COMPLETED", stats=stats)
