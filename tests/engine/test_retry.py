"""The retry decision on its own: one table row per rule, no network, no clock."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from engine.errors import AuthError, PermanentError
from engine.retry import (
    Answer,
    Call,
    Decision,
    Done,
    Failure,
    OutcomeUnknown,
    Raise,
    RetriesExhausted,
    Retry,
    RetryPolicy,
    decide,
    read_signal,
)

URL = "https://example.test/api/thing"
NOW = 1_800_000_000.0
GET = Call("GET", URL, "GET thing", idempotent=True)
POST = Call("POST", URL, "create thing", idempotent=False)
POST_OK_201 = Call("POST", URL, "create thing", idempotent=False, ok=frozenset({201}))

READ_TIMEOUT = Failure(requests.exceptions.ReadTimeout("read timed out"), sent_nothing=False)
REFUSED = Failure(
    requests.exceptions.ConnectionError(NewConnectionError(None, "refused")),  # type: ignore[arg-type]
    sent_nothing=True,
)


def answer(status: int, message: str = "", body: Any = None, **headers: str) -> Answer:
    names = {key.replace("_", "-"): value for key, value in headers.items()}
    return Answer(status, names, NOW, message, body)


def policy(**kw: Any) -> RetryPolicy:
    kw.setdefault("max_attempts", 5)
    kw.setdefault("max_total_wait", 100.0)
    kw.setdefault("backoff_base", 0.5)
    kw.setdefault("backoff_cap", 30.0)
    kw.setdefault("default_throttle_wait", 5.0)
    kw.setdefault("rng", lambda: 1.0)  # backoff at its ceiling: base * 2**retry
    return RetryPolicy(**kw)


@dataclass
class Case:
    name: str
    outcome: Answer | Failure
    call: Call = GET
    attempt: int = 1
    waited: float = 0.0
    policy: dict[str, Any] = field(default_factory=dict)
    want: type[Decision] = Done
    wait: float | None = None  # Retry: the wait
    hold: float = 0.0
    error: type[Exception] | None = None  # Raise: the error's type
    retry_after: float | None = None  # RetriesExhausted.retry_after
    status: int | None = None  # the error's status


HTTP_DATE_IN_20S = email.utils.formatdate(NOW + 20, usegmt=True)

CASES = [
    Case("a 200 is done", answer(200)),
    Case("a 204 is done", answer(204), call=POST),
    Case("a delayed 200 is done and holds the next request", answer(200, Retry_After="4"), hold=4),
    Case(
        "a delayed answer holds no longer than the retry budget",
        answer(200, Retry_After="3600"),
        policy={"max_total_wait": 60.0},
        hold=60,
    ),
    Case("a status outside ok raises", answer(200), call=POST_OK_201, want=Raise,
         error=PermanentError, status=200),
    Case("a redirect raises, never followed", answer(302, Location="https://elsewhere.test/"),
         want=Raise, error=PermanentError, status=302),
    Case("401 is an auth error", answer(401, "no"), want=Raise, error=AuthError, status=401),
    Case("403 is an auth error", answer(403), want=Raise, error=AuthError, status=403),
    Case("404 is permanent", answer(404), want=Raise, error=PermanentError, status=404),
    Case("400 on a write is permanent", answer(400), call=POST, want=Raise,
         error=PermanentError, status=400),
    Case("429 waits Retry-After and holds the site", answer(429, Retry_After="7"),
         want=Retry, wait=7, hold=7),
    Case("503 waits an HTTP-date Retry-After", answer(503, Retry_After=HTTP_DATE_IN_20S),
         want=Retry, wait=20, hold=20),
    Case("429 reads X-RateLimit-Reset (epoch)", answer(429, X_RateLimit_Reset=str(int(NOW + 9))),
         want=Retry, wait=9, hold=9),
    Case("429 reads X-RateLimit-Delay", answer(429, X_RateLimit_Delay="2.5"),
         want=Retry, wait=2.5, hold=2.5),
    Case("429 with no hint waits the default, site-wide", answer(429), want=Retry, wait=5,
         hold=5),
    Case("429 with no hint waits the backoff when that is longer", answer(429), attempt=5,
         policy={"max_attempts": 9}, want=Retry, wait=8, hold=8),
    Case("429 is retried for a write too (it was not done)", answer(429, Retry_After="1"),
         call=POST, want=Retry, wait=1, hold=1),
    Case("500 on a read backs off", answer(500, "boom"), attempt=3, want=Retry, wait=2),
    Case("backoff is capped", answer(502), attempt=4, policy={"backoff_cap": 3.0},
         want=Retry, wait=3),
    Case("500 on a write is an unknown outcome", answer(500), call=POST, want=Raise,
         error=OutcomeUnknown, status=500),
    Case("504 on a write is an unknown outcome", answer(504), call=POST, want=Raise,
         error=OutcomeUnknown, status=504),
    Case("503 on a write is retried (it was not done)", answer(503), call=POST,
         want=Retry, wait=0.5, hold=0.5),
    Case("a read timeout on a read backs off", READ_TIMEOUT, attempt=2, want=Retry, wait=1),
    Case("a read timeout on a write is an unknown outcome", READ_TIMEOUT, call=POST,
         want=Raise, error=OutcomeUnknown),
    Case("a refused connection on a write is retried (nothing sent)", REFUSED, call=POST,
         want=Retry, wait=0.5),
    Case("the last attempt gives up", answer(500), attempt=5, want=Raise,
         error=RetriesExhausted, status=500),
    Case("the last attempt after a 429 still holds the site", answer(429, Retry_After="3"),
         attempt=5, want=Raise, error=RetriesExhausted, hold=3, status=429),
    Case("a failure on the last attempt gives up", READ_TIMEOUT, attempt=5, want=Raise,
         error=RetriesExhausted),
    Case("a wait past the budget gives up and names the wait", answer(429, Retry_After="3600"),
         policy={"max_total_wait": 60.0}, want=Raise, error=RetriesExhausted,
         retry_after=3600, status=429),
    Case("time already waited counts against the budget", answer(503, Retry_After="30"),
         waited=80.0, want=Raise, error=RetriesExhausted, retry_after=30, status=503),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    decision = decide(
        case.outcome,
        case.call,
        attempt=case.attempt,
        waited=case.waited,
        policy=policy(**case.policy),
    )
    assert type(decision) is case.want
    assert decision.hold == pytest.approx(case.hold)
    if isinstance(decision, Retry):
        assert decision.wait == pytest.approx(case.wait)
        assert decision.reason.startswith(case.call.label)
    if isinstance(decision, Raise):
        assert type(decision.error) is case.error
        assert str(decision.error).startswith(case.call.label)
        assert getattr(decision.error, "status", None) == case.status
        if case.retry_after is not None:
            assert isinstance(decision.error, RetriesExhausted)
            assert decision.error.retry_after == pytest.approx(case.retry_after)


def test_an_error_keeps_the_body_and_its_message() -> None:
    body = {"errorMessages": ["Field 'x' is required"]}
    decision = decide(
        answer(400, "Field 'x' is required", body), POST, attempt=1, waited=0.0, policy=policy()
    )
    assert isinstance(decision, Raise) and isinstance(decision.error, PermanentError)
    assert decision.error.body == body
    assert "Field 'x' is required" in str(decision.error)


def test_an_unknown_outcome_names_the_write_and_keeps_its_cause() -> None:
    decision = decide(READ_TIMEOUT, POST, attempt=1, waited=0.0, policy=policy())
    assert isinstance(decision, Raise) and isinstance(decision.error, OutcomeUnknown)
    assert (decision.error.method, decision.error.url) == ("POST", URL)
    assert decision.cause is READ_TIMEOUT.error


def test_the_backoff_draws_from_the_policy_rng() -> None:
    draws = iter([0.25, 0.75])
    pol = policy(rng=lambda: next(draws), backoff_base=2.0)
    first = decide(answer(500), GET, attempt=1, waited=0.0, policy=pol)
    second = decide(answer(500), GET, attempt=2, waited=0.0, policy=pol)
    assert isinstance(first, Retry) and first.wait == pytest.approx(0.5)  # 0.25 * 2
    assert isinstance(second, Retry) and second.wait == pytest.approx(3.0)  # 0.75 * 4


# --------------------------------------------------------------------------- 429 scopes
def _throttled(reason: str | None, **headers: str) -> Answer:
    named = {"Retry_After": "3", **headers}
    if reason is not None:
        named["RateLimit_Reason"] = reason
    return answer(429, "Rate limit exceeded.", **named)


@pytest.mark.parametrize("reason", ["jira-burst-based", "jira-per-issue-on-write"])
def test_a_429_naming_an_endpoint_or_an_issue_holds_back_no_other_request(reason: str) -> None:
    decision = decide(_throttled(reason), POST, attempt=1, waited=0.0, policy=policy())
    assert decision == Retry(wait=3.0, reason=decision.reason, hold=0.0, throttle=reason)  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", ["jira-quota-tenant-based", "jira-quota-global-based", None])
def test_a_quota_429_or_one_naming_nothing_holds_back_every_request(reason: str | None) -> None:
    decision = decide(_throttled(reason), POST, attempt=1, waited=0.0, policy=policy())
    assert isinstance(decision, Retry) and decision.hold == 3.0 and decision.throttle == reason


def test_a_refused_write_is_retried_never_reported_as_ambiguous() -> None:
    for reason in ("jira-burst-based", "jira-per-issue-on-write", "jira-quota-tenant-based"):
        decision = decide(_throttled(reason), POST_OK_201, attempt=3, waited=6.0, policy=policy())
        assert isinstance(decision, Retry), decision


def test_the_rate_signal_reads_reason_wait_and_nearness() -> None:
    refused = read_signal(429, {"RateLimit-Reason": "JIRA-BURST-BASED", "Retry-After": "2"}, NOW)
    assert (refused.reason, refused.wait, refused.throttled) == ("jira-burst-based", 2.0, True)
    ok = read_signal(200, {"X-RateLimit-NearLimit": "true", "RateLimit-Reason": "x"}, NOW)
    assert ok.near and ok.reason is None and ok.wait is None
    assert not read_signal(
        200, {"X-RateLimit-Limit": "bad", "X-RateLimit-Remaining": "1"}, NOW
    ).near
