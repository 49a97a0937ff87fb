"""The Jira scheduler: a limiter per endpoint and spacing per issue (api-notes B.13).

Jira limits bursts per HTTP method and endpoint (route template), and writes per
issue (20 per 2 s and 100 per 30 s by default); a 429's ``RateLimit-Reason`` says
which. The scheduler mirrors that on the client, so that one busy endpoint or one
busy issue slows only itself:

- **endpoints**: one AIMD token bucket per ``"METHOD /template"``
  (:func:`engine.jira_routes.route_of`), starting at and capped by Jira's
  documented rates (GET and POST 100/s, PUT and DELETE 50/s; ``route_rates`` sets
  one endpoint's own). A success creeps the rate up; an answer flagged
  ``X-RateLimit-NearLimit`` cuts it a little; a burst 429 cuts it by ``decrease``
  and pauses that endpoint for its ``Retry-After``.
- **issues**: sliding windows of the writes sent to each issue (Jira's defaults,
  ``issue_margin`` longer each, as the server counts arrivals, not departures): a
  write to an issue whose window is full waits; writes to other issues go on. A
  per-issue 429 pauses the issues the request wrote to for its ``Retry-After``.
- **everything**: a quota 429 (or a 429 naming no reason) pauses every endpoint
  until its ``Retry-After`` / ``X-RateLimit-Reset``.

A pause is capped at ``max_pause``: a longer wait is the retry layer's to report
(``RetriesExhausted.retry_after``), as for :class:`engine.ratelimit.AdaptiveRateLimiter`.

Order of one acquire, chosen so that a waiting thread holds nothing others need:
wait until the request's issues could take a write (a look, nothing reserved),
reserve the endpoint's token and sleep until it is due, take an in-flight slot,
then claim the issues' windows at that instant. A claim lost to another thread
(that issue got a write meanwhile) gives the slot and the token back and starts
over; the stamps are the moments of sending, never of an earlier reservation. No
lock is held while sleeping; the in-memory state has one lock per endpoint and one
short-held lock for the issues.

:class:`MemoryScheduler` keeps the state in the process; ``engine.schedule_redis``
shares it through Redis between workers. Both bound the requests in flight per
process (a crashed worker must not leak shared slots).

The scheduler also answers the unscoped :class:`engine.ratelimit.RateLimiter`
calls (one endpoint named ``"* *"``), so it can stand wherever a limiter does.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.jira_routes import JiraRoute, route_of
from engine.ratelimit import StopCheck, _Slots, raise_if_stopped, sleep_unless_stopped
from engine.retry import BURST, PER_ISSUE, QUOTA_REASONS, RateSignal

DEFAULT_RATES: Mapping[str, float] = {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0}
DEFAULT_WINDOWS: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
UNSCOPED = JiraRoute("*", "*")


@dataclass(frozen=True)
class SchedulerSettings:
    """The scheduler's knobs; the defaults are Jira's documented limits.

    ``rates`` are per-method ceilings, ``route_rates`` one endpoint's own ceiling
    (``{"POST /rest/api/3/issue/bulk": 10}``); each endpoint starts at
    ``initial_fraction`` of its ceiling. On each success the rate grows by
    ``increase_fraction`` of the ceiling; a burst 429 multiplies it by ``decrease``
    (at most once per ``decrease_cooldown`` seconds, so one burst of 429s counts
    once), and a near-limit answer by ``near_decrease`` (at most once per
    ``near_cooldown``: answers keep saying so until the cut has had its effect) and
    spends the bucket, so no burst follows a warning. The bucket holds
    ``burst_seconds`` of the current rate (at least one request).
    """

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    route_rates: Mapping[str, float] = field(default_factory=dict)
    initial_fraction: float = 1.0
    min_rate: float = 0.5
    increase_fraction: float = 0.005
    decrease: float = 0.5
    near_decrease: float = 0.7
    near_cooldown: float = 0.2
    decrease_cooldown: float = 1.0
    burst_seconds: float = 0.2
    issue_windows: tuple[tuple[int, float], ...] = DEFAULT_WINDOWS
    issue_margin: float = 0.05
    max_in_flight: int = 12
    max_pause: float = 60.0

    def __post_init__(self) -> None:
        ceilings = [*self.rates.values(), *self.route_rates.values()]
        if not all(rate > 0 for rate in ceilings):
            raise ValueError("every rate must be above 0")
        if not 0 < self.initial_fraction <= 1:
            raise ValueError("initial_fraction must be above 0 and at most 1")
        if not (0 < self.decrease < 1 and 0 < self.near_decrease <= 1):
            raise ValueError("decrease and near_decrease must be factors between 0 and 1")
        if not all(n >= 1 and seconds > 0 for n, seconds in self.issue_windows):
            raise ValueError("issue_windows must be (count >= 1, seconds > 0) pairs")
        if self.max_in_flight < 1 or self.min_rate <= 0 or self.burst_seconds <= 0:
            raise ValueError("max_in_flight, min_rate and burst_seconds must be above 0")

    def ceiling(self, scope: JiraRoute) -> float:
        own = self.route_rates.get(scope.endpoint)
        if own is not None:
            return float(own)
        return float(self.rates.get(scope.method) or max(self.rates.values(), default=100.0))

    @property
    def windows(self) -> tuple[tuple[int, float], ...]:
        """The issue windows as the client keeps them (``issue_margin`` longer)."""
        return tuple((n, seconds + self.issue_margin) for n, seconds in self.issue_windows)


@runtime_checkable
class ScopedLimiter(Protocol):
    """What :class:`engine.http.Transport` asks of a scheduler for each attempt."""

    def scope_for(self, method: str, url: str, writes_to: Sequence[str] = ()) -> JiraRoute:
        """The scope of a request: its endpoint and the issues it writes."""

    def acquire_scope(self, scope: JiraRoute, should_stop: StopCheck | None = None) -> None:
        """Block until the request may be sent (raises StopRequested, holding nothing)."""

    def release_scope(self, scope: JiraRoute) -> None:
        """The request started by the matching ``acquire_scope`` has finished."""

    def feedback(self, scope: JiraRoute, signal: RateSignal) -> None:
        """What the answer said about the limits (not called for network failures)."""


class Scheduler:
    """The acquire loop and the feedback rules; the state lives in a subclass.

    A subclass supplies five atomic steps on its state: :meth:`_issue_wait`,
    :meth:`_claim`, :meth:`_take`, :meth:`_refund` and the feedback writers
    :meth:`_adapt`, :meth:`_pause_issues`, :meth:`_pause_all`.
    """

    def __init__(
        self, settings: SchedulerSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._slots = _Slots(settings.max_in_flight)
        self._count_lock = threading.Lock()
        self.throttles: dict[str, int] = {}  # 429s seen, by reason ("none" when unnamed)

    # ------------------------------------------------------------------ the protocol
    def scope_for(self, method: str, url: str, writes_to: Sequence[str] = ()) -> JiraRoute:
        return route_of(method, url, writes_to)

    def acquire_scope(self, scope: JiraRoute, should_stop: StopCheck | None = None) -> None:
        raise_if_stopped(should_stop, "scheduler")
        while True:
            if scope.issues:
                self._wait(self._issue_wait(scope.issues), should_stop)
            wait, reserved = self._take(scope)
            self._wait(wait, should_stop)
            if not reserved:
                continue
            self._slots.take(should_stop)
            if not scope.issues:
                return
            try:
                claimed = self._claim(scope.issues)
            except BaseException:
                self._slots.give()
                raise
            if claimed:
                return
            # Another thread wrote to one of these issues meanwhile: start over.
            self._slots.give()
            self._refund(scope)

    def release_scope(self, scope: JiraRoute) -> None:
        self._slots.give()

    def feedback(self, scope: JiraRoute, signal: RateSignal) -> None:
        if signal.status >= 500:
            return
        if not signal.throttled:
            self._adapt(scope, "near" if signal.near else "success", 0.0)
            return
        with self._count_lock:
            key = signal.reason or "none"
            self.throttles[key] = self.throttles.get(key, 0) + 1
        pause = min(max(signal.wait or 0.0, 0.0), self.settings.max_pause)
        if signal.reason == PER_ISSUE and scope.issues:
            self._pause_issues(scope.issues, pause)
        elif signal.reason == PER_ISSUE:
            self._adapt(scope, "pause", pause)
        elif signal.reason == BURST:
            self._adapt(scope, "throttle", pause)
        elif signal.reason in QUOTA_REASONS:
            self._pause_all(pause)
        else:
            # A 429 that names no scope: slow its endpoint and hold everything.
            self._adapt(scope, "throttle", 0.0)
            self._pause_all(pause)

    # ------------------------------------------------------------------ RateLimiter
    def acquire(self, should_stop: StopCheck | None = None) -> None:
        self.acquire_scope(UNSCOPED, should_stop)

    def release(self) -> None:
        self.release_scope(UNSCOPED)

    def on_success(self) -> None:
        self.feedback(UNSCOPED, RateSignal(200))

    def on_throttle(self, retry_after: float | None = None) -> None:
        self.feedback(UNSCOPED, RateSignal(429, None, retry_after))

    @property
    def rate(self) -> float:
        """The slowest endpoint's rate (its ceiling when none has been used)."""
        rates = self.rates()
        return min(rates.values()) if rates else self.settings.ceiling(UNSCOPED)

    @property
    def max_in_flight(self) -> int:
        return self._slots.max_in_flight

    @property
    def in_flight(self) -> int:
        return self._slots.in_flight

    @property
    def peak_in_flight(self) -> int:
        return self._slots.peak_in_flight

    def _wait(self, seconds: float, should_stop: StopCheck | None) -> None:
        if seconds > 0:
            sleep_unless_stopped(
                seconds, sleep=self._sleep, should_stop=should_stop, what="scheduler"
            )

    # ------------------------------------------------------------------ state (subclass)
    def rates(self) -> dict[str, float]:
        """The current rate of every endpoint used so far."""
        raise NotImplementedError

    def _issue_wait(self, issues: tuple[str, ...]) -> float:
        """Seconds until every one of ``issues`` could take a write (reserves nothing)."""
        raise NotImplementedError

    def _claim(self, issues: tuple[str, ...]) -> bool:
        """Count a write to ``issues`` now when all their windows allow it (atomic)."""
        raise NotImplementedError

    def _take(self, scope: JiraRoute) -> tuple[float, bool]:
        """Reserve the endpoint's next token: ``(wait, True)``; while paused ``(wait, False)``."""
        raise NotImplementedError

    def _refund(self, scope: JiraRoute) -> None:
        """Give back a token taken by a request that was not sent."""
        raise NotImplementedError

    def _adapt(self, scope: JiraRoute, op: str, pause: float) -> None:
        """``success``, ``near``, ``throttle`` (cut and pause) or ``pause`` the endpoint."""
        raise NotImplementedError

    def _pause_issues(self, issues: tuple[str, ...], pause: float) -> None:
        raise NotImplementedError

    def _pause_all(self, pause: float) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------- in memory
