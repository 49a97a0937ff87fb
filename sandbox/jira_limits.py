"""Jira Cloud's rate limits as its rate-limiting page describes them (api-notes B.13).

Three independent limits, each 429 naming its scope in ``RateLimit-Reason``:

- ``jira-burst-based``: one token bucket per HTTP method and endpoint (route
  template) for the whole site. Defaults from the page: GET and POST 100 per
  second, PUT and DELETE 50; ``route_rates`` sets one endpoint's own rate
  (``"POST /rest/api/3/issue/bulk": 10``). A bucket holds one second's worth.
- ``jira-per-issue-on-write``: writes (POST, PUT, DELETE) to one issue, counted in
  sliding windows (20 per 2 s and 100 per 30 s by default). A write names its
  issue by ``{issueIdOrKey}`` in the route, or both ends in an issue link's body;
  the issue's id and key count as one issue. Other issues go on.
- ``jira-quota-tenant-based``: an hourly request quota for the site (apps only on
  the real service, API-token traffic is exempt: off unless ``hourly_quota`` is set).

A refused request is not applied and does not count in any window. Refusals carry
``Retry-After`` (whole seconds, rounded up), ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``; any answer given while the
endpoint's bucket is below ``near_fraction`` of its size carries
``X-RateLimit-NearLimit: true``. The model is off until enabled
(``PATCH /_sandbox/jira/limits``, or ``jira_limits`` when the app is built); the
knobs' single global bucket (``rate_limit_per_sec``) stays as the other option.

:class:`EndpointUsage` tallies the answers per endpoint and status, and the 429s
per ``RateLimit-Reason`` and endpoint, whichever limit refused them (the model or
the knobs' global bucket), for ``GET /_sandbox/jira/limits/usage``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

BURST = "jira-burst-based"
PER_ISSUE = "jira-per-issue-on-write"
QUOTA = "jira-quota-tenant-based"
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
DEFAULT_RATES = {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0}
DEFAULT_WINDOWS = ((20, 2.0), (100, 30.0))


@dataclass
class LimitSettings:
    """What ``GET/PATCH /_sandbox/jira/limits`` shows and changes."""

    enabled: bool = False
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    route_rates: dict[str, float] = field(default_factory=dict)  # "METHOD /pattern" -> rate
    issue_windows: list[tuple[int, float]] = field(default_factory=lambda: list(DEFAULT_WINDOWS))
    hourly_quota: int = 0  # requests per hour for the site; 0 = no quota
    near_fraction: float = 0.2

    def update(self, changes: Mapping[str, Any]) -> list[str]:
        """Apply known keys (validated); return the unknown ones (nothing applied then)."""
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            return unknown
        new = LimitSettings(**{**asdict(self), **changes})
        new.validate()
        self.__dict__.update(new.__dict__)
        return []

    def validate(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError("enabled must be true or false")
        for name, table in (("rates", self.rates), ("route_rates", self.route_rates)):
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and _positive(v) for k, v in table.items()
            ):
                raise ValueError(f"{name} must map names to rates above 0")
        windows = [tuple(w) for w in self.issue_windows]
        if not all(len(w) == 2 and _count(w[0]) and _positive(w[1]) for w in windows):
            raise ValueError("issue_windows must be [count, seconds] pairs")
        self.issue_windows = [(int(n), float(s)) for n, s in windows]
        if not _count(self.hourly_quota, zero=True):
            raise ValueError("hourly_quota must be a whole number, 0 for none")
        if not 0 <= float(self.near_fraction) < 1:
            raise ValueError("near_fraction must be at least 0 and below 1")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _count(value: Any, *, zero: bool = False) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= (0 if zero else 1)


@dataclass(frozen=True)
class Verdict:
    """The model's answer for one request: refused with ``reason``, or let through."""

    reason: str | None = None
    retry_after: float = 0.0
    limit: int = 0
    remaining: int = 0
    near: bool = False

    def headers(self) -> dict[str, str]:
        """The rate-limit headers of a refusal (``Retry-After`` never early)."""
        retry = max(1, math.ceil(self.retry_after))
        reset = time.gmtime(time.time() + retry + 59)  # minute precision, rounded up
        return {
            "Retry-After": str(retry),
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-NearLimit": "true",
            "X-RateLimit-Reset": time.strftime("%Y-%m-%dT%H:%MZ", reset),
            "RateLimit-Reason": str(self.reason),
        }


