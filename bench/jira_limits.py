"""Jira's limit model: a FULL run of N items, measured against what Jira's limits allow.

    .venv/bin/python -m bench.jira_limits [--items 2000] [--latency-ms 30]
        [--mode model|bucket] [--bucket-rate 50] [--seed 1]

Both sandboxes answer every request after ``--latency-ms``. ``--mode model`` turns
on the Jira sandbox's limit model (``PATCH /_sandbox/jira/limits {"enabled": true}``:
a bucket per method and route template, per-issue write windows;
:mod:`sandbox.jira_limits`); ``--mode bucket`` is the old single global bucket of
``--bucket-rate`` requests per second instead. The engine runs with the real
clients and memory ports; its Jira limiter comes from :func:`make_limiter`.

Records items per second; Jira calls per item against the minimum computed from
the final Jira state (:mod:`bench.jira_minimum` says what it counts and why), plus
the run's metadata reads as they were; per (method, route template) the calls
admitted (answered other than 429) and refused; the busiest endpoint's bound
(admitted calls over the endpoint's rate: in bucket mode, all admitted calls over
the bucket's rate) and the elapsed time over it; 429s by ``RateLimit-Reason``;
the engine's CPU share (the sandboxes run as ``python -m sandbox`` in a child
process; a share near one core says the engine's CPU, not Jira's limits, set the
pace) and when each phase started.
Results merge by mode into ``bench/results/jira_limits.json``; a table of every
mode recorded there is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from bench.engine_cpu import SandboxProcess
from bench.engine_throughput import TimedStore
from bench.jira_minimum import (
    IssueFacts,
    Minimum,
    Rules,
    SiteFacts,
    endpoint_bounds,
    minimum,
    per_issue_bound,
)
from engine.ado import AdoClient
from engine.jira import JiraClient
from engine.memory import MemoryControl, MemoryEvents
from engine.pipeline import run_migration
from engine.ports import RunSpec
from engine.ratelimit import AdaptiveRateLimiter, RateLimiter
from engine.schedule import MemoryScheduler, SchedulerSettings
from sandbox.jira_workflow import ISSUE_TYPES, SPRINT, STATUSES

RESULTS = Path(__file__).resolve().parent / "results" / "jira_limits.json"
MODES = ("model", "bucket")
TARGETS = {"calls_vs_minimum_at_most": 1.05, "elapsed_vs_bound_at_most": 1.3}
CONTROL = "/_sandbox/jira"
AGILE = "/rest/agile/1.0"
# Route parameters that name one item (an issue, comment, link, task, sprint): a GET
# with none of them, other than a search, reads the site, not the items.
ITEM_PARAMS = ("{issueIdOrKey}", "{id}", "{commentId}", "{linkId}", "{taskId}", "{sprintId}")
SEARCHES = ("/rest/api/3/search", "/rest/api/3/search/jql")


def make_limiter(mode: str, *, bucket_rate: float = 50.0) -> RateLimiter:
    """The Jira client's limiter for ``mode``: the one place to swap in another.

    ``model``: the product's default, the Jira scheduler (``engine.schedule``: a
    limiter per endpoint and method at Jira's documented rates, writes spaced per
    issue), as ``MIGRATOR_JIRA_SCHEDULER=endpoint`` builds it in a worker.
    ``bucket``: what an operator sets for a site with one known limit, as
    ``bench.engine_throughput`` does.
    """
    if mode == "model":
        return MemoryScheduler(SchedulerSettings())
    if mode == "bucket":
        return AdaptiveRateLimiter(
            initial_rate=bucket_rate * 0.9,
            max_rate=bucket_rate * 0.98,
            increase=0.2,
            decrease=0.8,
            max_in_flight=8,
        )
    raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


# --------------------------------------------------------------------------- reading Jira
class Site:
    """The Jira sandbox over HTTP: control routes, and the agile API for sprints."""

    def __init__(self, conn: Mapping[str, Any]) -> None:
        self.url = str(conn["jira_base_url"]).rstrip("/")
        self.http = requests.Session()
        self.http.auth = (str(conn["email"]), str(conn["api_token"]))

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(self.url + path, params=params or None, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def send(self, method: str, path: str, body: Any = None) -> None:
        self.http.request(method, self.url + path, json=body, timeout=60).raise_for_status()

    def sprint_states(self) -> dict[int, str]:
        """Every sprint on the project's boards: id -> state (read over the agile API)."""
        out: dict[int, str] = {}
        for board in self.get(AGILE + "/board").get("values", []):
            start_at = 0
            while True:
                page = self.get(f"{AGILE}/board/{board['id']}/sprint", startAt=start_at)
                values = page.get("values", [])
                out.update({int(s["id"]): str(s["state"]) for s in values})
                start_at += len(values)
                if page.get("isLast", True) or not values:
                    break
        return out


