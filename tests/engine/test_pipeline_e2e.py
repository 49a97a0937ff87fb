"""run_migration end to end: memory ports, the real clients, the real sandboxes over HTTP."""

from __future__ import annotations

from typing import Any

from engine.planning import under_area
from tests.engine.test_pipeline_support import (
    Harness,
    ado_comments,
    assert_complete,
    assert_exactly_once,
    issues_by_ado,
    make_spec,
    now_iso,
    write_requests,
    writes,
)


def _planned(h: Harness) -> dict[int, dict[str, Any]]:
    assert h.store.plan is not None
    return {i["ado_id"]: i for i in h.store.plan_items}


def test_full_run_migrates_every_item_once_with_hierarchy_states_and_content(
    sandboxes: Any,
) -> None:
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED", outcome
    assert_complete(sandboxes, h.store)
    planned = _planned(h)
    issues = issues_by_ado(sandboxes)
    removed = [i for i, p in planned.items() if p["state_category"] == "Removed"]
    assert removed and all(i not in issues for i in removed)
    assert len(issues) == len(planned) - len(removed)
    assert outcome.stats == {"created": len(issues), "skipped": len(removed), "failed": 0}
    # hierarchy: sub-tasks and stories sit under the issue of their ADO parent
    keys = {i: v[0]["key"] for i, v in issues.items()}
    by_key = {v[0]["key"]: v[0] for v in issues.values()}
    parented = [
        p for p in planned.values() if p["jira_parent"] is not None and p["action"] != "skip"
    ]
    assert parented
    for p in parented:
        parent = by_key[keys[p["ado_id"]]]["fields"]["parent"]
        assert str(parent) == by_key[keys[p["jira_parent"]]]["id"]
    # events: seed payloads, lowercase status, done stats last
    assert h.events.events[-2:] == [
        {"type": "status", "status": "completed"},
        {"type": "done", "stats": outcome.stats},
    ]
    assert any(m.startswith("✓ ADO #") and "→ MIG-" in m for m in h.events.logs())
    assert h.events.of_type("progress")[-1]["current"] == len(planned)
    # phases 2 to 5 run at once: the run shows the lowest still running, never going back
    seen = h.store.phases_seen
    assert seen[:3] == [1, 2, 3] and seen[-1] == 6 and seen == sorted(set(seen))
    report = h.store.report
    assert report is not None
    assert {p["name"] for p in report["phases"]} >= {"create issues", "verify"}
    assert report["verification"]["ok"] is True
    assert report["typeMappings"] and report["stateMappings"]
    assert report["problems"]["oversizedAttachments"]  # the dataset's 11 MB dump
    assert report["problems"]["unmappedUsers"]
    assert report["fidelity"]["summary"]["items"] == len(issues)
    assert set(report["removedItems"]["adoIds"]) == set(removed)


def test_a_second_full_run_adopts_from_the_ledger_and_writes_nothing(sandboxes: Any) -> None:
    first = Harness(sandboxes)
    assert first.run(make_spec(sandboxes)).status == "COMPLETED"
    before, requests = writes(sandboxes), write_requests(sandboxes)

    second = first.next_run()
    outcome = second.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED"
    assert outcome.stats["created"] == 0 and outcome.stats["failed"] == 0
    assert outcome.stats["skipped"] == len(_planned(second))
    assert writes(sandboxes) == before
    assert write_requests(sandboxes) == requests
    assert_exactly_once(sandboxes)


def test_a_full_run_with_a_lost_ledger_adopts_the_issues_by_label(sandboxes: Any) -> None:
    assert Harness(sandboxes).run(make_spec(sandboxes)).status == "COMPLETED"
    created = writes(sandboxes)["issues_created"]

    fresh = Harness(sandboxes)  # no ledger at all: as if the database were lost
    outcome = fresh.run(make_spec(sandboxes))

    assert outcome.status == "COMPLETED"
    assert writes(sandboxes)["issues_created"] == created
    assert_exactly_once(sandboxes)


def test_dry_run_reads_everything_and_writes_nothing(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, dry_run=True))

    assert outcome.status == "COMPLETED"
    assert write_requests(sandboxes) == 0
    assert sandboxes.jira.snapshot()["issues"] == []
    assert h.store.ledger == {}
    report = h.store.report
    assert report is not None and report["dryRun"] is True
    samples = report["samplePayloads"]
    assert 1 <= len(samples) <= 5
    for sample in samples:
        fields = sample["create"]["fields"]
        assert f"ado-{sample['adoId']}" in fields["labels"]
        assert fields["project"] == {"key": sandboxes.project_key}
        assert sample["create"]["properties"][0]["key"] == "ado.migration"
    assert len({s["adoType"] for s in samples}) == len(samples)  # one per type first
    assert report["problems"]["oversizedAttachments"]
    assert report["fidelity"]
    assert set(h.store.counts()) == {"SKIPPED"}


def test_sample_run_holds_each_type_and_the_parents(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    types = {sandboxes.dataset.type_name(i) for i in sandboxes.dataset.ids()}
    outcome = h.run(make_spec(sandboxes, "SAMPLE", sample_size=len(types)))  # one of each

    assert outcome.status == "COMPLETED"
    planned = _planned(h)
    assert {p["ado_type"] for p in planned.values()} == types
    for p in planned.values():
        if p["parent_id"] is not None:
            assert p["parent_id"] in planned
    assert len(types) <= len(planned) < 60
    assert_complete(sandboxes, h.store)
    assert len(issues_by_ado(sandboxes)) == sum(
        1 for p in planned.values() if p["action"] != "skip"
    )


def test_area_and_type_filters(sandboxes: Any) -> None:
    ds = sandboxes.dataset
    area = ds.project + "\\Web"
    expected = {
        i
        for i in ds.ids()
        if under_area(ds.area_path(i), area) and ds.type_name(i) in ("User Story", "Bug")
    }
    assert expected
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, area_filter=area, type_filter=[" User Story , Bug"]))

    assert outcome.status == "COMPLETED"
    assert set(_planned(h)) == expected
    assert set(issues_by_ado(sandboxes)) <= expected
    assert_complete(sandboxes, h.store)


