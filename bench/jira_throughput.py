"""Requests per second against the simulated Jira from one keep-alive client.

    .venv/bin/python -m bench.jira_throughput [--seconds 3]

Measures, with zero latency and no faults: a simple GET (``/myself``), and a
bulk create of 50 valid issues each with an ADF description (both ADF layers,
the official schema included when the spec file is found). Writes
``bench/results/jira_sandbox.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from sandbox import jira_adf
from sandbox.httpbase import SandboxServer
from sandbox.jira import JiraApp

RESULTS = Path(__file__).resolve().parent / "results" / "jira_sandbox.json"


def _description(n: int) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "heading",
                "attrs": {"level": 2},
                "content": [{"type": "text", "text": f"#{n}"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": "Migrated from Azure DevOps. ",
                        "marks": [{"type": "em"}],
                    },
                    {
                        "type": "text",
                        "text": "link",
                        "marks": [
                            {"type": "link", "attrs": {"href": f"https://dev.azure.com/o/p/{n}"}}
                        ],
                    },
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {
                                "type": "paragraph",
                                "content": [{"type": "text", "text": f"point {i}"}],
                            }
                        ],
                    }
                    for i in range(3)
                ],
            },
        ],
    }


def _bulk_body(start: int) -> dict[str, Any]:
    return {
        "issueUpdates": [
            {
                "fields": {
                    "project": {"key": "MIG"},
                    "issuetype": {"name": "Task"},
                    "summary": f"Issue {start + i}",
                    "labels": ["bench"],
                    "description": _description(start + i),
                },
                "properties": [{"key": "ado", "value": {"id": start + i}}],
            }
            for i in range(50)
        ]
    }


def _rate(call: Callable[[int], None], seconds: float) -> dict[str, float]:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call(count)
        count += 1
    elapsed = time.perf_counter() - started
    return {
        "requests": count,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(count / elapsed, 1),
    }


def run(seconds: float) -> dict[str, Any]:
    app = JiraApp(email="bench@example.com", api_token="t")
    with SandboxServer(app) as server, requests.Session() as http:
        http.auth = ("bench@example.com", "t")
        api = server.url + "/rest/api/3"

        def get(_: int) -> None:
            assert http.get(api + "/myself").status_code == 200

        def bulk(n: int) -> None:
            resp = http.post(api + "/issue/bulk", json=_bulk_body(n * 50))
            assert resp.status_code == 201 and not resp.json()["errors"], resp.text[:300]

        get(0)  # warm up (and build the cached ADF schema validator)
        simple = _rate(get, seconds)
        created = _rate(bulk, seconds)
    return {
        "command": f".venv/bin/python -m bench.jira_throughput --seconds {seconds}",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "adf_schema_checked": jira_adf.schema_validator() is not None,
        "get_myself": simple,
        "bulk_create_50": {
            **created,
            "issues_per_second": round(created["requests_per_second"] * 50, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    result = run(parser.parse_args().seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
