"""``python -m sandbox`` and ``manage.py sandbox`` print one JSON line, serve, stop on signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "ado_base_url",
    "org",
    "project",
    "pat",
    "jira_base_url",
    "email",
    "api_token",
    "project_key",
}


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, proc.stderr.read() if proc.stderr else ""
        info = json.loads(line)
        assert set(info) == KEYS
        r = requests.post(
            f"{info['ado_base_url']}/{info['org']}/{info['project']}/_apis/wit/wiql"
            "?api-version=7.1",
            auth=("", info["pat"]),
            timeout=5,
            json={"query": "SELECT [System.Id] FROM WorkItems"},
        )
        assert r.status_code == 400 and "VS402337" in r.json()["message"]  # --wiql-cap 10
        if info["jira_base_url"]:
            assert info["jira_base_url"].startswith("http://127.0.0.1:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_python_m_sandbox() -> None:
    _run(["-m", "sandbox", "--items", "25", "--wiql-cap", "10", "--seed", "4"], dict(os.environ))


def test_manage_py_sandbox() -> None:
    env = {
        **os.environ,
        "DEBUG": "true",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-key-" + "x" * 40),
    }
    if not (REPO / "manage.py").exists():
        pytest.skip("manage.py not present")
    _run(["manage.py", "sandbox", "--items", "25", "--wiql-cap", "10", "--latency-ms", "0"], env)
