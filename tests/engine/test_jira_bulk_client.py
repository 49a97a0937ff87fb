"""JiraClient's bulk transition, bulk status read and create-time transition, against
`responses`; the request bodies are checked against the official spec."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import responses

from engine.errors import AuthError, PermanentError
from engine.http import OutcomeUnknown, RetryPolicy
from engine.jira import JiraClient
from engine.model import BulkTransitionInput
from tests.engine.test_jira_client import API, SITE, fast_limiter, load_jira_spec

BULK = f"{API}/bulk/issues/transition"


@pytest.fixture
def jira() -> JiraClient:
    return JiraClient(
        SITE,
        "me@acme.test",
        "tok",
        limiter=fast_limiter(),
        retry=RetryPolicy(max_attempts=3, sleep=lambda s: None, rng=lambda: 0.0),
    )


def _check_body(path: str, body: Any) -> None:
    spec = load_jira_spec()
    content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    jsonschema.validate(body, {**content["schema"], "components": spec["components"]})


@responses.activate
def test_bulk_transition_sends_the_spec_body_without_notifications(jira: JiraClient) -> None:
    responses.add("POST", BULK, json={"taskId": "10641"}, status=201)
    task = jira.bulk_transition(
        [BulkTransitionInput("21", ("A-1", "A-2")), BulkTransitionInput("4", ("A-3",))]
    )
    assert task == "10641"
    sent = json.loads(responses.calls[0].request.body or b"")
    assert sent == {
        "bulkTransitionInputs": [
            {"selectedIssueIdsOrKeys": ["A-1", "A-2"], "transitionId": "21"},
            {"selectedIssueIdsOrKeys": ["A-3"], "transitionId": "4"},
        ],
        "sendBulkNotification": False,
    }
    _check_body("/rest/api/3/bulk/issues/transition", sent)


@responses.activate
def test_bulk_transition_is_not_sent_twice_after_a_lost_answer(jira: JiraClient) -> None:
    responses.add("POST", BULK, body="<html>gateway timeout</html>", status=504)
    with pytest.raises(OutcomeUnknown):
        jira.bulk_transition([BulkTransitionInput("21", ("A-1",))])
    assert len(responses.calls) == 1


@responses.activate
def test_bulk_transition_without_bulk_change_is_an_auth_error(jira: JiraClient) -> None:
    message = "You don't have the global Bulk change permission."
    responses.add("POST", BULK, json={"errors": [{"message": message}]}, status=403)
    with pytest.raises(AuthError):
        jira.bulk_transition([BulkTransitionInput("21", ("A-1",))])


def test_bulk_transition_takes_1_to_1000_issues(jira: JiraClient) -> None:
    for bad in ([], [BulkTransitionInput("21", ())], [BulkTransitionInput("1", ("A",) * 1001)]):
        with pytest.raises(ValueError):
            jira.bulk_transition(bad)


@responses.activate
def test_a_bulk_transition_answer_without_a_task_id_is_refused(jira: JiraClient) -> None:
    responses.add("POST", BULK, json={}, status=201)
    with pytest.raises(PermanentError):
        jira.bulk_transition([BulkTransitionInput("21", ("A-1",))])


@responses.activate
def test_statuses_are_read_with_bulk_fetch_100_at_a_time(jira: JiraClient) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        keys = json.loads(request.body)["issueIdsOrKeys"]
        issues = [{"key": k, "fields": {"status": {"name": "Done"}}} for k in keys[:-1]]
        return 200, {}, json.dumps({"issues": issues, "issueErrors": []})

    responses.add_callback("POST", f"{API}/issue/bulkfetch", callback=answer)
    keys = [f"A-{n}" for n in range(150)]
    found = jira.statuses(keys)
    assert len(responses.calls) == 2
    sent = [json.loads(c.request.body or b"") for c in responses.calls]
    assert [len(b["issueIdsOrKeys"]) for b in sent] == [100, 50]
    _check_body("/rest/api/3/issue/bulkfetch", sent[0])
    assert len(found) == 148 and found["A-0"] == "Done" and "A-99" not in found


@responses.activate
def test_a_created_issue_says_whether_its_transition_was_done(jira: JiraClient) -> None:
    moved = {"status": 200, "errorCollection": {"errorMessages": [], "errors": {}}}
    responses.add(
        "POST",
        f"{API}/issue/bulk",
        json={
            "issues": [
                {"id": "1", "key": "A-1", "self": "u", "transition": moved},
                {"id": "2", "key": "A-2", "self": "u", "transition": {"status": 400}},
                {"id": "3", "key": "A-3", "self": "u"},
            ],
            "errors": [],
        },
        status=201,
    )
    result = jira.create_issues([{"fields": {}, "transition": {"id": "21"}}] * 3)
    assert [result.created[i].transitioned for i in range(3)] == [True, False, False]
    assert [result.created[i].transition_status for i in range(3)] == [200, 400, None]
