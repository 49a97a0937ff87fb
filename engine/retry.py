"""The retry decision: what one attempt's outcome leads to.

:func:`decide` is pure: given how an attempt ended (an :class:`Answer` with its
status and headers, or a network :class:`Failure`), the request (:class:`Call`:
method, whether it is idempotent, which statuses are expected), the attempt
number, the time already waited and the :class:`RetryPolicy`, it returns
:class:`Done`, :class:`Retry` (after how long) or :class:`Raise` (which error).
:class:`engine.http.Transport` sends, asks, and carries the decision out; the
rules themselves are described in :mod:`engine.http`'s docstring.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from engine.errors import AuthError, PermanentError, TransientError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# What a Jira 429 says it is about (``RateLimit-Reason``, api-notes B.13): one
# endpoint and method, one issue's writes, or the hourly quotas (everything).
BURST = "jira-burst-based"
PER_ISSUE = "jira-per-issue-on-write"
QUOTA_REASONS = frozenset({"jira-quota-tenant-based", "jira-quota-global-based"})
# A 429 with one of these reasons slows its own scope only (the scheduler's job),
# so it holds back no other request.
SCOPED_REASONS = frozenset({BURST, PER_ISSUE})
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A gateway or server failure on a write leaves its outcome open.
UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 504})


class OutcomeUnknown(TransientError):
    """A non-idempotent write failed after it may have reached the server.

    Raised instead of a blind retry when a POST times out while waiting for the
    answer, loses its connection after sending, or gets a 500/502/504. The write
    may or may not have happened: look it up in the target (Jira search by the
    migration marker, the issue's comments with their properties, …) and adopt
    what exists before writing again. Never raised for 429/503 answers, which
    mean the write was not done (those are retried), nor for failures to
    connect (nothing was sent; retried too).
    """

    def __init__(self, message: str, *, method: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class RetriesExhausted(TransientError):
    """A transient failure outlived the retry budget (attempts or total wait).

    ``retry_after`` is the server's requested wait when it asked for one longer
    than the remaining budget, so the caller can pause the run instead of failing.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    """How hard to try. ``sleep``/``clock``/``rng`` are injectable for tests.

    ``clock`` is wall-clock seconds (``time.time``): Retry-After dates and
    ``X-RateLimit-Reset`` are absolute times.
    """

    max_attempts: int = 8
    max_total_wait: float = 300.0  # seconds of sleeping, summed over one request
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    default_throttle_wait: float = 5.0  # a 429 that names no wait at all
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    rng: Callable[[], float] = field(default_factory=lambda: random.Random().random)

    def backoff(self, retry_index: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**retry_index)]."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**retry_index))
        return float(self.rng() * ceiling)


# --------------------------------------------------------------------------- headers
def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_reset(value: str | None, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset``: Unix epoch (ADO) or ISO 8601 (Jira)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value) - now)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def server_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a response asks for, most specific header first."""
    wait = parse_retry_after(headers.get("Retry-After"), now)
    if wait is not None:
        return wait
    wait = parse_reset(headers.get("X-RateLimit-Reset"), now)
    if wait is not None:
        return wait
    delay = headers.get("X-RateLimit-Delay")
    if delay:
        try:
            return max(0.0, float(delay))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class RateSignal:
    """What one answer says about the rate limits, for the scheduler.

    ``reason`` is a 429's ``RateLimit-Reason`` (``None`` when it names none);
    ``wait`` the seconds it asks for (``Retry-After``, else ``X-RateLimit-Reset``);
    ``near`` that the endpoint is close to its limit (``X-RateLimit-NearLimit``, or
    ``X-RateLimit-Remaining`` below ``near_fraction`` of ``X-RateLimit-Limit``).
    """

    status: int
    reason: str | None = None
    wait: float | None = None
    near: bool = False
    limit: float | None = None
    remaining: float | None = None

    @property
    def throttled(self) -> bool:
        return self.status == 429


def read_signal(
    status: int, headers: Mapping[str, str], now: float, *, near_fraction: float = 0.2
) -> RateSignal:
    """The rate-limit signal of one answer (pure: headers and ``now`` in, a value out).

    Jira documents ``X-RateLimit-NearLimit``; ``X-RateLimit-Limit`` and
    ``X-RateLimit-Remaining`` on a successful answer are read when present (the page
    names them without saying which answers carry them), and their absence changes
    nothing.
    """
    limit = _number(headers.get("X-RateLimit-Limit"))
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    near = (headers.get("X-RateLimit-NearLimit") or "").strip().lower() == "true"
    if limit and remaining is not None and status != 429:
        near = near or remaining < near_fraction * limit
    reason = (headers.get("RateLimit-Reason") or "").strip().lower() or None
    wait = server_wait(headers, now) if status in RETRY_AFTER_STATUSES else None
    return RateSignal(status, reason if status == 429 else None, wait, near, limit, remaining)


def _number(value: str | None) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


# --------------------------------------------------------------------------- decision
@dataclass(frozen=True)
class Call:
    """The logical request the retry decision is about."""

    method: str
    url: str
    label: str
    idempotent: bool
    ok: frozenset[int] | None = None  # None: every 2xx


@dataclass(frozen=True)
class Answer:
    """An attempt that got a response; ``message`` and ``body`` are read for status >= 400."""

    status: int
    headers: Mapping[str, str]
    received_at: float  # wall-clock seconds (Retry-After dates are absolute)
    message: str = ""
    body: Any = None


@dataclass(frozen=True)
class Failure:
    """An attempt that got no response (timeout, dropped or refused connection)."""

    error: requests.exceptions.RequestException
    sent_nothing: bool  # the connection failed before any byte of the request left


@dataclass(frozen=True)
class Done:
    """Return the response. ``hold``: seconds every thread's next request waits."""

    hold: float = 0.0


