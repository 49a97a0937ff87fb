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

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from engine.errors import AuthError, ForeignOrigin, PermanentError
from engine.jira_routes import JiraRoute
from engine.netpolicy import AddressPolicy, OriginCredential, guard_session
from engine.ratelimit import RateLimiter, StopCheck, raise_if_stopped, sleep_unless_stopped
from engine.retry import (
    IDEMPOTENT_METHODS,
    RETRY_AFTER_STATUSES,
    UNKNOWN_OUTCOME_STATUSES,
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
    parse_reset,
    parse_retry_after,
    read_signal,
    server_wait,
)
from engine.schedule import ScopedLimiter

log = logging.getLogger(__name__)

__all__ = [  # the retry types are part of this module's interface too
    "IDEMPOTENT_METHODS",
    "RETRY_AFTER_STATUSES",
    "UNKNOWN_OUTCOME_STATUSES",
    "Answer",
    "BodyFactory",
    "Call",
    "Decision",
    "Done",
    "Failure",
    "OutcomeUnknown",
    "Raise",
    "RetriesExhausted",
    "Retry",
    "RetryPolicy",
    "Transport",
    "decide",
    "error_details",
    "error_message",
    "jira_error_collection",
    "make_session",
    "parse_reset",
    "parse_retry_after",
    "raise_for_client_error",
    "server_wait",
]


# --------------------------------------------------------------------------- errors
def error_message(response: requests.Response) -> str:
    """A readable reason from an error body (Jira errorMessages+errors, ADO message)."""
    return error_details(response)[0]


def error_details(response: requests.Response) -> tuple[str, Any]:
    """The readable reason and the decoded body (text when not JSON) of an error answer."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:500] or response.reason or f"HTTP {response.status_code}", response.text
    return _message_from_body(body) or response.reason or f"HTTP {response.status_code}", body


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


def raise_for_client_error(response: requests.Response, what: str) -> None:
    """Raise Auth/PermanentError for a 4xx (not 429)."""
    status = response.status_code
    reason, body = error_details(response)
    message = f"{what}: HTTP {status}: {reason}"
    if status in (401, 403):
        raise AuthError(message, status=status, body=body)
    raise PermanentError(message, status=status, body=body)


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


def _origin_key(url: str) -> str:
    """``scheme://authority`` of a prepared URL (requests always gives it a path)."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("/", 1)[0]


