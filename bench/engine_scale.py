"""Scale benchmark: dry runs and FULL runs of N work items through the whole product.

    .venv/bin/python -m bench.engine_scale [--dry-run-items 10000,100000] [--full-items 20000]
        [--workers 1,2] [--pool solo|prefork] [--baseline] [--fresh]

Every scenario (mode x items x workers) starts its own processes, each in its own
process group: the two sandboxes (``python -m sandbox``, zero latency, a dataset
of N items), the web server the demo uses (uvicorn on the ASGI application) and
K Celery workers, all on PostgreSQL database ``migrator_bench`` (dropped and
created again at the start of each invocation, so no run of an earlier one is
swept up) and Redis db 3 (flushed before each scenario; the queue is
``migrator-bench``). A tenant and user come from ``manage.py create_tenant_user``,
a fresh project per scenario from ``POST /api/projects``; the run is started with
``POST /api/migrations/project/{id}/start`` and its status is polled once per
second, as a dashboard would, until the run ends.

Recorded per scenario: wall time (start request to the poll that sees the run
finished; also the run's own ``startedAt`` to ``finishedAt``), items per second,
peak resident memory of each worker (its process tree: the sum of each process's
``VmHWM``, and the largest sampled sum of ``VmRSS``, sampled every 0.5 s), of
the web server and of the sandboxes, CPU seconds of each worker tree from the
start request on (``utime + stime`` of live processes plus ``cutime + cstime``
of reaped children, from ``/proc/<pid>/stat``; start-up CPU is reported apart),
CPU milliseconds per item and per Jira request (``GET /_sandbox/counters`` of
the Jira sandbox), how fast the status endpoint answered, the load average
around the run (the machine may be shared: read the numbers with it), the final
status and the Jira sandbox's write counters. The ratios at the end compare the
peak worker and web memory of the largest dry run with those of the 10,000-item
dry run at the same worker count (target: at most 1.5).

The product runs with its production settings (``DEBUG`` off, generated keys)
and default limits: the Jira rate limiter starts at 20 requests per second and
climbs towards 100; the sandboxes do not throttle.

Results merge into ``bench/results/engine_scale.json`` (a scenario replaces the
entry of the same mode, size, worker count and pool; ``--fresh`` starts over).
Logs go to a temporary directory that is removed at the end (its tails are
printed when a scenario fails); nothing else is written to the working tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, Any

import psycopg
import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "engine_scale.json"
PY = sys.executable
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "migrator_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/3"
QUEUE = "migrator-bench"
FINISHED = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED")
RATIO_BASE_ITEMS = 10_000
RATIO_TARGET = 1.5
TICKS = os.sysconf("SC_CLK_TCK")
USERNAME = "bench"
PASSWORD = "bench-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Scenario:
    mode: str  # "dry" or "full"
    items: int
    workers: int
    pool: str

    @property
    def key(self) -> str:
        return f"{self.mode}-{self.items}-w{self.workers}-{self.pool}"


# --------------------------------------------------------------------------- /proc
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3 is index 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _status_kb(pid: int) -> dict[str, int]:
    """``VmHWM`` and ``VmRSS`` of ``/proc/<pid>/status`` in kB (empty: the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split(":", 1) for line in lines if line.startswith(("VmHWM:", "VmRSS:")))
    return {name: int(value.split()[0]) for name, value in pairs}