@dataclass(frozen=True)
class Retry:
    """Send again after ``wait`` seconds; ``hold`` also holds back every thread.

    ``throttle`` is a 429's ``RateLimit-Reason`` (what it slowed), when it named one.
    """

    wait: float
    reason: str
    hold: float = 0.0
    throttle: str | None = None


@dataclass(frozen=True)
class Raise:
    """Give up with ``error`` (raised ``from cause``); ``hold`` as for :class:`Retry`."""

    error: Exception
    cause: BaseException | None = None
    hold: float = 0.0


Decision = Done | Retry | Raise


def decide(
    outcome: Answer | Failure,
    call: Call,
    *,
    attempt: int,
    waited: float,
    policy: RetryPolicy,
) -> Decision:
    """What to do after attempt number ``attempt`` (1-based), ``waited`` seconds slept so far.

    Pure: reads the outcome, the request and the policy (its ``rng`` draws the
    backoff), never the clock or the network; the sending loop carries it out.
    """
    if isinstance(outcome, Failure):
        if not call.idempotent and not outcome.sent_nothing:
            return Raise(
                OutcomeUnknown(
                    f"{call.label}: {type(outcome.error).__name__} after the request may have "
                    "been sent; the write's outcome is unknown",
                    method=call.method,
                    url=call.url,
                ),
                cause=outcome.error,
            )
        reason = f"{call.label}: {type(outcome.error).__name__}: {outcome.error}"
        return _retry_within_budget(
            reason, policy.backoff(attempt - 1), None, 0.0, attempt, waited, policy
        )
    if outcome.status < 400:
        return _decide_answered(outcome, call, policy)
    return _decide_refused(outcome, call, attempt=attempt, waited=waited, policy=policy)


def _decide_answered(answer: Answer, call: Call, policy: RetryPolicy) -> Decision:
    """A status below 400: done when expected; a delayed answer holds the next request."""
    status = answer.status
    asked = parse_retry_after(answer.headers.get("Retry-After"), answer.received_at)
    # ADO delayed this answer and asks us to slow down: the next request waits
    # (never longer than one request's retry budget).
    hold = min(asked, policy.max_total_wait) if asked else 0.0
    expected = status in call.ok if call.ok is not None else status < 300
    if expected:
        return Done(hold=hold)
    where = answer.headers.get("Location")
    return Raise(
        PermanentError(
            f"{call.label}: unexpected HTTP {status}"
            + (f" (redirect to {where})" if where else ""),
            status=status,
        ),
        hold=hold,
    )


def _decide_refused(
    answer: Answer, call: Call, *, attempt: int, waited: float, policy: RetryPolicy
) -> Decision:
    """A status of 400 or more: a client error raises, the rest is retried within the budget."""
    status = answer.status
    if status != 429 and status < 500:
        message = f"{call.label}: HTTP {status}: {answer.message}"
        error_type = AuthError if status in (401, 403) else PermanentError
        return Raise(error_type(message, status=status, body=answer.body))
    reason = f"{call.label}: HTTP {status}: {answer.message}"
    if not call.idempotent and status in UNKNOWN_OUTCOME_STATUSES:
        return Raise(
            OutcomeUnknown(
                f"{reason}; the write's outcome is unknown",
                method=call.method,
                url=call.url,
                status=status,
            )
        )
    asked = server_wait(answer.headers, answer.received_at)
    if status in RETRY_AFTER_STATUSES and asked is not None:
        wait = asked
    elif status == 429:
        wait = max(policy.default_throttle_wait, policy.backoff(attempt - 1))
    else:
        wait = policy.backoff(attempt - 1)
    # The whole site is throttled: hold back every thread, not only this one. A 429
    # naming one endpoint or one issue slows that scope only (the scheduler does).
    throttle = _throttle_reason(answer)
    site_wide = (
        status in RETRY_AFTER_STATUSES
        and throttle not in SCOPED_REASONS
        and waited + wait <= policy.max_total_wait
    )
    hold = wait if site_wide else 0.0
    decision = _retry_within_budget(reason, wait, status, hold, attempt, waited, policy)
    if throttle is not None and isinstance(decision, Retry):
        return Retry(decision.wait, decision.reason, decision.hold, throttle)
    return decision


def _throttle_reason(answer: Answer) -> str | None:
    if answer.status != 429:
        return None
    return (answer.headers.get("RateLimit-Reason") or "").strip().lower() or None


def _retry_within_budget(
    reason: str,
    wait: float,
    status: int | None,
    hold: float,
    attempt: int,
    waited: float,
    policy: RetryPolicy,
) -> Retry | Raise:
    if attempt >= policy.max_attempts:
        error = RetriesExhausted(f"{reason} (gave up after {attempt} attempts)", status=status)
        return Raise(error, hold=hold)
    if waited + wait > policy.max_total_wait:
        error = RetriesExhausted(
            f"{reason} (waiting {wait:.1f}s more would exceed the "
            f"{policy.max_total_wait:.0f}s retry budget)",
            status=status,
            retry_after=wait,
        )
        return Raise(error, hold=hold)
    return Retry(wait=wait, reason=reason, hold=hold)
