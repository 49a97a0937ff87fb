"""Sandbox benchmarks: ADO requests per second and dataset generation cost.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 3] [--out bench/results/sandbox.json]

One client (``requests.Session``, keep-alive) against the ADO sandbox with zero
latency and no faults; dataset generation timed without tracing, then its peak
memory measured with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.ado import AdoApp
from sandbox.dataset import generate
from sandbox.httpbase import SandboxServer

V = "api-version=7.1"


def rate(call: Callable[[int], requests.Response], seconds: float) -> dict[str, float]:
    """Calls per second over ``seconds`` (after a short warm-up)."""
    for i in range(20):
        call(i).raise_for_status()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        call(count).raise_for_status()
        count += 1
    return {
        "requests": count,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(count / elapsed, 1),
    }


def throughput(items: int, seconds: float) -> dict[str, Any]:
    app = AdoApp(dataset=generate(items, seed=1))
    with SandboxServer(app) as server:
        session = requests.Session()
        session.auth = ("", app.pat)
        api = f"{server.url}/{app.org}/{app.project_id}/_apis"

        def single(i: int) -> requests.Response:
            return session.get(f"{api}/wit/workitems/{1 + i % items}?{V}")

        def batch(i: int) -> requests.Response:
            start = 1 + (i * 200) % (items - 200)
            ids = list(range(start, start + 200))
            return session.post(f"{api}/wit/workitemsbatch?{V}", json={"ids": ids})

        def batch_relations(i: int) -> requests.Response:
            start = 1 + (i * 200) % (items - 200)
            body = {"ids": list(range(start, start + 200)), "$expand": "relations"}
            return session.post(f"{api}/wit/workitemsbatch?{V}", json=body)

        def wiql(i: int) -> requests.Response:
            query = (
                "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
                f"AND [System.Id] > {i % items} ORDER BY [System.Id]"
            )
            return session.post(f"{api}/wit/wiql?{V}&$top=200", json={"query": query})

        return {
            "dataset_items": items,
            "get_work_item": rate(single, seconds),
            "workitemsbatch_200": rate(batch, seconds),
            "workitemsbatch_200_relations": rate(batch_relations, seconds),
            "wiql_top_200": rate(wiql, seconds),
        }


def generation(items: int) -> dict[str, Any]:
    started = time.perf_counter()
    generate(items, seed=1)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    data = generate(items, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()
    for ident in range(1, min(items, 1000) + 1):
        data.item(ident)
    render = (time.perf_counter() - started) / min(items, 1000)
    return {
        "items": items,
        "seconds": round(elapsed, 3),
        "peak_mib_tracemalloc": round(peak / 2**20, 2),
        "render_one_item_ms": round(render * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sandbox.json"))
    args = parser.parse_args()
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "throughput": throughput(10_000, args.seconds),
        "generation": [generation(10_000), generation(100_000)],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
