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
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field, fields
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict
from urllib.parse import parse_qs, unquote, urlsplit

CONTROL_PREFIX = "/_sandbox"


class BadRequestBody(ValueError):
    """The request body is not what the route needs (e.g. not JSON)."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body:
            raise BadRequestBody("empty body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestBody(str(exc)) from exc


@dataclass
class Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # needed when ``body`` is an iterable
    # Close the connection without sending a byte (a lost answer); status, body
    # and headers are then ignored.
    drop_connection: bool = False


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(obj, separators=(",", ":")).encode()
    hdrs = {"Content-Type": "application/json; charset=utf-8"}
    hdrs.update(headers or {})
    return Response(status, payload, hdrs)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


def dropped_connection() -> Response:
    """No answer at all: the server closes the connection after reading the request."""
    return Response(0, drop_connection=True)


Handler = Callable[[Request], Response]


# ---------------------------------------------------------------------- knobs
WRITES, ALL = "writes", "all"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
LOST_ANSWER_MODES = ("502", "504", "close", "mixed")
LOST_KINDS = ("502", "504", "close")  # what "mixed" picks from
# Counter keys of injected faults; ``total`` in /_sandbox/counters leaves them out
# so that it keeps counting requests.
FAULT_COUNTER_PREFIXES = ("lost:", "late ", "slow-bulk ")
_SELECTOR = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/\S*)$")


class KnobError(ValueError):
    """A knob value of the wrong type or out of range; ``knob`` names it."""

    def __init__(self, knob: str, problem: str) -> None:
        super().__init__(f"{knob}: {problem}")
        self.knob = knob


class LateWrite(TypedDict):
    count: int  # requests still to hold
    seconds: float  # how long each is held before it is applied


def selects(selector: str, method: str, pattern: str) -> bool:
    """Whether ``selector`` ("writes", "all" or "METHOD /pattern") picks this route."""
    if selector == ALL:
        return True
    if selector == WRITES:
        return method not in READ_ONLY_METHODS
    return selector == f"{method} {pattern}"


_Checker = Callable[[str, Any], Any]


def _number(low: float = 0.0, high: float | None = None) -> _Checker:
    def check(name: str, value: Any) -> float:
        # bool is an int to Python, but ``true`` for a latency is a caller's mistake.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise KnobError(name, f"expected a number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise KnobError(name, f"must be {bound}, got {value!r}")
        return float(value)

    return check


def _whole(low: int | None = None) -> _Checker:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise KnobError(name, f"expected a whole number, got {value!r}")
        if low is not None and value < low:
            raise KnobError(name, f"must be at least {low}, got {value!r}")
        return value

    return check


def _one_of(choices: tuple[str, ...]) -> _Checker:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise KnobError(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def _selector(name: str, value: Any) -> str:
    if not isinstance(value, str) or not (value in (WRITES, ALL) or _SELECTOR.match(value)):
        raise KnobError(
            name,
            f"expected a route selector ('writes', 'all' or "
            f"'METHOD /route/{{pattern}}'), got {value!r}",
        )
    return value


def _selectors(name: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise KnobError(name, f"expected a list of route selectors, got {value!r}")
    return [_selector(f"{name}[{n}]", item) for n, item in enumerate(value)]


def _late_writes(name: str, value: Any) -> dict[str, LateWrite]:
    if not isinstance(value, dict):
        raise KnobError(name, f'expected {{selector: {{"count": N, "seconds": S}}}}, got {value!r}')
    out: dict[str, LateWrite] = {}
    for selector, entry in value.items():
        where = f"{name}[{selector!r}]"
        _selector(where, selector)
        if not isinstance(entry, dict) or set(entry) != {"count", "seconds"}:
            raise KnobError(where, f'expected {{"count": N, "seconds": S}}, got {entry!r}')
        count = _whole(0)(where + ".count", entry["count"])
        seconds = _number(0.0)(where + ".seconds", entry["seconds"])
        if count:  # an exhausted entry is no entry (the GET shows what is left)
            out[selector] = LateWrite(count=count, seconds=seconds)
    return out


_CHECKS: dict[str, _Checker] = {
    "latency_ms": _number(),
    "rate_limit_per_sec": _number(),
    "retry_after_sec": _number(),
    "p429": _number(0.0, 1.0),
    "p5xx": _number(0.0, 1.0),
    "seed": _whole(),
    "lost_answer_p": _number(0.0, 1.0),
    "lost_answer_mode": _one_of(LOST_ANSWER_MODES),
    "fault_routes": _selectors,
    "late_writes": _late_writes,
    "slow_bulk_ms_per_issue": _number(),
}


def check_knob(name: str, value: Any) -> Any:
    """``value`` as knob ``name`` stores it (a fresh copy for lists and dicts), or KnobError."""
    check = _CHECKS.get(name)
    if check is None:
        raise KnobError(name, "no such knob")
    return check(name, value)


@dataclass
class Knobs:
    """Realism and fault settings; change them at any time (``PATCH /_sandbox/knobs``).

    Faults that refuse a request before it is applied: ``latency_ms`` (a delay),
    ``rate_limit_per_sec`` (a token bucket answering 429), ``p429``, ``p5xx``.

    Faults that make a write's outcome unknown to the client (only on routes
    registered with ``faults=True``; control routes never get them):

    * ``lost_answer_p`` (0..1, 0 = off): the handler runs and its effect is
      stored, then the answer is lost. Only a 2xx answer is lost: a refused
      request (4xx from the handler) ran too, but losing its answer would prove
      nothing about exactly-once. ``lost_answer_mode`` picks how: ``"502"`` or
      ``"504"`` (a gateway's HTML page, ``text/html``, not the service's error
      shape; keep-alive), ``"close"`` (the connection is closed without a byte:
      ``RemoteDisconnected`` for requests/urllib3) or ``"mixed"`` (each lost
      answer draws one of the three from the seeded generator).
    * ``fault_routes``: which routes may lose answers; route selectors are
      ``"writes"`` (every method but GET/HEAD, so read-only POSTs such as ADO's
      wiql and workitemsbatch count too), ``"all"``, or ``"METHOD /pattern"``
      exactly as the route was registered
      (``"POST /rest/api/3/issue/{issueIdOrKey}/comment"``).
    * ``late_writes``: ``{selector: {"count": N, "seconds": S}}``; the next N
      matching requests are each held S seconds before the handler runs, and
      it runs even when the client has given up. The first matching entry (in
      insertion order) is used; exhausted entries are dropped. A PATCH replaces
      the whole mapping. A request already held when the knobs are reset is
      still applied at the end of its hold.
    * ``slow_bulk_ms_per_issue``: bulk creates (Jira's ``POST /issue/bulk``;
      the ADO sandbox has none) sleep this long per issue before applying.

    Every injected fault is counted (``/_sandbox/counters``) as
    ``"lost:{502|504|close} METHOD /pattern"``, ``"late METHOD /pattern"`` or
    ``"slow-bulk METHOD /pattern"``. Values are type-checked: see :func:`check_knob`.
    """

    latency_ms: float = 0.0
    rate_limit_per_sec: float = 0.0  # burst limit (token bucket); 0 = none
    retry_after_sec: float = 1.0
    p429: float = 0.0  # probability of a random 429
    p5xx: float = 0.0  # probability of a random 500/503
    seed: int = 0
    lost_answer_p: float = 0.0  # probability that a selected write's 2xx answer is lost
    lost_answer_mode: str = "mixed"  # "502", "504", "close" or "mixed"
    fault_routes: list[str] = field(default_factory=lambda: [WRITES])
    late_writes: dict[str, LateWrite] = field(default_factory=dict)
    slow_bulk_ms_per_issue: float = 0.0

    def __post_init__(self) -> None:
        # Not a dataclass field, so asdict() and the knob GET leave it out. It
        # guards ``late_writes``, which requests decrement from many threads.
        self._lock = threading.Lock()
        for f in fields(self):
            # Copies lists and dicts too, so two services built from the same
            # options never share (and decrement) one late-writes mapping.
            setattr(self, f.name, check_knob(f.name, getattr(self, f.name)))

    def update(self, changes: dict[str, Any], routes: Collection[str] | None = None) -> list[str]:
        """Apply known keys; return the unknown ones.

        Every known value is checked before any is applied, so a refused change
        changes nothing (:class:`KnobError`). With ``routes`` (``"METHOD
        /pattern"`` strings), selectors must also name one of them.
        """
        known = {f.name for f in fields(self)}
        checked = {k: check_knob(k, v) for k, v in changes.items() if k in known}
        if routes is not None:
            _check_routes(checked, routes)
        with self._lock:
            for key, value in checked.items():
                setattr(self, key, value)
        return [k for k in changes if k not in known]

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self)

    def selected(self, method: str, pattern: str) -> bool:
        """Whether ``fault_routes`` lets this route lose answers."""
        return any(selects(s, method, pattern) for s in self.fault_routes)

    def take_late(self, method: str, pattern: str) -> float | None:
        """Seconds to hold this request (and one less to hold), or None."""
        if not self.late_writes:  # the common case, without the lock
            return None
        with self._lock:
            for selector, entry in self.late_writes.items():
                if selects(selector, method, pattern):
                    entry["count"] -= 1
                    if entry["count"] <= 0:
                        del self.late_writes[selector]  # safe: we stop iterating here
                    return entry["seconds"]
        return None


def _check_routes(checked: dict[str, Any], routes: Collection[str]) -> None:
    named = [("fault_routes", s) for s in checked.get("fault_routes", [])]
    named += [("late_writes", s) for s in checked.get("late_writes", {})]
    for knob, selector in named:
        if selector not in (WRITES, ALL) and selector not in routes:
            raise KnobError(
                knob,
                f"{selector!r} is not a route of this sandbox that takes "
                "faults (give METHOD and pattern exactly as registered)",
            )


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client
    # waits for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # A client that gave up (a read timeout during a late write) has closed
        # its socket; answering it fails with EPIPE/ECONNRESET. That is expected,
        # not a sandbox bug, so it ends the connection without a traceback.
        try:
            super().handle()
        except ConnectionError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline().split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        try:
            response = self.server.app.dispatch(request)
        except Exception as exc:  # a sandbox bug must still answer, like a real 500
            response = json_response(500, {"message": f"sandbox error: {exc!r}"})
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.drop_connection:
            # Nothing has been written for this request yet (headers are buffered
            # until end_headers), so the client sees the connection close with no
            # status line at all.
            self.close_connection = True
            return
        self.send_response(response.status)
        body = response.body
        for key, value in response.headers.items():
            self.send_header(key, value)
        if isinstance(body, bytes | bytearray):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if response.content_length is not None:
            self.send_header("Content-Length", str(response.content_length))
            self.end_headers()
            for chunk in body:
                self.wfile.write(chunk)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in body:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Same reason as _Handler.handle: a vanished client is not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serves a :class:`SandboxApp` on loopback from a daemon thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"{app.name}-http",
            daemon=True,
            kwargs={"poll_interval": 0.05},  # so that stop() returns promptly
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        if isinstance(host, bytes):  # typeshed allows bytes for AF_UNIX; never the case here
            host = host.decode()
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