def process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (by parent pid, from a scan of /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_ticks(pid: int, *, reaped: bool) -> int:
    """utime + stime, plus cutime + cstime (children already waited for) when ``reaped``."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped else 0)


@dataclass
class TreeStats:
    """What the sampler saw of one process tree."""

    name: str
    root: int
    hwm_kb: dict[int, int] = field(default_factory=dict)  # per pid, largest seen
    peak_rss_kb: int = 0
    cpu_ticks: int = 0
    start_ticks: int = 0  # at the start request: start-up CPU is not the run's
    pids: set[int] = field(default_factory=set)

    def sample(self) -> None:
        rss, cpu = 0, 0
        for pid in process_tree(self.root):
            mem = _status_kb(pid)
            if not mem:
                continue
            self.pids.add(pid)
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), mem.get("VmHWM", 0))
            rss += mem.get("VmRSS", 0)
            cpu += cpu_ticks(pid, reaped=True)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        self.cpu_ticks = max(self.cpu_ticks, cpu)  # a child that died unreaped drops out

    @property
    def run_ticks(self) -> int:
        return self.cpu_ticks - self.start_ticks

    def summary(self, items: int, jira_calls: int) -> dict[str, Any]:
        cpu_ms = self.run_ticks * 1000 / TICKS
        return {
            "name": self.name,
            "processes": len(self.pids),
            "peak_hwm_mb": round(sum(self.hwm_kb.values()) / 1024, 1),
            "peak_rss_sampled_mb": round(self.peak_rss_kb / 1024, 1),
            "cpu_seconds_with_startup": round(self.cpu_ticks / TICKS, 2),
            "cpu_seconds": round(cpu_ms / 1000, 2),
            "cpu_ms_per_item": round(cpu_ms / max(items, 1), 3),
            "cpu_ms_per_jira_call": round(cpu_ms / jira_calls, 3) if jira_calls else None,
        }


class Sampler(threading.Thread):
    """Samples memory and CPU of the given trees every ``interval`` seconds."""

    def __init__(self, trees: list[TreeStats], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.trees, self.interval = trees, interval
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample_all()
            self._done.wait(self.interval)

    def sample_all(self) -> None:
        for tree in self.trees:
            tree.sample()

    def mark_start(self) -> None:
        self.sample_all()
        for tree in self.trees:
            tree.start_ticks = tree.cpu_ticks

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.sample_all()  # the last word, before anything is stopped


# --------------------------------------------------------------------------- processes
class Processes:
    """Every process the benchmark started, each in its own session (process group)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[str]]] = []

    def spawn(
        self, name: str, args: list[str], env: dict[str, str], stdout: int | None = None
    ) -> subprocess.Popen[str]:
        log: IO[str] = (self.logs / f"{name}.log").open("a")
        with log:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                text=True,
                stdout=log if stdout is None else stdout,
                stderr=log,
                start_new_session=True,
            )
        self.started.append((name, proc))
        return proc

    def dead(self) -> list[str]:
        return [name for name, proc in self.started if proc.poll() is not None]

    def stop_all(self) -> None:
        for _, proc in self.started:
            _signal_group(proc, signal.SIGTERM)
        for _, proc in self.started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=15)
            # a forked pool child may outlive its parent in the group
            _signal_group(proc, signal.SIGKILL)
        self.started.clear()

    def tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in sorted(self.logs.glob("*.log"))
        )


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], Any], seconds: float, procs: Processes) -> Any:
    """Poll ``check`` until truthy; fail when a started process stops or time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if procs.dead():
            raise RuntimeError(f"{', '.join(procs.dead())} stopped while waiting for {what}")
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not within {seconds:.0f} s")


# --------------------------------------------------------------------------- environment
def bench_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        MIGRATOR_QUEUE=QUEUE,
        MIGRATOR_VAR_DIR=str(var_dir),
        DEBUG="false",  # production settings: no query log growing in the worker
        SECRET_KEY="bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        MIGRATOR_ALLOW_PRIVATE_TARGETS="true",  # the sandboxes are on loopback
        JWT_ACCESS_MINUTES="1440",  # one token outlives the longest run
        PYTHONUNBUFFERED="1",
    )
    return env


def recreate_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = [
        line for line in git("status", "--porcelain").splitlines() if "engine_scale" not in line
    ]
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(changed)}


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln), ""
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- the product
@dataclass
class Stack:
    """The running processes of one scenario and how to reach them."""

    sandbox: dict[str, Any]
    web_url: str
    sandbox_pid: int
    web_pid: int
    worker_pids: list[int]


def start_stack(scenario: Scenario, env: dict[str, str], procs: Processes) -> Stack:
    sandbox_args = [PY, "-m", "sandbox", "--items", str(scenario.items), "--latency-ms", "0"]
    sandbox = procs.spawn("sandbox", sandbox_args, env, stdout=subprocess.PIPE)
    assert sandbox.stdout is not None
    line = sandbox.stdout.readline()  # the sandboxes' connection line, once both listen
    if not line:
        raise RuntimeError("the sandboxes did not start")
    port = free_port()
    uvicorn = [PY, "-m", "uvicorn", "migrator_site.asgi:application"]
    web = procs.spawn("web", [*uvicorn, "--host", "127.0.0.1", "--port", str(port)], env)
    workers = []
    for index in range(scenario.workers):
        name = f"worker{index + 1}"
        pool = ["--pool=solo"] if scenario.pool == "solo" else ["--pool=prefork", "--concurrency=1"]
        args = [PY, "-m", "celery", "-A", "migrator_site", "worker", *pool]
        args += [f"--hostname={name}@%h", "--loglevel=INFO"]
        workers.append(procs.spawn(name, args, env))
    web_url = f"http://127.0.0.1:{port}"
    # any answer will do: the schema page would cost the web process memory a user never asks for
    wait_until("the web server", lambda: _answers(f"{web_url}/api/projects"), 120, procs)
    for index in range(scenario.workers):
        log = procs.logs / f"worker{index + 1}.log"
        wait_until(f"worker{index + 1}", partial(_says_ready, log), 120, procs)
    return Stack(json.loads(line), web_url, sandbox.pid, web.pid, [w.pid for w in workers])


def _says_ready(log: Path) -> bool:
    return " ready." in log.read_text()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code > 0
    except requests.RequestException:
        return False


def api_session(web_url: str) -> requests.Session:
    login = {"username": USERNAME, "password": PASSWORD}
    token = requests.post(f"{web_url}/api/auth/token", json=login, timeout=30)
    token.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access']}"
    return session


def start_body(sandbox: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """A FULL start aimed at the sandboxes, secrets in the body, as the e2e tests send it."""
    source = {k: sandbox[k] for k in ("org", "project", "pat")}
    target = {k: sandbox[k] for k in ("email", "api_token", "project_key")}
    options = dict.fromkeys(("migrate_attachments", "migrate_comments", "migrate_links"), True)
    return {
        "type": "FULL",
        "enginePayload": {
            "source": {"base_url": sandbox["ado_base_url"], **source},
            "target": {"base_url": sandbox["jira_base_url"], **target},
            "options": {**options, "dry_run": dry_run, "type_overrides": {}, "state_overrides": {}},
        },
    }


@dataclass
class Watch:
    """What the dashboard-like poller saw."""

    final: dict[str, Any]
    wall_seconds: float
    poll_ms: list[float]
    poll_errors: int


def start_and_watch(
    api: requests.Session, stack: Stack, scenario: Scenario, timeout: float, procs: Processes
) -> Watch:
    name = f"scale {scenario.key} {uuid.uuid4().hex[:8]}"
    made = api.post(f"{stack.web_url}/api/projects", json={"name": name}, timeout=30)
    made.raise_for_status()
    body = start_body(stack.sandbox, dry_run=scenario.mode == "dry")
    started = time.monotonic()
    run = api.post(
        f"{stack.web_url}/api/migrations/project/{made.json()['id']}/start", json=body, timeout=60
    )
    if run.status_code != 200:
        raise RuntimeError(f"start: {run.status_code} {run.text}")
    run_id = run.json()["id"]
    try:
        return _poll(api, f"{stack.web_url}/api/migrations/{run_id}", started, timeout, procs)
    except BaseException:
        # leave no active run behind for a later scenario's sweeper to take over
        api.post(f"{stack.web_url}/api/migrations/{run_id}/cancel", timeout=30)
        raise


def _poll(
    api: requests.Session, run_url: str, started: float, timeout: float, procs: Processes
) -> Watch:
    poll_ms: list[float] = []
    errors = 0
    tick = started
    while time.monotonic() - started < timeout:
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
        if procs.dead():
            raise RuntimeError(f"{', '.join(procs.dead())} stopped during the run")
        asked = time.monotonic()
        try:
            answer = api.get(f"{run_url}/status", timeout=30)
            answer.raise_for_status()
        except requests.RequestException:
            errors += 1
            continue
        poll_ms.append((time.monotonic() - asked) * 1000)
        status = answer.json()
        if status["status"] in FINISHED:
            return Watch(status, time.monotonic() - started, poll_ms, errors)
    raise RuntimeError(f"the run did not finish within {timeout:.0f} s")


def jira_inspection(jira_url: str) -> tuple[int, dict[str, Any]]:
    counters = requests.get(f"{jira_url}/_sandbox/counters", timeout=30).json()
    writes = requests.get(f"{jira_url}/_sandbox/jira/writes", timeout=30).json()
    return int(counters["total"]), dict(writes)


# --------------------------------------------------------------------------- one scenario
def run_scenario(
    scenario: Scenario, env: dict[str, str], logs: Path, timeout: float
) -> dict[str, Any]:
    redis.Redis.from_url(REDIS_URL).flushdb()  # our db only: the queue and the limiter
    procs = Processes(logs)
    try:
        stack = start_stack(scenario, env, procs)
        api = api_session(stack.web_url)
        workers = [TreeStats(f"worker{i + 1}", pid) for i, pid in enumerate(stack.worker_pids)]
        web = TreeStats("web", stack.web_pid)
        sandbox = TreeStats("sandbox", stack.sandbox_pid)
        sampler = Sampler([*workers, web, sandbox])
        load_before = os.getloadavg()
        sampler.mark_start()
        sampler.start()
        try:
            watch = start_and_watch(api, stack, scenario, timeout, procs)
        finally:
            sampler.stop()
        jira_calls, writes = jira_inspection(stack.sandbox["jira_base_url"])
    except BaseException:
        print(procs.tails(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        for path in logs.glob("*.log"):
            path.unlink()
    return _entry(scenario, watch, jira_calls, writes, workers, web, sandbox, load_before)


def _entry(
    scenario: Scenario,
    watch: Watch,
    jira_calls: int,
    writes: dict[str, Any],
    workers: list[TreeStats],
    web: TreeStats,
    sandbox: TreeStats,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    items = int(watch.final.get("totalItems") or scenario.items)
    worker_ticks = sum(w.run_ticks for w in workers)
    worker_ms = worker_ticks * 1000 / TICKS
    return {
        "key": scenario.key,
        **asdict(scenario),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **git_commit(),
        "wall_seconds": round(watch.wall_seconds, 1),
        "run_seconds": _run_seconds(watch.final),
        "items_per_second": round(items / watch.wall_seconds, 2),
        "final_status": watch.final,
        "jira_requests": jira_calls,
        "jira_writes": {k: v for k, v in writes.items() if v},
        "worker_processes": [w.summary(items, jira_calls) for w in workers],
        "workers_cpu_seconds": round(worker_ms / 1000, 2),
        "workers_cpu_ms_per_item": round(worker_ms / max(items, 1), 3),
        "workers_cpu_ms_per_jira_call": round(worker_ms / jira_calls, 3) if jira_calls else None,
        "peak_worker_mb": max(w.summary(items, jira_calls)["peak_hwm_mb"] for w in workers),
        "web": web.summary(items, jira_calls),
        "sandbox": sandbox.summary(items, jira_calls),
        "status_polls": _polls(watch),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _polls(watch: Watch) -> dict[str, Any]:
    """How the status endpoint answered the once-a-second poll during the run."""
    ms = watch.poll_ms or [0.0]
    return {
        "count": len(watch.poll_ms),
        "errors": watch.poll_errors,
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(sorted(ms)[int(len(ms) * 0.95)], 1),
        "max_ms": round(max(ms), 1),
    }


def _run_seconds(status: dict[str, Any]) -> float | None:
    """From the run's own startedAt to finishedAt (claimed by a worker to finished)."""
    if not (status.get("startedAt") and status.get("finishedAt")):
        return None
    took = datetime.fromisoformat(status["finishedAt"]) - datetime.fromisoformat(
        status["startedAt"]
    )
    return round(took.total_seconds(), 1)


