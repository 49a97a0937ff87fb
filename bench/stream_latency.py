"""Live-stream benchmark (a script, not a test): writes bench/results/stream.json.

1. Latency: a worker-like process (tests.live.publisher, the worker's own publishing
   path) sends 50 events; one client on a separate uvicorn process measures the
   delay from just before publishing to arrival (median, p95), in the embedded mode
   (storage bridge, SQLite) and, when Redis answers, in Redis mode.
2. Capacity: N concurrent stream clients on one uvicorn process (N = 50, 100, 200,
   400; loopback only), 10 events each; the largest N whose every event arrived
   within one second at every client.

    .venv/bin/python bench/stream_latency.py [--redis-url redis://127.0.0.1:6379/0]
        [--database-url postgres://...] [--events 50] [--clients 50,100,200,400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "stream.json"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(delays: list[float]) -> dict[str, Any]:
    ms = [d * 1000 for d in delays]
    return {
        "events": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(quantile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
        "within_1s": round(sum(1 for d in delays if d < 1.0) / len(delays), 4),
    }


class Setup:
    """One database (migrated), a tenant user, a run; env for child processes."""

    def __init__(self, database_url: str, redis_url: str | None, var_dir: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-" + secrets.token_hex(24),
            "DEBUG": "false",
            "FIELD_ENCRYPTION_KEY": "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=",
            "MIGRATOR_VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        else:
            self.env.pop("REDIS_URL", None)

    def django(self) -> None:
        os.environ.update(self.env)
        if "REDIS_URL" not in self.env:
            os.environ.pop("REDIS_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "migrator_site.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)

    def make_run(self) -> tuple[str, str]:
        from rest_framework_simplejwt.tokens import RefreshToken

        from migrations_app import crypto
        from migrations_app.models import MigrationRun, Project, Tenant, User

        tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        user, _ = User.objects.get_or_create(username="bench", defaults={"tenant": tenant})
        project = Project.objects.create(tenant=tenant, name=f"bench-{secrets.token_hex(4)}")
        run = MigrationRun.objects.create(
            tenant=tenant, project=project, type="FULL", status="RUNNING",
            pat_encrypted=crypto.encrypt("x"), api_token_encrypted=crypto.encrypt("y"),
        )  # fmt: skip
        return str(run.pk), str(RefreshToken.for_user(user).access_token)


async def open_clients(url: str, path: str, count: int) -> list[Any]:
    from tests.live.sse import HttpSSE

    async def one() -> Any:
        client = await HttpSSE.open(url, path, timeout=30)
        assert client.status == 200, client.status
        await client.next(30, skip_control=False)  # the opening comment
        return client

    clients: list[Any] = []
    for start in range(0, count, 50):  # connect in waves of 50
        clients += await asyncio.gather(*(one() for _ in range(start, min(count, start + 50))))
    return clients


async def collect(client: Any, count: int) -> list[float]:
    delays: list[float] = []
    while len(delays) < count:
        event = await client.next(timeout=15)
        arrived = time.time()
        if event.event == "log":
            delays.append(arrived - float(event.json["message"].rsplit("sent=", 1)[1]))
    return delays


def publisher(setup: Setup, run_id: str, count: int, interval: float, go: Path) -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.live.publisher", run_id, "--count", str(count),
         "--interval", str(interval), "--go-file", str(go)],
        cwd=ROOT, env=setup.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()).get("ready")
    return proc


async def measure(
    setup: Setup,
    run: tuple[str, str],
    url: str,
    clients: int,
    events: int,
    interval: float,
    tmp: Path,
) -> dict[str, Any]:
    run_id, token = run
    path = f"/api/migrations/{run_id}/stream?token={token}&lastEventId=run-{run_id}:0"
    started = time.monotonic()
    opened = await open_clients(url, path, clients)
    connect_seconds = time.monotonic() - started
    go = tmp / f"go-{run_id}"
    proc = publisher(setup, run_id, events, interval, go)
    try:
        go.touch()
        per_client = await asyncio.gather(*(collect(c, events) for c in opened))
    finally:
        proc.wait(timeout=60)
        for client in opened:
            await client.close()
    delays = [d for client_delays in per_client for d in client_delays]
    return {"clients": clients, "connect_seconds": round(connect_seconds, 2), **summary(delays)}


def run_mode(name: str, setup: Setup, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.live.servers import start_web

    web = start_web(setup.env, tmp / f"web-{name}.log")
    try:
        latency = asyncio.run(measure(setup, setup.make_run(), web.url, 1, args.events, 0.1, tmp))
        print(f"[{name}] latency over {args.events} events: {latency}", flush=True)
        ramp, held = [], 0
        for clients in args.clients:
            try:
                step = asyncio.run(measure(setup, setup.make_run(), web.url, clients, 10, 0.2, tmp))
            except Exception as exc:  # a refused connection or a timeout ends the ramp
                step = {"clients": clients, "error": f"{type(exc).__name__}: {exc}"}
            print(f"[{name}] {clients} clients: {step}", flush=True)
            ramp.append(step)
            if step.get("within_1s") != 1.0:
                break
            held = clients
        return {
            "latency": latency,
            "concurrency": ramp,
            "max_clients_all_within_1s": held,
        }
    finally:
        web.stop()


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument(
        "--clients", type=lambda s: [int(x) for x in s.split(",")], default=[50, 100, 200, 400]
    )
    args = parser.parse_args()

    results: dict[str, Any] = {
        "what": "delay from publish (worker-like process) to arrival at an SSE client of a "
        "separate uvicorn process, loopback; capacity ramp on one uvicorn process",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "modes": {},
    }
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        # Each mode runs in a fresh interpreter: settings (Redis or not) are read once.
        modes = ["embedded"] + (["redis"] if redis_answers(args.redis_url) else [])
        for mode in modes:
            setup = Setup(database_url, args.redis_url if mode == "redis" else None, tmp)
            results["modes"][mode] = child_mode(mode, setup, args, tmp)
        if "redis" not in results["modes"]:
            results["modes"]["redis"] = {"skipped": f"Redis did not answer at {args.redis_url}"}
    results["database"] = "sqlite (file)" if not args.database_url else "postgresql"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def child_mode(mode: str, setup: Setup, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Runs one mode in a fresh interpreter (settings are read once per process)."""
    out = tmp / f"{mode}.json"
    params = {
        "root": str(ROOT), "events": args.events, "clients": args.clients,
        "database_url": setup.env["DATABASE_URL"], "redis_url": setup.env.get("REDIS_URL"),
        "tmp": str(tmp), "out": str(out), "mode": mode,
    }  # fmt: skip
    code = (
        "import json, sys, argparse; from pathlib import Path; p = json.loads(sys.argv[1]);"
        "sys.path.insert(0, p['root']); import bench.stream_latency as b;"
        "a = argparse.Namespace(events=p['events'], clients=p['clients']);"
        "s = b.Setup(p['database_url'], p['redis_url'], Path(p['tmp'])); s.django();"
        "Path(p['out']).write_text(json.dumps(b.run_mode(p['mode'], s, a, Path(p['tmp']))))"
    )
    env = dict(setup.env)
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(params)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.read_text()))


if __name__ == "__main__":
    main()
