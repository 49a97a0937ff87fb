"""A small threaded HTTP framework shared by both sandboxes.

One :class:`SandboxApp` holds routes, the realism and fault knobs, and request
counters; :class:`SandboxServer` serves it on loopback from a background thread
(HTTP/1.1 keep-alive, so pooled client sessions behave as against the real
services). Service-specific answers (the shape of a 429, of auth failures) are
hooks that each sandbox overrides.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
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


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(obj, separators=(",", ":")).encode()
    hdrs = {"Content-Type": "application/json; charset=utf-8"}
    hdrs.update(headers or {})
    return Response(status, payload, hdrs)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass
class Knobs:
    """Realism and fault settings; change them at any time (``PATCH /_sandbox/knobs``)."""

    latency_ms: float = 0.0
    rate_limit_per_sec: float = 0.0  # burst limit (token bucket); 0 = none
    retry_after_sec: float = 1.0
    p429: float = 0.0  # probability of a random 429
    p5xx: float = 0.0  # probability of a random 500/503
    seed: int = 0

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply known keys; return the unknown ones."""
        known = {f.name: f.type for f in fields(self)}
        unknown = [k for k in changes if k not in known]
        for key, value in changes.items():
            if key in known:
                setattr(self, key, int(value) if key == "seed" else float(value))
        return unknown


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
        return json_response(429, {"message": "Too many requests"},
                             {"Retry-After": str(int(self.knobs.retry_after_sec))})

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

    # ------------------------------------------------------------------ dispatch
    def count(self, key: str) -> None:
        with self._counter_lock:
            self.counters[key] += 1

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
        try:
            return self.decorate(request, route.handler(request))
        except BadRequestBody as exc:
            return self.decorate(request, self.bad_body(request, exc))

    # ------------------------------------------------------------------ control routes
    def _get_knobs(self, request: Request) -> Response:
        return json_response(200, asdict(self.knobs))

    def _patch_knobs(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return json_response(400, {"message": "expected an object"})
        try:
            unknown = self.knobs.update(body)
        except (TypeError, ValueError) as exc:
            return json_response(400, {"message": str(exc)})
        if unknown:
            return json_response(400, {"message": f"unknown knobs: {', '.join(unknown)}"})
        if "seed" in body:
            with self._rng_lock:
                self._rng = random.Random(self.knobs.seed)
        return json_response(200, asdict(self.knobs))

    def _get_counters(self, request: Request) -> Response:
        with self._counter_lock:
            snapshot = dict(self.counters)
        return json_response(200, {"total": sum(snapshot.values()), "routes": snapshot})

    def _reset_counters(self, request: Request) -> Response:
        with self._counter_lock:
            self.counters.clear()
        return empty_response(204)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client
    # waits for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

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


class SandboxServer:
    """Serves a :class:`SandboxApp` on loopback from a daemon thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{app.name}-http", daemon=True,
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
