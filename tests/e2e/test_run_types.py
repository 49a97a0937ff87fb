"""Run types end to end: the public API, a real Celery worker, the sandboxes over HTTP.

Each test checks the outcome three ways: the Jira sandbox (issues per type and
status, write counters), the API (status counts, items, crosswalk, report) and the
stored live events (``done`` stats).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.e2e.support import (
    ado_items,
    assert_hierarchy_kept,
    assert_ledger_matches_jira,
    assert_no_duplicates,
    body_for,
    check_against_report,
    crosswalk_of,
    done_stats,
    events_of,
    issues_by_ado,
    issues_per_status,
    issues_per_type,
    items_of,
    jira_issues,
    report_of,
    run_to_end,
    start_run,
    start_url,
    status_of,
    under,
    wait_final,
    write_requests,
    writes,
    writes_delta,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private_targets"),
]


def check_api_views(api: Any, run_id: str, boxes: Any, final: dict[str, Any]) -> list[dict]:
    """Status counts, items and crosswalk agree with each other and with Jira."""
    items = items_of(api, run_id)
    counts = Counter(i["status"] for i in items)
    assert final["totalItems"] == len(items)
    assert final["successCount"] == counts["CREATED"] + counts["UPDATED"]
    assert final["skippedCount"] == counts["SKIPPED"]
    assert final["failureCount"] == counts["FAILED"] == 0
    assert final["updatedCount"] == counts["UPDATED"]
    assert counts["PENDING"] == 0
    keys = {i["key"]: i for i in jira_issues(boxes)}
    by_ado = {ado_id: v[0]["key"] for ado_id, v in issues_by_ado(boxes).items()}
    for item in items:
        if item["status"] in ("CREATED", "UPDATED"):
            assert item["jiraKey"] == by_ado[item["adoId"]], item
            assert item["jiraUrl"].endswith(f"/browse/{item['jiraKey']}")
            assert item["jiraKey"] in keys
        assert item["adoUrl"].endswith(f"/_workitems/edit/{item['adoId']}"), item
    rows = crosswalk_of(api, run_id)
    crosswalk = {int(r["ado_id"]): r for r in rows}
    assert len(crosswalk) == len(rows), "one crosswalk row per ADO id"
    assert {i: r["jira_key"] for i, r in crosswalk.items() if r["jira_key"]} == by_ado
    for item in items:
        row = crosswalk.get(item["adoId"])
        if item["jiraKey"]:
            assert row is not None, item
            assert row["ado_type"] == item["adoType"]
            assert row["ado_url"] == item["adoUrl"]
            assert row["jira_url"] == item["jiraUrl"]
            assert row["status"] in ("CREATED", "UPDATED", "SKIPPED")
    return items


# --------------------------------------------------------------------------- FULL
def test_full_run_migrates_every_item_and_a_second_start_is_refused(
    owner_api, project, celery_worker, sandboxes
):
    run = start_run(owner_api, project, sandboxes)
    assert run["status"] in ("PENDING", "RUNNING")
    # No worker yet: the run is surely still active when the second start comes.
    again = owner_api.post(start_url(project), body_for(sandboxes), format="json")
    assert again.status_code == 409, again.content
    assert again.json()["code"] == "MIGRATION_ALREADY_RUNNING"
    celery_worker()

    final = wait_final(owner_api, run["id"])
    assert final["status"] == "COMPLETED", final
    assert final["progressPercent"] == 100
    ado = ado_items(sandboxes)
    removed = {i for i, v in ado.items() if v["state"] == "Removed"}
    migrated = set(ado) - removed
    assert removed, "the dataset holds removed items"

    # Jira: one issue per migrated ADO item, with the mapped type and status
    report = report_of(owner_api, run["id"])["report"]
    check_against_report(sandboxes, report, migrated)
    assert sum(issues_per_type(sandboxes).values()) == len(migrated)
    per_type = Counter(ado[i]["type"] for i in migrated)
    counts = report["countsPerType"]
    for ado_type, n in per_type.items():
        assert counts[ado_type]["created"] == n, (ado_type, counts[ado_type])
    # Each issue has its ADO type's Jira type, or the standalone one of a sub-task type
    # whose item had no parent to sit under (check_against_report checks it per issue).
    mapped = {t for m in report["typeMappings"] for t in (m["jiraType"], m.get("standaloneType"))}
    assert set(issues_per_type(sandboxes)) <= mapped
    assert sum(issues_per_type(sandboxes).values()) == sum(
        row.get("created", 0) for row in counts.values()
    )
    assert_no_duplicates(sandboxes)
    assert_ledger_matches_jira(project, sandboxes)
    assert set(report["removedItems"]["adoIds"]) == removed

    # API: status, items, crosswalk, live events
    assert final["totalItems"] == len(ado)
    assert final["successCount"] == len(migrated)
    assert final["skippedCount"] == len(removed)
    items = check_api_views(owner_api, run["id"], sandboxes, final)
    assert {i["adoId"] for i in items if i["status"] == "CREATED"} == migrated
    assert {i["adoId"] for i in items if i["status"] == "SKIPPED"} == removed
    assert {i["adoType"] for i in items} == {v["type"] for v in ado.values()}
    assert done_stats(run["id"]) == {"created": len(migrated), "skipped": len(removed), "failed": 0}
    statuses = [e["status"] for e in events_of(run["id"], "status")]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    created_only = owner_api.get(f"/api/migrations/{run['id']}/items?status=SKIPPED").json()
    assert created_only["count"] == len(removed)

    # once finished, a new start is accepted again
    assert start_run(owner_api, project, sandboxes, dry_run=True)["status"] == "PENDING"


# --------------------------------------------------------------------------- INCREMENTAL
def test_incremental_updates_in_place_appends_once_creates_new_and_touches_nothing_else(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    full = run_to_end(owner_api, project, sandboxes)
    assert full["status"] == "COMPLETED", full
    ado = ado_items(sandboxes)
    story = next(
        i
        for i, v in sorted(ado.items())
        if v["type"] == "User Story" and v["state"] == "New" and v["parent"]
    )
    feature = next(
        i for i, v in sorted(ado.items()) if v["type"] == "Feature" and v["state"] != "Removed"
    )
    before_story = issues_by_ado(sandboxes)[story][0]
    comments_before = len(before_story["comments"])

    sandboxes.ado.edit_item(story, title="Renamed in ADO", state="Active")
    sandboxes.ado.add_comment(story, "<p>A comment added after the FULL run</p>")
    new_id = sandboxes.ado.add_item("User Story", "Brand new story", parent=feature)
    snapshot = {i["key"]: i for i in jira_issues(sandboxes)}
    before, requests = writes(sandboxes), write_requests(sandboxes)

    inc = run_to_end(owner_api, project, sandboxes, "INCREMENTAL")
    assert inc["status"] == "COMPLETED", inc

    # Jira: the story edited in place, one comment appended, the new item created; each
    # of the two carries its new revisions as one history comment
    delta = writes_delta(before, writes(sandboxes))
    assert delta.get("issues_created") == 1, delta
    assert delta.get("comments") == 1 + 2, delta
    assert delta.get("issues_edited", 0) >= 1, delta
    assert delta.get("transitions", 0) >= 1, delta
    assert set(delta) <= {
        "issues_created",
        "issues_edited",
        "transitions",
        "comments",
        "properties",
        "remote_links",
        "remote_links_updated",
    }, delta
    by_ado = issues_by_ado(sandboxes)
    edited = by_ado[story][0]
    assert edited["key"] == before_story["key"]
    assert edited["fields"]["summary"] == "Renamed in ADO"
    assert edited["status"] == "In Progress"
    assert len(edited["comments"]) == comments_before + 1 + 1  # the comment, the history part
    created = by_ado[new_id][0]
    assert created["fields"]["summary"] == "Brand new story"
    assert_hierarchy_kept(created, by_ado[feature][0])
    untouched = {k: v for k, v in snapshot.items() if k != edited["key"]}
    now = {i["key"]: i for i in jira_issues(sandboxes) if i["key"] in untouched}
    changed = sorted(k for k in untouched if now[k] != untouched[k])
    assert not changed, f"INCREMENTAL touched issues it had no reason to: {changed}"
    assert_no_duplicates(sandboxes)
    assert_ledger_matches_jira(project, sandboxes)

    # API: two items (UPDATED, CREATED), stats with `updated`
    items = check_api_views(owner_api, inc["id"], sandboxes, inc)
    assert {i["adoId"]: i["status"] for i in items} == {story: "UPDATED", new_id: "CREATED"}
    assert inc["totalItems"] == 2 and inc["updatedCount"] == 1
    assert done_stats(inc["id"]) == {"created": 1, "updated": 1, "skipped": 0, "failed": 0}
    rows = {int(r["ado_id"]): r for r in crosswalk_of(owner_api, inc["id"])}
    assert len(rows) == len(ado) - sum(v["state"] == "Removed" for v in ado.values()) + 1
    assert rows[story]["status"] == "UPDATED" and rows[new_id]["status"] == "CREATED"
    assert write_requests(sandboxes) > requests

    # a second INCREMENTAL with nothing changed writes nothing
    frozen, frozen_requests = writes(sandboxes), write_requests(sandboxes)
    quiet = run_to_end(owner_api, project, sandboxes, "INCREMENTAL")
    assert quiet["status"] == "COMPLETED", quiet
    assert writes(sandboxes) == frozen
    assert write_requests(sandboxes) == frozen_requests
    assert quiet["totalItems"] == 0
    assert done_stats(quiet["id"]) == {"created": 0, "updated": 0, "skipped": 0, "failed": 0}


def test_incremental_with_no_previous_finished_run_behaves_as_full(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    final = run_to_end(owner_api, project, sandboxes, "INCREMENTAL")
    assert final["status"] == "COMPLETED", final
    ado = ado_items(sandboxes)
    removed = {i for i, v in ado.items() if v["state"] == "Removed"}
    migrated = set(ado) - removed
    assert final["totalItems"] == len(ado)
    assert set(issues_by_ado(sandboxes)) == migrated
    assert_no_duplicates(sandboxes)
    assert_ledger_matches_jira(project, sandboxes)
    check_api_views(owner_api, final["id"], sandboxes, final)
    assert done_stats(final["id"]) == {
        "created": len(migrated),
        "updated": 0,
        "skipped": len(removed),
        "failed": 0,
    }


# --------------------------------------------------------------------------- dry run
def test_dry_run_writes_nothing_reports_payloads_and_a_later_incremental_does_everything(
    owner_api, project, celery_worker, sandboxes
):
    celery_worker()
    final = run_to_end(owner_api, project, sandboxes, dry_run=True)
    assert final["status"] == "COMPLETED", final

    assert write_requests(sandboxes) == 0
    assert sum(writes(sandboxes).values()) == 0
    assert jira_issues(sandboxes) == []
    report = report_of(owner_api, final["id"])
    assert report["dryRun"] is True
    body = report["report"]
    assert body["dryRun"] is True
    samples = body["samplePayloads"]
    assert samples
    ado = ado_items(sandboxes)
    for sample in samples:
        fields = sample["create"]["fields"]
        assert f"ado-{sample['adoId']}" in fields["labels"]
        assert fields["project"] == {"key": sandboxes.project_key}
        assert sample["adoType"] == ado[sample["adoId"]]["type"]
    assert final["totalItems"] == len(ado)
    items = items_of(owner_api, final["id"])
    assert len(items) == len(ado)
    assert all(not i["jiraKey"] for i in items)
    assert crosswalk_of(owner_api, final["id"]) == []

    # the dry run migrated nothing: an INCREMENTAL afterwards must take every item
    inc = run_to_end(owner_api, project, sandboxes, "INCREMENTAL")
    assert inc["status"] == "COMPLETED", inc
    removed = {i for i, v in ado.items() if v["state"] == "Removed"}
    assert set(issues_by_ado(sandboxes)) == set(ado) - removed
    assert_no_duplicates(sandboxes)


# --------------------------------------------------------------------------- SAMPLE
def _check_sample(api: Any, run_id: str, boxes: Any, final: dict[str, Any], size: int) -> None:
    assert final["status"] == "COMPLETED", final
    ado = ado_items(boxes)
    items = check_api_views(api, run_id, boxes, final)
    chosen = {i["adoId"] for i in items}
    types_present = {v["type"] for v in ado.values()}
    assert {ado[i]["type"] for i in chosen} == types_present, "every type present"
    assert size <= len(chosen) < len(ado)
    for ado_id in chosen:
        parent = ado[ado_id]["parent"]
        assert parent is None or parent in chosen, f"parent {parent} of {ado_id} not in sample"
    migrated = {i["adoId"] for i in items if i["status"] == "CREATED"}
    by_ado = issues_by_ado(boxes)
    assert set(by_ado) == migrated
    for ado_id in migrated:
        parent = ado[ado_id]["parent"]
        if parent in by_ado:
            assert_hierarchy_kept(by_ado[ado_id][0], by_ado[parent][0])
    report = report_of(api, run_id)["report"]
    check_against_report(boxes, report, migrated)
    assert_no_duplicates(boxes)


def test_sample_runs_hold_every_type_and_the_parents(owner_api, project, celery_worker, sandboxes):
    from migrations_app.models import Project

    celery_worker()
    default = run_to_end(owner_api, project, sandboxes, "SAMPLE")
    _check_sample(owner_api, default["id"], sandboxes, default, 10)
    assert_ledger_matches_jira(project, sandboxes)
    default_count = default["totalItems"]

    # options.sample_size, on a second project and an empty Jira site
    sandboxes.jira.reset()
    other = Project.objects.create(tenant=project.tenant, name="Second sample")
    size = len({v["type"] for v in ado_items(sandboxes).values()})  # room for one of each
    seven = run_to_end(owner_api, other, sandboxes, "SAMPLE", sample_size=size)
    _check_sample(owner_api, seven["id"], sandboxes, seven, size)
    assert_ledger_matches_jira(other, sandboxes)
    assert seven["totalItems"] <= default_count


# --------------------------------------------------------------------------- filters
def test_area_filter_is_under_and_type_filter_takes_a_spaced_list(
    owner_api, project, celery_worker, sandboxes
):
    ado = ado_items(sandboxes)

    def wanted(area: str) -> tuple[set[int], set[int]]:
        found = {
            i
            for i, v in ado.items()
            if under(v["area"], area) and v["type"] in ("User Story", "Bug")
        }
        return found, {i for i in found if ado[i]["area"].lower() != area.lower()}

    # an area (below the root) holding such items both at its own level and below it
    paths = {v["area"] for v in ado.values()}
    areas = sorted({"\\".join(p.split("\\")[:n]) for p in paths for n in (2, 3)})
    area = next(a for a in areas if wanted(a)[1] and wanted(a)[0] - wanted(a)[1])
    expected, deeper = wanted(area)
    assert deeper and expected - deeper, "the filter must take the area and its children"
    celery_worker()

    final = run_to_end(
        owner_api, project, sandboxes, area_filter=area, type_filter=" User Story ,Bug , "
    )
    assert final["status"] == "COMPLETED", final
    items = check_api_views(owner_api, final["id"], sandboxes, final)
    assert {i["adoId"] for i in items} == expected
    assert final["totalItems"] == len(expected)
    migrated = {i for i in expected if ado[i]["state"] != "Removed"}
    assert set(issues_by_ado(sandboxes)) == migrated
    report = report_of(owner_api, final["id"])["report"]
    check_against_report(sandboxes, report, migrated)
    want = Counter(ado[i]["type"] for i in migrated)
    assert issues_per_type(sandboxes) == {"Story": want["User Story"], "Bug": want["Bug"]}
    assert_no_duplicates(sandboxes)


# --------------------------------------------------------------------------- overrides
def test_type_and_state_overrides_win_over_the_automatic_mapping(
    owner_api, project, celery_worker, sandboxes
):
    ado = ado_items(sandboxes)
    celery_worker()
    final = run_to_end(
        owner_api,
        project,
        sandboxes,
        type_filter="Bug, User Story, Feature",
        type_overrides={"Bug": "Task", "Feature": "Story"},
        state_overrides={"Resolved": "In Review", "Closed": "Won't Do"},
    )
    assert final["status"] == "COMPLETED", final
    chosen = {
        i: v
        for i, v in ado.items()
        if v["type"] in ("Bug", "User Story", "Feature") and v["state"] != "Removed"
    }
    by_ado = issues_by_ado(sandboxes)
    assert set(by_ado) == set(chosen)
    want_types = Counter(
        {"Bug": "Task", "Feature": "Story", "User Story": "Story"}[v["type"]]
        for v in chosen.values()
    )
    assert issues_per_type(sandboxes) == dict(want_types)
    # Stories (User Story, and Feature overridden to Story) reach In Review and Won't Do;
    # Bugs became Tasks, whose workflow has neither: the report says so and the automatic
    # mapping is used for them.
    stories = {i: v for i, v in chosen.items() if v["type"] != "Bug"}
    bugs = {i: v for i, v in chosen.items() if v["type"] == "Bug"}
    for ado_id, item in stories.items():
        issue = by_ado[ado_id][0]
        if item["state"] == "Resolved":
            assert issue["status"] == "In Review", (ado_id, item)
        if item["state"] == "Closed":
            assert issue["status"] == "Won't Do", (ado_id, item)
    per_status = issues_per_status(sandboxes)
    assert per_status.get("In Review", 0) == sum(v["state"] == "Resolved" for v in stories.values())
    assert per_status.get("Won't Do", 0) == sum(v["state"] == "Closed" for v in stories.values())
    assert sum(v["state"] == "Closed" for v in stories.values()) >= 2
    report = report_of(owner_api, final["id"])["report"]
    problems = " ".join(report["problems"]["validation"])
    assert "'Closed' -> 'Won't Do'" in problems and "'Task'" in problems, problems
    closed_bugs = {i for i, v in bugs.items() if v["state"] == "Closed"}
    assert closed_bugs
    for ado_id in closed_bugs:
        assert by_ado[ado_id][0]["status"] == "Done", by_ado[ado_id][0]["status"]
    check_against_report(sandboxes, report, set(chosen))
    types = {m["adoType"]: m for m in report["typeMappings"]}
    assert (types["Bug"]["jiraType"], types["Bug"]["source"]) == ("Task", "override")
    assert (types["Feature"]["jiraType"], types["Feature"]["source"]) == ("Story", "override")
    assert types["User Story"]["source"] == "automatic"
    overridden = [m for m in report["stateMappings"] if m["source"] == "override"]
    assert {m["adoState"] for m in overridden} == {"Resolved", "Closed"}
    check_api_views(owner_api, final["id"], sandboxes, final)
    assert_no_duplicates(sandboxes)
    assert status_of(owner_api, final["id"])["status"] == "COMPLETED"
