"""Engine CPU per item and per Jira call: a FULL run with the sandboxes in another process.

    .venv/bin/python -m bench.engine_cpu [--items 800] [--repeat 3] [--label after]

The sandboxes run as ``python -m sandbox`` in a child process (no added latency,
no server-side rate limit), so the CPU this process spends is the engine's own:
the real ADO and Jira clients, the transport, the limiter, content conversion,
the pipeline, and the in-memory ports. It is read with ``time.process_time()``
(every thread of this process) around ``run_migration`` only, so interpreter
start-up, imports and the dataset generation in the child are not counted.
``resource.getrusage(RUSAGE_SELF)`` gives the same figure split into user and
system time.

The Jira client's limiter is an ``AdaptiveRateLimiter`` whose ceiling is
``--limit`` requests per second, high enough never to pace: the limiter's own
bookkeeping is measured, not its waits.

The machine is shared, so one run's CPU varies by some percent: ``--repeat``
runs the migration that many times (a fresh sandbox each time) and records the
median run (by CPU per Jira call) with every run's figures. The result goes into
``bench/results/engine_cpu.json`` (or ``--output``) under ``--label``: ``before``
and ``after`` compare a change (run ``before`` with ``PYTHONPATH`` pointing at the
older tree), other labels already there are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.ado import AdoClient
from engine.jira import JiraClient
from engine.memory import MemoryControl, MemoryEvents, MemoryStore
from engine.pipeline import run_migration
from engine.ports import RunSpec
from engine.ratelimit import AdaptiveRateLimiter

RESULTS = Path(__file__).resolve().parent / "results" / "engine_cpu.json"


class SandboxProcess:
    """``python -m sandbox`` in a child process, stopped (and waited for) on exit."""

    def __init__(
        self,
        items: int,
        seed: int,
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "sandbox",
            f"--items={items}",
            f"--seed={seed}",
            *(options or ("--latency-ms=0", "--rate-limit=0")),
        ]
        environment = {**os.environ, **env} if env else None
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)

    def __enter__(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"the sandbox exited with {self.proc.returncode} before serving")
        return dict(json.loads(line))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def run(items: int, limit: float, seed: int) -> dict[str, Any]:
    with SandboxProcess(items, seed) as conn:
        ado = AdoClient(conn["ado_base_url"], conn["org"], conn["project"], conn["pat"])
        limiter = AdaptiveRateLimiter(
            initial_rate=limit * 0.9, max_rate=limit, increase=0.2, decrease=0.8, max_in_flight=8
        )
        jira = JiraClient(conn["jira_base_url"], conn["email"], conn["api_token"], limiter=limiter)
        store = MemoryStore()
        spec = RunSpec("FULL", conn["project_key"], ado_web_url=ado.project_url)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        outcome = run_migration(
            spec,
            source=ado,
            target=jira,
            store=store,
            events=MemoryEvents(),
            control=MemoryControl(),
        )
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
    jira_calls = jira.http.requests_sent
    ado_calls = ado.http.requests_sent
    return {
        "outcome": {"status": outcome.status, "stats": outcome.stats},
        "items": len(store.items),
        "jira_calls": jira_calls,
        "ado_calls": ado_calls,
        "wall_seconds": round(wall, 2),
        "engine_cpu_seconds": round(cpu, 3),
        "engine_cpu_user_seconds": round(usage_after.ru_utime - usage_before.ru_utime, 3),
        "engine_cpu_system_seconds": round(usage_after.ru_stime - usage_before.ru_stime, 3),
        "cpu_ms_per_item": round(1000 * cpu / max(len(store.items), 1), 2),
        "cpu_ms_per_jira_call": round(1000 * cpu / max(jira_calls, 1), 2),
        "cpu_ms_per_http_call": round(1000 * cpu / max(jira_calls + ado_calls, 1), 2),
    }


def engine_version() -> str:
    """The commit of the engine tree measured, with ``+changes`` when it has uncommitted ones."""
    import engine

    tree = Path(engine.__file__).resolve().parent
    git = ["git", "-C", str(tree)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--limit", type=float, default=10_000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="after")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--note", default="", help="recorded with the setup (e.g. the tree measured)"
    )
    args = parser.parse_args()
    runs = [run(args.items, args.limit, args.seed) for _ in range(max(1, args.repeat))]
    per_call = [r["cpu_ms_per_jira_call"] for r in runs]
    result = dict(sorted(runs, key=lambda r: r["cpu_ms_per_jira_call"])[len(runs) // 2])
    result["runs_cpu_ms_per_jira_call"] = per_call
    result["runs_cpu_ms_per_item"] = [r["cpu_ms_per_item"] for r in runs]
    result["spread_cpu_ms_per_jira_call"] = round(statistics.pstdev(per_call), 3)
    result["setup"] = {
        "items": args.items,
        "repeat": len(runs),
        "latency_ms": 0,
        "jira_limiter_ceiling_per_second": args.limit,
        "seed": args.seed,
        "engine_version": engine_version(),
        "note": args.note,
        "measured": "time.process_time() of the engine process around run_migration "
        "(all its threads); the sandboxes run in a child process; the median of the runs",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    output: Path = args.output
    recorded: dict[str, Any] = json.loads(output.read_text()) if output.exists() else {}
    recorded[args.label] = result
    before, after = recorded.get("before"), recorded.get("after")
    if before and after:
        recorded["ratio_after_to_before"] = {
            key: round(after[key] / before[key], 3)
            for key in ("cpu_ms_per_item", "cpu_ms_per_jira_call")
            if before[key]
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(recorded, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
