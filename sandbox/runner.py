"""Serve the simulated Azure DevOps and Jira Cloud on loopback until told to stop.

Used by ``python manage.py sandbox`` and ``python -m sandbox``. Once both servers
listen, one JSON line goes to stdout with everything a client needs (CONTRACT
section 2); logs, if any, go to stderr so that line stays machine-readable.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TextIO

from sandbox.ado import DEFAULT_PAT, AdoApp
from sandbox.dataset import Dataset, generate
from sandbox.httpbase import Knobs, SandboxApp, SandboxServer

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

    def knobs(self) -> Knobs:
        """A fresh knob set per service, so that changing one leaves the other alone."""
        return Knobs(
            latency_ms=self.latency_ms,
            rate_limit_per_sec=self.rate_limit,
            p429=self.p429,
            p5xx=self.p5xx,
            seed=self.seed,
        )


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


def options_from(values: dict[str, Any]) -> Options:
    known = Options.__dataclass_fields__
    return Options(**{k: v for k, v in values.items() if k in known and v is not None})


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
    ado_server = SandboxServer(ado, options.host, options.ado_port).start()
    running = Sandboxes(options, data, ado, ado_server)
    cls = jira_class()
    if cls is not None:
        try:
            running.jira = cls(
                email=options.email,
                api_token=options.api_token,  # type: ignore[call-arg]
                project_key=options.project_key,
                users=[p for p in data.people if p.in_jira],
                knobs=options.knobs(),
            )
            running.jira_server = SandboxServer(
                running.jira, options.host, options.jira_port
            ).start()
        except Exception:
            running.stop()
            raise
    return running


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
    return serve(options_from(vars(args)))
