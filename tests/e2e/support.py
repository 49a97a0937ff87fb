"""Helpers for the end-to-end tests: runs started through the public API, a real
Celery worker, the sandboxes over HTTP; checks against the Jira sandbox's inspection.

No tests here. Everything takes the sandbox handle (``sandboxes`` or one from
``make_sandboxes``) and a DRF client (``owner_api``).

Stable API (other test files import it):

- ``body_for(boxes, run_type, *, area_filter, type_filter, **options)``: a start body.
- ``start_run(api, project, boxes, run_type, ...)`` → the run JSON (asserts 200).
- ``wait_final(api, run_id, timeout)`` → the status JSON once the run is finished.
- ``run_to_end(api, project, boxes, run_type, ...)`` → the final status JSON.
- ``wait_status(api, run_id, *statuses)`` → the status JSON once in one of them.
- ``status_of / items_of / report_of / crosswalk_of / events_of / done_stats``.
- ``writes(boxes)``, ``write_requests(boxes)``, ``writes_delta(before, after)``.
- ``issues_by_ado(boxes)``, ``issues_per_type(boxes)``, ``issues_per_status(boxes)``.
- ``assert_no_duplicates(boxes)``, ``assert_ledger_matches_jira(project, boxes)``.
- ``WriteWatcher(boxes)``: a thread noting when Jira write requests arrive and land.
- ``ado_items(boxes)``: what ADO holds now; ``check_against_report(boxes, report, ids)``:
  Jira types/statuses as the report's mappings say; ``assert_hierarchy_kept``.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from tests.fixtures.platform import start_body, wait_for

FINISHED = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED")
ACTIVE = ("PENDING", "RUNNING", "PAUSED")
CROSSWALK_COLUMNS = ["ado_id", "ado_type", "ado_url", "jira_key", "jira_url", "status"]
WRITE_KEYS = (
    "issues_created",
    "issues_edited",
    "transitions",
    "comments",
    "attachments",
    "links",
    "remote_links",
    "remote_links_updated",
    "properties",
    "components",
    "sprints",
    "sprint_moves",
)
# Generous: a 2-core machine running several suites at once.
RUN_TIMEOUT = 240.0


# --------------------------------------------------------------------------- starting runs
def body_for(
    boxes: Any,
    run_type: str = "FULL",
    *,
    area_filter: str | None = None,
    type_filter: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A start body aimed at ``boxes``; no type/state overrides unless given in ``options``."""
    options.setdefault("type_overrides", {})
    options.setdefault("state_overrides", {})
    body = start_body(
        run_type=run_type,
        ado_url=boxes.ado_url,
        org=boxes.org,
        ado_project=boxes.project,
        pat=boxes.pat,
        jira_url=boxes.jira_url,
        email=boxes.email,
        api_token=boxes.api_token,
        project_key=boxes.project_key,
        **options,
    )
    body["enginePayload"]["source"]["area_filter"] = area_filter
    body["enginePayload"]["source"]["type_filter"] = type_filter
    return body


def start_url(project: Any) -> str:
    return f"/api/migrations/project/{project.id}/start"


def start_run(
    api: Any, project: Any, boxes: Any, run_type: str = "FULL", **kwargs: Any
) -> dict[str, Any]:
    """POST start; asserts 200 and returns the run JSON."""
    r = api.post(start_url(project), body_for(boxes, run_type, **kwargs), format="json")
    assert r.status_code == 200, r.content
    return dict(r.json())


def status_of(api: Any, run_id: str) -> dict[str, Any]:
    r = api.get(f"/api/migrations/{run_id}/status")
    assert r.status_code == 200, r.content
    return dict(r.json())


def wait_status(
    api: Any, run_id: str, *statuses: str, timeout: float = RUN_TIMEOUT, interval: float = 0.1
) -> dict[str, Any]:
    """Poll the status endpoint until the run is in one of ``statuses``."""
    last: dict[str, Any] = {}

    def reached() -> bool:
        last.clear()
        last.update(status_of(api, run_id))
        return last["status"] in statuses

    try:
        wait_for(reached, timeout=timeout, interval=interval)
    except AssertionError as exc:
        raise AssertionError(f"run {run_id} not {statuses} in {timeout} s: {last}") from exc
    return dict(last)


