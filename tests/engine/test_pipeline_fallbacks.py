"""Where Jira cannot hold an area or an iteration as such, they arrive as labels.

run_migration with memory ports against the real sandboxes, one fallback each:
a Jira user who may not create components, and a project without a scrum board.
"""

from __future__ import annotations

from typing import Any

from engine.itemvalues import below_root
from tests.engine.test_pipeline_support import (
    Harness,
    assert_complete,
    assert_exactly_once,
    issues_by_ado,
    make_spec,
)


def _planned_ids(h: Harness) -> set[int]:
    assert h.store.plan is not None
    return {i["ado_id"] for i in h.store.plan_items if i["action"] != "skip"}


def _areas_and_iterations(sb: Any, ids: set[int]) -> dict[int, tuple[str, str]]:
    out = {}
    for ado_id in ids:
        fields = sb.ado.item_fields(ado_id)
        out[ado_id] = (fields["System.AreaPath"], fields["System.IterationPath"])
    return out


def test_areas_become_labels_when_the_user_may_not_create_components(sandboxes: Any) -> None:
    sandboxes.jira.settings.manage_components = False
    h = Harness(sandboxes)

    outcome = h.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED", outcome
    assert_complete(sandboxes, h.store)
    assert_exactly_once(sandboxes)
    assert sandboxes.jira.state.components == {}
    report = h.store.report
    assert report is not None
    components = report["components"]
    assert components["created"] == [] and components["notCreated"]
    assert "403" in components["reason"]
    paths = _areas_and_iterations(sandboxes, _planned_ids(h))
    issues = issues_by_ado(sandboxes)
    below = [i for i, (area, _) in paths.items() if below_root(area)]
    assert below
    for ado_id in below:
        fields = issues[ado_id][0]["fields"]
        assert not fields.get("components")
        assert any(label.startswith("area-") for label in fields["labels"]), ado_id


def test_iterations_become_labels_when_the_project_has_no_board(sandboxes: Any) -> None:
    sandboxes.jira.settings.scrum_board = False
    h = Harness(sandboxes)

    outcome = h.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED", outcome
    assert_exactly_once(sandboxes)
    assert sandboxes.jira.state.sprints == {}
    report = h.store.report
    assert report is not None
    assert report["sprints"]["mode"] == "label"
    assert report["sprints"]["itemsToMove"] == 0
    paths = _areas_and_iterations(sandboxes, _planned_ids(h))
    issues = issues_by_ado(sandboxes)
    scheduled = [i for i, (_, iteration) in paths.items() if below_root(iteration)]
    assert scheduled
    for ado_id in scheduled:
        labels = issues[ado_id][0]["fields"]["labels"]
        assert any(label.startswith("iteration-") for label in labels), ado_id