class Transport:
    """Sends requests on one session through the retry policy and an optional limiter.

    Thread-safe: one transport is shared by the worker's threads. A server-asked
    pause (429 / 503 / a delayed 200) holds back every thread's next request.
    ``credential`` binds the transport to one origin; ``stop_check`` makes waits
    and not-yet-sent attempts give way to a stop (both described in the module doc).

    The environment's proxy and CA bundle settings (``trust_env``) are read once
    per origin and kept for the transport's life: requests would read them on
    every request, which was the largest share of the client's CPU per call.
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        timeout: float | tuple[float, float] = 30.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | ScopedLimiter | None = None,
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
        self._environment: dict[str, dict[str, Any]] = {}
        self.requests_sent = 0  # attempts, for tests and benchmarks
        self._scoped_check: tuple[object, bool] | None = None

    def _scoped(self, limiter: object) -> bool:
        """Whether the limiter schedules by scope (the check is cached: it is not cheap)."""
        known = self._scoped_check
        if known is None or known[0] is not limiter:
            known = self._scoped_check = (limiter, isinstance(limiter, ScopedLimiter))
        return known[1]

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
        writes_to: Sequence[str] = (),
    ) -> requests.Response:
        """Send until a final answer; return the response when its status is in ``ok``.

        ``idempotent`` defaults from the method (POST is not). Mark read-only POSTs
        (WIQL, workitemsbatch, search/jql) and upserts ``idempotent=True``.
        ``body_factory`` builds a fresh body per attempt (streams cannot be re-sent).
        ``ok`` defaults to every 2xx; a status outside ``ok`` but below 400 is a
        PermanentError (e.g. ADO's 203 sign-in page is handled by the caller).
        Raises ForeignOrigin (off the credential's origin), BlockedAddress (the
        connect-time guard) and StopRequested (a stop before sending), none retried.
        What each answer leads to is :func:`decide`'s; this loop carries it out.
        ``writes_to`` names the issues a write's body writes to that its path does
        not (an issue link's ends), for a scheduler that spaces writes per issue.
        """
        method = method.upper()
        call = Call(
            method=method,
            url=url,
            label=what or f"{method} {url}",
            idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            ok=frozenset(ok) if ok is not None else None,
        )
        self._refuse_foreign(url, call.label)
        limiter = self.limiter
        scope = None
        if self._scoped(limiter):
            scope = cast(ScopedLimiter, limiter).scope_for(method, url, writes_to)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            raise_if_stopped(self.stop_check, call.label)
            self._wait_turn(call.label)
            body = body_factory() if body_factory is not None else data
            response, outcome = self._attempt(
                call,
                params=params,
                json_body=json_body,
                body=body,
                headers=headers,
                stream=stream,
                scope=scope,
            )
            decision = decide(outcome, call, attempt=attempt, waited=waited, policy=self.retry)
            if decision.hold > 0 and isinstance(outcome, Answer):
                self._hold_until(outcome.received_at + decision.hold)
            if isinstance(decision, Done) and response is not None:
                return response
            if response is not None:
                response.close()
            if isinstance(decision, Raise):
                if decision.cause is not None:
                    raise decision.error from decision.cause
                raise decision.error
            assert isinstance(decision, Retry)
            log.info(
                "%s: retry %d in %.2fs (%s)", self.name, attempt, decision.wait, decision.reason
            )
            if decision.wait > 0:
                # The previous attempt got a final "not done" or a retryable failure:
                # stopping during this wait abandons nothing that was carried out.
                self._pause(decision.wait, call.label)
            waited += decision.wait

    def _attempt(
        self,
        call: Call,
        *,
        params: Any,
        json_body: Any,
        body: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
        scope: JiraRoute | None = None,
    ) -> tuple[requests.Response | None, Answer | Failure]:
        """Send once and describe what came back for :func:`decide`."""
        response, failure = self._send_once(
            call.method,
            call.url,
            params=params,
            json_body=json_body,
            body=body,
            headers=headers,
            stream=stream,
            label=call.label,
            scope=scope,
        )
        if response is None:
            assert failure is not None
            return None, Failure(failure, sent_nothing=_sent_nothing(failure))
        status = response.status_code
        message, error_body = error_details(response) if status >= 400 else ("", None)
        answer = Answer(status, response.headers, self.retry.clock(), message, error_body)
        return response, answer

    def _send_settings(self, url: str, stream: bool) -> dict[str, Any]:
        """``Session.send`` keywords: the environment's settings for the URL's origin."""
        key = _origin_key(url)
        settings = self._environment.get(key)
        if settings is None:
            read = self.session.merge_environment_settings(key + "/", {}, False, None, None)
            settings = self._environment[key] = dict(read)
        return {**settings, "stream": stream}

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
        scope: JiraRoute | None = None,
    ) -> tuple[requests.Response | None, requests.exceptions.RequestException | None]:
        """One attempt through the limiter: the response, or the network failure.

        A scheduler (``scope`` set) is told each answer's rate-limit signal; a plain
        limiter hears success or throttle.
        """
        limiter = self.limiter
        stop = self.stop_check
        if scope is not None:
            limiter = cast(ScopedLimiter, limiter)
            limiter.acquire_scope(scope, should_stop=stop)
            try:
                raise_if_stopped(stop, label)
                response, failure = self._send_prepared(
                    method, url, params, json_body, body, headers, stream
                )
                if response is not None:
                    now = self.retry.clock()
                    signal = read_signal(response.status_code, response.headers, now)
                    limiter.feedback(scope, signal)
                return response, failure
            finally:
                limiter.release_scope(scope)
        plain = cast(RateLimiter | None, limiter)
        if plain is not None:
            # Without a stop check, limiters that predate ``should_stop`` still work.
            if stop is None:
                plain.acquire()
            else:
                plain.acquire(should_stop=stop)
        try:
            # The limiter may have held this attempt a while: a stop asked for
            # meanwhile wins, as nothing has been sent yet.
            raise_if_stopped(stop, label)
            response, failure = self._send_prepared(
                method, url, params, json_body, body, headers, stream
            )
            if plain is not None and response is not None:
                if response.status_code == 429:
                    plain.on_throttle(server_wait(response.headers, self.retry.clock()))
                elif response.status_code < 500:
                    plain.on_success()
            return response, failure
        finally:
            if plain is not None:
                plain.release()

    def _send_prepared(
        self,
        method: str,
        url: str,
        params: Any,
        json_body: Any,
        body: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
    ) -> tuple[requests.Response | None, requests.exceptions.RequestException | None]:
        """Prepare and send one attempt (the limiter has let it through)."""
        with self._lock:
            self.requests_sent += 1
        try:
            # What Session.request does, with the environment read once per origin.
            prepared = self.session.prepare_request(
                requests.Request(
                    method=method,
                    url=url,
                    headers=dict(headers) if headers else None,
                    data=body or {},
                    json=json_body,
                    params=params or {},
                    # Per request, and only on the bound origin (see OriginCredential).
                    auth=self.credential,
                )
            )
            response = self.session.send(
                prepared,
                timeout=self.timeout,
                # Never followed: a redirect could lead the request (and, before
                # the credential was bound to an origin, the token) elsewhere.
                allow_redirects=False,
                **self._send_settings(prepared.url or url, stream),
            )
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            return None, exc
        return response, None

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
