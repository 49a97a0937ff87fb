"""Serve the simulated Azure DevOps and Jira Cloud on loopback until told to stop.

Used by ``python manage.py sandbox`` and ``python -m sandbox``. Once both servers
listen, one JSON line goes to stdout with everything a client needs (CONTRACT
section 2); logs, if any, go to stderr so that line stays machine-readable.

The fault options apply to both sandboxes (each gets its own copy of the knobs),
except ``--slow-bulk-ms``, which only Jira has a route for. A route selector in
``--fault-routes`` or ``--late-write`` names a route of either sandbox, so it
simply never matches on the other one; one that names no route of either is an
error. Per-sandbox settings are one ``PATCH /_sandbox/knobs`` away.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

from sandbox.ado import DEFAULT_PAT, AdoApp
from sandbox.dataset import Dataset, generate
from sandbox.httpbase import (
    ALL,
    LOST_ANSWER_MODES,
    WRITES,
    KnobError,
    Knobs,
    LateWrite,
    SandboxApp,
    SandboxServer,
    check_knob,
)
from sandbox.jira_limits import LimitSettings

JIRA_EMAIL = "migrator@fabrikam.example"
JIRA_API_TOKEN = "sandbox-jira-api-token-0123456789"
JIRA_PROJECT_KEY = "MIG"


@dataclass
class Options:
    host: str = "127.0.0.1"
    ado_port: int = 0
    jira_port: int = 0
    items: int = 200
    seed: int = 1
    latency_ms: float = 0.0
    rate_limit: float = 0.0
    p429: float = 0.0
    p5xx: float = 0.0
    wiql_cap: int = 20_000
    pat: str = DEFAULT_PAT
    email: str = JIRA_EMAIL
    api_token: str = JIRA_API_TOKEN
    project_key: str = JIRA_PROJECT_KEY
    lost_answer_p: float = 0.0
    lost_answer_mode: str = "mixed"
    fault_routes: list[str] = field(default_factory=lambda: [WRITES])
    late_writes: dict[str, LateWrite] = field(default_factory=dict)
    slow_bulk_ms: float = 0.0  # Jira only
    jira_limits: bool = False  # Jira's per-endpoint and per-issue limits (sandbox.jira_limits)

    def knobs(self, *, jira: bool = False) -> Knobs:
        """A fresh knob set per service, so that changing one leaves the other alone."""
        return Knobs(
            latency_ms=self.latency_ms,
            rate_limit_per_sec=self.rate_limit,
            p429=self.p429,
            p5xx=self.p5xx,
            seed=self.seed,
            lost_answer_p=self.lost_answer_p,
            lost_answer_mode=self.lost_answer_mode,
            fault_routes=self.fault_routes,
            late_writes=self.late_writes,
            slow_bulk_ms_per_issue=self.slow_bulk_ms if jira else 0.0,
        )

    def selectors(self) -> list[str]:
        return [*self.fault_routes, *self.late_writes]


class OptionsError(ValueError):
    """Options that parse but do not fit the sandboxes (e.g. a selector naming no route)."""


def _knob_type(knob: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that parses the text, then checks it as knob ``knob`` does."""

    def convert(text: str) -> Any:
        try:
            return check_knob(knob, parse(text))
        except (KnobError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return convert


def _fault_routes(text: str) -> list[str]:
    selectors = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return list(check_knob("fault_routes", selectors))
    except KnobError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _late_write(text: str) -> tuple[str, LateWrite]:
    """``"POST /rest/api/3/issue/bulk=2x10"``: hold the next 2 such requests 10 s each."""
    selector, sep, spec = text.rpartition("=")
    count, x, seconds = spec.partition("x")
    try:
        if not (sep and x):
            raise ValueError(f"expected SELECTOR=COUNTxSECONDS, got {text!r}")
        entry = {"count": int(count), "seconds": float(seconds)}
        checked = check_knob("late_writes", {selector.strip(): entry})
    except (KnobError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not checked:  # COUNT 0: nothing to hold
        raise argparse.ArgumentTypeError(f"--late-write {text!r}: COUNT must be at least 1")
    [(key, value)] = checked.items()
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by the management command and ``python -m sandbox``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    add("--ado-port", type=int, default=0, help="ADO port (0 = any free port)")
    add("--jira-port", type=int, default=0, help="Jira port (0 = any free port)")
    add("--items", type=int, default=200, help="work items to generate (20 to 100000)")
    add("--seed", type=int, default=1, help="dataset and fault seed")
    add("--latency-ms", type=float, default=0.0, help="added latency per request")
    add("--rate-limit", type=float, default=0.0, help="requests per second before 429 (0 = off)")
    add("--p429", type=float, default=0.0, help="probability of a random 429")
    add("--p5xx", type=float, default=0.0, help="probability of a random 500/503")
    add("--wiql-cap", type=int, default=20_000, help="WIQL result cap (VS402337 above it)")
    add(
        "--lost-answer-p",
        type=_knob_type("lost_answer_p", float),
        default=None,
        help="probability that a selected write is applied and its answer lost (0 = off)",
    )
    add(
        "--lost-answer-mode",
        choices=LOST_ANSWER_MODES,
        default=None,
        help="how an answer is lost: gateway 502, 504, a closed connection, or any (mixed)",
    )
    add(
        "--fault-routes",
        type=_fault_routes,
        default=None,
        help="comma-separated route selectors that may lose answers: writes (default), all, "
        "or 'METHOD /pattern' as registered",
    )
    add(
        "--late-write",
        dest="late_writes",
        type=_late_write,
        action="append",
        default=None,
        metavar="SELECTOR=COUNTxSECONDS",
        help="hold the next COUNT matching requests SECONDS each before applying them "
        "(repeatable; e.g. 'POST /rest/api/3/issue/bulk=2x10')",
    )
    add(
        "--slow-bulk-ms",
        type=_knob_type("slow_bulk_ms_per_issue", float),
        default=None,
        help="Jira bulk create sleeps this many ms per issue before applying",
    )
    add(
        "--jira-limits",
        action="store_true",
        default=None,
        help="Jira's rate-limit model: buckets per endpoint and method, per-issue write "
        "windows, RateLimit-Reason on each 429 (change it at /_sandbox/jira/limits)",
    )


def options_from(values: dict[str, Any]) -> Options:
    known = Options.__dataclass_fields__
    chosen = {k: v for k, v in values.items() if k in known and v is not None}
    if isinstance(chosen.get("late_writes"), list):  # repeated --late-write; the last wins
        chosen["late_writes"] = dict(chosen["late_writes"])
    return Options(**chosen)


@dataclass
class Sandboxes:
    """Both running servers and what a client needs to reach them."""

    options: Options
    dataset: Dataset
    ado: AdoApp
    ado_server: SandboxServer
    jira: SandboxApp | None = None
    jira_server: SandboxServer | None = None
    _stopped: bool = field(default=False, repr=False)

    def connection(self) -> dict[str, Any]:
        return {
            "ado_base_url": self.ado_server.url,
            "org": self.dataset.org,
            "project": self.dataset.project,
            "pat": self.options.pat,
            "jira_base_url": self.jira_server.url if self.jira_server else None,
            "email": self.options.email,
            "api_token": self.options.api_token,
            "project_key": self.options.project_key,
        }

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.ado_server.stop()
        if self.jira_server is not None:
            self.jira_server.stop()


def jira_class() -> type[SandboxApp] | None:
    """``sandbox.jira.JiraApp`` when that module exists (it is built separately)."""
    try:
        module = importlib.import_module("sandbox.jira")
    except ImportError:
        return None
    cls = getattr(module, "JiraApp", None)
    return cls if isinstance(cls, type) and issubclass(cls, SandboxApp) else None


def start(options: Options, dataset: Dataset | None = None) -> Sandboxes:
    """Generate the dataset and start both servers (Jira only when available)."""
    data = dataset or generate(options.items, options.seed)
    ado = AdoApp(dataset=data, pat=options.pat, wiql_cap=options.wiql_cap, knobs=options.knobs())
    jira = _jira_app(options, data)
    check_selectors(options, [app for app in (ado, jira) if app is not None])
    ado_server = SandboxServer(ado, options.host, options.ado_port).start()
    running = Sandboxes(options, data, ado, ado_server, jira=jira)
    if jira is not None:
        try:
            running.jira_server = SandboxServer(jira, options.host, options.jira_port).start()
        except Exception:
            running.stop()
            raise
    return running


def _jira_app(options: Options, data: Dataset) -> SandboxApp | None:
    cls = jira_class()
    if cls is None:
        return None
    return cls(
        email=options.email,
        api_token=options.api_token,  # type: ignore[call-arg]
        project_key=options.project_key,
        users=[p for p in data.people if p.in_jira],
        knobs=options.knobs(jira=True),
        limits=LimitSettings(enabled=True) if options.jira_limits else None,
    )


def check_selectors(options: Options, apps: Sequence[SandboxApp]) -> None:
    """Each route selector must name a route of some sandbox (a typo would never match)."""
    routes = set().union(*(app.faultable_routes() for app in apps))
    for selector in options.selectors():
        if selector not in (WRITES, ALL) and selector not in routes:
            raise OptionsError(
                f"route selector {selector!r} names no route of the sandboxes "
                "(give METHOD and pattern exactly as registered)"
            )


def serve(options: Options, out: TextIO = sys.stdout, stop: threading.Event | None = None) -> int:
    """Start, print the connection line, block until SIGINT/SIGTERM (or ``stop``)."""
    done = stop or threading.Event()
    running = start(options)
    previous = _install_signal_handlers(done)
    try:
        if running.jira_server is None:
            print("sandbox: sandbox.jira is not available; serving ADO only", file=sys.stderr)
        out.write(json.dumps(running.connection()) + "\n")
        out.flush()
        while not done.wait(0.5):
            pass
    finally:
        running.stop()
        _restore_signal_handlers(previous)
    return 0


def _install_signal_handlers(done: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # signals can only be handled on the main thread (e.g. tests call serve())

    def handler(signum: int, frame: FrameType | None) -> None:
        done.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(options_from(vars(args)))
    except OptionsError as exc:
        parser.error(str(exc))
