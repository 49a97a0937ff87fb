"""The one retry layer both clients use, and the session factory.

:class:`Transport` sends one logical request and decides, per answer, whether to
retry, to wait, or to raise:

- 429 and 503 honour ``Retry-After`` (seconds or HTTP date) and the rate-limit
  headers (``X-RateLimit-Reset`` as ISO 8601 for Jira or Unix epoch for ADO,
  ``X-RateLimit-Delay``). Such answers mean the request was not carried out,
  so they are retried for every method.
- A 2xx that carries ``Retry-After`` (ADO's "delayed" answers) is returned, and
  the *next* request on this transport waits that long.
- Other 5xx, timeouts and dropped connections back off exponentially with full
  jitter, within ``RetryPolicy.max_attempts`` and ``RetryPolicy.max_total_wait``.
- 401/403 raise :class:`~engine.errors.AuthError`; any other 4xx raises
  :class:`~engine.errors.PermanentError` with a message read from the body.

Exactly once: a non-idempotent write (a POST that creates something) is never
re-sent after the request may have reached the server. A read timeout, a
connection dropped after sending, or a 500/502/504 answer raise
:class:`OutcomeUnknown` instead; the caller must look in the target for what may
have been created (e.g. search Jira for the migration marker) before writing again.

Credential binding: a transport built with an :class:`~engine.netpolicy.OriginCredential`
talks to that credential's origin only. A request for any other origin raises
:class:`~engine.errors.ForeignOrigin` before anything is sent, and the credential
is added per request by the auth object (never a session default header), only
when the final URL is on its origin. Redirects are never followed: a 3xx is
reported, its ``Location`` is not visited.

Connect-time guard: ``make_session(policy=AddressPolicy(...))`` mounts
:class:`~engine.netpolicy.GuardedAdapter`, which checks the addresses of every new
connection and connects to the address it checked (no DNS rebinding between the
check and the connect). A refusal raises :class:`~engine.errors.BlockedAddress`,
which is permanent and not retried.

Stop check: ``Transport.stop_check`` (settable at any time) is called before each
attempt, after the limiter lets the attempt through, and every
:data:`~engine.ratelimit.STOP_SLICE` seconds of any wait (backoff, ``Retry-After``,
another thread's hold, the limiter's pacing). When it returns True the transport
raises :class:`~engine.errors.StopRequested`. Never after a request has been
sent: the outcome of a sent request (a created issue, an ``OutcomeUnknown``) is
always reported as it is.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from engine.errors import AuthError, ForeignOrigin, PermanentError, TransientError
from engine.netpolicy import AddressPolicy, OriginCredential, guard_session
from engine.ratelimit import RateLimiter, StopCheck, raise_if_stopped, sleep_unless_stopped

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
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


# --------------------------------------------------------------------------- errors
def error_message(response: requests.Response) -> str:
    """A readable reason from an error body (Jira errorMessages+errors, ADO message)."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:500] or response.reason or f"HTTP {response.status_code}"
    return _message_from_body(body) or response.reason or f"HTTP {response.status_code}"


def _message_from_body(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)[:500] if body else ""
    parts: list[str] = []
    for msg in body.get("errorMessages") or []:
        parts.append(str(msg))
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts.extend(f"{k}: {v}" for k, v in errors.items())
    for key in ("message", "errorMessage"):
        if isinstance(body.get(key), str) and body[key]:
            parts.append(body[key])
    return "; ".join(parts)


def jira_error_collection(body: Any) -> str:
    """Readable text of a Jira ``ErrorCollection`` (bulk create ``elementErrors``)."""
    return _message_from_body(body)


def _body_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def raise_for_client_error(response: requests.Response, what: str) -> None:
    """Raise Auth/PermanentError for a 4xx (not 429)."""
    status = response.status_code
    message = f"{what}: HTTP {status}: {error_message(response)}"
    if status in (401, 403):
        raise AuthError(message, status=status, body=_body_of(response))
    raise PermanentError(message, status=status, body=_body_of(response))