class _Bucket:
    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, now

    def take(self, rate: float, now: float) -> tuple[bool, float]:
        """Take a token; (taken, seconds until one is there when not)."""
        if rate != self.rate:
            self.rate, self.tokens = rate, min(self.tokens, rate)
        self.tokens = min(rate, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, 0.0
        return False, (1 - self.tokens) / rate


class JiraLimits:
    """The three limits of one site; thread-safe (the sandbox serves on many threads)."""

    def __init__(
        self, settings: LimitSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or LimitSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._writes: dict[str, list[deque[float]]] = {}
        self._hour: tuple[int, int] = (-1, 0)  # (hour number, requests in it)

    def reset(self, settings: LimitSettings | None = None) -> None:
        """Full buckets and empty windows; with ``settings``, those settings again."""
        with self._lock:
            if settings is not None:
                self.settings.__dict__.update(asdict(settings))
            self._buckets.clear()
            self._writes.clear()
            self._hour = (-1, 0)

    def check(self, method: str, route: str, issues: Iterable[str] = ()) -> Verdict:
        """Count one request to ``route``; ``issues`` are the issues it writes."""
        settings = self.settings
        if not settings.enabled:
            return Verdict()
        endpoint = f"{method} {route}"
        rate = settings.route_rates.get(endpoint) or settings.rates.get(method) or 100.0
        with self._lock:
            now = self._clock()
            quota = self._quota(now)
            if quota is not None:
                return quota
            bucket = self._buckets.setdefault(endpoint, _Bucket(rate, now))
            taken, wait = bucket.take(rate, now)
            if not taken:
                return Verdict(BURST, wait, int(rate), 0)
            near = bucket.tokens < settings.near_fraction * rate
            if method in WRITE_METHODS:
                refusal = self._issue_writes(sorted(set(issues)), now)
                if refusal is not None:
                    bucket.tokens += 1  # refused before it reached the endpoint's work
                    return refusal
            self._count_hour(now)
            return Verdict(near=near)

    def _issue_writes(self, issues: list[str], now: float) -> Verdict | None:
        windows = self.settings.issue_windows
        for issue in issues:
            seen = self._writes.setdefault(issue, [deque() for _ in windows])
            for (limit, seconds), stamps in zip(windows, seen, strict=False):
                while stamps and stamps[0] <= now - seconds:
                    stamps.popleft()
                if len(stamps) >= limit:
                    return Verdict(PER_ISSUE, stamps[0] + seconds - now, limit, 0)
        for issue in issues:
            for stamps in self._writes[issue]:
                stamps.append(now)
        return None

    def _quota(self, now: float) -> Verdict | None:
        quota = self.settings.hourly_quota
        if not quota:
            return None
        hour, used = self._hour
        if int(now // 3600) == hour and used >= quota:
            return Verdict(QUOTA, (hour + 1) * 3600 - now, quota, 0)
        return None

    def _count_hour(self, now: float) -> None:
        hour, used = self._hour
        current = int(now // 3600)
        self._hour = (current, used + 1 if current == hour else 1)


class EndpointUsage:
    """Answers per endpoint ("METHOD /pattern") and status; 429s per reason and endpoint.

    A benchmark reads it to divide each endpoint's admitted calls (answered other
    than 429: they took the endpoint's token) by the endpoint's rate. Answers the
    lost-answer knobs drop on the way are not seen here (they never reach the app's
    answer hook). Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: Counter[tuple[str, int]] = Counter()
        self._refused: Counter[tuple[str, str]] = Counter()

    def note(self, method: str, route: str, status: int, reason: str | None = None) -> None:
        endpoint = f"{method} {route}"
        with self._lock:
            self._answers[(endpoint, status)] += 1
            if status == 429:
                self._refused[(reason or "unnamed", endpoint)] += 1

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{"answers": {endpoint: {status: n}}, "refused": {reason: {endpoint: n}}}``."""
        answers: dict[str, dict[str, int]] = {}
        refused: dict[str, dict[str, int]] = {}
        with self._lock:
            for (endpoint, status), n in sorted(self._answers.items()):
                answers.setdefault(endpoint, {})[str(status)] = n
            for (reason, endpoint), n in sorted(self._refused.items()):
                refused.setdefault(reason, {})[endpoint] = n
        return {"answers": answers, "refused": refused}

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._refused.clear()