def wait_final(api: Any, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    return wait_status(api, run_id, *FINISHED, timeout=timeout)


def run_to_end(
    api: Any,
    project: Any,
    boxes: Any,
    run_type: str = "FULL",
    *,
    timeout: float = RUN_TIMEOUT,
    **kwargs: Any,
) -> dict[str, Any]:
    """Start a run, wait for a finished status; returns the final status JSON."""
    run = start_run(api, project, boxes, run_type, **kwargs)
    return wait_final(api, run["id"], timeout=timeout)


# --------------------------------------------------------------------------- API reads
def items_of(api: Any, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every item row of the run (all pages)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        query = f"?page={page}&page_size=500" + (f"&status={status}" if status else "")
        r = api.get(f"/api/migrations/{run_id}/items{query}")
        assert r.status_code == 200, r.content
        data = r.json()
        out.extend(data["results"])
        if not data["next"]:
            return out
        page += 1


def item_status_counts(api: Any, run_id: str) -> dict[str, int]:
    return dict(Counter(i["status"] for i in items_of(api, run_id)))


def report_of(api: Any, run_id: str) -> dict[str, Any]:
    """The report endpoint's JSON (the engine's report is under ``report``)."""
    r = api.get(f"/api/migrations/{run_id}/report")
    assert r.status_code == 200, r.content
    return dict(r.json())


def crosswalk_of(api: Any, run_id: str) -> list[dict[str, str]]:
    """Rows of the crosswalk CSV; asserts the header is exactly the contract's columns."""
    r = api.get(f"/api/migrations/{run_id}/crosswalk.csv")
    assert r.status_code == 200, getattr(r, "content", b"")
    text = b"".join(r.streaming_content).decode() if r.streaming else r.content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and rows[0] == CROSSWALK_COLUMNS, rows[:1]
    return [dict(zip(CROSSWALK_COLUMNS, row, strict=True)) for row in rows[1:]]


def events_of(run_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """The stored live events of the run (django_eventstream's Event, channel run-{id})."""
    from django_eventstream.models import Event

    query = Event.objects.filter(channel=f"run-{run_id}").order_by("eid")
    if event_type:
        query = query.filter(type=event_type)
    out = []
    for event in query:
        data: Any = event.data
        while isinstance(data, str) and data:  # send_event encodes, the storage again
            data = json.loads(data)
        if isinstance(data, dict):
            out.append(data)
    return out


def done_stats(run_id: str, timeout: float = 30.0) -> dict[str, int]:
    """``stats`` of the run's last ``done`` event (waits for it: published on commit)."""
    found = wait_for(lambda: events_of(run_id, "done"), timeout=timeout)
    return dict(found[-1]["stats"])


# --------------------------------------------------------------------------- Jira sandbox
def writes(boxes: Any) -> dict[str, int]:
    """The Jira sandbox's write counters (creates, edits, transitions, comments...)."""
    snap = boxes.jira.writes
    return {k: int(snap.get(k, 0)) for k in WRITE_KEYS}


def writes_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def write_requests(boxes: Any) -> int:
    """Jira requests that could change something (any non-GET except searches)."""
    routes = dict(boxes.jira.counters)
    return sum(
        int(n)
        for route, n in routes.items()
        if not str(route).startswith("GET") and "/search" not in str(route)
    )


def total_writes(boxes: Any) -> int:
    return sum(writes(boxes).values())


def jira_issues(boxes: Any) -> list[dict[str, Any]]:
    return list(boxes.jira.snapshot()["issues"])


def ado_id_of(issue: dict[str, Any]) -> int | None:
    for label in issue["fields"].get("labels", []) or []:
        if label.startswith("ado-") and label[4:].isdigit():
            return int(label[4:])
    return None


def issues_by_ado(boxes: Any) -> dict[int, list[dict[str, Any]]]:
    """Jira issues grouped by their ``ado-<id>`` label (a list: more than one = duplicate)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for issue in jira_issues(boxes):
        for label in issue["fields"].get("labels", []) or []:
            if label.startswith("ado-") and label[4:].isdigit():
                out.setdefault(int(label[4:]), []).append(issue)
    return out


def issue_of(boxes: Any, ado_id: int) -> dict[str, Any]:
    found = issues_by_ado(boxes).get(ado_id) or []
    assert len(found) == 1, f"ADO #{ado_id}: {[i['key'] for i in found]}"
    return found[0]


def issues_per_type(boxes: Any) -> dict[str, int]:
    return dict(Counter(i["issuetype"] for i in jira_issues(boxes)))


def issues_per_status(boxes: Any) -> dict[str, int]:
    return dict(Counter(i["status"] for i in jira_issues(boxes)))


def ado_comment_count(boxes: Any, ado_id: int) -> int:
    return len(boxes.ado.store.comments(ado_id, include_deleted=False))


def ado_file_counts(boxes: Any, ado_id: int) -> Counter[tuple[str, int]]:
    """(name, size) of the ADO item's attachments-tab files (inline images excluded)."""
    rec = boxes.ado.store.record(ado_id, "")
    files = [] if rec is None else [a for a in rec.attachments if not a.inline]
    return Counter((a.name, a.size) for a in files)


def comment_counts(boxes: Any) -> dict[int, int]:
    """ADO id → number of comments on its Jira issue (first issue when duplicated)."""
    return {i: len(ado_comments_of(v[0])) for i, v in issues_by_ado(boxes).items()}


def ado_comments_of(issue: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's comments carrying an ADO comment (its history comments left out)."""
    return [c for c in issue["comments"] if "ado.history" not in c["properties"]]


def assert_no_duplicates(
    boxes: Any, *, comments: bool = True, ado_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """One issue per ADO id label; per issue no comment twice (``ado.comment`` property) and,
    with ``comments``, exactly as many comments as ADO has; no file twice (same name and
    size) unless the ADO item has it twice. ``ado_ids``: only these are checked for the
    comment total. Returns ADO id → issue."""
    by_ado = issues_by_ado(boxes)
    dupes = {i: [x["key"] for x in v] for i, v in by_ado.items() if len(v) > 1}
    assert not dupes, f"duplicate issues: {dupes}"
    only = set(ado_ids) if ado_ids is not None else None
    for ado_id, (issue,) in by_ado.items():
        marker = issue["properties"].get("ado.migration") or {}
        assert marker.get("adoId") == ado_id, (issue["key"], marker)
        carried = ado_comments_of(issue)
        cids = Counter((c["properties"].get("ado.comment") or {}).get("commentId") for c in carried)
        cids.update(
            ("history", p["fromRev"], p["toRev"])
            for c in issue["comments"]
            if (p := c["properties"].get("ado.history")) is not None
        )
        twice = {cid: n for cid, n in cids.items() if n > 1}
        assert not twice, f"{issue['key']} (ADO #{ado_id}) has comments twice: {twice}"
        if comments and (only is None or ado_id in only):
            assert len(carried) == ado_comment_count(boxes, ado_id), (
                f"{issue['key']} (ADO #{ado_id}): {len(carried)} comments in Jira, "
                f"{ado_comment_count(boxes, ado_id)} in ADO"
            )
        files = Counter((a["filename"], a["size"]) for a in issue["attachments"])
        allowed = ado_file_counts(boxes, ado_id)
        extra = {f: n for f, n in files.items() if n > max(1, allowed.get(f, 0))}
        assert not extra, f"{issue['key']} (ADO #{ado_id}) has files twice: {extra}"
    return {i: v[0] for i, v in by_ado.items()}


def assert_ledger_matches_jira(project: Any, boxes: Any, *, strict: bool = False) -> None:
    """The project's ledger and the Jira site agree: same ADO ids, same keys, and every
    comment and attachment the ledger records exists on that issue. ``strict``: also
    every comment and attachment on the issues is in the ledger (nothing half-written)."""
    from migrations_app.models import LedgerEntry

    by_ado = issues_by_ado(boxes)
    ledger = {e.ado_id: e for e in LedgerEntry.objects.filter(project=project)}
    assert set(ledger) == set(by_ado), (
        f"ledger only: {sorted(set(ledger) - set(by_ado))}, "
        f"Jira only: {sorted(set(by_ado) - set(ledger))}"
    )
    for ado_id, entry in ledger.items():
        issue = by_ado[ado_id][0]
        assert entry.jira_key == issue["key"], (ado_id, entry.jira_key, issue["key"])
        comment_ids = {c["id"] for c in issue["comments"]}
        missing = {str(v) for v in entry.comments.values()} - comment_ids
        assert not missing, (issue["key"], "ledger comments not in Jira", missing)
        attachment_ids = {a["id"] for a in issue["attachments"]}
        recorded = {str(v) for v in entry.attachments.values() if v}
        assert recorded <= attachment_ids, (issue["key"], recorded - attachment_ids)
        if strict:
            known = {str(v) for v in entry.comments.values()}
            assert comment_ids <= known, (
                issue["key"],
                "comments not in ledger",
                comment_ids - known,
            )
            assert attachment_ids <= recorded, (
                issue["key"],
                "files not in ledger",
                attachment_ids - recorded,
            )


# --------------------------------------------------------------------------- expectations (ADO)
def ado_items(boxes: Any) -> dict[int, dict[str, Any]]:
    """What ADO holds now: id → type, state, area, parent (edits and added items included)."""
    store = boxes.ado.store
    out: dict[int, dict[str, Any]] = {}
    for ident in store.live_ids():
        out[ident] = {
            "type": store.value(ident, "System.WorkItemType"),
            "state": store.value(ident, "System.State"),
            "area": store.value(ident, "System.AreaPath"),
            "parent": store.value(ident, "System.Parent"),
        }
    return out


def under(path: str, area: str) -> bool:
    p, a = path.lower(), area.lower().rstrip("\\")
    return p == a or p.startswith(a + "\\")


def assert_hierarchy_kept(child: dict[str, Any], parent: dict[str, Any]) -> None:
    """The ADO parent is the Jira parent, or (levels that Jira cannot nest, such as
    Epic under Epic) a link between the two issues."""
    if child["fields"].get("parent") is not None:
        assert str(child["fields"]["parent"]) == parent["id"], (child["key"], parent["key"])
        return
    linked = {x for link in child["links"] for x in (link["inward"], link["outward"])}
    assert parent["key"] in linked, (child["key"], parent["key"], child["links"])


def unreachable_ids(report: dict[str, Any]) -> set[int]:
    return {int(i) for row in report["problems"]["unreachableStatuses"] for i in row["adoIds"]}


def check_against_report(boxes: Any, report: dict[str, Any], ado_ids: set[int]) -> None:
    """Every Jira issue has the type and status the report's mappings give its ADO item
    (items reported with an unreachable status: a done-category status when ADO's is done)."""
    types = {m["adoType"]: m for m in report["typeMappings"]}
    unreachable = unreachable_ids(report)
    states = {(m["adoType"], m["adoState"]): m["jiraStatus"] for m in report["stateMappings"]}
    ado = ado_items(boxes)
    by_ado = issues_by_ado(boxes)
    assert set(by_ado) == ado_ids
    for ado_id in ado_ids:
        (issue,) = by_ado[ado_id]
        item = ado[ado_id]
        mapping = types[item["type"]]
        allowed = {mapping["jiraType"], mapping.get("standaloneType")}
        assert issue["issuetype"] in allowed, (ado_id, item, issue["issuetype"], mapping)
        if ado_id in unreachable:
            continue
        assert issue["status"] == states[(item["type"], item["state"])], (ado_id, item)


def watch_writes(boxes: Any, stop: Callable[[], bool], interval: float = 0.02) -> list[float]:
    """Poll the write counters until ``stop()``; the monotonic times at which they moved."""
    moved: list[float] = []
    last = total_writes(boxes)
    while not stop():
        now = total_writes(boxes)
        if now != last:
            moved.append(time.monotonic())
            last = now
        time.sleep(interval)
    return moved


class WriteWatcher:
    """Polls the Jira sandbox every few ms in a thread; notes the monotonic time of every
    change in write requests arrived (non-GET, searches excepted) or writes landed.

    ``with WriteWatcher(boxes) as w: ...``; then ``w.last_change()``, ``w.changes_after(t)``.
    """

    def __init__(self, boxes: Any, interval: float = 0.005) -> None:
        self.boxes, self.interval = boxes, interval
        self.changes: list[tuple[float, int, int]] = []  # (time, requests, writes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="write-watcher", daemon=True)
        self._lock = threading.Lock()

    def _sample(self) -> tuple[int, int]:
        return write_requests(self.boxes), total_writes(self.boxes)

    def _loop(self) -> None:
        last = self._sample()
        while not self._stop.is_set():
            now = self._sample()
            if now != last:
                with self._lock:
                    self.changes.append((time.monotonic(), *now))
                last = now
            time.sleep(self.interval)

    def __enter__(self) -> WriteWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def changes_after(self, t: float) -> list[tuple[float, int, int]]:
        with self._lock:
            return [c for c in self.changes if c[0] > t]

    def last_change(self) -> float | None:
        with self._lock:
            return self.changes[-1][0] if self.changes else None
