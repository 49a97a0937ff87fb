"""The Jira scheduler: a limiter per endpoint, spacing per issue, each 429 slowing its scope.

The in-memory scheduler runs on a fake clock (its waits are the sleeps it asked for);
the scope rules are also checked on the Redis-shared scheduler between two instances
("two workers"), by the waits each step names, not by wall-clock bounds.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from engine.errors import StopRequested
from engine.jira_routes import JiraRoute, route_of
from engine.ratelimit import RateLimiter
from engine.retry import BURST, PER_ISSUE, RateSignal, read_signal
from engine.schedule import MemoryScheduler, Scheduler, SchedulerSettings, ScopedLimiter
from engine.schedule_redis import RedisScheduler, scheduler_for

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
QUOTA = "jira-quota-tenant-based"

COMMENT = "/rest/api/3/issue/{}/comment"
GET_ISSUE = "/rest/api/3/issue/{}"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def waited(self) -> float:
        total = sum(self.sleeps)
        self.sleeps.clear()
        return total


def memory(t: FakeTime, **kw: Any) -> MemoryScheduler:
    return MemoryScheduler(SchedulerSettings(**kw), clock=t.clock, sleep=t.sleep)


def comment(key: str) -> JiraRoute:
    return route_of("POST", COMMENT.format(key))


def read(key: str) -> JiraRoute:
    return route_of("GET", GET_ISSUE.format(key))


def send(s: Scheduler, scope: JiraRoute, signal: RateSignal | None = None) -> None:
    """One request through the scheduler: acquire, the answer's signal, release."""
    s.acquire_scope(scope)
    s.feedback(scope, signal or RateSignal(200))
    s.release_scope(scope)


def throttled(reason: str | None, wait: float) -> RateSignal:
    return RateSignal(429, reason, wait)


def test_the_scheduler_is_a_scoped_limiter_and_a_plain_one() -> None:
    s = MemoryScheduler()
    assert isinstance(s, ScopedLimiter) and isinstance(s, RateLimiter)
    s.acquire()
    s.on_success()
    s.release()
    assert s.in_flight == 0


# --------------------------------------------------------------------------- endpoints
def test_each_endpoint_starts_at_its_methods_documented_rate() -> None:
    t = FakeTime()
    s = memory(t)
    send(s, read("A-1"))
    send(s, route_of("PUT", GET_ISSUE.format("A-1")))
    send(s, route_of("POST", "/rest/api/3/issue/bulk"))
    assert s.rates() == {
        "GET /rest/api/3/issue/{issueIdOrKey}": 100.0,
        "PUT /rest/api/3/issue/{issueIdOrKey}": 50.0,
        "POST /rest/api/3/issue/bulk": 100.0,
    }


def test_an_endpoint_is_paced_at_its_rate_and_others_are_not_slowed() -> None:
    t = FakeTime()
    s = memory(t, rates={"GET": 10.0, "POST": 10.0}, burst_seconds=0.1)
    for _ in range(21):
        send(s, read("A-1"))
    assert t.waited() == pytest.approx(2.0)  # 20 intervals of 1/10 s after the first
    for n in range(5):
        send(s, route_of("GET", f"/rest/api/3/project/P{n}"))
    # another endpoint: its own bucket (the first is free, then paced at its own rate)
    assert t.waited() == pytest.approx(0.4)


def test_a_route_rate_overrides_its_methods_default() -> None:
    t = FakeTime()
    s = memory(t, route_rates={"POST /rest/api/3/issue/bulk": 2.0}, burst_seconds=0.1)
    for _ in range(3):
        send(s, route_of("POST", "/rest/api/3/issue/bulk"))
    assert t.waited() == pytest.approx(1.0)
    assert s.rates()["POST /rest/api/3/issue/bulk"] == 2.0


def test_a_burst_429_cuts_and_pauses_its_endpoint_only() -> None:
    t = FakeTime()
    s = memory(t, decrease=0.5)
    send(s, read("A-1"), throttled(BURST, 5.0))
    send(s, comment("A-1"))  # another endpoint: at once
    send(s, read("A-2"))  # the throttled one: waits out its Retry-After
    assert t.sleeps == [pytest.approx(5.0)]
    rates = s.rates()
    assert rates["GET /rest/api/3/issue/{issueIdOrKey}"] == 50.5  # halved, then one success
    assert rates["POST /rest/api/3/issue/{issueIdOrKey}/comment"] == 100.0
    assert s.throttles == {BURST: 1}