class _Endpoint:
    """One endpoint's AIMD bucket; its own lock, so endpoints never wait on each other."""

    def __init__(self, ceiling: float, settings: SchedulerSettings, now: float) -> None:
        self.lock = threading.Lock()
        self.ceiling = ceiling
        self.rate = max(settings.min_rate, ceiling * settings.initial_fraction)
        self.tokens = self.burst(settings)
        self.stamp = now
        self.paused_until = 0.0
        self.last_decrease = float("-inf")
        self.last_near = float("-inf")

    def burst(self, settings: SchedulerSettings) -> float:
        return max(1.0, self.rate * settings.burst_seconds)

    def fill(self, settings: SchedulerSettings, now: float) -> None:
        self.tokens = min(self.burst(settings), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def cut(self, factor: float, settings: SchedulerSettings, now: float) -> None:
        if now - self.last_decrease >= settings.decrease_cooldown:
            self.rate = max(settings.min_rate, self.rate * factor)
            self.last_decrease = now


@dataclass
class _Issue:
    stamps: deque[float] = field(default_factory=deque)  # writes sent, oldest first
    paused_until: float = 0.0


class MemoryScheduler(Scheduler):
    """The scheduler for one process (the embedded mode, tests, the benchmark)."""

    def __init__(
        self,
        settings: SchedulerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings or SchedulerSettings(), sleep=sleep)
        self._clock = clock
        self._endpoints: dict[str, _Endpoint] = {}
        self._endpoints_lock = threading.Lock()
        self._issues: dict[str, _Issue] = {}
        self._issues_lock = threading.Lock()
        self._paused_until = 0.0
        self._longest = max((s for _, s in self.settings.windows), default=0.0)
        self._keep = max((n for n, _ in self.settings.windows), default=0)
        self._sweep_at = clock()

    def _endpoint(self, scope: JiraRoute) -> _Endpoint:
        found = self._endpoints.get(scope.endpoint)
        if found is not None:
            return found
        with self._endpoints_lock:
            fresh = _Endpoint(self.settings.ceiling(scope), self.settings, self._clock())
            return self._endpoints.setdefault(scope.endpoint, fresh)

    def rates(self) -> dict[str, float]:
        return {name: ep.rate for name, ep in list(self._endpoints.items())}

    # ------------------------------------------------------------------ endpoints
    def _take(self, scope: JiraRoute) -> tuple[float, bool]:
        ep = self._endpoint(scope)
        with ep.lock:
            now = self._clock()
            paused = max(self._paused_until, ep.paused_until)
            if now < paused:
                return paused - now, False
            ep.fill(self.settings, now)
            ep.tokens -= 1.0
            return max(0.0, -ep.tokens / ep.rate), True

    def _refund(self, scope: JiraRoute) -> None:
        ep = self._endpoint(scope)
        with ep.lock:
            ep.tokens = min(ep.burst(self.settings), ep.tokens + 1.0)

    def _adapt(self, scope: JiraRoute, op: str, pause: float) -> None:
        settings = self.settings
        ep = self._endpoint(scope)
        with ep.lock:
            now = self._clock()
            ep.fill(settings, now)
            if op == "success":
                ep.rate = min(ep.ceiling, ep.rate + ep.ceiling * settings.increase_fraction)
            elif op == "near":
                ep.tokens = min(ep.tokens, 0.0)
                if now - ep.last_near >= settings.near_cooldown:
                    ep.rate = max(settings.min_rate, ep.rate * settings.near_decrease)
                    ep.last_near = now
            elif op == "throttle":
                ep.cut(settings.decrease, settings, now)
                ep.tokens = min(ep.tokens, 0.0)  # a burst right after a 429 would fail again
            if op in ("throttle", "pause") and pause > 0:
                ep.paused_until = max(ep.paused_until, now + pause)

    def _pause_all(self, pause: float) -> None:
        if pause <= 0:
            return
        with self._endpoints_lock:
            self._paused_until = max(self._paused_until, self._clock() + pause)

    # ------------------------------------------------------------------ issues
    def _issue_wait(self, issues: tuple[str, ...]) -> float:
        with self._issues_lock:
            now = self._clock()
            return max(0.0, max(self._free_at(ref, now) for ref in issues) - now)

    def _claim(self, issues: tuple[str, ...]) -> bool:
        with self._issues_lock:
            now = self._clock()
            if any(self._free_at(ref, now) > now for ref in issues):
                return False
            for ref in issues:
                state = self._issues.setdefault(ref, _Issue())
                state.stamps.append(now)  # the clock is monotonic: oldest first
                while len(state.stamps) > self._keep:
                    state.stamps.popleft()
            self._sweep(now)
            return True

    def _pause_issues(self, issues: tuple[str, ...], pause: float) -> None:
        with self._issues_lock:
            until = self._clock() + pause
            for ref in issues:
                state = self._issues.setdefault(ref, _Issue())
                state.paused_until = max(state.paused_until, until)

    def _free_at(self, ref: str, now: float) -> float:
        """When ``ref`` may take its next write (the caller holds the issues lock)."""
        state = self._issues.get(ref)
        if state is None:
            return now
        free = max(now, state.paused_until)
        stamps = state.stamps
        for count, seconds in self.settings.windows:
            if len(stamps) >= count:
                free = max(free, stamps[-count] + seconds)
        return free

    def _sweep(self, now: float) -> None:
        """Forget issues with nothing in any window (the caller holds the issues lock)."""
        if now - self._sweep_at < self._longest:
            return
        self._sweep_at = now
        idle = [
            ref
            for ref, state in self._issues.items()
            if state.paused_until <= now
            and (not state.stamps or state.stamps[-1] + self._longest <= now)
        ]
        for ref in idle:
            del self._issues[ref]