def _texts(node: Any) -> list[str]:
    """Every URL a document holds (media and link targets)."""
    out: list[str] = []
    if isinstance(node, dict):
        attrs = node.get("attrs")
        if isinstance(attrs, dict):
            out += [str(attrs[k]) for k in ("url", "href") if k in attrs]
        for value in node.values():
            out += _texts(value)
    elif isinstance(node, list):
        for value in node:
            out += _texts(value)
    return out


def _needs_edit(issue: Mapping[str, Any], number: int, project_key: str) -> bool:
    """Its description shows a Jira attachment or names an issue not created before it."""
    pattern = re.compile(rf"/browse/{re.escape(project_key)}-(\d+)$")
    for url in _texts(issue["fields"].get("description")):
        if "/attachment/content/" in url:
            return True
        found = pattern.search(url)
        if found and int(found.group(1)) >= number:
            return True
    return False


def _status_id(type_name: str, status_name: str) -> str:
    """The id of the status named so in the type's workflow (names repeat across workflows)."""
    itype = next((t for t in ISSUE_TYPES.values() if t.name == type_name), None)
    ids = itype.workflow.statuses() if itype is not None else list(STATUSES)
    return next((sid for sid in ids if STATUSES[sid].name == status_name), status_name)


def site_facts(
    snapshot: Mapping[str, Any],
    project_key: str,
    sprints_created: Mapping[int, str],
    components_before: int,
) -> SiteFacts:
    issues = []
    for raw in snapshot["issues"]:
        number = int(str(raw["key"]).rsplit("-", 1)[1])
        parent, sprint = raw["fields"].get("parent"), raw["fields"].get(SPRINT)
        if isinstance(sprint, list):
            sprint = sprint[-1] if sprint else None
        issues.append(
            IssueFacts(
                id=str(raw["id"]),
                number=number,
                issue_type=str(raw["issuetype"]),
                status_id=_status_id(str(raw["issuetype"]), str(raw["status"])),
                parent_id=None if parent is None else str(parent),
                comments=len(raw["comments"]),
                files=len(raw["attachments"]),
                links=len(raw["links"]),
                remote_links=len(raw["remoteLinks"]),
                sprint=None if sprint is None else int(sprint),
                description_needs_edit=_needs_edit(raw, number, project_key),
            )
        )
    link_ids = {ln["id"] for raw in snapshot["issues"] for ln in raw["links"]}
    return SiteFacts(
        issues=tuple(issues),
        links=len(link_ids),
        components_created=max(0, len(snapshot["components"]) - components_before),
        sprint_states=dict(sprints_created),
    )


def site_rules(settings: Mapping[str, Any]) -> Rules:
    types = ISSUE_TYPES.values()
    return Rules(
        workflows={t.name: t.workflow for t in types},
        sprint_on_create=frozenset(t.name for t in types if SPRINT in t.screen),
        bulk_transitions=bool(settings.get("bulk_change_permission", False)),
        files_per_upload=int(settings.get("max_files_per_upload", 1)),
    )


def is_metadata_read(endpoint: str) -> bool:
    method, _, route = endpoint.partition(" ")
    return method == "GET" and route not in SEARCHES and not any(p in route for p in ITEM_PARAMS)