def test_aimd_creeps_back_to_the_ceiling_and_one_burst_of_429s_counts_once() -> None:
    t = FakeTime()
    s = memory(t, decrease=0.5, increase_fraction=0.1, decrease_cooldown=1.0)
    scope = read("A-1")
    for _ in range(3):  # three answers of one burst, within the cooldown
        s.feedback(scope, throttled(BURST, 0.0))
    assert s.rates()[scope.endpoint] == 50.0
    for _ in range(4):
        send(s, scope)
    assert s.rates()[scope.endpoint] == pytest.approx(90.0)
    for _ in range(4):
        send(s, scope)
    assert s.rates()[scope.endpoint] == 100.0  # the ceiling


def test_near_limit_slows_that_endpoint_a_little_and_holds_its_growth() -> None:
    t = FakeTime()
    s = memory(t, near_decrease=0.8, near_cooldown=0.0)
    near = read_signal(200, {"X-RateLimit-NearLimit": "true"}, t.now)
    assert near.near
    send(s, read("A-1"), near)
    send(s, read("A-1"), near)
    send(s, comment("A-1"))
    rates = s.rates()
    assert rates["GET /rest/api/3/issue/{issueIdOrKey}"] == pytest.approx(64.0)
    assert rates["POST /rest/api/3/issue/{issueIdOrKey}/comment"] == 100.0


def test_a_near_limit_answer_spends_the_bucket_and_cuts_once_per_cooldown() -> None:
    t = FakeTime()
    s = memory(t, near_decrease=0.5, near_cooldown=10.0)
    near = RateSignal(200, near=True)
    send(s, read("A-1"), near)  # the bucket was full: no wait, then spent
    send(s, read("A-1"), near)  # within the cooldown: no second cut
    assert t.sleeps == [pytest.approx(1 / 50)]
    assert s.rates()["GET /rest/api/3/issue/{issueIdOrKey}"] == 50.0


def test_remaining_below_a_fifth_of_the_limit_counts_as_near() -> None:
    low = read_signal(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "19"}, 0.0)
    high = read_signal(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "50"}, 0.0)
    assert low.near and not high.near
    assert not read_signal(200, {}, 0.0).near


# --------------------------------------------------------------------------- issues
def test_writes_to_one_issue_are_spaced_by_jiras_windows_while_other_issues_go_on() -> None:
    t = FakeTime()
    s = memory(t, issue_windows=((20, 2.0), (100, 30.0)), issue_margin=0.05, burst_seconds=1.0)
    start = t.now
    for _ in range(20):
        send(s, comment("A-1"))
    assert t.waited() == 0.0  # 20 writes in 2 s are allowed (the endpoint has the budget)
    send(s, comment("A-2"))  # another issue: at once
    assert t.waited() == 0.0
    send(s, comment("A-1"))  # the 21st waits until the first leaves the window
    assert t.now - start == pytest.approx(2.05)
    t.waited()
    send(s, read("A-1"))  # reads are not writes
    assert t.waited() == 0.0


def test_the_long_window_holds_a_busy_issue_too() -> None:
    t = FakeTime()
    s = memory(t, issue_windows=((3, 1.0), (5, 10.0)), issue_margin=0.0)
    start = t.now
    stamps = []
    for _ in range(6):
        send(s, comment("A-1"))
        stamps.append(t.now - start)
    assert stamps == pytest.approx([0, 0, 0, 1.0, 1.0, 10.0])


def test_a_link_is_a_write_to_both_its_ends() -> None:
    t = FakeTime()
    s = memory(t, issue_windows=((2, 5.0),), issue_margin=0.0)
    link = route_of("POST", "/rest/api/3/issueLink", ("A-1", "A-2"))
    assert link.issues == ("A-1", "A-2")
    send(s, link)
    send(s, comment("A-2"))
    assert t.waited() == 0.0
    send(s, comment("A-2"))  # A-2 has had two writes in the window: the link and a comment
    assert t.waited() == pytest.approx(5.0)
    send(s, comment("A-1"))  # A-1 only one
    assert t.waited() == 0.0


def test_a_per_issue_429_pauses_that_issue_and_nothing_else() -> None:
    t = FakeTime()
    s = memory(t)
    send(s, comment("A-1"), throttled(PER_ISSUE, 4.0))
    for key in ("A-2", "A-3"):
        send(s, comment(key))  # other issues, same endpoint
    send(s, read("A-1"))  # reading the paused issue
    assert t.waited() == 0.0
    send(s, comment("A-1"))
    assert t.waited() == pytest.approx(4.0)
    assert s.rates()["POST /rest/api/3/issue/{issueIdOrKey}/comment"] == 100.0  # not cut


