"""The saved plan is typed and versioned: an old plan (version 1, or version 2 with its
items inside) still resumes, an unknown version is refused, and the stored form (the
plan and its item rows) round-trips.

``fixtures/plan_v1.json`` is the plan the engine wrote before the typed plan (the
default 60-item sandbox, seed 1, paused as phase 2 began)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.memory import MemoryControl, MemoryStore
from engine.model import Status, Transition
from engine.pipeline.runplan import SCHEMA_VERSION, PlanVersionError, RunPlan
from sandbox.dataset import TYPES
from tests.engine.test_pipeline_support import Harness, assert_complete, make_spec, writes

FIXTURES = Path(__file__).parent / "fixtures"


def v1_plan() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "plan_v1.json").read_text())
    return data


@dataclass
class PauseAtPhase2(MemoryStore):
    """A store whose first run is paused as soon as phase ``at`` begins (by default 2:
    the plan is made)."""

    control: MemoryControl = field(default_factory=MemoryControl)
    armed: bool = True
    at: int = 2

    def set_phase(self, phase: int) -> None:
        super().set_phase(phase)
        if phase == self.at and self.armed:
            self.armed = False
            self.control.request("pause")


def jira_state(sb: Any) -> dict[str, Any]:
    """What Jira holds, per ADO id, with issue keys and attachment ids written as ADO ids
    (keys depend on the order of concurrent creates, not on what was migrated)."""
    snap = sb.jira.snapshot()
    ado_of: dict[str, int] = {}
    for issue in snap["issues"]:
        for label in issue["fields"].get("labels", []):
            if label.startswith("ado-") and label[4:].isdigit():
                ado_of[issue["key"]] = int(label[4:])

    def norm(value: Any) -> Any:
        text = json.dumps(value, sort_keys=True)
        text = re.sub(r"\b[A-Z]+-\d+\b", lambda m: f"ADO#{ado_of.get(m.group(0), '?')}", text)
        return json.loads(re.sub(r"/attachment/content/\d+", "/attachment/content/N", text))

    out: dict[str, Any] = {}
    for issue in snap["issues"]:
        fields = {k: v for k, v in issue["fields"].items() if k not in ("created", "updated")}
        out[str(ado_of.get(issue["key"], issue["key"]))] = norm(
            {
                "type": issue["issuetype"],
                "status": issue["status"],
                "fields": fields,
                "comments": sorted(
                    json.dumps(c["body"], sort_keys=True) for c in issue["comments"]
                ),
                "files": sorted(
                    (a["filename"], a["size"], a["sha256"]) for a in issue["attachments"]
                ),
                "links": sorted((ln["type"], ln["inward"], ln["outward"]) for ln in issue["links"]),
                "remote": sorted(r["globalId"] for r in issue["remoteLinks"]),
            }
        )
    sprints = sorted((s.name, s.state) for s in sb.jira.state.sprints.values())
    components = sorted(str(c.get("name")) for c in snap["components"])
    return {"issues": out, "sprints": sprints, "components": components}


# ---------------------------------------------------------------------- round trips
def test_a_version_1_plan_converts_to_the_typed_plan() -> None:
    raw = v1_plan()
    plan = RunPlan.from_dict(raw)
    assert [i.ado_id for i in plan.items] == [d["ado_id"] for d in raw["items"]]
    assert plan.components.by_path == raw["components"]["byPath"]
    assert plan.sprints.board_id == raw["sprints"]["boardId"]
    assert {p: e.id for p, e in plan.sprints.by_path.items()} == {
        p: e["id"] for p, e in raw["sprints"]["byPath"].items()
    }
    assert plan.sprint_of == {int(k): v for k, v in raw["sprint_of"].items()}
    assert plan.type_level("10000") == 1
    assert plan.on_screen("10001", "parent")
    saved = plan.to_dict()
    assert saved["version"] == SCHEMA_VERSION == 3
    assert "items" not in saved and saved["item_count"] == len(raw["items"])
    assert list(plan.item_rows()) == raw["items"]
    assert "byPath" not in saved["components"] and "by_path" in saved["components"]


def test_the_typed_plan_round_trips_through_its_stored_form() -> None:
    plan = RunPlan.from_dict(v1_plan())
    plan.phases_done = [2, 3]
    plan.live = "token"
    plan.exactly_once = {"adopted": {"comment": 2}}
    plan.repairs = [{"kind": "issue", "removed": True}]
    done = Status("3", "Done", "done")
    plan.workflows = {"10001": {"to do": [Transition("31", "Finish", done)]}}
    plan.initial_status = {"10001": "To Do"}
    stored = json.loads(json.dumps(plan.to_dict()))
    rows = json.loads(json.dumps(list(plan.item_rows())))
    assert RunPlan.from_dict(stored, rows) == plan
    assert RunPlan.from_dict(stored, rows).to_dict() == stored


def v2_plan() -> dict[str, Any]:
    """The plan as version 2 saved it: version 3's fields, the items inside."""
    plan = RunPlan.from_dict(v1_plan())
    saved = plan.to_dict()
    saved.pop("item_count")
    return {**saved, "version": 2, "items": list(plan.item_rows())}


