"""Helpers for the pipeline tests: real clients against the real sandboxes, memory ports,
and checks of what the Jira sandbox holds (no tests here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.ado import AdoClient
from engine.http import RetryPolicy
from engine.jira import JiraClient
from engine.memory import MemoryControl, MemoryEvents, MemoryStore
from engine.pipeline import run_migration
from engine.ports import RunOutcome, RunSpec
from engine.ratelimit import AdaptiveRateLimiter

WRITE_KEYS = (
    "issues_created",
    "issues_edited",
    "transitions",
    "comments",
    "attachments",
    "links",
    "remote_links",
    "properties",
)
FAST_RETRY = RetryPolicy(
    max_attempts=12, backoff_base=0.05, backoff_cap=0.5, default_throttle_wait=0.1
)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def clients(sb: Any) -> tuple[AdoClient, JiraClient]:
    ado = AdoClient(sb.ado_url, sb.org, sb.project, sb.pat, retry=FAST_RETRY)
    limiter = AdaptiveRateLimiter(
        initial_rate=200, max_rate=400, increase=1.0, decrease=0.9, max_in_flight=8
    )
    jira = JiraClient(sb.jira_url, sb.email, sb.api_token, limiter=limiter, retry=FAST_RETRY)
    return ado, jira


# The sandbox answers every request within a second here (no late writes unless a
# test asks for them): a short settle keeps the fault tests fast.
TEST_SETTLE_SECONDS = 1.5


def make_spec(sb: Any, run_type: str = "FULL", **kwargs: Any) -> RunSpec:
    ado, _ = clients(sb)
    kwargs.setdefault("settle_seconds", TEST_SETTLE_SECONDS)
    return RunSpec(run_type, sb.project_key, ado_web_url=ado.project_url, **kwargs)  # type: ignore[arg-type]


@dataclass
class Harness:
    """One project: a store per run, sharing the ledger like the database does."""

    sb: Any
    store: MemoryStore = field(default_factory=MemoryStore)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    control: MemoryControl = field(default_factory=MemoryControl)

    def run(self, spec: RunSpec, *, target: Any = None, source: Any = None) -> RunOutcome:
        ado, jira = clients(self.sb)
        return run_migration(
            spec,
            source=source or ado,
            target=target or jira,
            store=self.store,
            events=self.events,
            control=self.control,
        )

    def next_run(self) -> Harness:
        return Harness(self.sb, self.store.new_run())


def writes(sb: Any) -> dict[str, int]:
    snap = sb.jira.snapshot()["writes"]
    return {k: int(snap.get(k, 0)) for k in WRITE_KEYS}


def write_requests(sb: Any) -> int:
    """Jira requests that change something (searches are reads)."""
    routes = sb.jira.snapshot()["counters"]
    return sum(
        n
        for route, n in routes.items()
        if not route.startswith("GET") and "/search/jql" not in route
    )


def issues_by_ado(sb: Any) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for issue in sb.jira.snapshot()["issues"]:
        for label in issue["fields"].get("labels", []):
            if label.startswith("ado-") and label[4:].isdigit():
                out.setdefault(int(label[4:]), []).append(issue)
    return out


def ado_comments(issue: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's comments that carry an ADO comment (not its history comments)."""
    return [c for c in issue["comments"] if "ado.comment" in c["properties"]]


def assert_exactly_once(sb: Any) -> dict[int, dict[str, Any]]:
    """One issue per ADO item, one comment per ADO comment, one upload per file."""
    by_ado = issues_by_ado(sb)
    dupes = {i: [x["key"] for x in v] for i, v in by_ado.items() if len(v) > 1}
    assert not dupes, f"duplicate issues: {dupes}"
    for ado_id, (issue,) in by_ado.items():
        assert issue["properties"]["ado.migration"]["adoId"] == ado_id
        cids = Counter(c["properties"]["ado.comment"]["commentId"] for c in ado_comments(issue))
        assert all(n == 1 for n in cids.values()), f"{issue['key']} comments twice: {cids}"
        parts = Counter(
            (p["fromRev"], p["toRev"])
            for c in issue["comments"]
            if (p := c["properties"].get("ado.history")) is not None
        )
        assert all(n == 1 for n in parts.values()), f"{issue['key']} history twice: {parts}"
        assert len(cids) + sum(parts.values()) == len(issue["comments"]), issue["key"]
        files = Counter((a["filename"], a["size"]) for a in issue["attachments"])
        assert all(n == 1 for n in files.values()), f"{issue['key']} files twice: {files}"
    return {i: v[0] for i, v in by_ado.items()}


def assert_complete(sb: Any, store: MemoryStore) -> None:
    """Every planned, written item is in Jira with all its comments and its target status."""
    issues = assert_exactly_once(sb)
    assert store.plan is not None
    for item in store.plan_items:
        ado_id = item["ado_id"]
        if item["action"] == "skip" and ado_id not in store.ledger:
            assert ado_id not in issues
            continue
        issue = issues[ado_id]
        comments = sb.ado.store.comments(ado_id, include_deleted=False)
        assert len(ado_comments(issue)) == len(comments), issue["key"]
        assert issue["status"] == item["target_status"], (issue["key"], item)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
