"""Adaptive limiter: AIMD, pacing, pauses, in-flight bound; the Redis-shared variant."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from engine.errors import StopRequested
from engine.http import RetryPolicy
from engine.jira import JiraClient
from engine.ratelimit import AdaptiveRateLimiter, RateLimiter, RedisRateLimiter, site_key

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(t: FakeTime, **kw: Any) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(clock=t.clock, sleep=t.sleep, **kw)


def test_both_limiters_satisfy_the_protocol() -> None:
    assert isinstance(AdaptiveRateLimiter(), RateLimiter)


# --------------------------------------------------------------------------- AIMD
def test_rate_halves_on_throttle_and_creeps_back_on_success() -> None:
    t = FakeTime()
    lim = limiter(
        t, initial_rate=8, min_rate=1, max_rate=10, increase=0.5, decrease=0.5, decrease_cooldown=0
    )
    lim.on_throttle()
    assert lim.rate == 4
    lim.on_throttle()
    assert lim.rate == 2
    for _ in range(4):
        lim.on_success()
    assert lim.rate == 4
    for _ in range(100):
        lim.on_success()
    assert lim.rate == 10  # ceiling
    for _ in range(20):
        lim.on_throttle()
    assert lim.rate == 1  # floor


def test_a_burst_of_429s_within_the_cooldown_counts_once() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=8, decrease=0.5, decrease_cooldown=1.0)
    for _ in range(8):  # eight requests in flight all see the same 429 burst
        lim.on_throttle()
    assert lim.rate == 4
    t.now += 1.0
    lim.on_throttle()
    assert lim.rate == 2
    assert lim.throttles == 9


def test_acquire_paces_at_the_current_rate() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=10, burst=1)
    for _ in range(5):
        lim.acquire()
        lim.release()
    assert sum(t.sleeps) == pytest.approx(0.4)  # first is free, then one per 0.1 s
    lim.on_throttle()  # rate 5, bucket spent
    start = t.now
    lim.acquire()
    lim.release()
    assert t.now - start == pytest.approx(0.2)


def test_retry_after_pauses_every_caller() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=100)
    lim.on_throttle(3.0)
    start = t.now
    lim.acquire()
    lim.release()
    assert t.now - start >= 3.0


def test_a_pause_is_capped() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=100, max_pause=5.0)
    lim.on_throttle(3600.0)
    start = t.now
    lim.acquire()
    lim.release()
    assert t.now - start == pytest.approx(5.0)


def test_in_flight_bound_holds_under_threads() -> None:
    lim = AdaptiveRateLimiter(initial_rate=10_000, max_rate=10_000, max_in_flight=3)
    lock = threading.Lock()
    current = peak = 0

    def worker() -> None:
        nonlocal current, peak
        for _ in range(5):
            lim.acquire()
            try:
                with lock:
                    current += 1
                    peak = max(peak, current)
                time.sleep(0.005)
                with lock:
                    current -= 1
            finally:
                lim.release()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert peak == 3
    assert lim.peak_in_flight == 3
    assert lim.in_flight == 0


@responses.activate
def test_jira_client_feeds_the_limiter() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=8, decrease_cooldown=0)
    url = "https://site.test/rest/api/3/myself"
    responses.get(url, status=429, headers={"Retry-After": "1"})
    responses.get(url, json={"accountId": "a"})
    client = JiraClient(
        "https://site.test",
        "me@x.test",
        "tok",
        limiter=lim,
        retry=RetryPolicy(sleep=t.sleep, clock=time.time),
    )
    assert client.myself() == {"accountId": "a"}
    assert lim.throttles == 1
    assert lim.rate == pytest.approx(4 + 0.1)  # halved, then one success


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
def site(redis_client: Any) -> Iterator[str]:
    url = f"https://t-{uuid.uuid4().hex[:8]}.atlassian.net"
    yield url
    redis_client.delete(site_key(url))


def test_site_key_is_per_site_and_normalised() -> None:
    assert site_key("https://A.atlassian.net/") == site_key("https://a.atlassian.net")
    assert site_key("https://a.atlassian.net") != site_key("https://b.atlassian.net")


def test_redis_limiters_share_the_rate(redis_client: Any, site: str) -> None:
    a = RedisRateLimiter(redis_client, site, initial_rate=8, decrease_cooldown=0)
    b = RedisRateLimiter(redis_client, site, initial_rate=8, decrease_cooldown=0)
    a.on_throttle()
    assert b.rate == 4
    b.on_success()
    assert a.rate == pytest.approx(4.1)
    other = RedisRateLimiter(redis_client, site + "x", initial_rate=8)
    assert other.rate == 8
    other.reset()


def test_redis_limiters_share_one_budget(redis_client: Any, site: str) -> None:
    rate, window = 20.0, 1.0
    kw: dict[str, Any] = dict(
        initial_rate=rate, min_rate=rate, max_rate=rate, burst=1, max_in_flight=4
    )
    limiters = [RedisRateLimiter(redis_client, site, **kw) for _ in range(2)]
    counts = [0, 0]
    lock = threading.Lock()
    deadline = time.monotonic() + window

    def worker(i: int) -> None:
        while True:
            limiters[i].acquire()
            limiters[i].release()
            if time.monotonic() > deadline:
                return
            with lock:
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i % 2,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    total = sum(counts)
    # One shared bucket: about rate * window in all, not that per limiter.
    assert total <= rate * window + 4, counts
    assert total >= rate * window * 0.6, counts
    assert min(counts) > 0, counts


class CountingRedisLimiter(RedisRateLimiter):
    """Counts the bucket's round trips to Redis (the real script runs every time)."""

    takes = 0

    def _try_take(self) -> tuple[float, bool]:
        type(self).takes += 1
        return super()._try_take()


