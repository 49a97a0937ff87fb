"""Writes whose answers are lost or late, over real HTTP against the sandboxes.

The client waits 0.5 s; the Jira sandbox holds some writes longer and applies
them afterwards. Within the settle time the engine finds what landed and sends
nothing twice; a write that lands even after the settle deadline becomes a
duplicate, which the verify phase removes (only what the migration account made
and nobody changed since) and lists in the report.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.ado import AdoClient
from engine.jira import JiraClient
from engine.memory import MemoryStore
from engine.ratelimit import AdaptiveRateLimiter
from tests.engine.test_pipeline_support import (
    FAST_RETRY,
    Harness,
    assert_exactly_once,
    issues_by_ado,
    make_spec,
    wait_until,
)

BULK = "POST /rest/api/3/issue/bulk"
COMMENT = "POST /rest/api/3/issue/{issueIdOrKey}/comment"
ATTACH = "POST /rest/api/3/issue/{issueIdOrKey}/attachments"
TRANSITION = "POST /rest/api/3/issue/{issueIdOrKey}/transitions"


def impatient_jira(sb: Any, timeout: float = 0.5) -> JiraClient:
    limiter = AdaptiveRateLimiter(
        initial_rate=200, max_rate=400, increase=1.0, decrease=0.9, max_in_flight=8
    )
    return JiraClient(
        sb.jira_url, sb.email, sb.api_token, limiter=limiter, retry=FAST_RETRY, timeout=timeout
    )


def _snapshot(sb: Any) -> dict[str, Any]:
    return dict(sb.jira.snapshot())


def _duplicates_landed(sb: Any) -> bool:
    snap = _snapshot(sb)
    labels = Counter(
        label
        for i in snap["issues"]
        for label in i["fields"].get("labels", [])
        if label.startswith("ado-")
    )
    return any(n > 1 for n in labels.values())


@dataclass
class VerifyAfterLanding(MemoryStore):
    """A store whose run enters verify only once the late copies are in Jira: the copies
    land after their settle deadline (a Jira slower than the settle time allows)."""

    copies_landed: Callable[[], bool] = lambda: True
    landed: bool = False

    def set_phase(self, phase: int) -> None:
        if phase == 6:
            self.landed = wait_until(self.copies_landed, timeout=20)
        super().set_phase(phase)


def _copies_landed(sb: Any) -> bool:
    snap = _snapshot(sb)
    comments = Counter(
        (i["key"], (c["properties"].get("ado.comment") or {}).get("commentId"))
        for i in snap["issues"]
        for c in i["comments"]
    )
    files = Counter(
        (i["key"], a["filename"], a["size"]) for i in snap["issues"] for a in i["attachments"]
    )
    return (
        _duplicates_landed(sb)
        and max(comments.values(), default=0) > 1
        and max(files.values(), default=0) > 1
    )


def test_writes_held_within_the_settle_time_are_adopted_not_repeated(make_sandboxes):
    sb = make_sandboxes(
        items=14,
        seed=2,
        jira_knobs={
            "late_writes": {
                BULK: {"count": 1, "seconds": 1.5},
                COMMENT: {"count": 2, "seconds": 1.5},
                ATTACH: {"count": 1, "seconds": 1.5},
                TRANSITION: {"count": 2, "seconds": 1.5},
            }
        },
    )
    # per-issue transitions (without Bulk change), so the late ones are per-issue writes
    sb.jira.settings.update({"bulk_change_permission": False})
    h = Harness(sb)
    outcome = h.run(
        make_spec(sb, settle_seconds=3.0, migrate_attachments=True), target=impatient_jira(sb)
    )
    assert outcome.status == "COMPLETED", outcome
    assert_exactly_once(sb)
    assert h.store.report is not None
    once = h.store.report["exactlyOnce"]
    assert once["ambiguous"].get("issue", 0) >= 1, once
    assert once["adopted"].get("issue", 0) == once["ambiguous"]["issue"], once
    assert once["adopted"].get("comment", 0) == 2, once
    assert once["adopted"].get("transition", 0) == 2, once
    assert not once["resent"], once
    assert not once["repaired"], once
    writes = _snapshot(sb)["writes"]
    assert writes.get("issues_deleted", 0) == 0
    assert h.store.unsettled == {}, "every mark settled by the end"


def test_a_copy_that_lands_after_the_settle_deadline_is_removed_by_verify(make_sandboxes):
    sb = make_sandboxes(
        items=14,
        seed=2,
        jira_knobs={
            "late_writes": {
                BULK: {"count": 1, "seconds": 2.5},
                COMMENT: {"count": 1, "seconds": 2.5},
                ATTACH: {"count": 1, "seconds": 2.5},
            }
        },
    )
    store = VerifyAfterLanding(copies_landed=lambda: _copies_landed(sb))
    h = Harness(sb, store=store)
    outcome = h.run(
        make_spec(sb, settle_seconds=0.6, migrate_attachments=True), target=impatient_jira(sb)
    )
    assert outcome.status == "COMPLETED", outcome
    assert store.landed, "the late copies never landed before verify"
    issues = assert_exactly_once(sb)  # after the repair: one of each
    assert h.store.report is not None
    once = h.store.report["exactlyOnce"]
    assert once["resent"].get("issue", 0) >= 1, once
    assert once["repaired"].get("issue", 0) >= 1, once
    assert once["repaired"].get("comment", 0) == 1, once
    # the late upload request may carry several of the item's files: each copy goes
    assert once["repaired"].get("attachment", 0) >= 1, once
    repairs = once["repairs"]
    assert all(r["removed"] for r in repairs), repairs
    kept = {r["kept"] for r in repairs if r["kind"] == "issue"}
    assert kept <= {h.store.ledger[i].jira_key for i in h.store.ledger}
    assert h.store.report["verification"]["ok"] is True
    # the ledger and Jira agree after the repair
    for ado_id, entry in h.store.ledger.items():
        issue = issues[ado_id]
        assert issue["key"] == entry.jira_key
        assert {c["id"] for c in issue["comments"]} == set(entry.comments.values())


def test_a_duplicate_someone_changed_is_listed_not_removed(make_sandboxes):
    sb = make_sandboxes(items=6, seed=2)
    jira = impatient_jira(sb, timeout=10)
    h = Harness(sb)
    first = h.run(make_spec(sb), target=jira)
    assert first.status == "COMPLETED"
    ado_id, entry = next(iter(sorted(h.store.ledger.items())))
    # a copy carrying the same marker, then edited by a person
    project = {"key": sb.project_key}
    issuetype = jira.get_issue(entry.jira_key, ("issuetype",))["fields"]["issuetype"]
    copy = jira.create_issue(
        {
            "fields": {
                "project": project,
                "summary": "copy",
                "issuetype": {"id": issuetype["id"]},
                "labels": [f"ado-{ado_id}"],
            }
        }
    )
    jira.edit_issue(copy.key, {"summary": "copy, edited by a person"})
    with h.store._lock:
        h.store.ledger[ado_id].extra["suspect"] = True
    again = h.next_run()
    outcome = again.run(make_spec(sb), target=jira)
    assert outcome.status == "COMPLETED"
    assert again.store.report is not None
    repairs = again.store.report["exactlyOnce"]["repairs"]
    assert [r["duplicate"] for r in repairs] == [copy.key], repairs
    assert repairs[0]["removed"] is False and "changed" in repairs[0]["reason"]
    assert len(issues_by_ado(sb)[ado_id]) == 2  # left for a person
    assert again.store.report["verification"]["ok"] is False


# --------------------------------------------------------------------------- origins
class _Trap(BaseHTTPRequestHandler):
    """Records every request; ``redirect_to`` answers 302 there."""

    seen: list[dict[str, str]]
    redirect_to: str | None = None

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _trap(redirect_to: str | None = None) -> tuple[ThreadingHTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    handler = type("Trap", (_Trap,), {"seen": seen, "redirect_to": redirect_to})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def loopback_only(monkeypatch):
    """A fence: any connection to a non-loopback address is refused and recorded, so a
    bug could never send traffic off this machine."""
    attempts: list[Any] = []
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else ""
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
            attempts.append(address)
            raise OSError(f"test fence: no connection to {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_images_on_other_origins_are_never_fetched_with_the_pat(make_sandboxes, loopback_only):
    sb = make_sandboxes(items=4, seed=2)
    guid = "0f0e0d0c-0b0a-4909-8807-060504030201"
    real_guid = sb.ado.add_attachment(1, "real.png", b"\x89PNG real image")
    ado_url = f"{sb.ado_api}/wit/attachments/{real_guid}?fileName=real.png"
    other, other_seen = _trap()
    bouncer, bouncer_seen = _trap(redirect_to=ado_url)
    try:
        other_url = f"http://127.0.0.1:{other.server_port}/o/p/_apis/wit/attachments/{guid}"
        bounce_url = f"http://127.0.0.1:{bouncer.server_port}/o/p/_apis/wit/attachments/{guid}"
        private_url = f"http://10.11.12.13/o/p/_apis/wit/attachments/{guid}"
        html = (
            f'<p>one <img src="{other_url}"> two <img src="{private_url}"> '
            f'three <img src="{bounce_url}"> own <img src="{ado_url}"></p>'
        )
        item = sb.ado.add_item(
            "Task", "images from everywhere", fields={"System.Description": html}
        )
        h = Harness(sb)
        ado_requests_before = sum(dict(sb.ado.counters).values())
        outcome = h.run(make_spec(sb, migrate_attachments=True))
        assert outcome.status == "COMPLETED", outcome
    finally:
        other.shutdown()
        bouncer.shutdown()
    assert other_seen == [] and bouncer_seen == [], (other_seen, bouncer_seen)
    assert loopback_only == []
    assert sum(dict(sb.ado.counters).values()) > ado_requests_before
    assert h.store.report is not None
    listed = {
        row["url"] for row in h.store.report["problems"]["imagesNotFetched"] if row["adoId"] == item
    }
    assert listed == {other_url, private_url, bounce_url}
    issue = issues_by_ado(sb)[item][0]
    assert [a["filename"] for a in issue["attachments"]] == ["real.png"]
    description = str(issue["fields"]["description"])
    assert other_url in description and bounce_url in description  # kept as links


def test_the_ado_client_refuses_a_foreign_url_without_sending(make_sandboxes):
    sb = make_sandboxes(items=2, seed=2)
    trap, seen = _trap()
    try:
        ado = AdoClient(sb.ado_url, sb.org, sb.project, sb.pat, retry=FAST_RETRY)
        from engine.errors import ForeignOrigin

        with pytest.raises(ForeignOrigin):
            ado.open_attachment(f"http://127.0.0.1:{trap.server_port}/_apis/wit/attachments/x")
    finally:
        trap.shutdown()
    assert seen == []
