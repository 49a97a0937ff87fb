"""A small threaded HTTP framework shared by both sandboxes.

One :class:`SandboxApp` holds routes, the realism and fault knobs, and request
counters; :class:`SandboxServer` serves it on loopback from a background thread
(HTTP/1.1 keep-alive, so pooled client sessions behave as against the real
services). Service-specific answers (the shape of a 429, of auth failures) are
hooks that each sandbox overrides.

Besides faults that refuse a request (latency, 429, 5xx), the knobs can make a
write's outcome unknown to the client: the write is applied and its answer lost
(gateway 502/504, or the connection closed without a byte), held before it is
applied (late writes), or slowed in proportion to its size (slow bulk). See
:class:`Knobs`.

This module holds :class:`SandboxApp` (routing, the fault pipeline, the hooks
and the knob and counter routes) and re-exports its neighbours' names:
requests and responses from :mod:`sandbox.http_messages`, the knobs from
:mod:`sandbox.knobs`, the server from :mod:`sandbox.http_server`.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from sandbox.http_messages import (
    BadRequestBody,
    Handler,
    Request,
    Response,
    dropped_connection,
    empty_response,
    json_response,
)
from sandbox.http_server import SandboxServer
from sandbox.knobs import (
    ALL,
    FAULT_COUNTER_PREFIXES,
    LOST_ANSWER_MODES,
    LOST_KINDS,
    READ_ONLY_METHODS,
    WRITES,
    KnobError,
    Knobs,
    LateWrite,
    check_knob,
    selects,
)

__all__ = [
    "ALL",
    "CONTROL_PREFIX",
    "FAULT_COUNTER_PREFIXES",
    "LOST_ANSWER_MODES",
    "LOST_KINDS",
    "READ_ONLY_METHODS",
    "WRITES",
    "BadRequestBody",
    "Handler",
    "KnobError",
    "Knobs",
    "LateWrite",
    "Request",
    "Response",
    "SandboxApp",
    "SandboxServer",
    "TokenBucket",
    "check_knob",
    "dropped_connection",
    "empty_response",
    "json_response",
    "selects",
]

CONTROL_PREFIX = "/_sandbox"


class TokenBucket:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._stamp = time.monotonic()
        self._rate = 0.0

    def take(self, rate: float) -> bool:
        """True when a request may pass at ``rate`` per second (burst = one second's worth)."""
        if rate <= 0:
            return True
        with self._lock:
            now = time.monotonic()
            if rate != self._rate:
                self._rate, self._tokens = rate, rate
            self._tokens = min(rate, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


_PARAM = re.compile(r"\{(\w+)(:path)?\}")


def _param_regex(match: re.Match[str]) -> str:
    """``{name}`` matches one path segment; ``{name:path}`` may span several."""
    return f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})"


@dataclass
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    faults: bool