# --------------------------------------------------------------------------- results
def load_results(fresh: bool) -> dict[str, Any]:
    if fresh or not RESULTS.exists():
        return {"benchmark": "engine_scale", "scenarios": []}
    return dict(json.loads(RESULTS.read_text()))


def merge(results: dict[str, Any], entry: dict[str, Any]) -> None:
    kept = [s for s in results["scenarios"] if s["key"] != entry["key"]]
    results["scenarios"] = sorted(
        [*kept, entry], key=lambda s: (s["mode"], s["items"], s["workers"], s["pool"])
    )


def ratios(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Peak memory of the largest dry run over that of the 10,000-item one, per K and pool."""
    out = []
    dry = [s for s in scenarios if s["mode"] == "dry"]
    for workers, pool in sorted({(s["workers"], s["pool"]) for s in dry}):
        same = {s["items"]: s for s in dry if s["workers"] == workers and s["pool"] == pool}
        largest = max(same)
        if RATIO_BASE_ITEMS not in same or largest <= RATIO_BASE_ITEMS:
            continue
        base, top = same[RATIO_BASE_ITEMS], same[largest]
        worker = top["peak_worker_mb"] / base["peak_worker_mb"]
        web = top["web"]["peak_hwm_mb"] / base["web"]["peak_hwm_mb"]
        out.append(
            {
                "workers": workers,
                "pool": pool,
                "items": [RATIO_BASE_ITEMS, largest],
                "peak_worker_memory_ratio": round(worker, 2),
                "peak_web_memory_ratio": round(web, 2),
                "target_at_most": RATIO_TARGET,
                "met": worker <= RATIO_TARGET and web <= RATIO_TARGET,
            }
        )
    return out


def write_results(results: dict[str, Any]) -> None:
    results["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"] = machine()
    results["ratios"] = ratios(results["scenarios"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(RESULTS)


def table(scenarios: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<24}{'wall s':>8}{'items/s':>9}{'worker MB':>16}{'web MB':>8}"
        f"{'cpu s':>9}{'ms/item':>9}{'jira':>8}{'ms/call':>9}  status"
    )
    rows = [head]
    for s in scenarios:
        mem = "/".join(f"{w['peak_hwm_mb']:.0f}" for w in s["worker_processes"])
        per_call = s["workers_cpu_ms_per_jira_call"]
        rows.append(
            f"{s['key']:<24}{s['wall_seconds']:>8.1f}{s['items_per_second']:>9.1f}{mem:>16}"
            f"{s['web']['peak_hwm_mb']:>8.0f}{s['workers_cpu_seconds']:>9.1f}"
            f"{s['workers_cpu_ms_per_item']:>9.2f}{s['jira_requests']:>8}"
            f"{per_call if per_call is not None else '-':>9}  {s['final_status']['status']}"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------- main
def _sizes(text: str) -> list[int]:
    """Comma-separated sizes; 0 (or nothing) means none."""
    return [n for part in text.split(",") if part.strip() and (n := int(part)) > 0]


def scenarios_from(args: argparse.Namespace) -> list[Scenario]:
    workers = _sizes(args.workers)
    if any(k not in (1, 2) for k in workers):
        raise SystemExit("--workers: 1 and/or 2")
    out = [Scenario("dry", n, k, args.pool) for n in _sizes(args.dry_run_items) for k in workers]
    out += [Scenario("full", n, k, args.pool) for n in _sizes(args.full_items) for k in workers]
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--dry-run-items", default="10000", help="dry-run sizes, comma-separated ('' = none)")
    add("--full-items", default="", help="FULL-run sizes, comma-separated ('' or 0 = none)")
    add("--workers", default="1,2", help="worker counts, comma-separated (1, 2)")
    add("--pool", choices=("solo", "prefork"), default="solo", help="Celery pool per worker")
    add("--timeout-minutes", type=float, default=240.0, help="give up on a run after this")
    add("--baseline", action="store_true", help="mark these entries as the baseline")
    add("--fresh", action="store_true", help="start a new results file instead of merging")
    return parser.parse_args()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    scenarios = scenarios_from(args)
    # Ctrl-C and a plain kill unwind through the finally blocks that stop every process.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    results = load_results(args.fresh)
    tmp = Path(tempfile.mkdtemp(prefix="engine-scale-"))
    try:
        env = bench_env(tmp / "var")
        recreate_database()
        manage(env, "migrate", "--noinput")
        user = ["--tenant", "bench", "--username", USERNAME, "--password", PASSWORD]
        manage(env, "create_tenant_user", *user)
        for scenario in scenarios:
            print(f"{scenario.key}: running", flush=True)
            entry = run_scenario(scenario, env, tmp, args.timeout_minutes * 60)
            entry["baseline"] = args.baseline
            merge(results, entry)
            write_results(results)  # after each: a long series keeps what it finished
            print(table([entry]).splitlines()[1], flush=True)
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results["scenarios"]))
    for ratio in results["ratios"]:
        print(json.dumps(ratio))


if __name__ == "__main__":
    main()