# --------------------------------------------------------------------------- the run
def run(items: int, latency_ms: float, mode: str, bucket_rate: float, seed: int) -> dict[str, Any]:
    bucket = bucket_rate if mode == "bucket" else 0.0
    # The sandboxes run in a child process: their CPU (the simulated Jira validates
    # every document) must not compete with the engine's for one interpreter.
    extra = [f"--latency-ms={latency_ms:g}", f"--rate-limit={bucket:g}"]
    # Without the official ADF schema file the Jira sandbox checks documents with its
    # own structural rules only: jsonschema on every description and comment costs the
    # simulated Jira more CPU than the engine spends, and would set the pace instead of
    # the limits (the tests keep the schema check).
    child = SandboxProcess(items, seed, extra, env={"SPECS_DIR": "/nonexistent-specs"})
    with child as conn:
        before = child.cpu_seconds()
        result = _measure(conn, mode, bucket_rate)
        result["cpu"]["sandbox_cpu_seconds"] = round(child.cpu_seconds() - before, 1)
        return result


def _measure(conn: Mapping[str, Any], mode: str, bucket_rate: float) -> dict[str, Any]:
    # the limits are Jira's: the ADO sandbox does not throttle
    requests.patch(
        str(conn["ado_base_url"]).rstrip("/") + "/_sandbox/knobs",
        json={"rate_limit_per_sec": 0},
        timeout=30,
    ).raise_for_status()
    site = Site(conn)
    if mode == "model":
        site.send("PATCH", CONTROL + "/limits", {"enabled": True})
    limits, settings = site.get(CONTROL + "/limits"), site.get(CONTROL + "/settings")
    components_before = len(site.get(CONTROL + "/issues")["components"])
    sprints_before = site.sprint_states()
    site.send("POST", CONTROL + "/limits/usage/reset")
    site.send("POST", "/_sandbox/counters/reset")
    ado = AdoClient(conn["ado_base_url"], conn["org"], conn["project"], conn["pat"])
    limiter = make_limiter(mode, bucket_rate=bucket_rate)
    in_flight = int(getattr(limiter, "max_in_flight", 8))
    jira = JiraClient(
        conn["jira_base_url"],
        conn["email"],
        conn["api_token"],
        limiter=limiter,
        max_in_flight=in_flight,
    )
    store = TimedStore()
    spec = RunSpec("FULL", conn["project_key"], ado_web_url=ado.project_url)
    load = os.getloadavg()[0]
    started, cpu_started = time.monotonic(), time.process_time()
    outcome = run_migration(
        spec, source=ado, target=jira, store=store, events=MemoryEvents(), control=MemoryControl()
    )
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    usage = site.get(CONTROL + "/limits/usage")  # before the reads below add to it
    snapshot = site.get(CONTROL + "/issues")
    created = {k: v for k, v in site.sprint_states().items() if k not in sprints_before}
    facts = site_facts(snapshot, conn["project_key"], created, components_before)
    rules = site_rules(settings)
    result = summarise(usage, facts, rules, limits, mode, bucket_rate, elapsed)
    result["outcome"] = {"status": outcome.status, "stats": outcome.stats}
    result["items"] = len(store.items)
    result["items_per_second"] = round(len(store.items) / elapsed, 2)
    result["calls_per_item"] = round(result["jira_calls"] / max(len(store.items), 1), 3)
    result["minimum_per_item"] = round(result["minimum_total"] / max(len(store.items), 1), 3)
    result["phase_started_seconds"] = {
        str(p): round(t - started, 2) for p, t in sorted(store.phase_started.items())
    }
    # The engine's own CPU (the sandboxes run in a child): a share near 1 says the
    # run was bound by the engine's CPU rather than by Jira's limits.
    result["cpu"] = {
        "process_cpu_seconds": round(cpu, 1),
        "cpu_share_of_one_core": round(cpu / elapsed, 2),
        "load_average_1m_at_start": round(load, 2),
    }
    result["engine_limiter"] = {
        "kind": type(limiter).__name__,
        "max_in_flight": in_flight,
        "throttles_seen": getattr(limiter, "throttles", None),
        "rate_at_end": round(limiter.rate, 2),
    }
    return result


