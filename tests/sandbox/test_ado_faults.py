"""Fault knobs of the ADO sandbox: latency, burst limit, random 429 and 5xx."""

from __future__ import annotations

import time

import requests

from tests.fixtures.sandbox import SandboxHandle

V = "api-version=7.1"
RATE_HEADERS = (
    "Retry-After",
    "X-RateLimit-Resource",
    "X-RateLimit-Delay",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


def _project(h: SandboxHandle, session: requests.Session) -> requests.Response:
    return session.get(f"{h.ado_url}/{h.org}/_apis/projects?{V}")


def _patch_knobs(h: SandboxHandle, **knobs: float) -> None:
    r = requests.patch(f"{h.ado_url}/_sandbox/knobs", json=knobs, timeout=5)
    assert r.status_code == 200, r.text


def _assert_tf400733(r: requests.Response) -> None:
    assert r.status_code == 429
    for header in RATE_HEADERS:
        assert header in r.headers, header
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
    body = r.json()
    assert body["message"].startswith(
        "TF400733: The request has been canceled: Request was "
        "blocked due to exceeding usage of resource"
    )
    assert body["typeKey"] == "RequestBlockedException"


def test_latency_knob_delays_api_calls_but_not_control_routes(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    _patch_knobs(ado_sandbox, latency_ms=200)
    started = time.perf_counter()
    assert _project(ado_sandbox, session).status_code == 200
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert session.get(f"{ado_sandbox.ado_url}/_sandbox/state").status_code == 200
    assert time.perf_counter() - started < 0.15


def test_burst_rate_limit_answers_429_with_rate_limit_headers(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    _patch_knobs(ado_sandbox, rate_limit_per_sec=5, retry_after_sec=2)
    answers = [_project(ado_sandbox, session) for _ in range(15)]
    statuses = [r.status_code for r in answers]
    assert statuses[:4] == [200] * 4
    refused = [r for r in answers if r.status_code == 429]
    assert len(refused) >= 5
    _assert_tf400733(refused[0])
    assert refused[0].headers["Retry-After"] == "2"


def test_random_429_carries_tf400733_and_headers(ado_sandbox: SandboxHandle) -> None:
    ado_sandbox.ado.knobs.update({"p429": 1.0})
    _assert_tf400733(_project(ado_sandbox, ado_sandbox.ado_session()))


def test_random_429_rate_is_roughly_the_probability(ado_sandbox: SandboxHandle) -> None:
    _patch_knobs(ado_sandbox, p429=0.3, seed=42)
    session = ado_sandbox.ado_session()
    refused = sum(_project(ado_sandbox, session).status_code == 429 for _ in range(200))
    assert 30 <= refused <= 90


def test_random_5xx_answers_500_or_503_in_the_error_shape(ado_sandbox: SandboxHandle) -> None:
    _patch_knobs(ado_sandbox, p5xx=1.0, seed=3)
    session = ado_sandbox.ado_session()
    answers = [_project(ado_sandbox, session) for _ in range(20)]
    assert {r.status_code for r in answers} == {500, 503}
    body = answers[0].json()
    assert set(body) == {
        "$id",
        "innerException",
        "message",
        "typeName",
        "typeKey",
        "errorCode",
        "eventId",
    }
    assert body["message"].startswith("TF400898")
    assert session.get(f"{ado_sandbox.ado_url}/_sandbox/state").status_code == 200


def test_knobs_are_reset_between_tests(ado_sandbox: SandboxHandle) -> None:
    knobs = requests.get(f"{ado_sandbox.ado_url}/_sandbox/knobs", timeout=5).json()
    assert knobs["p429"] == 0 and knobs["p5xx"] == 0 and knobs["latency_ms"] == 0


def test_counters_count_api_calls_per_route(ado_sandbox: SandboxHandle) -> None:
    session = ado_sandbox.ado_session()
    for _ in range(3):
        session.get(f"{ado_sandbox.ado_api}/wit/workitems/1?{V}")
    counters = session.get(f"{ado_sandbox.ado_url}/_sandbox/counters").json()
    assert counters["routes"]["GET /{org}/{project}/_apis/wit/workitems/{id}"] == 3