def test_a_version_2_plan_reads_its_items_from_inside_it() -> None:
    raw = v2_plan()
    plan = RunPlan.from_dict(raw, rows=[])
    assert [i.ado_id for i in plan.items] == [d["ado_id"] for d in raw["items"]]
    assert plan == RunPlan.from_dict(v1_plan())


def test_a_version_3_plan_whose_item_rows_are_missing_does_not_load() -> None:
    plan = RunPlan.from_dict(v1_plan())
    rows = list(plan.item_rows())
    with pytest.raises(PlanVersionError, match=f"names {len(rows)} items but 3 item rows"):
        RunPlan.from_dict(plan.to_dict(), rows[:3])


@pytest.mark.parametrize("version", [None, 0, 4, "2"])
def test_a_plan_of_an_unknown_version_does_not_load(version: Any) -> None:
    raw = {**v1_plan(), "version": version}
    if version is None:
        raw.pop("version")
    with pytest.raises(PlanVersionError, match="schema version"):
        RunPlan.from_dict(raw)


# ---------------------------------------------------------------------- resuming
def test_a_run_with_a_plan_of_an_unknown_version_fails_with_the_reason_and_writes_nothing(
    sandboxes: Any,
) -> None:
    h = Harness(sandboxes)
    saved = {**v1_plan(), "version": 99}
    h.store.plan = json.loads(json.dumps(saved))
    out = h.run(make_spec(sandboxes))
    assert out.status == "FAILED"
    assert "schema version 99" in out.reason and "start a new run" in out.reason
    assert h.store.plan == saved  # left as it was
    assert not any(writes(sandboxes).values())
    assert h.store.report is not None and h.store.report["status"] == "FAILED"
    assert h.store.report["problems"]["validation"] == [out.reason]


@pytest.mark.parametrize("old_plan", [v1_plan, v2_plan], ids=["version-1", "version-2"])
def test_a_run_resumed_from_a_plan_of_an_older_version_ends_as_an_uninterrupted_run(
    sandboxes: Any, old_plan: Any
) -> None:
    straight = Harness(sandboxes)
    assert straight.run(make_spec(sandboxes)).status == "COMPLETED"
    expected = jira_state(sandboxes)
    data = sandboxes.dataset
    active = [  # every item but the removed ones becomes an issue
        i
        for i in data.ids()
        if TYPES[data.type_of[i]].states[data.state_of[i]].category != "Removed"
    ]
    assert len(expected["issues"]) == len(active) and expected["sprints"] and expected["components"]

    sandboxes.reset()
    # Phase 1 again in a fresh Jira: it creates the same sprints and components the
    # fixture's run created; then the plan on record is the version-1 one.
    store = PauseAtPhase2()
    h = Harness(sandboxes, store=store, control=store.control)
    paused = h.run(make_spec(sandboxes, run_id="resumed"))
    assert paused.status == "PAUSED"
    assert h.store.plan is not None
    fresh = RunPlan.from_dict(h.store.plan, h.store.plan_items)
    old = RunPlan.from_dict(v1_plan())
    assert fresh.sprints.by_path == old.sprints.by_path, "the sandbox dataset changed"
    assert fresh.components.by_path == old.components.by_path, "the sandbox dataset changed"
    # the plan on record is the old one, and no item rows (the old engine wrote none)
    h.store.plan, h.store.plan_items = old_plan(), []

    h.control.request("run")
    out = h.run(make_spec(sandboxes, run_id="resumed"))
    assert out.status == "COMPLETED", out
    assert h.store.plan["version"] == SCHEMA_VERSION
    assert [i["ado_id"] for i in h.store.plan_items] == [i.ado_id for i in old.items]
    assert_complete(sandboxes, h.store)
    assert jira_state(sandboxes) == expected


def test_a_rerun_over_a_ledger_in_the_old_format_writes_nothing_again(sandboxes: Any) -> None:
    first = Harness(sandboxes)
    assert first.run(make_spec(sandboxes)).status == "COMPLETED"
    for entry in first.store.ledger.values():
        entry.extra.pop("v")  # as the engine wrote it before the typed book
    before = writes(sandboxes)
    again = first.next_run()
    out = again.run(make_spec(sandboxes))
    assert out.status == "COMPLETED"
    assert out.stats["skipped"] == len(first.store.items)
    assert writes(sandboxes) == before