class SandboxApp:
    """Routes plus knobs. Subclasses register routes and override the hooks."""

    name = "sandbox"
    case_insensitive_paths = False  # Azure DevOps matches URL paths case-insensitively

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self.counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self._routes: list[_Route] = []
        self._bucket = TokenBucket()
        self._rng = random.Random(self.knobs.seed)
        self._rng_lock = threading.Lock()
        self.add_route("GET", CONTROL_PREFIX + "/knobs", self._get_knobs, faults=False)
        self.add_route("PATCH", CONTROL_PREFIX + "/knobs", self._patch_knobs, faults=False)
        self.add_route("GET", CONTROL_PREFIX + "/counters", self._get_counters, faults=False)
        self.add_route(
            "POST", CONTROL_PREFIX + "/counters/reset", self._reset_counters, faults=False
        )

    # ------------------------------------------------------------------ routing
    def add_route(
        self, method: str, pattern: str, handler: Handler, *, faults: bool = True
    ) -> None:
        """Register ``handler`` for ``pattern`` such as ``/{org}/{project}/_apis/wit/wiql``.

        ``faults=False`` exempts a route from latency, rate limits, random faults
        and auth (the control and inspection routes).
        """
        escaped = re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}").replace(r"\:", ":")
        regex = "^" + _PARAM.sub(_param_regex, escaped) + "/?$"
        flags = re.IGNORECASE if self.case_insensitive_paths else 0
        self._routes.append(_Route(method, pattern, re.compile(regex, flags), handler, faults))

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        path_matched = False
        for route in self._routes:
            m = route.regex.match(path)
            if m:
                path_matched = True
                if route.method == method:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, path_matched

    # ------------------------------------------------------------------ hooks
    def authenticate(self, request: Request) -> Response | None:
        """Return a refusal, or None when the caller may go on."""
        return None

    def limited(self, request: Request) -> Response | None:
        """The service's own rate limits: a 429 to send, or None (the Jira sandbox's
        per-endpoint and per-issue model)."""
        return None

    def throttled(self, request: Request, reason: str) -> Response:
        return json_response(
            429,
            {"message": "Too many requests"},
            {"Retry-After": str(int(self.knobs.retry_after_sec))},
        )

    def server_error(self, request: Request, status: int) -> Response:
        return json_response(status, {"message": "Internal server error"})

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"message": "Not found"})

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(405, {"message": "Method not allowed"})

    def bad_body(self, request: Request, exc: BadRequestBody) -> Response:
        return json_response(400, {"message": f"Invalid request body: {exc}"})

    def decorate(self, request: Request, response: Response) -> Response:
        """Add headers every answer of this service carries (e.g. rate-limit headers)."""
        return response

    def bulk_size(self, request: Request) -> int:
        """How many items this request creates in bulk (0: not a bulk create)."""
        return 0

    def gateway_failure(self, request: Request, kind: str) -> Response:
        """A lost answer of ``kind`` "502", "504" or "close".

        The failure is in front of the service, so the body is a gateway's HTML
        page rather than the service's error shape, and ``decorate`` is not
        applied; clients must not need a parseable body to retry.
        """
        if kind == "close":
            return dropped_connection()
        title = "502 Bad Gateway" if kind == "502" else "504 Gateway Time-out"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Response(int(kind), page.encode(), {"Content-Type": "text/html"})

    def faultable_routes(self) -> set[str]:
        """``"METHOD /pattern"`` of every route that takes faults (valid selectors)."""
        return {f"{r.method} {r.pattern}" for r in self._routes if r.faults}

    # ------------------------------------------------------------------ dispatch
    def count(self, key: str) -> None:
        with self._counter_lock:
            self.counters[key] += 1

    def counter_snapshot(self) -> dict[str, int]:
        """A copy of the request and fault counters, taken under their lock."""
        with self._counter_lock:
            return dict(self.counters)

    def clear_counters(self) -> None:
        with self._counter_lock:
            self.counters.clear()

    def _chance(self, p: float) -> bool:
        if p <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < p

    def dispatch(self, request: Request) -> Response:
        route, params, path_matched = self._match(request.method, request.path)
        if route is None:
            self.count(f"{request.method} <unmatched>")
            return self.method_not_allowed(request) if path_matched else self.not_found(request)
        request.params, request.route = params, route.pattern
        if not route.faults:
            return route.handler(request)
        self.count(f"{request.method} {route.pattern}")
        if self.knobs.latency_ms > 0:
            time.sleep(self.knobs.latency_ms / 1000.0)
        if not self._bucket.take(self.knobs.rate_limit_per_sec):
            return self.decorate(request, self.throttled(request, "burst"))
        refused = self.limited(request)
        if refused is not None:
            return self.decorate(request, refused)
        if self._chance(self.knobs.p429):
            return self.decorate(request, self.throttled(request, "random"))
        if self._chance(self.knobs.p5xx):
            status = 503 if self._chance(0.5) else 500
            return self.decorate(request, self.server_error(request, status))
        refusal = self.authenticate(request)
        if refusal is not None:
            return self.decorate(request, refusal)
        return self._apply(route, request)

    def _apply(self, route: _Route, request: Request) -> Response:
        """Run the handler inside the faults that leave the outcome unknown.

        Everything above refused the request before it was applied; from here
        on the write happens: held first (late writes, slow bulk), then applied,
        then perhaps its answer lost.
        """
        self._hold_late(request)
        self._slow_bulk(request)
        try:
            response = route.handler(request)
        except BadRequestBody as exc:
            return self.decorate(request, self.bad_body(request, exc))
        lost = self._lose_answer(request, response)
        return lost if lost is not None else self.decorate(request, response)

    def _hold_late(self, request: Request) -> None:
        seconds = self.knobs.take_late(request.method, request.route)
        if seconds is None:
            return
        # Counted when the hold starts, so a test can tell the request is held.
        self.count(f"late {request.method} {request.route}")
        time.sleep(seconds)

    def _slow_bulk(self, request: Request) -> None:
        per_issue = self.knobs.slow_bulk_ms_per_issue
        size = self.bulk_size(request) if per_issue > 0 else 0
        if size > 0:
            self.count(f"slow-bulk {request.method} {request.route}")
            time.sleep(per_issue * size / 1000.0)

    def _lose_answer(self, request: Request, response: Response) -> Response | None:
        # Checked in this order so the rng is drawn only for candidate answers,
        # which keeps a seeded run's faults independent of unrelated traffic.
        if self.knobs.lost_answer_p <= 0 or not 200 <= response.status < 300:
            return None
        if not self.knobs.selected(request.method, request.route):
            return None
        if not self._chance(self.knobs.lost_answer_p):
            return None
        kind = self.knobs.lost_answer_mode
        if kind == "mixed":
            with self._rng_lock:
                kind = self._rng.choice(LOST_KINDS)
        self.count(f"lost:{kind} {request.method} {request.route}")
        return self.gateway_failure(request, kind)

    # ------------------------------------------------------------------ control routes
    def _get_knobs(self, request: Request) -> Response:
        return json_response(200, self.knobs.as_dict())

    def _patch_knobs(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return json_response(400, {"message": "expected an object"})
        try:
            unknown = self.knobs.update(body, routes=self.faultable_routes())
        except KnobError as exc:
            return json_response(400, {"message": str(exc), "knob": exc.knob})
        if unknown:
            return json_response(400, {"message": f"unknown knobs: {', '.join(unknown)}"})
        if "seed" in body:
            with self._rng_lock:
                self._rng = random.Random(self.knobs.seed)
        return json_response(200, self.knobs.as_dict())

    def _get_counters(self, request: Request) -> Response:
        snapshot = self.counter_snapshot()
        served = sum(n for key, n in snapshot.items() if not key.startswith(FAULT_COUNTER_PREFIXES))
        return json_response(200, {"total": served, "routes": snapshot})

    def _reset_counters(self, request: Request) -> Response:
        self.clear_counters()
        return empty_response(204)