def test_type_and_state_overrides_win(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    spec = make_spec(
        sandboxes, type_overrides={"Bug": "Task"}, state_overrides={"Resolved": "In Review"}
    )
    outcome = h.run(spec)

    assert outcome.status == "COMPLETED"
    issues = issues_by_ado(sandboxes)
    planned = _planned(h)
    bugs = [i for i, p in planned.items() if p["ado_type"] == "Bug"]
    assert bugs and all(issues[i][0]["issuetype"] == "Task" for i in bugs)
    resolved = [
        i for i, p in planned.items() if p["state"] == "Resolved" and p["ado_type"] == "User Story"
    ]
    assert resolved and all(issues[i][0]["status"] == "In Review" for i in resolved)
    report = h.store.report
    assert report is not None
    bug_map = next(m for m in report["typeMappings"] if m["adoType"] == "Bug")
    assert (bug_map["jiraType"], bug_map["source"], bug_map["confidence"]) == (
        "Task",
        "override",
        1.0,
    )
    assert any(
        m["source"] == "override" and m["jiraStatus"] == "In Review"
        for m in report["stateMappings"]
    )


def test_an_override_to_a_missing_type_fails_the_preflight_without_writing(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, type_overrides={"Feature": "Capability"}))

    assert outcome.status == "FAILED"
    assert "Capability" in outcome.reason
    assert write_requests(sandboxes) == 0
    assert h.events.events[-2]["status"] == "failed"


def test_a_missing_jira_project_fails_the_run(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    spec = make_spec(sandboxes)
    spec.project_key = "NOPE"
    outcome = h.run(spec)

    assert outcome.status == "FAILED"
    assert "not found" in outcome.reason.lower()


def test_bad_jira_credentials_fail_the_run(sandboxes: Any) -> None:
    from engine.jira import JiraClient

    h = Harness(sandboxes)
    bad = JiraClient(sandboxes.jira_url, sandboxes.email, "wrong-token")
    outcome = h.run(make_spec(sandboxes), target=bad)

    assert outcome.status == "FAILED"
    assert "credentials" in outcome.reason.lower()
    assert write_requests(sandboxes) == 0


def test_incremental_updates_in_place_appends_once_and_then_writes_nothing(
    sandboxes: Any,
) -> None:
    first = Harness(sandboxes)
    assert first.run(make_spec(sandboxes)).status == "COMPLETED"
    planned = _planned(first)
    story = next(
        i for i, p in planned.items() if p["ado_type"] == "User Story" and p["action"] == "create"
    )
    since = now_iso()
    sandboxes.ado.edit_item(story, None, title="Renamed in ADO")
    sandboxes.ado.add_comment(story, "<p>A new comment</p>")
    parent = next(
        i for i, p in planned.items() if p["ado_type"] == "Feature" and p["action"] == "create"
    )
    new_id = sandboxes.ado.add_item("User Story", "Brand new story", parent=parent)
    before, counters = writes(sandboxes), dict(sandboxes.jira.snapshot()["counters"])

    second = first.next_run()
    outcome = second.run(make_spec(sandboxes, "INCREMENTAL", changed_since=since))

    assert outcome.status == "COMPLETED", outcome
    assert outcome.stats == {"created": 1, "updated": 1, "skipped": 0, "failed": 0}
    after = writes(sandboxes)
    delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert delta["issues_created"] == 1
    # the new ADO comment, and a history part on each of the two items written
    assert delta["comments"] == 1 + 2
    issues = issues_by_ado(sandboxes)
    assert issues[story][0]["fields"]["summary"] == "Renamed in ADO"
    assert len(ado_comments(issues[story][0])) == len(
        sandboxes.ado.store.comments(story, include_deleted=False)
    )
    parts = sorted(
        (
            c["properties"]["ado.history"]
            for c in issues[story][0]["comments"]
            if "ado.history" in c["properties"]
        ),
        key=lambda p: int(p["fromRev"]),
    )
    assert len(parts) == 2 and parts[1]["fromRev"] == parts[0]["toRev"] + 1
    assert issues[new_id][0]["fields"]["parent"]
    assert_exactly_once(sandboxes)
    routes = sandboxes.jira.snapshot()["counters"]
    assert (
        routes.get("POST /rest/api/3/issue/bulk", 0)
        - counters.get("POST /rest/api/3/issue/bulk", 0)
        == 1
    )

    since = now_iso()
    quiet = second.next_run()
    requests = write_requests(sandboxes)
    outcome = quiet.run(make_spec(sandboxes, "INCREMENTAL", changed_since=since))
    assert outcome.status == "COMPLETED"
    assert outcome.stats == {"created": 0, "updated": 0, "skipped": 0, "failed": 0}
    assert write_requests(sandboxes) == requests


def test_incremental_without_a_previous_run_behaves_as_full(sandboxes: Any) -> None:
    h = Harness(sandboxes)
    outcome = h.run(make_spec(sandboxes, "INCREMENTAL", changed_since=None))

    assert outcome.status == "COMPLETED"
    assert outcome.stats["created"] == len(issues_by_ado(sandboxes)) > 0
    assert "updated" in outcome.stats
    assert_complete(sandboxes, h.store)
