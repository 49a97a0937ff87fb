"""Engine throughput: a FULL run of N work items against the sandboxes over HTTP.

    .venv/bin/python -m bench.engine_throughput [--items 2000] [--latency-ms 30] [--limit 50]

Both sandboxes answer every request after ``--latency-ms``; the Jira sandbox
enforces a burst limit of ``--limit`` requests per second (token bucket, 429 with
Retry-After above it). The engine runs with the real clients and memory ports.
The Jira client's limiter is an ``AdaptiveRateLimiter`` whose ceiling is the
site's burst limit (what an operator configures for a known site).

Records items per second, Jira requests per item against the minimum the plan
needs (computed from the dataset and the end state: bulk creates per hierarchy
level, two requests per workflow step (read the transitions, then move), one per
comment, per uploaded file, per description that must be rewritten to show
inline images from Jira, per unique link or remote link (the link back to ADO on
every issue included), per component and sprint created, one sprint move per 50
issues of a sprint, two sprint updates (start, complete) per closed sprint, plus the
metadata reads),
and the achieved Jira request rate as a fraction of the limit. Writes
``bench/results/engine.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections import deque
from pathlib import Path
from typing import Any

from engine.ado import AdoClient
from engine.jira import JiraClient
from engine.memory import MemoryControl, MemoryEvents, MemoryStore
from engine.pipeline import run_migration
from engine.ports import RunSpec
from engine.ratelimit import AdaptiveRateLimiter
from sandbox.jira_workflow import ISSUE_TYPES, SPRINT, STATUSES
from sandbox.runner import Options, start

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


class TimedStore(MemoryStore):
    """Notes when each phase starts."""

    def __init__(self) -> None:
        super().__init__()
        self.phase_started: dict[int, float] = {}

    def set_phase(self, phase: int) -> None:
        self.phase_started[phase] = time.monotonic()
        super().set_phase(phase)


def _steps(type_name: str, target: str) -> int:
    """Shortest number of transitions from the workflow's initial status to ``target``."""
    itype = next(t for t in ISSUE_TYPES.values() if t.name == type_name)
    flow = itype.workflow
    seen, queue = {flow.initial: 0}, deque([flow.initial])
    while queue:
        cur = queue.popleft()
        for t in flow.available(cur):
            if t.to not in seen:
                seen[t.to] = seen[cur] + 1
                queue.append(t.to)
    want = next(sid for sid, s in STATUSES.items() if s.name == target)
    return seen.get(want, 0)


def minimum_requests(store: MemoryStore, snapshot: dict[str, Any], sb: Any) -> dict[str, int]:
    assert store.plan is not None
    issues = {i["key"]: i for i in snapshot["issues"]}
    written = [p for p in store.plan["items"] if p["ado_id"] in store.ledger]
    waves: dict[int, int] = {}
    for p in written:
        waves[p["level"]] = waves.get(p["level"], 0) + 1
    transitions = sum(
        2
        * _steps(
            issues[store.ledger[p["ado_id"]].jira_key]["issuetype"],
            issues[store.ledger[p["ado_id"]].jira_key]["status"],
        )
        for p in written
    )
    links = {
        (*sorted((ln["inward"], ln["outward"])), ln["type"])
        for i in snapshot["issues"]
        for ln in i["links"]
    }
    described = sum(1 for p in written if sb.dataset.inline_images(p["ado_id"]))
    metadata = sum(
        n
        for route, n in snapshot["counters"].items()
        if route.startswith("GET")
        and (
            "createmeta" in route
            or "/field" in route
            or "/myself" in route
            or "/priority" in route
            or "issueLinkType" in route
            or "/attachment/meta" in route
            or "/user/search" in route
            or route.endswith("/statuses")
            or route.endswith("{projectIdOrKey}")
            or route.endswith("/components")
            or route.endswith("/agile/1.0/board")
            or route.endswith("/board/{boardId}/sprint")
        )
    )
    per_sprint: dict[Any, int] = {}
    for issue in snapshot["issues"]:
        sprint = issue["fields"].get(SPRINT)
        if sprint is not None:
            per_sprint[sprint] = per_sprint.get(sprint, 0) + 1
    sprints = sb.jira.state.sprints
    return {
        "bulk_creates": sum(math.ceil(n / 50) for n in waves.values()),
        "transitions_read_and_move": transitions,
        "comments": sum(len(i["comments"]) for i in snapshot["issues"]),
        "uploads": sum(len(i["attachments"]) for i in snapshot["issues"]),
        "description_rewrites_for_inline_images": described,
        "links": len(links),
        "remote_links": sum(len(i["remoteLinks"]) for i in snapshot["issues"]),
        "components_created": len(snapshot["components"]),
        "sprints_created": len(sprints),
        "sprint_moves": sum(math.ceil(n / 50) for n in per_sprint.values()),
        "sprint_start_and_complete": 2 * sum(1 for s in sprints.values() if s.state == "closed"),
        "metadata_reads": metadata,
    }


