"""Bulk transition and transition on create, with bodies checked against the official spec."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.httpbase import CONTROL_PREFIX
from tests.sandbox.jira_support import Site, assert_matches_spec, issue_body, running_site

A = "/rest/api/3"
BULK_TRANSITION = A + "/bulk/issues/transition"
BULK_QUEUE = A + "/bulk/queue/{taskId}"


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as s:
        yield s


def _submit(site: Site, inputs: list[tuple[list[str], str]], **extra: Any) -> Any:
    body: dict[str, Any] = {
        "bulkTransitionInputs": [
            {"selectedIssueIdsOrKeys": refs, "transitionId": tid} for refs, tid in inputs
        ],
        **extra,
    }
    return site.http.post(site.api + "/bulk/issues/transition", json=body)


def _progress(site: Site, task_id: str) -> dict[str, Any]:
    answer = site.http.get(f"{site.api}/bulk/queue/{task_id}")
    return dict(assert_matches_spec(answer, "GET", BULK_QUEUE, 200))


def _finished(site: Site, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = _progress(site, task_id)
        if body["status"] == "COMPLETE":
            return body
        time.sleep(0.01)
    raise AssertionError(f"bulk task {task_id} did not complete")


def _status(site: Site, key: str) -> str:
    return str(site.app.dump_issue(key)["status"])


def test_bulk_transition_moves_each_issue_by_its_workflow_and_reports_failures(
    site: Site,
) -> None:
    tasks = [site.create("Task", f"t{n}") for n in range(3)]
    bug = site.create("Bug", "b")
    story = site.create("Story", "s")
    resp = _submit(
        site,
        [
            ([t["key"] for t in tasks[:2]] + [tasks[2]["id"]], "21"),  # Start progress
            ([bug["key"]], "4"),  # the Bug workflow's Start progress
            ([story["key"]], "41"),  # Done: not available from To Do
        ],
        sendBulkNotification=False,
    )
    submitted = assert_matches_spec(resp, "POST", BULK_TRANSITION, 201)
    done = _finished(site, submitted["taskId"])
    assert sorted(done["processedAccessibleIssues"]) == sorted(int(i["id"]) for i in (*tasks, bug))
    assert done["failedAccessibleIssues"] == {
        story["id"]: ["Transition id '41' is not valid for this issue."]
    }
    assert done["totalIssueCount"] == 5 and done["progressPercent"] == 100
    assert done["invalidOrInaccessibleIssueCount"] == 0
    assert [_status(site, t["key"]) for t in tasks] == ["In Progress"] * 3
    assert (_status(site, bug["key"]), _status(site, story["key"])) == ("In Progress", "To Do")
    writes = site.app.writes
    assert (writes["transitions"], writes["bulk_transitions"]) == (4, 1)
    assert writes.get("bulk_notifications", 0) == 0  # sendBulkNotification: false


def test_bulk_transition_runs_asynchronously_and_notifies_by_default(site: Site) -> None:
    site.app.settings.update({"bulk_transition_ms_per_issue": 40})
    keys = [site.create("Task", f"t{n}")["key"] for n in range(10)]
    submitted = assert_matches_spec(_submit(site, [(keys, "21")]), "POST", BULK_TRANSITION, 201)
    first = _progress(site, submitted["taskId"])
    assert first["status"] in ("ENQUEUED", "RUNNING") and first["progressPercent"] < 100
    assert "processedAccessibleIssues" not in first  # only once the task is done
    done = _finished(site, submitted["taskId"])
    assert len(done["processedAccessibleIssues"]) == 10
    assert site.app.writes["bulk_notifications"] == 1  # sendBulkNotification defaults to true


def test_bulk_transition_refuses_bad_bodies_unknown_issues_and_too_many(site: Site) -> None:
    key = site.create()["key"]
    url = site.api + "/bulk/issues/transition"
    bad: Any
    for bad in (
        {},
        {"bulkTransitionInputs": []},
        {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [key]}]},
        {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [key], "transitionId": 21}]},
        {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [], "transitionId": "21"}]},
        {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [key], "transitionId": "21", "x": 1}]},
        {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [key], "transitionId": "21"}], "x": 1},
        {
            "bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [key], "transitionId": "21"}],
            "sendBulkNotification": "no",
        },
        {
            "bulkTransitionInputs": [
                {"selectedIssueIdsOrKeys": [key] * 600, "transitionId": "21"},
                {"selectedIssueIdsOrKeys": [key] * 401, "transitionId": "21"},
            ]
        },
    ):
        assert_matches_spec(site.http.post(url, json=bad), "POST", BULK_TRANSITION, 400)
    unknown = assert_matches_spec(
        _submit(site, [([key, "MIG-999"], "21")]), "POST", BULK_TRANSITION, 400
    )
    assert unknown["errors"] == [
        {"message": "Some of the issues in the issueIdsOrKeys are not valid"}
    ]
    assert _status(site, key) == "To Do" and site.app.writes.get("bulk_transitions", 0) == 0


def test_without_bulk_change_the_bulk_transition_is_forbidden(site: Site) -> None:
    key = site.create()["key"]
    site.http.patch(
        site.url + CONTROL_PREFIX + "/jira/settings", json={"bulk_change_permission": False}
    )
    refused = assert_matches_spec(_submit(site, [([key], "21")]), "POST", BULK_TRANSITION, 403)
    assert "Bulk change" in refused["errors"][0]["message"]
    held = site.http.get(
        site.api + "/mypermissions", params={"projectKey": "MIG", "permissions": "BULK_CHANGE"}
    ).json()
    assert held["permissions"]["BULK_CHANGE"]["havePermission"] is False
    assert _status(site, key) == "To Do"


def test_bulk_transition_requests_are_counted_by_route(site: Site) -> None:
    key = site.create()["key"]
    task = _submit(site, [([key], "21")]).json()["taskId"]
    _finished(site, task)
    counters = site.app.counter_snapshot()
    assert counters["POST " + BULK_TRANSITION] == 1
    assert counters["GET " + BULK_QUEUE] >= 1


# ---------------------------------------------------------------------- transition on create
def test_create_with_a_transition_moves_the_new_issue_in_the_same_request(site: Site) -> None:
    resp = site.http.post(site.api + "/issue", json=issue_body("Task", "t", transition="21"))
    created = assert_matches_spec(resp, "POST", A + "/issue", 201)
    assert created["transition"] == {
        "status": 200,
        "errorCollection": {"errorMessages": [], "errors": {}},
    }
    assert _status(site, created["key"]) == "In Progress"
    plain = assert_matches_spec(
        site.http.post(site.api + "/issue", json=issue_body("Task", "plain")), "POST", A + "/issue"
    )
    assert "transition" not in plain and _status(site, plain["key"]) == "To Do"


def test_bulk_create_refuses_only_the_issue_whose_transition_is_invalid(site: Site) -> None:
    updates = [
        issue_body("Story", "ok", transition="21"),
        issue_body("Story", "done from to do", transition="41"),
        issue_body("Bug", "bug", transition="4"),
    ]
    resp = site.http.post(site.api + "/issue/bulk", json={"issueUpdates": updates})
    body = assert_matches_spec(resp, "POST", A + "/issue/bulk", 201)
    assert [e["failedElementNumber"] for e in body["errors"]] == [1]
    assert body["errors"][0]["elementErrors"]["errorMessages"] == [
        "Transition id '41' is not valid for this issue."
    ]
    assert [_status(site, i["key"]) for i in body["issues"]] == ["In Progress", "In Progress"]
    all_bad = site.http.post(
        site.api + "/issue/bulk", json={"issueUpdates": [issue_body("Task", "x", transition="99")]}
    )
    assert_matches_spec(all_bad, "POST", A + "/issue/bulk", 400)
    assert len(site.app.issue_keys()) == 2
