"""Real processes for the live tests and the benchmark: uvicorn web servers and a
worker-like publisher, all on the test database (and Redis when REDIS_URL is set)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@dataclass
class WebServer(Process):
    url: str


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> Process:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(proc, log_path)


def start_web(env: dict[str, str], log_path: Path, *, timeout: float = 60.0) -> WebServer:
    """``uvicorn migrator_site.asgi:application`` on a free loopback port, answering."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", "migrator_site.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    started = spawn(args, env, log_path)
    server = WebServer(started.proc, log_path, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            break
        try:
            requests.get(f"{server.url}/accounts/login/", timeout=2)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"uvicorn did not start:\n{server.log()[-4000:]}")


def process_env(database_url: str, secret_key: str, var_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process on the given database."""
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "DEBUG": "true",  # the test key is the development default
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "MIGRATOR_VAR_DIR": var_dir,
        "MIGRATOR_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "MIGRATOR_ALLOW_PRIVATE_TARGETS": "true",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    if not settings.REDIS_URL:
        env.pop("REDIS_URL", None)
    return env
