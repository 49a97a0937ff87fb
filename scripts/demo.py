"""`make demo`: the whole product on one machine with embedded defaults.

Migrates an SQLite database, creates a demo tenant and user, starts the ADO and
Jira sandboxes, the ASGI web server and a Celery worker, starts a demo migration
through the public API, prints the dashboard URL and the login, and stops
everything on Ctrl-C.
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
USERNAME, PASSWORD = "demo", "demo-password"
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


def start_demo_run(sandbox: dict[str, Any]) -> str:
    token = requests.post(
        f"{WEB}/api/auth/token", json={"username": USERNAME, "password": PASSWORD}, timeout=10
    ).json()["access"]
    auth = {"Authorization": f"Bearer {token}"}
    project = requests.post(
        f"{WEB}/api/projects",
        headers=auth,
        timeout=10,
        json={
            "name": "Demo: Fabrikam to Jira",
            "description": "Sandbox organisation into the sandbox Jira site",
        },
    ).json()
    payload = {
        "type": "FULL",
        "enginePayload": {
            "source": {
                "base_url": sandbox["ado_base_url"],
                "org": sandbox["org"],
                "project": sandbox["project"],
                "pat": sandbox["pat"],
                "area_filter": None,
                "type_filter": None,
            },
            "target": {
                "base_url": sandbox["jira_base_url"],
                "email": sandbox["email"],
                "api_token": sandbox["api_token"],
                "project_key": sandbox["project_key"],
            },
            "options": {
                "migrate_attachments": True,
                "migrate_comments": True,
                "migrate_links": True,
                "dry_run": False,
            },
        },
    }
    run = requests.post(
        f"{WEB}/api/migrations/project/{project['id']}/start",
        headers=auth,
        json=payload,
        timeout=30,
    )
    run.raise_for_status()
    return f"{WEB}/projects/{project['id']}/runs/{run.json()['id']}"


def main() -> None:
    env = demo_env()
    (ROOT / "var").mkdir(exist_ok=True)
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage(
        "create_tenant_user",
        "--tenant",
        "demo",
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
        "--email",
        "demo@example.com",
        env=env,
    )
    logs = (ROOT / "var" / "demo.log").open("a")
    procs: list[subprocess.Popen[str]] = []
    try:
        sandbox_proc = spawn(
            [PY, "manage.py", "sandbox", "--items", str(ITEMS), "--latency-ms", "15"], env
        )
        procs.append(sandbox_proc)
        sandbox = read_sandbox_line(sandbox_proc)
        procs.append(
            spawn(
                [
                    PY,
                    "-m",
                    "uvicorn",
                    "migrator_site.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(WEB_PORT),
                ],
                env,
                logs,
            )
        )
        procs.append(
            spawn(
                [
                    PY,
                    "-m",
                    "celery",
                    "-A",
                    "migrator_site",
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                ],
                env,
                logs,
            )
        )
        wait_for(f"{WEB}/api/schema/")
        run_url = start_demo_run(sandbox)
        print(
            "\n  Migration demo is running.\n"
            f"  Dashboard:   {WEB}/\n"
            f"  Demo run:    {run_url}\n"
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
