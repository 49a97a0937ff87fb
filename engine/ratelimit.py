"""Client-side rate limiting for the Jira target: adaptive rate plus an in-flight bound.

:class:`AdaptiveRateLimiter` paces requests with a token bucket whose rate adapts
AIMD-style: every 429 multiplies the rate by ``decrease`` (at most once per
``decrease_cooldown`` seconds, so one burst of parallel 429s counts once), every
success adds ``increase`` requests/s, within ``[min_rate, max_rate]``. A 429's
``Retry-After`` also pauses every caller until it has passed. A semaphore bounds
the requests in flight.

:class:`RedisRateLimiter` has the same interface but keeps the bucket, the
current rate and the pause in Redis, keyed per Jira site, so every worker that
migrates into one site shares one budget. The in-flight bound stays per process
(a crashed worker must not leak shared slots).

Use: ``acquire()`` before a request, ``release()`` after it, and one of
``on_success()`` / ``on_throttle(retry_after)`` once its status is known. A pause
is capped at ``max_pause``: a longer wait is the retry layer's to report
(``RetriesExhausted.retry_after``), not a reason to freeze every thread silently.

``acquire(should_stop=...)`` waits in slices of at most :data:`STOP_SLICE` seconds
and raises :class:`~engine.errors.StopRequested` as soon as ``should_stop()`` is
true, so a run asked to pause is not held for a whole throttling pause. The
slices only re-check the stop: the bucket (a Redis call for the shared limiter)
is asked again only when the wait it named is over.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from engine.errors import StopRequested

# The longest a stoppable wait sleeps before looking at the stop flag again.
STOP_SLICE = 0.1

StopCheck = Callable[[], bool]


def sleep_unless_stopped(
    seconds: float,
    *,
    sleep: Callable[[float], None],
    should_stop: StopCheck | None,
    what: str,
) -> None:
    """Sleep ``seconds``; with ``should_stop``, in slices, raising StopRequested when it is true.

    Without a stop check the wait is one ``sleep`` call (tests with a fake clock
    see the exact wait). The remaining time is counted down by the slices slept,
    not read from a clock, so an injected ``sleep`` stays in control of time.
    """
    if should_stop is None:
        if seconds > 0:
            sleep(seconds)
        return
    remaining = seconds
    while True:
        raise_if_stopped(should_stop, what)
        if remaining <= 1e-9:
            return
        step = min(STOP_SLICE, remaining)
        sleep(step)
        remaining -= step


def raise_if_stopped(should_stop: StopCheck | None, what: str) -> None:
    if should_stop is not None and should_stop():
        raise StopRequested(f"{what}: stopped before sending (a stop was requested)")


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self, should_stop: StopCheck | None = None) -> None:
        """Block until a request may start (an in-flight slot and a rate token).

        Raises StopRequested (holding nothing) once ``should_stop()`` is true.
        """

    def release(self) -> None:
        """The request started by the matching ``acquire`` has finished."""

    def on_success(self) -> None:
        """A request was not throttled: creep the rate back up."""

    def on_throttle(self, retry_after: float | None = None) -> None:
        """A request got 429: cut the rate and pause for ``retry_after`` seconds."""

    @property
    def rate(self) -> float:
        """Current requests per second."""


class _Slots:
    """The in-flight bound shared by both limiters.

    One condition guards the count (a semaphore plus a separate lock for the
    counters took two locks and a condition per request).
    """

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._free = threading.Condition(threading.Lock())
        self.in_flight = 0
        self.peak_in_flight = 0

    def take(self, should_stop: StopCheck | None = None) -> None:
        with self._free:
            while self.in_flight >= self.max_in_flight:
                if should_stop is None:
                    self._free.wait()
                    continue
                # Every slot may be held by requests stuck in a long wait: keep looking
                # at the stop flag instead of blocking for good.
                raise_if_stopped(should_stop, "rate limiter")
                self._free.wait(timeout=STOP_SLICE)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def give(self) -> None:
        with self._free:
            if self.in_flight <= 0:
                raise ValueError("released more slots than were taken")
            self.in_flight -= 1
            self._free.notify()


class _PacedLimiter:
    """What both limiters share: the AIMD settings, the in-flight slots, acquire/release."""

    def __init__(
        self,
        *,
        initial_rate: float,
        min_rate: float,
        max_rate: float,
        increase: float,
        decrease: float,
        decrease_cooldown: float,
        burst: float,
        max_in_flight: int,
        max_pause: float,
        sleep: Callable[[float], None],
    ) -> None:
        if not 0 < min_rate <= max_rate:
            raise ValueError("need 0 < min_rate <= max_rate")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be a factor between 0 and 1")
        self.initial_rate = min(max(initial_rate, min_rate), max_rate)
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.increase = increase
        self.decrease = decrease
        self.decrease_cooldown = decrease_cooldown
        self.burst = max(1.0, burst)
        self.max_pause = max_pause
        self._sleep = sleep
        self._slots = _Slots(max_in_flight)

    @property
    def max_in_flight(self) -> int:
        return self._slots.max_in_flight

    @property
    def in_flight(self) -> int:
        return self._slots.in_flight

    @property
    def peak_in_flight(self) -> int:
        return self._slots.peak_in_flight

    def _try_take(self) -> tuple[float, bool]:
        """Reserve the next token: ``(wait, True)``, go after ``wait`` seconds (0: now).

        While the site is paused (a 429's ``Retry-After``) nothing is reserved:
        ``(until the pause ends, False)``, ask again then. A reservation takes the
        token from the bucket at once (it may go below zero), so each request costs
        one call to the bucket however many wait: waiters that each slept until
        "a token might be there" and asked again took about one call per waiter per
        token, which with a shared bucket in Redis was most of a worker's CPU.
        """
        raise NotImplementedError

    def acquire(self, should_stop: StopCheck | None = None) -> None:
        raise_if_stopped(should_stop, "rate limiter")
        self._slots.take(should_stop)
        try:
            while True:
                wait, reserved = self._try_take()
                if wait > 0:
                    sleep_unless_stopped(
                        wait, sleep=self._sleep, should_stop=should_stop, what="rate limiter"
                    )
                if reserved:
                    return
        except BaseException:
            self._slots.give()
            raise

    def release(self) -> None:
        self._slots.give()

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class AdaptiveRateLimiter(_PacedLimiter):
    """Thread-safe AIMD token bucket with an in-flight bound (one process)."""

    def __init__(
        self,
        *,
        initial_rate: float = 10.0,
        min_rate: float = 0.5,
        max_rate: float = 100.0,
        increase: float = 0.1,
        decrease: float = 0.5,
        decrease_cooldown: float = 1.0,
        burst: float = 1.0,
        max_in_flight: int = 8,
        max_pause: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            initial_rate=initial_rate,
            min_rate=min_rate,
            max_rate=max_rate,
            increase=increase,
            decrease=decrease,
            decrease_cooldown=decrease_cooldown,
            burst=burst,
            max_in_flight=max_in_flight,
            max_pause=max_pause,
            sleep=sleep,
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._rate = self.initial_rate
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = 0.0
        self._last_decrease = float("-inf")
        self.throttles = 0

    @property
    def rate(self) -> float:
        with self._lock:
            return self._rate

    def _try_take(self) -> tuple[float, bool]:
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now, False
            self._fill(now)
            self._tokens -= 1.0
            return max(0.0, -self._tokens / self._rate), True

    def _fill(self, now: float) -> None:
        """The bucket as it filled at the current rate until ``now`` (the caller locks)."""
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def on_success(self) -> None:
        with self._lock:
            self._fill(self._clock())
            self._rate = min(self.max_rate, self._rate + self.increase)

    def on_throttle(self, retry_after: float | None = None) -> None:
        with self._lock:
            now = self._clock()
            self._fill(now)
            self.throttles += 1
            if now - self._last_decrease >= self.decrease_cooldown:
                self._rate = max(self.min_rate, self._rate * self.decrease)
                self._last_decrease = now
            # Spend the bucket: a burst right after a 429 would be throttled again.
            self._tokens = min(self._tokens, 0.0)
            if retry_after:
                pause = min(retry_after, self.max_pause)
                self._paused_until = max(self._paused_until, now + pause)


# --------------------------------------------------------------------------- Redis
# KEYS[1] = state hash (rate, tokens, stamp, paused_until, last_decrease)
# ARGV: op, initial, min, max, step (increase or decrease factor), burst, cooldown,
#       retry_after, ttl
# Times come from the Redis server's clock, so workers with skewed clocks agree.
_LUA = """
local key = KEYS[1]
local op = ARGV[1]
local initial = tonumber(ARGV[2])
local min_rate = tonumber(ARGV[3])
local max_rate = tonumber(ARGV[4])
local step = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local cooldown = tonumber(ARGV[7])
local retry_after = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', key, 'rate', 'tokens', 'stamp', 'paused', 'lastdec')
local rate = tonumber(s[1]) or initial
local tokens = tonumber(s[2]) or burst
local stamp = tonumber(s[3]) or now
local paused = tonumber(s[4]) or 0
local lastdec = tonumber(s[5]) or -1e18
local result = 0
local reserved = 1
if op == 'take' then
  if now < paused then
    result = paused - now
    reserved = 0
  else
    tokens = math.min(burst, tokens + (now - stamp) * rate)
    stamp = now
    tokens = tokens - 1
    if tokens < 0 then
      result = -tokens / rate
    end
  end
elseif op == 'success' then
  -- the bucket filled at the old rate until now (reservations made before count)
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
  rate = math.min(max_rate, rate + step)
elseif op == 'throttle' then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
  if now - lastdec >= cooldown then
    rate = math.max(min_rate, rate * step)
    lastdec = now
  end
  tokens = math.min(tokens, 0)
  if retry_after > 0 then
    paused = math.max(paused, now + retry_after)
  end
end
redis.call('HSET', key, 'rate', tostring(rate), 'tokens', tostring(tokens),
           'stamp', tostring(stamp), 'paused', tostring(paused), 'lastdec', tostring(lastdec))
redis.call('EXPIRE', key, ttl)
return {tostring(result), tostring(rate), tostring(reserved)}
"""


def site_key(base_url: str, prefix: str = "migrator:ratelimit") -> str:
    """The Redis key of one Jira site: every worker writing to it shares it."""
    normal = base_url.strip().rstrip("/").lower()
    digest = hashlib.sha256(normal.encode()).hexdigest()[:24]
    return f"{prefix}:{digest}"


class RedisRateLimiter(_PacedLimiter):
    """:class:`AdaptiveRateLimiter`'s behaviour with the bucket and rate shared in Redis.

    ``redis_client`` is a ``redis.Redis``; ``site`` is the Jira base URL (the key).
    """

    def __init__(
        self,
        redis_client: Any,
        site: str,
        *,
        initial_rate: float = 10.0,
        min_rate: float = 0.5,
        max_rate: float = 100.0,
        increase: float = 0.1,
        decrease: float = 0.5,
        decrease_cooldown: float = 1.0,
        burst: float = 1.0,
        max_in_flight: int = 8,
        max_pause: float = 60.0,
        key_prefix: str = "migrator:ratelimit",
        ttl_seconds: int = 3600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            initial_rate=initial_rate,
            min_rate=min_rate,
            max_rate=max_rate,
            increase=increase,
            decrease=decrease,
            decrease_cooldown=decrease_cooldown,
            burst=burst,
            max_in_flight=max_in_flight,
            max_pause=max_pause,
            sleep=sleep,
        )
        self.redis = redis_client
        self.key = site_key(site, key_prefix)
        self.ttl_seconds = ttl_seconds
        self._script = redis_client.register_script(_LUA)
        self._last_rate = self.initial_rate

    def _call(self, op: str, step: float = 0.0, retry_after: float = 0.0) -> tuple[float, bool]:
        wait, rate, reserved = self._script(
            keys=[self.key],
            args=[
                op,
                repr(self.initial_rate),
                repr(self.min_rate),
                repr(self.max_rate),
                repr(step),
                repr(self.burst),
                repr(self.decrease_cooldown),
                repr(retry_after),
                str(self.ttl_seconds),
            ],
        )
        self._last_rate = float(rate)
        return float(wait), reserved in (b"1", "1")

    @property
    def rate(self) -> float:
        raw = self.redis.hget(self.key, "rate")
        return float(raw) if raw is not None else self.initial_rate

    def _try_take(self) -> tuple[float, bool]:
        return self._call("take")

    def on_success(self) -> None:
        self._call("success", self.increase)

    def on_throttle(self, retry_after: float | None = None) -> None:
        self._call("throttle", self.decrease, min(retry_after or 0.0, self.max_pause))

    def reset(self) -> None:
        """Forget the shared state (tests, or after changing the site's limits)."""
        self.redis.delete(self.key)


def limiter_for(
    site: str, redis_client: Any | None = None, **options: Any
) -> AdaptiveRateLimiter | RedisRateLimiter:
    """The limiter for one Jira site: Redis-shared when a Redis client is given."""
    if redis_client is not None:
        return RedisRateLimiter(redis_client, site, **options)
    return AdaptiveRateLimiter(**options)
