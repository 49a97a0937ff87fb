"""The worker's CPU per item and per Jira call: a FULL run through the worker's own path.

    .venv/bin/python -m bench.worker_cpu [--items 800] [--repeat 3] [--profile 25]

Where ``bench.engine_cpu`` measures the engine over in-memory ports, this runs what
a Celery worker runs for one run (``migrations_app.runner.execute_run``: the
claim, the Django checkpoint store on PostgreSQL, the live events through Redis,
the control signal, the finish), in this process, against the sandboxes in a
child process (no latency, no server-side limit). The database is
``migrator_cpu`` on the local PostgreSQL (created again for each invocation; each
run its own tenant), Redis db 4. CPU is ``time.process_time()`` of this process around
``execute_run`` only; PostgreSQL's and Redis's own CPU is not counted (they are
other processes), the client side of every query is.

``--profile N`` runs one more migration under ``cProfile`` and prints the N
functions with the most cumulative and the most own time (not recorded).
Results go into ``bench/results/worker_cpu.json`` under ``--label``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from bench.engine_cpu import SandboxProcess, engine_version

RESULTS = Path(__file__).resolve().parent / "results" / "worker_cpu.json"
DATABASE = "migrator_cpu"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/4"


def configure() -> None:
    """Production-like settings for this process, before Django is imported."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="migrator_site.settings",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DEBUG="false",  # no query log growing in the worker
        SECRET_KEY="bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        MIGRATOR_ALLOW_PRIVATE_TARGETS="true",
    )


def fresh_database() -> None:
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    call_command("migrate", verbosity=0)


def new_run(conn: dict[str, Any]) -> str:
    from migrations_app import crypto
    from migrations_app.models import MigrationRun, Project, Tenant

    tenant = Tenant.objects.create(slug=f"bench-{uuid.uuid4().hex[:12]}", name="Bench")
    project = Project.objects.create(tenant=tenant, name="Bench")
    run = MigrationRun.objects.create(
        tenant=tenant,
        project=project,
        type="FULL",
        status="PENDING",
        source={"base_url": conn["ado_base_url"], "org": conn["org"], "project": conn["project"]},
        target={
            "base_url": conn["jira_base_url"],
            "email": conn["email"],
            "project_key": conn["project_key"],
        },
        options={"dry_run": False},
        pat_encrypted=crypto.encrypt(conn["pat"]),
        api_token_encrypted=crypto.encrypt(conn["api_token"]),
    )
    return str(run.pk)


def calls_of(conn: dict[str, Any]) -> int:
    """Jira requests the sandbox answered (its counters route), for CPU per Jira call."""
    import requests

    counters = requests.get(f"{conn['jira_base_url']}/_sandbox/counters", timeout=10).json()
    return int(counters["total"])


def one_run(items: int, seed: int, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    from migrations_app.models import MigrationRun
    from migrations_app.runner import execute_run

    with SandboxProcess(items, seed) as conn:
        run_id = new_run(conn)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        if profiler is not None:
            profiler.enable()
        execute_run(run_id, "bench-worker")
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        jira_calls = calls_of(conn)
    run = MigrationRun.objects.get(pk=run_id)
    return {
        "status": run.status,
        "items": run.total_count,
        "jira_calls": jira_calls,
        "wall_seconds": round(wall, 2),
        "worker_cpu_seconds": round(cpu, 3),
        "cpu_ms_per_item": round(1000 * cpu / max(run.total_count, 1), 2),
        "cpu_ms_per_jira_call": round(1000 * cpu / max(jira_calls, 1), 2),
    }


class ThreadProfiles:
    """cProfile in every thread started while on (the engine's pool threads too)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._run = threading.Thread.run

    def __enter__(self) -> ThreadProfiles:
        original, profiles = self._run, self.profiles

        def run(self: threading.Thread) -> None:
            profiler = cProfile.Profile()
            profiles.append(profiler)
            profiler.enable()
            try:
                original(self)
            finally:
                profiler.disable()

        threading.Thread.run = run  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        threading.Thread.run = self._run  # type: ignore[method-assign]


def print_profile(main: cProfile.Profile, threads: ThreadProfiles, top: int) -> None:
    stats = pstats.Stats(main)
    for profiler in threads.profiles:
        stats.add(profiler)
    saved = Path(tempfile.gettempdir()) / "worker_cpu.prof"
    stats.dump_stats(str(saved))  # for pstats' callers view
    print(f"profile saved in {saved}")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(top)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument("--label", default="after")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    configure()
    import django

    django.setup()
    fresh_database()
    runs = [one_run(args.items, args.seed) for _ in range(args.repeat)]
    median = sorted(runs, key=lambda r: r["cpu_ms_per_jira_call"])[len(runs) // 2]
    result = {
        "items_requested": args.items,
        "engine": engine_version(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "median": median,
        "cpu_ms_per_item_median": statistics.median(r["cpu_ms_per_item"] for r in runs),
        "runs": runs,
    }
    saved = json.loads(args.output.read_text()) if args.output.exists() else {}
    saved[args.label] = result
    args.output.write_text(json.dumps(saved, indent=2) + "\n")
    print(json.dumps(result["median"], indent=2))
    if args.profile:
        profiler = cProfile.Profile()
        with ThreadProfiles() as threads:
            one_run(args.items, args.seed, profiler)
        print_profile(profiler, threads, args.profile)


if __name__ == "__main__":
    main()
