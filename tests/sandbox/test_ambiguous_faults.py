"""Faults that leave a write's outcome unknown: lost answers, late writes, slow bulk.

Real HTTP against both sandboxes. Every lost answer must have been applied (it
shows in the Jira site's inspection routes, or, for ADO's read-only POSTs, in the
``lost:`` counter, which counts only answers the handler gave as 2xx).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from sandbox.httpbase import Knobs
from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.jira_support import EMAIL, TOKEN, doc, issue_body, para, running_site

V = "api-version=7.1"
JIRA_ISSUE = "POST /rest/api/3/issue"
JIRA_BULK = "POST /rest/api/3/issue/bulk"
JIRA_COMMENT = "POST /rest/api/3/issue/{issueIdOrKey}/comment"
ADO_WIQL = "POST /{org}/{project}/_apis/wit/wiql"
ADO_BATCH = "POST /{org}/{project}/_apis/wit/workitemsbatch"
WIQL = {"query": "SELECT [System.Id] FROM WorkItems"}
PATIENT = 10.0  # seconds; a client that outwaits every hold in this file


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def jira(sandboxes: SandboxHandle) -> Iterator[tuple[str, requests.Session]]:
    """The shared Jira sandbox's base URL and an authenticated session."""
    if sandboxes.jira_url is None:
        pytest.skip("sandbox.jira is not available")
    with requests.Session() as http:
        http.auth = (sandboxes.email, sandboxes.api_token)
        yield sandboxes.jira_url, http


def _knobs(base: str, **changes: Any) -> dict[str, Any]:
    r = requests.patch(base + "/_sandbox/knobs", json=changes, timeout=5)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _late_left(base: str) -> dict[str, Any]:
    return dict(requests.get(base + "/_sandbox/knobs", timeout=5).json()["late_writes"])


def _counters(base: str) -> dict[str, int]:
    return dict(requests.get(base + "/_sandbox/counters", timeout=5).json()["routes"])


def _summaries(base: str) -> list[str]:
    issues = requests.get(base + "/_sandbox/jira/issues", timeout=5).json()["issues"]
    return [i["fields"]["summary"] for i in issues]


def _poll(condition: Callable[[], bool], deadline_s: float = 5.0) -> float | None:
    """``perf_counter()`` when ``condition`` first holds, or None at the deadline."""
    end = time.perf_counter() + deadline_s
    while time.perf_counter() < end:
        if condition():
            return time.perf_counter()
        time.sleep(0.02)
    return None


def _create(http: requests.Session, base: str, summary: str, **kw: Any) -> requests.Response:
    return http.post(base + "/rest/api/3/issue", json=issue_body(summary=summary), **kw)


def _wiql(h: SandboxHandle, session: requests.Session, **kw: Any) -> requests.Response:
    return session.post(f"{h.ado_api}/wit/wiql?{V}", json=WIQL, **kw)


# ---------------------------------------------------------------------- lost answers: Jira
@pytest.mark.parametrize("mode", ["502", "504"])
def test_jira_gateway_error_comes_after_the_issue_was_created(
    jira: tuple[str, requests.Session], mode: str
) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode=mode)
    r = _create(http, base, "lost create")
    assert r.status_code == int(mode)
    assert r.headers["Content-Type"].startswith("text/html") and mode in r.text
    assert _summaries(base) == ["lost create"]
    assert _counters(base)[f"lost:{mode} {JIRA_ISSUE}"] == 1


def test_jira_connection_closes_without_an_answer_after_the_comment_was_stored(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    key = _create(http, base, "has a comment").json()["key"]
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="close")
    with pytest.raises(requests.ConnectionError) as caught:
        http.post(f"{base}/rest/api/3/issue/{key}/comment", json={"body": doc(para("hi"))})
    assert "RemoteDisconnected" in repr(caught.value)  # not one byte of an answer
    dump = requests.get(f"{base}/_sandbox/jira/issues/{key}", timeout=5).json()
    assert [c["body"] for c in dump["comments"]] == [doc(para("hi"))]
    assert http.get(f"{base}/rest/api/3/issue/{key}").status_code == 200  # a GET is not lost
    assert _counters(base)[f"lost:close {JIRA_COMMENT}"] == 1


def test_jira_lost_bulk_answer_created_every_issue(jira: tuple[str, requests.Session]) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="504")
    body = {"issueUpdates": [issue_body(summary=f"bulk {n}") for n in range(3)]}
    assert http.post(base + "/rest/api/3/issue/bulk", json=body).status_code == 504
    assert _summaries(base) == ["bulk 0", "bulk 1", "bulk 2"]
    assert _counters(base)[f"lost:504 {JIRA_BULK}"] == 1