# --------------------------------------------------------------------------- session
def make_session(
    pool_size: int = 10,
    *,
    headers: Mapping[str, str] | None = None,
    policy: AddressPolicy | None = None,
) -> requests.Session:
    """A session with a connection pool sized for ``pool_size`` concurrent requests.

    urllib3's own retries are off: :class:`Transport` is the one retry layer.
    With ``policy`` every new connection passes the connect-time address guard.
    Credentials do not belong in ``headers``: give the transport an OriginCredential.
    """
    session = requests.Session()
    if policy is not None:
        guard_session(session, policy, pool_size)
    else:
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json"})
    if headers:
        session.headers.update(headers)
    return session


def _sent_nothing(exc: requests.exceptions.RequestException) -> bool:
    """True when the connection failed before any byte of the request left."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError | NameResolutionError):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            cur = reason
            continue
        args = getattr(cur, "args", ())
        nxt = next((a for a in args if isinstance(a, BaseException)), None)
        cur = nxt or cur.__cause__ or cur.__context__
    return False


BodyFactory = Callable[[], Any]


class Transport:
    """Sends requests on one session through the retry policy and an optional limiter.

    Thread-safe: one transport is shared by the worker's threads. A server-asked
    pause (429 / 503 / a delayed 200) holds back every thread's next request.
    ``credential`` binds the transport to one origin; ``stop_check`` makes waits
    and not-yet-sent attempts give way to a stop (both described in the module doc).
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        timeout: float | tuple[float, float] = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        name: str = "http",
        credential: OriginCredential | None = None,
        stop_check: StopCheck | None = None,
    ) -> None:
        self.session = session
        if isinstance(timeout, tuple):
            self.timeout = timeout
        else:
            self.timeout = (min(float(timeout), 10.0), float(timeout))
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.name = name
        self.credential = credential
        self.stop_check = stop_check
        self._lock = threading.Lock()
        self._not_before = 0.0
        self.requests_sent = 0  # attempts, for tests and benchmarks

    # ------------------------------------------------------------------ pacing
    def _hold_until(self, when: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, when)

    def _wait_turn(self, label: str) -> None:
        with self._lock:
            wait = self._not_before - self.retry.clock()
        if wait > 0:
            self._pause(wait, label)

    def _pause(self, seconds: float, label: str) -> None:
        """Sleep through the retry policy; in stoppable slices when a stop check is set."""
        sleep_unless_stopped(
            seconds, sleep=self.retry.sleep, should_stop=self.stop_check, what=label
        )

    def _refuse_foreign(self, url: str, label: str) -> None:
        """ForeignOrigin, before anything is sent, for a URL off the credential's origin."""
        credential = self.credential
        if credential is not None and not credential.matches(url):
            raise ForeignOrigin(
                url,
                f"{label}: not sent, the URL is outside {credential.origin} "
                f"(the {self.name} credential goes to that origin only)",
            )

    # ------------------------------------------------------------------ sending
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        body_factory: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        idempotent: bool | None = None,
        ok: Iterable[int] | None = None,
        what: str | None = None,
    ) -> requests.Response:
        """Send until a final answer; return the response when its status is in ``ok``.

        ``idempotent`` defaults from the method (POST is not). Mark read-only POSTs
        (WIQL, workitemsbatch, search/jql) and upserts ``idempotent=True``.
        ``body_factory`` builds a fresh body per attempt (streams cannot be re-sent).
        ``ok`` defaults to every 2xx; a status outside ``ok`` but below 400 is a
        PermanentError (e.g. ADO's 203 sign-in page is handled by the caller).
        Raises ForeignOrigin (off the credential's origin), BlockedAddress (the
        connect-time guard) and StopRequested (a stop before sending), none retried.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        label = what or f"{method} {url}"
        self._refuse_foreign(url, label)
        policy = self.retry
        waited = 0.0
        attempt = 0
        ok_set = frozenset(ok) if ok is not None else None
        while True:
            attempt += 1
            raise_if_stopped(self.stop_check, label)
            self._wait_turn(label)
            body = body_factory() if body_factory is not None else data
            response, failure = self._send_once(
                method,
                url,
                params=params,
                json_body=json_body,
                body=body,
                headers=headers,
                stream=stream,
                label=label,
            )
            if failure is not None and not idempotent and not _sent_nothing(failure):
                raise OutcomeUnknown(
                    f"{label}: {type(failure).__name__} after the request may have been "
                    "sent; the write's outcome is unknown",
                    method=method,
                    url=url,
                ) from failure

            # ---- decide
            if response is None:
                reason = f"{label}: {type(failure).__name__}: {failure}"
                wait = policy.backoff(attempt - 1)
                last_status: int | None = None
            else:
                status = last_status = response.status_code
                now = policy.clock()
                if status < 400:
                    asked = parse_retry_after(response.headers.get("Retry-After"), now)
                    if asked:
                        # ADO delayed this answer and asks us to slow down: the next
                        # request waits (never longer than one request's retry budget).
                        self._hold_until(now + min(asked, policy.max_total_wait))
                    unexpected = status not in ok_set if ok_set is not None else status >= 300
                    if unexpected:
                        response.close()
                        where = response.headers.get("Location")
                        raise PermanentError(
                            f"{label}: unexpected HTTP {status}"
                            + (f" (redirect to {where})" if where else ""),
                            status=status,
                        )
                    return response
                if status != 429 and status < 500:
                    try:
                        raise_for_client_error(response, label)
                    finally:
                        response.close()
                reason = f"{label}: HTTP {status}: {error_message(response)}"
                response.close()
                if not idempotent and status in UNKNOWN_OUTCOME_STATUSES:
                    raise OutcomeUnknown(
                        f"{reason}; the write's outcome is unknown",
                        method=method,
                        url=url,
                        status=status,
                    )
                asked = server_wait(response.headers, now)
                if status in RETRY_AFTER_STATUSES and asked is not None:
                    wait = asked
                elif status == 429:
                    wait = max(policy.default_throttle_wait, policy.backoff(attempt - 1))
                else:
                    wait = policy.backoff(attempt - 1)
                if status in RETRY_AFTER_STATUSES and waited + wait <= policy.max_total_wait:
                    # The whole site is throttled: hold back every thread, not only this one.
                    self._hold_until(now + wait)

            if attempt >= policy.max_attempts:
                raise RetriesExhausted(
                    f"{reason} (gave up after {attempt} attempts)", status=last_status
                )
            if waited + wait > policy.max_total_wait:
                raise RetriesExhausted(
                    f"{reason} (waiting {wait:.1f}s more would exceed the "
                    f"{policy.max_total_wait:.0f}s retry budget)",
                    status=last_status,
                    retry_after=wait,
                )
            log.info("%s: retry %d in %.2fs (%s)", self.name, attempt, wait, reason)
            if wait > 0:
                # The previous attempt got a final "not done" or a retryable failure:
                # stopping during this wait abandons nothing that was carried out.
                self._pause(wait, label)
            waited += wait

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        json_body: Any,
        body: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
        label: str,
    ) -> tuple[requests.Response | None, requests.exceptions.RequestException | None]:
        """One attempt through the limiter: the response, or the network failure."""
        limiter = self.limiter
        stop = self.stop_check
        if limiter is not None:
            # Without a stop check, limiters that predate ``should_stop`` still work.
            if stop is None:
                limiter.acquire()
            else:
                limiter.acquire(should_stop=stop)
        try:
            # The limiter may have held this attempt a while: a stop asked for
            # meanwhile wins, as nothing has been sent yet.
            raise_if_stopped(stop, label)
            with self._lock:
                self.requests_sent += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=body,
                    headers=dict(headers) if headers else None,
                    # Per request, and only on the bound origin (see OriginCredential).
                    auth=self.credential,
                    timeout=self.timeout,
                    stream=stream,
                    # Never followed: a redirect could lead the request (and, before
                    # the credential was bound to an origin, the token) elsewhere.
                    allow_redirects=False,
                )
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                return None, exc
            if limiter is not None:
                if response.status_code == 429:
                    limiter.on_throttle(server_wait(response.headers, self.retry.clock()))
                elif response.status_code < 500:
                    limiter.on_success()
            return response, None
        finally:
            if limiter is not None:
                limiter.release()

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``request`` and decode the JSON answer (``None`` for an empty body)."""
        response = self.request(method, url, **kwargs)
        try:
            if not response.content:
                return None
            return response.json()
        except ValueError as exc:
            what = kwargs.get("what") or f"{method} {url}"
            ctype = response.headers.get("Content-Type", "")
            raise PermanentError(
                f"{what}: expected JSON, got {ctype or 'no content type'}: {response.text[:200]!r}",
                status=response.status_code,
            ) from exc