# --------------------------------------------------------------------------- everything
def test_a_quota_429_pauses_every_endpoint_until_the_reset() -> None:
    t = FakeTime()
    s = memory(t, max_pause=600)
    signal = read_signal(429, {"RateLimit-Reason": QUOTA, "Retry-After": "30"}, t.now)
    send(s, read("A-1"), signal)
    send(s, comment("A-2"))
    assert t.waited() == pytest.approx(30.0)
    send(s, route_of("GET", "/rest/api/3/myself"))
    assert t.waited() == 0.0  # over once the reset has passed


def test_a_429_naming_no_reason_holds_everything_for_its_wait() -> None:
    t = FakeTime()
    s = memory(t)
    send(s, read("A-1"), throttled(None, 3.0))
    send(s, comment("A-2"))
    assert t.waited() == pytest.approx(3.0)
    assert s.throttles == {"none": 1}


def test_a_pause_longer_than_max_pause_is_capped() -> None:
    t = FakeTime()
    s = memory(t, max_pause=60)
    send(s, read("A-1"), throttled(QUOTA, 3600.0))
    send(s, read("A-1"))
    assert t.waited() == pytest.approx(60.0)


def test_the_quota_wait_is_read_from_the_reset_when_there_is_no_retry_after() -> None:
    signal = read_signal(
        429, {"RateLimit-Reason": QUOTA, "X-RateLimit-Reset": "2030-01-01T00:10Z"}, 1893456000.0
    )
    assert signal.reason == QUOTA and signal.wait == pytest.approx(600.0)


# --------------------------------------------------------------------------- threads, stops
def test_a_wait_on_a_busy_issue_is_stoppable_and_holds_no_slot() -> None:
    t = FakeTime()
    s = memory(t, max_in_flight=1)
    send(s, comment("A-1"), throttled(PER_ISSUE, 30.0))
    start = t.now
    with pytest.raises(StopRequested):
        s.acquire_scope(comment("A-1"), should_stop=lambda: t.now - start >= 0.25)
    assert s.in_flight == 0
    send(s, comment("A-2"))  # the one slot is free for others


def test_a_thread_waiting_on_a_busy_issue_or_endpoint_blocks_no_other() -> None:
    s = MemoryScheduler(SchedulerSettings(max_in_flight=1))
    send(s, comment("A-1"), throttled(PER_ISSUE, 60.0))
    send(s, read("A-1"), throttled(BURST, 60.0))
    stop = threading.Event()
    outcomes: list[BaseException] = []

    def wait_for(scope: JiraRoute) -> None:
        try:
            s.acquire_scope(scope, should_stop=stop.is_set)
        except BaseException as exc:  # reported below
            outcomes.append(exc)

    waiters = [
        threading.Thread(target=wait_for, args=(sc,)) for sc in (comment("A-1"), read("A-2"))
    ]
    for th in waiters:
        th.start()
    try:
        for key in ("A-2", "A-3", "A-4"):
            send(s, comment(key))  # the one in-flight slot and the comment endpoint are free
        send(s, route_of("GET", "/rest/api/3/myself"))
        assert s.peak_in_flight == 1
    finally:
        stop.set()
        for th in waiters:
            th.join(10)
    assert len(outcomes) == 2 and all(isinstance(e, StopRequested) for e in outcomes)
    assert s.in_flight == 0


def test_concurrent_writers_to_one_issue_never_overfill_its_window() -> None:
    t = FakeTime()
    lock = threading.Lock()
    s = MemoryScheduler(
        SchedulerSettings(issue_windows=((3, 5.0),), issue_margin=0.0),
        clock=t.clock,
        sleep=lambda secs: _advance(t, lock, secs),
    )
    sent: list[float] = []

    def writer() -> None:
        for _ in range(3):
            s.acquire_scope(comment("A-1"))
            with lock:
                sent.append(t.now)
            s.release_scope(comment("A-1"))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(sent) == 12
    sent.sort()
    # any three consecutive writes span the window: never a fourth within 5 s
    assert all(later - first >= 5.0 - 1e-9 for first, later in zip(sent, sent[3:], strict=False))


def _advance(t: FakeTime, lock: threading.Lock, seconds: float) -> None:
    with lock:
        t.now += seconds