def test_waiting_requests_cost_one_bucket_call_each(redis_client: Any, site: str) -> None:
    # Eight threads on a bucket of 40/s: before reservations each waiter woke when a
    # token might be there and asked again, about one Redis call per waiter per token.
    rate, threads_n, each = 40.0, 8, 5
    kw: dict[str, Any] = dict(
        initial_rate=rate, min_rate=rate, max_rate=rate, burst=1, max_in_flight=threads_n
    )
    limiter = CountingRedisLimiter(redis_client, site, **kw)
    CountingRedisLimiter.takes = 0
    started = time.monotonic()

    def worker() -> None:
        for _ in range(each):
            limiter.acquire()
            limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    elapsed = time.monotonic() - started
    assert CountingRedisLimiter.takes == threads_n * each
    # Still paced: the first token is free, every other one waits its turn.
    assert elapsed >= (threads_n * each - 1) / rate * 0.95


def test_in_process_waiters_reserve_their_turn() -> None:
    t = FakeTime()
    lim = limiter(t, initial_rate=10, burst=1)
    lim.acquire()  # the free token
    waits_before = len(t.sleeps)
    lim.acquire()  # reserves the next one: one sleep of its turn, no second ask
    assert t.sleeps[waits_before:] == [pytest.approx(0.1)]
    lim.on_throttle(0.5)  # a pause reserves nothing: ask again when it ends
    start = t.now
    lim.acquire()
    assert t.now - start >= 0.5


def test_a_redis_pause_holds_back_the_other_worker(redis_client: Any, site: str) -> None:
    a = RedisRateLimiter(redis_client, site, initial_rate=100, max_rate=100)
    b = RedisRateLimiter(redis_client, site, initial_rate=100, max_rate=100)
    a.on_throttle(0.3)
    start = time.monotonic()
    b.acquire()
    b.release()
    assert time.monotonic() - start >= 0.25


# --------------------------------------------------------------------------- stopping
def stopped_within(acquire: Any, bound: float = 2.0) -> float:
    """Run ``acquire(should_stop)`` in a thread, stop it after 0.3 s; seconds it took to notice."""
    stop = threading.Event()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            acquire(stop.is_set)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive() and not outcome, "acquire should still be waiting"
    stopped_at = time.monotonic()
    stop.set()
    thread.join(bound + 3)
    elapsed = time.monotonic() - stopped_at
    assert len(outcome) == 1 and isinstance(outcome[0], StopRequested), outcome
    assert elapsed < bound, f"took {elapsed:.2f}s to notice the stop"
    return elapsed


def test_a_paused_acquire_is_sliced_and_gives_its_slot_back_on_stop() -> None:
    t = FakeTime()
    lim = limiter(t, max_pause=60)
    lim.on_throttle(30)
    start = t.now
    with pytest.raises(StopRequested):
        lim.acquire(should_stop=lambda: t.now - start >= 0.25)
    assert max(t.sleeps) <= 0.1 and sum(t.sleeps) == pytest.approx(0.3)
    assert lim.in_flight == 0


def test_without_a_stop_check_the_pause_is_one_sleep() -> None:
    t = FakeTime()
    lim = limiter(t)
    lim.on_throttle(5)
    lim.acquire()
    lim.release()
    assert t.sleeps == [pytest.approx(5.0)]


def test_a_paused_acquire_stops_promptly_in_real_time() -> None:
    lim = AdaptiveRateLimiter(max_pause=60)
    lim.on_throttle(30)
    stopped_within(lambda stop: lim.acquire(should_stop=stop))
    assert lim.in_flight == 0


def test_waiting_for_a_free_slot_stops_promptly() -> None:
    lim = AdaptiveRateLimiter(initial_rate=1000, max_rate=1000, max_in_flight=1)
    lim.acquire()  # the only slot, held by a request stuck elsewhere
    stopped_within(lambda stop: lim.acquire(should_stop=stop))
    lim.release()
    assert lim.in_flight == 0


@responses.activate
def test_a_429_storm_stops_every_jira_thread_promptly() -> None:
    url = "https://storm.test/rest/api/3/myself"
    responses.get(url, status=429, headers={"Retry-After": "30"})
    client = JiraClient(
        "https://storm.test",
        "me@x.test",
        "tok",
        limiter=AdaptiveRateLimiter(max_pause=60, max_in_flight=2),
        retry=RetryPolicy(max_total_wait=600),
    )
    stop = threading.Event()
    client.set_stop_check(stop.is_set)
    outcomes: list[BaseException] = []

    def call() -> None:
        try:
            client.myself()
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    sent = len(responses.calls)
    stopped_at = time.monotonic()
    stop.set()
    for th in threads:
        th.join(5)
    elapsed = time.monotonic() - stopped_at
    assert len(outcomes) == 4 and all(isinstance(e, StopRequested) for e in outcomes), outcomes
    assert elapsed < 2.0, f"took {elapsed:.2f}s to notice the stop"
    assert 1 <= sent <= 4 and len(responses.calls) == sent  # nothing sent after the stop
    assert client.limiter.in_flight == 0  # type: ignore[attr-defined]


def test_a_redis_paused_acquire_stops_promptly_without_polling_redis(
    redis_client: Any, site: str
) -> None:
    lim = RedisRateLimiter(redis_client, site, max_pause=60)
    lim.on_throttle(30)
    takes: list[float] = []
    real = lim._try_take

    def counted() -> tuple[float, bool]:
        takes.append(time.monotonic())
        return real()

    lim._try_take = counted  # type: ignore[method-assign]
    stopped_within(lambda stop: lim.acquire(should_stop=stop))
    assert len(takes) == 1  # the slices re-check the stop, not the shared bucket
    assert lim.in_flight == 0