def summarise(
    usage: Mapping[str, Any],
    facts: SiteFacts,
    rules: Rules,
    limits: Mapping[str, Any],
    mode: str,
    bucket_rate: float,
    elapsed: float,
) -> dict[str, Any]:
    """Everything but the run's own figures, from the usage tally and the final state."""
    answers: Mapping[str, Mapping[str, int]] = usage["answers"]
    calls = {e: sum(by.values()) for e, by in answers.items()}
    admitted = {e: n - int(answers[e].get("429", 0)) for e, n in calls.items()}
    least: Minimum = minimum(facts, rules)
    metadata = {e: n for e, n in calls.items() if is_metadata_read(e)}
    bounds = endpoint_bounds(admitted, limits["rates"], limits["route_rates"])
    busiest = bounds[0] if bounds else None
    bucket_seconds = sum(admitted.values()) / bucket_rate if mode == "bucket" else None
    bound = bucket_seconds if bucket_seconds is not None else (busiest.seconds if busiest else 0)
    windows = [(int(n), float(s)) for n, s in limits["issue_windows"]]
    issue_seconds, busiest_issue = per_issue_bound(facts.issues, rules, windows)
    refused: Mapping[str, Mapping[str, int]] = usage["refused"]
    total_min = least.writes + sum(metadata.values())
    return {
        "mode": mode,
        "seconds": round(elapsed, 2),
        "issues_in_jira": len(facts.issues),
        "jira_calls": sum(calls.values()),
        "jira_calls_admitted": sum(admitted.values()),
        "minimum": {**asdict(least), "writes": least.writes},
        "metadata_reads": dict(sorted(metadata.items())),
        "minimum_total": total_min,
        "calls_vs_minimum": round(sum(calls.values()) / max(total_min, 1), 3),
        "busiest_endpoint": asdict(busiest) if busiest else None,
        "bound_seconds": round(bound, 2),
        "bound_is": "single bucket" if bucket_seconds is not None else "busiest endpoint",
        "elapsed_vs_bound": round(elapsed / bound, 3) if bound else None,
        # the per-issue write windows are the model's: no bound from them in bucket mode
        "busiest_issue_bound": {"seconds": issue_seconds, "issue_id": busiest_issue}
        if mode == "model"
        else None,
        "throttled_429_by_reason": {r: sum(by.values()) for r, by in sorted(refused.items())},
        "throttled_429_by_reason_and_endpoint": refused,
        "endpoints": {
            b.endpoint: {
                "admitted": b.admitted,
                "refused_429": calls[b.endpoint] - b.admitted,
                "rate": b.rate,
                "bound_seconds": round(b.seconds, 2),
            }
            for b in bounds
        },
    }


# --------------------------------------------------------------------------- results
def merge(path: Path, mode: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """The results file with ``mode``'s entry replaced; the other modes' kept."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("modes", {})[mode] = dict(result)
    data["targets"] = TARGETS
    data["command"] = ".venv/bin/python -m bench.jira_limits --mode MODE"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def table(data: Mapping[str, Any]) -> str:
    head = ["mode", "items/s", "calls/item", "min/item", "calls/min", "bound s", "elapsed s"]
    head += ["elapsed/bound", "429s"]
    rows: list[list[str]] = [head]
    for mode, r in sorted(data.get("modes", {}).items()):
        rows.append(
            [
                mode,
                f"{r['items_per_second']:.2f}",
                f"{r['calls_per_item']:.3f}",
                f"{r['minimum_per_item']:.3f}",
                f"{r['calls_vs_minimum']:.3f}",
                f"{r['bound_seconds']:.1f}",
                f"{r['seconds']:.1f}",
                f"{r['elapsed_vs_bound'] or 0:.3f}",
                str(sum(r["throttled_429_by_reason"].values())),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--mode", choices=MODES, default="model")
    parser.add_argument("--bucket-rate", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.items, args.latency_ms, args.mode, args.bucket_rate, args.seed)
    result["setup"] = {
        "items": args.items,
        "latency_ms": args.latency_ms,
        "mode": args.mode,
        "bucket_rate": args.bucket_rate if args.mode == "bucket" else None,
        "seed": args.seed,
        "command": f".venv/bin/python -m bench.jira_limits --items {args.items} "
        f"--latency-ms {args.latency_ms:g} --mode {args.mode}"
        + (f" --bucket-rate {args.bucket_rate:g}" if args.mode == "bucket" else ""),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    data = merge(args.out, args.mode, result)
    print(table(data))


if __name__ == "__main__":
    main()