def test_bad_settings_are_refused() -> None:
    for bad in (
        {"rates": {"GET": 0.0}},
        {"decrease": 1.5},
        {"issue_windows": ((0, 2.0),)},
        {"max_in_flight": 0},
        {"initial_fraction": 0.0},
    ):
        with pytest.raises(ValueError):
            SchedulerSettings(**bad)


# --------------------------------------------------------------------------- Redis
@pytest.fixture
def redis_client() -> Iterator[Any]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc}); CI provides one")
    yield client
    client.close()


@pytest.fixture
def workers(redis_client: Any) -> Iterator[tuple[RedisScheduler, RedisScheduler]]:
    """Two schedulers of one site, as two workers have."""
    site = f"https://t-{uuid.uuid4().hex[:8]}.atlassian.net"
    settings = SchedulerSettings(max_pause=120)
    first = scheduler_for(site, redis_client, settings)
    second = scheduler_for(site, redis_client, settings)
    assert isinstance(first, RedisScheduler) and isinstance(second, RedisScheduler)
    yield first, second
    first.reset()


def test_workers_share_one_site_key_and_other_sites_do_not(redis_client: Any) -> None:
    a = RedisScheduler(redis_client, "https://A.atlassian.net/")
    b = RedisScheduler(redis_client, "https://a.atlassian.net")
    c = RedisScheduler(redis_client, "https://c.atlassian.net")
    assert a.key == b.key != c.key
    assert a.key.count("{") == 1 and a.key.endswith("}")  # one cluster slot per site


def test_a_burst_429_seen_by_one_worker_pauses_that_endpoint_for_both(
    workers: tuple[RedisScheduler, RedisScheduler],
) -> None:
    one, two = workers
    one.feedback(read("A-1"), throttled(BURST, 60.0))
    wait, reserved = two._take(read("A-9"))
    assert not reserved and wait > 50
    assert two._take(comment("A-1")) == (0.0, True)  # another endpoint goes on
    assert two.rates() == {
        "GET /rest/api/3/issue/{issueIdOrKey}": 50.0,  # cut by the other worker's 429
        "POST /rest/api/3/issue/{issueIdOrKey}/comment": 100.0,
    }


def test_workers_share_an_endpoints_bucket(redis_client: Any) -> None:
    site = f"https://t-{uuid.uuid4().hex[:8]}.atlassian.net"
    settings = SchedulerSettings(route_rates={"GET /rest/api/3/issue/{issueIdOrKey}": 2.0})
    one, two = (RedisScheduler(redis_client, site, settings) for _ in range(2))
    try:
        # 2/s with a bucket of one token: each reservation is due half a second after
        # the one before, whichever worker made it
        waits = [one._take(read("A-1"))[0], two._take(read("A-2"))[0], one._take(read("A-3"))[0]]
    finally:
        one.reset()
    assert waits[0] == 0.0
    assert 0.4 < waits[1] <= 0.5 and 0.9 < waits[2] <= 1.0


def test_an_issues_writes_and_pause_are_shared_and_other_issues_go_on(
    workers: tuple[RedisScheduler, RedisScheduler],
) -> None:
    one, two = workers
    for _ in range(20):
        assert one._claim(("A-1",))
    assert two._issue_wait(("A-1",)) > 1.0  # the 20 per 2 s window is full
    assert not two._claim(("A-1",))
    assert two._claim(("A-2",))
    one.feedback(comment("A-3"), throttled(PER_ISSUE, 60.0))
    assert two._issue_wait(("A-3",)) > 50
    assert two._issue_wait(("A-2", "A-4")) == 0.0
    assert two._take(comment("A-4")) == (0.0, True)  # the endpoint is not slowed


def test_a_quota_429_pauses_every_endpoint_of_every_worker(
    workers: tuple[RedisScheduler, RedisScheduler],
) -> None:
    one, two = workers
    one.feedback(read("A-1"), throttled(QUOTA, 60.0))
    for scope in (comment("A-2"), route_of("GET", "/rest/api/3/myself")):
        wait, reserved = two._take(scope)
        assert not reserved and wait > 50


def test_a_redis_scheduler_sends_through_acquire_and_release(
    workers: tuple[RedisScheduler, RedisScheduler],
) -> None:
    one, _ = workers
    for key in ("A-1", "A-2"):
        send(one, comment(key))
    assert one.in_flight == 0
    assert one.rates()["POST /rest/api/3/issue/{issueIdOrKey}/comment"] == 100.0