def test_mixed_mode_draws_every_kind_and_every_write_lands(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="mixed", seed=5)
    seen: set[str] = set()
    for n in range(24):
        try:
            seen.add(str(_create(http, base, f"m{n}").status_code))
        except requests.ConnectionError:
            seen.add("close")
    assert seen == {"502", "504", "close"}
    assert len(_summaries(base)) == 24
    body = requests.get(base + "/_sandbox/counters", timeout=5).json()
    lost = {k: v for k, v in body["routes"].items() if k.startswith("lost:")}
    assert set(lost) == {f"lost:{kind} {JIRA_ISSUE}" for kind in ("502", "504", "close")}
    assert sum(lost.values()) == 24
    assert body["total"] == 24  # requests only; the fault counts are not added to it


def test_a_refused_write_keeps_its_real_answer(jira: tuple[str, requests.Session]) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="502")
    bad = {"fields": {"project": {"key": "MIG"}, "issuetype": {"name": "Task"}}}  # no summary
    r = http.post(base + "/rest/api/3/issue", json=bad)
    assert r.status_code == 400 and r.json()["errors"]
    assert _summaries(base) == []
    assert not [k for k in _counters(base) if k.startswith("lost:")]


# ---------------------------------------------------------------------- route selection
def test_writes_selector_never_loses_a_get(jira: tuple[str, requests.Session]) -> None:
    base, http = jira
    key = _create(http, base, "read me").json()["key"]
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="502")  # fault_routes: ["writes"]
    assert http.get(base + "/rest/api/3/myself").status_code == 200
    assert http.get(f"{base}/rest/api/3/issue/{key}").status_code == 200
    assert (
        http.put(
            f"{base}/rest/api/3/issue/{key}", json={"fields": {"summary": "edited"}}
        ).status_code
        == 502
    )
    assert _summaries(base) == ["edited"]


def test_a_route_selector_leaves_other_writes_alone(jira: tuple[str, requests.Session]) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="502", fault_routes=[JIRA_COMMENT])
    created = _create(http, base, "untouched")
    assert created.status_code == 201
    key = created.json()["key"]
    comment = http.post(f"{base}/rest/api/3/issue/{key}/comment", json={"body": doc(para("x"))})
    assert comment.status_code == 502
    lost = {k: v for k, v in _counters(base).items() if k.startswith("lost:")}
    assert lost == {f"lost:502 {JIRA_COMMENT}": 1}


