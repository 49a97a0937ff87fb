"""`make demo`: the whole product on one machine with embedded defaults.

Migrates an SQLite database, starts the ADO and Jira sandboxes, sets up the demo
tenant, user and project with the sandboxes as its saved connection and a
schedule of delta syncs (``manage.py demo_setup``: the same project every time,
updated for the new sandboxes), starts the ASGI web server, two Celery workers
and celery beat, starts a FULL migration through the public API with no secrets
in the request (the saved connection supplies them), prints the dashboard URL and
the login, and stops everything on Ctrl-C. Run it again and again in the same
checkout: it picks up the same project.

Processes: the sandboxes, the web server, two embedded workers (each runs one
task at a time: with two, the schedule's ticks are not held behind the running
migration, so a tick during the run is skipped and recorded), and ``celery beat``
with django-celery-beat's database scheduler, as in the Procfile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEB_PORT = int(os.environ.get("DEMO_PORT", "8000"))
WEB = f"http://127.0.0.1:{WEB_PORT}"
USERNAME, PASSWORD = "demo", "demo-password"  # as in migrations_app.demo
ITEMS = int(os.environ.get("DEMO_ITEMS", "300"))


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("MIGRATOR_ALLOW_PRIVATE_TARGETS", "true")
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'demo.sqlite3'}")
    env.pop("REDIS_URL", None)  # embedded mode: no Redis needed
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def spawn(
    args: list[str], env: dict[str, str], log: IO[str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE if log is None else log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
    )


def read_sandbox_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the sandbox did not start (see the output above)")
    return dict(json.loads(line))


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def setup_demo(sandbox: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``manage.py demo_setup``: the demo's data, brought up to date for these sandboxes."""
    done = subprocess.run(
        [PY, "manage.py", "demo_setup"],
        cwd=ROOT,
        env=env,
        input=json.dumps(sandbox) + "\n",
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"demo_setup failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def start_demo_run(project_id: str) -> str:
    """A FULL run through the public API; the project's saved connection fills in
    the source and target (secrets included)."""
    token = requests.post(
        f"{WEB}/api/auth/token", json={"username": USERNAME, "password": PASSWORD}, timeout=10
    ).json()["access"]
    payload = {
        "type": "FULL",
        "enginePayload": {
            "options": {
                "migrate_attachments": True,
                "migrate_comments": True,
                "migrate_links": True,
                "dry_run": False,
            },
        },
    }
    run = requests.post(
        f"{WEB}/api/migrations/project/{project_id}/start",
        headers={"Authorization": f"Bearer {token}"},
        json=payload,
        timeout=30,
    )
    if run.status_code != 200:
        raise SystemExit(f"the demo run did not start: {run.status_code} {run.text}")
    return f"{WEB}/projects/{project_id}/runs/{run.json()['id']}"


def celery(*args: str) -> list[str]:
    return [PY, "-m", "celery", "-A", "migrator_site", *args, "--loglevel=INFO"]


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C, and a plain kill, stop every process (even when started in the background,
    # where a shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    env = demo_env()
    (ROOT / "var").mkdir(exist_ok=True)
    manage("migrate", "--noinput", "-v", "0", env=env)
    logs = (ROOT / "var" / "demo.log").open("a")
    procs: list[subprocess.Popen[str]] = []
    try:
        sandbox_proc = spawn(
            [PY, "manage.py", "sandbox", "--items", str(ITEMS), "--latency-ms", "15"], env
        )
        procs.append(sandbox_proc)
        sandbox = read_sandbox_line(sandbox_proc)
        demo = setup_demo(sandbox, env)
        project_id = demo["projectId"]
        if demo["cancelledRuns"]:
            print(f"cancelled {len(demo['cancelledRuns'])} run(s) left by an earlier demo")
        uvicorn = [PY, "-m", "uvicorn", "migrator_site.asgi:application"]
        procs.append(spawn([*uvicorn, "--host", "127.0.0.1", "--port", str(WEB_PORT)], env, logs))
        for name in ("worker1", "worker2"):
            worker = celery("worker", "--pool=solo", f"--hostname={name}@%h")
            procs.append(spawn(worker, env, logs))
        wait_for(f"{WEB}/api/schema/")
        run_url = start_demo_run(project_id)
        # Beat after the demo's own run: the schedule's first tick is an interval away.
        scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
        procs.append(spawn(celery("beat", "--scheduler", scheduler), env, logs))
        print(
            "\n  Migration demo is running.\n"
            f"  Dashboard:   {WEB}/\n"
            f"  Demo run:    {run_url}\n"
            f"  Project:     {WEB}/projects/{project_id} (saved connection, schedule)\n"
            f"  Login:       {USERNAME} / {PASSWORD}\n"
            f"  API docs:    {WEB}/api/docs/\n"
            f"  Jira sandbox state: {sandbox['jira_base_url']}/_sandbox/jira/issues\n"
            "  Logs:        var/demo.log\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        print("a demo process stopped; see var/demo.log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        print("stopped.")


if __name__ == "__main__":
    main()