def run(items: int, latency_ms: float, limit: float, seed: int) -> dict[str, Any]:
    sb = start(Options(items=items, seed=seed, latency_ms=latency_ms, rate_limit=limit))
    try:
        sb.ado.knobs.update({"rate_limit_per_sec": 0})  # the limit is Jira's
        conn = sb.connection()
        ado = AdoClient(conn["ado_base_url"], conn["org"], conn["project"], conn["pat"])
        limiter = AdaptiveRateLimiter(
            initial_rate=limit * 0.9,
            max_rate=limit * 0.98,
            increase=0.2,
            decrease=0.8,
            max_in_flight=8,
        )
        jira = JiraClient(conn["jira_base_url"], conn["email"], conn["api_token"], limiter=limiter)
        store, events = TimedStore(), MemoryEvents()
        spec = RunSpec("FULL", conn["project_key"], ado_web_url=ado.project_url)
        started = time.monotonic()
        outcome = run_migration(
            spec, source=ado, target=jira, store=store, events=events, control=MemoryControl()
        )
        finished = time.monotonic()
        snapshot = sb.jira.snapshot()  # type: ignore[union-attr]
        return _result(outcome, store, snapshot, sb, started, finished, limit, limiter)
    finally:
        sb.stop()


def _result(
    outcome: Any,
    store: TimedStore,
    snapshot: dict[str, Any],
    sb: Any,
    started: float,
    finished: float,
    limit: float,
    limiter: Any,
) -> dict[str, Any]:
    counters = snapshot["counters"]
    total = sum(counters.values())
    throttled = int(getattr(limiter, "throttles", 0))
    minimum = minimum_requests(store, snapshot, sb)
    min_total = sum(minimum.values())
    written = sum(1 for i in store.items.values() if i.status == "CREATED")
    write_start = store.phase_started.get(2, started)
    write_seconds = finished - write_start
    wall = finished - started
    return {
        "outcome": {"status": outcome.status, "stats": outcome.stats},
        "items": len(store.items),
        "issues_created": written,
        "seconds": round(wall, 2),
        "phase_seconds": {
            str(p): round(t - started, 2) for p, t in sorted(store.phase_started.items())
        },
        "items_per_second": round(len(store.items) / wall, 2),
        "jira_requests": total,
        "jira_requests_throttled_429": throttled,
        "jira_requests_per_item": round(total / max(written, 1), 3),
        "minimum_requests": minimum,
        "minimum_total": min_total,
        "minimum_per_item": round(min_total / max(written, 1), 3),
        "requests_vs_minimum": round(total / min_total, 3),
        "jira_rate_whole_run": round(total / wall, 2),
        "jira_rate_write_phases": round(total / write_seconds, 2),
        "fraction_of_limit_whole_run": round(total / wall / limit, 3),
        "fraction_of_limit_write_phases": round(total / write_seconds / limit, 3),
        "routes": dict(sorted(counters.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--limit", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.items, args.latency_ms, args.limit, args.seed)
    result["setup"] = {
        "items": args.items,
        "latency_ms": args.latency_ms,
        "jira_burst_limit_per_second": args.limit,
        "seed": args.seed,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    result["targets"] = {"fraction_of_limit_at_least": 0.85, "requests_vs_minimum_at_most": 1.1}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    shown = {k: v for k, v in result.items() if k != "routes"}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
