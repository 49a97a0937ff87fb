"""The one retry layer: waits, backoff, permanent errors, unknown outcomes."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from engine.errors import AuthError, PermanentError, TransientError
from engine.http import (
    OutcomeUnknown,
    RetriesExhausted,
    RetryPolicy,
    Transport,
    error_message,
    make_session,
    parse_reset,
    parse_retry_after,
    server_wait,
)

URL = "https://example.test/api/thing"
NOW = 1_800_000_000.0


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def policy(t: FakeTime, **kw: Any) -> RetryPolicy:
    kw.setdefault("max_attempts", 5)
    kw.setdefault("max_total_wait", 100.0)
    kw.setdefault("rng", lambda: 1.0)
    return RetryPolicy(sleep=t.sleep, clock=t.clock, **kw)


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


def transport(t: FakeTime, limiter: Any = None, **kw: Any) -> Transport:
    return Transport(make_session(4), timeout=7.0, retry=policy(t, **kw), limiter=limiter)


# --------------------------------------------------------------------------- header parsing
def test_it_parses_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("12", NOW) == 12.0
    assert parse_retry_after("0.5", NOW) == 0.5
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(30.0)
    assert parse_retry_after("garbage", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_it_parses_reset_as_epoch_or_iso() -> None:
    assert parse_reset(str(int(NOW + 42)), NOW) == pytest.approx(42.0)
    iso = "2027-01-15T08:01Z"  # Jira's yyyy-MM-ddTHH:mmZ
    from datetime import UTC, datetime

    base = datetime(2027, 1, 15, 8, 0, tzinfo=UTC).timestamp()
    assert parse_reset(iso, base) == pytest.approx(60.0)
    assert parse_reset("2027-01-15T08:01:30+00:00", base) == pytest.approx(90.0)


def test_server_wait_prefers_retry_after_then_reset_then_delay() -> None:
    assert server_wait({"Retry-After": "3", "X-RateLimit-Reset": str(NOW + 50)}, NOW) == 3
    assert server_wait({"X-RateLimit-Reset": str(NOW + 50)}, NOW) == pytest.approx(50)
    assert server_wait({"X-RateLimit-Delay": "1.250"}, NOW) == 1.25
    assert server_wait({}, NOW) is None


# --------------------------------------------------------------------------- throttling
@responses.activate
def test_it_honours_retry_after_seconds_on_429(t: FakeTime) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "7"}, json={"errorMessages": ["x"]})
    responses.get(URL, json={"ok": True})
    assert transport(t).json("GET", URL) == {"ok": True}
    assert t.sleeps == [7.0]
    assert len(responses.calls) == 2


@responses.activate
def test_it_honours_retry_after_http_date_on_503(t: FakeTime) -> None:
    date = email.utils.formatdate(NOW + 20, usegmt=True)
    responses.get(URL, status=503, headers={"Retry-After": date})
    responses.get(URL, json={})
    transport(t).request("GET", URL)
    assert t.sleeps == [pytest.approx(20.0)]


@responses.activate
def test_it_waits_for_jira_iso_reset_when_no_retry_after(t: FakeTime) -> None:
    from datetime import UTC, datetime

    t.now = datetime(2027, 1, 15, 8, 0, 30, tzinfo=UTC).timestamp()
    responses.get(URL, status=429, headers={"X-RateLimit-Reset": "2027-01-15T08:01Z"})
    responses.get(URL, json={})
    transport(t).request("GET", URL)
    assert t.sleeps == [pytest.approx(30.0)]


@responses.activate
def test_it_waits_for_ado_epoch_reset_and_delay(t: FakeTime) -> None:
    responses.get(URL, status=429, headers={"X-RateLimit-Reset": str(int(NOW + 9))})
    responses.get(URL, status=429, headers={"X-RateLimit-Delay": "2.5"})
    responses.get(URL, json={})
    transport(t).request("GET", URL)
    assert t.sleeps == [pytest.approx(9.0), pytest.approx(2.5)]


@responses.activate
def test_a_delayed_200_holds_back_the_next_request(t: FakeTime) -> None:
    responses.get(URL, json={"n": 1}, headers={"Retry-After": "4"})
    responses.get(URL, json={"n": 2})
    tr = transport(t)
    assert tr.json("GET", URL) == {"n": 1}
    assert t.sleeps == []  # the answer itself is returned at once
    assert tr.json("GET", URL) == {"n": 2}
    assert t.sleeps == [4.0]


@responses.activate
def test_a_429_without_any_hint_waits_the_default(t: FakeTime) -> None:
    responses.get(URL, status=429)
    responses.get(URL, json={})
    transport(t, default_throttle_wait=3.0).request("GET", URL)
    assert t.sleeps == [3.0]


@responses.activate
def test_a_wait_longer_than_the_budget_gives_up_with_the_wait(t: FakeTime) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "3600"})
    tr = transport(t, max_total_wait=60)
    with pytest.raises(RetriesExhausted) as info:
        tr.request("GET", URL)
    assert info.value.retry_after == 3600
    assert info.value.status == 429
    assert t.sleeps == []
    assert isinstance(info.value, TransientError)
    responses.replace(responses.GET, URL, json={})  # the next one is not held for an hour
    tr.request("GET", URL)
    assert t.sleeps == []


# --------------------------------------------------------------------------- backoff
@responses.activate
def test_5xx_backs_off_exponentially_up_to_the_attempt_bound(t: FakeTime) -> None:
    responses.get(URL, status=500, json={"message": "boom"})
    with pytest.raises(RetriesExhausted, match="boom") as info:
        transport(t, max_attempts=5, backoff_base=0.5, backoff_cap=3.0).request("GET", URL)
    assert len(responses.calls) == 5
    # rng()=1.0 shows the ceilings: base * 2**n, capped.
    assert t.sleeps == [0.5, 1.0, 2.0, 3.0]
    assert info.value.status == 500


@responses.activate
def test_backoff_is_full_jitter_within_bounds() -> None:
    import random

    rnd = random.Random(7)
    t = FakeTime()
    responses.get(URL, status=502)
    pol = RetryPolicy(max_attempts=9, max_total_wait=1e6, backoff_base=1.0, backoff_cap=20.0,
                      sleep=t.sleep, clock=t.clock, rng=rnd.random)
    with pytest.raises(RetriesExhausted):
        Transport(make_session(), retry=pol).request("GET", URL)
    assert len(t.sleeps) == 8
    for n, wait in enumerate(t.sleeps):
        assert 0.0 <= wait <= min(20.0, 2.0**n)
    assert len(set(t.sleeps)) > 1  # jittered, not a fixed schedule


@responses.activate
def test_total_wait_is_bounded(t: FakeTime) -> None:
    responses.get(URL, status=503)
    with pytest.raises(RetriesExhausted, match="retry budget"):
        transport(t, max_attempts=50, backoff_base=1.0, backoff_cap=4.0,
                  max_total_wait=10.0).request("GET", URL)
    assert sum(t.sleeps) <= 10.0


@responses.activate
def test_get_timeouts_and_dropped_connections_are_retried(t: FakeTime) -> None:
    responses.get(URL, body=requests.exceptions.ReadTimeout("slow"))
    responses.get(URL, body=requests.exceptions.ConnectionError("reset by peer"))
    responses.get(URL, json={"ok": 1})
    assert transport(t).json("GET", URL) == {"ok": 1}
    assert len(t.sleeps) == 2


# --------------------------------------------------------------------------- permanent errors
@responses.activate
def test_jira_400_is_permanent_not_retried_and_readable(t: FakeTime) -> None:
    responses.post(URL, status=400, json={
        "errorMessages": ["Issue type is required."],
        "errors": {"summary": "You must specify a summary of the issue."},
    })
    with pytest.raises(PermanentError) as info:
        transport(t).request("POST", URL, json_body={}, what="create issue")
    text = str(info.value)
    assert "create issue: HTTP 400" in text
    assert "Issue type is required." in text
    assert "summary: You must specify a summary of the issue." in text
    assert info.value.status == 400
    assert info.value.body["errors"]["summary"]
    assert len(responses.calls) == 1
    assert t.sleeps == []


@responses.activate
def test_ado_error_message_is_read(t: FakeTime) -> None:
    responses.get(URL, status=404, json={
        "$id": "1", "message": "TF401232: Work item 9 does not exist.",
        "typeKey": "WorkItemUnauthorizedAccessException",
    })
    with pytest.raises(PermanentError, match="TF401232: Work item 9 does not exist"):
        transport(t).request("GET", URL)


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_401_and_403_raise_auth_error(t: FakeTime, status: int) -> None:
    responses.get(URL, status=status, body="Unauthorized")
    with pytest.raises(AuthError, match=f"HTTP {status}: Unauthorized"):
        transport(t).request("GET", URL)
    assert len(responses.calls) == 1


def test_error_message_falls_back_to_text() -> None:
    r = requests.Response()
    r.status_code = 400
    r._content = b"<html>bad</html>"
    assert error_message(r) == "<html>bad</html>"


@responses.activate
def test_a_redirect_is_not_followed_silently(t: FakeTime) -> None:
    responses.get(URL, status=302, headers={"Location": "https://login.example/"})
    with pytest.raises(PermanentError, match=r"redirect to https://login\.example/"):
        transport(t).request("GET", URL)


# --------------------------------------------------------------------------- unknown outcomes
@responses.activate
def test_post_read_timeout_raises_outcome_unknown_without_retry(t: FakeTime) -> None:
    responses.post(URL, body=requests.exceptions.ReadTimeout("no answer"))
    with pytest.raises(OutcomeUnknown) as info:
        transport(t).request("POST", URL, json_body={"a": 1})
    assert isinstance(info.value, TransientError)
    assert info.value.method == "POST" and info.value.url == URL
    assert len(responses.calls) == 1


@responses.activate
def test_post_dropped_after_sending_is_outcome_unknown(t: FakeTime) -> None:
    responses.post(URL, body=requests.exceptions.ConnectionError("Connection aborted."))
    with pytest.raises(OutcomeUnknown):
        transport(t).request("POST", URL, json_body={})
    assert len(responses.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
@responses.activate
def test_post_gateway_failure_is_outcome_unknown(t: FakeTime, status: int) -> None:
    responses.post(URL, status=status)
    with pytest.raises(OutcomeUnknown) as info:
        transport(t).request("POST", URL, json_body={})
    assert info.value.status == status
    assert len(responses.calls) == 1


@responses.activate
def test_post_refused_connection_is_retried_since_nothing_was_sent(t: FakeTime) -> None:
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, URL, NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    )
    responses.post(URL, body=refused)
    responses.post(URL, body=requests.exceptions.ConnectTimeout("connect"))
    responses.post(URL, status=201, json={"id": "1"})
    assert transport(t).json("POST", URL, json_body={}) == {"id": "1"}
    assert len(responses.calls) == 3


@responses.activate
def test_post_429_and_503_are_retried_since_the_write_did_not_happen(t: FakeTime) -> None:
    responses.post(URL, status=429, headers={"Retry-After": "1"})
    responses.post(URL, status=503, headers={"Retry-After": "2"})
    responses.post(URL, status=201, json={"id": "9"})
    assert transport(t).json("POST", URL, json_body={}) == {"id": "9"}
    assert t.sleeps == [1.0, 2.0]


@responses.activate
def test_read_only_post_marked_idempotent_is_retried_on_timeout(t: FakeTime) -> None:
    responses.post(URL, body=requests.exceptions.ReadTimeout("slow"))
    responses.post(URL, json={"issues": []})
    transport(t).request("POST", URL, json_body={}, idempotent=True)
    assert len(responses.calls) == 2


# --------------------------------------------------------------------------- plumbing
@responses.activate
def test_every_call_carries_a_connect_and_read_timeout(t: FakeTime) -> None:
    responses.get(URL, json={})
    transport(t).request("GET", URL)
    call: Any = responses.calls[0]
    assert call.request.req_kwargs["timeout"] == (7.0, 7.0)
    tr = Transport(make_session(), timeout=45.0)
    assert tr.timeout == (10.0, 45.0)


def test_session_pool_is_sized_and_urllib3_retries_are_off() -> None:
    session = make_session(16)
    adapter = session.get_adapter("https://x.test/")
    assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]


class RecordingLimiter:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.rate = 1.0

    def acquire(self) -> None:
        self.events.append(("acquire", None))

    def release(self) -> None:
        self.events.append(("release", None))

    def on_success(self) -> None:
        self.events.append(("success", None))

    def on_throttle(self, retry_after: float | None = None) -> None:
        self.events.append(("throttle", retry_after))


@responses.activate
def test_the_limiter_sees_every_attempt(t: FakeTime) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "2"})
    responses.get(URL, json={})
    lim = RecordingLimiter()
    transport(t, limiter=lim).request("GET", URL)
    assert lim.events == [
        ("acquire", None), ("throttle", 2.0), ("release", None),
        ("acquire", None), ("success", None), ("release", None),
    ]


@responses.activate
def test_a_body_factory_builds_a_fresh_body_per_attempt(t: FakeTime) -> None:
    made: list[int] = []
    responses.post(URL, status=429, headers={"Retry-After": "1"})
    responses.post(URL, status=200, json=[])

    def factory() -> bytes:
        made.append(1)
        return b"payload"

    transport(t).request("POST", URL, body_factory=factory)
    assert len(made) == 2
    assert responses.calls[1].request.body == b"payload"
