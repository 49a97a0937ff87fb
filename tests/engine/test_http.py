"""The one retry layer: waits, backoff, permanent errors, unknown outcomes."""

from __future__ import annotations

import email.utils
import threading
import time
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from engine.errors import (
    AuthError,
    ForeignOrigin,
    PermanentError,
    StopRequested,
    TransientError,
)
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
from engine.netpolicy import OriginCredential
from engine.schedule import MemoryScheduler

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
    pol = RetryPolicy(
        max_attempts=9,
        max_total_wait=1e6,
        backoff_base=1.0,
        backoff_cap=20.0,
        sleep=t.sleep,
        clock=t.clock,
        rng=rnd.random,
    )
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
        transport(
            t, max_attempts=50, backoff_base=1.0, backoff_cap=4.0, max_total_wait=10.0
        ).request("GET", URL)
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
    responses.post(
        URL,
        status=400,
        json={
            "errorMessages": ["Issue type is required."],
            "errors": {"summary": "You must specify a summary of the issue."},
        },
    )
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
    responses.get(
        URL,
        status=404,
        json={
            "$id": "1",
            "message": "TF401232: Work item 9 does not exist.",
            "typeKey": "WorkItemUnauthorizedAccessException",
        },
    )
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

    def acquire(self, should_stop: Any = None) -> None:
        self.events.append(("acquire", should_stop))

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
        ("acquire", None),
        ("throttle", 2.0),
        ("release", None),
        ("acquire", None),
        ("success", None),
        ("release", None),
    ]


JIRA = "https://site.test/rest/api/3"


@responses.activate
def test_a_scheduler_hears_each_attempts_scope_and_signal(t: FakeTime) -> None:
    comment_url = f"{JIRA}/issue/ABC-1/comment"
    responses.post(
        comment_url,
        status=429,
        headers={"Retry-After": "2", "RateLimit-Reason": "jira-per-issue-on-write"},
    )
    responses.post(comment_url, status=201, json={"id": "1"})
    responses.post(f"{JIRA}/issueLink", status=201)
    scheduler = MemoryScheduler(clock=t.clock, sleep=t.sleep)
    tr = transport(t, limiter=scheduler)
    tr.request("POST", comment_url, json_body={})
    assert scheduler.throttles == {"jira-per-issue-on-write": 1}
    assert t.sleeps == [2.0]  # the retry waited its Retry-After (the issue was paused as long)
    # another issue is not held back, neither by the transport nor by the scheduler
    tr.request("POST", f"{JIRA}/issueLink", json_body={}, writes_to=("ABC-2", "ABC-3"))
    assert t.sleeps == [2.0]
    assert scheduler.in_flight == 0
    assert set(scheduler.rates()) == {
        "POST /rest/api/3/issue/{issueIdOrKey}/comment",
        "POST /rest/api/3/issueLink",
    }


@responses.activate
def test_a_burst_429_holds_back_only_its_endpoint(t: FakeTime) -> None:
    responses.get(
        f"{JIRA}/myself",
        status=429,
        headers={"Retry-After": "3", "RateLimit-Reason": "jira-burst-based"},
    )
    responses.get(f"{JIRA}/myself", json={})
    responses.get(f"{JIRA}/issue/ABC-1", json={})
    scheduler = MemoryScheduler(clock=t.clock, sleep=t.sleep)
    tr = transport(t, limiter=scheduler)
    tr.request("GET", f"{JIRA}/myself")
    assert t.sleeps == [3.0]
    tr.request("GET", f"{JIRA}/issue/ABC-1")
    assert t.sleeps == [3.0]  # no hold on the transport for another endpoint


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


# --------------------------------------------------------------------------- credential binding
ORIGIN = "https://example.test"
SECRET = "Basic c2VjcmV0"


def bound(t: FakeTime, **kw: Any) -> Transport:
    tr = transport(t, **kw)
    tr.credential = OriginCredential(ORIGIN, SECRET)
    return tr