def test_all_selector_loses_reads_but_never_control_routes(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    _knobs(base, lost_answer_p=1.0, lost_answer_mode="504", fault_routes=["all"])
    assert http.get(base + "/rest/api/3/myself").status_code == 504
    assert requests.get(base + "/_sandbox/knobs", timeout=5).status_code == 200
    assert requests.get(base + "/_sandbox/jira/issues", timeout=5).status_code == 200
    assert _counters(base) == {"GET /rest/api/3/myself": 1, "lost:504 GET /rest/api/3/myself": 1}


# ---------------------------------------------------------------------- lost answers: ADO
@pytest.mark.parametrize("mode", ["502", "504", "close"])
def test_ado_read_only_post_counts_as_a_write_and_loses_its_answer(
    sandboxes: SandboxHandle, mode: str
) -> None:
    _knobs(sandboxes.ado_url, lost_answer_p=1.0, lost_answer_mode=mode)
    session = sandboxes.ado_session()
    if mode == "close":
        with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
            _wiql(sandboxes, session)
    else:
        r = _wiql(sandboxes, session)
        assert r.status_code == int(mode) and r.headers["Content-Type"] == "text/html"
        assert "ActivityId" not in r.headers  # a gateway's answer, not the service's
    assert _counters(sandboxes.ado_url)[f"lost:{mode} {ADO_WIQL}"] == 1
    assert session.get(f"{sandboxes.ado_api}/wit/workitems/1?{V}").status_code == 200


def test_ado_workitemsbatch_is_a_write_too_and_refusals_keep_their_answer(
    sandboxes: SandboxHandle,
) -> None:
    _knobs(sandboxes.ado_url, lost_answer_p=1.0, lost_answer_mode="502")
    session = sandboxes.ado_session()
    batch = session.post(f"{sandboxes.ado_api}/wit/workitemsbatch?{V}", json={"ids": [1, 2]})
    assert batch.status_code == 502
    refused = session.post(f"{sandboxes.ado_api}/wit/wiql", json=WIQL)  # no api-version
    assert refused.status_code == 400 and refused.json()["typeKey"]
    lost = {k: v for k, v in _counters(sandboxes.ado_url).items() if k.startswith("lost:")}
    assert lost == {f"lost:502 {ADO_BATCH}": 1}


# ---------------------------------------------------------------------- late writes: Jira
def test_jira_late_write_lands_after_the_client_gave_up(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    hold = 1.0
    _knobs(base, late_writes={JIRA_ISSUE: {"count": 1, "seconds": hold}})
    started = time.perf_counter()
    with pytest.raises(requests.ReadTimeout):
        _create(http, base, "late", timeout=0.5)
    assert "late" not in _summaries(base)
    landed = _poll(lambda: "late" in _summaries(base))
    assert landed is not None, "the held write never landed"
    assert landed - started >= hold
    assert _counters(base)[f"late {JIRA_ISSUE}"] == 1
    assert _late_left(base) == {}


def test_jira_serves_other_requests_while_a_write_is_held(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    _knobs(base, late_writes={JIRA_ISSUE: {"count": 1, "seconds": 1.5}})
    with ThreadPoolExecutor(1) as pool, requests.Session() as other:
        other.auth = http.auth
        held = pool.submit(_create, other, base, "held", timeout=PATIENT)
        assert _poll(lambda: _counters(base).get(f"late {JIRA_ISSUE}") == 1), "never held"
        assert http.get(base + "/rest/api/3/myself").status_code == 200
        assert _create(http, base, "not held").status_code == 201  # the count is used up
        assert not held.done() and _summaries(base) == ["not held"]
        assert held.result(timeout=PATIENT).status_code == 201
    assert _summaries(base) == ["not held", "held"]


def test_jira_late_write_count_goes_down_and_stops_after_n(
    jira: tuple[str, requests.Session],
) -> None:
    base, http = jira
    hold = 0.5
    _knobs(base, late_writes={JIRA_ISSUE: {"count": 2, "seconds": hold}})
    for n, left in ((1, {JIRA_ISSUE: {"count": 1, "seconds": hold}}), (2, {})):
        started = time.perf_counter()
        assert _create(http, base, f"late {n}", timeout=PATIENT).status_code == 201
        assert time.perf_counter() - started >= hold
        assert _counters(base)[f"late {JIRA_ISSUE}"] == n
        assert _late_left(base) == left
    assert _create(http, base, "on time", timeout=PATIENT).status_code == 201
    assert _counters(base)[f"late {JIRA_ISSUE}"] == 2


def test_answering_a_client_that_left_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    knobs = Knobs(late_writes={"writes": {"count": 2, "seconds": 0.5}})
    with running_site(knobs=knobs) as s:
        before = set(threading.enumerate())
        with requests.Session() as http:
            http.auth = (EMAIL, TOKEN)
            for n in range(2):
                with pytest.raises(requests.ReadTimeout):
                    http.post(s.api + "/issue", json=issue_body(summary=f"gone {n}"), timeout=0.1)
        assert _poll(lambda: len(s.app.issue_keys()) == 2), "the held writes never landed"

        def answered() -> bool:  # the threads that served those connections have ended
            return not [
                t for t in threading.enumerate() if t not in before and "process_request" in t.name
            ]

        assert _poll(answered), "the server threads are still answering"
    assert "Traceback" not in capfd.readouterr().err


# ---------------------------------------------------------------------- late writes: ADO
def test_ado_late_wiql_is_held_then_answered(sandboxes: SandboxHandle) -> None:
    hold = 0.5
    _knobs(sandboxes.ado_url, late_writes={ADO_WIQL: {"count": 2, "seconds": hold}})
    session = sandboxes.ado_session()
    with pytest.raises(requests.ReadTimeout):
        _wiql(sandboxes, session, timeout=0.2)
    started = time.perf_counter()
    r = _wiql(sandboxes, session, timeout=PATIENT)
    assert r.status_code == 200 and r.json()["workItems"]
    assert time.perf_counter() - started >= hold
    assert _counters(sandboxes.ado_url)[f"late {ADO_WIQL}"] == 2
    assert _late_left(sandboxes.ado_url) == {}
    assert _wiql(sandboxes, session, timeout=PATIENT).status_code == 200
    assert _counters(sandboxes.ado_url)[f"late {ADO_WIQL}"] == 2


def test_ado_serves_other_requests_while_a_wiql_is_held(sandboxes: SandboxHandle) -> None:
    _knobs(sandboxes.ado_url, late_writes={"writes": {"count": 1, "seconds": 1.5}})
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_wiql, sandboxes, sandboxes.ado_session(), timeout=PATIENT)
        assert _poll(lambda: _counters(sandboxes.ado_url).get(f"late {ADO_WIQL}") == 1), (
            "never held"
        )
        got = sandboxes.ado_session().get(f"{sandboxes.ado_api}/wit/workitems/1?{V}")
        assert got.status_code == 200 and not held.done()
        assert held.result(timeout=PATIENT).status_code == 200


# ---------------------------------------------------------------------- slow bulk
def test_jira_bulk_create_takes_time_per_issue(jira: tuple[str, requests.Session]) -> None:
    base, http = jira
    _knobs(base, slow_bulk_ms_per_issue=50)
    body = {"issueUpdates": [issue_body(summary=f"b{n}") for n in range(10)]}
    started = time.perf_counter()
    r = http.post(base + "/rest/api/3/issue/bulk", json=body)
    assert r.status_code == 201 and len(r.json()["issues"]) == 10
    assert time.perf_counter() - started >= 0.5
    assert _create(http, base, "single").status_code == 201  # not a bulk: not slowed
    assert _counters(base)[f"slow-bulk {JIRA_BULK}"] == 1
