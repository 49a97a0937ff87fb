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


def _manage_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "true",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-key-" + "x" * 40),
    }


def test_manage_py_sandbox() -> None:
    if not (REPO / "manage.py").exists():
        pytest.skip("manage.py not present")
    _run(
        ["manage.py", "sandbox", "--items", "25", "--wiql-cap", "10", "--latency-ms", "0"],
        _manage_env(),
    )


@pytest.mark.parametrize(
    "option",
    [
        ("--late-write", "POST /rest/api/3/nowhere=1x1"),
        ("--fault-routes", "writes,DELETE /rest/api/3/nowhere"),
    ],
)
def test_manage_py_sandbox_refuses_a_selector_naming_no_route(option: tuple[str, str]) -> None:
    if not (REPO / "manage.py").exists():
        pytest.skip("manage.py not present")
    proc = subprocess.run(
        [sys.executable, "manage.py", "sandbox", "--items", "20", *option],
        cwd=REPO,
        env=_manage_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr  # a usage error, as ``python -m sandbox`` exits
    assert proc.stdout == ""  # no connection line: nothing was served
    assert "Traceback" not in proc.stderr
    assert "CommandError:" in proc.stderr and "names no route" in proc.stderr


def test_jira_limits_option_turns_the_limit_model_on() -> None:
    from sandbox.runner import Options, start

    for flag in (False, True):
        running = start(Options(items=20, jira_limits=flag))
        try:
            url = running.connection()["jira_base_url"] + "/_sandbox/jira/limits"
            assert requests.get(url, timeout=5).json()["enabled"] is flag
        finally:
            running.stop()