@responses.activate
def test_the_credential_is_added_per_request_on_its_origin(t: FakeTime) -> None:
    responses.get(URL, json={})
    tr = bound(t)
    tr.request("GET", URL)
    assert responses.calls[0].request.headers["Authorization"] == SECRET
    assert "Authorization" not in tr.session.headers


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/_apis/wit/attachments/0f1e2d3c",
        "http://example.test/api/thing",  # another scheme
        "https://example.test:8443/api/thing",  # another port
        "https://example.test.evil.test/api/thing",
    ],
)
@responses.activate
def test_a_url_off_the_origin_is_refused_before_anything_is_sent(t: FakeTime, url: str) -> None:
    responses.get(url, json={})
    tr = bound(t)
    with pytest.raises(ForeignOrigin) as info:
        tr.request("GET", url, what="download attachment")
    assert info.value.url == url and "outside https://example.test" in str(info.value)
    assert isinstance(info.value, PermanentError)
    assert len(responses.calls) == 0 and tr.requests_sent == 0


@responses.activate
def test_origin_matching_ignores_case_and_default_ports(t: FakeTime) -> None:
    url = "https://EXAMPLE.test:443/api/thing"
    responses.get(url, json={})
    bound(t).request("GET", url)
    assert responses.calls[0].request.headers["Authorization"] == SECRET


@responses.activate
def test_a_redirect_to_another_host_is_not_followed(t: FakeTime) -> None:
    responses.get(URL, status=302, headers={"Location": "https://evil.test/steal"})
    responses.get("https://evil.test/steal", json={})
    with pytest.raises(PermanentError, match=r"redirect to https://evil\.test/steal"):
        bound(t).request("GET", URL)
    assert [c.request.url for c in responses.calls] == [URL]  # nothing went to evil.test


# --------------------------------------------------------------------------- stop check
class Flag:
    """A stop check that turns true on demand, or once ``after`` seconds of fake time passed."""

    def __init__(self, t: FakeTime | None = None, after: float | None = None) -> None:
        self.t, self.after, self.start = t, after, t.now if t else 0.0
        self.set = False
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        if self.t is not None and self.after is not None:
            return self.t.now - self.start >= self.after
        return self.set


@responses.activate
def test_a_stop_before_the_first_attempt_sends_nothing(t: FakeTime) -> None:
    responses.post(URL, status=201, json={})
    tr = transport(t)
    tr.stop_check = lambda: True
    with pytest.raises(StopRequested):
        tr.request("POST", URL, json_body={})
    assert len(responses.calls) == 0 and tr.requests_sent == 0


@responses.activate
def test_a_retry_after_wait_is_sliced_and_abandoned_on_stop(t: FakeTime) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "30"})
    tr = transport(t)
    tr.stop_check = Flag(t, after=0.35)
    with pytest.raises(StopRequested):
        tr.request("GET", URL)
    assert all(s <= 0.1 for s in t.sleeps)
    assert sum(t.sleeps) == pytest.approx(0.4)  # noticed at the first slice past the stop
    assert len(responses.calls) == 1


@responses.activate
def test_without_a_stop_a_sliced_wait_sums_to_the_asked_wait(t: FakeTime) -> None:
    responses.get(URL, status=503, headers={"Retry-After": "1.25"})
    responses.get(URL, json={"ok": 1})
    tr = transport(t)
    tr.stop_check = Flag()
    assert tr.json("GET", URL) == {"ok": 1}
    assert sum(t.sleeps) == pytest.approx(1.25) and max(t.sleeps) <= 0.1


@responses.activate
def test_a_backoff_wait_is_interruptible_too(t: FakeTime) -> None:
    responses.get(URL, status=500)
    tr = transport(t, backoff_base=20.0, backoff_cap=20.0)
    tr.stop_check = Flag(t, after=0.15)
    with pytest.raises(StopRequested):
        tr.request("GET", URL)
    assert sum(t.sleeps) == pytest.approx(0.2) and len(responses.calls) == 1


@responses.activate
def test_another_threads_hold_is_interruptible(t: FakeTime) -> None:
    responses.get(URL, json={"n": 1}, headers={"Retry-After": "30"})  # a delayed 200
    tr = transport(t)
    tr.stop_check = Flag(t, after=0.25)
    assert tr.json("GET", URL) == {"n": 1}
    with pytest.raises(StopRequested):
        tr.request("GET", URL)
    assert len(responses.calls) == 1 and sum(t.sleeps) == pytest.approx(0.3)


@responses.activate
def test_a_write_sent_before_the_stop_is_still_reported(t: FakeTime) -> None:
    flag = Flag()

    def created(request: Any) -> tuple[int, dict[str, str], str]:
        flag.set = True  # the stop arrives while the write is on the wire
        return 201, {}, '{"key": "ACME-1"}'

    responses.add_callback(responses.POST, URL, callback=created)
    tr = transport(t)
    tr.stop_check = flag
    assert tr.json("POST", URL, json_body={}) == {"key": "ACME-1"}


@responses.activate
def test_an_unknown_outcome_is_reported_as_such_even_after_a_stop(t: FakeTime) -> None:
    flag = Flag()

    def timeout(request: Any) -> Any:
        flag.set = True
        raise requests.exceptions.ReadTimeout("no answer")

    responses.add_callback(responses.POST, URL, callback=timeout)
    tr = transport(t)
    tr.stop_check = flag
    with pytest.raises(OutcomeUnknown):
        tr.request("POST", URL, json_body={"a": 1})
    assert len(responses.calls) == 1


class StopWhileQueued(RecordingLimiter):
    """A limiter that lets the attempt through just as the stop arrives."""

    def __init__(self, flag: Flag) -> None:
        super().__init__()
        self.flag = flag

    def acquire(self, should_stop: Any = None) -> None:
        super().acquire(should_stop)
        self.flag.set = True


@responses.activate
def test_a_stop_that_arrives_while_queued_at_the_limiter_sends_nothing(t: FakeTime) -> None:
    responses.get(URL, json={})
    flag = Flag()
    lim = StopWhileQueued(flag)
    tr = transport(t, limiter=lim)
    tr.stop_check = flag
    with pytest.raises(StopRequested):
        tr.request("GET", URL)
    assert lim.events == [("acquire", flag), ("release", None)]  # the slot is given back
    assert len(responses.calls) == 0 and tr.requests_sent == 0


@responses.activate
def test_a_429_storm_is_abandoned_promptly_in_real_time() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "30"})
    tr = Transport(make_session(2), retry=RetryPolicy(max_total_wait=600.0))
    stop = threading.Event()
    tr.stop_check = stop.is_set
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            tr.request("GET", URL)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    time.sleep(0.3)
    sent_before_stop = len(responses.calls)
    stopped_at = time.monotonic()
    stop.set()
    worker.join(timeout=5)
    elapsed = time.monotonic() - stopped_at
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], StopRequested), outcome
    assert elapsed < 2.0, f"took {elapsed:.2f}s to notice the stop"
    assert sent_before_stop == 1 and len(responses.calls) == 1  # nothing sent after the stop


# --------------------------------------------------------------------------- environment
@responses.activate
def test_the_environments_proxy_settings_still_apply(
    t: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "direct.test")
    responses.get(URL, json={})
    responses.get("https://direct.test/x", json={})
    tr = transport(t)
    tr.request("GET", URL)
    tr.request("GET", URL)
    tr.request("GET", "https://direct.test/x")
    proxies = [call.request.req_kwargs["proxies"] for call in responses.calls]  # type: ignore[attr-defined]
    assert proxies[0].get("https") == "http://proxy.test:3128"
    assert proxies[1] == proxies[0]
    assert not proxies[2].get("https")  # NO_PROXY names that host
